"""The stages of ``thermognn reproduce`` beyond the experiment itself.

Each stage reads what the earlier ones wrote into the run folder and writes its own
part: the per-label sweeps (on pool rows only), Table 1 and the parity figures from the
experiment's combined-arm models, the explanations of the best band-gap models on test
rows, and the checked E_g(T) curve.
"""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path
from typing import Any

import numpy as np

from thermognn.errors import ThermognnError
from thermognn.experiments import ExperimentPlan, ExperimentResult
from thermognn.experiments.plan import seeded_rng
from thermognn.experiments.records import as_float, write_json
from thermognn.labels.base import LABEL_NAMES
from thermognn.paper.presets import Preset
from thermognn.parallel import ClusterSpec
from thermognn.settings import TrainSettings
from thermognn.studies.curves import COMBINED

log = logging.getLogger(__name__)


def sweep_split(plan: ExperimentPlan, size: int) -> dict[str, list[int]]:
    """Train/val rows from the combined pool (seed 0), test = every reserved row."""
    return plan.selection(COMBINED, min(size, plan.max_size(COMBINED)), 0)


def sweep_per_label(
    root: Path,
    db: Path,
    plan: ExperimentPlan,
    p: Preset,
    base: TrainSettings,
    cluster: ClusterSpec,
    progress: Any,
) -> dict[str, dict[str, Any]]:
    """The reduced grid per label on pool rows; each label's best training overrides."""
    from thermognn.studies import SearchSpace, run_sweep

    grid = SearchSpace(
        tuple(p.grid["models"]),
        tuple(p.grid["lr"]),
        tuple(p.grid["hidden"]),
        tuple(p.grid["dropout"]),
    )
    split = sweep_split(plan, p.sweep_size)
    best: dict[str, dict[str, Any]] = {}
    for label in p.sweep_labels:
        result = run_sweep(
            db,
            label=label,
            out=root / "sweep" / label,
            query="labeled=1",
            grid=grid,
            train=base,
            epochs=p.sweep_epochs,
            patience=p.sweep_patience,
            keep="all",
            split_ids=split,
            workers=cluster.workers,
            scheduler=cluster.scheduler,
            progress=progress,
        )
        if result.best is None:
            raise ThermognnError(f"sweep {label}: no trial finished; see sweep/{label}/trials.csv")
        row = result.best
        best[label] = {
            "model": row["model"],
            "lr": float(row["lr"]),
            "hparams": {"hidden": int(float(row["hidden"])), "dropout": float(row["dropout"])},
        }
    return best


def curve_figures(root: Path, experiment: ExperimentResult) -> None:
    """Learning curves (Fig. 4) per label from the experiment's results."""
    from thermognn.graphs import LABEL_UNITS
    from thermognn.studies.plots import plot_learning_curves

    for label in LABEL_NAMES:
        rows = [r for r in experiment.rows if r["label"] == label]
        if rows:
            plot_learning_curves(
                rows, root / "curves" / f"learning_curves_{label}.png", unit=str(LABEL_UNITS[label])
            )


#: The sampling sets of one material compared like for like (those the data holds).
AG3SBR_SETS = ("phonon", "phonon-renormalised", "random-matched", "random-paper")


