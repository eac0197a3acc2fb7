"""Figures of the studies: sweep violins (paper Figs. S5–S8) and learning curves (Fig. 4).

Figures are drawn on :class:`matplotlib.figure.Figure` objects and saved with the Agg
renderer, without pyplot, so nothing global (backend, open figures) is touched.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from thermognn.experiments.records import as_float

logger = logging.getLogger(__name__)

#: Rows (hyperparameters) and columns (validation metrics) of the violin figure.
VIOLIN_PARAMS = (
    ("model", "architecture"),
    ("lr", "learning rate"),
    ("hidden", "hidden channels"),
    ("dropout", "dropout"),
)
VIOLIN_METRICS = (("r2", "R²"), ("mae", "MAE"), ("mse", "MSE"))
#: More distinct values than this (an Optuna search of ranges) are binned in the violins.
MAX_CATEGORIES = 8
#: Equal-width bins of a binned hyperparameter other than the learning rate (by decade).
VIOLIN_BINS = 4


def _save(figure: Any, path: Path, formats: Sequence[str]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=150)
    for fmt in formats:
        figure.savefig(path.with_suffix(f".{fmt}"))
    return path


def _category_label(param: str, value: str) -> str:
    if param == "lr":
        return f"{as_float(value):.0e}"
    if param in ("hidden", "dropout"):
        return f"{as_float(value):g}"
    return value


def _sort_key(param: str, value: str) -> Any:
    return value if param == "model" else as_float(value)


def violin_categories(param: str, rows: Sequence[Mapping[str, str]]) -> tuple[Any, list[str]]:
    """Per row the index of its violin, and the violins' labels in order.

    Each value is a violin; a searched hyperparameter with more than
    :data:`MAX_CATEGORIES` values is binned: the learning rate by decade, others in
    :data:`VIOLIN_BINS` equal bins of their range.
    """
    raw = [r[param] for r in rows]
    distinct = sorted(set(raw), key=partial(_sort_key, param))
    numbers = np.array([as_float(v) for v in raw]) if param != "model" else np.array([])
    if len(distinct) <= MAX_CATEGORIES or not np.isfinite(numbers).all():
        index = {c: k for k, c in enumerate(distinct)}
        return np.array([index[v] for v in raw]), [_category_label(param, c) for c in distinct]
    if param == "lr" and (numbers > 0).all():
        decade = np.floor(np.log10(numbers)).astype(int).tolist()
        used = sorted(set(decade))
        return np.array([used.index(d) for d in decade]), [f"1e{k}–1e{k + 1}" for k in used]
    edges = np.linspace(numbers.min(), numbers.max(), VIOLIN_BINS + 1)
    bins = np.clip(np.searchsorted(edges, numbers, side="right") - 1, 0, VIOLIN_BINS - 1).tolist()
    used = sorted(set(bins))
    labels = [f"{edges[b]:.2g}–{edges[b + 1]:.2g}" for b in used]
    return np.array([used.index(b) for b in bins]), labels


def plot_violins(
    rows: Sequence[Mapping[str, str]],
    path: str | Path,
    *,
    r2_floor: float = -1.0,
    formats: Sequence[str] = (),
) -> Path | None:
    """Violin plots of validation R², MAE and MSE per hyperparameter value.

    Parameters
    ----------
    rows
        ``trials.csv`` rows; trials with validation metrics (``ok`` or ``diverged``)
        are drawn.
    path
        PNG file to write.
    r2_floor
        Trials with validation R² below this are left out (the paper dropped R² < −1).
    formats
        Extra formats written beside the PNG (``svg``, ``pdf``).

    Returns
    -------
    Path or None
        The PNG, or ``None`` when no trial has metrics to show.
    """
    from matplotlib.figure import Figure

    scored = [r for r in rows if math.isfinite(as_float(r.get("val_mae")))]
    shown = [r for r in scored if not as_float(r.get("val_r2")) < r2_floor]
    if not shown:
        logger.info("no trial with validation metrics to plot")
        return None
    values = {
        "r2": np.array([as_float(r["val_r2"]) for r in shown]),
        "mae": np.array([as_float(r["val_mae"]) for r in shown]),
        "mse": np.array([as_float(r["val_rmse"]) ** 2 for r in shown]),
    }
    figure = Figure(figsize=(11, 12), layout="constrained")
    axes = figure.subplots(len(VIOLIN_PARAMS), len(VIOLIN_METRICS), squeeze=False)
    for i, (param, title) in enumerate(VIOLIN_PARAMS):
        which, categories = violin_categories(param, shown)
        for j, (metric, name) in enumerate(VIOLIN_METRICS):
            ax = axes[i][j]
            groups = [values[metric][which == k] for k in range(len(categories))]
            groups = [g[np.isfinite(g)] for g in groups]
            where = [k for k, g in enumerate(groups) if len(g) >= 2]
            if where:
                ax.violinplot([groups[k] for k in where], positions=where, showmedians=True)
            for k, g in enumerate(groups):
                jitter = np.linspace(-0.08, 0.08, len(g)) if len(g) > 1 else np.zeros(len(g))
                ax.scatter(k + jitter, g, s=6, color="k", alpha=0.4, zorder=3)
            ax.set_xticks(range(len(categories)))
            ax.set_xticklabels(categories, fontsize=8)
            ax.set_xlabel(title)
            ax.set_ylabel(f"validation {name}")
    left_out = len(scored) - len(shown)
    figure.suptitle(
        f"{len(shown)} trials"
        + (f" ({left_out} with R² < {r2_floor:g} left out)" if left_out else "")
    )
    return _save(figure, Path(path), formats)


def curve_summary(
    rows: Sequence[Mapping[str, str]], metric: str, spread: str = "std"
) -> dict[tuple[str, str], tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]]:
    """Mean and band of ``metric`` vs size, per (test set, training scheme).

    Returns
    -------
    dict
        ``{(test_set, train_scheme): (sizes, mean, low, high)}`` over ``ok`` runs;
        the band is mean ± standard deviation (``std``) or the min–max range
        (``minmax``).
    """
    if spread not in ("std", "minmax"):
        raise ValueError(f"spread must be 'std' or 'minmax', got {spread!r}")
    collected: dict[tuple[str, str], dict[int, list[float]]] = {}
    for r in rows:
        value = as_float(r.get(metric))
        if r.get("status") != "ok" or not math.isfinite(value):
            continue
        key = (r["test_set"], r.get("arm") or r["train_scheme"])
        collected.setdefault(key, {}).setdefault(int(as_float(r["size"])), []).append(value)
    out = {}
    for key, by_size in collected.items():
        sizes = np.array(sorted(by_size))
        samples = [np.array(by_size[s]) for s in sizes]
        mean = np.array([v.mean() for v in samples])
        if spread == "std":
            std = np.array([v.std(ddof=1) if len(v) > 1 else 0.0 for v in samples])
            low, high = mean - std, mean + std
        else:
            low, high = np.array([v.min() for v in samples]), np.array([v.max() for v in samples])
        out[key] = (sizes, mean, low, high)
    return out


def plot_learning_curves(
    rows: Sequence[Mapping[str, str]],
    path: str | Path,
    *,
    spread: str = "std",
    metrics: Sequence[str] = ("mae", "r2"),
    unit: str = "",
    formats: Sequence[str] = (),
) -> Path | None:
    """Learning curves: one panel per test set and metric, one line per training scheme.

    Parameters
    ----------
    rows
        ``curves.csv`` rows.
    path
        PNG file to write.
    spread
        ``std`` (mean ± standard deviation over seeds) or ``minmax`` band.
    metrics
        Metrics, one row of panels each.
    unit
        Unit of the label (axis labels of MAE/RMSE).
    formats
        Extra formats written beside the PNG.

    Returns
    -------
    Path or None
        The PNG, or ``None`` when no run finished.
    """
    from matplotlib.figure import Figure

    summaries = {m: curve_summary(rows, m, spread) for m in metrics}
    if not any(summaries.values()):
        logger.info("no finished run to plot")
        return None
    test_sets = list(dict.fromkeys(r["test_set"] for r in rows))
    schemes = list(dict.fromkeys(r.get("arm") or r["train_scheme"] for r in rows))
    colors = {s: f"C{k}" for k, s in enumerate(schemes)}
    figure = Figure(figsize=(4 * len(test_sets), 3.2 * len(metrics)), layout="constrained")
    axes = figure.subplots(len(metrics), len(test_sets), squeeze=False, sharex=True)
    for i, metric in enumerate(metrics):
        for j, test_set in enumerate(test_sets):
            ax = axes[i][j]
            for scheme in schemes:
                if (test_set, scheme) not in summaries[metric]:
                    continue
                sizes, mean, low, high = summaries[metric][(test_set, scheme)]
                ax.plot(sizes, mean, "o-", color=colors[scheme], label=f"trained on {scheme}")
                ax.fill_between(sizes, low, high, color=colors[scheme], alpha=0.2)
            ax.set_xscale("log")
            ticks = sorted({int(s) for key, v in summaries[metric].items() for s in v[0]})
            ax.set_xticks(ticks, [str(t) for t in ticks], fontsize=8)
            ax.minorticks_off()
            suffix = f" ({unit})" if unit and metric in ("mae", "rmse") else ""
            ax.set_ylabel(("R²" if metric == "r2" else metric.upper()) + suffix)
            if i == 0:
                ax.set_title(f"test: {test_set}")
            if i == len(metrics) - 1:
                ax.set_xlabel("training structures")
    axes[0][0].legend(fontsize=8)
    band = "mean ± std" if spread == "std" else "mean, min–max"
    figure.suptitle(f"learning curves ({band} over seeds)")
    return _save(figure, Path(path), formats)
