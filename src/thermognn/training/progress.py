"""A rich progress bar for training: epoch, losses, best epoch, ETA (on stderr)."""

from __future__ import annotations

from typing import Any

from thermognn.training.loop import EpochLog


class EpochProgress:
    """Context manager yielding a per-epoch callback that advances a rich bar.

    Parameters
    ----------
    epochs
        Maximum number of epochs (early stopping may end sooner).
    description
        Text in front of the bar.
    """

    def __init__(self, epochs: int, description: str = "training") -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self._bar: Any = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn(
                "train {task.fields[train]}  val {task.fields[val]}  best {task.fields[best]}"
            ),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=Console(stderr=True),
        )
        self._task = self._bar.add_task(description, total=epochs, train="–", val="–", best="–")

    def __enter__(self) -> EpochProgress:
        self._bar.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._bar.stop()

    def __call__(self, log: EpochLog) -> None:
        """Advance the bar by one epoch."""
        self._bar.update(
            self._task,
            completed=log.epoch,
            train=f"{log.train_loss:.4g}",
            val=f"{log.val_loss:.4g}",
            best=f"{log.best_val_loss:.4g} (epoch {log.best_epoch})",
        )
