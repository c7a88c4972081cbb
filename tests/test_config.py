"""One run configuration: every range and every rule between settings lives in
``RunConfig``'s validation, and each front end spells a setting its own way: flags on the
command line, keys in a check file, keyword arguments in Python (never a flag)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

import losscli
from losscli.checkfile import CHECK_KEYS, INPUT_KEYS
from losscli.config import CHECK_FILE, COMMAND_LINE, PYTHON, RunConfig, SettingError
from losscli.errors import LossCliError

Y = np.array([0.0, 1.0, 2.0, 3.0])
P = np.array([0.5, 1.0, 4.0, 3.5])
BASE = np.array([0.0, 1.5, 2.0, 3.0])
FRAME = pd.DataFrame({"y": Y, "p": P, "w": [1.0, 2.0, 1.0, 1.0], "g": ["a", "b", "a", "b"]})
TABLE = {"data": FRAME, "true_col": "y", "pred_col": "p"}

#: Every rule between settings, with the message each front end gives.
RULES = [
    (
        {"worst_per_slice": True, "worst": 2},
        {
            COMMAND_LINE: "--worst-per-slice lists the worst samples of each slice: add "
            "--worst K and --group-by COL",
            PYTHON: "worst_per_slice= lists the worst samples of each slice: pass worst=K and "
            "group_by=COL",
        },
    ),
    (
        {"slice_max": ((None, 1.0),)},
        {
            COMMAND_LINE: "--slice-max and --slice-min gate slices: add --group-by COL",
            CHECK_FILE: "slice_max and slice_min gate slices: set group_by",
            PYTHON: "slice_max= and slice_min= gate slices: pass group_by=COL",
        },
    ),
    (
        {"max_increase": ((None, "1%"),)},
        {
            COMMAND_LINE: "--max-increase compares with a baseline: add --baseline-pred PATH "
            "(or --baseline-col COL)",
            CHECK_FILE: "max_increase compares with a baseline: set baseline_pred (or "
            "baseline_col) in [inputs] or the check",
            PYTHON: "max_increase= compares with a baseline: pass baseline_pred=PATH (or "
            "baseline_col=COL)",
        },
    ),
    (
        {"significance": 0.05},
        {
            COMMAND_LINE: "--significance makes --max-increase noise-aware: add --max-increase "
            "X and --baseline-pred",
            CHECK_FILE: "significance makes max_increase noise-aware: set max_increase",
            PYTHON: "significance= makes max_increase= noise-aware: pass max_increase=X and "
            "baseline_pred=PATH_OR_ARRAY",
        },
    ),
    (
        {"non_inferiority": True},
        {
            COMMAND_LINE: "--non-inferiority makes --max-increase noise-aware: add "
            "--max-increase X and --baseline-pred",
            CHECK_FILE: "non_inferiority makes max_increase noise-aware: set max_increase",
            PYTHON: "non_inferiority= makes max_increase= noise-aware: pass max_increase=X and "
            "baseline_pred=PATH_OR_ARRAY",
        },
    ),
]


@pytest.mark.parametrize(("settings", "messages"), RULES)
def test_each_rule_lives_once_and_each_front_end_spells_it(settings, messages):
    for spelling, message in messages.items():
        with pytest.raises(SettingError) as raised:
            RunConfig(losses=("mse",), spelling=spelling, **settings)
        assert str(raised.value) == message


@pytest.mark.parametrize(
    ("settings", "key", "shape"),
    [
        ({"worst": 0}, "worst", "from 1 to 100000"),
        ({"bootstrap": 100_001}, "bootstrap", "from 1 to 100000 (about 4 KiB of memory per "),
        ({"seed": -1}, "seed", "from 0 to 9223372036854775807"),
        ({"min_slice_size": 0}, "min_slice_size", "at least 1"),
        ({"max_slices": 0}, "max_slices", "at least 1"),
        ({"histogram": 1001}, "histogram", "from 1 to 1000"),
        ({"bin_scale": "cubic"}, "bin_scale", "linear, log or auto"),
        ({"ci": 1.0}, "ci", "between 0 and 1 (exclusive)"),
        ({"significance": 0.0}, "significance", "between 0 and 1 (exclusive)"),
    ],
)
def test_each_range_is_checked_once_and_names_the_setting(settings, key, shape):
    for spelling, name in ((COMMAND_LINE, f"--{key.replace('_', '-')}"), (PYTHON, f"{key}=")):
        with pytest.raises(SettingError) as raised:
            RunConfig(losses=("mse",), spelling=spelling, **settings)
        assert str(raised.value).startswith(f"{name} must be {shape}")
        assert str(raised.value).endswith(f", got {next(iter(settings.values()))!r}")


def test_check_file_keys_are_the_configurations_fields():
    fields = {f.name: f for f in dataclasses.fields(RunConfig)}
    assert set(INPUT_KEYS) < set(CHECK_KEYS) <= {"name", "loss", *fields}
    for key, kinds in CHECK_KEYS.items():
        if key not in ("name", "loss"):
            assert fields[key].metadata["toml"] == kinds
    # What only the command line or Python sets is no check-file key.
    assert not {"losses", "params", "worst", "histogram", "bin_scale"} & set(CHECK_KEYS)
    assert {"max", "min", "max_increase", "slice_max", "slice_min"} <= set(CHECK_KEYS)
    assert not {"max", "reduction", "dtype"} & set(INPUT_KEYS)


def test_an_unknown_check_file_key_is_suggested_from_the_fields(tmp_path):
    from losscli.checkfile import ConfigError, load_config

    config = tmp_path / "losscli.toml"
    config.write_text(
        '[[checks]]\nloss = "mse"\ny_true = "y.npy"\ny_pred = "y.npy"\nbotstrap = 5\n'
    )
    with pytest.raises(ConfigError, match="unknown key 'botstrap'; did you mean bootstrap?"):
        load_config(config)


# --- every error of the Python API, in Python's words ---------------------------------------

ERRORS = [
    # Each keyword argument, out of range or of the wrong type.
    {"worst": -3},
    {"worst": True},
    {"worst": 0},
    {"histogram": -3},
    {"histogram": 10**7},
    {"histogram": "8"},
    {"histogram": 5, "bin_scale": "bogus"},
    {"bootstrap": 0},
    {"bootstrap": 2.5},
    {"bootstrap": True},
    {"seed": -1},
    {"seed": 1.5},
    {"ci": 1.5},
    {"ci": 0.0},
    {"ci": "0.9"},
    {"significance": 1.5},
    {"significance": True},
    {"min_slice_size": 0},
    {"min_slice_size": 1.5},
    {"max_slices": 0},
    {"max_slices": False},
    {"sample_weight": True},
    {"reduction": "bogus"},
    {"nan_policy": "bogus"},
    {"params": {"from_logits": True}},
    {"params": "from_logits"},
    {"max": "abc"},
    {"max_increase": "x%", "baseline_pred": BASE},
    {"max": {"nope": 1.0}},
    {"y_true": "y.csv", "y_pred": "p.csv", "input_format": "bogus"},
    {"y_true": "y.xyz", "y_pred": "p.xyz"},
    # Every rule between settings.
    {"worst_per_slice": True},
    {"worst_per_slice": True, "worst": 2},
    {"slice_max": 1.0},
    {"slice_min": 0.0},
    {"max_increase": "1%"},
    {"significance": 0.05},
    {"non_inferiority": True},
    {"max": 1.0, "reduction": "none"},
    {"ci": True, "reduction": "none"},
    # Inputs that do not go together.
    {"y_true": Y, "y_pred": P, **TABLE},
    {"data": FRAME},
    {"data": FRAME, "true_col": "y", "pred_col": "p", "sample_weight": 1.0, "weight_col": "w"},
    {"groups": FRAME},
    {"group_by": "g"},
    {"y_true": "-", "y_pred": "-"},
    {**TABLE, "group_by": "nope"},
    {**TABLE, "group_by": "g", "max_slices": 1},
    {**TABLE, "group_by": "g", "reduction": "none"},
    {**TABLE, "scheduler": "local:1"},
]


@pytest.mark.parametrize("options", ERRORS, ids=lambda options: ",".join(options))
def test_no_python_error_names_a_flag(options):
    arrays = {} if "data" in options or "y_true" in options else {"y_true": Y, "y_pred": P}
    with pytest.raises(LossCliError) as raised:  # never an internal error
        losscli.evaluate("mse", **arrays, **options)
    message = str(raised.value)
    assert message and "--" not in message, message
    assert "\x00" not in message  # every setting spelled


def test_python_warnings_name_no_flag():
    report = losscli.evaluate("mse", **TABLE, group_by="g", min_slice_size=3)
    assert report.warnings
    assert all("--" not in w for w in report.warnings)
    assert any("min_slice_size= 3" in w for w in report.warnings)


def test_gates_in_python_give_the_commands_failure_lines():
    mse = float(np.mean((Y - P) ** 2))
    report = losscli.evaluate(["mse", "mae"], Y, P, max={"mse": 1.0}, min=0.5)
    assert not report.passed
    assert report.failures == [f"FAIL: mse: max 1: {mse!r} > max 1"]
    passing = losscli.evaluate("mse", Y, P, max=mse)
    assert passing.passed and passing.failures == []
    base = float(np.mean((Y - BASE) ** 2))
    worse = losscli.evaluate("mse", Y, P, baseline_pred=BASE, max_increase="1%")
    assert worse.failures == [
        f"FAIL: mse: max_increase 1%: increase {mse - base!r} over baseline {base!r} > allowed "
        f"{base / 100!r}"
    ]
    sliced = losscli.evaluate("mse", **TABLE, group_by="g", slice_max=1.0)
    by_slice = {k: float(np.mean(((Y - P) ** 2)[FRAME["g"] == k])) for k in ("a", "b")}
    assert [r.value for r in sliced.results[1:]] == [by_slice["a"], by_slice["b"]]
    assert sliced.failures == [f"FAIL: mse [g=a]: slice_max 1: {by_slice['a']!r} > slice_max 1"]


def test_a_number_weight_is_never_a_path(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "2.0").write_text("y\n1\n")  # a file named like the number, readable as CSV
    (tmp_path / "2").write_text("y\n1\n")
    mse = float(np.mean((Y - P) ** 2))
    for weight in (2, 2.0, np.int64(2), np.float32(2.0)):
        report = losscli.evaluate("mse", Y, P, sample_weight=weight)
        assert report.results[0].value == 2 * mse
        assert report.evaluation.results[0].n_samples == 4


def test_a_library_error_outside_any_front_end_names_the_bare_key(tmp_path):
    from losscli import losses
    from losscli.engine import InputSpec, evaluate
    from losscli.errors import InputError
    from losscli.stats.gates import Gate

    np.save(tmp_path / "y.npy", Y)
    inputs = InputSpec(y_true=str(tmp_path / "y.npy"), y_pred=str(tmp_path / "y.npy"))
    with pytest.raises(InputError) as raised:
        evaluate(
            [losses.MeanSquaredError(reduction="none")],
            ["mse"],
            inputs,
            gates={0: [Gate("max", 1)]},
        )
    assert str(raised.value) == "gates on mse need one value; reduction none gives one per sample"
    assert raised.value.spelled(lambda key: f"--{key}") == (
        "gates on mse need one value; --reduction none gives one per sample"
    )


def test_an_unknown_keyword_is_a_type_error_naming_it():
    with pytest.raises(
        TypeError, match=r"^evaluate\(\) got an unexpected keyword argument 'wrost'$"
    ):
        losscli.evaluate("mse", Y, P, wrost=2)
    with pytest.raises(TypeError, match="'spelling'"):
        losscli.evaluate("mse", Y, P, spelling=None)


def test_params_must_be_a_mapping():
    with pytest.raises(TypeError, match=r"^params= takes a dict of loss parameters"):
        losscli.evaluate("mse", Y, P, params="from_logits")


def test_a_noise_aware_gate_without_max_increase_asks_for_it_with_what_it_takes():
    with pytest.raises(ValueError) as raised:
        losscli.evaluate("mse", Y, P, significance=0.05)
    assert str(raised.value) == (
        "significance= makes max_increase= noise-aware: pass max_increase=X and "
        "baseline_pred=PATH_OR_ARRAY"
    )


def test_a_cluster_is_refused_data_given_in_python():
    with pytest.raises(SettingError) as raised:
        losscli.evaluate("mse", **TABLE, scheduler="local:1")
    assert str(raised.value) == (
        "scheduler= runs on the files its workers read; data= is data given in Python: give a "
        "path, or drop scheduler="
    )
