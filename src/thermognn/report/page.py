"""Building blocks of the HTML report: the paper's numbers, number formatting, sections.

A section function (:mod:`thermognn.report.sections`) fills a :class:`Section` with
blocks — paragraphs, tables, figures with captions, lists — as plain data; the Jinja2
templates under ``report/templates/`` turn them into HTML (autoescaped; only
sentences built here with :class:`markupsafe.Markup` carry markup).
"""

from __future__ import annotations

import base64
import csv
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from markupsafe import Markup

#: Paper Table 1: (MAE, RMSE, R²) of each label's best model on the train, val and test
#: splits, in the label's unit.
_TABLE1 = {
    "energy_per_atom": ((0.024, 0.036, 0.89), (0.028, 0.044, 0.79), (0.022, 0.032, 0.85)),
    "band_gap": ((0.034, 0.043, 0.81), (0.035, 0.045, 0.79), (0.035, 0.044, 0.79)),
    "vbm": ((0.026, 0.035, 0.99), (0.028, 0.037, 0.98), (0.024, 0.033, 0.99)),
    "hydrostatic_stress": ((0.65, 1.01, 0.84), (0.65, 0.99, 0.84), (0.60, 0.88, 0.82)),
}

#: Published numbers (Benítez et al. 2026): Table 1 and the Fig. 4 headlines.
PAPER: dict[str, Any] = {
    "table1": {
        label: dict(zip(("train", "val", "test"), rows, strict=True))
        for label, rows in _TABLE1.items()
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

#: A plain decimal or scientific number written as text (``"0.000572611"``, ``"1e-3"``).
_FLOAT_TEXT = re.compile(r"[-+]?(\d+\.\d*|\.\d+|\d+(\.\d*)?[eE][-+]?\d+)")


def fmt(value: Any, digits: int = 4) -> str:
    """A table cell as text, numbers rounded to ``digits`` significant digits.

    Floats and float-looking strings (``"0.000572611"`` → ``0.0005726``) are rounded;
    integers, words and pre-formatted text (``"0.046 ± 0.002"``) stay as they are;
    NaN is a dash.
    """
    if isinstance(value, str):
        if not _FLOAT_TEXT.fullmatch(value.strip()):
            return value
        value = float(value)
    if isinstance(value, bool) or not isinstance(value, float):
        return "" if value is None else str(value)
    if math.isnan(value):
        return "–"
    if math.isinf(value) or value == 0:
        return str(value) if value else "0"
    if abs(value) >= 10**digits:
        return f"{value:,.0f}"
    return f"{value:.{digits}g}"


def fmt_pm(mean: float, std: float) -> str:
    """``mean ± std``, the spread to two significant digits and the mean to the same place.

    ``-105.02338, 0.00214`` → ``-105.0234 ± 0.0021``; a zero or non-finite spread leaves the
    mean at four significant digits.
    """
    mean, std = float(mean), float(std)
    if not (math.isfinite(std) and std > 0 and math.isfinite(mean)):
        return f"{fmt(mean)} ± {fmt(std)}"
    decimals = max(0, 1 - math.floor(math.log10(std)))
    return f"{mean:.{decimals}f} ± {std:.{decimals}f}"


def csv_rows(path: Path) -> list[dict[str, str]]:
    """The rows of a CSV file as dicts (header keys)."""
    with path.open() as fh:
        return list(csv.DictReader(fh))


def image_data(path: Path) -> str:
    """A PNG as a ``data:`` URI (the page stays one self-contained file)."""
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode()


@dataclass
class Section:
    """One section of the page: an anchor id, a title and its blocks in order.

    Each block is a dict with a ``kind`` (``p``, ``paper``, ``h3``, ``table``,
    ``figure``, ``list``, ``iframe``) rendered by ``templates/blocks.html.j2``.
    """

    id: str
    title: str
    blocks: list[dict[str, Any]] = field(default_factory=list)

    def p(self, text: str | Markup, kind: str = "p") -> None:
        """A paragraph (``kind="paper"``: what the paper reports, set apart)."""
        self.blocks.append({"kind": kind, "text": text})

    def paper(self, text: str | Markup) -> None:
        """What the paper reports for this section."""
        self.p(text, "paper")

    def h3(self, text: str) -> None:
        self.blocks.append({"kind": "h3", "text": text})

    def table(
        self, header: Sequence[str], rows: Sequence[Sequence[Any]], caption: str = ""
    ) -> None:
        """A table; every cell goes through :func:`fmt` when rendered."""
        self.blocks.append(
            {
                "kind": "table",
                "header": list(header),
                "rows": [list(r) for r in rows],
                "caption": caption,
            }
        )

    def figure(self, path: Path, caption: str | Markup, paper: str | Markup) -> None:
        """A figure with what it shows (``caption``) and the paper's counterpart (``paper``)."""
        if not path.stat().st_size:
            self.p(f"{path.name} is empty (written by an interrupted run?)", "missing")
            return
        self.blocks.append(
            {"kind": "figure", "src": image_data(path), "caption": caption, "paper": paper}
        )

    def items(self, items: Sequence[str | Markup]) -> None:
        """A bulleted list."""
        if items:
            self.blocks.append({"kind": "list", "items": list(items)})

    def iframe(self, title: str, document: str) -> None:
        """An embedded HTML document (an interactive view)."""
        self.blocks.append({"kind": "iframe", "title": title, "document": document})


class Report:
    """The page being built: its run folder, sections, and the pieces it misses."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.sections: list[Section] = []
        self.missing: list[str] = []

    def section(self, id: str, title: str) -> Section:  # noqa: A002 - the HTML attribute
        """Start a section (appended to the page)."""
        section = Section(id, title)
        self.sections.append(section)
        return section

    def need(self, rel: str, what: str) -> Path | None:
        """``root/rel`` if it exists; else note ``what`` as missing and return ``None``."""
        p = self.root / rel
        if p.exists():
            return p
        self.missing.append(f"{what} ({rel})")
        return None
