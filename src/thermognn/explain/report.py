"""Explain one or more runs on the same structures and write tables and figures."""

from __future__ import annotations

import csv
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from ase import Atoms

from thermognn.errors import ThermognnError
from thermognn.explain.importance import (
    PAPER_THRESHOLD,
    BondImportance,
    explain_run,
    species_pair_summary,
)
from thermognn.explain.plots import bonds_view_html, plot_importance_densities


def load_structures(files: Sequence[str], db: str | None, query: str, n: int) -> list[Atoms]:
    """Structures from files, or the first ``n`` rows of a study database selection."""
    if files:
        from thermognn.structures import read_structure

        return [read_structure(f) for f in files][:n] if n else [read_structure(f) for f in files]
    if db is None:
        raise ThermognnError("give structure files or --db")
    from thermognn.database import StudyDatabase

    rows = list(StudyDatabase(db, create=False).select(query, limit=n))
    if not rows:
        raise ThermognnError(f"{db}: no rows match {query!r}")
    return [r.toatoms() for r in rows]


def explain_and_write(
    runs: Mapping[str, str | Path],
    structures: Sequence[Atoms],
    out: str | Path,
    *,
    label: str | None = None,
    seeds: Sequence[int] = (0, 1, 2),
    epochs: int = 200,
    threshold: float = PAPER_THRESHOLD,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, list[dict]]:
    """Explain each run; write ``bonds_<name>.csv``, ``pairs.csv``, densities and 3D views."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    results: dict[str, list[BondImportance]] = {}
    total = len(runs) * len(structures)
    for k, (name, run) in enumerate(runs.items()):

        def step(done: int, _n: int, k: int = k) -> None:
            if progress:
                progress(k * len(structures) + done, total)

        results[name] = explain_run(
            run, structures, label=label, seeds=list(seeds), epochs=epochs, progress=step
        )
    summary = {name: species_pair_summary(b, threshold) for name, b in results.items()}
    with (out / "pairs.csv").open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["model", "pair", "bonds", "mean", "median", "fraction_above"])
        for name, rows in summary.items():
            for r in rows:
                w.writerow(
                    [
                        name,
                        r["pair"],
                        r["bonds"],
                        f"{r['mean']:.4f}",
                        f"{r['median']:.4f}",
                        f"{r['fraction_above']:.4f}",
                    ]
                )
    for name, bonds in results.items():
        with (out / f"bonds_{name}.csv").open("w", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(
                ["structure", "source", "target", "shift", "distance_A", "pair", "importance"]
            )
            for s, b in enumerate(bonds):
                for i in range(len(b.importance)):
                    w.writerow(
                        [
                            s,
                            b.source[i],
                            b.target[i],
                            " ".join(str(int(v)) for v in b.shift[i]),
                            f"{b.distance[i]:.4f}",
                            b.pair[i],
                            f"{b.importance[i]:.4f}",
                        ]
                    )
        bonds_view_html(
            structures[0],
            bonds[0],
            out / f"view_{name}.html",
            threshold=threshold,
            title=f"{name}: bonds with importance > {threshold}",
        )
    plot_importance_densities(results, out / "importance_density.png", threshold)
    return summary
