"""MD versus phonon data (paper SI Table 1), like for like, on the experiment runner.

Both sides come from the same material(s) (by default every material both sets hold:
Ag3SBr for the bundled data), each set reserves its own test set first (MD snapshots
by whole trajectory blocks), each arm trains on an equal number of its own structures
over paired seeds, and every model is scored on both test sets. The displacement
statistics of both sets are written beside the result, since how far a set strays
from the reference explains much of how well a model trained on it transfers.

Folder: the runner's (``results.csv``, ``test_sets.json``, ``differences.csv``, …)
plus ``comparison.md`` (the table) and ``displacements.json``.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from thermognn.errors import ThermognnError
from thermognn.experiments import run_experiment
from thermognn.experiments.plan import RowRecord, read_rows
from thermognn.experiments.records import as_float, write_json
from thermognn.experiments.runner import ExperimentView
from thermognn.settings import ArmSpec, ExperimentSpec, Selection, TestSetSpec, TrainSettings

logger = logging.getLogger(__name__)


@dataclass
class ComparisonResult(ExperimentView):
    """Outcome of :func:`run_md_comparison`."""

    size: int = 0
    markdown: str = ""
    displacements: dict[str, dict[str, float]] = field(default_factory=dict)


def common_materials(rows: Sequence[RowRecord], sets: Sequence[str], label: str) -> list[str]:
    """Materials that every set holds labeled rows of (``rows``: :func:`read_rows`)."""
    per_set = [{r.material for r in rows if r.sample_set == name} for name in sets]
    shared = set.intersection(*per_set) if per_set else set()
    if not shared:
        raise ThermognnError(f"the sets {list(sets)} share no material with labeled {label} rows")
    return sorted(shared)


def displacement_stats(db: Any, row_ids: Sequence[int]) -> dict[str, float]:
    """RMS displacement from the reference (Å): all atoms, per species, and the largest."""
    from thermognn.database.guard import open_database

    database = open_database(str(db))
    squares: dict[str, list[float]] = {}
    largest = 0.0
    for row_id in row_ids:
        row = database.get(id=int(row_id))
        u = np.asarray(row.data.get("displacements", np.zeros((row.natoms, 3))))
        norms = np.linalg.norm(u, axis=1)
        largest = max(largest, float(norms.max(initial=0.0)))
        for symbol, n2 in zip(row.symbols, norms**2, strict=True):
            squares.setdefault(str(symbol), []).append(float(n2))
    every = [v for vs in squares.values() for v in vs]
    out = {"rms": math.sqrt(np.mean(every)) if every else math.nan, "max": largest}
    out.update({f"rms_{s}": math.sqrt(np.mean(v)) for s, v in sorted(squares.items())})
    return out


def run_md_comparison(
    db: Any,
    *,
    out: str | Path,
    label: str = "band_gap",
    schemes: Sequence[str] = ("md", "phonon"),
    material: Sequence[str] | None = None,
    n: int | None = None,
    test_fraction: float = 0.2,
    seeds: int = 5,
    train: TrainSettings | None = None,
    seed: int = 0,
    md_block: int = 10,
    **options: Any,
) -> ComparisonResult:
    """Train each set on equally many of its structures; score every model on every test set.

    Parameters
    ----------
    db
        Study database with labeled rows of every set.
    out
        Experiment folder (resumed when it holds the same experiment).
    label
        Label to predict.
    schemes
        Sets compared (sampling-set or scheme names), e.g. ``("md", "phonon")``.
    material
        Materials of both sides (default: every material all sets hold).
    n
        Training structures per arm (default: the most that every pool allows).
    test_fraction
        Share of the smallest set reserved for each set's test set.
    seeds
        Paired seeds.
    train
        Training settings (model, hyperparameters, recipe).
    seed, md_block
        Base seed; MD snapshots per trajectory block (fewer when a set holds fewer than
        ten blocks' worth).
    **options
        ``workers``, ``scheduler``, ``connect_timeout``, ``cache_dir``, ``progress``:
        see :func:`~thermognn.experiments.run_experiment`.
    """
    if len(set(schemes)) < 2:
        raise ThermognnError(f"give two or more distinct sets, got {list(schemes)}")
    rows = read_rows(db, [label], md_block)
    materials = list(material) if material else common_materials(rows, schemes, label)
    counts = {
        s: sum(1 for r in rows if r.sample_set == s and r.material in materials) for s in schemes
    }
    test_size = max(1, int(test_fraction * min(counts.values())))
    # at least ~10 blocks per set, so a test set of whole blocks leaves a pool to train on
    md_block = max(1, min(md_block, min(counts.values()) // 10))

    def select(name: str) -> Selection:
        return Selection(sample_set=[name], material=materials)

    spec = ExperimentSpec(
        labels=[label],
        test_sets=[TestSetSpec(name=s, select=select(s), size=test_size) for s in schemes],
        arms=[ArmSpec(name=s, select=select(s)) for s in schemes],
        sizes=[n] if n else None,
        seeds=seeds,
        seed=seed,
        md_block=md_block,
        train=train or TrainSettings(),
    )
    if n is None:  # equal sizes: the largest every pool allows
        from thermognn.experiments.jobs import DatasetRef
        from thermognn.experiments.runner import load_plan

        Path(out).mkdir(parents=True, exist_ok=True)
        probe = load_plan(DatasetRef.of(db, label, None).db, spec, Path(out))
        spec = spec.model_copy(update={"sizes": [min(probe.max_size(s) for s in schemes)]})
    experiment = run_experiment(db, spec, out=out, **options)
    size = int(spec.sizes[0]) if spec.sizes else 0
    stats = {name: displacement_stats(db, ids) for name, ids in experiment.plan.test_sets.items()}
    write_json(Path(out) / "displacements.json", stats)
    markdown = comparison_markdown(experiment.rows, label, size, materials, stats)
    (Path(out) / "comparison.md").write_text(markdown)
    return ComparisonResult(experiment, size, markdown, stats)


def _mean_std(values: list[float]) -> str:
    finite = [v for v in values if math.isfinite(v)]
    if not finite:
        return "–"
    if len(finite) == 1:
        return f"{finite[0]:.4g}"
    return f"{np.mean(finite):.4g} ± {np.std(finite, ddof=1):.2g}"


def comparison_markdown(
    rows: Sequence[Mapping[str, str]],
    label: str,
    n: int,
    materials: Sequence[str],
    displacements: Mapping[str, Mapping[str, float]],
) -> str:
    """SI Table 1 as Markdown: mean ± std over seeds, every arm on every test set."""
    from thermognn.graphs import LABEL_UNITS

    unit = LABEL_UNITS.get(label, "")
    groups: dict[tuple[str, str], list[Mapping[str, str]]] = {}
    for r in rows:
        if r["status"] == "ok":
            groups.setdefault((r["arm"], r["test_set"]), []).append(r)
    lines = [
        f"{label} of {', '.join(materials)}: each arm trained on {n} of its own structures; "
        "every model scored on every reserved test set (mean ± std over paired seeds).",
        "",
        f"| trained on | tested on | MAE ({unit}) | RMSE ({unit}) | R² | n test | seeds |",
        "|---|---|---|---|---|---|---|",
    ]
    for (arm, test_set), members in sorted(groups.items()):
        cells = [_mean_std([as_float(m[k]) for m in members]) for k in ("mae", "rmse", "r2")]
        lines.append(
            f"| {arm} | {test_set} | "
            + " | ".join(cells)
            + f" | {members[0]['n_test']} | {len(members)} |"
        )
    lines += [
        "",
        "| test set | RMS displacement (Å) | largest (Å) | per species (Å) |",
        "|---|---|---|---|",
    ]
    for name, s in displacements.items():
        species = ", ".join(f"{k[4:]} {v:.2f}" for k, v in s.items() if k.startswith("rms_"))
        lines.append(f"| {name} | {s['rms']:.3f} | {s['max']:.2f} | {species} |")
    return "\n".join(lines) + "\n"
