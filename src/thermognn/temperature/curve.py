"""Harmonic, fixed-volume thermal ensemble averages of a predicted label, e.g. ⟨E_g⟩_T.

What the curve is: at each temperature T, ``n_configs`` configurations are drawn by
displacing the atoms of the *reference* crystal (fixed cell, so fixed volume: no
thermal expansion) with harmonic phonon amplitudes ζ(T) (paper eq. 3, same imaginary-mode
policy and frequency floor as sampling), every model of the ensemble predicts the label
of each, and the curve reports ⟨P⟩_T, the average over those configurations. It is the
harmonic, fixed-volume ensemble average *of the model's prediction*, not a measured or
anharmonic P(T); the models are trusted only inside the temperatures they were trained
on, which the curve flags.

Schemes: ``phonon-gaussian`` (default; ε ~ N(0, 1), so ⟨u²⟩ = ζ², the harmonic
ensemble), ``normal-mode`` (correlated harmonic sampling over the supercell's normal
modes) or ``phonon`` (the paper's eq. 3 with ε ~ U[-1, 1]: ⟨u²⟩ = ζ²/3, a *colder*
ensemble than the harmonic one; kept for comparison with the paper). All temperatures
share the same random numbers ε (common random numbers), so the curve's shape is not
blurred by independent draws at each T.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from thermognn.errors import ThermognnError
from thermognn.temperature.domain import (
    TrainingDomain,
    ensemble_domain,
    given_domain,
    run_training_domain,
)
from thermognn.temperature.result import CSV_COLUMNS, QUANTITY, TemperatureCurve

__all__ = [
    "CSV_COLUMNS",
    "CURVE_SCHEMES",
    "QUANTITY",
    "EnsembleMember",
    "TemperatureCurve",
    "harmonic_ensemble_average",
    "property_vs_temperature",
]

log = logging.getLogger(__name__)

CURVE_SCHEMES = ("phonon-gaussian", "normal-mode", "phonon")


class EnsembleMember(Protocol):
    """What the curve needs of a model: label names and predictions for structures."""

    @property
    def labels(self) -> list[str]: ...

    def predict_atoms(self, structures: Sequence[Any]) -> np.ndarray: ...


def _load_members(
    models: Sequence[str | Path | EnsembleMember], device: str
) -> tuple[list[EnsembleMember], list[TrainingDomain | None]]:
    """Predictors for run folders (with their training domains) or given objects."""
    members: list[EnsembleMember] = []
    domains: list[TrainingDomain | None] = []
    from thermognn.training.ensemble import is_ensemble, member_dirs

    # an ensemble run folder stands for its members: their spread is the model spread
    models = [
        p
        for m in models
        for p in (member_dirs(m) if isinstance(m, str | Path) and is_ensemble(m) else [m])
    ]
    for m in models:
        if isinstance(m, str | Path):
            from thermognn.training import Predictor

            members.append(Predictor.from_run(m, device))
            domains.append(run_training_domain(m))
        else:
            members.append(m)
            domains.append(None)
    labels = list(members[0].labels)
    for m, member in zip(models, members, strict=True):
        if list(member.labels) != labels:
            raise ThermognnError(f"{m}: predicts {member.labels}, not {labels} like {models[0]}")
    return members, domains


def _units(member: EnsembleMember) -> dict[str, str]:
    record = getattr(member, "record", None)
    return dict(getattr(record, "units", None) or getattr(member, "units", None) or {})


def _check_domain(
    temps: np.ndarray, domain: TrainingDomain | None, scheme: str, strict: bool
) -> np.ndarray | None:
    """In-range mask of ``temps``; warns (``strict``: raises) on extrapolation."""
    if domain is None:
        if strict:
            raise ThermognnError(
                "strict: the models' training temperatures are unknown; give train_range"
            )
        log.warning("training temperature range unknown: temperatures are not checked")
        return None
    if domain.schemes and scheme not in domain.schemes:
        msg = (
            f"scheme: the models were trained on {'/'.join(domain.schemes)} rows, not "
            f"{scheme}: at the same T the displacement statistics differ (extrapolation)"
        )
        if strict:
            raise ThermognnError(f"strict: {msg}")
        log.warning(msg)
    inside = domain.contains(temps)
    if not inside.all():
        outside = ", ".join(f"{t:g}" for t in temps[~inside])
        msg = (
            f"temperatures {outside} K lie outside the training range "
            f"{domain.t_min:g}–{domain.t_max:g} K (extrapolation)"
        )
        if strict:
            raise ThermognnError(f"strict: {msg}")
        log.warning(msg)
    return inside


def harmonic_ensemble_average(
    models: Sequence[str | Path | EnsembleMember],
    material: str,
    temperatures: Sequence[float],
    *,
    n_configs: int = 32,
    seed: int = 0,
    supercell: tuple[int, int, int] = (2, 2, 2),
    scheme: str = "phonon-gaussian",
    phonons: str | None = None,
    calculator: str = "gfn1-xtb",
    imaginary_policy: str = "abs",
    frequency_floor: float = 0.5,
    train_range: Sequence[float] | None = None,
    strict: bool = False,
    device: str = "cpu",
    progress: Callable[[int, int], None] | None = None,
) -> TemperatureCurve:
    """⟨P⟩_T of every model's labels over thermally displaced reference configurations.

    Parameters
    ----------
    models
        Run folders (one model, or an ensemble / the seeds of a study), or objects with
        ``labels`` and ``predict_atoms`` (:class:`EnsembleMember`); all must predict the
        same labels.
    material
        Built-in name or structure file (the reference crystal; its cell is kept fixed).
    temperatures
        K, each ≥ 0.
    n_configs
        Configurations per temperature (≥ 2); every model predicts the same ones.
    seed
        Seed of the draws (the same seed gives the same configurations).
    supercell
        Repetitions of the reference crystal; must match the models' training cells.
    scheme
        ``phonon-gaussian`` (default, ⟨u²⟩ = ζ²), ``normal-mode``, or ``phonon``
        (ε ~ U[-1, 1], ⟨u²⟩ = ζ²/3).
    phonons
        phonopy folder/file; default: bundled, cached or computed with ``calculator``.
    calculator
        Calculator for force constants when they must be computed.
    imaginary_policy, frequency_floor
        Mode policy and floor (THz), as for sampling (DESIGN.md §2).
    train_range
        (T_min, T_max) in K the models were trained on; default: read from each run's
        training rows (:func:`~thermognn.temperature.domain.run_training_domain`).
    strict
        Refuse temperatures outside the training range (or an unknown range), and a
        ``scheme`` other than the training rows' (warned about otherwise).
    device
        Device of the models loaded from run folders.
    progress
        Called as ``progress(done, total)`` per temperature.

    Raises
    ------
    ThermognnError
        Bad temperatures, scheme, ``n_configs`` or ``train_range``; models predicting
        different labels; with ``strict``, temperatures outside the training range.
    """
    from thermognn.sampling.sample import SamplingSpec, draw_configurations
    from thermognn.sampling.sources import phonon_source
    from thermognn.structures import resolve_material

    temps = np.asarray(list(temperatures), dtype=float)
    if temps.size == 0 or np.any(~np.isfinite(temps)) or np.any(temps < 0):
        raise ThermognnError(f"temperatures: need finite values ≥ 0 K, got {temps.tolist()}")
    if scheme not in CURVE_SCHEMES:
        raise ThermognnError(
            f"scheme: {scheme!r} is not a phonon scheme; choose one of {', '.join(CURVE_SCHEMES)}"
        )
    if n_configs < 2:
        raise ThermognnError(f"n_configs: need ≥ 2 configurations per temperature, got {n_configs}")
    if not models:
        raise ThermognnError("no model runs given")
    members, domains = _load_members(models, device)
    domain = ensemble_domain(domains)
    if train_range is not None:  # an explicit range; the runs' training schemes still count
        schemes = domain.schemes if domain is not None else ()
        domain = replace(given_domain(train_range), schemes=schemes)
    inside = _check_domain(temps, domain, scheme, strict)
    labels = list(members[0].labels)
    base = SamplingSpec(
        material,
        scheme,
        n_configs,
        seed=seed,
        supercell=supercell,
        temperatures=[0.0],
        phonons=phonons,
        calculator=calculator,
        imaginary_policy=imaginary_policy,
        frequency_floor=frequency_floor,
    )
    base.validate()
    batch = f"curve-{base.batch_key()}"  # T-independent: the same ε at every temperature
    source = phonon_source(base)  # force constants loaded once, imaginary modes named once
    refs: list[tuple[int, Any, float | None]] = [
        (0, resolve_material(material, supercell, seed=seed), None)
    ]
    preds = np.zeros((len(temps), len(members), n_configs, len(labels)))
    for i, t in enumerate(temps):
        spec = replace(base, temperatures=[float(t)])
        draws = draw_configurations(spec, refs, list(range(n_configs)), batch, source=source)
        atoms = [a for a, _, _ in draws]
        for k, member in enumerate(members):
            preds[i, k] = member.predict_atoms(atoms)
        if progress:
            progress(i + 1, len(temps))
    return _summarise(preds, temps, labels, members, inside, domain, material, source, base)


def _summarise(
    preds: np.ndarray,
    temps: np.ndarray,
    labels: list[str],
    members: list[EnsembleMember],
    inside: np.ndarray | None,
    domain: TrainingDomain | None,
    material: str,
    source: Any,
    spec: Any,
) -> TemperatureCurve:
    """Statistics of predictions ``preds[T, model, config, label]``."""
    n_models, n_configs = preds.shape[1], preds.shape[2]
    averaged = preds.mean(axis=1)  # (T, configs, labels): model-averaged prediction
    model_std = (
        preds.mean(axis=2).std(axis=1, ddof=1)
        if n_models > 1
        else np.full((len(temps), len(labels)), np.nan)
    )
    sem2 = averaged.var(axis=1, ddof=1) / n_configs
    if n_models > 1:
        sem2 = sem2 + model_std**2 / n_models
    return TemperatureCurve(
        temperatures=temps,
        labels=labels,
        units=_units(members[0]),
        mean=averaged.mean(axis=1),
        sem=np.sqrt(sem2),
        thermal_std=np.sqrt(preds.var(axis=2, ddof=1).mean(axis=1)),
        model_std=model_std,
        n_configs=n_configs,
        n_models=n_models,
        in_training_range=inside,
        training_domain=domain,
        material=material,
        settings={
            "scheme": spec.scheme,
            "seed": spec.seed,
            "supercell": list(spec.supercell),
            "imaginary_policy": spec.imaginary_policy,
            "frequency_floor": spec.frequency_floor,
            "fc_source": getattr(source, "fc_source", None),
            "volume": "fixed (reference cell)",
        },
    )


#: Former name, kept for callers of the earlier API (note: the default scheme is now
#: ``phonon-gaussian``; pass ``scheme="phonon"`` for the old, paper eq. 3 ensemble).
property_vs_temperature = harmonic_ensemble_average
