"""The library API: documented Keras examples, get(), specs, reductions, dtypes."""

from __future__ import annotations

import textwrap
import warnings

import numpy as np
import pytest
from conftest import keras_float64
from hypothesis import given, settings
from hypothesis import strategies as st

from losscli import losses
from losscli.errors import InputError, LossError, SpecError
from losscli.losses.reduction import REDUCTIONS, reduce_losses
from losscli.losses.spec import build_loss, build_losses, parse_spec, parse_value

keras = keras_float64()


# --- worked examples from the Keras documentation (values as documented) -----------


def test_mse_of_ones_against_zeros():
    y_true, y_pred = np.ones((2, 2)), np.zeros((2, 2))
    np.testing.assert_array_equal(losses.mean_squared_error(y_true, y_pred), [1.0, 1.0])
    assert losses.MeanSquaredError()(y_true, y_pred) == 1.0
    assert losses.MeanSquaredError(reduction="sum")(y_true, y_pred) == 2.0


@pytest.mark.parametrize(
    ("loss", "y_true", "y_pred", "documented"),
    [
        (losses.MeanAbsoluteError(), [1.0, 0.3, 1.0], [1.9, 0.3, 1.8], 0.5666667),
        (
            losses.MeanAbsolutePercentageError(),
            [100.0, 200.0, 300.0],
            [90.0, 210.0, 310.0],
            6.111111,
        ),
        (
            losses.BinaryCrossentropy(from_logits=True),
            [0, 1, 0, 0],
            [-18.6, 0.51, 2.94, -12.8],
            0.8654,
        ),
        (
            losses.BinaryCrossentropy(from_logits=True, reduction="sum"),
            [[0, 1], [0, 0]],
            [[-18.6, 0.51], [2.94, -12.8]],
            1.730,
        ),
        (
            losses.CategoricalCrossentropy(),
            [[0, 1, 0], [0, 0, 1]],
            [[0.05, 0.95, 0], [0.1, 0.8, 0.1]],
            1.177,
        ),
        (
            losses.CategoricalCrossentropy(reduction="sum"),
            [[0, 1, 0], [0, 0, 1]],
            [[0.05, 0.95, 0], [0.1, 0.8, 0.1]],
            2.354,
        ),
        (
            losses.SparseCategoricalCrossentropy(),
            [1, 2],
            [[0.05, 0.95, 0], [0.1, 0.8, 0.1]],
            1.177,
        ),
        (
            losses.CategoricalFocalCrossentropy(),
            [[0.0, 1.0, 0.0], [0.0, 0.0, 1.0]],
            [[0.05, 0.95, 0], [0.1, 0.8, 0.1]],
            0.23315276,
        ),
    ],
)
def test_documented_keras_examples(loss, y_true, y_pred, documented):
    # The documentation prints these to a few digits, truncated or rounded.
    decimals = len(repr(documented).split(".")[1])
    assert abs(float(loss(y_true, y_pred)) - documented) < 10.0**-decimals


def test_documented_bce_per_sample_values():
    got = losses.BinaryCrossentropy(from_logits=True, reduction="none")(
        [[0, 1], [0, 0]], [[-18.6, 0.51], [2.94, -12.8]]
    )
    np.testing.assert_allclose(got, [0.235, 1.496], atol=5e-4)


# --- get() and identifiers -------------------------------------------------------------


def test_get_string_class_dict_callable_none():
    assert losses.get("mse") is losses.mean_squared_error
    assert losses.get("categorical_crossentropy") is losses.categorical_crossentropy
    instance = losses.get("CategoricalCrossentropy")
    assert isinstance(instance, losses.CategoricalCrossentropy)
    configured = losses.get(
        {"class_name": "CategoricalCrossentropy", "config": {"from_logits": True}}
    )
    assert configured.params["from_logits"] is True
    assert losses.get(losses.huber) is losses.huber
    assert isinstance(losses.get(losses.Huber), losses.Huber)
    assert losses.get(None) is None


