"""Host names and host patterns in one normal form, so that every spelling of a host is one host.

Longer than 400 lines because it is the one place that decides which host a spelling means
(IDNA 2003 against UTS 46, IP literal forms, IPv4 inside IPv6, the unspecified address), with
each rule and its source documented where it is enforced; splitting it would split that answer.

Host names and patterns are normalised before they are compared (:func:`normalize_host`,
:func:`normalize_pattern`):

* lower case; one trailing dot dropped (``example.com.`` is ``example.com``; two are an error);
* internationalised names converted to A-labels (``bücher.example`` is
  ``xn--bcher-kva.example``) with IDNA 2003, as Python's :mod:`ssl` (``str.encode("idna")``)
  encodes ``server_hostname``. The IDNA 2003 separators U+3002, U+FF0E and U+FF61 count as dots;
* the *deviation characters* ß, ς, ZWJ and ZWNJ (U+00DF, U+03C2, U+200D, U+200C) are refused:
  IDNA 2003 (Python's ssl, and the TLS layer here) maps ``straße.de`` to ``strasse.de`` while
  UTS 46 (the ``idna`` package, requests, httpx) keeps ß and gives ``xn--strae-oqa.de``, two
  different hosts. A pattern that names either spelling would let the other fall through to
  "not pinned". The same holds for every character that the two encode differently: code points
  that Unicode 3.2 (IDNA 2003's version) does not assign (e.g. ẞ U+1E9E, which UTS 46 maps to ß;
  RFC 3490 section 5 forbids them in stored strings anyway) and characters whose case, category
  or normalisation changed since (Cherokee, Hangul fillers, some CJK compatibility ideographs).
  Such patterns, also written as A-labels (``xn--strae-oqa.de``), are a :class:`PolicyError`;
  the test suite checks against the ``idna`` package that every other code point encodes the
  same under both. A host name *in Unicode* with such a character is ambiguous in the same way
  and cannot be looked up either (:func:`normalize_host` raises, and :func:`certpin.check`
  returns a failing verdict, never "not pinned"). A host name given as an A-label is a DNS name
  already and is looked up as it is. (Python's ssl hands the TLS layer ``server_hostname``
  already IDNA 2003-encoded, so there the question does not arise.)
* IP literals are canonicalised with :mod:`ipaddress`: IPv4 in dotted-quad form only (``127.1``,
  ``0x7f.0.0.1`` or ``127.000.0.1`` are refused, as is any name whose last label is numeric but
  is not such an address), IPv6 compressed (``0:0::1`` is ``::1``), brackets allowed on input
  (``[::1]``), zone identifiers (``fe80::1%eth0``) refused.

This module is pure: no I/O, no sockets, no :mod:`ssl`.
"""

from __future__ import annotations

import encodings.idna
import functools
import ipaddress
import re
import unicodedata
from typing import Literal, NoReturn

from .errors import PolicyError, escape, quote

__all__ = ["is_ip", "normalize_host", "normalize_pattern"]

_MAX_LABEL = 63  # RFC 1035 section 2.3.4
_MAX_NAME = 253  # RFC 1035 section 2.3.4 (255 octets on the wire, 253 characters as text)
_MAX_INPUT = 1024  # longer text is refused before any work is done on it
#: IDNA 2003 / UTS 46 label separators besides "." (RFC 3490 section 3.1).
_DOTS = str.maketrans({"\u3002": ".", "\uff0e": ".", "\uff61": "."})


#: Characters that IDNA 2003 and UTS 46 (non-transitional) encode differently (UTS 46 section 4).
_DEVIATIONS = {
    "\u00df": "ß (U+00DF LATIN SMALL LETTER SHARP S)",
    "\u03c2": "ς (U+03C2 GREEK SMALL LETTER FINAL SIGMA)",
    "\u200d": "U+200D ZERO WIDTH JOINER",
    "\u200c": "U+200C ZERO WIDTH NON-JOINER",
    # Not a deviation itself, but UTS 46 maps it to ß while IDNA 2003 maps it to "ss".
    "\u1e9e": "ẞ (U+1E9E LATIN CAPITAL LETTER SHARP S, which UTS 46 maps to ß)",
}


