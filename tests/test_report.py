"""The HTML report renders what exists, lists what is missing, and states results only
as sentences generated from the run's tables."""

from __future__ import annotations

import json
import shutil

from thermognn.cli.main import main
from thermognn.experiments.records import ResultTable
from thermognn.experiments.stats import DIFFERENCE_COLUMNS
from thermognn.report import write_report
from thermognn.report.comparisons import difference_sentence


def _difference(arm_a: str, arm_b: str, diff: float, lo: float, hi: float, verdict: str) -> dict:
    return {
        "label": "band_gap",
        "metric": "mae",
        "size": 1000,
        "test_set": "random-paper",
        "arm_a": arm_a,
        "arm_b": arm_b,
        "n_seeds": 5,
        "mean_a": 0.05,
        "mean_b": 0.05 - diff,
        "difference": diff,
        "ci_low": lo,
        "ci_high": hi,
        "verdict": verdict,
    }


def test_sentences_come_from_the_differences_table(tmp_path):
    worse = _difference("phonon", "random-paper", 0.0123, 0.008, 0.017, "random-paper better")
    tie = _difference(
        "phonon", "random-matched", -0.001, -0.004, 0.002, "no significant difference"
    )
    text = difference_sentence({k: str(v) for k, v in worse.items()})
    assert "MAE(phonon) − MAE(random-paper) = +0.0123 eV" in text
    assert "95 % CI +0.0080 to +0.0170, 5 paired seeds" in text
    assert "<b>random-paper is better</b>" in text
    assert difference_sentence({k: str(v) for k, v in tie.items()}).endswith(
        "no significant difference."
    )
    root = tmp_path / "run"
    ResultTable(root / "curves" / "differences.csv", DIFFERENCE_COLUMNS).append_many([worse, tie])
    page = write_report(root)[0].read_text()
    assert "random-paper is better" in page and "no significant difference" in page


def test_report_of_partial_folder(tiny_run, tiny_ag3sbr_db, tmp_path, capsys):
    root = tmp_path / "run"
    (root / "figures").mkdir(parents=True)
    from thermognn.report.figures import label_distributions, parity_figure

    label_distributions(tiny_ag3sbr_db, root / "figures" / "label_distributions.png")
    parity_figure(tiny_run, "band_gap", root / "figures" / "parity_band_gap.png")
    models = {
        "band_gap": {
            "size": 100,
            "n_seeds": 5,
            "n_test": 750,
            "mae": 0.0456,
            "mae_std": 0.002,
            "r2": 0.81,
            "r2_std": 0.01,
            "rmse": 0.06,
            "rmse_std": 0.003,
            "train_r2": 0.93,
            "train_r2_std": 0.01,
        }
    }
    (root / "models.json").write_text(json.dumps(models))
    (root / "reproduce.json").write_text(json.dumps({"preset": "test"}))
    shutil.copy(tiny_ag3sbr_db, root / "unused.db")
    path, missing = write_report(root)
    page = path.read_text()
    assert "GFN1-xTB" in page and "not from PBEsol" in page
    assert page.count("data:image/png;base64") == 2
    assert "0.0456 ± 0.002" in page and "0.035" in page  # ours beside the paper's Table 1
    assert any("paired differences" in m for m in missing)
    assert "Missing pieces" in page
    assert main(["report", str(root)]) == 0
    assert "pieces missing" in capsys.readouterr().out
    assert main(["report", str(tmp_path / "nowhere")]) == 2
