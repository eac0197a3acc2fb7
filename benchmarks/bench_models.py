"""Benchmark: model families on identical train/validation/test rows, per label.

Trains every arm (the paper family at its best setting, ``paper-5`` hidden 64 lr 1e-3
under the default recipe, against the ``moments`` family by default) on the labeled
Ag3SBr phonon cells of the bundled study database (500 cells). Seed k draws one 70/15/15
split (``split_dataset(seed=k)``) that every arm trains and is tested on, and seeds the
weights and batch order. Per arm and label it prints the test MAE and R² (mean ± sample
standard deviation over seeds), the parameters, the epochs and seconds of training, and
the inference throughput on one core (structures → predictions, graph building
included, and from prebuilt graphs); the table goes to stdout as markdown and, one row
per run, to a CSV file.

Run with (one thread; the full default run trains 2 arms × 4 labels × 5 seeds)::

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_models.py --csv /tmp/models.csv

``--labels band_gap --seeds 2`` gives a quick check. An arm is
``NAME=MODEL[:HPARAMS_JSON[:SETTINGS_JSON]]``, e.g.
``--arm 'moments=moments:{"hidden":32}:{"lr":3e-3}'``.
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import statistics
import tempfile
import time
from importlib import resources
from pathlib import Path
from typing import Any

import torch

from thermognn.graphs import load_graph_dataset
from thermognn.settings import TrainSettings
from thermognn.training import train_run
from thermognn.training.predict import Predictor, load_run
from thermognn.training.splits import split_dataset

QUERY = "material=Ag3SBr,sample_set=phonon,labeled=1"
LABELS = ("band_gap", "energy_per_atom", "vbm", "hydrostatic_stress")
ARMS = (
    'paper=paper-5:{"hidden":64}:{"lr":1e-3}',
    'moments=moments:{"hidden":32}:{"lr":3e-3}',
)


def bundled_db() -> Path:
    """The bundled Ag3SX study database."""
    return Path(str(resources.files("thermognn") / "data" / "ag3sx_study.db"))


def parse_arm(text: str) -> tuple[str, TrainSettings]:
    """``NAME=MODEL[:HPARAMS[:SETTINGS]]`` → (name, settings)."""
    name, _, rest = text.partition("=")
    model, _, tail = rest.partition(":")
    hparams, settings = "{}", "{}"
    if tail:
        depth, cut = 0, len(tail)
        for k, char in enumerate(tail):  # split at the ':' that closes the first JSON object
            depth += {"{": 1, "}": -1}.get(char, 0)
            if depth == 0 and char == ":":
                cut = k
                break
        hparams, settings = tail[:cut], tail[cut + 1 :] or "{}"
    return name, TrainSettings.of(
        None, model=model, hparams=json.loads(hparams), **json.loads(settings)
    )


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("db", nargs="?", default=None, help="labeled study database (default: bundled)")
    p.add_argument("--query", default=QUERY)
    p.add_argument("--labels", default=",".join(LABELS))
    p.add_argument("--seeds", type=int, default=5)
    p.add_argument("--arm", action="append", default=None, help="NAME=MODEL[:HPARAMS[:SETTINGS]]")
    p.add_argument("--csv", default="bench_models.csv", help="one row per run")
    p.add_argument("--out", default=None, help="folder for the runs (default: temporary)")
    p.add_argument("--n-predict", type=int, default=500, help="structures timed for inference")
    return p.parse_args()


def throughput(run_dir: Path, atoms: list[Any], graphs: list[Any]) -> tuple[float, float]:
    """Structures per second: from ASE structures and from prebuilt graphs."""
    predictor = Predictor.from_run(run_dir)
    predictor.predict_atoms(atoms[:8])  # warm-up
    start = time.perf_counter()
    predictor.predict_atoms(atoms)
    from_atoms = len(atoms) / (time.perf_counter() - start)
    start = time.perf_counter()
    predictor.predict_graphs(graphs)
    return from_atoms, len(graphs) / (time.perf_counter() - start)


def one_run(
    name: str, settings: TrainSettings, label: str, seed: int, dataset: Any, root: Path
) -> dict[str, Any]:
    """Train one arm on one label and seed; its figures."""
    split = split_dataset(len(dataset), seed=seed, fractions=settings.split)
    result = train_run(
        None,
        labels=label,
        dataset=dataset,
        out=root / name / label / f"seed{seed}",
        settings=settings,
        split_indices={k: v.tolist() for k, v in split.indices.items()},
        seed=seed,
        progress=False,
        overwrite=True,
    )
    model, _ = load_run(result.run_dir)
    test = result.metrics[label]["test"]
    return {
        "arm": name,
        "model": settings.model,
        "label": label,
        "seed": seed,
        "mae": test["mae"],
        "r2": test["r2"],
        "params": sum(p.numel() for p in model.parameters()),
        "epochs": result.epochs_run,
        "best_epoch": result.best_epoch,
        "seconds": result.wall_time,
        "s_per_epoch": result.wall_time / max(result.epochs_run, 1),
        "run_dir": str(result.run_dir),
    }


def summary(rows: list[dict[str, Any]], arms: list[str], labels: list[str]) -> str:
    """The model table (markdown): mean ± sd over seeds per arm and label."""

    def ms(values: list[float], fmt: str) -> str:
        sd = statistics.stdev(values) if len(values) > 1 else 0.0
        return f"{statistics.fmean(values):{fmt}} ± {sd:{fmt}}"

    head = ["arm", "params"]
    head += [f"{lab} MAE" for lab in labels] + [f"{lab} R²" for lab in labels]
    head += ["s/epoch", "s/run", "structures/s", "graphs/s"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for arm in arms:
        mine = [r for r in rows if r["arm"] == arm]
        by = {lab: [r for r in mine if r["label"] == lab] for lab in labels}
        cells = [arm, str(mine[0]["params"])]
        cells += [ms([r["mae"] for r in by[lab]], ".4g") for lab in labels]
        cells += [ms([r["r2"] for r in by[lab]], ".3f") for lab in labels]
        cells += [
            f"{statistics.fmean(r['s_per_epoch'] for r in mine):.2f}",
            f"{statistics.fmean(r['seconds'] for r in mine):.0f}",
            f"{statistics.fmean(r['atoms_per_s'] for r in mine):.0f}",
            f"{statistics.fmean(r['graphs_per_s'] for r in mine):.0f}",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    if len(arms) > 1:
        base = arms[0]
        for arm in arms[1:]:
            ratios = []
            for lab in labels:
                b = statistics.fmean(
                    r["mae"] for r in rows if r["arm"] == base and r["label"] == lab
                )
                a = statistics.fmean(
                    r["mae"] for r in rows if r["arm"] == arm and r["label"] == lab
                )
                ratios.append(f"{lab} {b / a:.2f}×")
            lines.append(f"\nMAE of {base} / MAE of {arm}: " + ", ".join(ratios))
    return "\n".join(lines)


def write_csv(path: str, rows: list[dict[str, Any]]) -> None:
    """Write the rows so far (the file is complete after every run)."""
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def main() -> None:
    args = parse_args()
    logging.basicConfig(level=logging.WARNING)
    torch.set_num_threads(1)
    db = Path(args.db) if args.db else bundled_db()
    labels = args.labels.split(",")
    arms = [parse_arm(a) for a in (args.arm or ARMS)]
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="bench-models-") as tmp:
        root = Path(args.out) if args.out else Path(tmp)
        dataset = load_graph_dataset(db, labels=labels, query=args.query, cache_dir=root / "cache")
        from ase.db import connect

        with connect(db) as con:
            ids = [int(i) for i in dataset.row_ids[: args.n_predict]]
            atoms = [con.get(id=i).toatoms() for i in ids]
        graphs = [dataset[k] for k in range(len(atoms))]
        print(f"{len(dataset)} graphs ({args.query}); {args.seeds} seeds; arms:")
        for name, settings in arms:
            print(f"  {name}: {settings.model} {settings.hparams} lr {settings.lr}")
        for label in labels:
            for seed in range(args.seeds):
                for name, settings in arms:
                    row = one_run(name, settings, label, seed, dataset, root)
                    row["atoms_per_s"], row["graphs_per_s"] = throughput(
                        Path(row["run_dir"]), atoms, graphs
                    )
                    rows.append(row)
                    write_csv(args.csv, rows)
                    print(
                        f"{name:10} {label:18} seed {seed}: MAE {row['mae']:.4g} R² "
                        f"{row['r2']:.3f}, {row['epochs']} epochs, {row['seconds']:.0f} s, "
                        f"{row['atoms_per_s']:.0f} structures/s",
                        flush=True,
                    )
    print()
    print(summary(rows, [name for name, _ in arms], labels))
    print(f"\nper-run rows: {args.csv}")


if __name__ == "__main__":
    main()
