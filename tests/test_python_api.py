"""``losscli.evaluate`` validates as the command does: the same ranges, as ValueError or
TypeError naming the Python parameter; key columns never overwrite result columns in
``to_pandas``; pandas Series are paired by their index; a number stays a number. Expected
values come from numpy."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import losscli

Y = np.array([0.0, 1.0, 2.0])
P = np.array([0.5, 1.0, 4.0])
MSE = float(np.mean((Y - P) ** 2))


@pytest.mark.parametrize(
    ("options", "error", "message"),
    [
        ({"ci": 0.9, "bootstrap": True}, TypeError, "bootstrap= takes a whole number, got True"),
        (
            {"bootstrap": 0},
            ValueError,
            "bootstrap= must be from 1 to 100000 (about 4 KiB of memory per resample), got 0",
        ),
        ({"bootstrap": 2.5}, TypeError, "bootstrap= takes a whole number, got 2.5"),
        ({"worst": -3}, ValueError, "worst= must be from 1 to 100000, got -3"),
        ({"worst": True}, TypeError, "worst= takes a whole number, got True"),
        ({"histogram": -3}, ValueError, "histogram= must be from 1 to 1000 (or True: 30), got -3"),
        (
            {"histogram": 10**7},
            ValueError,
            "histogram= must be from 1 to 1000 (or True: 30), got 10000000",
        ),
        ({"histogram": "8"}, TypeError, "histogram= takes a whole number or True, got '8'"),
        (
            {"histogram": 5, "bin_scale": "bogus"},
            ValueError,
            "bin_scale= must be linear, log or auto, got 'bogus'",
        ),
        ({"seed": -1}, ValueError, "seed= must be from 0 to 9223372036854775807, got -1"),
        ({"seed": True}, TypeError, "seed= takes a whole number, got True"),
        ({"ci": 1.5}, ValueError, "ci= must be between 0 and 1 (exclusive), or True, got 1.5"),
        ({"ci": "0.9"}, TypeError, "ci= takes a level between 0 and 1, or True, got '0.9'"),
        (
            {"significance": True},
            TypeError,
            "significance= takes a number between 0 and 1, got True",
        ),
        ({"min_slice_size": 0}, ValueError, "min_slice_size= must be at least 1, got 0"),
        ({"max_slices": False}, TypeError, "max_slices= takes a whole number, got False"),
        (
            {"sample_weight": True},
            TypeError,
            "sample_weight= takes a number, an array or a path, got True",
        ),
    ],
)
def test_options_are_validated_and_named_as_python_parameters(options, error, message):
    with pytest.raises(error) as caught:
        losscli.evaluate("mse", Y, P, **options)
    assert str(caught.value) == message


def test_valid_options_still_work():
    report = losscli.evaluate("mse", Y, P, worst=1, histogram=True, ci=True, bootstrap=10, seed=3)
    assert report.results[0].value == MSE
    assert len(report.to_dict()["results"][0]["distribution"]["counts"]) == 30
    assert report.results[0].ci.resamples == 10


def test_a_number_as_sample_weight_stays_a_number(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "2.0").write_text("not weights\n")  # a file named like the number
    (tmp_path / "2").write_text("not weights\n")
    assert losscli.evaluate("mse", Y, P, sample_weight=2).results[0].value == 2 * MSE
    assert losscli.evaluate("mse", Y, P, sample_weight=2.0).results[0].value == 2 * MSE
    assert losscli.evaluate("mse", Y, P, sample_weight=np.float64(0.5)).results[0].value == (
        0.5 * MSE
    )


def test_series_are_paired_by_their_index_as_pandas_does():
    y = pd.Series([1.0, 2.0, 3.0], index=[10, 11, 12])
    p = pd.Series([3.0, 2.0, 1.0], index=[12, 11, 10])  # the same values, in another order
    assert float(((y - p) ** 2).mean()) == 0.0  # what pandas gives
    assert losscli.evaluate("mse", y, p).results[0].value == 0.0
    w = pd.Series([0.0, 1.0, 1.0], index=[10, 12, 11])  # no weight for the label at 10
    expected = np.sum(
        np.array([0.0, 1.0, 1.0]) * (y.to_numpy() - p.reindex(y.index).to_numpy()) ** 2
    )
    assert losscli.evaluate("mse", y, p, sample_weight=w).results[0].value == expected / 3
    base = pd.Series([1.0, 2.0, 4.0], index=[10, 11, 12])
    report = losscli.evaluate("mse", y, p, baseline_pred=base.iloc[::-1])
    assert report.results[0].baseline == 1.0 / 3
    other = pd.Series([1.0, 2.0, 3.0], index=[0, 1, 2])
    with pytest.raises(ValueError) as caught:
        losscli.evaluate("mse", y, other)
    assert str(caught.value) == (
        "y_pred= has other index labels than y_true= (pandas would align them and find no "
        "pair for some rows): give them the same index, or arrays (.to_numpy()) to pair rows "
        "by position"
    )
    # arrays pair by position, as always
    assert losscli.evaluate("mse", y, p.to_numpy()).results[0].value == float(
        np.mean((y.to_numpy() - p.to_numpy()) ** 2)
    )


@pytest.mark.parametrize("key", ["value", "loss", "n_samples", "passed", "slice", "spec"])
def test_a_key_column_never_overwrites_a_result_column(key):
    frame = pd.DataFrame({"y": Y, "p": P, key: ["a", "b", "a"]})
    table = losscli.evaluate(
        "mse", data=frame, true_col="y", pred_col="p", group_by=key
    ).to_pandas()
    a, b = np.array([0, 2]), np.array([1])
    values = [MSE, float(np.mean((Y[a] - P[a]) ** 2)), float(np.mean((Y[b] - P[b]) ** 2))]
    assert table["value"].tolist() == values
    assert table["n_samples"].tolist() == [3, 2, 1]
    assert table["loss"].tolist() == ["mean_squared_error"] * 3
    assert "slice" not in table.columns  # a key is a slice_<name> column
    assert table[f"slice_{key}"].tolist()[1:] == ["a", "b"]  # (all) has no key: NaN
    assert table[f"slice_{key}"].isna().tolist() == [True, False, False]


def test_one_object_given_twice_warns_as_the_same_file_does():
    report = losscli.evaluate("mse", Y, P, baseline_pred=P)
    assert (report.results[0].value, report.results[0].baseline) == (MSE, MSE)
    assert report.warnings == [
        "the baseline and y_pred are the same data (y_pred (ndarray)): every change is 0, so a "
        "gate on the increase always passes"
    ]
    same = losscli.evaluate("mse", P, P)
    assert same.results[0].value == 0.0
    assert same.warnings == [
        "y_true and y_pred are the same data (y_pred (ndarray)): every loss compares it with itself"
    ]
    assert losscli.evaluate("mse", Y, P, baseline_pred=P.copy()).warnings == []
