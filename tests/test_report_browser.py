"""The templated report: readable settings, rounded numbers, captioned figures, and a real
browser (headless Chromium) that loads it without console errors and shows every section."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from thermognn.experiments.records import ResultTable
from thermognn.experiments.stats import DIFFERENCE_COLUMNS
from thermognn.plotting import pyplot, save_figure
from thermognn.report import write_report
from thermognn.report.page import fmt, fmt_pm
from thermognn.report.sections import SECTIONS

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
#: Console lines of the page that are errors (browser notices such as WebGL fallbacks are not).
CONSOLE_ERROR = re.compile(r'CONSOLE.*"(Uncaught|\w*Error\b|Failed to load|Not allowed to load)')


def _png(path: Path) -> None:
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(2, 1.5))
    ax.plot([0, 1], [0, 1])
    path.parent.mkdir(parents=True, exist_ok=True)
    save_figure(fig, path, dpi=40)


@pytest.fixture
def run_folder(tmp_path: Path) -> Path:
    """A partial run folder: nested settings, Table 1 summary, figures, differences, a 3D view."""
    root = tmp_path / "run"
    settings = {
        "preset": {"name": "smoke", "grid": {"models": ["paper-1", "paper-3"], "lr": [1e-3]}},
        "stage_seconds": {"data": 14.3172, "sweep": 0.000572611},
        "sets": [{"name": "phonon", "n": 8}, {"name": "random", "n": 8}],
    }
    (root / "figures").mkdir(parents=True)
    (root / "reproduce.json").write_text(json.dumps(settings))
    model = {"size": 100, "n_seeds": 5, "n_test": 750, "mae": 0.04561234, "mae_std": 0.0021}
    model |= {"r2": 0.8123, "r2_std": 0.0112, "train_r2": 0.93456}
    (root / "models.json").write_text(json.dumps({"band_gap": model}))
    for rel in ("figures/label_distributions.png", "figures/parity_band_gap.png"):
        _png(root / rel)
    _png(root / "curves" / "learning_curves_band_gap.png")
    difference = {"label": "band_gap", "metric": "mae", "size": 4, "test_set": "phonon"}
    difference |= {"arm_a": "phonon", "arm_b": "random", "n_seeds": 5, "mean_a": 0.05}
    difference |= {"mean_b": 0.06, "difference": -0.01, "ci_low": -0.02, "ci_high": -0.004}
    difference["verdict"] = "phonon better"
    ResultTable(root / "curves" / "differences.csv", DIFFERENCE_COLUMNS).append_many([difference])
    (root / "explain").mkdir()
    (root / "explain" / "view_best.html").write_text(
        "<html><body><p id=v>…</p><script>document.getElementById('v').textContent = 'Ag–S';"
        "</script></body></html>"
    )
    return root


def test_numbers_are_rounded_to_their_precision():
    assert fmt(0.000572611) == "0.0005726" and fmt("0.000572611") == "0.0005726"
    assert fmt("12") == "12" and fmt("paper-1") == "paper-1" and fmt(float("nan")) == "–"
    assert fmt_pm(-105.02338, 0.00214) == "-105.0234 ± 0.0021"
    assert fmt_pm(0.0456, 0.002) == "0.0456 ± 0.0020"


def test_settings_are_nested_tables_and_figures_have_captions(run_folder: Path):
    page = write_report(run_folder)[0].read_text()
    assert '<section id="settings">' in page and page.count('<table class="settings">') == 6
    assert '{"' not in page and "0.000572611" not in page and "0.0005726" in page
    assert "paper-1, paper-3" in page  # a list of values reads as a list
    assert "0.0456 ± 0.0021" in page and "0.812 ± 0.011" in page
    captions = re.findall(r"<figcaption>(.*?)</figcaption>", page, flags=re.S)
    assert len(captions) == page.count("<img") == 3
    assert all('<span class="paper">Paper: ' in c for c in captions)
    assert "Fig. 2" in page and "SI Fig. 10" in page and "Fig. 4" in page
    assert "<b>phonon is better</b>" in page  # generated sentences keep their markup


def _chromium(page: Path, profile: Path) -> tuple[str, str]:
    """(DOM after load, console lines) of ``page`` in headless Chromium."""
    assert CHROMIUM is not None
    done = subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", f"--user-data-dir={profile}"]
        + ["--enable-logging=stderr", "--v=0", "--dump-dom", page.resolve().as_uri()],
        capture_output=True,
        text=True,
        timeout=120,
    )
    console = [line for line in done.stderr.splitlines() if "CONSOLE" in line]
    return done.stdout, "\n".join(console)


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (apt-get install chromium)")
def test_report_loads_in_headless_chromium(run_folder: Path, tmp_path: Path):
    page = write_report(run_folder)[0]
    dom, console = _chromium(page, tmp_path / "profile")
    assert not CONSOLE_ERROR.search(console), console
    ids = set(re.findall(r'<section id="([\w-]+)"', dom))
    assert ids >= {"settings", "missing"} and len(ids) == len(SECTIONS) + 2, ids
    assert dom.count("<figure>") == 3 and "<iframe" in dom
    # the check sees errors: the same browser run on a page that throws
    broken = tmp_path / "broken.html"
    broken.write_text("<html><body><script>undefinedFunction();</script></body></html>")
    assert CONSOLE_ERROR.search(_chromium(broken, tmp_path / "profile")[1])
