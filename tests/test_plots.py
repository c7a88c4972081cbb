"""``--plot``: pages read in a real browser (headless Chromium's DOM) and in an HTML parser,
the value axis' scale, slice keys as plain text, and a plot never changing the gates' exit code.
Expected numbers come from numpy on the same losses."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import run_cli as invoke

from losscli.text import slice_label

CHROMIUM = shutil.which("chromium")
KEYS = ["eu", "$x^{$", "<!--<script>"]
N = 2000


@pytest.fixture
def skewed(tmp_path, monkeypatch):
    """Losses spread over eight decades (mse of y=0 against p = 10**u): p99 far above p50."""
    monkeypatch.chdir(tmp_path)
    rng = np.random.default_rng(7)
    p = 10 ** rng.uniform(-4, 0, N)
    p[:3] = 10.0  # a long tail
    keys = np.array(KEYS)[np.arange(N) % 3]
    pq.write_table(pa.table({"y": np.zeros(N), "p": p, "g": keys}), "t.parquet")
    return p**2, keys


EVAL = ["eval", "mse", "--data", "t.parquet", "--true-col", "y", "--pred-col", "p"]
SLICED = [*EVAL, "--group-by", "g", "--ci", "--bootstrap", "200"]


class Page(HTMLParser):
    """The texts of an SVG page's ``<text>`` elements and its scripts' contents by id."""

    def __init__(self, markup: str) -> None:
        super().__init__(convert_charrefs=True)
        self.texts: list[str] = []
        self.scripts: dict[str, str] = {}
        self.closed: list[str] = []
        self._in: str | None = None
        self.feed(markup)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "text":
            self._in, self.texts = "text", [*self.texts, ""]
        elif tag == "script":
            self._in = "script:" + (dict(attrs).get("id") or "")
            self.scripts[self._in[7:]] = ""

    def handle_endtag(self, tag: str) -> None:
        self._in = None
        self.closed.append(tag)

    def handle_data(self, data: str) -> None:
        if self._in == "text":
            self.texts[-1] += data
        elif self._in is not None:
            self.scripts[self._in[7:]] += data


def chromium_dom(page: Path, profile: Path) -> str:
    """The page as headless Chromium parsed it (``--dump-dom``)."""
    run = subprocess.run(
        [
            str(CHROMIUM),
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={profile}",
            "--dump-dom",
            page.resolve().as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0 and "<html" in run.stdout[:100], run.stderr[-2000:]
    return run.stdout


def _slices_expected(results: list[dict]) -> list[dict]:
    return [
        {
            "slice": "(all)" if r["slice"] is None else slice_label(r["slice"]),
            "value": r["value"],
            "ci": [r["ci"]["low"], r["ci"]["high"]],
            "n_samples": r["n_samples"],
        }
        for r in results
    ]


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not on PATH (.ci/run installs it)")
def test_the_html_plot_reads_without_hovering_in_a_browser(skewed, tmp_path):
    losses, _ = skewed
    results = json.loads(
        invoke(*SLICED, "--plot", "p.html", "--histogram", "-f", "json", code=0).stdout
    )
    results = results["results"]
    page = Page(chromium_dom(Path("p.html"), tmp_path / "profile"))
    p50, p90, p99 = np.quantile(losses, [0.5, 0.9, 0.99])
    texts = page.texts
    assert texts[0] == f"mse: 2,000 samples, p50 {p50:.4g}, p90 {p90:.4g}, p99 {p99:.4g}"
    assert [t for t in texts if t[:4] in ("p50 ", "p90 ", "p99 ")] == [
        f"p50 {p50:.4g}", f"p90 {p90:.4g}", f"p99 {p99:.4g}"
    ]  # fmt: skip
    caption = f"weighted per-sample loss, log scale (auto: p99/p50 = {p99 / p50:.3g} >= 10)"
    assert caption in texts
    # Ticks: counts on the left, decades along the value axis.
    assert {"0", "50", "100"} <= set(texts[1:4])
    assert {"1e-06", "0.0001", "0.01", "1", "100"} <= set(texts)
    # The slice chart: each slice's label, and its value and interval as text.
    assert "mse by slice, 95% intervals as red bars" in texts
    for row in _slices_expected(results):
        assert row["slice"] in texts
        low, high = row["ci"]
        assert f"{row['value']:.4g} [{low:.4g}, {high:.4g}]" in texts
    # The data islands, as the browser holds them, are the data.
    assert json.loads(page.scripts["losscli-slices"]) == {"mse": _slices_expected(results)}
    shown = json.loads(page.scripts["losscli-data"])["mse"]
    assert shown == results[0]["distribution"]
    assert json.loads(page.scripts["losscli-nonfinite"]) == {}


def test_auto_bins_a_skewed_loss_on_a_log_scale(skewed):
    losses, _ = skewed
    auto = json.loads(invoke(*EVAL, "--plot", "a.html", "--histogram", "-f", "json", code=0).stdout)
    d = auto["results"][0]["distribution"]
    assert d["scale"] == "log" and len(d["edges"]) == 31
    edges = np.array(d["edges"])
    np.testing.assert_allclose(edges, np.geomspace(losses.min(), losses.max(), 31), rtol=1e-12)
    assert d["counts"] == np.histogram(losses, edges)[0].tolist()
    linear = json.loads(
        invoke(
            *EVAL, "--plot", "l.html", "--plot-scale", "linear", "--histogram", "-f", "json", code=0
        ).stdout
    )
    d = linear["results"][0]["distribution"]
    assert "scale" not in d
    np.testing.assert_allclose(d["edges"], np.linspace(losses.min(), losses.max(), 31))
    assert "weighted per-sample loss, linear scale" in Page(Path("l.html").read_text()).texts
    # --histogram alone keeps equal-width bins.
    alone = json.loads(invoke(*EVAL, "--histogram", "-f", "json", code=0).stdout)
    assert "scale" not in alone["results"][0]["distribution"]


def test_log_bins_keep_zeros_in_a_first_bin():
    from losscli.stats.analysis import Distribution

    distribution = Distribution()
    values = np.array([0.0, 0.0, 0.0, 1e-3, 1e-2, 0.1, 1.0, 10.0])
    distribution.update(values)
    d = distribution.result(4, "auto")  # p50 between 1e-3 and 1e-2, p99 ~ 10
    assert d["scale"] == "log"
    np.testing.assert_allclose(d["edges"], [0.0, *np.geomspace(1e-3, 10.0, 4)], rtol=1e-12)
    assert d["counts"] == [3, 2, 1, 2]
    assert "scale" not in distribution.result(4, "linear")
    # Negative losses (cosine similarity) stay linear under auto.
    negative = Distribution()
    negative.update(np.array([-1.0, 0.001, 0.002, 5.0]))
    assert "scale" not in negative.result(4, "auto")


def test_the_data_island_survives_a_key_that_opens_a_comment_and_non_finite_values(tmp_path):
    pq.write_table(
        pa.table(
            {
                "y": [0.0, 1.0, 0.0, 1.0],
                "p": [0.5, 0.5, np.inf, np.inf],
                "g": ["<!--<script>", "<!--<script>", "</script>b", "</script>b"],
            }
        ),
        tmp_path / "t.parquet",
    )
    args = ["eval", "mse", "--data", tmp_path / "t.parquet", "--true-col", "y", "--pred-col", "p"]
    args += ["--group-by", "g", "--nan-policy", "propagate", "--plot", tmp_path / "p.html", "-q"]
    invoke(*args, code=0)
    markup = (tmp_path / "p.html").read_text()
    assert "Infinity" not in markup and "NaN" not in markup and '="inf"' not in markup
    expected = {
        "mse": [
            {"slice": "(all)", "value": None, "ci": None, "n_samples": 4},
            {"slice": 'g="<!--<script>"', "value": 0.25, "ci": None, "n_samples": 2},
            {"slice": 'g="</script>b"', "value": None, "ci": None, "n_samples": 2},
        ]
    }
    flags = {"/slices/mse/0/value": "inf", "/slices/mse/2/value": "inf"}
    pages = [Page(markup)]
    if CHROMIUM is not None:
        pages.append(Page(chromium_dom(tmp_path / "p.html", tmp_path / "profile")))
    for page in pages:
        assert set(page.scripts) == {"losscli-data", "losscli-slices", "losscli-nonfinite"}
        assert json.loads(page.scripts["losscli-slices"]) == expected
        assert json.loads(page.scripts["losscli-nonfinite"]) == flags
        assert page.closed[-2:] == ["body", "html"]
        assert {'g="<!--<script>"', 'g="</script>b"', "inf", "0.25"} <= set(page.texts)


# --- a plot never changes the gates' exit code -----------------------------------------------


def test_a_slice_key_that_reads_as_math_is_drawn_as_text(skewed):
    _, keys = skewed
    result = invoke(*EVAL, "--group-by", "g", "--slice-max", "0.01", "--plot", "p.png", code=1)
    assert 'g="$x^{$"' in result.stdout
    fails = [line for line in result.stderr.splitlines() if line.startswith("FAIL: ")]
    assert sorted(fails)[0].startswith('FAIL: mse [g="$x^{$"]: slice_max 0.01: ')
    assert Path("p.png").read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    invoke(*EVAL, "--group-by", "g", "--plot", "p.svg", code=0)
    assert "$x^{$" in Path("p.svg").read_text()  # as typed, no math


def test_every_slice_infinite_still_draws(tmp_path):
    pq.write_table(
        pa.table({"y": [0.0, 1.0], "p": [np.inf, np.inf], "g": ["a", "b"]}), tmp_path / "t.parquet"
    )
    args = ["eval", "mse", "--data", tmp_path / "t.parquet", "--true-col", "y", "--pred-col", "p"]
    args += ["--group-by", "g", "--nan-policy", "propagate", "-f", "value"]
    for suffix in (".html", ".png"):
        result = invoke(*args, "--plot", tmp_path / f"p{suffix}", code=0)
        assert result.stdout == "inf\ninf\ninf\n" and result.stderr == ""
    assert {"g=a", "g=b", "inf"} <= set(Page((tmp_path / "p.html").read_text()).texts)


def test_a_plot_that_cannot_be_written_is_a_warning_after_the_results(skewed, tmp_path):
    """A file-size limit below the page's size: the table and the FAIL line are printed, the
    exit code is the gate's (1), and a warning says the plot was not written."""
    import resource

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (4000, 4000))

    env = {"PYTHONPATH": str(Path(__file__).parents[1]), **os.environ}
    run = subprocess.run(
        [sys.executable, "-m", "losscli", *EVAL, "--max", "0.01", "--plot", "p.html"],
        capture_output=True, text=True, env=env, preexec_fn=limit, timeout=120,  # noqa: PLW1509
    )  # fmt: skip
    assert run.returncode == 1, run.stderr
    assert "\nloss " in run.stdout and "mean_squared_error" in run.stdout
    lines = run.stderr.splitlines()
    assert lines[0].startswith("FAIL: mse: max 0.01: ")
    assert lines[1] == (
        "Warning: --plot p.html: cannot write (File too large); nothing was written; the "
        "results above stand"
    )
    assert not Path("p.html").exists()


