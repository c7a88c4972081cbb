"""losscli against Keras 3, live: every loss, parameter setting, rank, weight and reduction.

Keras (numpy backend, classes built with dtype="float64") computes every
expected value here. Where the pinned Keras release is wrong (contract
section 9), the reference call is adjusted to the corrected behaviour and the
adjustment says why. Run this file directly to print the number of cases and
the largest relative difference per loss.
"""

from __future__ import annotations

import inspect
import io
import itertools
import json
import warnings
import zlib
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest
from conftest import keras_float64

from losscli import losses
from losscli.losses.reduction import REDUCTIONS

keras = keras_float64()

KERAS_VERSION = "3.15.1"
RTOL = 1e-6


def has_mask(name: str, params: dict[str, Any]) -> bool:
    return name == "circle" or params.get("ignore_class") is not None


ATOL = 1e-12


def _softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def _one_hot(labels: np.ndarray, n: int) -> np.ndarray:
    return np.eye(n)[labels]


def make_data(
    kind: str, shape: tuple[int, ...], rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """(y_true, y_pred) for a kind of loss; the class axis, when there is one, is last."""
    if kind == "real":
        return rng.normal(size=shape), rng.normal(size=shape)
    if kind == "positive":
        return rng.uniform(0.0, 5.0, shape), rng.uniform(0.1, 5.0, shape)
    if kind == "pm1":
        return rng.choice([-1.0, 1.0], shape), rng.normal(size=shape)
    if kind == "01":
        return rng.choice([0.0, 1.0], shape), rng.normal(size=shape)
    if kind == "mixed":  # not all labels in {0, 1}: Keras leaves them unconverted
        return rng.choice([-1.0, 0.0, 1.0], shape), rng.normal(size=shape)
    if kind == "onehot":
        labels = rng.integers(0, shape[-1], shape[:-1])
        return _one_hot(labels, shape[-1]), _softmax(rng.normal(size=shape))
    if kind == "onehot_logits":
        labels = rng.integers(0, shape[-1], shape[:-1])
        return _one_hot(labels, shape[-1]), 2.0 * rng.normal(size=shape)
    if kind == "soft":
        return _softmax(rng.normal(size=shape)), _softmax(rng.normal(size=shape))
    if kind == "binary":
        return rng.choice([0.0, 1.0], shape), rng.uniform(0.02, 0.98, shape)
    if kind == "binary_logits":
        return rng.choice([0.0, 1.0], shape), 3.0 * rng.normal(size=shape)
    if kind == "sparse":
        return rng.integers(0, shape[-1], shape[:-1]).astype(float), _softmax(
            rng.normal(size=shape)
        )
    if kind == "sparse_col":
        return rng.integers(0, shape[-1], shape[:-1] + (1,)).astype(float), _softmax(
            rng.normal(size=shape)
        )
    if kind == "sparse_logits":
        return rng.integers(0, shape[-1], shape[:-1]).astype(float), 2.0 * rng.normal(size=shape)
    if kind == "mask":
        return rng.choice([0.0, 1.0], shape), rng.uniform(0.0, 1.0, shape)
    if kind == "circle":
        embeddings = rng.normal(size=shape)
        embeddings /= np.linalg.norm(embeddings, axis=1, keepdims=True)
        return rng.integers(0, 3, shape[:1]).astype(float), embeddings
    if kind == "ctc":
        n, steps, n_classes, max_len = shape
        lengths = rng.integers(1, max_len + 1, n)
        labels = rng.integers(1, n_classes, (n, max_len))
        labels[np.arange(max_len) >= lengths[:, None]] = 0
        return labels.astype(float), rng.normal(size=(n, steps, n_classes))
    if kind == "ctc_zeros":
        # Any label matrix Keras accepts: 0s inside rows too (Keras reads each row's first
        # k entries, k its count of nonzero entries).
        n, steps, n_classes, max_len = shape
        labels = rng.integers(0, n_classes, (n, max_len))
        return labels.astype(float), rng.normal(size=(n, steps, n_classes))
    raise AssertionError(kind)


@dataclass
class Variant:
    params: dict[str, Any]
    kind: str
    shapes: list[tuple[int, ...]]
    # The class axis when the data's class axis must be moved away from last.
    class_axis: int | None = None
    notes: list[str] = field(default_factory=list)


REAL_SHAPES = [(8,), (8, 3), (6, 4, 3)]
CLASS_SHAPES = [(8, 4), (5, 3, 4)]

#: Every loss, with the parameter settings and data it is tested on.
SETTINGS: dict[str, list[Variant]] = {
    "mean_squared_error": [Variant({}, "real", REAL_SHAPES)],
    "mean_absolute_error": [Variant({}, "real", REAL_SHAPES)],
    "mean_absolute_percentage_error": [Variant({}, "real", REAL_SHAPES)],
    "mean_squared_logarithmic_error": [Variant({}, "positive", REAL_SHAPES)],
    "cosine_similarity": [
        Variant({}, "real", REAL_SHAPES[1:]),
        Variant({"axis": 1}, "real", [(6, 4, 3)]),
    ],
    "huber": [
        Variant({}, "real", REAL_SHAPES),
        Variant({"delta": 0.3}, "real", REAL_SHAPES[1:]),
        Variant({"delta": 2.5}, "real", REAL_SHAPES[1:]),
    ],
    "log_cosh": [Variant({}, "real", REAL_SHAPES)],
    "hinge": [
        Variant({}, "pm1", REAL_SHAPES),
        Variant({}, "01", REAL_SHAPES[1:]),
        Variant({}, "mixed", REAL_SHAPES[1:]),
    ],
    "squared_hinge": [
        Variant({}, "pm1", REAL_SHAPES),
        Variant({}, "01", REAL_SHAPES[1:]),
        Variant({}, "mixed", REAL_SHAPES[1:]),
    ],
    "categorical_hinge": [Variant({}, "onehot", CLASS_SHAPES)],
    "kl_divergence": [Variant({}, "soft", CLASS_SHAPES)],
    "poisson": [Variant({}, "positive", REAL_SHAPES)],
    "binary_crossentropy": [
        Variant({}, "binary", REAL_SHAPES),
        Variant({"from_logits": True}, "binary_logits", REAL_SHAPES[1:]),
        Variant({"label_smoothing": 0.1}, "binary", REAL_SHAPES[1:]),
        Variant({"from_logits": True, "label_smoothing": 0.2}, "binary_logits", [(8, 3)]),
        Variant({"axis": 1}, "binary", [(6, 4, 3)]),
    ],
    "binary_focal_crossentropy": [
        Variant({}, "binary", REAL_SHAPES),
        Variant({"apply_class_balancing": True, "alpha": 0.4}, "binary", REAL_SHAPES[1:]),
        Variant({"gamma": 0.5, "from_logits": True}, "binary_logits", REAL_SHAPES[1:]),
        Variant({"label_smoothing": 0.1, "gamma": 3.0}, "binary", [(8, 3)]),
        Variant({"axis": 1}, "binary", [(6, 4, 3)]),
    ],
    "categorical_crossentropy": [
        Variant({}, "onehot", CLASS_SHAPES),
        Variant({}, "soft", [(8, 4)]),
        Variant({"from_logits": True}, "onehot_logits", CLASS_SHAPES),
        Variant({"label_smoothing": 0.1}, "onehot", CLASS_SHAPES),
        Variant({"axis": 1, "label_smoothing": 0.2}, "onehot", [(5, 3, 4)], class_axis=1),
        Variant({"axis": 1, "from_logits": True}, "onehot_logits", [(5, 3, 4)], class_axis=1),
    ],
    "categorical_focal_crossentropy": [
        Variant({}, "onehot", CLASS_SHAPES),
        Variant({"alpha": 0.5, "gamma": 1.0}, "onehot", CLASS_SHAPES),
        Variant({"alpha": [0.1, 0.2, 0.3, 0.4]}, "onehot", CLASS_SHAPES),
        Variant({"from_logits": True}, "onehot_logits", [(8, 4)]),
        Variant({"label_smoothing": 0.1}, "onehot", [(8, 4)]),
        Variant({"axis": 1, "label_smoothing": 0.1}, "onehot", [(5, 3, 4)], class_axis=1),
    ],
    "sparse_categorical_crossentropy": [
        Variant({}, "sparse", CLASS_SHAPES),
        Variant({}, "sparse_col", [(8, 4)]),
        Variant({"from_logits": True}, "sparse_logits", CLASS_SHAPES),
        Variant({"ignore_class": 1}, "sparse", CLASS_SHAPES),
        Variant({"ignore_class": 2, "from_logits": True}, "sparse_logits", [(8, 4)]),
        Variant({"axis": 1}, "sparse", [(5, 3, 4)], class_axis=1),
    ],
    "categorical_generalized_cross_entropy": [
        Variant({}, "sparse", [(8, 4)]),
        Variant({"q": 0.2}, "sparse", [(8, 4)]),
        Variant({"q": 0.9}, "sparse_col", [(8, 4)]),
    ],
    "dice": [
        Variant({}, "mask", [(8, 3), (4, 3, 5)]),
        Variant({"axis": 1}, "mask", [(8, 3), (4, 3, 5)]),
        Variant({"axis": (1, 2)}, "mask", [(4, 3, 5)]),
    ],
    "tversky": [
        Variant({}, "mask", [(8, 3), (4, 3, 5)]),
        Variant({"alpha": 0.7, "beta": 0.3}, "mask", [(8, 3)]),
        Variant({"alpha": 0.2, "beta": 0.9, "axis": 1}, "mask", [(8, 3), (4, 3, 5)]),
        Variant({"alpha": 0.6, "beta": 0.4, "axis": (1, 2)}, "mask", [(4, 3, 5)]),
    ],
    "circle": [
        Variant({}, "circle", [(10, 4)]),
        Variant({"gamma": 10.0, "margin": 0.25}, "circle", [(12, 3)]),
        Variant({"remove_diagonal": False}, "circle", [(10, 4)]),
    ],
    "ctc": [
        Variant({}, "ctc", [(4, 9, 5, 3), (3, 12, 6, 5)]),
        Variant({}, "ctc_zeros", [(8, 12, 4, 5), (6, 9, 3, 4)]),
    ],
}

WEIGHTS = ("none", "scalar", "per_sample", "broadcast")


def keras_reference(name: str, params: dict[str, Any], class_axis: int | None):
    """The Keras class and its parameters for a losscli loss, corrected where 3.15.1 is wrong."""
    cls = getattr(keras.losses, losses.LOSSES[name].__name__)
    params = dict(params)
    if name == "tversky":
        # 3.15.1 applies alpha to false negatives and beta to false positives
        # (keras-team/keras #23333, fixed upstream): swap them for the reference.
        params["alpha"], params["beta"] = params.get("beta", 0.5), params.get("alpha", 0.5)
    if class_axis is not None:
        # Keras 3.15.1 smooths labels over the last axis whatever `axis` says
        # (#23437) and its numpy backend only takes classes last for sparse
        # labels: the reference sees the same data with the class axis last.
        params["axis"] = -1
    return cls, params


def cases():
    for name, variants in SETTINGS.items():
        for v_index, variant in enumerate(variants):
            for shape in variant.shapes:
                yield pytest.param(name, v_index, shape, id=f"{name}-{variant.params}-{shape}")


def case_data(name: str, v_index: int, shape: tuple[int, ...]) -> tuple[Any, ...]:
    """One case's setting, its data as losscli reads it (the class axis where the setting puts
    it) and as Keras' reference takes it (classes last), from a seed of the case; the generator goes
    on to draw the weights."""
    variant = SETTINGS[name][v_index]
    rng = np.random.default_rng(zlib.crc32(repr((name, v_index, shape)).encode()))
    y_true, y_pred = make_data(variant.kind, shape, rng)
    ref_true, ref_pred = y_true, y_pred
    if variant.class_axis is not None:
        y_pred = np.moveaxis(y_pred, -1, variant.class_axis)
        if variant.kind.startswith("onehot"):
            y_true = np.moveaxis(y_true, -1, variant.class_axis)
    return variant, rng, y_true, y_pred, ref_true, ref_pred


def compare(name: str, v_index: int, shape: tuple[int, ...], reduction: str, weight: str):
    """Return (losscli value, keras value, rtol) for one case."""
    variant, rng, y_true, y_pred, ref_true, ref_pred = case_data(name, v_index, shape)
    if name == "categorical_generalized_cross_entropy":
        # Keras 3.15.1 broadcasts (N, 1) labels against (N, C) into (N, N) losses;
        # losscli squeezes them (contract section 3): the reference gets (N,).
        ref_true = ref_true.reshape(ref_true.shape[:1])
    keras_cls, keras_params = keras_reference(name, variant.params, variant.class_axis)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        unweighted = keras_cls(reduction="none", dtype="float64", **keras_params)(
            ref_true, ref_pred
        )
        loss_shape = np.shape(unweighted)
        if weight == "none":
            w = kw = None
        elif weight == "scalar":
            w = kw = 0.7
        elif weight == "per_sample":
            w = rng.uniform(0.1, 2.0, shape[:1])
            # Keras needs the weight's trailing axes spelled out (contract section 3).
            kw = w.reshape(w.shape + (1,) * max(len(loss_shape) - 1, 0)) if loss_shape else w
        else:
            if not loss_shape:
                return None
            w = kw = rng.uniform(0.1, 2.0, loss_shape)
        if kw is not None and has_mask(name, variant.params):
            # Keras 3.15.1 merges a mask into the weights in place, which fails
            # unless the weights already have the losses' full shape: give it that.
            kw = np.broadcast_to(kw, loss_shape).copy()
        expected = keras_cls(reduction=reduction, dtype="float64", **keras_params)(
            ref_true, ref_pred, sample_weight=kw
        )
    got = losses.LOSSES[name](reduction=reduction, **variant.params)(
        y_true, y_pred, sample_weight=w
    )
    expected = np.asarray(expected)
    assert expected.dtype == np.float64
    return np.asarray(got), expected, RTOL


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize(("name", "v_index", "shape"), list(cases()))
def test_class_handle_equals_keras(name, v_index, shape, reduction):
    for weight in WEIGHTS:
        result = compare(name, v_index, shape, reduction, weight)
        if result is None:
            continue
        got, expected, rtol = result
        assert got.shape == expected.shape, (weight, got.shape, expected.shape)
        np.testing.assert_allclose(got, expected, rtol=rtol, atol=ATOL, err_msg=f"weights={weight}")


# Function handles that Keras 3.15.1 computes differently, and why.
FUNCTION_EXCEPTIONS = {"tversky", "circle"}  # tversky: #23333; circle: mask kept separately


def function_cases():
    """The cases Keras' function handles take as they are; the class handles cover the rest.

    Left out: a class axis other than the last (#23437, and the numpy backend's sparse
    crossentropy takes classes last only), (N, 1) sparse labels (Keras' functions do not align
    ranks, its classes do), and FUNCTION_EXCEPTIONS.
    """
    for case in cases():
        name, v_index, _ = case.values
        variant = SETTINGS[name][v_index]
        plain = variant.class_axis is None and variant.kind != "sparse_col"
        if plain and name not in FUNCTION_EXCEPTIONS:
            yield case


@pytest.mark.parametrize(("name", "v_index", "shape"), list(function_cases()))
def test_function_handle_equals_keras(name, v_index, shape):
    variant = SETTINGS[name][v_index]
    y_true, y_pred = make_data(variant.kind, shape, np.random.default_rng(7))
    ours = getattr(losses, name)(y_true, y_pred, **variant.params)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        params = {**losses.LOSSES[name].defaults(), **variant.params}
        expected = getattr(keras.losses, name)(y_true, y_pred, **params)
    np.testing.assert_allclose(ours, np.asarray(expected), rtol=RTOL, atol=ATOL)


def test_the_reference_computes_in_float64():
    rng = np.random.default_rng(0)
    y = rng.normal(size=(4, 3))
    assert keras.losses.cosine_similarity(y, y[::-1]).dtype == np.float64
    assert keras.ops.sigmoid(y).dtype == np.float64
    labels, embeddings = make_data("circle", (6, 3), rng)
    assert keras.losses.circle(labels, embeddings).dtype == np.float64


def test_tversky_release_swaps_alpha_and_beta():
    """With alpha != beta, 3.15.1 differs from losscli exactly by the swap (#23333)."""
    rng = np.random.default_rng(3)
    y_true, y_pred = make_data("mask", (8, 3), rng)
    ours = losses.Tversky(alpha=0.8, beta=0.2)(y_true, y_pred)
    release = keras.losses.Tversky(alpha=0.8, beta=0.2, dtype="float64")(y_true, y_pred)
    swapped = keras.losses.Tversky(alpha=0.2, beta=0.8, dtype="float64")(y_true, y_pred)
    assert abs(ours - release) > 1e-3
    np.testing.assert_allclose(ours, swapped, rtol=RTOL)


def test_label_smoothing_with_custom_axis_divides_by_classes_on_that_axis():
    """3.15.1 divides by the size of the last axis (#23437); losscli by the class axis."""
    y_true = np.moveaxis(np.eye(4)[[[0, 1, 2], [3, 3, 0]]], -1, 1)  # (2, 4 classes, 3)
    y_pred = np.full((2, 4, 3), 0.25)
    got = losses.categorical_crossentropy(y_true, y_pred, label_smoothing=0.2, axis=1)
    # Smoothed targets are 0.8 + 0.2/4 and 0.2/4 on a uniform prediction: the loss is log 4.
    np.testing.assert_allclose(got, np.full((2, 3), np.log(4.0)), rtol=1e-12)
    release = keras.losses.categorical_crossentropy(y_true, y_pred, label_smoothing=0.2, axis=1)
    assert not np.allclose(release, got)


def test_bce_from_logits_is_exact_where_the_numpy_backend_saturates():
    ours = losses.BinaryCrossentropy(from_logits=True)([[0.0]], [[100.0]])
    assert ours == 100.0
    numpy_backend = keras.losses.BinaryCrossentropy(from_logits=True, dtype="float64")(
        [[0.0]], [[100.0]]
    )
    assert numpy_backend < 17  # saturated at -log(1e-7)


# --- Keras' list of losses and their parameters -----------------------------------


def _keras_loss_classes():
    return {
        name: obj
        for name, obj in vars(keras.losses).items()
        if inspect.isclass(obj)
        and issubclass(obj, keras.losses.Loss)
        and obj is not keras.losses.Loss
    }


def test_keras_version_is_the_pinned_one():
    assert keras.__version__ == KERAS_VERSION


def test_every_keras_loss_class_is_in_losscli():
    classes = _keras_loss_classes()
    ours = {cls.__name__ for cls in losses.LOSSES.values()}
    assert set(classes) == ours


def test_every_keras_loss_function_and_identifier_resolves():
    from keras.src.losses import ALL_OBJECTS_DICT

    public = {n for n, o in vars(keras.losses).items() if inspect.isfunction(o)} - {
        "get",
        "serialize",
        "deserialize",
    }
    for name in public | set(ALL_OBJECTS_DICT) - {"Loss", "LossFunctionWrapper"}:
        keras_obj = getattr(keras.losses, name, None) or ALL_OBJECTS_DICT[name]
        resolved = losses.lookup(name)
        keras_class_name = keras_obj.__name__ if inspect.isclass(keras_obj) else None
        if keras_class_name:
            assert resolved.__name__ == keras_class_name
        else:
            assert resolved.fn.__name__ == keras_obj.__name__, name


@pytest.mark.parametrize("class_name", sorted(_keras_loss_classes()))
def test_parameters_and_defaults_match_keras(class_name):
    keras_params = {
        n: p.default
        for n, p in inspect.signature(getattr(keras.losses, class_name)).parameters.items()
        if n not in ("self", "reduction", "name", "dtype")
    }
    assert losses.lookup(class_name).defaults() == keras_params


def test_every_loss_has_conformance_settings():
    assert set(SETTINGS) == set(losses.LOSSES)


def test_keras2_names_and_case_folding():
    assert losses.lookup("kullback_leibler_divergence") is losses.KLDivergence
    assert losses.lookup("logcosh") is losses.LogCosh
    assert losses.lookup("huber_loss") is losses.Huber
    assert losses.lookup("cosine_proximity") is losses.CosineSimilarity
    assert losses.lookup("meansquarederror") is losses.MeanSquaredError
    assert losses.lookup("Binary_CrossEntropy") is losses.BinaryCrossentropy
    assert (
        losses.lookup("CATEGORICALGENERALIZEDCROSSENTROPY")
        is losses.CategoricalGeneralizedCrossEntropy
    )


def _report() -> None:  # pragma: no cover - run by hand for the numbers in the notes
    n_cases = 0
    worst: dict[str, float] = {}
    for (name, v_index, shape), reduction, weight in itertools.product(
        [c.values for c in cases()], REDUCTIONS, WEIGHTS
    ):
        result = compare(name, v_index, shape, reduction, weight)
        if result is None:
            continue
        got, expected, _ = result
        n_cases += 1
        denom = np.maximum(np.abs(expected), 1e-300)
        diff = float(
            np.max(np.abs(got - expected) / denom, initial=0.0, where=np.abs(expected) > 1e-12)
        )
        worst[name] = max(worst.get(name, 0.0), diff)
    print(f"{n_cases} conformance cases against Keras {keras.__version__}")
    for name, diff in worst.items():
        print(f"  {name:40s} max relative difference {diff:.1e}")


if __name__ == "__main__":
    _report()


# --- Keras' own loss tests, as losscli tests with values from Keras -----------------------------


def test_ctc_reads_label_rows_as_keras_does():
    logits = (np.arange(24).reshape((2, 4, 3)) - 12) / 100
    y_true = np.array([[1, 2, 1, 0], [1, 2, 0, 2]])  # a 0 inside the second row
    expected = keras.losses.CTC()(y_true, logits)
    assert losses.CTC()(y_true, logits) == pytest.approx(float(expected), rel=RTOL)
    np.testing.assert_allclose(
        losses.ctc(y_true, logits), np.asarray(keras.losses.ctc(y_true, logits)), rtol=RTOL
    )


CIRCLE_LABELS = np.array([1, 1, 2, 2, 3])
CIRCLE_REF_LABELS = np.array([1, 1, 2, 2, 3, 4])


def _unit_rows(rng: np.random.Generator, n: int) -> np.ndarray:
    rows = rng.normal(size=(n, 4))
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


@pytest.mark.parametrize(("gamma", "margin"), [(80.0, 0.4), (256, 0.25)])
def test_circle_class_matches_keras(gamma, margin):
    embeddings = _unit_rows(np.random.default_rng(3), 5)
    expected = keras.losses.Circle(gamma=gamma, margin=margin)(CIRCLE_LABELS, embeddings)
    got = losses.Circle(gamma=gamma, margin=margin)(CIRCLE_LABELS, embeddings)
    assert got == pytest.approx(float(expected), rel=RTOL)


@pytest.mark.parametrize("remove_diagonal", [False, True])
def test_circle_function_takes_reference_labels_and_embeddings(remove_diagonal):
    rng = np.random.default_rng(4)
    embeddings, references = _unit_rows(rng, 5), _unit_rows(rng, 6)
    kwargs = {
        "ref_labels": CIRCLE_REF_LABELS,
        "ref_embeddings": references,
        "gamma": 80.0,
        "margin": 0.4,
        "remove_diagonal": remove_diagonal,
    }
    expected = keras.losses.circle(CIRCLE_LABELS, embeddings, **kwargs)
    got = losses.circle(CIRCLE_LABELS, embeddings, **kwargs)
    np.testing.assert_allclose(got, np.asarray(expected), rtol=RTOL)
    assert "ref_labels" not in losses.Circle.defaults()  # the class compares the batch itself


def test_error_wording_keeps_keras_phrases():
    with pytest.raises(ValueError, match="Invalid value for argument `reduction`"):
        losses.Hinge(reduction="abc")
    y_true = np.array([[0], [1], [2]])
    y_pred = np.array([[0.9, 0.05, 0.05], [0.5, 0.89, 0.6], [0.05, 0.01, 0.94]])
    for handle in (losses.BinaryCrossentropy(), losses.CategoricalCrossentropy()):
        with pytest.raises(ValueError, match="must have the same shape"):
            handle(y_true, y_pred)
    with pytest.raises(ValueError, match="Invalid value for argument `reduction`"):
        keras.losses.Hinge(reduction="abc")  # the phrase is Keras' own


@pytest.mark.parametrize("name", ["categorical_crossentropy", "categorical_focal_crossentropy"])
def test_one_class_warns_as_keras_does(name):
    import warnings as w

    one_class = np.array([[1.0], [1.0]]), np.array([[0.5], [0.5]])
    with pytest.warns(SyntaxWarning, match=r"expected y_pred.shape to be \(batch_size, num"):
        getattr(losses, name)(*one_class)
    with pytest.warns(SyntaxWarning, match=r"expected y_pred.shape to be \(batch_size, num"):
        getattr(losses, name)(np.ones((2, 1, 4)), np.ones((2, 1, 4)), axis=1)
    with w.catch_warnings():
        w.simplefilter("error", SyntaxWarning)
        getattr(losses, name)(np.ones((2, 4, 1)), np.ones((2, 4, 1)), axis=1)


@pytest.mark.parametrize(
    ("labels", "num_classes"),
    [([0, 1, 2, 3], 4), ([2, 0, 1], None), ([[1], [0], [3]], 5), (np.array([[0, 1], [1, 0]]), 2)],
)
def test_to_categorical_matches_keras(labels, num_classes):
    import losscli

    expected = keras.utils.to_categorical(np.asarray(labels), num_classes)
    got = losscli.to_categorical(labels, num_classes)
    assert got.shape == expected.shape
    np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize(
    ("labels", "message"),
    [
        ([0, -1, 2], "class label -1 at row 1 is negative"),
        ([0, 4], r"class label 4 at row 1 is out of range for 3 classes \(labels 0..2\)"),
        ([0.5], "class labels must be whole numbers; row 0 has 0.5"),
    ],
)
def test_to_categorical_refuses_labels_keras_would_misread(labels, message):
    import losscli

    with pytest.raises(ValueError, match=message):
        losscli.to_categorical(labels, 3)


def test_is_categorical_crossentropy_as_in_keras_2():
    cce = losses.CategoricalCrossentropy
    yes = [cce, cce(), losses.categorical_crossentropy, "categorical_crossentropy"]
    yes += ["CategoricalCrossentropy", "categoricalcrossentropy"]
    no = [losses.CategoricalFocalCrossentropy(), losses.sparse_categorical_crossentropy]
    no += ["sparse_categorical_crossentropy", "binary_crossentropy", "unknown", None, 3]
    assert [losses.is_categorical_crossentropy(x) for x in yes] == [True] * len(yes)
    assert [losses.is_categorical_crossentropy(x) for x in no] == [False] * len(no)


# --- --reduction none through the command, in every output format ---------------------------

NONE_OUTPUTS = ("table", "json", "csv", "value", "markdown", ".npy", ".csv", ".parquet")
WHOLE_INPUT = "gives one value for the whole input, not one per sample"


def _spec_text(name: str, params: dict[str, Any]) -> str:
    """``name(key=value, ...)`` as typed on the command line."""

    def spell(value: Any) -> str:
        if isinstance(value, bool):
            return str(value).lower()
        if isinstance(value, tuple | list):
            inner = ", ".join(spell(v) for v in value)
            return f"({inner})" if isinstance(value, tuple) else f"[{inner}]"
        return repr(value)

    return f"{name}({', '.join(f'{k}={spell(v)}' for k, v in params.items())})"


def none_cases():
    """Every loss's every setting, on its first shape."""
    for name, variants in SETTINGS.items():
        for v_index, variant in enumerate(variants):
            shape = variant.shapes[0]
            yield pytest.param(name, v_index, shape, id=f"{name}-{variant.params}-{shape}")


def _row_values(text: str) -> list[float]:
    """The numbers of a table or Markdown value cell: ``[a, b, c, ...] (K values)`` or ``x``."""
    inside = text.strip()
    if inside.startswith("["):
        inside = inside[1 : inside.index("]")]
    return [float(v) for v in inside.split(", ") if v != "..."]


@pytest.mark.parametrize(("name", "v_index", "shape"), list(none_cases()))
def test_reduction_none_prints_keras_values_in_every_format(tmp_path, name, v_index, shape):
    """Keras' ``reduction=None`` values, through ``losscli eval --reduction none`` in every
    output format and ``--output`` file; a loss with one value for the whole input (Dice or
    Tversky with axis=None) shows that value, and the per-sample files refuse it."""
    import pandas as pd
    from conftest import run_cli

    variant, rng, y_true, y_pred, ref_true, ref_pred = case_data(name, v_index, shape)
    if name == "categorical_generalized_cross_entropy":
        ref_true = ref_true.reshape(ref_true.shape[:1])  # as in compare()
    if len(shape) == 1:  # a 1-D file holds one value per sample; Keras reads one sample
        ref_true, ref_pred = ref_true[:, None], ref_pred[:, None]
    keras_cls, keras_params = keras_reference(name, variant.params, variant.class_axis)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        keras_loss = keras_cls(reduction="none", dtype="float64", **keras_params)
        expected = np.asarray(keras_loss(ref_true, ref_pred))
    np.save(tmp_path / "t.npy", y_true)
    np.save(tmp_path / "p.npy", y_pred)
    spec = _spec_text(name, variant.params)
    whole = expected.ndim == 0
    flat = expected.reshape(1 if whole else len(expected), -1)

    def close(got: Any, want: np.ndarray) -> None:
        np.testing.assert_allclose(np.asarray(got, dtype=float), want, rtol=RTOL, atol=ATOL)

    for output in NONE_OUTPUTS:
        args = ["eval", spec, "--y-true", tmp_path / "t.npy", "--y-pred", tmp_path / "p.npy"]
        args += ["--reduction", "none", "-q"]
        per_sample_file = output.startswith(".")
        target = tmp_path / f"out{output}"
        args += ["-o", target] if per_sample_file else ["-f", output]
        refused = whole and (per_sample_file or output == "csv")
        done = run_cli(*args, code=2 if refused else 0)
        if refused:
            assert WHOLE_INPUT in done.stderr, (output, done.stderr)
            assert not target.exists()
            continue
        out = done.stdout
        if output == "json":
            got = json.loads(out)["results"][0]["value"]
            assert np.shape(got) == expected.shape, output
            close(got, expected)
        elif output == "csv":
            frame = pd.read_csv(io.StringIO(out))
            assert frame["index"].tolist() == list(range(len(flat)))
            close(frame.drop(columns="index").to_numpy(), flat)
        elif output == "value":
            close(np.loadtxt(io.StringIO(out), ndmin=2), flat)
        elif output in ("table", "markdown"):
            lines = out.splitlines()
            row = lines[-1]
            if output == "markdown":  # the value column, found by its header
                header = [c.strip() for c in lines[-3].strip("|").split("|")]
                cell = row.strip("|").split("|")[header.index("value")]
            else:
                cell = row
            if whole:
                # The table's last column is the value (the samples are said above it).
                shown = cell.split()[-1] if output == "table" else cell
                close([float(shown)], expected.reshape(1))
            else:
                shown = _row_values(cell[cell.rindex("[") :])
                close(shown, expected.reshape(-1)[: len(shown)])
                assert f"({expected.size} values)" in cell, cell
        elif output == ".npy":
            got = np.load(target)
            assert got.shape == expected.shape
            close(got, expected)
        else:
            frame = pd.read_csv(target) if output == ".csv" else pd.read_parquet(target)
            assert frame.pop("index").tolist() == list(range(len(flat)))
            close(frame.to_numpy(), flat)
