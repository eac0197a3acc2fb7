"""The model spread of ``reproduce``: the seeds' combined-arm models as one ensemble.

The five paired seeds of the combined arm at the largest size are five models of one
setting, differing in weights, batch order and (below the pool size) training rows: a
deep ensemble. On the reserved test rows every member predicts, and the ensemble gives
a mean μ and a spread σ (standard deviation over members) per structure. Whether σ can
be read as an error bar is measured, not assumed: the test rows are split by row-id
parity, one scale per label is fitted on the even rows
(:func:`~thermognn.training.calibration.calibrate`) and the coverage of μ ± σ and
μ ± 2σ is reported, raw and calibrated, on the odd rows only.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import numpy as np

from thermognn.experiments.records import write_json


def seed_ensemble(
    run_dirs: list[Path], label: str, split: str = "test"
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Row ids, true values, ensemble mean and spread on the rows every run predicted.

    Parameters
    ----------
    run_dirs
        Run folders with ``predictions.csv`` (columns ``row_id, split, label, true,
        predicted``).
    label
        Label to read.
    split
        Split of the rows (``test``: the reserved test rows, the same in every run).
    """
    members: list[dict[int, tuple[float, float]]] = []
    for run in run_dirs:
        with (run / "predictions.csv").open() as fh:
            members.append(
                {
                    int(r["row_id"]): (float(r["true"]), float(r["predicted"]))
                    for r in csv.DictReader(fh)
                    if r["label"] == label and r["split"] == split
                }
            )
    common = sorted(set.intersection(*(set(m) for m in members))) if members else []
    ids = np.array(common, dtype=np.int64)
    true = np.array([members[0][i][0] for i in common])
    predicted = np.array([[m[i][1] for i in common] for m in members])  # [members, rows]
    std = predicted.std(axis=0, ddof=1) if len(members) > 1 else np.zeros(len(common))
    return ids, true, predicted.mean(axis=0), std


def spread_stage(root: Path, run_dirs: dict[str, list[Path]]) -> dict[str, Any]:
    """Calibration of the seed ensemble per label; ``spread.json`` and two figures.

    Parameters
    ----------
    root
        Run folder of ``reproduce`` (writes ``spread.json``,
        ``figures/calibration.png`` and ``figures/spread_<label>.png``).
    run_dirs
        Per label, the combined arm's run folders at the largest size (one per seed).
    """
    from thermognn.training.calibration import calibrate, plot_calibration

    out: dict[str, Any] = {}
    (root / "figures").mkdir(parents=True, exist_ok=True)
    for label, runs in run_dirs.items():
        if len(runs) < 2:
            continue
        ids, true, mean, std = seed_ensemble(runs, label)
        if len(ids) < 10:
            continue
        fit, report = np.flatnonzero(ids % 2 == 0), np.flatnonzero(ids % 2 == 1)
        entry = calibrate(true[:, None], mean[:, None], std[:, None], fit, report, [label])
        out[label] = {
            **entry[label],
            "members": len(runs),
            "ensemble_mae": float(np.mean(np.abs(mean - true))),
            "mean_std": float(np.mean(std)),
        }
        _spread_figure(root / "figures" / f"spread_{label}.png", label, true, mean, std)
    if out:
        plot_calibration(root / "figures" / "calibration.png", out)
    write_json(root / "spread.json", out)
    return out


def _spread_figure(
    path: Path, label: str, true: np.ndarray, mean: np.ndarray, std: np.ndarray
) -> Path:
    """Ensemble mean ± σ against the label, and |error| against σ."""
    from thermognn.graphs import LABEL_UNITS
    from thermognn.plotting import pyplot, save_figure

    plt = pyplot()
    unit = LABEL_UNITS.get(label, "")
    fig, (left, right) = plt.subplots(1, 2, figsize=(8.0, 3.7))
    left.errorbar(true, mean, yerr=std, fmt="o", ms=2, lw=0.5, alpha=0.6)
    lo, hi = float(min(true.min(), mean.min())), float(max(true.max(), mean.max()))
    left.plot([lo, hi], [lo, hi], "k--", lw=0.8)
    left.set(xlabel=f"xTB {label} ({unit})", ylabel=f"ensemble mean ± σ ({unit})")
    error = np.abs(mean - true)
    right.scatter(std, error, s=4, alpha=0.6)
    top = float(max(std.max(), 1e-12))
    right.plot([0, top], [0, top], "k--", lw=0.8, label="|error| = σ")
    right.plot([0, top], [0, 2 * top], "k:", lw=0.8, label="|error| = 2σ")
    right.set(xlabel=f"spread σ ({unit})", ylabel=f"|error| ({unit})")
    right.legend(fontsize=7)
    return save_figure(fig, path, dpi=120)
