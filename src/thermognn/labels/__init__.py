"""Labelers: configuration → energy per atom, band gap, VBM, hydrostatic stress.

Labelers are looked up by name in a registry: the built-ins below, anything a module
registers with :func:`register_labeler` / :func:`register_calculator`, and installed
plug-ins (:mod:`thermognn.plugins`). Any ASE calculator also labels by its import spec,
``package.module:factory`` (e.g. ``ase.calculators.emt:EMT``), built with the keyword
options (:mod:`thermognn.labels.calculators`).

Programmatic use (one labeler built once, reused for every structure)::

    from thermognn.labels import get_labeler, label_structures
    labeler = get_labeler("gfn1-xtb")            # or "ase.calculators.emt:EMT", "chgnet", …
    labels = labeler.label(atoms)               # Labels; raises LabelError on failure
    results = label_structures(list_of_atoms, labeler="gfn1-xtb")  # Labels or LabelError each
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from thermognn.errors import ThermognnError
from thermognn.labels.base import (
    LABEL_NAMES,
    LABEL_UNITS,
    LABELER_REGISTRY,
    Labeler,
    LabelerEntry,
    Labels,
    band_edges,
    register_calculator,
    register_labeler,
)
from thermognn.labels.calculators import (
    ASECalculatorLabeler,
    build_calculator,
    import_factory,
    is_import_spec,
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
    "label_structures",
    "labeler_entry",
    "labeler_names",
    "register_calculator",
    "register_labeler",
]


def get_labeler(name: str = "gfn1-xtb", **options: Any) -> Labeler:
    """A labeler by registered name or ``module:factory`` spec, built with ``options``.

    Built-ins: ``gfn1-xtb`` (default), ``gfn2-xtb``, ``emt`` (ASE's EMT, a cheap
    stand-in for tests), ``chgnet`` (option ``device``: any torch device string);
    ``vasp`` labels come from ``thermognn vasp export/import``. A spec such as
    ``ase.calculators.emt:EMT`` or ``gpaw:GPAW`` builds that calculator with
    ``options`` as keyword arguments. Unknown names raise one :class:`ThermognnError`
    listing the known ones.
    """
    return labeler_entry(name).factory(**options)


def labeler_names() -> list[str]:
    """Names of every registered labeler (built-ins first, then plug-ins)."""
    return LABELER_REGISTRY.names()


def calculator_factory(name: str = "gfn1-xtb", **options: Any) -> Callable[[], Any]:
    """A zero-argument factory of ASE calculators by name or spec (phonons, relax, MD).

    ``options`` are passed to the calculator's own factory on every call.
    """
    entry = labeler_entry(name)
    make = entry.calculator
    if make is None:
        usable = [n for n in labeler_names() if LABELER_REGISTRY.get(n).calculator is not None]
        raise ThermognnError(
            f"calculator {name!r}: the labeler has no ASE calculator for phonons or MD "
            f"(those that do: {', '.join(usable)})"
        )
    return lambda: build_calculator(make, dict(options), name)


def labeler_entry(name: str) -> LabelerEntry:
    """The registry entry of ``name`` (exact spelling, then lower case), or of a spec.

    A ``module:factory`` spec that is not registered gives an entry whose labeler is
    an :class:`ASECalculatorLabeler` of ``factory(**options)``.
    """
    if name in LABELER_REGISTRY:
        return LABELER_REGISTRY.get(name)
    if is_import_spec(name):
        make = import_factory(name)

        def factory(**options: Any) -> Labeler:
            return ASECalculatorLabeler(build_calculator(make, options, name), name=name)

        return LabelerEntry(name, factory, make, f"ASE calculator {name}")
    return LABELER_REGISTRY.get(name.lower())


def label_structures(
    structures: Any, *, labeler: str = "gfn1-xtb", options: dict[str, Any] | None = None
) -> list[Labels | Exception]:
    """Label a list of :class:`ase.Atoms` in this process with one reused labeler.

    Returns one :class:`Labels` per structure, or the :class:`LabelError` (or other
    exception) that structure raised; an unknown labeler raises at once.
    """
    from thermognn.labels.runner import cached_labeler

    worker = cached_labeler(labeler, options or {})
    out: list[Labels | Exception] = []
    for atoms in structures:
        try:
            labels = worker.label(atoms)
            labels.scalars()
        except Exception as exc:  # noqa: BLE001 - each structure's failure is its own
            out.append(exc)
        else:
            out.append(labels)
    return out


def label_database(*args: Any, **kwargs: Any):
    """Label every unlabeled row of a study database (see :mod:`thermognn.labels.runner`)."""
    from thermognn.labels.runner import label_database as run

    return run(*args, **kwargs)


def _xtb(method: str) -> tuple[Callable[..., Labeler], Callable[..., Any]]:
    """Labeler and calculator factories of one xTB method (tblite imported lazily)."""

    def labeler(**options: Any) -> Labeler:
        from thermognn.labels.xtb import XTBLabeler

        return XTBLabeler(method, **options)

    def calculator(**options: Any) -> Any:
        from thermognn.labels.xtb import XTBCalculator

        options.pop("warm_start", None)  # a labeler option; the calculator always reuses
        return XTBCalculator(method, **options)

    return labeler, calculator


for _method in ("gfn1-xtb", "gfn2-xtb"):
    _labeler, _calculator = _xtb(_method)
    register_labeler(
        _method,
        calculator=_calculator,
        description=f"{_method.upper()} tight binding (tblite): all four labels",
    )(_labeler)
del _method, _labeler, _calculator


def _emt(**options: Any) -> Any:
    from ase.calculators.emt import EMT

    return EMT(**options)


def _chgnet(device: str = "cpu", **options: Any) -> Any:
    """CHGNet (pretrained universal potential; weights ship inside its wheel).

    ``device`` is any torch device string (``cpu``, ``cuda``, ``cuda:1``, ``mps``).
    """
    try:
        from chgnet.model.dynamics import CHGNetCalculator
    except ImportError:
        raise ThermognnError(
            "calculator chgnet: not installed (pip install 'thermognn[mlip]')"
        ) from None
    from thermognn.training.device import resolve_device

    options.setdefault("check_cuda_mem", False)
    return CHGNetCalculator(use_device=str(resolve_device(device)), **options)


register_calculator(
    "emt", _emt, description="ASE's EMT: energy, forces and stress (a test stand-in)"
)
register_calculator(
    "chgnet", _chgnet, description="CHGNet universal potential: energy, forces, stress"
)


@register_labeler("vasp", description="VASP: export folders, run them, import vasprun.xml")
def _vasp(**options: Any) -> Labeler:
    raise ThermognnError(
        "labeler vasp: VASP runs outside thermognn; write the inputs with `thermognn vasp "
        "export` and read the results back with `thermognn vasp import`"
    )
