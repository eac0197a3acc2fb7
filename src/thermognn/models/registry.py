"""Model registry: every architecture is selected by name.

A family registers its class once with :func:`register_family`; named presets (such as
``paper-1`` … ``paper-6``) register with :func:`register_model`. The trainer only ever
calls :func:`get_model` and reads :class:`ModelSpec`, so a new family plugs in without
touching it.

Each spec also says how the trainer scales the inputs and targets for that family
(:class:`Scaling`): the paper family uses min-max scaling of node features and targets,
as the paper did, and edge weights 1 − d / cutoff; the stronger families use atom
embeddings or standardised features, distances in Å (for their radial basis) and
standardised targets. Edge inputs never depend on a run's training rows, so one
distance is one model input in every run.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import torch

from thermognn.errors import ThermognnError

ScalerKind = Literal["minmax", "standard", "identity", "proximity"]


@dataclass(frozen=True)
class Scaling:
    """How the trainer scales a family's inputs and targets.

    Attributes
    ----------
    node
        Scaler of the node feature columns.
    edge
        Scaler of the edge distances d: ``proximity`` (1 − d / cutoff) or ``identity``
        (Å), the fixed rules; ``minmax`` (fitted on the training distances) is how runs
        written before ``proximity`` were scaled, kept so that they still load.
    target
        Scaler of each target column.
    """

    node: ScalerKind = "minmax"
    edge: ScalerKind = "proximity"
    target: ScalerKind = "minmax"


#: Scaling of families that embed the raw atomic number and expand distances in Å.
RAW_INPUTS = Scaling(node="identity", edge="identity", target="standard")


@dataclass(frozen=True)
class ModelSpec:
    """A registered model: its family class and preset hyperparameters.

    Attributes
    ----------
    name
        Registry name (``paper-1``, ``schnet``, …).
    family
        Family name (``paper``, ``schnet``, ``cgcnn``).
    cls
        The ``torch.nn.Module`` subclass.
    defaults
        Hyperparameters of this preset; user values override them.
    scaling
        Input and target scaling of the family.
    description
        One line for ``--help`` and listings.
    """

    name: str
    family: str
    cls: type[torch.nn.Module]
    defaults: dict[str, Any] = field(default_factory=dict)
    scaling: Scaling = Scaling()
    description: str = ""

    def class_defaults(self) -> dict[str, Any]:
        """Default value of every keyword argument of the family's constructor.

        A constructor that passes ``**kwargs`` on to its base class also takes the base
        constructor's arguments (its own defaults win).
        """
        defaults: dict[str, Any] = {}
        for klass in self.cls.__mro__:
            if "__init__" not in vars(klass):
                continue
            params = inspect.signature(vars(klass)["__init__"]).parameters.values()
            for p in params:
                if p.name != "self" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
                    defaults.setdefault(p.name, p.default)
            if not any(p.kind is p.VAR_KEYWORD for p in params):
                break
        return defaults

    def hparam_names(self) -> set[str]:
        """Keyword arguments accepted by the family's constructor."""
        return set(self.class_defaults())

    def resolve(self, **hparams: Any) -> dict[str, Any]:
        """Every constructor argument: class defaults ← preset ← ``hparams``.

        Unknown names are a :class:`ThermognnError` listing the accepted ones.
        """
        unknown = sorted(set(hparams) - self.hparam_names())
        if unknown:
            allowed = ", ".join(sorted(self.hparam_names()))
            raise ThermognnError(
                f"model {self.name!r} has no hyperparameter {', '.join(unknown)} "
                f"(it takes {allowed})"
            )
        return {**self.class_defaults(), **self.defaults, **hparams}


#: All registered models by name.
MODEL_REGISTRY: dict[str, ModelSpec] = {}
_FAMILIES: dict[str, tuple[type[torch.nn.Module], Scaling, str]] = {}
#: Hyperparameter search space declared by each family (see :func:`register_family`).
_SEARCH_SPACES: dict[str, dict[str, Any]] = {}
#: Hyperparameters a search may not set: the trainer fixes them from the data.
_FIXED_HPARAMS = ("in_channels", "n_targets")