def test_unknown_loss_suggests_close_names():
    with pytest.raises(
        SpecError, match=r"unknown loss 'mean_sqared_error'; did you mean mean_squared_error"
    ):
        losses.lookup("mean_sqared_error")


def test_get_config_reports_every_parameter():
    # Keras 3.15.1 drops delta/axis here (#23286).
    assert losses.Huber(delta=2.0).get_config() == {
        "name": "huber",
        "reduction": "sum_over_batch_size",
        "delta": 2.0,
    }
    assert losses.CosineSimilarity(axis=1).get_config()["axis"] == 1
    assert losses.SparseCategoricalCrossentropy(axis=1).get_config()["axis"] == 1
    again = losses.Huber.from_config(losses.Huber(delta=2.0, reduction="sum").get_config())
    assert again.params == {"delta": 2.0} and again.reduction == "sum"


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (
            lambda: losses.Huber(delta="x"),
            r"Huber: delta='x' is not a number; its parameters are delta=1.0",
        ),
        (
            lambda: losses.Huber(alpha=1.0),
            r"Huber has no parameter 'alpha'; its parameters are delta=1.0",
        ),
        (lambda: losses.MeanSquaredError(axis=1), r"it takes no parameters"),
        (lambda: losses.BinaryCrossentropy(from_logits=1), r"from_logits=1 is not true/false"),
        (lambda: losses.Dice(axis=(1, "a")), r"is not an integer or a tuple of integers or null"),
        (
            lambda: losses.CategoricalGeneralizedCrossEntropy(q=1.5),
            r"q must be in the interval \(0, 1\)",
        ),
        (
            lambda: losses.MeanSquaredError(reduction="avg"),
            r"Invalid value for argument `reduction`: 'avg'",
        ),
        (lambda: losses.MeanSquaredError(dtype="int8"), r"unsupported dtype"),
    ],
)
def test_bad_parameters_name_the_loss_and_its_parameters(make, message):
    with pytest.raises(SpecError, match=message):
        make()


# --- specs ---------------------------------------------------------------------------------


def test_parse_values():
    assert parse_spec("BinaryCrossentropy(from_logits=true, label_smoothing=0.1)").params == {
        "from_logits": True,
        "label_smoothing": 0.1,
    }
    assert parse_spec("categorical_focal_crossentropy(alpha=[0.25, 0.75])").params == {
        "alpha": [0.25, 0.75]
    }
    assert parse_spec("dice(axis=(1, 2))").params == {"axis": (1, 2)}
    assert parse_spec("  mse  ") == parse_spec("  mse  ").__class__("  mse  ", "mse", {})
    assert parse_value("null") is None and parse_value("None") is None
    assert parse_value("-3") == -3 and isinstance(parse_value("-3"), int)
    assert parse_value("1e-3") == 0.001
    assert parse_value("'a b'") == "a b"
    assert parse_value("(1,)") == (1,)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("huber(delta=)", r"expected a value, found '\)' at position 13"),
        ("huber(delta=2", r"unbalanced parentheses in loss 'huber\(delta=2'"),
        ("huber(2.5)", r"expected a parameter name, found '2.5' \(write key=value\)"),
        ("huber(delta=1, delta=2)", r"parameter 'delta' given twice"),
        ("huber(delta=abc)", r"'abc' is not a value"),
        ("(delta=1)", r"has parameters but no name"),
        ("", r"empty loss name"),
        ("huber(delta=1;)", r"unexpected character ';'"),
    ],
)
def test_spec_syntax_errors(text, message):
    with pytest.raises(SpecError, match=message):
        parse_spec(text)


def test_spec_values_win_over_options_and_unused_options_fail():
    bce, mse = build_losses(["bce(from_logits=false)", "mse"], options={"from_logits": True})
    assert bce.params["from_logits"] is False
    assert mse.params == {}
    with pytest.raises(
        SpecError, match=r"no chosen loss \(mse, huber\) takes the parameter 'label_smoothing'"
    ):
        build_losses(["mse", "huber"], options={"label_smoothing": 0.1})


