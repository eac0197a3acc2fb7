"""Build the paper-shaped study data set with thermognn's own stages (resumable).

Recipe (``thermognn/data/paper_dataset.toml``): Ag3SBr, Ag3SI and Ag3SBr_xI_(1-x)
40-atom cells in named sampling sets (row key ``sample_set``):

* ``phonon`` — T uniform in 150–600 K, eq. 3, ``abs`` policy, 0.5 THz floor;
* ``random-matched`` — random displacements whose amplitude range is calibrated so
  the band gaps match the phonon set's (see :mod:`thermognn.paper.calibrate`);
* ``random-paper`` — the paper's own range, a ~ U[0.1, 0.8] Å;
* ``md`` — Ag3SBr snapshots at 200/400/600 K;
* ``eg-validation`` — Ag3SBr, ``phonon-gaussian`` (⟨u²⟩ = ζ²) at 150/300/450/600 K:
  direct labels that check the model's ensemble-averaged E_g(T).

Sets grow in rounds (``round_size`` per material and scheme, then labeled), so an
interrupted build holds balanced data and the next call resumes where it stopped.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import numpy as np

from thermognn.database import StudyDatabase
from thermognn.errors import ThermognnError
from thermognn.sampling import SamplingSpec, sample_configurations

log = logging.getLogger(__name__)

RECIPE_FILE = Path(__file__).resolve().parent.parent / "data" / "paper_dataset.toml"


@dataclass
class DatasetRecipe:
    """How the bundled data set is made (all fields in the TOML recipe)."""

    study: str = "ag3sx-paper"
    materials: list[str] = field(default_factory=lambda: ["Ag3SBr", "Ag3SI", "Ag3SBrI"])
    supercell: tuple[int, int, int] = (2, 2, 2)
    labeler: str = "gfn1-xtb"
    n_phonon: int = 500
    n_random: int = 500
    round_size: int = 50
    temperature_range: tuple[float, float] = (150.0, 600.0)
    imaginary_policy: str = "abs"
    frequency_floor: float = 0.5
    phonon_seed: int = 1
    random_seed: int = 2
    calibration_amplitudes: list[float] = field(
        default_factory=lambda: [0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5]
    )
    calibration_per_amplitude: int = 6
    calibration_target_rows: int = 60
    amplitude: tuple[float, float] | None = None
    md_material: str = "Ag3SBr"
    md_temperatures: list[float] = field(default_factory=lambda: [200.0, 400.0, 600.0])
    n_md: int = 600
    md_calculator: str = "chgnet"
    md_stride: int = 20
    md_equilibration: int = 250
    md_seed: int = 3
    n_random_paper: int = 500
    paper_amplitude: tuple[float, float] = (0.1, 0.8)
    random_paper_seed: int = 4
    validation_scheme: str = "phonon-gaussian"
    validation_temperatures: list[float] = field(
        default_factory=lambda: [150.0, 300.0, 450.0, 600.0]
    )
    n_validation: int = 160
    validation_seed: int = 5

    @classmethod
    def from_toml(cls, path: str | Path = RECIPE_FILE) -> DatasetRecipe:
        from thermognn.cli.common import load_toml

        data = load_toml(path).get("dataset", {})
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ThermognnError(f"{path} [dataset]: unknown key(s) {sorted(unknown)}")
        for key in ("supercell", "temperature_range", "amplitude", "paper_amplitude"):
            if key in data and data[key] is not None:
                data[key] = tuple(data[key])
        return cls(**data)


def _spec(recipe: DatasetRecipe, material: str, scheme: str, n: int, **kw: Any) -> SamplingSpec:
    return SamplingSpec(
        material=material,
        scheme=scheme,
        n=n,
        supercell=recipe.supercell,
        calculator=recipe.labeler,
        imaginary_policy=recipe.imaginary_policy,
        frequency_floor=recipe.frequency_floor,
        **kw,
    )


def calibrate(db: StudyDatabase, recipe: DatasetRecipe, progress=None) -> tuple[float, float]:
    """The random amplitude range: from the recipe, from the database, or calibrated now."""
    if recipe.amplitude is not None:
        return recipe.amplitude
    stored = db.metadata.get("config", {}).get("calibration")
    if stored:
        return (float(stored["best"][0]), float(stored["best"][1]))
    from thermognn.labels import get_labeler
    from thermognn.paper.calibrate import calibrate_amplitude_range
    from thermognn.structures import reference_cell

    material = recipe.materials[0]
    target = [r.band_gap for r in db.select(material=material, scheme="phonon", labeled=True)][
        : recipe.calibration_target_rows
    ]
    need = min(10, recipe.calibration_target_rows)
    if len(target) < need:
        raise ThermognnError(f"calibration needs ≥ {need} labeled phonon rows first")
    cal = calibrate_amplitude_range(
        reference_cell(material, recipe.supercell),
        get_labeler(recipe.labeler),
        target,
        amplitudes=recipe.calibration_amplitudes,
        per_amplitude=recipe.calibration_per_amplitude,
        progress=progress,
    )
    db.update_config("calibration", {"material": material, **cal.as_dict()})
    log.info("random amplitude range %s Å (KS %.3f)", cal.best, cal.ks)
    return cal.best


def build_dataset(
    db_path: str | Path,
    recipe: DatasetRecipe | None = None,
    *,
    workers: int | None = None,
    stages: tuple[str, ...] = (
        "md-sample",
        "phonon",
        "random",
        "md",
        "eg-validation",
        "random-paper",
    ),
    status: Callable[[str], None] | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> StudyDatabase:
    """Sample and label the paper-shaped data set into ``db_path`` (resumable)."""
    from thermognn.labels import label_database

    recipe = recipe or DatasetRecipe.from_toml()
    db = StudyDatabase(db_path, study=recipe.study)
    db.update_config("recipe", {f.name: getattr(recipe, f.name) for f in fields(recipe)})
    say = status or (lambda msg: log.info(msg))

    def label(what: str, query: str | None, limit: int | None = None) -> None:
        say(f"labeling {what}")
        summary = label_database(
            db,
            labeler=recipe.labeler,
            workers=workers,
            query=query,
            limit=limit,
            progress=progress,
        )
        say(f"  {summary.labeled} labeled, {summary.failed} failed, {summary.rate:.2f}/s")

    sets: dict[str, str] = {}  # batch key -> sample-set name

    def sample_materials(scheme: str, n: int, name: str, status: Any = None, **kw: Any) -> None:
        """Sample ``n`` configurations of every material as sample set ``name``."""
        for m in recipe.materials:
            spec = _spec(recipe, m, scheme, n, **kw)
            sample_configurations(db, spec, status=status)
            sets[spec.batch_key()] = name

    n_max = max(recipe.n_phonon, recipe.n_random)
    n_rounds = -(-n_max // recipe.round_size)
    if "md-sample" in stages and recipe.n_md > 0:  # cheap driver; labeled in chunks per round
        say(f"md set: {recipe.n_md} snapshots driven by {recipe.md_calculator}")
        md = replace(
            _spec(
                recipe,
                recipe.md_material,
                "md",
                recipe.n_md,
                seed=recipe.md_seed,
                temperatures=list(recipe.md_temperatures),
            ),
            calculator=recipe.md_calculator,
            md_stride=recipe.md_stride,
            md_equilibration=recipe.md_equilibration,
        )
        sample_configurations(db, md, progress=progress)
        sets[md.batch_key()] = "md"
    amplitude: tuple[float, float] | None = None
    for r in range(1, n_rounds + 1):
        upto = r * recipe.round_size
        if "phonon" in stages:
            n = min(upto, recipe.n_phonon)
            sample_materials(
                "phonon",
                n,
                "phonon",
                status=say,
                seed=recipe.phonon_seed,
                temperature_range=recipe.temperature_range,
            )
            label(f"phonon set up to {n} per material", "scheme=phonon")
        if "random" in stages:
            amplitude = amplitude or calibrate(db, recipe, progress)
            n = min(upto, recipe.n_random)
            sample_materials(
                "random", n, "random-matched", seed=recipe.random_seed, amplitude=amplitude
            )
            label(f"random set up to {n} per material", "scheme!=md")
        if "md" in stages:  # keep MD labels in step with the rounds, also on a restart
            share = -(-recipe.n_md * r // n_rounds) - db.ase.count("scheme=md,labeled=1")
            if share > 0:
                label("md snapshots", "scheme=md", limit=share)
    if "eg-validation" in stages and recipe.n_validation > 0:
        spec = _spec(
            recipe,
            recipe.md_material,
            recipe.validation_scheme,
            recipe.n_validation,
            seed=recipe.validation_seed,
            temperatures=list(recipe.validation_temperatures),
        )
        sample_configurations(db, spec)
        sets[spec.batch_key()] = "eg-validation"
        label("E_g(T) validation ensembles", f"scheme={recipe.validation_scheme}")
    if "random-paper" in stages and recipe.n_random_paper > 0:
        for r in range(1, -(-recipe.n_random_paper // recipe.round_size) + 1):
            upto = min(r * recipe.round_size, recipe.n_random_paper)
            sample_materials(
                "random",
                upto,
                "random-paper",
                seed=recipe.random_paper_seed,
                amplitude=recipe.paper_amplitude,
            )
            label(f"random-paper set up to {upto} per material", "scheme=random")
    tag_sample_sets(db, sets)
    if stages == ("md-sample",):
        return db
    label("everything left", None)
    return db


def tag_sample_sets(db: StudyDatabase, sets: dict[str, str]) -> int:
    """Write ``sample_set`` on the rows of each batch (``{batch key: set name}``) lacking it.

    The names are labels of the sets, not drawing settings, so they stay out of the
    batch keys (existing batches keep their keys and rows).
    """
    count = 0
    for batch, name in sets.items():
        for row in list(db.ase.select(batch=batch)):
            if row.get("sample_set") != name:
                db.ase.update(row.id, sample_set=name)
                count += 1
    return count


def gap_summary(db: StudyDatabase) -> dict[str, dict[str, float]]:
    """Mean ± std of the band gap per scheme (labeled rows)."""
    out: dict[str, list[float]] = {}
    for row in db.select(labeled=True):
        out.setdefault(row.scheme, []).append(row.band_gap)
    return {
        k: {"n": len(v), "mean": float(np.mean(v)), "std": float(np.std(v))} for k, v in out.items()
    }


def main() -> None:  # pragma: no cover - background build entry point
    import argparse

    parser = argparse.ArgumentParser(description="build the bundled paper data set")
    parser.add_argument("--db", required=True)
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("--stages", default="md-sample,phonon,random,md,eg-validation,random-paper")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    build_dataset(args.db, workers=args.workers, stages=tuple(args.stages.split(",")), status=print)


if __name__ == "__main__":  # pragma: no cover
    main()
