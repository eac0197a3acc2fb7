"""Matplotlib helpers shared by the figure writers (report, explain).

pyplot is imported lazily with the non-interactive Agg backend, so importing a figure
module costs nothing and no display is ever needed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


def pyplot() -> Any:
    """``matplotlib.pyplot`` on the Agg backend."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig: Any, path: str | Path, dpi: int) -> Path:
    """Lay out ``fig``, write it to ``path`` at ``dpi`` and close it; returns the path."""
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=dpi)
    pyplot().close(fig)
    return path