def test_custom_loss_from_file(tmp_path):
    path = tmp_path / "my_losses.py"
    path.write_text(
        textwrap.dedent(
            """
            import numpy as np

            def cubed(y_true, y_pred):
                return np.mean(np.abs(y_true - y_pred) ** 3, axis=-1)

            def broken(y_true, y_pred):
                raise RuntimeError("boom")
            """
        )
    )
    loss = build_loss(f"{path}:cubed", reduction="sum")
    assert loss.name == f"{path}:cubed"
    assert loss([[0.0], [1.0]], [[2.0], [1.0]], sample_weight=[0.5, 1.0]) == 4.0
    with pytest.raises(LossError, match="raised RuntimeError: boom"):
        build_loss(f"{path}:broken")([[0.0]], [[1.0]])
    with pytest.raises(SpecError, match="has no attribute 'missing'"):
        build_loss(f"{path}:missing")
    with pytest.raises(SpecError, match="does not exist"):
        build_loss(f"{tmp_path}/nope.py:f")
    with pytest.raises(SpecError, match="takes no parameters"):
        build_loss(f"{path}:cubed(a=1)")


def test_custom_loss_from_module():
    loss = build_loss("numpy:hypot", reduction="none")
    np.testing.assert_array_equal(loss([[3.0]], [[4.0]]), [[5.0]])


# --- reductions and weights ------------------------------------------------------------


def test_per_sample_weights_rescale_multidimensional_losses():
    """(N,) weights on (N, T) losses act as (N, 1); Keras needs the (N, 1) spelled out."""
    rng = np.random.default_rng(0)
    y_true, y_pred = rng.normal(size=(5, 4, 3)), rng.normal(size=(5, 4, 3))
    w = rng.uniform(0.5, 2.0, 5)
    for reduction in REDUCTIONS:
        ours = losses.MeanSquaredError(reduction=reduction)(y_true, y_pred, sample_weight=w)
        ref = keras.losses.MeanSquaredError(reduction=reduction, dtype="float64")(
            y_true, y_pred, sample_weight=w[:, None]
        )
        np.testing.assert_allclose(ours, ref, rtol=1e-12)


def test_per_sample_weights_win_when_a_trailing_axis_equals_n():
    y = np.zeros((3, 3, 1))
    p = np.ones((3, 3, 1)) * np.arange(1, 4)[:, None, None]  # sample i has loss i**2
    got = losses.MeanSquaredError(reduction="sum")(y, p, sample_weight=[1.0, 0.0, 0.0])
    assert got == 3 * 1.0  # only sample 0 (3 entries of loss 1)


def test_bad_weight_shape():
    message = r"sample weights of shape \(3,\) do not fit losses of shape \(2,\)"
    with pytest.raises(InputError, match=message):
        losses.MeanSquaredError()([[0.0], [1.0]], [[1.0], [1.0]], sample_weight=[1.0, 2.0, 3.0])


def test_zero_weights_divide_to_zero_like_keras():
    assert reduce_losses([1.0, 2.0], [0.0, 0.0], reduction="mean_with_sample_weight") == 0.0


@settings(max_examples=50, deadline=None)
@given(
    st.lists(st.floats(-100, 100), min_size=1, max_size=30),
    st.sampled_from([r for r in REDUCTIONS if r != "none"]),
)
def test_unit_weights_equal_no_weights(values, reduction):
    v = np.array(values)
    np.testing.assert_allclose(
        reduce_losses(v, np.ones_like(v), reduction=reduction),
        reduce_losses(v, None, reduction=reduction)
        if reduction != "mean_with_sample_weight"
        else reduce_losses(v, None, reduction="mean"),
        rtol=1e-12,
        atol=1e-12,
    )


