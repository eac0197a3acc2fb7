"""Helpers shared by subcommands: TOML study files, option parsing, progress bars."""

from __future__ import annotations

import argparse
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from thermognn.errors import ThermognnError


def parse_supercell(text: str) -> tuple[int, int, int]:
    """``"2,2,2"`` or ``"2"`` → (2, 2, 2)."""
    try:
        parts = [int(p) for p in text.replace("x", ",").split(",") if p.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"--supercell: expected N or N,N,N, got {text!r}"
        ) from None
    if len(parts) == 1:
        parts *= 3
    if len(parts) != 3 or min(parts) < 1:
        raise argparse.ArgumentTypeError(f"--supercell: expected N or N,N,N ≥ 1, got {text!r}")
    return (parts[0], parts[1], parts[2])


def parse_range(text: str) -> tuple[float, float]:
    """``"0.1:0.8"`` → (0.1, 0.8); ``"0.3"`` → (0.3, 0.3)."""
    try:
        parts = [float(p) for p in text.split(":")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected MIN:MAX, got {text!r}") from None
    if len(parts) == 1:
        parts *= 2
    if len(parts) != 2 or parts[0] > parts[1]:
        raise argparse.ArgumentTypeError(f"expected MIN:MAX with MIN ≤ MAX, got {text!r}")
    return (parts[0], parts[1])


def parse_floats(text: str) -> list[float]:
    """``"150,300,600"`` or ``"0:600:50"`` (start:stop:step, stop included) → floats."""
    if ":" in text:
        try:
            start, stop, step = (float(p) for p in text.split(":"))
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected START:STOP:STEP, got {text!r}") from None
        if step <= 0:
            raise argparse.ArgumentTypeError(f"step must be positive in {text!r}")
        n = int(round((stop - start) / step)) + 1
        return [start + i * step for i in range(max(n, 0))]
    return parse_numbers(text, float, "numbers")


def parse_numbers(text: str, cast: Callable[[str], Any], what: str) -> list[Any]:
    """``"1,2,3"`` → ``[cast("1"), …]``; ``what`` names the items in the error."""
    try:
        return [cast(p) for p in text.split(",") if p.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated {what}, got {text!r}") from None


def parse_key_values(items: list[str], option: str) -> dict[str, Any]:
    """``KEY=VALUE`` strings of ``option`` → a dict (values read as JSON when they parse)."""
    import json

    values: dict[str, Any] = {}
    for item in items:
        key, sep, text = item.partition("=")
        if not sep or not key.strip():
            raise ThermognnError(f"{option}: expected KEY=VALUE, got {item!r}")
        try:
            values[key.strip()] = json.loads(text)
        except json.JSONDecodeError:
            values[key.strip()] = text
    return values


def add_command(
    sub: argparse._SubParsersAction, name: str, doc: str | None
) -> argparse.ArgumentParser:
    """The parser of subcommand ``name``, documented by its module docstring ``doc``.

    The docstring's title (````thermognn name``: what it does.``) gives the one-line
    help, the text after the colon; the paragraphs after the title, up to a literal
    example (``::``), give the description.
    """
    title, _, body = (doc or "").strip().partition("\n\n")
    summary = " ".join(title.split(": ", 1)[-1].split()).rstrip(".").replace("%", "%%")
    description = body.split("::")[0].strip()
    return sub.add_parser(name, help=summary or None, description=description or None)


def option_values(
    args: argparse.Namespace, names: Iterable[str], prefix: str = ""
) -> dict[str, Any]:
    """``{name: args.<prefix><name>}``: options a call takes unchanged, as keywords."""
    return {name: getattr(args, prefix + name) for name in names}


def add_setting_options(parser: Any, table: dict[str, tuple[type, str]]) -> None:
    """One ``--name`` option per ``{name: (type, help)}`` entry, each defaulting to ``None``.

    An option left out keeps the setting's own default (read back with :func:`option_values`).
    """
    for name, (kind, text) in table.items():
        parser.add_argument(f"--{name.replace('_', '-')}", type=kind, default=None, help=text)


def add_choice(parser: Any, flag: str, choices: tuple[str, ...], help: str) -> None:
    """An option taking one of ``choices``, the first being the default."""
    parser.add_argument(flag, default=choices[0], choices=choices, help=help)


def add_dask_options(parser: Any, workers_help: str = "Dask workers (0: this process)") -> None:
    """``--workers N --scheduler ADDRESS``: where Dask tasks run (``parser`` or a group)."""
    parser.add_argument("--workers", type=int, default=None, help=workers_help)
    parser.add_argument(
        "--scheduler",
        default=None,
        metavar="ADDRESS",
        help="address of a running Dask scheduler (e.g. tcp://host:8786)",
    )


def add_calculator_options(parser: argparse.ArgumentParser) -> None:
    """``--calculator-option KEY=VALUE`` (repeatable): keyword options of the calculator.

    In a study file: ``calculator_option = {device = "cuda:1"}`` (a table) or a list of
    ``"KEY=VALUE"`` strings.
    """
    parser.add_argument(
        "--calculator-option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="keyword option of the labeler/calculator factory, value read as JSON when it "
        "parses (e.g. device=cuda:1, max_iterations=500); repeatable",
    )


def calculator_options(args: argparse.Namespace) -> dict[str, Any]:
    """The ``--calculator-option`` values of parsed arguments as a dict."""
    return parse_key_values(getattr(args, "calculator_option", None) or [], "--calculator-option")


def add_hparam_options(parser: argparse._ActionsContainer, hparam_help: str) -> None:
    """``--hidden --dropout --hparam KEY=VALUE`` (read back by ``train.parse_hparams``)."""
    parser.add_argument("--hidden", type=int, default=None, help="hidden channels")
    parser.add_argument("--dropout", type=float, default=None, help="dropout probability")
    parser.add_argument(
        "--hparam", action="append", default=[], metavar="KEY=VALUE", help=hparam_help
    )


def load_toml(path: str | Path) -> dict[str, Any]:
    """Read a TOML study file; one clear error when missing or malformed."""
    try:
        import tomllib
    except ModuleNotFoundError:  # pragma: no cover - Python 3.10
        import tomli as tomllib  # type: ignore[no-redef]
    path = Path(path)
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise ThermognnError(f"{path}: no such study file") from None
    except tomllib.TOMLDecodeError as exc:
        raise ThermognnError(f"{path}: invalid TOML ({exc})") from None


def apply_config_section(
    args: argparse.Namespace,
    parser_defaults: dict[str, Any],
    section: dict[str, Any],
    where: str,
    types: dict[str, Callable[[str], Any]] | None = None,
) -> None:
    """Fill options the user left at their defaults from a TOML section.

    Command-line values win over the file; unknown keys are an error naming them.
    A string for an option with a ``type`` (``types``) is read as on the command line:
    ``supercell = "3,3,3"`` gives ``(3, 3, 3)`` like ``[3, 3, 3]``.
    """
    for key, value in section.items():
        attr = key.replace("-", "_")
        if not hasattr(args, attr):
            raise ThermognnError(f"{where}: unknown option {key!r}")
        if getattr(args, attr) == parser_defaults.get(attr):
            cast = (types or {}).get(attr)
            setattr(args, attr, value if cast is None else _typed(value, cast, f"{where} {key}"))


def _typed(value: Any, cast: Callable[[str], Any], where: str) -> Any:
    """A TOML string through an option's ``type``; other TOML values are already typed."""
    if not isinstance(value, str):
        return value
    try:
        return cast(value)
    except (argparse.ArgumentTypeError, ValueError) as exc:
        raise ThermognnError(f"{where}: {exc}") from None


def add_config_option(parser: argparse.ArgumentParser, section: str = "<command>") -> None:
    """``--config STUDY.toml``: read this command's options from a study file.

    Also records ``parser`` in the parsed arguments (``args.parser``), which
    :func:`resolve_config` reads the defaults and types from.
    """
    parser.add_argument(
        "--config",
        metavar="TOML",
        help=f"study file; options of this command are read from its [{section}] section",
    )
    parser.set_defaults(parser=parser)


def resolve_config(args: argparse.Namespace, parser: argparse.ArgumentParser, section: str) -> None:
    """Apply ``[section]`` of ``args.config`` (if given) to ``args``.

    A dotted ``section`` names a nested table (``vasp.export``: ``[vasp.export]``).
    """
    if not getattr(args, "config", None):
        return
    table = load_toml(args.config)
    for key in section.split("."):
        table = table.get(key, {})
    defaults = {a.dest: a.default for a in parser._actions}
    types = {a.dest: a.type for a in parser._actions if callable(a.type)}
    where = f"{args.config} [{section}]"
    apply_config_section(args, defaults, table, where, types)


class progress_callback:  # noqa: N801 - used like a function in ``with`` statements
    """Context manager yielding ``update(done, total)`` that drives a rich progress bar.

    The bar appears on the first update, so a command that fails before doing any
    work prints only its one-line error.
    """

    def __init__(self, description: str) -> None:
        self.description = description
        self._bar: Any = None
        self._task: Any = None

    def __enter__(self) -> Callable[[int, int], None]:
        return self.update

    def _start(self) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TaskProgressColumn,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self._bar = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TaskProgressColumn(),
            _rate_column(),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=Console(stderr=True),
        )
        self._bar.start()
        self._task = self._bar.add_task(self.description, total=None)

    def update(self, done: int, total: int) -> None:
        if self._bar is None:
            self._start()
        self._bar.update(self._task, completed=done, total=total)

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.stop()


def _rate_column() -> Any:
    """A rich column showing items per second."""
    from rich.progress import ProgressColumn
    from rich.text import Text

    class RateColumn(ProgressColumn):
        def render(self, task: Any) -> Text:
            return Text(f"{task.speed:.2f}/s" if task.speed else "", style="cyan")

    return RateColumn()


def print_differences(console: Any, differences: Any) -> None:
    """One line per paired difference of an experiment (``differences.csv`` rows)."""
    for d in differences:
        console.print(
            f"{d['label']} {d['test_set']} n={d['size']}: {d['arm_a']} − {d['arm_b']} = "
            f"{d['difference']:+.4g} [{d['ci_low']:+.4g}, {d['ci_high']:+.4g}] → {d['verdict']}"
        )
