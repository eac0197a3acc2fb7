"""``thermognn reproduce``: the paper's study on the bundled data set, one command.

Stages (each writes into the run folder and is skipped when its output exists, so an
interrupted run resumes):

1. data — the bundled GFN1-xTB data set (or ``--relabel``), its counts and the label
   distributions of every sampling set side by side (paper SI Fig. 10);
2. plan — the comparison's test sets, reserved first from every sampling set
   (``phonon``, ``random-matched``, ``random-paper``) and never trained on by anything;
3. sweep — the reduced grid per label on training and validation rows of the pools
   only (the paper's SI Figs. 5–8);
4. curves — one experiment: every set (and their union) as an arm, every size for the
   band gap and the largest for the other labels, paired seeds, every model scored on
   every test set, paired differences with 95 % intervals (Fig. 4, Table 1, Fig. 2);
5. ag3sbr — every Ag3SBr sampling set, the self-consistently renormalised phonon set
   included, on Ag3SBr test sets only (like for like: one material on every side);
6. families — the paper family against ``moments`` on identical Ag3SBr phonon rows,
   every label, paired seeds, with their cost (``--preset full``);
7. compare — MD vs phonon, like for like (SI Table 1);
8. explain — the five seeds' best band-gap models vs a poor one, on test rows (Fig. 5);
9. temperature — the harmonic ensemble average ⟨E_g⟩_T of Ag3SBr, checked against
   direct GFN1-xTB ensemble means;
10. report — one HTML page and ``summary.md``.
"""

from __future__ import annotations

import json
import logging
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

from thermognn._version import __version__
from thermognn.errors import ThermognnError
from thermognn.labels.base import LABEL_NAMES
from thermognn.paper.presets import PRESETS, Preset, get_preset
from thermognn.parallel import ClusterSpec, shared_cluster
from thermognn.settings import ExperimentSpec, TrainSettings

log = logging.getLogger(__name__)

BUNDLED_DB = Path(__file__).resolve().parent.parent / "data" / "ag3sx_study.db"

#: The sampling sets compared, in report order, when the data holds them.
STUDY_SETS = ("phonon", "random-matched", "random-paper")

__all__ = ["BUNDLED_DB", "PRESETS", "Preset", "reproduce", "study_sets"]


class _Stage:
    """Context manager timing one stage into ``state['stage_seconds']``."""

    def __init__(self, state: dict[str, Any], name: str, say: Callable[[str], None]) -> None:
        self.state, self.name, self.say = state, name, say

    def __enter__(self) -> None:
        self.say(f"[{self.name}]")
        self.t0 = time.perf_counter()

    def __exit__(self, *exc: object) -> None:
        seconds = round(time.perf_counter() - self.t0, 1)
        self.state.setdefault("stage_seconds", {})[self.name] = seconds


def study_sets(db: Path, minimum: int = 4) -> list[str]:
    """The sampling sets of the comparison: ``STUDY_SETS`` where present, else schemes."""
    from thermognn.experiments import read_rows

    rows = read_rows(db, ["band_gap"])
    counts: dict[str, int] = {}
    for r in rows:
        counts[r.sample_set] = counts.get(r.sample_set, 0) + 1
    named = [s for s in STUDY_SETS if counts.get(s, 0) >= minimum]
    if len(named) >= 2:
        return named
    schemes = [s for s in ("phonon", "random") if any(r.scheme == s for r in rows)]
    if len(schemes) < 2:
        raise ThermognnError(f"{db}: needs labeled phonon and random rows (found {counts})")
    return schemes


def comparison_spec(p: Preset, sets: list[str], train: TrainSettings) -> ExperimentSpec:
    """The one experiment behind Fig. 4, Table 1 and Fig. 2."""
    from thermognn.studies import curve_spec

    other = [p.other_labels_size or max(p.sizes)]
    return curve_spec(
        sets,
        labels=LABEL_NAMES,
        sizes=p.sizes,
        seeds=p.seeds,
        test_size=p.test_size,
        train=train,
        sizes_per_label=(
            {}
            if p.all_sizes_for_every_label
            else {k: other for k in LABEL_NAMES if k != "band_gap"}
        ),
        combined_sizes=p.combined_sizes,
        combined_only=[k for k in LABEL_NAMES if k != "band_gap"] if p.others_combined_only else [],
    )


def _data(
    root: Path, study_db: Path, db: Any, relabel: bool, recipe: Any, workers: Any, say, progress
) -> None:
    from thermognn.database import StudyDatabase
    from thermognn.report.figures import label_distributions, set_summary, set_values

    if relabel:
        from thermognn.paper.dataset import DatasetRecipe, build_dataset

        rec = DatasetRecipe.from_toml(recipe) if recipe else None
        build_dataset(study_db, rec, workers=workers, status=say, progress=progress)
    elif not study_db.exists():
        source = Path(db) if db else BUNDLED_DB
        if not source.is_file():
            raise ThermognnError(f"{source}: data set not found (run with --relabel)")
        study_db.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, study_db)
    sdb = StudyDatabase(study_db, create=False)
    config = sdb.metadata.get("config", {})
    info = {
        "counts": sdb.counts(),
        "sets": set_summary(set_values(study_db)),
        "calibration": config.get("calibration"),
        "recipe": config.get("recipe"),
        "labeler": config.get("label"),
    }
    (root / "dataset.json").write_text(json.dumps(info, indent=1, default=str))
    label_distributions(study_db, root / "figures" / "label_distributions.png")


