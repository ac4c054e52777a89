"""Hardened XML for the Android and TrustKit importers: defusedxml, size, depth, encodings.

Nothing here is public API; :mod:`certpin.config` re-exports the limits.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, cast
from xml.etree.ElementTree import Element, TreeBuilder

from ..errors import ConfigError, escape, quote
from ._common import as_text, check_size, check_text, require

#: Deepest element nesting any XML importer accepts. Real Android configs nest ``<domain-config>``
#: a few levels and TrustKit plists about six; the cap keeps every recursive walk far below
#: Python's recursion limit (a thousand nested ``<array>`` used to raise RecursionError).
MAX_XML_DEPTH = 64

#: XML encodings read natively by expat; any other declared encoding is refused with a
#: ConfigError (Python's codec lookup behind expat raised LookupError, ValueError or
#: UnicodeError for unknown, non-text or multi-byte codecs such as ``utf-4``, ``hex``, ``utf-7``).
XML_ENCODINGS = frozenset({"utf-8", "utf-16", "utf-16be", "utf-16le", "iso-8859-1", "us-ascii"})


# The one DOCTYPE every Info.plist written by Xcode carries: an external identifier only, no
# internal subset, so it can declare no entity. It is blanked out (keeping line numbers) before
# parsing; any other DOCTYPE is refused by defusedxml (forbid_dtd=True).
_APPLE_PLIST_DOCTYPE = re.compile(
    r'<!DOCTYPE\s+plist\s+PUBLIC\s+"-//Apple//DTD PLIST 1\.0//EN"\s+'
    r'"http://www\.apple\.com/DTDs/PropertyList-1\.0\.dtd"\s*>'
)


@dataclass
class XmlDoc:
    """A parsed XML document with the source line of every element."""

    root: Element
    lines: dict[int, int]
    source: str | None

    def line(self, el: Element) -> int:
        """The 1-based line where ``el`` starts."""
        return self.lines.get(id(el), 0)

    def error(self, el: Element, message: str) -> ConfigError:
        """A :class:`ConfigError` located at ``el``."""
        return ConfigError(message, path=self.source, location=f"line {self.line(el)}")


def parse_xml(
    data: str | bytes, source: str | None, *, allow_plist_doctype: bool = False
) -> XmlDoc:
    """Parse untrusted XML with defusedxml: no DTD (hence no entities), size-capped.

    Args:
        data: the document.
        source: the file name for messages, or None.
        allow_plist_doctype: the document is a property list: blank out the standard Apple
            PLIST 1.0 DOCTYPE first (it has no internal subset; every other DOCTYPE is still
            refused), and refuse a comment or processing instruction inside a value element
            (``<string>``, ``<key>``, ...). ElementTree drops it and joins the text around it;
            Apple's parser reads ``<!`` there as the start of a CDATA section and fails the
            whole property list (CoreFoundation ``CFPropertyList.c``, ``parseStringTag``:
            "improper CDATA opening"), so the app would load no pins at all (review 11).

    Raises:
        ConfigError: too large, not well-formed (names the line and column), a DOCTYPE or
            entity declaration, or external references; in a property list, a comment or
            processing instruction inside a value element.
    """
    et = require("defusedxml.ElementTree")
    check_size(data, source)
    if isinstance(data, str):
        check_text(data, source)  # expat reads a str as UTF-8: no declared encoding applies
    else:
        _check_xml_encoding(data, source)
    if allow_plist_doctype:
        text = as_text(data, source)
        text = _APPLE_PLIST_DOCTYPE.sub(lambda m: re.sub(r"[^\n]", " ", m.group(0)), text, count=1)
        data = text.encode("utf-8")
        if text.lstrip().startswith("<?xml"):
            # keep the declaration consistent with the bytes we now hand to expat
            data = re.sub(rb'encoding\s*=\s*["\'][^"\']*["\']', b'encoding="utf-8"', data, count=1)

    builder = _LineBuilder(plist=allow_plist_doctype)
    parser = et.DefusedXMLParser(target=builder, forbid_dtd=True, forbid_entities=True,
                                 forbid_external=True)
    builder.parser = parser
    root = _feed(parser, data, source)
    return XmlDoc(root=root, lines=builder.lines, source=source)


class _LineBuilder(TreeBuilder):
    """A tree builder that records each element's line and refuses deep nesting."""

    parser: Any = None
    depth = 0

    def __init__(self, *, plist: bool = False) -> None:
        super().__init__()
        self.lines: dict[int, int] = {}
        self.plist = plist
        self.tags: list[str] = []

    def start(self, tag: str, attrs: dict[str, str]) -> Element:
        line = int(self.parser.parser.CurrentLineNumber)
        self.depth += 1
        if self.depth > MAX_XML_DEPTH:
            raise _TooDeep(line)
        el = super().start(tag, attrs)
        self.lines[id(el)] = line
        self.tags.append(tag)
        return el

    def end(self, tag: str) -> Element:
        self.depth -= 1
        if self.tags:
            self.tags.pop()
        return super().end(tag)

    def comment(self, text: str | None) -> Element:
        self._markup_between_elements_only("a comment")
        return super().comment(text)

    def pi(self, target: str, text: str | None = None) -> Element:
        self._markup_between_elements_only("a processing instruction")
        return super().pi(target, text)

    def _markup_between_elements_only(self, what: str) -> None:
        if self.plist and self.tags and self.tags[-1] not in _PLIST_CONTAINERS:
            raise _InValue(what, self.tags[-1], int(self.parser.parser.CurrentLineNumber))


