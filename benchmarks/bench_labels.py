"""Sampling throughput, GFN1-xTB labels/s cold vs warm, and 1 vs 2 Dask workers (40-atom Ag3SBr).

Prints

* configurations/s for each sampling scheme (``--parts sampling``);
* labels/s in one process for today's cold start (a new labeler and tblite calculator
  per row, SCF from scratch) against the warm start (one labeler reused, each SCF from
  the nearest converged result, rows of one parent in order), the speed-up, and the
  largest difference of each label between the two (``--parts warm``; extra
  ``--variant KEY=VALUE`` settings such as ``accuracy=2`` are measured too);
* labels/s of ``label_database`` with 1 and 2 workers and the parallel efficiency
  rate₂ / (2 · rate₁), with and without the cluster's start-up (``--parts parallel``,
  ``--repeat K`` rounds; target ≥ 90 %), split into what the runner controls (the share
  of the run the workers spent labeling) and what it does not (the seconds one label
  takes on a worker when two share the machine's cores).

Run on a quiet machine (timings on a shared machine say little):

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_labels.py [--n 16] [--parts warm]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path
from typing import Any

LABELS = ("energy_per_atom", "band_gap", "vbm", "hydrostatic_stress")


def phonon_cells(folder: Path, n: int, seed: int = 1) -> list[Any]:
    """``n`` phonon-sampled 40-atom Ag3SBr cells (150–600 K) in a fresh study database."""
    from thermognn.database import StudyDatabase
    from thermognn.sampling import SamplingSpec, sample_configurations

    db = StudyDatabase(folder / f"cells{seed}.db")
    spec = SamplingSpec("Ag3SBr", "phonon", n, seed=seed, temperature_range=(150.0, 600.0))
    sample_configurations(db, spec)
    return [row.toatoms() for row in db.select(scheme="phonon")]


def label_all(cells: list[Any], make: Any, fresh: bool) -> tuple[float, list[Any]]:
    """Seconds to label ``cells`` and the labels (``fresh``: a new labeler per cell)."""
    labeler = None
    out = []
    t0 = time.perf_counter()
    for atoms in cells:
        if fresh or labeler is None:
            labeler = make()
        out.append(labeler.label(atoms))
    return time.perf_counter() - t0, out


def warm_vs_cold(cells: list[Any], variants: list[dict[str, Any]], rounds: int = 1) -> None:
    """Print labels/s cold and warm (and per variant), speed-up and largest differences.

    Each round runs cold then every variant, so a load that drifts over the run
    (a shared machine) hits all of them alike; times are summed over the rounds.
    """
    from thermognn.labels.xtb import XTBLabeler

    settings = [{"warm_start": True, **options} for options in [{}, *variants]]
    seconds = [0.0] * len(settings)
    cold_s = 0.0
    cold: list[Any] = []
    labels: list[list[Any]] = [[] for _ in settings]
    for _ in range(rounds):
        dt, cold = label_all(cells, lambda: XTBLabeler(warm_start=False), fresh=True)
        cold_s += dt
        for k, options in enumerate(settings):
            dt, labels[k] = label_all(cells, lambda o=options: XTBLabeler(**o), fresh=False)
            seconds[k] += dt
    n = len(cells) * rounds
    print(f"cold start (new labeler per row): {n / cold_s:.3f} labels/s ({cold_s / n:.2f} s each)")
    for options, warm_s, warm in zip(settings, seconds, labels, strict=True):
        diffs = {
            k: max(abs(getattr(a, k) - getattr(b, k)) for a, b in zip(cold, warm, strict=True))
            for k in LABELS
        }
        shown = ", ".join(f"{k} {v:.1e}" for k, v in diffs.items())
        print(
            f"{json.dumps(options)}: {n / warm_s:.3f} labels/s ({warm_s / n:.2f} s each), "
            f"speed-up {cold_s / warm_s:.2f}×; largest |difference| vs cold: {shown}"
        )


def parallel(folder: Path, n: int, repeat: int = 1) -> None:
    """labels/s of label_database with 1 and 2 LocalCluster workers, ``repeat`` times.

    The cluster is started first and timed on its own; the efficiency is given with the
    start-up counted and without it (the labeling run alone, client connection, worker
    imports and the client's database writes included).
    """
    from thermognn.database import StudyDatabase
    from thermognn.labels import label_database
    from thermognn.parallel import ClusterSpec, open_client
    from thermognn.sampling import SamplingSpec, sample_configurations

    with_start, without = [], []
    for round_ in range(repeat):
        seconds: dict[int, tuple[float, float]] = {}
        for workers in (1, 2):
            db = StudyDatabase(folder / f"label{workers}-{round_}.db")
            # the same cells for both runs: only the number of workers differs
            spec = SamplingSpec("Ag3SBr", "phonon", n, seed=1, temperature_range=(150.0, 600.0))
            sample_configurations(db, spec)
            t0 = time.perf_counter()
            client, cluster = open_client(ClusterSpec(workers))
            up = time.perf_counter() - t0
            t0, cpu0 = time.perf_counter(), time.process_time()
            try:
                s = label_database(db, scheduler=cluster.scheduler_address)
            finally:
                client.close()
                cluster.close()
            dt, cpu = time.perf_counter() - t0, time.process_time() - cpu0
            seconds[workers] = (up, dt)
            print(
                f"labels with {workers} worker(s): {s.labeled} in {dt:.1f} s = "
                f"{(s.labeled + s.failed) / dt:.3f} labels/s ({dt / max(s.labeled, 1):.2f} s "
                f"each) after a cluster start-up of {up:.1f} s; this process (client, "
                f"scheduler, database writes) used {cpu:.1f} s of CPU; one label took "
                f"{s.compute_seconds / max(s.labeled + s.failed, 1):.2f} s on a worker, "
                f"workers busy {s.compute_seconds / (workers * dt):.0%} of the run"
            )
        (up1, dt1), (up2, dt2) = seconds[1], seconds[2]
        with_start.append((up1 + dt1) / (2 * (up2 + dt2)))
        without.append(dt1 / (2 * dt2))
        print(
            f"parallel efficiency 2 workers: {with_start[-1]:.0%} with the cluster start-up, "
            f"{without[-1]:.0%} without (target ≥ 90 %)"
        )
    if repeat > 1:
        print(
            f"over {repeat} rounds: {min(with_start):.0%}–{max(with_start):.0%} with start-up "
            f"(mean {sum(with_start) / repeat:.0%}), {min(without):.0%}–{max(without):.0%} "
            f"without (mean {sum(without) / repeat:.0%})"
        )


def sampling(folder: Path) -> None:
    """Configurations/s of each sampling scheme."""
    from thermognn.database import StudyDatabase
    from thermognn.sampling import SamplingSpec, sample_configurations

    print("sampling (40-atom Ag3SBr, bundled GFN1-xTB force constants):")
    for scheme, kw in (
        ("random", {"amplitude": (0.15, 0.25)}),
        ("phonon", {"temperature_range": (150.0, 600.0)}),
        ("phonon-gaussian", {"temperatures": [300.0]}),
        ("normal-mode", {"temperatures": [300.0]}),
    ):
        db = StudyDatabase(folder / f"{scheme}.db")
        spec = SamplingSpec("Ag3SBr", scheme, 5, seed=1, **kw)
        sample_configurations(db, spec)  # warm-up: phonons, references
        spec.n = 205
        t0 = time.perf_counter()
        sample_configurations(db, spec)
        dt = time.perf_counter() - t0
        print(f"  {scheme:16s} {200 / dt:8.1f} configurations/s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=16, help="configurations per labeling run")
    parser.add_argument(
        "--parts", default="sampling,warm,parallel", help="comma list of sampling, warm, parallel"
    )
    parser.add_argument(
        "--variant",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="extra warm-start setting to measure (e.g. accuracy=2); repeatable",
    )
    parser.add_argument("--rounds", type=int, default=1, help="cold/warm rounds (interleaved)")
    parser.add_argument("--repeat", type=int, default=1, help="rounds of the parallel part")
    args = parser.parse_args()
    parts = set(args.parts.split(","))
    variants = []
    for text in args.variant:
        key, _, value = text.partition("=")
        variants.append({key: json.loads(value)})
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        if "sampling" in parts:
            sampling(folder)
        if "warm" in parts:
            warm_vs_cold(phonon_cells(folder, args.n), variants, args.rounds)
        if "parallel" in parts:
            parallel(folder, args.n, args.repeat)


if __name__ == "__main__":
    main()
