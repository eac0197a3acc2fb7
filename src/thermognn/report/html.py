"""One self-contained HTML page with every figure and table of a run folder.

Renders whatever exists in the folder and lists what is missing. Our numbers stand
beside the paper's where it publishes one; our labels come from GFN1-xTB, the paper's
from PBEsol DFT, so agreement in kind (who wins, by how much) is what to compare, not
the digits. Every sentence that states a result is generated from the results tables.
The page is rendered by the Jinja2 templates in ``report/templates/`` from the
sections of :mod:`thermognn.report.sections`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from thermognn._version import __version__
from thermognn.report.page import Report, fmt
from thermognn.report.sections import SECTIONS


def environment() -> Any:
    """The Jinja2 environment of the report templates (autoescaped, ``num`` filter)."""
    from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

    env = Environment(
        loader=PackageLoader("thermognn.report", "templates"),
        autoescape=select_autoescape(["html", "j2"]),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["num"] = fmt
    return env


def write_report(run_dir: str | Path, out: str | Path | None = None) -> tuple[Path, list[str]]:
    """Render ``run_dir`` into ``report.html``.

    Parameters
    ----------
    run_dir
        A ``thermognn reproduce`` / ``thermognn run`` folder (any part of one).
    out
        HTML path (default ``run_dir/report.html``).

    Returns
    -------
    (pathlib.Path, list[str])
        The page written and the pieces missing from the folder.
    """
    root = Path(run_dir)
    if not root.is_dir():
        from thermognn.errors import ThermognnError

        raise ThermognnError(f"{root}: no such run folder")
    r = Report(root)
    meta = root / "reproduce.json"
    settings = json.loads(meta.read_text()) if meta.exists() else None
    for section in SECTIONS:
        section(r)
    page = (
        environment()
        .get_template("report.html.j2")
        .render(
            settings=settings,
            sections=r.sections,
            missing=r.missing,
            version=__version__,
        )
    )
    path = Path(out) if out else root / "report.html"
    path.write_text(page)
    return path, r.missing