_PATTERN_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]*[a-z0-9])?")  # LDH, RFC 1123 section 2.1


# Host names being looked up also accept "_" and hyphens at either end: such names occur in
# private networks, TLS may still validate them, and refusing them would fail every connection
# to them even when they are not pinned. Patterns stay strict LDH.
_HOST_LABEL = re.compile(r"[a-z0-9_-]+")


# WHATWG URL "ends in a number": such a name is parsed as an IPv4 address by browsers and
# by some resolvers (inet_aton accepts 127.1 and 0x7f.1), so it must be a canonical address.
_NUMERIC_LABEL = re.compile(r"[0-9]+|0x[0-9a-f]*")


_Kind = Literal["host", "pattern"]


def _fail(kind: _Kind, text: object, why: str) -> NoReturn:
    raise PolicyError(f"invalid {kind} {quote(text)}: {why}")


# Default-ignorable characters that IDNA 2003 (Unicode 3.2) keeps and UTS 46 drops.
_IGNORABLE = frozenset("\u115f\u1160\u3164\uffa0\u17b4\u17b5")


def _ambiguity(ch: str, *, mapped: bool) -> str | None:
    """Why ``ch`` may encode differently under IDNA 2003 and UTS 46, or None if it cannot.

    ``mapped``: ``ch`` is already the output of nameprep (so it must be stable as it is).
    """
    if ch.isascii():
        return None
    if ch in _DEVIATIONS:
        return f"the IDNA deviation character {_DEVIATIONS[ch]}"
    code = f"U+{ord(ch):04X}"
    if unicodedata.ucd_3_2_0.category(ch) == "Cn":
        # RFC 3490 section 5: stored strings (a policy) must not hold unassigned code points.
        return f"{code}, which Unicode 3.2 (the version IDNA 2003 uses) does not assign"
    if unicodedata.ucd_3_2_0.normalize("NFKC", ch) != unicodedata.normalize("NFKC", ch):
        return f"{code}, whose normalisation (NFKC) changed after Unicode 3.2"
    if mapped and (
        unicodedata.ucd_3_2_0.category(ch) != unicodedata.category(ch)
        or unicodedata.normalize("NFKC", ch) != ch
        or ch.lower() != ch
        or ch in _IGNORABLE
    ):
        return f"{code}, whose Unicode case, category or normalisation changed after Unicode 3.2"
    return None


def _ambiguity_error(kind: _Kind, text: str, reason: str) -> NoReturn:
    _fail(
        kind,
        text,
        f"it contains {reason}; IDNA 2003 (Python's ssl) and UTS 46 (the idna package, "
        "requests, httpx) encode such names to different A-labels (straße.de is strasse.de in "
        "one and xn--strae-oqa.de in the other), so one spelling could escape the pin; write "
        "the A-label form you mean (for example 'strasse.de') and, if both names resolve to "
        "your server, pin both",
    )


#: IPv6 prefixes that embed an IPv4 address in their last 32 bits and reach that IPv4 host:
#: IPv4-mapped ``::ffff:0:0/96`` (RFC 4291 section 2.5.5.2: a dual-stack socket connects to the
#: IPv4 host), the NAT64 well-known prefix ``64:ff9b::/96`` (RFC 6052 section 2.1: the translator
#: connects to the IPv4 host) and the deprecated IPv4-compatible ``::/96`` (RFC 4291 section
#: 2.5.5.1), the last without ``::/104`` (``::``, ``::1`` and the rest of ``0.0.0.0/8``, which
#: no IPv4 host uses).
_EMBEDS_IPV4 = (
    ipaddress.IPv6Network("::ffff:0:0/96"),
    ipaddress.IPv6Network("64:ff9b::/96"),
)


_IPV4_COMPATIBLE = ipaddress.IPv6Network("::/96")


_NOT_IPV4_COMPATIBLE = ipaddress.IPv6Network("::/104")


