"""Typed settings: the one source of every training and experiment default.

Pydantic v2 models for what an experiment is made of. The CLI options and the study
file's sections are views of these models: a default written here is the default
everywhere, and a wrong type or an unknown key is refused before anything runs, with
one line per error naming the field (:func:`validation_lines`).

* :class:`TrainSettings` — one model's training recipe (family and hyperparameters,
  optimiser, schedule, stopping rule, batch, cutoff, seed, device).
* :class:`Selection` — a set of study-database rows (ASE query, material, scheme,
  sampling set).
* :class:`TestSetSpec`, :class:`ArmSpec`, :class:`ExperimentSpec` — an experiment:
  labels × named test sets (reserved first) × named arms (a training pool plus
  training settings) × sizes × paired seeds.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cached_property
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from thermognn.errors import ThermognnError

#: Graph cutoff of the paper (Å).
DEFAULT_CUTOFF = 5.5

#: Keys of a hyperparameter dict that configure the optimiser, not the model.
OPTIMISER_KEYS = ("lr", "weight_decay", "lr_decay", "lr_patience")


class Settings(BaseModel):
    """Base: unknown keys are errors, assignments are validated."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class TrainSettings(Settings):
    """How one model is trained.

    Attributes
    ----------
    model
        Registry name (``paper-1`` … ``paper-6``, ``schnet``, ``cgcnn``, a plug-in).
    hparams
        The family's own hyperparameters (``hidden``, ``dropout``, ``n_rbf`` …).
    lr, weight_decay
        Adam learning rate and L2 weight decay.
    lr_decay, lr_patience
        Multiply the learning rate by ``lr_decay`` when the smoothed validation loss has
        not improved for ``lr_patience`` epochs (1 = constant learning rate).
    epochs
        Maximum epochs.
    patience
        Stop after this many epochs without a real improvement of the smoothed
        validation loss (see ``smoothing`` and ``min_delta``).
    min_epochs
        Never stop before this epoch.
    smoothing
        Exponential smoothing factor of the validation loss used by the stopping rule
        and the schedule (0 = raw loss); the kept weights are those of the lowest raw
        validation loss.
    min_delta
        Relative improvement of the smoothed validation loss that counts as one.
    batch_size
        Graphs per batch.
    cutoff
        Graph cutoff (Å).
    seed
        Seed of the initial weights, dropout and batch order (and of an automatic split).
    device
        ``cpu``, ``cuda``, ``cuda:N``, ``mps`` or ``auto``.
    split
        Train/validation/test fractions of an automatic split (``thermognn train``).
    """

    model: str = "paper-1"
    hparams: dict[str, Any] = Field(default_factory=dict)
    lr: float = Field(1e-3, gt=0)
    weight_decay: float = Field(0.0, ge=0)
    lr_decay: float = Field(0.5, gt=0, le=1)
    lr_patience: int = Field(50, ge=1)
    epochs: int = Field(1000, ge=1)
    patience: int = Field(100, ge=1)
    min_epochs: int = Field(0, ge=0)
    smoothing: float = Field(0.9, ge=0, lt=1)
    min_delta: float = Field(1e-3, ge=0)
    batch_size: int = Field(64, ge=1)
    cutoff: float = Field(DEFAULT_CUTOFF, gt=0)
    seed: int = 0
    device: str = "cpu"
    split: tuple[float, float, float] = (0.7, 0.15, 0.15)

    @field_validator("split")
    @classmethod
    def _fractions(cls, value: tuple[float, float, float]) -> tuple[float, float, float]:
        if any(f < 0 for f in value) or abs(sum(value) - 1) > 1e-6 or value[1] <= 0:
            raise ValueError("three fractions ≥ 0 summing to 1, validation > 0")
        return value

    @classmethod
    def of(
        cls, base: TrainSettings | Mapping[str, Any] | None = None, **updates: Any
    ) -> TrainSettings:
        """Settings from ``base`` (settings or dict) with ``updates`` (``None`` = keep).

        Optimiser keys inside ``hparams`` (``lr``, ``lr_decay`` …, the older spelling)
        move to their own fields.
        """
        data = base.model_dump() if isinstance(base, TrainSettings) else dict(base or {})
        data.update({k: v for k, v in updates.items() if v is not None})
        hparams = dict(data.get("hparams") or {})
        for key in OPTIMISER_KEYS:
            if key in hparams:
                data[key] = hparams.pop(key)
        data["hparams"] = hparams
        return validated(cls, data, "train")

    def recorded(self) -> dict[str, Any]:
        """The settings that fix a result's meaning (the device does not)."""
        return self.model_dump(exclude={"device"})

    def all_hparams(self) -> dict[str, Any]:
        """Model hyperparameters plus the optimiser's (the older one-dict form)."""
        return {**self.hparams, **{k: getattr(self, k) for k in OPTIMISER_KEYS}}


