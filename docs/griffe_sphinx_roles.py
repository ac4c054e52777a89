"""A griffe extension: Sphinx roles in docstrings become Markdown for the API reference.

certpin's docstrings use Google style (Args/Returns/Raises) with Sphinx cross-reference roles
(:class:`certpin.PinSet`, :func:`~certpin.verify.check`, :mod:`ssl`). Markdown has no roles, so
without this they show literally. A role naming a ``certpin.`` object becomes a mkdocstrings
cross-reference (checked by ``mkdocs build --strict``: a reference to something the reference does
not document fails the build); any other (the standard library, unqualified names) becomes inline
code. ``~`` keeps the last component only, as in Sphinx.
"""

from __future__ import annotations

import re
from typing import Any

import griffe

ROLE = re.compile(r":(?:py:)?(class|func|meth|mod|data|attr|exc|obj|const):`(~?)([^`<>]+?)`")


def _replace(match: re.Match[str]) -> str:
    role, short, target = match.groups()
    target = target.strip()
    shown = target.rsplit(".", 1)[-1] if short else target
    if role in ("func", "meth"):
        shown += "()"
    if target.startswith("certpin.") and "._" not in target:
        return f"[`{shown}`][{target}]"
    return f"`{shown}`"


def convert(text: str) -> str:
    """``text`` with every Sphinx role replaced (see the module docstring)."""
    return ROLE.sub(_replace, text)


class SphinxRoles(griffe.Extension):
    """Rewrites the docstring of every object as it is loaded."""

    def on_instance(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.docstring is not None:
            obj.docstring.value = convert(obj.docstring.value)
