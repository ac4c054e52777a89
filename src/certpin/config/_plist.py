"""XML plist values with their source lines, for the TrustKit importer.

Nothing here is public API.
"""

from __future__ import annotations

import json
from typing import Any
from xml.etree.ElementTree import Element

from ..errors import ConfigError, escape, quote
from ._xml import XmlDoc


class PlistNode:
    """A plist value with the element it came from (for line numbers)."""

    def __init__(self, value: Any, el: Element):
        self.value = value
        self.el = el


class PlistReader:
    """What every step of an import shares: the document, the file name and the warnings."""

    def __init__(self, doc: XmlDoc, source: str | None, warns: list[str]):
        self.doc = doc
        self.source = source
        self.warns = warns

    def at(self, node: PlistNode, p: str, message: str) -> ConfigError:
        """A ConfigError naming the file, the line of ``node`` and the key path ``p``."""
        return ConfigError(message, path=self.source,
                           location=f"line {self.doc.line(node.el)} ({p})")

    def warn(self, node: PlistNode, message: str) -> None:
        """Record a warning located at ``node``."""
        self.warns.append(f"{self.source or '<input>'}, line {self.doc.line(node.el)}: {message}")


def read_plist(doc: XmlDoc) -> PlistNode:
    """The top value of a ``<plist>`` document (or the root element itself, if not a plist)."""
    root = doc.root
    if root.tag != "plist":
        return plist_value(doc, root, "(plist)")
    kids = list(root)
    if len(kids) != 1:
        raise doc.error(root, "<plist> must hold exactly one value")
    return plist_value(doc, kids[0], "(plist)")


def plist_value(doc: XmlDoc, el: Element, path: str) -> PlistNode:
    """Convert one plist element (recursively); ``path`` names it in messages."""
    tag = el.tag
    if tag == "dict":
        return _plist_dict(doc, el, path)
    if tag == "array":
        return PlistNode([plist_value(doc, c, f"{path}[{i}]") for i, c in enumerate(el)], el)
    if tag in ("string", "date"):
        return PlistNode(el.text or "", el)
    if tag in ("true", "false"):
        return PlistNode(tag == "true", el)
    if tag == "integer":
        try:
            return PlistNode(int((el.text or "").strip()), el)
        except ValueError:
            raise doc.error(el, f"{path}: bad <integer>") from None
    if tag in ("real", "data"):
        return PlistNode((el.text or "").strip(), el)
    raise doc.error(el, f"{path}: unexpected <{escape(tag)}> in a plist")


def _plist_dict(doc: XmlDoc, el: Element, path: str) -> PlistNode:
    """Convert a ``<dict>``: ``<key>``/value pairs, no key twice."""
    out: dict[str, PlistNode] = {}
    children = list(el)
    if len(children) % 2:
        raise doc.error(el, f"{path}: <dict> needs <key>/value pairs")
    for k, v in zip(children[::2], children[1::2], strict=True):
        if k.tag != "key":
            raise doc.error(k, f"{path}: expected <key>, got <{escape(k.tag)}>")
        name = k.text or ""
        if name in out:
            raise doc.error(k, f"{path}: duplicate key {quote(name, None)}")
        out[name] = plist_value(doc, v, f"{path}.{key_path(name)}")
    return PlistNode(out, el)


def key_path(name: str) -> str:
    """A dictionary key as a path component: bare if alphanumeric, else JSON-quoted."""
    return name if name.replace("_", "").isalnum() else json.dumps(name)