def ag3sbr_sets(
    root: Path,
    db: Path,
    p: Preset,
    train: TrainSettings,
    cluster: ClusterSpec,
    progress: Any,
    material: str = "Ag3SBr",
) -> ExperimentResult | None:
    """Every sampling set of one material, band gap, largest size, paired seeds."""
    from thermognn.experiments import read_rows, run_experiment
    from thermognn.studies import curve_spec

    rows = [r for r in read_rows(db, ["band_gap"]) if r.material == material]
    present = [s for s in AG3SBR_SETS if sum(r.sample_set == s for r in rows) >= 20]
    if "phonon-renormalised" not in present or len(present) < 2:
        log.info("%s: no renormalised set to compare (sets %s)", material, present)
        return None
    smallest = min(sum(r.sample_set == s for r in rows) for s in present)
    spec = curve_spec(
        present,
        labels=["band_gap"],
        sizes=None,
        seeds=p.seeds,
        test_size=max(2, smallest // 5),
        combined=False,
        material=[material],
        train=train,
    )
    return run_experiment(
        db,
        spec,
        out=root / "ag3sbr",
        workers=cluster.workers,
        scheduler=cluster.scheduler,
        progress=progress,
    )


def _largest(rows: list[dict[str, str]], label: str, arm: str) -> int:
    sizes = [int(r["size"]) for r in rows if r["label"] == label and r["arm"] == arm]
    return max(sizes) if sizes else 0


def table_one(root: Path, experiment: ExperimentResult) -> dict[str, Any]:
    """Table 1 / Fig. 2: combined-arm models at the largest size on the combined test set."""
    from thermognn.report.figures import parity_figure

    table: dict[str, Any] = {}
    for label in LABEL_NAMES:
        size = _largest(experiment.rows, label, COMBINED)
        rows = [
            r
            for r in experiment.rows
            if r["label"] == label
            and r["arm"] == COMBINED
            and int(r["size"]) == size
            and r["test_set"] == COMBINED
            and r["status"] == "ok"
        ]
        if not rows:
            continue
        entry: dict[str, Any] = {
            "size": size,
            "n_seeds": len(rows),
            "n_test": int(rows[0]["n_test"]),
        }
        for metric in ("mae", "rmse", "r2", "train_r2"):
            values = np.array([as_float(r[metric]) for r in rows])
            entry[metric] = float(np.mean(values))
            entry[f"{metric}_std"] = float(np.std(values, ddof=1)) if len(values) > 1 else 0.0
        by_set: dict[str, dict[str, float]] = {}
        for r in experiment.rows:
            if (
                r["label"] == label
                and r["arm"] == COMBINED
                and int(r["size"]) == size
                and r["status"] == "ok"
                and r["test_set"] != COMBINED
            ):
                by_set.setdefault(r["test_set"], {"mae": 0.0, "r2": 0.0, "n": 0})
                by_set[r["test_set"]]["mae"] += as_float(r["mae"])
                by_set[r["test_set"]]["r2"] += as_float(r["r2"])
                by_set[r["test_set"]]["n"] += 1
        entry["by_test_set"] = {
            k: {"mae": v["mae"] / v["n"], "r2": v["r2"] / v["n"]} for k, v in by_set.items()
        }
        table[label] = entry
        runs = experiment.run_dirs(label, COMBINED, size)
        if runs:
            parity_figure(runs[0], label, root / "figures" / f"parity_{label}.png")
    write_json(root / "models.json", table)
    return table


def _poor_sweep_run(root: Path) -> Path | None:
    folder = root / "sweep" / "band_gap"
    trials = folder / "trials.csv"
    if not trials.is_file():
        return None
    import csv

    with trials.open(newline="") as fh:
        rows = [r for r in csv.DictReader(fh) if r["status"] == "ok" and r.get("run_dir")]
    rows = [r for r in rows if math.isfinite(as_float(r.get("val_mae")))]
    if not rows:
        return None
    poor = max(rows, key=lambda r: as_float(r["val_mae"]))
    path = Path(poor["run_dir"])
    return path if path.is_absolute() else folder / path


def explain(root: Path, db: Path, experiment: ExperimentResult, p: Preset, progress: Any) -> None:
    """The seeds' best band-gap models vs the poorest sweep model, on test rows (Fig. 5)."""
    from thermognn.explain.report import explain_db_and_write

    size = _largest(experiment.rows, "band_gap", COMBINED)
    best = experiment.run_dirs("band_gap", COMBINED, size)
    if not best:
        raise ThermognnError("explain: no kept band-gap run folder of the combined arm")
    groups: dict[str, Any] = {"best": [str(r) for r in best]}
    poor = _poor_sweep_run(root)
    if poor is not None:
        groups["poor"] = [str(poor)]
    test = experiment.plan.test_sets[COMBINED]
    chosen = seeded_rng(0, "explain").choice(
        test, size=min(p.explain_structures, len(test)), replace=False
    )
    explain_db_and_write(
        groups,
        db,
        root / "explain",
        row_ids=[int(i) for i in sorted(chosen)],
        label="band_gap",
        seeds=range(p.explain_seeds),
        epochs=p.explain_epochs,
        progress=progress,
    )


def temperature(
    root: Path,
    db: Path,
    experiment: ExperimentResult,
    p: Preset,
    material: str,
    supercell: tuple[int, int, int],
    progress: Any,
) -> None:
    """⟨E_g⟩_T of the seeds' band-gap models, checked against direct ensemble means."""
    from thermognn.temperature import (
        compare_with_direct,
        direct_ensemble_means,
        harmonic_ensemble_average,
    )

    size = _largest(experiment.rows, "band_gap", COMBINED)
    runs = experiment.run_dirs("band_gap", COMBINED, size)
    folder = root / "temperature"
    folder.mkdir(exist_ok=True)
    try:
        direct = direct_ensemble_means(db, material, "band_gap", query="sample_set=eg-validation")
    except ThermognnError as exc:
        log.warning("E_g(T): no direct check (%s)", exc)
        direct = None
    temps = sorted(set(p.temperatures) | set(direct.temperatures if direct is not None else []))
    curve = harmonic_ensemble_average(
        runs,
        material,
        temps,
        n_configs=p.temperature_configs,
        supercell=supercell,
        scheme="phonon-gaussian",
        progress=progress,
    )
    curve.write_csv(folder / "curve.csv")
    curve.plot(folder / "curve.png", direct=direct)
    if direct is not None:
        check = compare_with_direct(curve, direct)
        check.write_csv(folder / "direct_check.csv")
        (folder / "direct_check.txt").write_text("\n".join(check.lines()) + "\n")
        (folder / "direct_check.json").write_text(
            json.dumps({"n_direct": len(direct.temperatures)})
        )