@settings(max_examples=50, deadline=None)
@given(st.integers(0, 2**32 - 1), st.sampled_from(sorted(losses.LOSSES)))
def test_sample_order_does_not_change_the_mean(seed, name):
    """Per-sample losses follow their samples; a whole-input loss (dice, axis=None) stays."""
    from test_conformance import SETTINGS, make_data

    variant = SETTINGS[name][0]
    rng = np.random.default_rng(seed)
    y_true, y_pred = make_data(variant.kind, variant.shapes[-1], rng)
    order = rng.permutation(len(y_true))
    loss = losses.LOSSES[name](reduction="none", **variant.params)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        whole = loss(y_true, y_pred)
        permuted = loss(y_true[order], y_pred[order])
    if np.ndim(whole) == 0:
        np.testing.assert_allclose(permuted, whole, rtol=1e-12)
    else:
        np.testing.assert_allclose(permuted, whole[order], rtol=1e-12)


# --- dtypes and numerics ---------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(losses.LOSSES))
def test_float32_computes_like_keras_float32(name):
    from test_conformance import SETTINGS, make_data

    variant = SETTINGS[name][0]
    y_true, y_pred = make_data(variant.kind, variant.shapes[-1], np.random.default_rng(1))
    ours = losses.LOSSES[name](dtype="float32", **variant.params)(y_true, y_pred)
    assert np.asarray(ours).dtype == np.float32
    ref = getattr(keras.losses, losses.LOSSES[name].__name__)(dtype="float32", **variant.params)(
        y_true.astype(np.float32), y_pred.astype(np.float32)
    )
    np.testing.assert_allclose(ours, ref, rtol=1e-5)


def test_bce_logit_100_label_0_is_exactly_100():
    assert losses.BinaryCrossentropy(from_logits=True)([[0.0]], [[100.0]]) == 100.0
    assert losses.binary_crossentropy([[1.0]], [[-100.0]], from_logits=True)[0] == 100.0


def test_hinge_converts_labels_only_when_all_are_zero_or_one():
    # {0, 1} labels become {-1, 1}: label 0 with prediction 0.5 costs 1.5.
    np.testing.assert_allclose(losses.hinge([[0.0], [1.0]], [[0.5], [0.5]]), [1.5, 0.5])
    # One label of -1 in the whole input and nothing is converted.
    np.testing.assert_allclose(losses.hinge([[0.0], [-1.0]], [[0.5], [0.5]]), [1.0, 1.5])


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (
            lambda: losses.sparse_categorical_crossentropy([0, 3], [[0.5, 0.5], [0.5, 0.5]]),
            r"class label 3 at row 1 is out of range: y_pred has 2 classes, so labels must be 0..1",
        ),
        (
            lambda: losses.sparse_categorical_crossentropy([0.5, 1], [[0.5, 0.5], [0.5, 0.5]]),
            r"class labels must be whole numbers; row 0 has 0.5",
        ),
        (
            lambda: losses.categorical_crossentropy([[0, 1]], [[0.2, 0.3, 0.5]]),
            r"categorical_crossentropy: y_true and y_pred must have the same shape",
        ),
        (
            lambda: losses.categorical_focal_crossentropy(
                [[0, 1]], [[0.5, 0.5]], alpha=[1.0, 2.0, 3.0]
            ),
            r"alpha has 3 values but y_pred has 2 classes",
        ),
    ],
)
def test_bad_labels_are_input_errors(call, message):
    with pytest.raises(InputError, match=message):
        call()


def test_ignore_class_labels_may_be_out_of_range():
    loss = losses.SparseCategoricalCrossentropy(ignore_class=-1, reduction="none")
    got = loss([0, -1], [[0.5, 0.5], [0.9, 0.1]])
    np.testing.assert_allclose(got, [np.log(2.0), 0.0])


def test_ctc_impossible_alignment_is_infinite():
    # Two equal labels need a blank between them: 3 steps, not 2.
    assert losses.ctc([[1, 1]], np.zeros((1, 2, 3)))[0] == np.inf
