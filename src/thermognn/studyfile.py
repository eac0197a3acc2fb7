"""The study file of ``thermognn run``: a typed model of every section, validated whole.

A study file is TOML: ``[study]`` (``name``, ``db``) and one section per stage, in
pipeline order (:data:`STAGES`); any stage may be one table or an array of tables
(``[[sample]]``). Each stage section holds the options of the subcommand of the same
name, and its keys and types are read from that subcommand's argparse parser (dest,
``type``, ``choices``, ``store_true``, ``append``, required), so the parser stays the
one source of truth; positional arguments go in ``args = [...]``. Two sections add
typed settings of :mod:`thermognn.settings`:

* ``[train]`` — the training keys (``model``, ``hparams``, ``lr``, ``epochs``,
  ``patience``, ``batch_size``, ``seed``, ``cutoff``, ``device`` …) are validated by
  :class:`~thermognn.settings.TrainSettings`, the others (``label``, ``db``, ``out``,
  ``query`` …) by the parser of ``thermognn train``;
* ``[experiment]`` — an :class:`~thermognn.settings.ExperimentSpec` plus the options
  of ``thermognn experiment`` (``db``, ``out``, ``workers``, ``scheduler``).

:func:`load_study` validates every section before anything runs and raises one
:class:`~thermognn.errors.ThermognnError` with one line per error, e.g.
``[train].epochs: expected an integer ≥ 1, got "many"``.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError
from pydantic_core import InitErrorDetails, PydanticCustomError

from thermognn.cli.common import load_toml
from thermognn.cli.main import COMMAND_MODULES
from thermognn.errors import ThermognnError
from thermognn.parser_models import Option, options_of, positional_rule, section_model
from thermognn.settings import (
    OPTIMISER_KEYS,
    ExperimentSpec,
    Settings,
    TrainSettings,
    validation_lines,
)

#: Subcommands that are no stage of a study file.
NOT_STAGES = frozenset({"vasp", "dbinfo", "reproduce", "run"})
#: Stage sections, in the order they run (the order ``thermognn --help`` lists them).
STAGES: tuple[str, ...] = tuple(name for name in COMMAND_MODULES if name not in NOT_STAGES)
#: Stages that get ``[study].db`` as ``db`` and ``[study].name`` as ``study``.
TAKES_DB = frozenset(
    {"sample", "label", "export", "train", "sweep", "curve", "compare", "experiment", "learn"}
)
TAKES_STUDY = frozenset({"sample", "label"})


class StudySection(Settings):
    """``[study]``: the study's name and database (path or ASE URL)."""

    name: str | None = None
    db: str | None = None


@cache
def stage_parsers() -> dict[str, argparse.ArgumentParser]:
    """The argparse parser of every registered subcommand, by name."""
    from thermognn.cli.main import build_parser

    root = build_parser()
    sub = next(a for a in root._actions if isinstance(a, argparse._SubParsersAction))
    return dict(sub.choices)


@cache
def stage_models() -> dict[str, type[Settings]]:
    """The pydantic model of every stage section."""
    parsers = stage_parsers()
    from thermognn.learning.settings import LearnSettings

    bases: dict[str, type[Settings]] = {
        "train": TrainSettings,
        "experiment": ExperimentSpec,
        "learn": LearnSettings,
    }
    return {
        stage: section_model(
            stage, parsers[stage], bases.get(stage, Settings), positional=stage != "experiment"
        )
        for stage in STAGES
        if stage in parsers
    }


@dataclass(frozen=True)
class Stage:
    """One validated stage section.

    Attributes
    ----------
    name
        Section (= subcommand) name.
    index
        Position in an array of tables (from 1), ``None`` for a single table.
    settings
        The validated section.
    """

    name: str
    index: int | None
    settings: Settings

    @property
    def where(self) -> str:
        """``[sample][2]`` or ``[train]``."""
        return f"[{self.name}]" + (f"[{self.index}]" if self.index is not None else "")

    def _options(self) -> dict[str, Option]:
        return _options(self.name)

    def problems(self) -> list[str]:
        """Names of arms and test sets that do not resolve (``[experiment]``)."""
        if isinstance(self.settings, ExperimentSpec):
            try:
                self.settings.check_names()
            except ThermognnError as exc:
                return [f"{self.where}: {exc}"]
        return []

    def argv(self) -> list[str]:
        """The equivalent command line, without ``thermognn`` (``[experiment]``: its
        options only; the spec is the section itself)."""
        options = self._options()
        values = self.settings.model_dump(exclude_unset=True)
        argv = [self.name, *values.pop("args", [])]
        for key in dict.fromkeys([*options, "hparams", *values]):  # the parser's order
            if key not in values:
                continue
            value = values[key]
            if key == "hparams":
                argv += [f"--hparam={k}={json.dumps(v)}" for k, v in value.items()]
            elif key in options:
                option = options[key]
                if option.kind == "flag":
                    argv += [option.flag] if bool(value) != bool(option.default) else []
                elif option.kind == "append":
                    argv += [f"{option.flag}={v}" for v in value]
                else:
                    argv.append(f"{option.flag}={value}")
            elif key in OPTIMISER_KEYS:
                argv.append(f"--hparam={key}={json.dumps(value)}")
        return argv

    def experiment(self) -> tuple[ExperimentSpec, dict[str, Any]]:
        """``[experiment]``: the spec and the parsed options of ``thermognn experiment``."""
        parser = stage_parsers()["experiment"]
        least = positional_rule(options_of(self.name, parser)[1])[0]
        namespace = parser.parse_args(["-"] * least + self.argv()[1:])
        spec_keys = set(ExperimentSpec.model_fields)
        spec = ExperimentSpec.model_validate(self.settings.model_dump(include=spec_keys))
        return spec, {k: getattr(namespace, k) for k in self._options()}


