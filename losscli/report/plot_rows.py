"""What a plot shows, whatever draws it (matplotlib or the HTML page): each loss's slices, a
slice chart's rows, the title and the word on the value axis."""

from __future__ import annotations

import math
from typing import Any

from losscli.engine.results import Result, slice_label
from losscli.stats.analysis import LOG_RATIO


def by_loss(results: list[Result]) -> dict[str, list[Result]]:
    """Per loss, its results by slice (the whole input first), those with a value."""
    by_spec: dict[str, list[Result]] = {}
    for result in results:
        if result.slice is not None and result.value is not None:
            by_spec.setdefault(result.spec, []).append(result)
    return {spec: found for spec, found in by_spec.items() if len(found) > 1}


def slice_rows(results: list[Result]) -> list[dict[str, Any]]:
    """What a slice chart shows: each slice's label, value and interval (None without)."""
    return [
        {
            "slice": slice_label(r.slice or {}),
            "value": float(r.value),
            "ci": None if r.ci is None else [r.ci.low, r.ci.high],
            "n_samples": r.n_samples,
        }
        for r in results
    ]


def is_log(result: Result) -> bool:
    return (result.distribution or {}).get("scale") == "log"


def title(result: Result) -> str:
    d = result.distribution or {}
    q = d["quantiles"]
    return (
        f"{result.spec}: {d['count']:,} samples, p50 {q['p50']:.4g}, p90 {q['p90']:.4g}, "
        f"p99 {q['p99']:.4g}"
    )


def scale_note(result: Result, scale: str) -> str:
    """The caption's word on the value axis: ``log scale (auto: p99/p50 = 48.2 >= 10)``."""
    if not is_log(result):
        return "linear scale"
    if scale == "log":
        return "log scale"
    q = (result.distribution or {})["quantiles"]
    if q["p50"] <= 0:
        return f"log scale (auto: p50 = {q['p50']:.4g} < p99 = {q['p99']:.4g})"
    return f"log scale (auto: p99/p50 = {q['p99'] / q['p50']:.3g} >= {LOG_RATIO:g})"


def finite_rows(rows: list[dict[str, Any]]) -> list[float]:
    """Every finite value and interval end of a slice chart's rows."""
    ends = [x for row in rows for x in [row["value"], *(row["ci"] or [])]]
    return [x for x in ends if x is not None and math.isfinite(x)]
