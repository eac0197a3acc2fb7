"""Sampling throughput, and GFN1-xTB labels/s with 1 and 2 Dask workers (40-atom Ag3SBr).

Prints configurations/s for each sampling scheme, labels/s with 1 and 2 workers and the
parallel efficiency (rate₂ / (2 · rate₁); target ≥ 85 %). Run on a quiet machine:

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_labels.py [--n 16]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=16, help="configurations per labeling run")
    args = parser.parse_args()

    from thermognn.database import StudyDatabase
    from thermognn.labels import label_database
    from thermognn.sampling import SamplingSpec, sample_configurations

    with tempfile.TemporaryDirectory() as tmp:
        print("sampling (40-atom Ag3SBr, bundled GFN1-xTB force constants):")
        for scheme, kw in (
            ("random", {"amplitude": (0.15, 0.25)}),
            ("phonon", {"temperature_range": (150.0, 600.0)}),
            ("phonon-gaussian", {"temperatures": [300.0]}),
            ("normal-mode", {"temperatures": [300.0]}),
        ):
            db = StudyDatabase(Path(tmp) / f"{scheme}.db")
            spec = SamplingSpec("Ag3SBr", scheme, 5, seed=1, **kw)
            sample_configurations(db, spec)  # warm-up: phonons, references
            spec.n = 205
            t0 = time.perf_counter()
            sample_configurations(db, spec)
            dt = time.perf_counter() - t0
            print(f"  {scheme:16s} {200 / dt:8.1f} configurations/s")
        rates = {}
        for workers in (1, 2):
            db = StudyDatabase(Path(tmp) / f"label{workers}.db")
            sample_configurations(
                db,
                SamplingSpec(
                    "Ag3SBr", "phonon", args.n, seed=workers, temperature_range=(150.0, 600.0)
                ),
            )
            t0 = time.perf_counter()
            s = label_database(db, workers=workers)
            dt = time.perf_counter() - t0
            rates[workers] = (s.labeled + s.failed) / dt
            print(
                f"labels with {workers} worker(s): {s.labeled} in {dt:.1f} s = "
                f"{rates[workers]:.3f} labels/s ({dt / max(s.labeled, 1):.2f} s each, "
                f"cluster start-up included)"
            )
        print(f"parallel efficiency 2 workers: {rates[2] / (2 * rates[1]):.0%} (target ≥ 85 %)")


if __name__ == "__main__":
    main()
