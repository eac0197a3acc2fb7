"""Pydantic models of subcommand options, read from their argparse parsers.

The parser of a subcommand is the one source of truth for its options: each action
gives a field (``dest``), a check (``type``, ``choices``), a kind (``store_true`` flag,
``append`` list, value) and whether it is required; positional arguments become the
list ``args``. A few options whose parser keeps the text and reads it later
(``--temperature``, ``--sizes``, ``--scheme`` …) get their later check here
(:data:`LATER_PARSED`), so a study file is checked as deeply as the command line.

A field of a value option holds the option's command-line text (what the subcommand
will parse); errors are ``PydanticCustomError`` of type ``option`` whose message says
what was expected.
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import BeforeValidator, create_model, field_validator
from pydantic_core import PydanticCustomError

from thermognn.cli.common import parse_floats, parse_range
from thermognn.settings import Settings

#: Options a subcommand requires only when it runs (its parser leaves them optional).
NEEDED: dict[str, tuple[str, ...]] = {
    "train": ("label", "out"),  # and --db or --data, checked when it runs
    "sweep": ("db", "label", "out"),
    "curve": ("db", "label", "out"),
    "compare": ("db", "label", "out"),
    "evaluate": ("db",),
    "learn": ("db", "out"),
}
#: What a value of a plain ``type=`` is called in messages.
_WHAT: dict[Any, str] = {int: "integer", float: "number"}


def _temperatures(text: str) -> Any:
    """``thermognn sample --temperature``: one value, a list, ``MIN:MAX`` or a grid."""
    return parse_range(text) if text.count(":") == 1 else parse_floats(text)


def _comma_list(cast: Callable[[str], Any], minimum: float | None = None) -> Callable[[str], Any]:
    what = f"{_WHAT[cast]}s" if cast in _WHAT else "values"
    bound = f" ≥ {minimum}" if minimum is not None else ""

    def convert(text: str) -> list[Any]:
        try:
            values = [cast(p.strip()) for p in text.split(",") if p.strip()]
        except ValueError:
            values = []
        if not values or (minimum is not None and min(values) < minimum):
            raise ValueError(f"expected a list of {what}{bound}")
        return values

    return convert


def _registered_scheme(text: str) -> str:
    from thermognn.sampling import scheme_names

    names = tuple(scheme_names())
    if text not in names:
        raise ValueError(_choose(names))
    return text


def _key_value(text: str) -> str:
    if not text.partition("=")[1] or not text.partition("=")[0].strip():
        raise ValueError("expected KEY=VALUE")
    return text


#: Converters of options whose parser keeps the text and reads it later
#: (``(stage, dest)``; stage ``*`` = every stage).
LATER_PARSED: dict[tuple[str, str], Callable[[str], Any]] = {
    ("sample", "temperature"): _temperatures,
    ("sample", "scheme"): _registered_scheme,
    ("curve", "sizes"): _comma_list(int, minimum=1),
    ("sweep", "lr"): _comma_list(float),
    ("sweep", "hidden"): _comma_list(int, minimum=1),
    ("sweep", "dropout"): _comma_list(float),
    ("*", "hparam"): _key_value,
    ("*", "scheme_option"): _key_value,
    ("*", "calculator_option"): _key_value,
}


@dataclass(frozen=True)
class Option:
    """One option of a subcommand, read from its argparse action."""

    dest: str
    flag: str
    kind: str  # "flag" (store_true/false), "append" or "value"
    convert: Callable[[str], Any] | None
    choices: tuple[Any, ...] | None
    default: Any
    required: bool

    @classmethod
    def of(cls, stage: str, action: argparse.Action) -> Option:
        flag = max(action.option_strings, key=len)
        kind = "flag" if isinstance(action, argparse._StoreConstAction) else "value"
        if isinstance(action, argparse._AppendAction):
            kind = "append"
        convert = LATER_PARSED.get((stage, action.dest)) or LATER_PARSED.get(("*", action.dest))
        choices = tuple(action.choices) if action.choices is not None else None
        needed = action.dest in NEEDED.get(stage, ()) and action.default is None
        return cls(
            action.dest,
            flag,
            kind,
            convert or action.type,  # type: ignore[arg-type]
            choices,
            action.default,
            bool(action.required or needed),
        )

    def check(self, value: Any) -> str:
        """The command-line text of a TOML value, or a ``PydanticCustomError``."""
        if isinstance(value, bool) or isinstance(value, dict):
            raise PydanticCustomError("option", self._expected())
        if isinstance(value, list | tuple):
            if any(isinstance(v, bool | dict | list) for v in value):
                raise PydanticCustomError("option", self._expected())
            text = ",".join(str(v) for v in value)
        else:
            text = str(value)
        converted: Any = text
        if self.convert is not None:
            try:
                converted = self.convert(text)
            except (argparse.ArgumentTypeError, ValueError, TypeError) as exc:
                raise PydanticCustomError("option", self._expected(exc)) from None
        if self.choices is not None and converted not in self.choices:
            raise PydanticCustomError("option", _choose(self.choices))
        return text

    def check_all(self, value: Any) -> list[str]:
        """``append`` options: one value or a list, each checked; a KEY=VALUE option
        also takes a table (``{device = "cuda:1"}``)."""
        if isinstance(value, dict) and self.convert is _key_value:
            import json

            value = [f"{k}={v if isinstance(v, str) else json.dumps(v)}" for k, v in value.items()]
        return [self.check(v) for v in (value if isinstance(value, list) else [value])]

    def _expected(self, exc: Exception | None = None) -> str:
        if self.convert in _WHAT or exc is None:
            what = _WHAT.get(self.convert, "string or number")
            return f"expected {'an' if what[0] in 'aeiou' else 'a'} {what}"
        message = re.sub(r"^--[\w-]+: ", "", str(exc))
        return message.split(", got ")[0].replace("{", "(").replace("}", ")")


def _choose(choices: tuple[Any, ...]) -> str:
    return "expected one of " + ", ".join(str(c) for c in choices)


def positional_rule(actions: list[argparse.Action]) -> tuple[int, int | None, str]:
    """Least and most positional values (``None``: no limit) and their names."""
    least = 0
    most: int | None = 0
    for action in actions:
        nargs = action.nargs
        least += 1 if nargs in (None, "+") else (nargs if isinstance(nargs, int) else 0)
        if nargs in ("*", "+") or most is None:
            most = None
        else:
            most += nargs if isinstance(nargs, int) else 1
    return least, most, " ".join(a.dest.upper() for a in actions)


def _args_checker(actions: list[argparse.Action]) -> Callable[[Any], list[str]]:
    least, most, names = positional_rule(actions)

    def check(value: Any) -> list[str]:
        values = value if isinstance(value, list) else [value]
        if any(isinstance(v, bool | dict | list) for v in values):
            raise PydanticCustomError("option", "expected a list of strings or numbers")
        if len(values) < least or (most is not None and len(values) > most):
            span = f"{least}" if most == least else f"{least} to {most or 'any number of'}"
            raise PydanticCustomError("option", f"expected {span} value(s) ({names})")
        return [str(v) for v in values]

    return check


def _choice_validator(option: Option) -> Any:
    def check(cls: type, value: Any) -> Any:
        if value not in (option.choices or ()):
            raise PydanticCustomError("option", _choose(option.choices or ()))
        return value

    return field_validator(option.dest)(check)


def options_of(stage: str, parser: argparse.ArgumentParser) -> tuple[list[Option], list[Any]]:
    """The options (``--config`` and ``--help`` left out) and positionals of a parser."""
    actions = [a for a in parser._actions if a.dest != "config" and _is_setting(a)]
    options = [Option.of(stage, a) for a in actions if a.option_strings]
    return options, [a for a in actions if not a.option_strings]


def _is_setting(action: argparse.Action) -> bool:
    """Whether an action takes a setting (not ``--help``, ``--list-schemes`` …)."""
    return action.nargs != 0 or isinstance(action, argparse._StoreConstAction)


def section_model(
    stage: str,
    parser: argparse.ArgumentParser,
    base: type[Settings] = Settings,
    positional: bool = True,
) -> type[Settings]:
    """Pydantic model of one stage section: ``base``'s fields plus the parser's options.

    An option that ``base`` already defines keeps ``base``'s type and bounds and must
    also be one of the parser's ``choices``; positional arguments (unless
    ``positional`` is false) are the list ``args``.
    """
    options, positionals = options_of(stage, parser)
    fields: dict[str, Any] = {}
    validators: dict[str, Any] = {}
    for option in options:
        if option.dest in base.model_fields:
            if option.choices is not None:
                validators[f"_choice_{option.dest}"] = _choice_validator(option)
            continue
        if option.kind == "flag":
            fields[option.dest] = (bool, ... if option.required else None)
            continue
        check = option.check_all if option.kind == "append" else option.check
        kind = list[str] if option.kind == "append" else str
        fields[option.dest] = (
            Annotated[kind | None, BeforeValidator(check)],
            ... if option.required else None,
        )
    if positionals and positional:
        least = positional_rule(positionals)[0]
        fields["args"] = (
            Annotated[list[str], BeforeValidator(_args_checker(positionals))],
            ... if least else [],
        )
    name = f"{stage.title()}Section"
    return create_model(name, __base__=base, __validators__=validators, **fields)  # type: ignore[call-overload,no-any-return]
