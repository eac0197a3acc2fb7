"""Labelers: configuration → energy per atom, band gap, VBM, hydrostatic stress."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from thermognn.errors import ThermognnError
from thermognn.labels.base import (
    LABEL_NAMES,
    LABEL_UNITS,
    ASECalculatorLabeler,
    Labeler,
    Labels,
    band_edges,
)

__all__ = [
    "LABEL_NAMES",
    "LABEL_UNITS",
    "ASECalculatorLabeler",
    "Labeler",
    "Labels",
    "band_edges",
    "calculator_factory",
    "get_labeler",
    "label_database",
]

#: Names accepted by ``--labeler`` / ``--calculator``.
LABELERS = ("gfn1-xtb", "gfn2-xtb", "emt", "chgnet")


def get_labeler(name: str = "gfn1-xtb", **options: Any) -> Labeler:
    """A labeler by name: ``gfn1-xtb`` (default), ``gfn2-xtb`` or ``emt`` (ASE's EMT,
    energy and stress only; a cheap stand-in for tests)."""
    key = name.lower()
    if key in ("gfn1-xtb", "gfn2-xtb"):
        from thermognn.labels.xtb import XTBLabeler

        return XTBLabeler(key, **options)
    if key == "emt":
        from ase.calculators.emt import EMT

        return ASECalculatorLabeler(EMT(), name="emt")
    if key == "chgnet":
        return ASECalculatorLabeler(_chgnet(), name="chgnet")
    raise ThermognnError(f"unknown labeler {name!r}; choose one of {', '.join(LABELERS)}")


def calculator_factory(name: str = "gfn1-xtb") -> Callable[[], Any]:
    """A zero-argument factory of ASE calculators by name (for phonons and MD)."""
    key = name.lower()
    if key in ("gfn1-xtb", "gfn2-xtb"):
        from thermognn.labels.xtb import XTBCalculator

        return lambda: XTBCalculator(key)
    if key == "emt":
        from ase.calculators.emt import EMT

        return EMT
    if key == "chgnet":
        return _chgnet
    raise ThermognnError(f"unknown calculator {name!r}; choose one of {', '.join(LABELERS)}")


def label_database(*args: Any, **kwargs: Any):
    """Label every unlabeled row of a study database (see :mod:`thermognn.labels.runner`)."""
    from thermognn.labels.runner import label_database as run

    return run(*args, **kwargs)


def _chgnet() -> Any:
    """CHGNet (pretrained universal potential; weights ship inside its wheel)."""
    try:
        from chgnet.model.dynamics import CHGNetCalculator
    except ImportError:
        raise ThermognnError(
            "calculator chgnet: not installed (pip install 'thermognn[mlip]')"
        ) from None
    return CHGNetCalculator(use_device="cpu", check_cuda_mem=False)
