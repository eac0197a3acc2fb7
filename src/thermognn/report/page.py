"""Building blocks of the HTML report: the paper's numbers, tables, images, the page."""

from __future__ import annotations

import base64
import csv
import html
from collections.abc import Sequence
from pathlib import Path
from typing import Any

#: Published numbers (Benítez et al. 2026): Table 1 and the Fig. 4 headlines.
PAPER: dict[str, Any] = {
    "table1": {
        "energy_per_atom": {
            "train": (0.024, 0.036, 0.89),
            "val": (0.028, 0.044, 0.79),
            "test": (0.022, 0.032, 0.85),
        },
        "band_gap": {
            "train": (0.034, 0.043, 0.81),
            "val": (0.035, 0.045, 0.79),
            "test": (0.035, 0.044, 0.79),
        },
        "vbm": {
            "train": (0.026, 0.035, 0.99),
            "val": (0.028, 0.037, 0.98),
            "test": (0.024, 0.033, 0.99),
        },
        "hydrostatic_stress": {
            "train": (0.65, 1.01, 0.84),
            "val": (0.65, 0.99, 0.84),
            "test": (0.60, 0.88, 0.82),
        },
    },
    "fig4": {
        "phonon_own": {"r2": 0.85, "mae": 0.030},
        "random_own": {"r2": 0.72, "mae": 0.036},
        "cross_test_mae_advantage": 0.010,
        "combined_test_mae": {"phonon": "< 0.040", "random": "> 0.045"},
        "converged_size": 1000,
    },
    "explain_threshold": 0.86,
    "dataset": {"per_scheme": 2250, "reserved_test": 250, "md_configs": "~1000"},
}

_CSS = """
body{font-family:system-ui,sans-serif;max-width:1200px;margin:2em auto;padding:0 1em;color:#222}
h1{font-size:1.6em}h2{border-bottom:1px solid #ccc;padding-bottom:.2em;margin-top:2em}
table{border-collapse:collapse;margin:.6em 0;font-size:.9em}
td,th{border:1px solid #ccc;padding:.25em .6em;text-align:right}th{background:#f3f3f3}
td:first-child,th:first-child{text-align:left}img{max-width:100%}
.note{background:#fff8e0;border-left:4px solid #e0b000;padding:.5em 1em}
.missing{color:#a00}.paper{color:#666}
"""


def img(path: Path, alt: str) -> str:
    data = base64.b64encode(path.read_bytes()).decode()
    return f'<p><img alt="{html.escape(alt)}" src="data:image/png;base64,{data}"></p>'


def table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    head = "".join(f"<th>{html.escape(str(h))}</th>" for h in header)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(fmt(c))}</td>" for c in r) + "</tr>" for r in rows
    )
    return f"<table><tr>{head}</tr>{body}</table>"


def fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


def csv_rows(path: Path) -> list[dict[str, str]]:
    with path.open() as fh:
        return list(csv.DictReader(fh))


class Report:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.parts: list[str] = []
        self.missing: list[str] = []

    def need(self, rel: str, what: str) -> Path | None:
        p = self.root / rel
        if p.exists():
            return p
        self.missing.append(f"{what} ({rel})")
        return None

    def add(self, text: str) -> None:
        self.parts.append(text)
