"""Benchmark: the Optuna search against the full grid, in validation MAE and epochs.

Runs the grid sweep over a (reduced) hyperparameter grid on one labeled data set, then
Optuna searches (TPE + median pruning) of the ranges the grid's choices span (learning
rate log-uniform, architecture categorical), on the grid's own split, with an epoch
budget of a fraction (default 10 %) of the grid's total epochs, and prints both
figures: the search's best validation MAE relative to the grid's best (target: within
5 %) and the epochs it used relative to the grid's (target: ≤ 10 %).

The database is copied into the output folder first, so a labeling job writing to the
original cannot change the data under the benchmark. Both studies resume from the
output folder; ``--grid-dir`` reuses a finished grid sweep.

Measured (README): the full bundled set for the band gap (5,810 rows), a grid of 24
trials (paper-1/3/5 × lr 1e-2…1e-5 × dropout 0/0.2, hidden 32), four TPE seeds::

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_search.py \\
        --models paper-1,paper-3,paper-5 --lr 0.01,0.001,0.0001,0.00001 --hidden 32 \\
        --dropout 0,0.2 --epochs 60 --patience 10 --search-seeds 0,1,2,3 --out /tmp/bs

The full paper grid (``--grid paper`` without restrictions, 480 trials up to hidden
256, 300 epochs) is GPU territory (``--device cuda --workers N``).
"""

from __future__ import annotations

import argparse
import logging
import shutil
import statistics
import time
from importlib import resources
from pathlib import Path

from thermognn.experiments.records import as_float
from thermognn.studies import run_search, run_sweep
from thermognn.studies.space import named_grid


def bundled_db() -> Path | None:
    """The bundled Ag3SX study database, if present."""
    path = Path(str(resources.files("thermognn") / "data" / "ag3sx_study.db"))
    return path if path.is_file() else None


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("db", nargs="?", default=None, help="labeled study database (default: bundled)")
    p.add_argument("--label", default="band_gap")
    p.add_argument("--query", default="labeled=1")
    p.add_argument("--grid", default="paper", help="base grid (paper or small)")
    p.add_argument("--models", default=None, help="comma list (reduces the grid)")
    p.add_argument("--lr", default=None, help="comma list (reduces the grid)")
    p.add_argument("--hidden", default=None, help="comma list (reduces the grid)")
    p.add_argument("--dropout", default=None, help="comma list (reduces the grid)")
    p.add_argument("--epochs", type=int, default=60)
    p.add_argument("--patience", type=int, default=10)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--budget", type=float, default=0.10, help="search epochs / grid epochs")
    p.add_argument("--pruner", default="median", choices=("median", "sha", "none"))
    p.add_argument("--pruner-warmup", type=int, default=None, help="epochs before pruning")
    p.add_argument("--startup-trials", type=int, default=5, help="random trials before TPE")
    p.add_argument("--search-seeds", default="0,1,2", help="TPE seeds, one search each")
    p.add_argument("--workers", type=int, default=0, help="0: in this process (exact budget)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--out", default="bench_search_out")
    p.add_argument("--grid-dir", default=None, help="reuse this finished grid sweep folder")
    return p.parse_args()


def main() -> None:
    args = parse_args()
    logging.basicConfig(level=logging.WARNING)
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    source = Path(args.db) if args.db else bundled_db()
    if source is None:
        raise SystemExit("no database given and no bundled ag3sx_study.db")
    db = out / "data.db"
    if not db.exists():
        shutil.copyfile(source, db)
    split = lambda text, cast: [cast(v) for v in text.split(",")] if text else None  # noqa: E731
    space = named_grid(args.grid).restrict(
        models=split(args.models, str),
        lr=split(args.lr, float),
        hidden=split(args.hidden, int),
        dropout=split(args.dropout, float),
    )
    common = {
        "label": args.label,
        "query": args.query,
        "epochs": args.epochs,
        "patience": args.patience,
        "batch_size": args.batch_size,
        "device": args.device,
        "workers": args.workers,
        "plots": False,
    }
    print(
        f"data: {source} ({args.label}, {args.query}); grid of {space.size} trials, "
        f"≤ {args.epochs} epochs each (patience {args.patience})"
    )

    t0 = time.perf_counter()
    grid = run_sweep(db, out=Path(args.grid_dir or out / "grid"), grid=space, keep="none", **common)
    grid_time = time.perf_counter() - t0
    if grid.best is None:
        raise SystemExit("grid: no trial finished cleanly")
    grid_mae, grid_epochs = as_float(grid.best["val_mae"]), grid.total_epochs
    print(
        f"grid:   {len(grid.rows)} trials, {grid_epochs} epochs, {grid_time:.0f} s; best "
        f"{grid.best['trial']}: val MAE {grid_mae:.5g}"
    )

    import json

    grid_split = json.loads((Path(args.grid_dir or out / "grid") / "split.json").read_text())
    budget = int(args.budget * grid_epochs)
    ratios, fractions = [], []
    for seed in split(args.search_seeds, int) or [0]:
        t0 = time.perf_counter()
        search = run_search(
            db,
            out=out / f"search-{args.pruner}-w{args.pruner_warmup}-{seed}",
            space=space,
            trials=3 * space.size,
            pruner=args.pruner,
            pruner_warmup=args.pruner_warmup,
            epoch_budget=budget,
            startup_trials=args.startup_trials,
            sampler_seed=seed,
            keep="none",
            split_ids=grid_split,  # ranked on the grid's own validation rows
            **common,
        )
        if search.best is None:
            print(f"search {seed}: no trial finished cleanly")
            continue
        mae = as_float(search.best["val_mae"])
        ratios.append(mae / grid_mae)
        fractions.append(search.total_epochs / grid_epochs)
        print(
            f"search (TPE seed {seed}, {args.pruner} pruning): {len(search.rows)} trials "
            f"{search.status_counts}, {search.total_epochs} epochs = "
            f"{100 * fractions[-1]:.1f} % of the grid's, {time.perf_counter() - t0:.0f} s; best "
            f"{search.best['trial']}: val MAE {mae:.5g} = {100 * (ratios[-1] - 1):+.1f} % vs grid"
        )
    if ratios:
        hits = sum(r <= 1.05 and f <= args.budget + 1e-9 for r, f in zip(ratios, fractions))
        print(
            f"summary: median search best = {100 * (statistics.median(ratios) - 1):+.1f} % of "
            f"the grid-best validation MAE using a median {100 * statistics.median(fractions):.1f} % "
            f"of its epochs; {hits}/{len(ratios)} searches within 5 % using ≤ "
            f"{100 * args.budget:.0f} % of the epochs"
        )


if __name__ == "__main__":
    main()