#: IPv6 prefixes whose embedded IPv4 address is not the host's own, so the host cannot be told:
#: 6to4 ``2002::/16`` (RFC 3056: the IPv4 address is the site's relay router; deprecated by
#: RFC 7526), Teredo ``2001::/32`` (RFC 4380: a Teredo server and an obfuscated client address)
#: and the NAT64 local-use prefix ``64:ff9b:1::/48`` (RFC 8215: the IPv4 address sits where the
#: operator's prefix length puts it). Refused, so that no spelling of a pinned IPv4 host is
#: looked up as another, unpinned, host.
_AMBIGUOUS_IPV6 = (
    (ipaddress.IPv6Network("2002::/16"), "a 6to4 address (RFC 3056)"),
    (ipaddress.IPv6Network("2001::/32"), "a Teredo address (RFC 4380)"),
    (ipaddress.IPv6Network("64:ff9b:1::/48"), "a NAT64 local-use address (RFC 8215)"),
)


def _ip(text: str) -> str | None:
    """The canonical IP literal for ``text``, or None when it is not one.

    An IPv6 address that embeds an IPv4 host (:data:`_EMBEDS_IPV4`, IPv4-compatible) is that
    IPv4 host: ``::ffff:127.0.0.1``, ``::ffff:7f00:1``, ``64:ff9b::7f00:1`` and ``::127.0.0.1``
    all give ``"127.0.0.1"``, compared as addresses, never as text.

    Raises:
        ValueError: the unspecified address (``0.0.0.0``, ``::``), or an IPv6 address whose
            embedded IPv4 address cannot be told to be the host's (:data:`_AMBIGUOUS_IPV6`);
            the message says which kind it is.
    """
    try:
        address: ipaddress.IPv4Address | ipaddress.IPv6Address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address):
        if address.scope_id is not None:
            return None
        if any(address in net for net in _EMBEDS_IPV4) or (
            address in _IPV4_COMPATIBLE and address not in _NOT_IPV4_COMPATIBLE
        ):
            address = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    if address.is_unspecified:
        # 0.0.0.0 and :: as a destination reach this machine under any of its addresses
        # (127.0.0.1 among them, on Linux): which host is meant cannot be told.
        raise ValueError(
            "it is the unspecified address, which reaches this machine under any of its "
            "addresses, so which host is meant cannot be told (write the address you mean)"
        )
    if isinstance(address, ipaddress.IPv6Address):
        for net, kind in _AMBIGUOUS_IPV6:
            if address in net:
                raise ValueError(
                    f"it is {kind}: the IPv4 address inside it is not the host's own, so "
                    "which host is meant cannot be told (write the host's own address)"
                )
    return str(address)


def _ip_or_fail(kind: _Kind, text: object, value: str) -> str | None:
    """:func:`_ip`, with its refusal raised as a :class:`PolicyError` quoting ``text``."""
    try:
        return _ip(value)
    except ValueError as exc:
        _fail(kind, text, str(exc))


def _to_a_label(kind: _Kind, text: str, label: str) -> str:
    """One label (no dots) to its lower-case ASCII form, IDNA 2003 as Python's ssl does it.

    A label whose IDNA 2003 and UTS 46 encodings could differ is refused: the deviation
    characters, code points that Unicode 3.2 does not assign, and characters whose case,
    category or normalisation changed since (checked on the nameprep output, so only stable
    U-labels pass). ``tests/test_hostnames.py`` checks this against the ``idna`` package for every
    code point.
    """
    if label.isascii():
        ascii_label = label.lower()
        if not (kind == "pattern" and ascii_label.startswith("xn--")):
            # A host name given as an A-label is a DNS name already: looked up as it is.
            return ascii_label
        try:
            decoded = ascii_label[4:].encode("ascii").decode("punycode")
        except (UnicodeError, ValueError):
            _fail(kind, text, f"label {quote(ascii_label)} is not valid punycode (RFC 3492)")
    else:
        for ch in label:
            reason = _ambiguity(ch, mapped=False)
            if reason is not None:
                _ambiguity_error(kind, text, reason)
        try:
            ascii_label = encodings.idna.ToASCII(label).decode("ascii").lower()
        except (UnicodeError, ValueError) as exc:
            why = escape(str(exc))
            _fail(kind, text, f"label {quote(label)} is not a valid IDNA 2003 name ({why})")
        if not ascii_label.startswith("xn--"):
            return ascii_label  # nameprep mapped it to ASCII (e.g. fullwidth letters)
        try:
            # nameprep can turn a U-label into an ASCII "xn--" label that is not punycode
            # (a soft hyphen, which it deletes, before "xn--_"): ToASCII then passes it through.
            decoded = ascii_label[4:].encode("ascii").decode("punycode")
        except (UnicodeError, ValueError):
            _fail(
                kind, text,
                f"label {quote(label)} maps under IDNA 2003 to {quote(ascii_label)}, which is "
                "not valid punycode (RFC 3492)",
            )
    for ch in decoded:
        reason = _ambiguity(ch, mapped=True)
        if reason is not None:
            _ambiguity_error(kind, text, reason)
    return ascii_label


