"""The training loop: Adam on MSE, a smoothed-validation stopping rule, NaN guard.

The loop is independent of databases and file formats: it takes a model and two batch
sources (:mod:`thermognn.training.batches`) and reports through callbacks, so the run
bookkeeping (:mod:`thermognn.training.run`) and progress display stay outside.

Why a smoothed rule: the validation sets of the paper's case study are small (75 rows
for 500 cells), so the raw validation loss jumps by tens of percent from one epoch to
the next. A patience counted on the raw loss is reset only by a new record low, and one
lucky epoch can hold that record for longer than the patience while the trend is still
falling; the run then stops far from convergence. :class:`PlateauRule` decides on an
exponential moving average of the validation loss instead and counts an improvement
only beyond a relative ``min_delta``; the weights kept are still those of the lowest
raw validation loss.
"""

from __future__ import annotations

import copy
import logging
import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import torch

from thermognn.settings import TrainSettings
from thermognn.training.batches import DenseSource, SparseSource

logger = logging.getLogger(__name__)

Source = DenseSource | SparseSource

#: Older name of the loop's settings: :func:`fit` takes :class:`TrainSettings`.
FitConfig = TrainSettings

#: Floor of the decayed learning rate, relative to the initial one.
MIN_LR_FACTOR = 1e-3

_TINY = 1e-300


@dataclass(frozen=True)
class EpochLog:
    """One epoch: losses are mean squared errors of the scaled targets.

    Attributes
    ----------
    smoothed_val_loss
        Exponential moving average of the validation loss (geometric, bias-corrected;
        :class:`PlateauRule`), the quantity the stopping rule and the schedule see.
    lr
        Learning rate used during the epoch.
    """

    epoch: int
    epochs: int
    train_loss: float
    val_loss: float
    best_val_loss: float
    best_epoch: int
    seconds: float
    smoothed_val_loss: float = math.nan
    lr: float = math.nan


@dataclass
class FitResult:
    """Outcome of :func:`fit`; the model holds the best weights afterwards.

    Attributes
    ----------
    best_epoch
        Epoch of the lowest raw validation loss (0 = the initial model).
    best_val_loss
        That loss (scaled units).
    epochs_run
        Epochs trained.
    stop_reason
        ``max_epochs``, ``early_stopping`` or ``nan_loss``.
    history
        One :class:`EpochLog` per epoch.
    final_lr
        The learning rate at the end (lower than the initial one after plateaus when
        ``lr_decay`` < 1).
    """

    best_epoch: int
    best_val_loss: float
    epochs_run: int
    stop_reason: str
    history: list[EpochLog] = field(default_factory=list)
    final_lr: float = math.nan


@dataclass
class PlateauRule:
    """Early stopping and learning-rate decay on a smoothed validation loss.

    Feed it one validation loss per epoch (:meth:`update`). It keeps the bias-corrected
    exponential moving average of the log loss, s_t = exp(EMA_smoothing(ln loss)) (a
    running geometric mean: one epoch's spike of ×10 moves it far less than it moves an
    arithmetic mean, and relative changes weigh the same at every scale); an epoch
    *improves* when
    s_t < (1 − min_delta)·best s so far. ``patience`` epochs without an improvement
    stop training (never before ``min_epochs``); ``lr_patience`` epochs without an
    improvement or a decay ask for a learning-rate decay. With ``smoothing = 0`` and
    ``min_delta = 0`` this is the plain patience rule on the raw loss.

    Attributes
    ----------
    patience, lr_patience, smoothing, min_delta, min_epochs
        As in :class:`~thermognn.settings.TrainSettings`.
    smoothed
        The current smoothed loss (NaN before the first update).
    best
        Lowest smoothed loss that counted as an improvement.
    improved_epoch
        Epoch of that improvement (0 before any).
    """

    patience: int
    lr_patience: int = 10**9
    smoothing: float = 0.9
    min_delta: float = 1e-3
    min_epochs: int = 0
    smoothed: float = math.nan
    best: float = math.inf
    improved_epoch: int = 0
    epoch: int = 0
    _average: float = 0.0
    _weight: float = 0.0
    _last_action: int = 0

    @classmethod
    def of(cls, settings: TrainSettings) -> PlateauRule:
        """The rule of a training recipe."""
        return cls(
            patience=settings.patience,
            lr_patience=settings.lr_patience,
            smoothing=settings.smoothing,
            min_delta=settings.min_delta,
            min_epochs=settings.min_epochs,
        )

    def update(self, loss: float) -> tuple[bool, bool]:
        """Record the next epoch's validation loss.

        Returns
        -------
        tuple of bool
            ``(decay_lr, stop)``: whether to reduce the learning rate now, and whether
            to stop training after this epoch.
        """
        self.epoch += 1
        a = self.smoothing
        self._average = a * self._average + (1 - a) * math.log(max(loss, _TINY))
        self._weight = a * self._weight + (1 - a)
        self.smoothed = math.exp(self._average / self._weight)
        if self.smoothed < self.best * (1 - self.min_delta) or self.best == math.inf:
            self.best, self.improved_epoch = self.smoothed, self.epoch
            self._last_action = self.epoch
        decay = self.epoch - self._last_action >= self.lr_patience
        if decay:
            self._last_action = self.epoch
        stale = self.epoch - self.improved_epoch >= self.patience
        return decay, stale and self.epoch >= self.min_epochs