def register_family(
    family: str,
    *,
    scaling: Scaling,
    description: str | None = None,
    search_space: Mapping[str, Any] | None = None,
) -> Callable[[type[torch.nn.Module]], type[torch.nn.Module]]:
    """Class decorator: register a model family under its own name (no preset).

    Parameters
    ----------
    family
        Family name; also registered as a model name with the class defaults.
    scaling
        How the trainer scales this family's inputs and targets.
    description
        One line describing the family (default: the first line of the class docstring).
    search_space
        Hyperparameters a sweep or search tunes, name → choices: a list (categorical),
        or ``{"low": …, "high": …, "log": bool, "step": …}`` (integers when both bounds
        are integers, else floats), or a dimension of :mod:`thermognn.studies.space`.
        Names are constructor arguments or optimiser settings (``lr``, ``weight_decay``,
        ``lr_decay``, ``lr_patience``); ``lr`` defaults to a log-uniform range. Without
        a declaration, searches tune ``lr``, ``hidden`` and ``dropout``.
    """

    def decorate(cls: type[torch.nn.Module]) -> type[torch.nn.Module]:
        text = description if description is not None else _summary(cls)
        _FAMILIES[family] = (cls, scaling, text)
        register_model(family, family=family, description=text)
        if search_space is not None:
            _check_space_names(family, search_space)
            _SEARCH_SPACES[family] = dict(search_space)
        else:
            _SEARCH_SPACES.pop(family, None)
        return cls

    return decorate


def _summary(cls: type) -> str:
    """First line of a class docstring without its full stop ("" without a docstring)."""
    lines = (cls.__doc__ or "").strip().splitlines()
    return lines[0].rstrip(".") if lines else ""


def register_model(name: str, *, family: str, description: str = "", **defaults: Any) -> None:
    """Register a named preset of a family (e.g. ``paper-3`` = 3 conv, max, ReLU)."""
    if family not in _FAMILIES:
        raise KeyError(f"unknown model family {family!r}")
    cls, scaling, family_description = _FAMILIES[family]
    spec = ModelSpec(name, family, cls, dict(defaults), scaling, description or family_description)
    spec.resolve()  # presets must only use real hyperparameters
    MODEL_REGISTRY[name] = spec


def model_spec(name: str) -> ModelSpec:
    """The registered spec called ``name``; a clear error listing the names otherwise."""
    _load_builtin_families()
    try:
        return MODEL_REGISTRY[name]
    except KeyError:
        known = ", ".join(sorted(MODEL_REGISTRY))
        raise ThermognnError(f"unknown model {name!r} (known: {known})") from None


def get_model(name: str, **hparams: Any) -> torch.nn.Module:
    """Build the model called ``name`` with its preset overridden by ``hparams``.

    Parameters
    ----------
    name
        Registry name, e.g. ``paper-1`` or ``schnet``.
    **hparams
        Constructor arguments (``in_channels``, ``n_targets``, ``hidden``, ``dropout``, …).

    Returns
    -------
    torch.nn.Module
        A freshly initialised model (parameters drawn from torch's global generator).
    """
    spec = model_spec(name)
    return spec.cls(**spec.resolve(**hparams))


def family_search_space(name: str) -> dict[str, Any] | None:
    """The search space declared by the family of model ``name`` (``None``: none declared)."""
    space = _SEARCH_SPACES.get(model_spec(name).family)
    return dict(space) if space is not None else None


def family_models(family: str) -> list[str]:
    """Registered presets of ``family`` (the family's own name when it has none)."""
    _load_builtin_families()
    presets = [n for n, s in MODEL_REGISTRY.items() if s.family == family and n != family]
    return presets or ([family] if family in MODEL_REGISTRY else [])


def _check_space_names(family: str, space: Mapping[str, Any]) -> None:
    from thermognn.settings import OPTIMISER_KEYS

    spec = MODEL_REGISTRY[family]
    allowed = (spec.hparam_names() - set(_FIXED_HPARAMS)) | set(OPTIMISER_KEYS)
    unknown = sorted(set(space) - allowed)
    if unknown:
        raise ThermognnError(
            f"model family {family!r}: search space names {', '.join(unknown)}, which it does "
            f"not take (it takes {', '.join(sorted(allowed))})"
        )


def _load_builtin_families() -> None:
    """Import the built-in families and the installed plug-ins (idempotent)."""
    from thermognn.models import cgcnn, moments, paper, schnet  # noqa: F401
    from thermognn.plugins import load_plugins

    load_plugins()