def _normalize_ipv6(kind: _Kind, text: str, s: str) -> str:
    """An IPv6 literal (``[...]`` or with a ``:``) in canonical form, or raise."""
    if s.startswith("["):
        if not s.endswith("]"):
            _fail(kind, text, "'[' without a closing ']'")
        inner = s[1:-1]
        if ":" not in inner or "%" in inner or (ip := _ip_or_fail(kind, text, inner)) is None:
            _fail(kind, text, "brackets must hold an IPv6 address (no zone identifier)")
        return ip
    if "%" in s:
        _fail(kind, text, "IPv6 zone identifiers (the part after '%') are not supported")
    ip = _ip_or_fail(kind, text, s)
    if ip is None:
        _fail(kind, text, "not a valid IPv6 address (and ':' cannot appear in a host name)")
    return ip


def _check_label(kind: _Kind, text: str, label: str) -> None:
    """Refuse an A-label that breaks the syntax of ``kind`` (patterns: strict LDH)."""
    if "*" in label:
        _fail(
            kind,
            text,
            "'*' is allowed only as the whole first label of a pattern ('*.example.com')"
            if kind == "pattern"
            else "'*' cannot appear in a host name",
        )
    if not label:
        _fail(kind, text, "a label is empty after IDNA mapping")
    if len(label) > _MAX_LABEL:
        _fail(kind, text, f"label {quote(label)} is longer than {_MAX_LABEL} characters")
    if not (_PATTERN_LABEL if kind == "pattern" else _HOST_LABEL).fullmatch(label):
        allowed = (
            "letters, digits and inner hyphens" if kind == "pattern"
            else "letters, digits, '-' and '_'"
        )
        _fail(kind, text, f"label {quote(label)} has characters other than {allowed}")


def _labels(kind: _Kind, text: str, s: str) -> list[str]:
    """The labels of a dotted name, one trailing dot dropped; empty labels refused."""
    if s.endswith("."):
        s = s[:-1]
        if s.endswith("."):
            _fail(kind, text, "more than one trailing dot")
    if not s:
        _fail(kind, text, "empty")
    labels = s.split(".")
    if "" in labels:
        _fail(kind, text, "empty label (two dots in a row, or a leading dot)")
    return labels


def _normalize_name(name: object, kind: _Kind, shown: str | None = None) -> str:
    """Normalise a host name or the part of a pattern after ``*.``; see the module docstring.

    Error messages quote ``shown`` (the whole pattern) when given, else ``name``.
    """
    if not isinstance(name, str):
        raise PolicyError(f"a {kind} must be text, got {type(name).__name__}")
    text = name if shown is None else shown
    if not name:
        _fail(kind, text, "empty")
    if len(name) > _MAX_INPUT:
        _fail(kind, text, f"longer than {_MAX_INPUT} characters")
    s = name.translate(_DOTS)
    if s.startswith("[") or ":" in s:
        return _normalize_ipv6(kind, text, s)
    out = [_to_a_label(kind, text, label) for label in _labels(kind, text, s)]
    for label in out:
        _check_label(kind, text, label)
    name = ".".join(out)
    if len(name) > _MAX_NAME:
        _fail(kind, text, f"longer than {_MAX_NAME} characters")
    if _NUMERIC_LABEL.fullmatch(out[-1]):
        ip = _ip_or_fail(kind, text, name)
        if ip is None:
            _fail(
                kind,
                text,
                "it ends in a number but is not an IPv4 address in canonical dotted-quad form "
                "(forms such as 127.1, 0x7f.0.0.1 or 127.000.0.1 are refused)",
            )
        return ip
    return name


