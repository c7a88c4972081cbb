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
    from losscli.cli.commands import cli

    result = CliRunner().invoke(cli, [str(a) for a in args], input=stdin, catch_exceptions=False)
    assert result.exit_code == code, (result.exit_code, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    if code != 3:
        assert "internal error" not in result.stderr
    return result


# --- real services on 127.0.0.1, started and stopped by fixtures -----------------------------


def free_port() -> int:
    """A port nothing listens on, on 127.0.0.1."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_for_port(port: int, process, what: str, seconds: float = 60) -> None:
    """Until ``process`` listens on 127.0.0.1:``port``; an error if it exits or takes too long."""
    import socket
    import time

    deadline = time.monotonic() + seconds
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            if time.monotonic() > deadline or process.poll() is not None:
                raise RuntimeError(f"{what} did not start on 127.0.0.1:{port}") from None
            time.sleep(0.1)


def stop(processes) -> None:
    """Terminate, then kill what does not end within 20 s."""
    import subprocess

    for process in processes:
        process.terminate()
    for process in processes:
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()
