"""Label names and units of the study database (DESIGN.md §4)."""

from __future__ import annotations

from collections.abc import Sequence

from thermognn.errors import ThermognnError
from thermognn.labels.base import LABEL_UNITS

__all__ = ["LABEL_UNITS", "label_units", "resolve_labels"]


def resolve_labels(labels: str | Sequence[str]) -> list[str]:
    """Label names from ``"band_gap"``, ``"energy_per_atom,band_gap"``, ``"all"`` or a list.

    Unknown names are kept (a database may carry extra labels) but duplicates and an
    empty selection are errors.
    """
    if isinstance(labels, str):
        labels = list(LABEL_UNITS) if labels.strip() == "all" else labels.split(",")
    names = [name.strip() for name in labels if name.strip()]
    if not names:
        raise ThermognnError("no label given (e.g. band_gap, a comma list, or all)")
    if len(set(names)) != len(names):
        raise ThermognnError(f"duplicate label in {names}")
    return names


def label_units(labels: Sequence[str]) -> dict[str, str]:
    """Unit of each label (empty string for labels outside the standard four)."""
    return {name: LABEL_UNITS.get(name, "") for name in labels}
