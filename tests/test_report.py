"""The HTML report renders what exists and lists what is missing."""

from __future__ import annotations

import json
import shutil

from thermognn.cli.main import main
from thermognn.report import write_report


def test_report_of_partial_folder(tiny_run, tiny_ag3sbr_db, tmp_path, capsys):
    root = tmp_path / "run"
    (root / "models").mkdir(parents=True)
    shutil.copytree(tiny_run, root / "models" / "band_gap")
    from thermognn.report.figures import label_distributions, parity_figure

    (root / "figures").mkdir()
    label_distributions(tiny_ag3sbr_db, root / "figures" / "label_distributions.png")
    parity_figure(
        root / "models" / "band_gap", "band_gap", root / "figures" / "parity_band_gap.png"
    )
    (root / "reproduce.json").write_text(json.dumps({"preset": "test"}))
    path, missing = write_report(root)
    page = path.read_text()
    assert "GFN1-xTB" in page and "not from PBEsol" in page
    assert page.count("data:image/png;base64") == 2
    assert "0.035" in page  # the paper's band-gap MAE beside ours
    assert any("learning curves" in m for m in missing)
    assert "Missing pieces" in page
    assert main(["report", str(root)]) == 0
    assert "pieces missing" in capsys.readouterr().out
    assert main(["report", str(tmp_path / "nowhere")]) == 2