@functools.lru_cache(maxsize=4096)
def _normalize_host_cached(host: str) -> str:
    return _normalize_name(host, "host")


def normalize_host(host: str) -> str:
    """Normalise a host name or IP literal for lookup in a :class:`PinPolicy`.

    Lower case, one trailing dot dropped, IDNA 2003 A-labels (as Python's :mod:`ssl` encodes
    ``server_hostname``), IP literals canonical (:mod:`ipaddress`; brackets allowed). Labels may
    hold letters, digits, ``-`` and ``_`` (the last two anywhere; see the module docstring).

    Args:
        host: a host name (``"Bücher.Example."``) or IP literal (``"[::1]"``, ``"127.0.0.1"``).

    Returns:
        The normalised name (``"xn--bcher-kva.example"``, ``"::1"``). Normalising the result
        again returns it unchanged.

    Raises:
        PolicyError: ``host`` is not text, is empty or longer than 1024 characters, has an empty
            label, two trailing dots, a label over 63 or a name over 253 characters, characters
            that are not allowed, a non-canonical IP form (``127.1``), an IPv6 zone identifier,
            or an IDNA deviation character (ß, ς, ZWJ, ZWNJ) or another character that IDNA
            2003 and UTS 46 encode differently. The message quotes ``host``.
    """
    if type(host) is not str:  # str subclasses are not cached (their hash may differ)
        return _normalize_name(host, "host")
    return _normalize_host_cached(host)


def normalize_pattern(pattern: str) -> str:
    """Normalise a host pattern of a :class:`PinPolicy`.

    A pattern is an exact host name, ``*.<name>`` (exactly one label in front of ``<name>``,
    never ``<name>`` itself), or an IP literal. It is normalised as :func:`normalize_host` does
    (lower case, one trailing dot dropped, IDNA 2003 A-labels, canonical IPs) but labels are
    strict LDH (RFC 1123 section 2.1: letters, digits, inner hyphens).

    Args:
        pattern: e.g. ``"API.Example.com."``, ``"*.bücher.example"``, ``"[::1]"``.

    Returns:
        The normalised pattern (``"api.example.com"``, ``"*.xn--bcher-kva.example"``, ``"::1"``).

    Raises:
        PolicyError: as :func:`normalize_host`, and for ``*`` anywhere but as the whole first
            label, ``**``, a wildcard over an IP address, or an IDNA deviation character (with an
            explanation of IDNA 2003 vs UTS 46). The message quotes the pattern.
    """
    if not isinstance(pattern, str):
        raise PolicyError(f"a pattern must be text, got {type(pattern).__name__}")
    if pattern[:2].translate(_DOTS) == "*.":
        pattern = "*." + pattern[2:]  # "*。example.com": an IDNA 2003 dot after the star
    if pattern.startswith("**"):
        _fail(
            "pattern",
            pattern,
            "'**' is not supported; to cover every depth of subdomains write the parent name "
            "with include_subdomains=True",
        )
    if pattern.startswith("*."):
        rest = pattern[2:]
        if not rest:
            _fail("pattern", pattern, "'*.' must be followed by a name")
        name = _normalize_name(rest, "pattern", shown=pattern)
        if _ip(name) is not None:
            _fail("pattern", pattern, "a wildcard cannot stand in front of an IP address")
        return "*." + name
    if pattern == "*":
        _fail("pattern", pattern, "'*' alone is not a pattern; write '*.example.com'")
    return _normalize_name(pattern, "pattern")


def is_ip(name: str) -> bool:
    """True when ``name`` (normalised by :func:`normalize_host` or :func:`normalize_pattern`) is an
    IP literal rather than a host name: it holds a ``:`` (IPv6) or its last label is numeric
    (IPv4; a name ending in a number is refused by normalisation unless it is one)."""
    return ":" in name or _NUMERIC_LABEL.fullmatch(name.rsplit(".", 1)[-1]) is not None


def is_ip_literal(text: str) -> bool:
    """True when ``text`` as given is an IP address :mod:`ipaddress` reads (no normalisation,
    no brackets; an IPv6 zone such as ``%eth0`` is accepted, as the socket layer takes it)."""
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True