def make_optimizer(
    parameters: Iterable[torch.nn.Parameter], lr: float, weight_decay: float = 0.0
) -> torch.optim.Optimizer:
    """Adam, fused where torch supports it (several times faster per step on CPU)."""
    params = list(parameters)
    try:
        return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay, fused=True)
    except (RuntimeError, TypeError, ValueError):
        return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)


def mse_loss(model: torch.nn.Module, source: Source, batch_size: int) -> float:
    """Mean squared error of the scaled targets over a whole source (eval mode)."""
    was_training = model.training
    model.eval()
    total, count = 0.0, 0
    with torch.no_grad():
        for inputs, y in source.batches(batch_size):
            assert y is not None
            total += float(
                torch.nn.functional.mse_loss(source.forward(model, inputs), y, reduction="sum")
            )
            count += y.numel()
    model.train(was_training)
    return total / max(count, 1)


def train_epoch(
    model: torch.nn.Module,
    source: Source,
    optimizer: torch.optim.Optimizer,
    batch_size: int,
    generator: torch.Generator,
) -> float:
    """One pass over shuffled training batches; NaN as soon as a batch loss is not finite.

    Returns
    -------
    float
        Mean training loss over the epoch's targets, or NaN (no step taken on that batch).
    """
    model.train()
    total, count = 0.0, 0
    for inputs, y in source.batches(batch_size, generator):
        assert y is not None
        optimizer.zero_grad(set_to_none=True)
        loss = torch.nn.functional.mse_loss(source.forward(model, inputs), y)
        if not torch.isfinite(loss):
            return math.nan
        loss.backward()
        optimizer.step()
        total += float(loss.detach()) * y.numel()
        count += y.numel()
    return total / max(count, 1)


def _decay_lr(optimizer: torch.optim.Optimizer, factor: float, floor: float) -> None:
    for group in optimizer.param_groups:
        group["lr"] = max(group["lr"] * factor, floor)


def fit(
    model: torch.nn.Module,
    train: Source,
    val: Source,
    settings: TrainSettings,
    *,
    on_epoch: Callable[[EpochLog], None] | None = None,
    on_improve: Callable[[torch.nn.Module, int], None] | None = None,
) -> FitResult:
    """Train ``model`` in place; stop on a smoothed plateau; restore the best weights.

    Parameters
    ----------
    model
        The model (already on the sources' device).
    train, val
        Batch sources with scaled targets; ``val`` must not be empty.
    settings
        The recipe: ``lr``, ``weight_decay``, ``batch_size``, ``seed`` (batch order),
        ``epochs`` and the :class:`PlateauRule` fields; ``lr_decay`` < 1 multiplies the
        learning rate on a smoothed plateau of ``lr_patience`` epochs (floor
        ``lr``·:data:`MIN_LR_FACTOR`).
    on_epoch
        Called after every epoch (progress display, logging).
    on_improve
        Called with the model and epoch whenever the raw validation loss reaches a new
        low (e.g. to write the best checkpoint); also for the initial model (epoch 0).

    Returns
    -------
    FitResult
        The best epoch and why training stopped. A non-finite training or validation
        loss stops training at once; the model keeps the last good (best) weights.
    """
    optimizer = make_optimizer(model.parameters(), settings.lr, settings.weight_decay)
    rule = PlateauRule.of(settings)
    generator = torch.Generator().manual_seed(settings.seed)
    best_loss = mse_loss(model, val, settings.batch_size)
    if not math.isfinite(best_loss):
        best_loss = math.inf
    best_epoch, best_state = 0, copy.deepcopy(model.state_dict())
    if on_improve is not None:
        on_improve(model, 0)
    result = FitResult(0, best_loss, 0, "max_epochs")
    for epoch in range(1, settings.epochs + 1):
        start = time.perf_counter()
        lr = float(optimizer.param_groups[0]["lr"])
        train_loss = train_epoch(model, train, optimizer, settings.batch_size, generator)
        val_loss = (
            mse_loss(model, val, settings.batch_size) if math.isfinite(train_loss) else math.nan
        )
        finite = math.isfinite(train_loss) and math.isfinite(val_loss)
        if finite and val_loss < best_loss:
            best_loss, best_epoch = val_loss, epoch
            best_state = copy.deepcopy(model.state_dict())
            if on_improve is not None:
                on_improve(model, epoch)
        decay, stop = rule.update(val_loss) if finite else (False, False)
        log = EpochLog(
            epoch,
            settings.epochs,
            train_loss,
            val_loss,
            best_loss,
            best_epoch,
            time.perf_counter() - start,
            rule.smoothed,
            lr,
        )
        result.history.append(log)
        result.epochs_run = epoch
        logger.debug("epoch %d: train %.4g, val %.4g, lr %.3g", epoch, train_loss, val_loss, lr)
        if on_epoch is not None:
            on_epoch(log)
        if not finite:
            logger.warning(
                "loss became NaN/inf at epoch %d; stopped, keeping the weights of epoch %d",
                epoch,
                best_epoch,
            )
            result.stop_reason = "nan_loss"
            break
        if stop:
            result.stop_reason = "early_stopping"
            break
        if decay and settings.lr_decay < 1:
            _decay_lr(optimizer, settings.lr_decay, settings.lr * MIN_LR_FACTOR)
    result.final_lr = float(optimizer.param_groups[0]["lr"])
    model.load_state_dict(best_state)
    result.best_epoch, result.best_val_loss = best_epoch, best_loss
    return result