def reproduce(
    out: str | Path = "runs/reproduce",
    *,
    preset: str | Preset = "quick",
    db: str | Path | None = None,
    relabel: bool = False,
    recipe: str | Path | None = None,
    workers: int | None = None,
    scheduler: str | None = None,
    material: str = "Ag3SBr",
    supercell: tuple[int, int, int] = (2, 2, 2),
    status: Callable[[str], None] | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> Path:
    """Run the whole study into ``out``; returns the path of the HTML report."""
    from thermognn.experiments import load_plan
    from thermognn.paper import stages

    p = get_preset(preset)
    say = status or log.info
    root = Path(out)
    (root / "figures").mkdir(parents=True, exist_ok=True)
    state: dict[str, Any] = {
        "preset": asdict(p),
        "thermognn_version": __version__,
        "started": time.strftime("%Y-%m-%d %H:%M:%S"),
    }
    t_start = time.perf_counter()
    study_db = root / "data" / "study.db"
    with _Stage(state, "data", say):
        _data(root, study_db, db, relabel, recipe, workers, say, progress)
    sets = study_sets(study_db)
    state["sets"] = sets
    base = TrainSettings(
        epochs=p.epochs, patience=p.patience, min_epochs=p.min_epochs, batch_size=p.batch_size
    )
    spec = comparison_spec(p, sets, base)
    with _Stage(state, "plan", say):
        (root / "curves").mkdir(exist_ok=True)
        plan = load_plan(str(study_db), spec, root / "curves")
    with shared_cluster(ClusterSpec(workers, scheduler)) as cluster:
        experiment = _train_stages(
            root, study_db, p, spec, plan, base, cluster, state, say, progress
        )
    with _Stage(state, "explain", say):
        stages.explain(root, study_db, experiment, p, progress)
    with _Stage(state, "temperature", say):
        stages.temperature(root, study_db, experiment, p, material, supercell, progress)
    state["wall_seconds"] = round(time.perf_counter() - t_start, 1)
    (root / "reproduce.json").write_text(json.dumps(state, indent=1, default=str))
    from thermognn.paper.summary import write_summary
    from thermognn.report import write_report

    write_summary(root)
    path, missing = write_report(root)
    if missing:
        say(f"report: {len(missing)} pieces missing: {'; '.join(missing)}")
    return path


def _train_stages(
    root: Path,
    study_db: Path,
    p: Preset,
    spec: ExperimentSpec,
    plan: Any,
    base: TrainSettings,
    cluster: ClusterSpec,
    state: dict[str, Any],
    say: Callable[[str], None],
    progress: Callable[[int, int], None] | None,
) -> Any:
    """Sweep, curves, Table 1, the Ag3SBr sets and the MD comparison, on one cluster."""
    from thermognn.experiments import run_experiment
    from thermognn.paper import stages

    where: dict[str, Any] = {
        "workers": cluster.workers,
        "scheduler": cluster.scheduler,
        "progress": progress,
    }
    with _Stage(state, "sweep", say):
        best = stages.sweep_per_label(root, study_db, plan, p, base, cluster, progress)
    state["sweep_best"] = best
    per_label = {lab: best.get(lab, best["band_gap"]) for lab in LABEL_NAMES}
    spec = spec.model_copy(update={"train_per_label": per_label})
    with _Stage(state, "curves", say):
        experiment = run_experiment(study_db, spec, out=root / "curves", **where)
        stages.curve_figures(root, experiment)
    with _Stage(state, "models", say):
        from thermognn.paper.spread import spread_stage

        table = stages.table_one(root, experiment)
        spread_stage(
            root,
            {lab: experiment.run_dirs(lab, stages.COMBINED, t["size"]) for lab, t in table.items()},
        )
    band_gap = TrainSettings.of(base, **per_label["band_gap"])
    if p.ag3sbr_sets:
        with _Stage(state, "ag3sbr", say):
            stages.ag3sbr_sets(root, study_db, p, band_gap, cluster, progress)
    else:
        state["ag3sbr_skipped"] = f"preset {p.name} (run --preset full)"
    if p.families:
        with _Stage(state, "families", say):
            from thermognn.paper.families import run_families

            run_families(root, study_db, p.seeds, cluster, progress, base)
    else:
        state["families_skipped"] = f"preset {p.name} (run --preset full)"
    with _Stage(state, "compare", say):
        n_md = _labeled_count(study_db, "md")
        if n_md >= p.compare_min_rows:
            from thermognn.studies import run_md_comparison

            run_md_comparison(
                study_db,
                out=root / "compare",
                seeds=p.seeds,
                n=p.compare_size,
                train=band_gap,
                **where,
            )
        else:
            state["compare_skipped"] = f"only {n_md} labeled md rows"
    return experiment


def _labeled_count(db: Path, scheme: str) -> int:
    """Labeled rows of one sampling scheme (one SQL count, not a row-by-row read)."""
    import ase.db

    return int(ase.db.connect(str(db)).count(f"labeled=1,scheme={scheme}"))
