"""Labelers: configuration → energy per atom, band gap, VBM, hydrostatic stress.

Labelers are looked up by name in a registry: the built-ins below, anything a module
registers with :func:`register_labeler` / :func:`register_calculator`, and installed
plug-ins (:mod:`thermognn.plugins`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from thermognn.errors import ThermognnError
from thermognn.labels.base import (
    LABEL_NAMES,
    LABEL_UNITS,
    LABELER_REGISTRY,
    ASECalculatorLabeler,
    Labeler,
    LabelerEntry,
    Labels,
    band_edges,
    register_calculator,
    register_labeler,
)

__all__ = [
    "LABEL_NAMES",
    "LABEL_UNITS",
    "ASECalculatorLabeler",
    "Labeler",
    "LabelerEntry",
    "Labels",
    "band_edges",
    "calculator_factory",
    "get_labeler",
    "label_database",
    "labeler_names",
    "register_calculator",
    "register_labeler",
]


def get_labeler(name: str = "gfn1-xtb", **options: Any) -> Labeler:
    """A labeler by registered name, built with its keyword ``options``.

    Built-ins: ``gfn1-xtb`` (default), ``gfn2-xtb``, ``emt`` (ASE's EMT, energy and stress
    only; a cheap stand-in for tests), ``chgnet``; ``vasp`` labels come from
    ``thermognn vasp export/import``. Unknown names raise one :class:`ThermognnError`
    listing the known ones.
    """
    return _entry(name).factory(**options)


def labeler_names() -> list[str]:
    """Names of every registered labeler (built-ins first, then plug-ins)."""
    return LABELER_REGISTRY.names()


def calculator_factory(name: str = "gfn1-xtb") -> Callable[[], Any]:
    """A zero-argument factory of ASE calculators by name (for phonons and MD)."""
    entry = _entry(name)
    if entry.calculator is None:
        usable = [n for n in labeler_names() if LABELER_REGISTRY.get(n).calculator is not None]
        raise ThermognnError(
            f"calculator {name!r}: the labeler has no ASE calculator for phonons or MD "
            f"(those that do: {', '.join(usable)})"
        )
    return entry.calculator


def _entry(name: str) -> LabelerEntry:
    """The registry entry of ``name`` (exact spelling first, then lower case)."""
    return LABELER_REGISTRY.get(name if name in LABELER_REGISTRY else name.lower())


def label_database(*args: Any, **kwargs: Any):
    """Label every unlabeled row of a study database (see :mod:`thermognn.labels.runner`)."""
    from thermognn.labels.runner import label_database as run

    return run(*args, **kwargs)


def _xtb(method: str) -> tuple[Callable[..., Labeler], Callable[[], Any]]:
    """Labeler and calculator factories of one xTB method (tblite imported lazily)."""

    def labeler(**options: Any) -> Labeler:
        from thermognn.labels.xtb import XTBLabeler

        return XTBLabeler(method, **options)

    def calculator() -> Any:
        from thermognn.labels.xtb import XTBCalculator

        return XTBCalculator(method)

    return labeler, calculator


for _method in ("gfn1-xtb", "gfn2-xtb"):
    _labeler, _calculator = _xtb(_method)
    register_labeler(
        _method,
        calculator=_calculator,
        description=f"{_method.upper()} tight binding (tblite): all four labels",
    )(_labeler)
del _method, _labeler, _calculator


def _emt() -> Any:
    from ase.calculators.emt import EMT

    return EMT()


def _chgnet() -> Any:
    """CHGNet (pretrained universal potential; weights ship inside its wheel)."""
    try:
        from chgnet.model.dynamics import CHGNetCalculator
    except ImportError:
        raise ThermognnError(
            "calculator chgnet: not installed (pip install 'thermognn[mlip]')"
        ) from None
    return CHGNetCalculator(use_device="cpu", check_cuda_mem=False)


register_calculator("emt", _emt, description="ASE's EMT: energy and stress (a test stand-in)")
register_calculator("chgnet", _chgnet, description="CHGNet universal potential: energy, stress")


@register_labeler("vasp", description="VASP: export folders, run them, import vasprun.xml")
def _vasp(**options: Any) -> Labeler:
    raise ThermognnError(
        "labeler vasp: VASP runs outside thermognn; write the inputs with `thermognn vasp "
        "export` and read the results back with `thermognn vasp import`"
    )
