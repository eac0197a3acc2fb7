"""The hyperparameter space of the paper's sweep and named sub-grids.

The paper trained every combination of six architectures, five learning rates, four
hidden sizes and four dropout probabilities — 480 models per property (its SI
Figs. S5–S8). :class:`SearchSpace` is that space (or any part of it); the grid sweep
trains every :class:`TrialPoint` of it, the Optuna search samples it as categoricals.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from thermognn.errors import ThermognnError

#: Hyperparameters of a trial, in table order.
HPARAM_NAMES = ("model", "lr", "hidden", "dropout")


@dataclass(frozen=True)
class TrialPoint:
    """One combination of the space.

    Attributes
    ----------
    model
        Registry name (``paper-1`` …).
    lr
        Adam learning rate.
    hidden
        Hidden channels.
    dropout
        Dropout probability.
    """

    model: str
    lr: float
    hidden: int
    dropout: float

    @property
    def trial_id(self) -> str:
        """Stable identifier, e.g. ``paper-3_lr0.0001_h64_d0.2``."""
        return f"{self.model}_lr{self.lr:g}_h{self.hidden}_d{self.dropout:g}"

    def hparams(self) -> dict[str, Any]:
        """Hyperparameters for :func:`thermognn.training.train_run` (``lr`` included)."""
        return {"lr": self.lr, "hidden": self.hidden, "dropout": self.dropout}


@dataclass(frozen=True)
class SearchSpace:
    """Choices of each hyperparameter; the grid is their Cartesian product.

    Attributes
    ----------
    models, lr, hidden, dropout
        Choices of architecture, learning rate, hidden channels, dropout.
    """

    models: tuple[str, ...]
    lr: tuple[float, ...]
    hidden: tuple[int, ...]
    dropout: tuple[float, ...]

    def __post_init__(self) -> None:
        for name in ("models", "lr", "hidden", "dropout"):
            values = getattr(self, name)
            if not values:
                raise ThermognnError(f"the search space has no {name} choice")
            if len(set(values)) != len(values):
                raise ThermognnError(f"duplicate {name} choices: {list(values)}")

    @property
    def size(self) -> int:
        """Number of grid points."""
        return len(self.models) * len(self.lr) * len(self.hidden) * len(self.dropout)

    def points(self) -> list[TrialPoint]:
        """Every combination, architecture-major."""
        product = itertools.product(self.models, self.lr, self.hidden, self.dropout)
        return [TrialPoint(m, float(lr), int(h), float(d)) for m, lr, h, d in product]

    def restrict(
        self,
        *,
        models: Sequence[str] | None = None,
        lr: Sequence[float] | None = None,
        hidden: Sequence[int] | None = None,
        dropout: Sequence[float] | None = None,
    ) -> SearchSpace:
        """A copy with the given choices replaced (``None`` keeps a dimension)."""
        return SearchSpace(
            tuple(models) if models else self.models,
            tuple(float(v) for v in lr) if lr else self.lr,
            tuple(int(v) for v in hidden) if hidden else self.hidden,
            tuple(float(v) for v in dropout) if dropout else self.dropout,
        )

    def to_dict(self) -> dict[str, list[Any]]:
        """JSON-ready choices."""
        return {
            "model": list(self.models),
            "lr": list(self.lr),
            "hidden": list(self.hidden),
            "dropout": list(self.dropout),
        }


#: The paper's grid: 6 × 5 × 4 × 4 = 480 models per property.
PAPER_GRID = SearchSpace(
    models=tuple(f"paper-{k}" for k in range(1, 7)),
    lr=(1e-2, 1e-3, 1e-4, 1e-5, 1e-6),
    hidden=(32, 64, 128, 256),
    dropout=(0.0, 0.2, 0.4, 0.6),
)

#: A 16-point sub-grid for a first look on a laptop.
SMALL_GRID = SearchSpace(
    models=("paper-1", "paper-3"),
    lr=(1e-3, 1e-4),
    hidden=(32, 64),
    dropout=(0.0, 0.2),
)

#: Named grids (``--grid``).
GRIDS = {"paper": PAPER_GRID, "small": SMALL_GRID}


def named_grid(name: str) -> SearchSpace:
    """The grid called ``name`` (``paper`` or ``small``)."""
    try:
        return GRIDS[name]
    except KeyError:
        raise ThermognnError(f"unknown grid {name!r} (known: {', '.join(GRIDS)})") from None
