"""Model families on identical rows: the paper's GraphConv family against ``moments``.

Stage ``families`` of ``thermognn reproduce`` (``--preset full``): every family is one
arm of one experiment on the same pool (the Ag3SBr phonon cells), so seed k trains every
family on the same rows and scores it on the same reserved test rows. Every family
trains with the preset's recipe (the learning-rate schedule and the noise-aware stopping
rule; ``--preset full``: up to 600 epochs, patience 100). ``families.json`` holds, per family
and label, the test MAE and R² over the seeds, the parameters, the seconds per epoch and
the prediction throughput on one core (structures → labels, bonds included); the paired
differences per label are in ``families/differences.csv``.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Any

import numpy as np

from thermognn.parallel import ClusterSpec
from thermognn.settings import ArmSpec, ExperimentSpec, Selection, TestSetSpec, TrainSettings

log = logging.getLogger(__name__)

#: The compared families: the paper family at its best setting of the sweep (paper-5,
#: hidden 64, lr 1e-3) and ``moments`` (hidden 32, lr 3e-3), as in ``bench_models.py``.
FAMILIES: dict[str, dict[str, Any]] = {
    "paper-5": {"model": "paper-5", "hparams": {"hidden": 64}, "lr": 1e-3},
    "moments": {"model": "moments", "hparams": {"hidden": 32}, "lr": 3e-3},
}

LABELS = ("band_gap", "energy_per_atom", "vbm", "hydrostatic_stress")


def families_spec(
    seeds: int,
    material: str = "Ag3SBr",
    sample_set: str | list[str] = "phonon",
    test_fraction: float = 0.15,
    train: TrainSettings | None = None,
    labels: list[str] | None = None,
    sizes: list[int] | None = None,
) -> ExperimentSpec:
    """One test set and one arm per family on the same pool, every label, whole pool.

    ``train``: the recipe every family shares (default: :class:`TrainSettings`'s);
    ``sample_set``: one set or several pooled (the test set takes the first one's name,
    which seeds its reservation); ``labels`` (default: all four) and
    ``sizes`` (training sizes, clipped to the pool; default: the whole pool) for a
    learning curve.
    """
    sets = [sample_set] if isinstance(sample_set, str) else list(sample_set)
    select = Selection(material=[material], sample_set=sets)
    return ExperimentSpec(
        labels=list(labels or LABELS),
        test_sets=[TestSetSpec(name=sets[0], select=select, fraction=test_fraction)],
        arms=[ArmSpec(name=name, select=select, train=arm) for name, arm in FAMILIES.items()],
        sizes=sizes,
        seeds=seeds,
        train=train or TrainSettings(),
    )


def run_families(
    root: Path,
    db: Path,
    seeds: int,
    cluster: ClusterSpec,
    progress: Any = None,
    train: TrainSettings | None = None,
) -> dict[str, Any]:
    """Train every family on identical rows, write ``families.json``; returns its content."""
    from thermognn.experiments import run_experiment

    experiment = run_experiment(
        db,
        families_spec(seeds, train=train),
        out=root / "families",
        workers=cluster.workers,
        scheduler=cluster.scheduler,
        progress=progress,
    )
    rows = [r for r in experiment.rows if r["status"] == "ok"]
    table: dict[str, Any] = {}
    for family in FAMILIES:
        runs = experiment.run_dirs("band_gap", family)
        entry: dict[str, Any] = {"labels": {}, **_cost(runs, db)}
        for label in LABELS:
            mine = [r for r in rows if r["arm"] == family and r["label"] == label]
            if not mine:
                continue
            mae = [float(r["mae"]) for r in mine]
            r2 = [float(r["r2"]) for r in mine]
            epochs = [int(r["epochs_run"]) for r in mine]
            seconds = [float(r["wall_time"]) for r in mine]
            entry["labels"][label] = {
                "n_seeds": len(mine),
                "n_train": int(mine[0]["n_train"]),
                "n_test": int(mine[0]["n_test"]),
                "mae": float(np.mean(mae)),
                "mae_std": float(np.std(mae, ddof=1)) if len(mae) > 1 else 0.0,
                "r2": float(np.mean(r2)),
                "r2_std": float(np.std(r2, ddof=1)) if len(r2) > 1 else 0.0,
                "epochs": float(np.mean(epochs)),
                "seconds_per_epoch": sum(seconds) / max(sum(epochs), 1),
            }
        table[family] = entry
    (root / "families.json").write_text(json.dumps(table, indent=2))
    return table


def _cost(runs: list[Path], db: Path, n: int = 256) -> dict[str, Any]:
    """Parameters and prediction throughput (structures/s, this process) of one run."""
    if not runs:
        return {}
    import torch

    from thermognn.database.guard import open_database, select
    from thermognn.training.predict import Predictor

    predictor = Predictor.from_run(runs[0])
    params = sum(p.numel() for p in predictor.model.parameters())
    database = open_database(str(db))
    atoms = [
        r.toatoms() for r in select(database, "material=Ag3SBr,scheme=phonon,labeled=1", limit=n)
    ]
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        predictor.predict_atoms(atoms[:8])  # warm-up
        start = time.process_time()
        predictor.predict_atoms(atoms)
        rate = len(atoms) / max(time.process_time() - start, 1e-9)
    finally:
        torch.set_num_threads(threads)
    return {"parameters": params, "structures_per_s": rate}


def family_rows(table: dict[str, Any]) -> list[list[str]]:
    """Rows of the model table: family, parameters, label, MAE ± sd, R² ± sd, cost."""
    from thermognn.labels.base import LABEL_UNITS

    out = []
    for family, entry in table.items():
        for label, m in entry.get("labels", {}).items():
            out.append(
                [
                    family,
                    f"{entry.get('parameters', 0):,}",
                    f"{label} ({LABEL_UNITS[label]})",
                    f"{m['mae']:.4g} ± {m['mae_std']:.2g}",
                    f"{m['r2']:.3f} ± {m['r2_std']:.3f}",
                    str(m["n_seeds"]),
                    f"{m['seconds_per_epoch']:.2f}",
                    f"{entry.get('structures_per_s', float('nan')):,.0f}",
                ]
            )
    return out


#: Columns of :func:`family_rows`.
FAMILY_COLUMNS = [
    "family",
    "parameters",
    "label",
    "test MAE",
    "test R²",
    "seeds",
    "s/epoch",
    "structures/s (1 core)",
]