class Selection(Settings):
    """Rows of the study database.

    Attributes
    ----------
    query
        ASE selection string (``labeled=1`` is always added).
    material
        Material name(s) (``Ag3SBr`` …).
    scheme
        Sampling scheme(s) (``phonon``, ``random``, ``md`` …).
    sample_set
        Named sampling set(s) (``random-matched``, ``random-paper`` …); a row without
        a ``sample_set`` key belongs to the set named after its scheme.
    ids
        Explicit row ids (combined with the other criteria).
    """

    query: str | None = None
    material: list[str] | None = None
    scheme: list[str] | None = None
    sample_set: list[str] | None = None
    ids: list[int] | None = None

    @field_validator("material", "scheme", "sample_set", mode="before")
    @classmethod
    def _listify(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    @cached_property
    def _id_set(self) -> frozenset[int]:
        return frozenset(self.ids or ())

    def matches(self, record: Mapping[str, Any]) -> bool:
        """Whether a row record (``material``, ``scheme``, ``sample_set``) is selected.

        ``sample_set`` matches the row's set name exactly (a row without one belongs to
        the set named after its scheme); use ``scheme`` to select every set of a scheme.
        """
        if self.ids is not None and record.get("id") not in self._id_set:
            return False
        for key in ("material", "scheme"):
            wanted = getattr(self, key)
            if wanted is not None and record.get(key) not in wanted:
                return False
        if self.sample_set is not None:
            name = record.get("sample_set") or record.get("scheme")
            if name not in self.sample_set:
                return False
        return True


class TestSetSpec(Settings):
    """A named test set, reserved before any training pool is formed.

    Attributes
    ----------
    name
        Name in the results table.
    select
        Rows it is drawn from (ignored for a ``union``).
    size
        Structures reserved (by whole trajectory blocks for MD rows); ``None`` with no
        ``fraction``: every matching row.
    fraction
        Share of the matching rows reserved (instead of ``size``).
    union
        Names of earlier test sets whose union this one is (e.g. ``combined``).
    """

    __test__ = False  # not a pytest class

    name: str
    select: Selection = Field(default_factory=Selection)
    size: int | None = Field(None, ge=1)
    fraction: float | None = Field(None, gt=0, lt=1)
    union: list[str] | None = None


class ArmSpec(Settings):
    """A named training arm: a pool of rows and how models are trained on it.

    Attributes
    ----------
    name
        Name in the results table.
    select
        Rows of the pool (every reserved test row is removed from it).
    union
        Names of other arms whose pools this one joins (e.g. ``combined``).
    train
        Overrides of the experiment's training settings for this arm.
    largest_only
        Train this arm at the largest of the label's sizes only (e.g. the combined arm
        that Table 1 needs, without its own learning curve).
    """

    name: str
    select: Selection = Field(default_factory=Selection)
    union: list[str] | None = None
    train: dict[str, Any] = Field(default_factory=dict)
    largest_only: bool = False


class ExperimentSpec(Settings):
    """One experiment: labels × test sets × arms × sizes × paired seeds.

    Attributes
    ----------
    labels
        Labels trained (one model per label).
    test_sets
        Named test sets, reserved first, disjoint from every training pool.
    arms
        Named arms.
    sizes
        Training sizes (structures); ``None`` = each arm's whole pool (less validation).
    seeds
        Paired seeds: seed k draws the same subsample positions in every arm.
    val_fraction
        Validation structures per training structure, carved from the arm's pool.
    seed
        Base seed of the reservation and the subsamples.
    train
        Training settings shared by every arm.
    md_block
        Consecutive MD snapshots of one trajectory that move together between test,
        validation and training sets.
    sizes_per_label
        Sizes for particular labels (others use ``sizes``).
    arms_per_label
        Arms trained for particular labels (others train every arm).
    train_per_label
        Training overrides for particular labels (e.g. each label's own best
        hyperparameters from its sweep).
    on_short
        ``clip`` a size larger than an arm's pool to what fits, or ``error``.
    """

    labels: list[str] = Field(default_factory=lambda: ["band_gap"], min_length=1)
    test_sets: list[TestSetSpec] = Field(min_length=1)
    arms: list[ArmSpec] = Field(min_length=1)
    sizes: list[int] | None = None
    seeds: int = Field(5, ge=1, le=50)
    val_fraction: float = Field(0.15, gt=0, lt=1)
    seed: int = 0
    train: TrainSettings = Field(default_factory=TrainSettings)
    md_block: int = Field(10, ge=1)
    sizes_per_label: dict[str, list[int]] = Field(default_factory=dict)
    arms_per_label: dict[str, list[str]] = Field(default_factory=dict)
    train_per_label: dict[str, dict[str, Any]] = Field(default_factory=dict)
    on_short: Literal["clip", "error"] = "clip"

    @field_validator("labels", mode="before")
    @classmethod
    def _labels(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    def arm_settings(self, arm: ArmSpec, label: str | None = None) -> TrainSettings:
        """The training settings of one arm (and label)."""
        per_label = self.train_per_label.get(label, {}) if label else {}
        return TrainSettings.of(TrainSettings.of(self.train, **per_label), **arm.train)

    def sizes_for(self, label: str) -> list[int] | None:
        """Training sizes of ``label``."""
        return self.sizes_per_label.get(label, self.sizes)

    def arms_for(self, label: str) -> list[ArmSpec]:
        """The arms trained for ``label``."""
        names = self.arms_per_label.get(label)
        return [a for a in self.arms if names is None or a.name in names]

    def check_names(self) -> None:
        """Raise on duplicate names and unions naming unknown sets or arms."""
        for kind, items in (("test set", self.test_sets), ("arm", self.arms)):
            names = [i.name for i in items]
            dup = sorted({n for n in names if names.count(n) > 1})
            if dup:
                raise ThermognnError(f"{kind} names must be unique: {', '.join(dup)}")
            for item in items:
                unknown = [n for n in item.union or [] if n not in names or n == item.name]
                if unknown:
                    raise ThermognnError(f"{kind} {item.name}: union of unknown {unknown}")
        arms = {a.name for a in self.arms}
        for label, names in self.arms_per_label.items():
            unknown = sorted(set(names) - arms)
            if unknown:
                raise ThermognnError(f"arms_per_label.{label}: unknown arms {unknown}")


def _describe(error: Mapping[str, Any]) -> str:
    kind, value = error.get("type", ""), error.get("input")
    if kind == "extra_forbidden":
        return "unknown key"
    if kind == "missing":
        return "required"
    expected = {
        "int_parsing": "an integer",
        "int_type": "an integer",
        "int_from_float": "an integer",
        "float_parsing": "a number",
        "float_type": "a number",
        "string_type": "a string",
        "bool_parsing": "true or false",
        "bool_type": "true or false",
        "list_type": "a list",
        "dict_type": "a table",
        "tuple_type": "a list",
        "model_type": "a table",
    }.get(kind)
    ctx = error.get("ctx") or {}
    bound = next(
        (
            f"{sym} {ctx[k]}"
            for k, sym in (("ge", "≥"), ("gt", ">"), ("le", "≤"), ("lt", "<"))
            if k in ctx
        ),
        "",
    )
    shown = f'"{value}"' if isinstance(value, str) else repr(value)
    if expected:
        return f"expected {expected}{' ' + bound if bound else ''}, got {shown}"
    if bound:
        return f"expected a value {bound}, got {shown}"
    return f"{error.get('msg', 'invalid')}, got {shown}"


def validation_lines(exc: ValidationError, section: str = "") -> list[str]:
    """One line per error: ``[section].key.sub: expected …, got …``."""
    lines = []
    for error in exc.errors():
        loc = ".".join(str(p) for p in error.get("loc", ()))
        where = f"[{section}]" if section else ""
        where = f"{where}.{loc}" if where and loc else where or loc
        lines.append(f"{where}: {_describe(error)}")
    return lines


def validated(cls: type[Settings], data: Mapping[str, Any], section: str = "") -> Any:
    """``cls(**data)`` or a :class:`ThermognnError` with one line per error."""
    try:
        return cls.model_validate(dict(data))
    except ValidationError as exc:
        raise ThermognnError("\n".join(validation_lines(exc, section))) from None
