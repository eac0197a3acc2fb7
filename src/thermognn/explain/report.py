"""Explain groups of runs (e.g. a best setting's seeds vs a poor model) and write files.

Files written to the output folder, one *group* being one or more models explained on
the same structures (paper Fig. 5: ``best`` and a poorly performing model):

``importance_by_model.csv``  tidy: group, pair, model, mean_importance, frac_above,
                             n_edges (atom pairs) — one row per model and species pair
``importance_summary.json``  per group and pair: mean over models, 95 % interval,
                             per-model values; rows explained, settings
``pairs.csv``                per group and pair, means over models: ``bonds``, ``mean``
                             importance, ``fraction_above`` (the HTML report's table),
                             with interval bounds
``bonds_<group>.csv``        every bond of every structure and model
``view_<group>.html``        3D view of the first structure, first model
``importance_density.png``   importance densities per group (all its models pooled)
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from ase import Atoms

from thermognn.errors import ThermognnError
from thermognn.explain.models import ModelExplanations, explain_structures
from thermognn.explain.plots import bonds_view_html, plot_importance_densities
from thermognn.explain.rows import check_runs, load_rows, model_names, query_ids, select_rows

Runs = str | Path | Sequence[str | Path] | Mapping[str, str | Path]


def load_structures(files: Sequence[str], db: str | None, query: str, n: int) -> list[Atoms]:
    """Structures from files, or the first ``n`` rows of a study database selection.

    Prefer :func:`explain_db_and_write`, which explains test rows only.
    """
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


def _as_runs(runs: Runs) -> Sequence[str | Path] | Mapping[str, str | Path]:
    return [runs] if isinstance(runs, (str, Path)) else runs


def explain_and_write(
    groups: Mapping[str, Runs],
    structures: Sequence[Atoms],
    out: str | Path,
    *,
    seeds: Sequence[int] = (0, 1, 2),
    progress: Callable[[int, int], None] | None = None,
    **settings: Any,
) -> dict[str, ModelExplanations]:
    """Explain every group's models on the same structures and write the files above.

    Parameters
    ----------
    groups
        ``{group: run folder | [run folders] | {model name: run folder}}``, e.g.
        ``{"best": seed_runs, "poor": poor_run}``.
    structures
        Crystals to explain.
    out
        Output folder (created).
    seeds
        GNNExplainer seeds averaged per graph.
    progress
        Called as ``progress(done, total)`` over all models × structures.
    **settings
        ``row_ids``, ``label``, ``epochs``, ``threshold``, ``interval_method``,
        ``confidence``, ``seed``: as :func:`thermognn.explain.models.explain_structures`.

    Returns
    -------
    dict
        ``{group: ModelExplanations}``.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    named = {g: model_names(_as_runs(r)) for g, r in groups.items()}
    total = sum(len(r) for r in named.values()) * len(structures)
    results: dict[str, ModelExplanations] = {}
    done = 0
    for group, runs in named.items():

        def step(k: int, _n: int, offset: int = done) -> None:
            if progress:
                progress(offset + k, total)

        results[group] = explain_structures(
            runs, structures, explainer_seeds=seeds, progress=step, **settings
        )
        done += len(runs) * len(structures)
    write_explanations(results, structures, out)
    return results


def explain_db_and_write(
    groups: Mapping[str, Runs],
    db: str | Path,
    out: str | Path,
    *,
    row_ids: Sequence[int] | None = None,
    n_structures: int | None = 8,
    query: str | None = None,
    allow_train_rows: bool = False,
    seed: int = 0,
    **kwargs,
) -> dict[str, ModelExplanations]:
    """:func:`explain_and_write` on database rows that no model of any group trained on.

    Rows: ``row_ids`` (checked against every model's training split unless
    ``allow_train_rows``), else the test rows all models share, at most
    ``n_structures`` (seeded subset), matching ``query`` if given. See
    :func:`thermognn.explain.rows.select_rows`; other keywords go to
    :func:`explain_and_write`.
    """
    every = [p for r in groups.values() for p in model_names(_as_runs(r)).values()]
    check_runs(every, kwargs.get("label"))
    rows = select_rows(
        every,
        row_ids,
        n_structures=n_structures,
        allow_train_rows=allow_train_rows,
        among=None if query is None else query_ids(db, query),
        seed=seed,
    )
    return explain_and_write(groups, load_rows(db, rows), out, row_ids=rows, seed=seed, **kwargs)


def _fmt(value: float) -> str:
    return "" if value != value else f"{value:.4f}"  # NaN (one model) → empty cell


def write_explanations(
    results: Mapping[str, ModelExplanations], structures: Sequence[Atoms], out: str | Path
) -> None:
    """Write the tables, summary, bond lists, 3D views and densities of explained groups."""
    out = Path(out)
    with (out / "importance_by_model.csv").open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["group", "pair", "model", "mean_importance", "frac_above", "n_edges"])
        for group, res in results.items():
            for r in res.per_model():
                w.writerow(
                    [group, r["pair"], r["model"], _fmt(r["mean_importance"])]
                    + [_fmt(r["frac_above"]), r["n_edges"]]
                )
    summary = {group: res.to_dict() for group, res in results.items()}
    (out / "importance_summary.json").write_text(json.dumps(summary, indent=1))
    with (out / "pairs.csv").open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(
            ["model", "pair", "n_models", "bonds", "mean", "mean_lo", "mean_hi"]
            + ["fraction_above", "fraction_above_lo", "fraction_above_hi"]
        )
        for group, res in results.items():
            for e in res.summary():
                w.writerow(
                    [group, e["pair"], e["n_models"], f"{e['n_edges']:.1f}"]
                    + [_fmt(e[k]) for k in ("mean_importance", "mean_importance_lo")]
                    + [_fmt(e[k]) for k in ("mean_importance_hi", "frac_above")]
                    + [_fmt(e[k]) for k in ("frac_above_lo", "frac_above_hi")]
                )
    for group, res in results.items():
        _write_bonds(res, out / f"bonds_{group}.csv")
        first = next(iter(res.bonds.values()))
        bonds_view_html(
            structures[0],
            first[0],
            out / f"view_{group}.html",
            threshold=res.threshold,
            title=f"{group} ({next(iter(res.bonds))}): bonds with importance > {res.threshold}",
        )
    pooled = {g: [b for bonds in r.bonds.values() for b in bonds] for g, r in results.items()}
    threshold = next(iter(results.values())).threshold
    plot_importance_densities(pooled, out / "importance_density.png", threshold)


def _write_bonds(res: ModelExplanations, path: Path) -> None:
    """Every bond: model, structure (row id where known), atoms, image, length, importance."""
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(
            ["model", "structure", "row_id", "source", "target", "shift", "distance_A"]
            + ["pair", "importance"]
        )
        for model, bonds in res.bonds.items():
            for s, b in enumerate(bonds):
                rid = "" if res.row_ids is None else res.row_ids[s]
                for i in range(len(b.importance)):
                    w.writerow(
                        [model, s, rid, b.source[i], b.target[i]]
                        + [" ".join(str(int(v)) for v in b.shift[i]), f"{b.distance[i]:.4f}"]
                        + [b.pair[i], f"{b.importance[i]:.4f}"]
                    )