def _feed(parser: Any, data: str | bytes, source: str | None) -> Element:
    """Run the parser over ``data``; every refusal or syntax error becomes a ConfigError."""
    et = require("defusedxml.ElementTree")
    common = require("defusedxml")
    try:
        parser.feed(data)
        return cast(Element, parser.close())
    except _InValue as exc:
        raise ConfigError(
            f"{exc.what} inside a <{escape(exc.tag)}> element: Apple's property-list parser "
            "reads '<!' there as a CDATA section and fails the whole file, so the app would "
            "load nothing from it (CFPropertyList.c, parseStringTag)",
            path=source, location=f"line {exc.line}",
        ) from None
    except _TooDeep as exc:
        raise ConfigError(
            f"XML nested deeper than {MAX_XML_DEPTH} elements; refusing to parse it",
            path=source, location=f"line {exc.line}",
        ) from None
    except common.DTDForbidden:
        raise ConfigError(
            "XML with a DOCTYPE is refused (DTDs can define entities: billion laughs, XXE)",
            path=source,
        ) from None
    except (common.EntitiesForbidden, common.ExternalReferenceForbidden):
        raise ConfigError("XML entities and external references are refused", path=source) from None
    except et.ParseError as exc:
        line, col = exc.position
        raise ConfigError(
            f"not well-formed XML: {escape(str(exc).split(':')[0])}",
            path=source, location=f"line {line}, column {col + 1}",
        ) from None
    except (LookupError, ValueError, UnicodeError) as exc:  # pragma: no cover - belt and braces
        # _check_xml_encoding refuses what expat hands to Python's codecs; should a codec error
        # still come through, it is bad input, not a bug.
        raise ConfigError(f"cannot decode the XML: {escape(str(exc))}", path=source) from None


#: property-list elements whose content is elements, not text: a comment between their
#: children is allowed
_PLIST_CONTAINERS = frozenset({"plist", "dict", "array"})


class _InValue(Exception):
    """A comment or processing instruction inside a property-list value element."""

    def __init__(self, what: str, tag: str, line: int) -> None:
        super().__init__(what)
        self.what, self.tag, self.line = what, tag, line


class _TooDeep(Exception):
    def __init__(self, line: int):
        super().__init__(line)
        self.line = line


_XML_DECL_ENCODING = re.compile(
    rb"""\A(?:\xef\xbb\xbf)?<\?xml[ \t\r\n][^>]*?\bencoding[ \t\r\n]*=[ \t\r\n]*"""
    rb"""(?:"([^"]*)"|'([^']*)')"""
)


def _check_xml_encoding(data: bytes, source: str | None) -> None:
    """Refuse an XML declaration naming an encoding expat does not read natively.

    Raises:
        ConfigError: the declared encoding is not one of :data:`XML_ENCODINGS`.
    """
    m = _XML_DECL_ENCODING.match(data[:1024])
    if m is None:
        return
    raw = m.group(1) if m.group(1) is not None else m.group(2)
    name = raw.decode("latin-1").lower()
    if name not in XML_ENCODINGS:
        raise ConfigError(
            f"unsupported XML encoding {quote(raw.decode('latin-1'), None)}: "
            "expected UTF-8 (or UTF-16, ISO-8859-1, US-ASCII)",
            path=source, location="line 1",
        )
