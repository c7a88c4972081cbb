import os

from click.testing import CliRunner

# Keras is the reference implementation; its numpy backend needs no accelerator.
# Set before anything imports keras.
os.environ.setdefault("KERAS_BACKEND", "numpy")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def keras_float64():
    """Import Keras so that dtype="float64" really computes in float64.

    Keras' numpy and JAX backends promote float64 to float32 inside
    ``convert_to_tensor`` (``BIT64_TO_BIT32_DTYPE``, JAX's default without x64),
    so ``keras.losses.MeanSquaredError(dtype="float64")`` still computes in
    float32 there; its TensorFlow backend keeps float64. The reference must be
    float64 to check losscli to 1e-6 on sums that cancel, so the promotion map is
    set as on the TensorFlow backend. test_conformance checks that it took.
    """
    import keras
    from keras.src.backend.common import dtypes

    dtypes.BIT64_TO_BIT32_DTYPE["float64"] = "float64"
    keras.config.set_floatx("float64")
    return keras


def run_cli(*args: object, code: int, stdin: str | None = None):
    """``losscli ARGS`` through click's runner: the exit code asserted, never a traceback,
    never an internal error passed off as the expected outcome."""
    from losscli.cli import cli

    result = CliRunner().invoke(cli, [str(a) for a in args], input=stdin, catch_exceptions=False)
    assert result.exit_code == code, (result.exit_code, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    if code != 3:
        assert "internal error" not in result.stderr
    return result
