"""Sample displaced configurations of a reference crystal into the study database.

Sampling is resumable and idempotent: every configuration belongs to a *batch* (a
hash of the sampling settings) and has a ``config_index``; its random stream is
``numpy.random.default_rng([seed, config_index, batch_salt])``, so re-running the same
command writes only the configurations still missing, and each one can be re-drawn
exactly from its recorded seed and index.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from ase import Atoms

from thermognn.database import StudyDatabase
from thermognn.errors import ThermognnError
from thermognn.phonons.amplitudes import ModePolicy
from thermognn.sampling.displacements import DrawContext, Scheme, get_scheme
from thermognn.sampling.records import config_record, config_rng
from thermognn.sampling.sources import PhononSource
from thermognn.structures import check_structure, parse_material, resolve_material
from thermognn.structures.io import shortest_distance

log = logging.getLogger(__name__)

#: Names of sampling sets: a letter, then letters, digits, ``_ . + -``.
SET_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_.+-]*")


@dataclass
class SamplingSpec:
    """Settings of one sampling batch.

    Attributes
    ----------
    material
        Built-in name (``Ag3SBr``, ``Ag3SI``, ``Ag3SBrI``) or a structure file path.
    scheme
        A registered scheme (:func:`~thermognn.sampling.scheme_names`).
    n
        Number of configurations.
    seed
        Seed of the batch.
    supercell
        Repetitions of the unit cell.
    temperatures
        Temperatures (K) cycled over configurations, or ``temperature_range``.
    temperature_range
        (T_min, T_max): T drawn uniformly per configuration.
    amplitude
        (a_min, a_max) in Å for ``random``: a drawn uniformly per configuration.
    phonons
        Folder/file of phonopy force constants; default: computed with ``calculator``
        and cached.
    calculator
        Calculator for phonons and MD (``gfn1-xtb``, ``emt``, …).
    imaginary_policy, frequency_floor
        Mode policy (see :class:`thermognn.phonons.ModePolicy`).
    min_distance
        Monte Carlo guard: redraw configurations with a shorter interatomic distance (Å).
    br_fraction
        Solid solutions: fixed Br fraction (default: drawn per reference).
    n_references
        Solid solutions: number of random occupations the configurations cycle over.
    md_stride, md_equilibration, md_timestep, md_friction
        MD scheme: steps between snapshots, steps before the first, time step (fs),
        Langevin friction (1/fs).
    partial_occupancy, constraints
        How a structure file's partially occupied sites (``refuse``, ``majority``) and
        constraints (``refuse``, ``release``) are handled
        (:func:`thermognn.structures.read_structures`); the ordering chosen is recorded
        on the reference row.
    sample_set
        Name of the sampling set (e.g. ``random-matched``, ``random-paper``), stored
        per row as ``sample_set`` so one scheme can hold several sets. ``None`` (the
        default) leaves the batch key as it was before sets existed.
    scheme_options
        Settings of a plug-in scheme (``ctx.spec.scheme_options``); part of the batch
        key when given.
    """

    material: str
    scheme: str
    n: int
    seed: int = 0
    supercell: tuple[int, int, int] = (2, 2, 2)
    temperatures: list[float] = field(default_factory=lambda: [300.0])
    temperature_range: tuple[float, float] | None = None
    amplitude: tuple[float, float] = (0.1, 0.8)
    phonons: str | None = None
    calculator: str = "gfn1-xtb"
    imaginary_policy: str = "abs"
    frequency_floor: float = 0.5
    min_distance: float | None = None
    max_tries: int = 1000
    br_fraction: float | None = None
    n_references: int = 20
    md_stride: int = 20
    md_equilibration: int = 200
    md_timestep: float = 2.0
    md_friction: float = 0.01
    cache_dir: str | None = None
    sample_set: str | None = None
    scheme_options: dict[str, Any] = field(default_factory=dict)
    partial_occupancy: str = "refuse"
    constraints: str = "refuse"

    @property
    def scheme_entry(self) -> Scheme:
        """The registered scheme (a :class:`ThermognnError` naming the known ones)."""
        try:
            return get_scheme(self.scheme)
        except ThermognnError as exc:
            raise ThermognnError(f"scheme: {exc}") from None

    def validate(self) -> None:
        """Raise :class:`ThermognnError` naming the first bad field."""
        scheme = self.scheme_entry
        if self.n < 0:
            raise ThermognnError(f"n: must be ≥ 0, got {self.n}")
        temps = list(self.temperatures) + list(self.temperature_range or ())
        if any(not np.isfinite(t) or t < 0 for t in temps):
            raise ThermognnError(f"temperature: must be finite and ≥ 0 K, got {temps}")
        if scheme.temperature and not temps:
            raise ThermognnError("temperature: the scheme needs at least one temperature")
        lo, hi = self.amplitude
        if lo < 0 or hi < lo:
            raise ThermognnError(f"amplitude: need 0 ≤ a_min ≤ a_max Å, got {lo}:{hi}")
        if self.min_distance is not None and self.min_distance <= 0:
            raise ThermognnError(f"min_distance: must be > 0 Å, got {self.min_distance}")
        ModePolicy(self.imaginary_policy, self.frequency_floor)
        if self.partial_occupancy not in ("refuse", "majority"):
            raise ThermognnError(
                f"partial_occupancy: 'refuse' or 'majority', got {self.partial_occupancy!r}"
            )
        if self.constraints not in ("refuse", "release"):
            raise ThermognnError(f"constraints: 'refuse' or 'release', got {self.constraints!r}")
        if (scheme.phonons and not self.phonons) or scheme.trajectory is not None:
            from thermognn.labels import calculator_factory

            try:
                calculator_factory(self.calculator)
            except ThermognnError as exc:
                raise ThermognnError(f"calculator: {exc}") from None
        if self.sample_set is not None and not SET_NAME.fullmatch(self.sample_set):
            raise ThermognnError(
                f"sample_set: {self.sample_set!r} is not a set name (a letter, then letters, "
                "digits, '_', '.', '+' or '-')"
            )

    @property
    def policy(self) -> ModePolicy:
        return ModePolicy(self.imaginary_policy, self.frequency_floor)

    def batch_key(self) -> str:
        """Hash of every setting that changes what is drawn (``n`` excluded: top-ups)."""
        d = asdict(self)
        d.pop("n")
        d.pop("cache_dir")
        d = {k: v for k, v in d.items() if not _absent(k, v)}  # unset: keys predate them
        key = hashlib.sha1(json.dumps(d, sort_keys=True, default=str).encode()).hexdigest()[:12]
        try:  # ASE refuses strings that read as numbers ("153298046e17")
            float(key)
        except ValueError:
            return key
        return f"b{key}"


def _absent(name: str, value: Any) -> bool:
    """An optional setting left unset (kept out of batch keys and configs)."""
    if name in ("partial_occupancy", "constraints"):
        return value == "refuse"
    return name in ("sample_set", "scheme_options") and not value


def _reference_atoms(spec: SamplingSpec) -> list[tuple[Atoms, float | None]]:
    """Reference supercells of the batch and their Br fraction, checked; nothing written."""
    parsed = parse_material(spec.material)
    solid = parsed is not None and parsed.name == "Ag3SBrI"
    n_refs = max(1, min(spec.n_references, spec.n)) if solid else 1
    out = []
    for k in range(n_refs):
        atoms = resolve_material(
            spec.material,
            spec.supercell,
            br_fraction=spec.br_fraction,
            seed=spec.seed * 100_003 + k,
            partial=spec.partial_occupancy,  # type: ignore[arg-type]
            constraints=spec.constraints,  # type: ignore[arg-type]
        )
        check_structure(atoms, source=spec.material)
        x = None
        if parsed is not None:
            sym = np.asarray(atoms.get_chemical_symbols())
            n_hal = np.isin(sym, ["Br", "I"]).sum()
            x = float((sym == "Br").sum() / n_hal) if n_hal else None
        out.append((atoms, x))
    return out


def _references(
    db: StudyDatabase, spec: SamplingSpec, cells: list[tuple[Atoms, float | None]]
) -> list[tuple[int, Atoms, float | None]]:
    """Reference rows of the batch: (row id, atoms, Br fraction)."""
    refs = []
    for atoms, x in cells:
        notes = {k: atoms.info[k] for k in ("ordering", "released") if k in atoms.info}
        ref_id = db.add_reference(
            atoms, spec.material, supercell=spec.supercell, br_fraction=x, seed=spec.seed, **notes
        )
        refs.append((ref_id, atoms, x))
    return refs


def _temperature(spec: SamplingSpec, index: int, rng: np.random.Generator) -> float | None:
    if not spec.scheme_entry.temperature:
        return None
    if spec.temperature_range is not None:
        return float(rng.uniform(*spec.temperature_range))
    return float(spec.temperatures[index % len(spec.temperatures)])


def _draw(
    scheme: Scheme, ctx: DrawContext, rng: np.random.Generator
) -> tuple[np.ndarray, dict[str, Any]]:
    """One displacement field (Å) and the scheme-specific part of its record."""
    assert scheme.draw is not None
    out = scheme.draw(rng, ctx)
    u, extra = out if isinstance(out, tuple) else (out, {})
    u = np.asarray(u, dtype=float)
    if u.shape != (ctx.n_atoms, 3):
        raise ThermognnError(
            f"scheme {scheme.name}: drew displacements of shape {u.shape}, "
            f"expected ({ctx.n_atoms}, 3)"
        )
    if scheme.phonons:
        extra = {"fc_source": ctx.source.fc_source, **ctx.spec.policy.record(), **extra}
    return u, dict(extra)


def sample_configurations(
    db: StudyDatabase | str | Path,
    spec: SamplingSpec,
    *,
    progress: Callable[[int, int], None] | None = None,
    status: Callable[[str], None] | None = None,
    study: str | None = None,
) -> list[int]:
    """Write ``spec.n`` configurations of a batch (skipping those already written).

    The settings, the reference crystal and a ``phonons`` file are checked before the
    database is created or changed: a refused batch writes nothing.

    Parameters
    ----------
    db
        The study database, or its path/URL (created when missing).
    spec
        The batch's settings.
    progress, status
        Called as ``progress(done, total)`` and ``status(message)``.
    study
        Study name the database must carry (a path ``db`` only).

    Returns
    -------
    list of int
        The row ids written now.

    Raises
    ------
    ThermognnError
        On bad settings, an unreadable or refused reference crystal, a foreign database.
    """
    spec.validate()
    cells = _reference_atoms(spec)
    scheme = spec.scheme_entry
    source = PhononSource(spec, status) if scheme.phonons and spec.phonons else None
    if not isinstance(db, StudyDatabase):
        db = StudyDatabase(db, study=study)
    batch = spec.batch_key()
    db.update_config(
        f"sample:{batch}",
        {k: v for k, v in asdict(spec).items() if k != "cache_dir" and not _absent(k, v)},
    )
    done = db.existing_indices(batch)
    todo = [i for i in range(spec.n) if i not in done]
    if not todo:
        return []
    refs = _references(db, spec, cells)
    if scheme.trajectory is not None:
        return scheme.trajectory(db, spec, refs, todo, batch, progress=progress)
    written = []
    for count, (atoms, u, record) in enumerate(
        draw_configurations(spec, refs, todo, batch, status=status, source=source), 1
    ):
        written.append(db.add_configuration(atoms, u, record))
        if progress:
            progress(count, len(todo))
    return written


def draw_configurations(
    spec: SamplingSpec,
    refs: list[tuple[int, Atoms, float | None]],
    indices: list[int],
    batch: str,
    *,
    status: Callable[[str], None] | None = None,
    source: PhononSource | None = None,
) -> Iterator[tuple[Atoms, np.ndarray, dict[str, Any]]]:
    """Draw configurations ``indices`` of a batch: (atoms, displacements, record).

    ``refs`` are (parent row id, reference supercell, Br fraction); configuration ``i``
    displaces ``refs[i % len(refs)]``. Not for trajectory schemes (``md``). ``source`` (from
    :func:`phonon_source`) lets several batches share loaded force constants.
    """
    scheme = spec.scheme_entry
    if scheme.draw is None:
        raise ThermognnError(f"scheme {spec.scheme}: samples whole trajectories, not single draws")
    if source is None and scheme.phonons:
        source = PhononSource(spec, status)
    for index in indices:
        rng = config_rng(spec.seed, index, batch)
        ref_id, ref, x = refs[index % len(refs)]
        temperature = _temperature(spec, index, rng)
        ctx = DrawContext(spec, ref_id, ref, x, temperature, source)
        for tries in range(spec.max_tries):  # noqa: B007 - tries is the rejection count
            u, extra = _draw(scheme, ctx, rng)
            atoms = ref.copy()
            atoms.positions += u
            if spec.min_distance is None or shortest_distance(atoms)[0] >= spec.min_distance:
                break
        else:
            raise ThermognnError(
                f"min_distance: no configuration of {spec.material} (index {index}) with all "
                f"distances ≥ {spec.min_distance} Å in {spec.max_tries} draws"
            )
        record = {
            **config_record(spec, spec.scheme, temperature, index, batch, ref_id, x),
            "rejections": tries,
            "min_distance": spec.min_distance,
            "sample_set": spec.sample_set,  # None: not stored
            **extra,
        }
        yield atoms, u, record
