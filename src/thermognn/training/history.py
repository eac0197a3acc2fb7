"""A run's learning curve: ``history.csv`` and ``history.png`` in the run folder."""

from __future__ import annotations

import csv
import math
from collections.abc import Sequence
from pathlib import Path

from thermognn.training.loop import EpochLog

#: Columns of ``history.csv`` (losses are MSEs of the scaled targets).
HISTORY_COLUMNS = (
    "epoch",
    "train_loss",
    "val_loss",
    "smoothed_val_loss",
    "best_val_loss",
    "lr",
    "seconds",
)


def write_history(run_dir: Path, history: Sequence[EpochLog], plot: bool = True) -> None:
    """Write ``history.csv`` (one row per epoch) and, with ``plot``, ``history.png``."""
    with (run_dir / "history.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(HISTORY_COLUMNS)
        for h in history:
            writer.writerow(
                (
                    h.epoch,
                    *(
                        f"{v:.8g}"
                        for v in (
                            h.train_loss,
                            h.val_loss,
                            h.smoothed_val_loss,
                            h.best_val_loss,
                            h.lr,
                        )
                    ),
                    f"{h.seconds:.4f}",
                )
            )
    if plot:
        plot_history(history, run_dir / "history.png")


def plot_history(history: Sequence[EpochLog], path: Path) -> Path:
    """Training, validation and smoothed validation loss per epoch (log scale).

    A dashed line marks the epoch of the kept weights, light lines the epochs where
    the learning rate fell.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(6, 4), layout="constrained")
    FigureCanvasAgg(figure)
    ax = figure.add_subplot()
    epochs = [h.epoch for h in history]
    series = (
        ("train", [h.train_loss for h in history], "#3a6fc4", 1.0),
        ("validation", [h.val_loss for h in history], "#d9822b", 0.5),
        ("validation (smoothed)", [h.smoothed_val_loss for h in history], "#b3261e", 1.0),
    )
    positive = False
    for name, values, colour, alpha in series:
        shown = [v if math.isfinite(v) and v > 0 else math.nan for v in values]
        positive = positive or any(math.isfinite(v) for v in shown)
        ax.plot(epochs, shown, label=name, color=colour, alpha=alpha, lw=1.2)
    if history:
        last = history[-1]
        ax.axvline(last.best_epoch, color="0.4", ls="--", lw=0.8, label="kept weights")
        drops = [b.epoch for a, b in zip(history, history[1:], strict=False) if b.lr < a.lr]
        for epoch in drops:
            ax.axvline(epoch, color="0.8", lw=0.6, zorder=0)
    if positive:  # a log axis needs one finite positive loss (a diverged run may have none)
        ax.set_yscale("log")
    ax.set_xlabel("epoch")
    ax.set_ylabel("MSE (scaled targets)")
    ax.legend(frameon=False, fontsize=8)
    figure.savefig(path, dpi=110)
    return path
