"""Hyperparameter spaces: the paper's sweep grid, named sub-grids, and any family's space.

The paper trained every combination of six architectures, five learning rates, four
hidden sizes and four dropout probabilities — 480 models per property (its SI
Figs. S5–S8). :class:`SearchSpace` is that space (or any part of it), and more: each
dimension is a list of choices (:class:`Categorical`) or a range (:class:`IntRange`,
:class:`FloatRange`, e.g. the learning rate on a log scale), and a model family may
declare its own hyperparameters (``register_family(..., search_space=...)``), which
:func:`family_space` turns into a space. The grid sweep trains every
:class:`TrialPoint` of a space of choices; an Optuna search samples
:meth:`SearchSpace.distributions` and maps each trial back with
:meth:`SearchSpace.point`.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Union

from thermognn.errors import ThermognnError

#: Hyperparameters of a trial, in table order (a family's own ones follow).
HPARAM_NAMES = ("model", "lr", "hidden", "dropout")


@dataclass(frozen=True)
class Categorical:
    """A list of choices (numbers, strings or booleans)."""

    choices: tuple[Any, ...]

    def values(self) -> tuple[Any, ...]:
        return self.choices

    def distribution(self) -> Any:
        from optuna.distributions import CategoricalDistribution

        return CategoricalDistribution(list(self.choices))

    def suggest(self, trial: Any, name: str) -> Any:
        return trial.suggest_categorical(name, list(self.choices))

    def to_json(self) -> Any:
        return list(self.choices)


@dataclass(frozen=True)
class IntRange:
    """Integers low … high (inclusive) in steps of ``step``, or log-uniform."""

    low: int
    high: int
    step: int = 1
    log: bool = False

    def values(self) -> tuple[int, ...]:
        return tuple(range(self.low, self.high + 1, self.step))

    def distribution(self) -> Any:
        from optuna.distributions import IntDistribution

        return IntDistribution(self.low, self.high, log=self.log, step=self.step)

    def suggest(self, trial: Any, name: str) -> int:
        return int(trial.suggest_int(name, self.low, self.high, step=self.step, log=self.log))

    def to_json(self) -> Any:
        return {"low": self.low, "high": self.high, "step": self.step, "log": self.log}


@dataclass(frozen=True)
class FloatRange:
    """Floats in [low, high], uniform or log-uniform (a continuous range: no grid)."""

    low: float
    high: float
    log: bool = False

    def values(self) -> tuple[float, ...]:
        raise ThermognnError(
            f"a continuous range [{self.low:g}, {self.high:g}] has no grid; give choices "
            "or use an Optuna search"
        )

    def distribution(self) -> Any:
        from optuna.distributions import FloatDistribution

        return FloatDistribution(self.low, self.high, log=self.log)

    def suggest(self, trial: Any, name: str) -> float:
        return float(trial.suggest_float(name, self.low, self.high, log=self.log))

    def to_json(self) -> Any:
        return {"low": self.low, "high": self.high, "log": self.log}


Dimension = Union[Categorical, IntRange, FloatRange]  # noqa: UP007 - runtime isinstance

#: The learning rate a family's space tunes unless it declares its own (log scale).
DEFAULT_LR = FloatRange(1e-5, 1e-2, log=True)
#: What a family without a declared space tunes (where its constructor takes them).
DEFAULT_FAMILY_SPACE: dict[str, Dimension] = {
    "lr": DEFAULT_LR,
    "hidden": Categorical((32, 64, 128, 256)),
    "dropout": Categorical((0.0, 0.2, 0.4, 0.6)),
}


def dimension(name: str, raw: Any) -> Dimension:
    """A dimension from its declaration: a list of choices or ``{low, high[, log, step]}``.

    Integer bounds give an :class:`IntRange`, any float bound a :class:`FloatRange`.
    A bad declaration raises :class:`ThermognnError` naming ``name``.
    """
    if isinstance(raw, Categorical | IntRange | FloatRange):
        return raw
    if isinstance(raw, list | tuple):
        if not raw:
            raise ThermognnError(f"search space: {name} has no choice")
        if len(set(raw)) != len(raw):
            raise ThermognnError(f"search space: duplicate {name} choices: {list(raw)}")
        return Categorical(tuple(raw))
    if isinstance(raw, Mapping) and {"low", "high"} <= set(raw):
        unknown = set(raw) - {"low", "high", "log", "step"}
        low, high, log = raw["low"], raw["high"], bool(raw.get("log", False))
        if unknown or not all(isinstance(v, int | float) for v in (low, high)):
            raise ThermognnError(f"search space: {name}: expected low, high[, log, step]")
        if not (math.isfinite(low) and math.isfinite(high) and low <= high):
            raise ThermognnError(f"search space: {name}: need low ≤ high, got {low}, {high}")
        if log and low <= 0:
            raise ThermognnError(f"search space: {name}: a log range needs low > 0, got {low}")
        if isinstance(low, int) and isinstance(high, int) and not isinstance(low, bool):
            return IntRange(low, high, int(raw.get("step", 1)), log)
        if "step" in raw:
            raise ThermognnError(f"search space: {name}: a float range takes no step")
        return FloatRange(float(low), float(high), log)
    raise ThermognnError(
        f"search space: {name}: expected a list of choices or {{low, high, log}}, got {raw!r}"
    )


def _fmt(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


@dataclass(frozen=True)
class TrialPoint:
    """One combination of a space.

    Attributes
    ----------
    model
        Registry name (``paper-1`` …).
    lr
        Adam learning rate (``None``: the training default).
    hidden
        Hidden channels (``None``: the family's default).
    dropout
        Dropout probability (``None``: the family's default).
    extra
        The family's own hyperparameters, as ``(name, value)`` pairs in space order.
    """

    model: str
    lr: float | None = None
    hidden: int | None = None
    dropout: float | None = None
    extra: tuple[tuple[str, Any], ...] = ()

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> TrialPoint:
        """A point from a flat dict (``model``, ``lr``, ``hidden``, ``dropout``, others)."""
        rest = {k: v for k, v in params.items() if k not in HPARAM_NAMES}
        return cls(
            str(params["model"]),
            None if params.get("lr") is None else float(params["lr"]),
            None if params.get("hidden") is None else int(params["hidden"]),
            None if params.get("dropout") is None else float(params["dropout"]),
            tuple(rest.items()),
        )

    @property
    def trial_id(self) -> str:
        """Stable identifier, e.g. ``paper-3_lr0.0001_h64_d0.2`` (then ``_n_rbf16`` …)."""
        parts = [self.model]
        for tag, value in (("lr", self.lr), ("h", self.hidden), ("d", self.dropout)):
            if value is not None:
                parts.append(f"{tag}{_fmt(value)}")
        parts += [f"{name}{_fmt(value)}" for name, value in self.extra]
        return "_".join(parts)

    def hparams(self) -> dict[str, Any]:
        """Hyperparameters for :func:`thermognn.training.train_run` (``lr`` included)."""
        core = {"lr": self.lr, "hidden": self.hidden, "dropout": self.dropout}
        return {**{k: v for k, v in core.items() if v is not None}, **dict(self.extra)}

    def params(self) -> dict[str, Any]:
        """Flat dict of every set value, ``model`` first (table columns, Optuna params)."""
        return {"model": self.model, **self.hparams()}


Choices = Union[tuple[Any, ...], Dimension, None]  # noqa: UP007


@dataclass(frozen=True)
class SearchSpace:
    """Choices or ranges of each hyperparameter; a grid is their Cartesian product.

    Attributes
    ----------
    models
        Architectures (registry names).
    lr, hidden, dropout
        Choices (a tuple) or a dimension; ``None`` leaves the value to its default.
    extra
        A family's own hyperparameters: ``(name, dimension)`` pairs.
    """

    models: tuple[str, ...]
    lr: Choices = None
    hidden: Choices = None
    dropout: Choices = None
    extra: tuple[tuple[str, Dimension], ...] = ()

    def __post_init__(self) -> None:
        if not self.models:
            raise ThermognnError("the search space has no models choice")
        if len(set(self.models)) != len(self.models):
            raise ThermognnError(f"duplicate models choices: {list(self.models)}")
        for name, raw in (("lr", self.lr), ("hidden", self.hidden), ("dropout", self.dropout)):
            if raw is not None:
                dimension(name, raw)  # raises on empty or duplicate choices

    def dimensions(self) -> dict[str, Dimension]:
        """Every searched hyperparameter but ``model``, in table order."""
        core = {"lr": self.lr, "hidden": self.hidden, "dropout": self.dropout}
        out = {k: dimension(k, v) for k, v in core.items() if v is not None}
        return {**out, **dict(self.extra)}

    @property
    def size(self) -> int:
        """Number of grid points (a :class:`ThermognnError` with a continuous range)."""
        return math.prod(len(d.values()) for d in self.dimensions().values()) * len(self.models)

    def points(self) -> list[TrialPoint]:
        """Every combination, architecture-major."""
        dims = self.dimensions()
        grids = [dim.values() for dim in dims.values()]
        return [
            TrialPoint.from_params({"model": m, **dict(zip(dims, combo))})
            for m in self.models
            for combo in itertools.product(*grids)
        ]

    def distributions(self) -> dict[str, Any]:
        """Optuna distributions: ``model`` and every dimension (ranges stay ranges)."""
        from optuna.distributions import CategoricalDistribution

        dims = {k: d.distribution() for k, d in self.dimensions().items()}
        return {"model": CategoricalDistribution(list(self.models)), **dims}

    def point(self, params: Mapping[str, Any]) -> TrialPoint:
        """The trial point of an Optuna trial's ``params``."""
        return TrialPoint.from_params(params)

    def suggest(self, trial: Any) -> TrialPoint:
        """Draw a point through the trial's ``suggest_*`` calls (``model`` categorical)."""
        params = {"model": trial.suggest_categorical("model", list(self.models))}
        params.update({k: d.suggest(trial, k) for k, d in self.dimensions().items()})
        return TrialPoint.from_params(params)

    def as_ranges(self) -> SearchSpace:
        """The space an Optuna search samples: numeric choices become the range they span.

        ``lr`` becomes log-uniform over [min, max] of its choices, ``hidden`` a
        log-scaled integer range, ``dropout`` a uniform float range; one choice, the
        models and a family's own dimensions stay as they are.
        """
        kinds = {
            "lr": (FloatRange, True),
            "hidden": (IntRange, True),
            "dropout": (FloatRange, False),
        }
        core: dict[str, Any] = {}
        for name, (kind, log) in kinds.items():
            dim = None if getattr(self, name) is None else dimension(name, getattr(self, name))
            if isinstance(dim, Categorical) and len(dim.choices) > 1:
                low, high = min(dim.choices), max(dim.choices)
                dim = kind(low, high, log=log and low > 0)
            core[name] = dim
        return SearchSpace(self.models, extra=self.extra, **core)

    def restrict(
        self,
        *,
        models: Sequence[str] | None = None,
        lr: Sequence[float] | None = None,
        hidden: Sequence[int] | None = None,
        dropout: Sequence[float] | None = None,
        **extra: Sequence[Any],
    ) -> SearchSpace:
        """A copy with the given choices replaced (``None`` keeps a dimension)."""
        names = dict(self.extra)
        unknown = sorted(set(extra) - set(names))
        if unknown:
            raise ThermognnError(
                f"the search space has no {', '.join(unknown)} "
                f"(it has {', '.join(['model', *self.dimensions()])})"
            )
        return SearchSpace(
            tuple(models) if models else self.models,
            tuple(float(v) for v in lr) if lr else self.lr,
            tuple(int(v) for v in hidden) if hidden else self.hidden,
            tuple(float(v) for v in dropout) if dropout else self.dropout,
            tuple(
                (k, dimension(k, list(extra[k])) if extra.get(k) else d) for k, d in names.items()
            ),
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready choices (ranges as ``{low, high, log…}``)."""
        return {
            "model": list(self.models),
            **{k: d.to_json() for k, d in self.dimensions().items()},
        }


def family_space(name: str, models: Sequence[str] | None = None) -> SearchSpace:
    """The search space of a model family, as the family declared it.

    Parameters
    ----------
    name
        A family (``paper``: its presets ``paper-1`` … ``paper-6``) or a model name.
    models
        Architectures to search (default: the family's presets, or ``name`` itself).

    Returns
    -------
    SearchSpace
        The declared dimensions (``lr`` added as :data:`DEFAULT_LR` unless declared);
        without a declaration, :data:`DEFAULT_FAMILY_SPACE` restricted to what the
        family's constructor takes.
    """
    from thermognn.models.registry import family_models, family_search_space, model_spec

    spec = model_spec(name)
    declared = family_search_space(name)
    if declared is None:
        takes = spec.hparam_names()
        raw: dict[str, Any] = {
            k: d for k, d in DEFAULT_FAMILY_SPACE.items() if k == "lr" or k in takes
        }
    else:
        raw = {"lr": DEFAULT_LR, **declared}
    dims = {k: dimension(f"{spec.family}.{k}", v) for k, v in raw.items()}
    if models is None:
        models = family_models(name) if name == spec.family else [name]
    core = {k: dims.pop(k, None) for k in ("lr", "hidden", "dropout")}
    return SearchSpace(tuple(models), extra=tuple(dims.items()), **core)


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
    """The grid called ``name`` (``paper``, ``small``), else the space of a model family."""
    if name in GRIDS:
        return GRIDS[name]
    from thermognn.models.registry import MODEL_REGISTRY, model_spec

    try:
        model_spec(name)
    except ThermognnError:
        known = ", ".join(dict.fromkeys([*GRIDS, *sorted(MODEL_REGISTRY)]))
        raise ThermognnError(f"unknown grid {name!r} (known: {known})") from None
    return family_space(name)
