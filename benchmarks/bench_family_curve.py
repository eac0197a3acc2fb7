"""Benchmark: does the `moments` family pull away from the paper family with more data?

A learning curve of the band gap for paper-5 (hidden 64, lr 1e-3) and ``moments``
(hidden 32, lr 3e-3), the two families of the ``families`` stage, on the 1,000 Ag3SBr
cells of the bundled study database sampled from phonons (``sample_set`` ``phonon``
and ``phonon-renormalised``): one experiment, 15 % of the rows reserved as the test
set, the same training rows for seed k in both arms at every size, 5 paired seeds, the
default recipe. Prints test MAE ± sd per family and size, the ratio paper-5 / moments
and the paired difference at every size. Resumable (``OUT/curve/results.csv``).

Run with (about 15 minutes on 2 quiet cores)::

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_family_curve.py --out /tmp/family_curve
"""

from __future__ import annotations

import argparse
import statistics
from importlib import resources
from pathlib import Path

from thermognn.experiments import run_experiment
from thermognn.paper.families import FAMILIES, families_spec
from thermognn.paper.summary import difference_text
from thermognn.report.page import csv_rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default="/tmp/bench_family_curve", help="run folder")
    parser.add_argument("--sizes", default="100,200,400,700")
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--db", default=None, help="study database (default: bundled)")
    args = parser.parse_args()
    db = Path(args.db or str(resources.files("thermognn") / "data" / "ag3sx_study.db"))
    spec = families_spec(
        args.seeds,
        sample_set=["phonon", "phonon-renormalised"],
        labels=["band_gap"],
        sizes=[int(s) for s in args.sizes.split(",")],
    )
    root = Path(args.out) / "curve"
    experiment = run_experiment(db, spec, out=root, workers=args.workers)
    rows = [r for r in experiment.rows if r["status"] == "ok"]
    sizes = sorted({int(r["n_train"]) for r in rows})
    print("| training cells | " + " | ".join(FAMILIES) + " | paper-5 / moments |")
    print("|---" * (len(FAMILIES) + 2) + "|")
    for size in sizes:
        cells, means = [], {}
        for family in FAMILIES:
            mae = [
                float(r["mae"]) for r in rows if r["arm"] == family and int(r["n_train"]) == size
            ]
            means[family] = statistics.fmean(mae)
            sd = statistics.stdev(mae) if len(mae) > 1 else 0.0
            cells.append(f"{means[family]:.4f} ± {sd:.4f} eV")
        ratio = means["paper-5"] / means["moments"]
        print(f"| {size} | " + " | ".join(cells) + f" | {ratio:.2f}× |")
    print()
    for d in csv_rows(root / "differences.csv"):
        print(f"- {difference_text(d)}")


if __name__ == "__main__":
    main()
