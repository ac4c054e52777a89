"""Plist values for the iOS importer: XML through the hardened reader, binary through plistlib.

Nothing here is public API. Both forms become :class:`Node` trees that remember where each value
came from (an XML line, or only the key path for a binary plist), with the same bounds:
:data:`certpin.config.MAX_INPUT_BYTES`, :data:`certpin.config.MAX_XML_DEPTH` nested
containers, and :data:`MAX_NODES` values (a binary plist can reference one object many times,
or itself).
"""

from __future__ import annotations

import datetime
import plistlib
import struct
from dataclasses import dataclass
from typing import Any

from ..errors import ConfigError, escape, quote
from ._common import check_size
from ._plist import PlistNode, read_plist
from ._xml import MAX_XML_DEPTH, parse_xml

#: most values one binary plist may expand to (shared references are counted each time)
MAX_NODES = 100_000


@dataclass
class Node:
    """A plist value: ``kind`` is ``dict``, ``array``, ``string``, ``bool``, ``integer`` or
    ``other`` (real, date, data, uid); ``value`` a ``dict[str, Node]``, ``list[Node]`` or the
    Python value; ``line`` the XML line, or None for a binary plist."""

    kind: str
    value: Any
    line: int | None


def read(data: str | bytes, source: str | None) -> Node:
    """The top value of an XML or binary (``bplist00``) plist.

    Raises:
        ConfigError: too large, hostile or malformed XML (as every XML importer), a binary
            plist that plistlib cannot read, nested deeper than MAX_XML_DEPTH, or expanding to
            more than MAX_NODES values.
    """
    check_size(data, source)
    if isinstance(data, bytes) and data.startswith(b"bplist"):
        return _binary(data, source)
    doc = parse_xml(data, source, allow_plist_doctype=True)
    return _from_xml(doc.lines, read_plist(doc))


def _from_xml(lines: dict[int, int], node: PlistNode) -> Node:
    line = lines.get(id(node.el), 0)
    tag = node.el.tag
    if tag == "dict":
        return Node("dict", {k: _from_xml(lines, v) for k, v in node.value.items()}, line)
    if tag == "array":
        return Node("array", [_from_xml(lines, v) for v in node.value], line)
    if tag in ("true", "false"):
        return Node("bool", node.value, line)
    if tag in ("string", "integer"):
        return Node(tag, node.value, line)
    return Node("other", node.value, line)


class _DuplicateKey(Exception):
    def __init__(self, key: object) -> None:
        super().__init__(key)
        self.key = key


class _EachKeyOnce(dict[str, Any]):
    """The ``dict_type`` of the binary reader: a key met twice in one dictionary is refused.
    plistlib keeps the last value, CoreFoundation the first (``CFBinaryPList.c`` adds each key
    with ``CFDictionaryAddValue``, which leaves an existing key alone): the app would read
    other pins than certpin (review 11)."""

    def __setitem__(self, key: str, value: Any) -> None:
        if key in self:
            raise _DuplicateKey(key)
        super().__setitem__(key, value)


def _binary(data: bytes, source: str | None) -> Node:
    try:
        top = plistlib.loads(data, fmt=plistlib.FMT_BINARY, dict_type=_EachKeyOnce)
    except _DuplicateKey as exc:
        raise ConfigError(
            f"binary plist: the key {quote(exc.key, None)} appears twice in one dictionary "
            "(Apple's CoreFoundation keeps the first value, Python's plistlib the last): "
            "refusing a file the app and certpin would read differently",
            path=source,
        ) from None
    except (plistlib.InvalidFileException, ValueError, TypeError, KeyError, IndexError,
            OverflowError, struct.error, RecursionError, MemoryError) as exc:
        raise ConfigError(f"not a readable binary plist: {escape(type(exc).__name__)}",
                          path=source) from None
    budget = [MAX_NODES]
    return _from_python(top, 0, budget, source)


def _from_python(value: object, depth: int, budget: list[int], source: str | None) -> Node:
    budget[0] -= 1
    if budget[0] < 0:
        raise ConfigError(f"binary plist expands to more than {MAX_NODES} values; refusing it",
                          path=source)
    if depth > MAX_XML_DEPTH:
        raise ConfigError(f"binary plist nested deeper than {MAX_XML_DEPTH} containers",
                          path=source)
    if isinstance(value, dict):
        out: dict[str, Node] = {}
        for k, v in value.items():
            if not isinstance(k, str):
                raise ConfigError("binary plist: a dictionary key that is not a string",
                                  path=source)
            out[k] = _from_python(v, depth + 1, budget, source)
        return Node("dict", out, None)
    if isinstance(value, list):
        return Node("array", [_from_python(v, depth + 1, budget, source) for v in value], None)
    if isinstance(value, bool):
        return Node("bool", value, None)
    if isinstance(value, str):
        return Node("string", value, None)
    if isinstance(value, int):
        return Node("integer", value, None)
    if isinstance(value, (float, bytes, datetime.datetime, plistlib.UID)):
        return Node("other", value, None)
    raise ConfigError(f"binary plist: unexpected {escape(type(value).__name__)}", path=source)