def test_pictures_honour_the_scale(skewed):
    for scale, caption in [
        ("log", "weighted per-sample loss, log scale"),
        ("linear", "weighted per-sample loss, linear scale"),
        ("auto", "weighted per-sample loss, log scale (auto: p99/p50 = "),
    ]:
        invoke(*EVAL, "--plot", f"{scale}.svg", "--plot-scale", scale, "-f", "value", code=0)
        assert caption in Path(f"{scale}.svg").read_text(), scale  # matplotlib's text comments


def test_the_picture_labels_quantiles_and_slices_with_their_values(skewed):
    """The SVG (as the PNG) reads without hovering too: each quantile line with its value, and
    each slice's value and interval as text beside its bar."""
    losses, _ = skewed
    document = json.loads(
        invoke(*SLICED, "--plot", "p.svg", "--histogram", "-f", "json", code=0).stdout
    )
    svg = Path("p.svg").read_text()
    for name, value in zip(
        ("p50", "p90", "p99"), np.quantile(losses, [0.5, 0.9, 0.99]), strict=True
    ):
        assert f"{name} {value:.4g}" in svg
    for result in document["results"]:
        ci = result["ci"]
        assert f"{result['value']:.4g} [{ci['low']:.4g}, {ci['high']:.4g}]" in svg
