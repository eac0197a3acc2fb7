"""Plug-ins: registries of sampling schemes, labelers and model families.

Each kind of plug-in has one :class:`Registry`, filled by a decorator
(:func:`thermognn.sampling.register_scheme`, :func:`thermognn.labels.register_labeler`,
:func:`thermognn.models.register_family`). Importing a module that uses the decorators
is enough to register what it defines. An installed package can also declare an entry
point in the ``thermognn.plugins`` group; the registries load that group once, on
their first lookup, so its schemes, labelers and families are known by name to the
CLI and the library without any import by the user::

    # pyproject.toml of a plug-in package
    [project.entry-points."thermognn.plugins"]
    mypkg = "mypkg.thermognn_plugin"        # a module: importing it registers

An entry point may also name a callable taking no arguments; it is called once.
A plug-in that fails to load is logged as a warning and skipped, so one broken
package cannot take down the command line.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from importlib import import_module
from typing import Generic, TypeVar

from thermognn.errors import ThermognnError

log = logging.getLogger(__name__)

#: Entry-point group scanned for plug-ins.
ENTRY_POINT_GROUP = "thermognn.plugins"

T = TypeVar("T")

_loaded_entry_points = False


def load_plugins(*, force: bool = False) -> list[str]:
    """Load every ``thermognn.plugins`` entry point once; return the names loaded now.

    Parameters
    ----------
    force
        Scan the group again (e.g. after installing a package in a running session).
    """
    global _loaded_entry_points
    if _loaded_entry_points and not force:
        return []
    _loaded_entry_points = True
    from importlib.metadata import entry_points

    loaded = []
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        try:
            target = ep.load()
            if callable(target) and not isinstance(target, type):
                target()
        except Exception as exc:  # noqa: BLE001 - a broken plug-in must not break the CLI
            name = type(exc).__name__
            log.warning("plug-in %s (%s) failed to load: %s: %s", ep.name, ep.value, name, exc)
            continue
        loaded.append(ep.name)
    if loaded:
        log.debug("loaded thermognn plug-ins: %s", ", ".join(loaded))
    return loaded


class Registry(Generic[T]):
    """Named entries of one plug-in kind.

    Parameters
    ----------
    kind
        What an entry is, for messages (``"sampling scheme"``, ``"labeler"``).
    builtins
        Modules whose import registers the built-in entries (imported on first lookup).
    """

    def __init__(self, kind: str, builtins: tuple[str, ...] = ()) -> None:
        self.kind = kind
        self.builtins = builtins
        self._entries: dict[str, T] = {}
        self._ready = False

    def add(self, name: str, entry: T) -> None:
        """Register ``entry`` as ``name`` (a later registration replaces an earlier one)."""
        if not name or name != name.strip():
            raise ValueError(f"{self.kind} name must be a non-empty word, got {name!r}")
        if name in self._entries:
            log.debug("%s %r registered again; the new entry replaces the old", self.kind, name)
        self._entries[name] = entry

    def decorator(self, name: str, wrap: Callable[[Callable], T]) -> Callable[[Callable], Callable]:
        """A decorator registering ``wrap(obj)`` as ``name`` and returning ``obj`` itself."""

        def decorate(obj: Callable) -> Callable:
            self.add(name, wrap(obj))
            return obj

        return decorate

    def _load(self) -> None:
        if self._ready:
            return
        self._ready = True
        for module in self.builtins:
            import_module(module)
        load_plugins()

    def get(self, name: str) -> T:
        """The entry called ``name``; one :class:`ThermognnError` listing the known names."""
        self._load()
        try:
            return self._entries[name]
        except KeyError:
            raise ThermognnError(
                f"unknown {self.kind} {name!r} (known: {', '.join(self.names())})"
            ) from None

    def names(self) -> list[str]:
        """Registered names, in registration order (built-ins first)."""
        self._load()
        return list(self._entries)

    def __contains__(self, name: object) -> bool:
        self._load()
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())
