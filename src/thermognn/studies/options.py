"""Settings shared by the grid sweep and the Optuna search: training, split, cluster, output.

:func:`~thermognn.studies.run_sweep` and :func:`~thermognn.studies.run_search` take
these as keyword arguments (``**options``) and read them through :class:`StudyOptions`,
so both document and default them in one place.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from thermognn.errors import ThermognnError
from thermognn.studies.trials import KEEP_CHOICES


@dataclass(frozen=True)
class StudyOptions:
    """How a sweep or a search trains, splits, runs and writes its trials.

    Attributes
    ----------
    epochs, patience, batch_size, device
        Training settings of every trial (default: the base recipe, else
        :class:`~thermognn.settings.TrainSettings`).
    seed
        Seed of the test reservation, the shared subsample and every model's weights.
    split
        (train, val, test) fractions.
    split_ids
        An explicit ``{"train", "val", "test"}`` split by row id (e.g. an experiment's
        pool and reserved test sets, or a grid sweep's ``split.json``): the test rows
        are reserved as given, the trials train and validate on the others.
    workers, scheduler, connect_timeout
        LocalCluster size (``0``: in this process) or the address of a Dask
        scheduler, and how long to wait for it (s).
    keep
        Run folders kept: ``best`` (``out/best``, default), ``all`` (``out/runs/…``
        too) or ``none``.
    cutoff
        Graph cutoff, Å (default: the recipe's).
    cache_dir
        Graph cache folder.
    plots
        Write the violin plots.
    progress
        Called as ``progress(done, total)`` after each trial.
    """

    epochs: int | None = None
    patience: int | None = None
    batch_size: int | None = None
    seed: int = 0
    split: Sequence[float] = (0.7, 0.15, 0.15)
    split_ids: Mapping[str, Sequence[int]] | None = None
    device: str | None = None
    workers: int | None = None
    scheduler: str | None = None
    connect_timeout: float = 10.0
    keep: str = "best"
    cutoff: float | None = None
    cache_dir: str | Path | None = None
    plots: bool = True
    progress: Callable[[int, int], None] | None = None

    def __post_init__(self) -> None:
        if self.keep not in KEEP_CHOICES:
            raise ThermognnError(
                f"keep must be one of {', '.join(KEEP_CHOICES)}, got {self.keep!r}"
            )

    @classmethod
    def of(cls, options: Mapping[str, Any]) -> StudyOptions:
        """Options from keyword arguments; an unknown name is a one-line error."""
        unknown = sorted(set(options) - set(cls.__dataclass_fields__))
        if unknown:
            raise ThermognnError(
                f"unknown study option {', '.join(unknown)} "
                f"(known: {', '.join(cls.__dataclass_fields__)})"
            )
        return cls(**options)

    def train_updates(self) -> dict[str, Any]:
        """Updates for :meth:`~thermognn.settings.TrainSettings.of` (``None``: keep)."""
        return {name: getattr(self, name) for name in _TRAIN_FIELDS}


#: The options that are training settings of every trial (the cutoff is the data's).
_TRAIN_FIELDS = ("epochs", "patience", "batch_size", "seed", "device")
