"""The training loop: Adam on MSE, early stopping on validation loss, NaN guard.

The loop is independent of databases and file formats: it takes a model and two batch
sources (:mod:`thermognn.training.batches`) and reports through callbacks, so the run
bookkeeping (:mod:`thermognn.training.run`) and progress display stay outside.
"""

from __future__ import annotations

import copy
import logging
import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import torch

from thermognn.errors import ThermognnError
from thermognn.training.batches import DenseSource, SparseSource

logger = logging.getLogger(__name__)

Source = DenseSource | SparseSource


@dataclass(frozen=True)
class FitConfig:
    """Optimisation settings.

    Attributes
    ----------
    epochs
        Maximum number of epochs.
    patience
        Stop after this many epochs without a lower validation loss.
    lr
        Adam learning rate.
    weight_decay
        Adam weight decay (L2).
    batch_size
        Graphs per training batch.
    seed
        Seed of the batch shuffling (the model's initialisation is seeded by the caller).
    lr_decay
        Factor applied to the learning rate when the validation loss has not improved
        for ``lr_patience`` epochs (``ReduceLROnPlateau``, floor ``lr·1e-3``); 1 = off.
    lr_patience
        Epochs without improvement before the learning rate is reduced.
    """

    epochs: int = 300
    patience: int = 30
    lr: float = 1e-3
    weight_decay: float = 0.0
    batch_size: int = 64
    seed: int = 0
    lr_decay: float = 1.0
    lr_patience: int = 10

    def __post_init__(self) -> None:
        checks = {
            "epochs": self.epochs >= 1,
            "patience": self.patience >= 1,
            "batch_size": self.batch_size >= 1,
            "lr": self.lr > 0 and math.isfinite(self.lr),
            "weight_decay": self.weight_decay >= 0,
            "lr_decay": 0 < self.lr_decay <= 1,
            "lr_patience": self.lr_patience >= 1,
        }
        bad = [name for name, ok in checks.items() if not ok]
        if bad:
            values = ", ".join(f"{name}={getattr(self, name)}" for name in bad)
            raise ThermognnError(f"invalid training settings: {values} (need positive values)")


@dataclass(frozen=True)
class EpochLog:
    """One epoch: losses are mean squared errors of the scaled targets."""

    epoch: int
    epochs: int
    train_loss: float
    val_loss: float
    best_val_loss: float
    best_epoch: int
    seconds: float


@dataclass
class FitResult:
    """Outcome of :func:`fit`; the model holds the best weights afterwards.

    Attributes
    ----------
    best_epoch
        Epoch of the lowest validation loss (0 = the initial model).
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


def fit(
    model: torch.nn.Module,
    train: Source,
    val: Source,
    config: FitConfig,
    *,
    on_epoch: Callable[[EpochLog], None] | None = None,
    on_improve: Callable[[torch.nn.Module, int], None] | None = None,
) -> FitResult:
    """Train ``model`` in place with early stopping; restore the best weights.

    Parameters
    ----------
    model
        The model (already on the sources' device).
    train, val
        Batch sources with scaled targets; ``val`` must not be empty.
    config
        Optimisation settings.
    on_epoch
        Called after every epoch (progress display, logging).
    on_improve
        Called with the model and epoch whenever the validation loss improves
        (e.g. to write the best checkpoint); also for the initial model (epoch 0).

    Returns
    -------
    FitResult
        The best epoch and why training stopped. A non-finite training or validation
        loss stops training at once; the model keeps the last good (best) weights.
    """
    optimizer = make_optimizer(model.parameters(), config.lr, config.weight_decay)
    scheduler = (
        torch.optim.lr_scheduler.ReduceLROnPlateau(
            optimizer,
            factor=config.lr_decay,
            patience=config.lr_patience,
            min_lr=config.lr * 1e-3,
        )
        if config.lr_decay < 1
        else None
    )
    generator = torch.Generator().manual_seed(config.seed)
    best_loss = mse_loss(model, val, config.batch_size)
    if not math.isfinite(best_loss):
        best_loss = math.inf
    best_epoch, best_state = 0, copy.deepcopy(model.state_dict())
    if on_improve is not None:
        on_improve(model, 0)
    result = FitResult(0, best_loss, 0, "max_epochs")
    for epoch in range(1, config.epochs + 1):
        start = time.perf_counter()
        train_loss = train_epoch(model, train, optimizer, config.batch_size, generator)
        val_loss = (
            mse_loss(model, val, config.batch_size) if math.isfinite(train_loss) else math.nan
        )
        finite = math.isfinite(train_loss) and math.isfinite(val_loss)
        if finite and val_loss < best_loss:
            best_loss, best_epoch = val_loss, epoch
            best_state = copy.deepcopy(model.state_dict())
            if on_improve is not None:
                on_improve(model, epoch)
        log = EpochLog(
            epoch,
            config.epochs,
            train_loss,
            val_loss,
            best_loss,
            best_epoch,
            time.perf_counter() - start,
        )
        result.history.append(log)
        result.epochs_run = epoch
        logger.debug("epoch %d: train %.4g, val %.4g", epoch, train_loss, val_loss)
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
        if epoch - best_epoch >= config.patience:
            result.stop_reason = "early_stopping"
            break
        if scheduler is not None:
            scheduler.step(val_loss)
    result.final_lr = float(optimizer.param_groups[0]["lr"])
    model.load_state_dict(best_state)
    result.best_epoch, result.best_val_loss = best_epoch, best_loss
    return result
