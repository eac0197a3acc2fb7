"""Benchmark: the model table of ``reproduce --preset full``'s ``families`` stage, alone.

Runs :func:`thermognn.paper.families.run_families` on the bundled study database: paper-5
(hidden 64, lr 1e-3) and ``moments`` (hidden 32, lr 3e-3) as two arms of one experiment
on the 500 Ag3SBr phonon cells (15 % reserved as the test set, seed k on the same rows
in both arms), every label, paired seeds, the default recipe (up to 1,000 epochs,
patience 100). Prints the model table (parameters, test MAE and R² ± sd over seeds,
seconds per epoch, structures/s on one core) and the paired differences per label.
Resumable: finished models in ``OUT/families/results.csv`` are kept.

Run with (about 20 minutes on 2 quiet cores)::

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_families.py --out /tmp/families
"""

from __future__ import annotations

import argparse
import json
from importlib import resources
from pathlib import Path

from thermognn.paper.families import FAMILY_COLUMNS, family_rows, run_families
from thermognn.paper.summary import difference_text
from thermognn.parallel import ClusterSpec
from thermognn.report.page import csv_rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default="/tmp/bench_families", help="run folder")
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--db", default=None, help="study database (default: bundled)")
    args = parser.parse_args()
    db = Path(args.db or str(resources.files("thermognn") / "data" / "ag3sx_study.db"))
    root = Path(args.out)
    root.mkdir(parents=True, exist_ok=True)
    table = run_families(root, db, args.seeds, ClusterSpec(args.workers))
    print("| " + " | ".join(FAMILY_COLUMNS) + " |")
    print("|---" * len(FAMILY_COLUMNS) + "|")
    for row in family_rows(table):
        print("| " + " | ".join(row) + " |")
    print()
    for d in csv_rows(root / "families" / "differences.csv"):
        print(f"- {difference_text(d)}")
    ratio = {
        label: table["paper-5"]["labels"][label]["mae"] / table["moments"]["labels"][label]["mae"]
        for label in table["moments"]["labels"]
    }
    print("paper-5 MAE / moments MAE: " + json.dumps({k: round(v, 2) for k, v in ratio.items()}))


if __name__ == "__main__":
    main()
