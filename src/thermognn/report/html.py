"""One self-contained HTML page with every figure and table of a run folder.

Renders whatever exists in the folder and lists what is missing. Our numbers stand
beside the paper's where it publishes one; our labels come from GFN1-xTB, the paper's
from PBEsol DFT, so agreement in kind (who wins, by how much) is what to compare, not
the digits. Every sentence that states a result is generated from the results tables.
"""

from __future__ import annotations

import html
import json
from pathlib import Path

from thermognn._version import __version__
from thermognn.report.page import _CSS, Report, table
from thermognn.report.sections import SECTIONS


def write_report(run_dir: str | Path, out: str | Path | None = None) -> tuple[Path, list[str]]:
    """Render ``run_dir`` into ``report.html``; returns (path, missing pieces)."""
    root = Path(run_dir)
    if not root.is_dir():
        from thermognn.errors import ThermognnError

        raise ThermognnError(f"{root}: no such run folder")
    r = Report(root)
    meta = root / "reproduce.json"
    intro = (
        "<h1>thermognn report</h1><p class=note><b>Labels come from GFN1-xTB</b> (tblite, "
        "Γ-point, 40-atom cells, halogen-bond term removed), <b>not from PBEsol DFT</b> as in "
        "Benítez et al. (2026). Numbers beside ours are the paper's, for orientation.</p>"
    )
    r.add(intro)
    if meta.exists():
        info = json.loads(meta.read_text())
        r.add(
            table(
                ["setting", "value"],
                [[k, json.dumps(v) if isinstance(v, (dict, list)) else v] for k, v in info.items()],
            )
        )
    for section in SECTIONS:
        section(r)
    if r.missing:
        r.add(
            "<h2>Missing pieces</h2><ul>"
            + "".join(f"<li class=missing>{html.escape(m)}</li>" for m in r.missing)
            + "</ul>"
        )
    r.add(f"<p class=paper>thermognn {__version__}</p>")
    page = (
        f"<!doctype html><html><head><meta charset=utf-8><title>thermognn report</title>"
        f"<style>{_CSS}</style></head><body>{''.join(r.parts)}</body></html>"
    )
    path = Path(out) if out else root / "report.html"
    path.write_text(page)
    return path, r.missing