def _options(stage: str) -> dict[str, Option]:
    return {o.dest: o for o in options_of(stage, stage_parsers()[stage])[0]}


def _unroutable(stage: str, keys: Any, model: type[BaseModel]) -> list[str]:
    """Known keys of a section that its subcommand has no option for (yet)."""
    options = _options(stage)
    routable = {*options, "args"}
    if stage == "experiment":
        routable |= set(ExperimentSpec.model_fields)
    if "hparam" in options:
        routable |= {"hparams", *OPTIMISER_KEYS}
    return sorted(k for k in keys if k in model.model_fields and k not in routable)


@dataclass(frozen=True)
class StudyFile:
    """A validated study file: ``[study]`` and the stages in the order they run."""

    study: StudySection
    stages: list[Stage]


def load_study(path: str | Path) -> StudyFile:
    """Read and validate a study file; one error with one line per problem."""
    return validate_study(load_toml(path), source=str(path))


def validate_study(data: Mapping[str, Any], source: str = "study file") -> StudyFile:
    """Validate every section of a parsed study file before anything runs.

    Raises
    ------
    ThermognnError
        ``SOURCE: N error(s) …`` followed by one line per error
        (``[section][index].key: expected …, got …``).
    """
    lines = [
        f"[{key}]: unknown section; choose one of study, {', '.join(STAGES)}"
        for key in data
        if key != "study" and key not in STAGES
    ]
    raw_study = data.get("study", {})
    study = _validate(StudySection, raw_study, "[study]", lines)
    if study is None:  # still hand its valid keys to the stages: no follow-on errors
        good = raw_study.items() if isinstance(raw_study, dict) else ()
        known: dict[str, Any] = {
            k: v for k, v in good if k in StudySection.model_fields and isinstance(v, str)
        }
        study = StudySection.model_construct(**known)
    models = stage_models()
    stages = []
    for name in (s for s in STAGES if s in data):
        if name not in models:
            lines.append(f"[{name}]: this version of thermognn has no {name} command")
            continue
        raw = data[name]
        for index, entry in enumerate(raw, 1) if isinstance(raw, list) else [(None, raw)]:
            where = f"[{name}]" + (f"[{index}]" if index is not None else "")
            if isinstance(entry, dict):  # TOML keys may be spelled like the flags
                entry = {str(k).replace("-", "_"): v for k, v in entry.items()}
                lines += [
                    f"{where}.{key}: not an option of thermognn {name}"
                    for key in _unroutable(name, entry, models[name])
                ]
                entry = {**_from_study(name, study, models[name]), **entry}
            settings = _validate(models[name], entry, where, lines)
            if settings is not None:
                stages.append(Stage(name, index, settings))
                lines += stages[-1].problems()
    if not lines and not stages:
        lines.append(f"no stage section (one of {', '.join(STAGES)})")
    if lines:
        raise ThermognnError(
            f"{source}: {len(lines)} error(s), nothing was run\n" + "\n".join(lines)
        )
    return StudyFile(study, stages)


def _from_study(name: str, study: StudySection, model: type[BaseModel]) -> dict[str, Any]:
    """``db`` and ``study`` a stage takes from ``[study]``."""
    given = {}
    if name in TAKES_DB and study.db is not None and "db" in model.model_fields:
        given["db"] = study.db
    if name in TAKES_STUDY and study.name is not None and "study" in model.model_fields:
        given["study"] = study.name
    return given


def _validate(model: type[Settings], data: Any, where: str, lines: list[str]) -> Any:
    """``model(**data)``, or ``None`` with the errors appended to ``lines``."""
    if not isinstance(data, dict):
        shown = "a list" if isinstance(data, list) else repr(data)
        lines.append(f"{where}: expected a table, got {shown}")
        return None
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        exc = _with_bounds(exc, model)
        for error, line in zip(exc.errors(), validation_lines(exc)):
            loc = ".".join(str(p) for p in error["loc"])
            shown = "".join(f"[{p + 1}]" if isinstance(p, int) else f".{p}" for p in error["loc"])
            lines.append(f"{where}{shown}: {line[len(loc) + 2 :]}")
        return None


_PARSING = frozenset({"int_parsing", "int_type", "int_from_float", "float_parsing", "float_type"})


def _with_bounds(exc: ValidationError, model: type[BaseModel]) -> ValidationError:
    """Add a field's bounds to its parsing errors (``expected an integer ≥ 1``)."""
    details, changed = [], False
    for error in exc.errors():
        ctx = dict(error.get("ctx") or {})
        if error["type"] in _PARSING:
            for meta in _field_metadata(model, error["loc"]):
                for key in ("ge", "gt", "le", "lt"):
                    if getattr(meta, key, None) is not None:
                        ctx[key], changed = getattr(meta, key), True
        kind: Any = error["type"]
        if kind == "option":
            kind = PydanticCustomError("option", error["msg"])
        detail = InitErrorDetails(type=kind, loc=error["loc"], input=error["input"])
        if ctx:
            detail["ctx"] = ctx
        details.append(detail)
    return ValidationError.from_exception_data(exc.title, details) if changed else exc


def _field_metadata(model: Any, loc: tuple[int | str, ...]) -> list[Any]:
    """Constraint metadata of the field at ``loc`` (nested models and lists followed)."""
    metadata: list[Any] = []
    for part in loc:
        if isinstance(part, int):
            continue
        field = getattr(model, "model_fields", {}).get(part)
        if field is None:
            return []
        metadata, model = field.metadata, field.annotation
        args = getattr(model, "__args__", ())
        model = next((a for a in args if isinstance(a, type) and issubclass(a, BaseModel)), model)
    return metadata
