"""Griffe extension for the docs build: Sphinx roles in the docstrings as code spans.

The package's numpy docstrings cross-reference with Sphinx roles
(``:func:`~thermognn.studies.run_sweep```) and end literal-block introductions with
``::``; mkdocstrings renders Markdown, so the roles become code spans (``run_sweep``,
the last dotted part where a ``~`` asks for it) and ``::`` a colon.
"""

from __future__ import annotations

import re
from typing import Any

import griffe

_ROLE = re.compile(r":(?:py:)?(?:func|class|meth|mod|attr|data|obj|exc|const|term|ref):`(~?)([^`]+)`")


def _code(match: re.Match[str]) -> str:
    short, target = match.group(1), match.group(2)
    return f"`{target.rsplit('.', 1)[-1] if short else target}`"


def convert(text: str) -> str:
    """Sphinx roles → code spans; a line ending in ``::`` → ``:``."""
    text = _ROLE.sub(_code, text)
    text = text.replace("``", "`")
    return re.sub(r"::$", ":", text, flags=re.M)


class SphinxRoles(griffe.Extension):
    """Rewrite every loaded docstring with :func:`convert`."""

    def on_instance(self, *, node: Any, obj: griffe.Object, agent: Any, **kwargs: Any) -> None:
        if obj.docstring is not None:
            obj.docstring.value = convert(obj.docstring.value)
