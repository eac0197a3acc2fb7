"""Benchmark: the default training recipe against the old one, per seed.

Trains ``paper-5`` (hidden 64, lr 1e-3 by default) on the labeled Ag3SBr phonon cells
of the bundled study database (500 cells, default 70/15/15 split by seed) with the
default :class:`~thermognn.settings.TrainSettings` (smoothed-validation stopping rule,
learning-rate decay on a plateau) and with the old recipe (300 epochs, patience 30 on
the raw validation loss, constant learning rate), and prints one line per seed and
recipe: epochs run, stop reason, train/val/test R² and MAE, seconds. Target: training
R² ≥ 0.8 for every seed and a lower mean test MAE than the old recipe.

Run with (about 3 minutes on one core)::

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_recipe.py --out /tmp/bench_recipe
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import tempfile
from importlib import resources
from pathlib import Path
from typing import Any

import torch

from thermognn.graphs import load_graph_dataset
from thermognn.settings import TrainSettings
from thermognn.training import train_run

QUERY = "material=Ag3SBr,scheme=phonon,labeled=1"

#: The recipe before the smoothed stopping rule (smoothing 0 = raw loss, no decay).
OLD = {"epochs": 300, "patience": 30, "lr_decay": 1.0, "smoothing": 0.0, "min_delta": 0.0}


def bundled_db() -> Path:
    """The bundled Ag3SX study database."""
    return Path(str(resources.files("thermognn") / "data" / "ag3sx_study.db"))


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("db", nargs="?", default=None, help="labeled study database (default: bundled)")
    p.add_argument("--label", default="band_gap")
    p.add_argument("--query", default=QUERY)
    p.add_argument("--model", default="paper-5")
    p.add_argument("--hidden", type=int, default=64)
    p.add_argument("--seeds", type=int, default=5)
    p.add_argument("--recipes", default="default,old", help="comma list: default, old")
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a TrainSettings field of the default recipe (repeatable)",
    )
    p.add_argument("--out", default=None, help="folder for the runs (default: temporary)")
    p.add_argument("--json", default=None, help="also write the table as JSON here")
    return p.parse_args()


def recipe_settings(name: str, base: dict[str, Any], extra: list[str]) -> TrainSettings:
    """The settings of one recipe."""
    if name == "old":
        return TrainSettings.of(base, **OLD)
    updates = {}
    for item in extra:
        key, _, value = item.partition("=")
        updates[key.strip()] = json.loads(value)
    return TrainSettings.of(base, **updates)


def main() -> None:
    args = parse_args()
    logging.basicConfig(level=logging.WARNING)
    torch.set_num_threads(1)
    db = Path(args.db) if args.db else bundled_db()
    with tempfile.TemporaryDirectory(prefix="bench-recipe-") as tmp:
        root = Path(args.out) if args.out else Path(tmp)
        dataset = load_graph_dataset(
            db, labels=[args.label], query=args.query, cache_dir=root / "cache"
        )
        base = {"model": args.model, "hparams": {"hidden": args.hidden}}
        rows = []
        header = (
            f"{'recipe':8} {'seed':>4} {'epochs':>6} {'best':>5} {'stop':15} "
            f"{'R2 train':>8} {'R2 val':>7} {'R2 test':>7} "
            f"{'MAE train':>9} {'MAE val':>8} {'MAE test':>8} {'s':>6}"
        )
        print(f"{len(dataset)} graphs, {args.label}, {args.model} hidden {args.hidden}")
        print(header)
        for name in args.recipes.split(","):
            settings = recipe_settings(name, base, args.set)
            for seed in range(args.seeds):
                result = train_run(
                    None,
                    labels=args.label,
                    dataset=dataset,
                    out=root / name / f"seed{seed}",
                    settings=settings,
                    seed=seed,
                    progress=False,
                    overwrite=True,
                )
                m = result.metrics[args.label]
                row = {
                    "recipe": name,
                    "seed": seed,
                    "epochs": result.epochs_run,
                    "best_epoch": result.best_epoch,
                    "stop": result.stop_reason,
                    **{f"r2_{s}": m[s]["r2"] for s in ("train", "val", "test")},
                    **{f"mae_{s}": m[s]["mae"] for s in ("train", "val", "test")},
                    "seconds": result.wall_time,
                }
                rows.append(row)
                print(
                    f"{name:8} {seed:4d} {row['epochs']:6d} {row['best_epoch']:5d} "
                    f"{row['stop']:15} {row['r2_train']:8.3f} {row['r2_val']:7.3f} "
                    f"{row['r2_test']:7.3f} {row['mae_train']:9.4f} {row['mae_val']:8.4f} "
                    f"{row['mae_test']:8.4f} {row['seconds']:6.1f}",
                    flush=True,
                )
        print("\nmean over seeds:")
        for name in args.recipes.split(","):
            mine = [r for r in rows if r["recipe"] == name]
            summary = {
                k: statistics.fmean(r[k] for r in mine)
                for k in ("epochs", "r2_train", "r2_test", "mae_test", "seconds")
            }
            print(
                f"{name:8} epochs {summary['epochs']:.0f}, R2 train {summary['r2_train']:.3f} "
                f"(min {min(r['r2_train'] for r in mine):.3f}), R2 test "
                f"{summary['r2_test']:.3f}, MAE test {summary['mae_test']:.4f} eV, "
                f"{summary['seconds']:.1f} s per run"
            )
        if args.json:
            Path(args.json).write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
