"""Pin policies: which pins apply to which host.

A :class:`PinSet` holds the pins of one host pattern and its rules (subdomains, expiry, enforce
or report-only). A :class:`PinPolicy` maps host patterns to pin sets and finds the one that
applies to a host name: the *most specific* match, whatever the order of the patterns.

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

Patterns (RFC 7469 section 2.1.3 for include-subdomains; OkHttp and Android for the rest):

* ``api.example.com``: that host only, unless the pin set has ``include_subdomains=True``, in
  which case it covers the host and every subdomain at any depth (``a.b.api.example.com``);
* ``*.example.com``: exactly one label in front of ``example.com``; never ``example.com``
  itself and never ``a.b.example.com``. ``*`` is allowed only as the whole first label;
  ``include_subdomains`` with a ``*.`` pattern is refused (write ``example.com`` with
  ``include_subdomains=True`` instead);
* an IP literal: that address only.

Matching is on whole labels: ``example.com`` with subdomains covers ``www.example.com`` but never
``test-example.com``, and ``a.example.com.evil.test`` never matches ``*.example.com``.

**Most specific match.** Of the patterns that match host ``h``, the one that fixes the most
labels of ``h`` wins, as follows (a total order: two patterns can never tie):

1. the exact pattern ``h`` (with or without ``include_subdomains``);
2. the wildcard ``*.<h without its first label>``;
3. the include-subdomains pattern with the longest suffix of ``h`` (most labels).

A wildcard that matches ``h`` fixes every label but the first, so it is always at least as
specific as any include-subdomains parent: for ``x.a.com``, ``*.a.com`` beats ``a.com`` with
subdomains. ``*.a.com`` never matches ``x.b.a.com`` (two labels), so there ``b.a.com`` with
subdomains applies. The order of the patterns in the mapping plays no part. An expired pin set
is still the match: there is no fallback to a less specific pin set (see :func:`certpin.check`).

This module is pure: no I/O, no sockets, no :mod:`ssl`.
"""

from __future__ import annotations

import encodings.idna
import functools
import ipaddress
import re
import unicodedata
from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime, time
from types import MappingProxyType
from typing import Any, Literal, NoReturn
from urllib.parse import urlsplit

from .errors import PinFormatError, PolicyError, escape
from .pins import Pin, parse_pin

__all__ = [
    "PinPolicy",
    "PinSet",
    "normalize_host",
    "normalize_pattern",
]

_MAX_LABEL = 63  # RFC 1035 section 2.3.4
_MAX_NAME = 253  # RFC 1035 section 2.3.4 (255 octets on the wire, 253 characters as text)
_MAX_INPUT = 1024  # longer text is refused before any work is done on it
_QUOTE_MAX = 80

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


def _quote(text: object) -> str:
    s = text if isinstance(text, str) else repr(text)
    if len(s) > _QUOTE_MAX:
        s = s[:_QUOTE_MAX] + "..."
    return repr(escape(s))


def _fail(kind: _Kind, text: object, why: str) -> NoReturn:
    raise PolicyError(f"invalid {kind} {_quote(text)}: {why}")


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
        ValueError: an IPv6 address whose embedded IPv4 address cannot be told to be the host's
            (:data:`_AMBIGUOUS_IPV6`); the message says which kind it is.
    """
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address):
        if address.scope_id is not None:
            return None
        if any(address in net for net in _EMBEDS_IPV4) or (
            address in _IPV4_COMPATIBLE and address not in _NOT_IPV4_COMPATIBLE
        ):
            return str(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
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
    U-labels pass). ``tests/test_policy.py`` checks this against the ``idna`` package for every
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
            _fail(kind, text, f"label {_quote(ascii_label)} is not valid punycode (RFC 3492)")
    else:
        for ch in label:
            reason = _ambiguity(ch, mapped=False)
            if reason is not None:
                _ambiguity_error(kind, text, reason)
        try:
            ascii_label = encodings.idna.ToASCII(label).decode("ascii").lower()
        except (UnicodeError, ValueError) as exc:
            why = escape(str(exc))
            _fail(kind, text, f"label {_quote(label)} is not a valid IDNA 2003 name ({why})")
        if not ascii_label.startswith("xn--"):
            return ascii_label  # nameprep mapped it to ASCII (e.g. fullwidth letters)
        try:
            # nameprep can turn a U-label into an ASCII "xn--" label that is not punycode
            # (a soft hyphen, which it deletes, before "xn--_"): ToASCII then passes it through.
            decoded = ascii_label[4:].encode("ascii").decode("punycode")
        except (UnicodeError, ValueError):
            _fail(
                kind, text,
                f"label {_quote(label)} maps under IDNA 2003 to {_quote(ascii_label)}, which is "
                "not valid punycode (RFC 3492)",
            )
    for ch in decoded:
        reason = _ambiguity(ch, mapped=True)
        if reason is not None:
            _ambiguity_error(kind, text, reason)
    return ascii_label


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
    if s.startswith("["):
        if not s.endswith("]"):
            _fail(kind, text, "'[' without a closing ']'")
        inner = s[1:-1]
        if ":" not in inner or "%" in inner or (ip := _ip_or_fail(kind, text, inner)) is None:
            _fail(kind, text, "brackets must hold an IPv6 address (no zone identifier)")
        return ip
    if ":" in s:
        if "%" in s:
            _fail(kind, text, "IPv6 zone identifiers (the part after '%') are not supported")
        ip = _ip_or_fail(kind, text, s)
        if ip is None:
            _fail(kind, text, "not a valid IPv6 address (and ':' cannot appear in a host name)")
        return ip
    if s.endswith("."):
        s = s[:-1]
        if s.endswith("."):
            _fail(kind, text, "more than one trailing dot")
    if not s:
        _fail(kind, text, "empty")
    labels = s.split(".")
    if "" in labels:
        _fail(kind, text, "empty label (two dots in a row, or a leading dot)")
    out = [_to_a_label(kind, text, label) for label in labels]
    pattern = _PATTERN_LABEL if kind == "pattern" else _HOST_LABEL
    for label in out:
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
            _fail(kind, text, f"label {_quote(label)} is longer than {_MAX_LABEL} characters")
        if not pattern.fullmatch(label):
            allowed = (
                "letters, digits and inner hyphens"
                if kind == "pattern"
                else "letters, digits, '-' and '_'"
            )
            _fail(kind, text, f"label {_quote(label)} has characters other than {allowed}")
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


def _is_ip(name: str) -> bool:
    return ":" in name or _NUMERIC_LABEL.fullmatch(name.rsplit(".", 1)[-1]) is not None


_EXPIRES_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def _parse_expires(value: object) -> datetime | None:
    """``expires`` to an aware UTC datetime; see :class:`PinSet`."""
    try:
        return _parse_expires_unchecked(value)
    except OverflowError:
        raise PolicyError(
            f"expires {_quote(value if isinstance(value, str) else str(value))} is out of range "
            "once converted to UTC (years 1 to 9999)"
        ) from None


def _parse_expires_unchecked(value: object) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        if value.tzinfo is None or value.utcoffset() is None:
            raise PolicyError(
                f"expires {value.isoformat()!r} is a naive datetime, which is ambiguous: give "
                "an aware datetime (e.g. tzinfo=datetime.UTC), a date, or an ISO 8601 string "
                "with an offset ('2027-01-31T00:00:00Z')"
            )
        return value.astimezone(UTC)
    if isinstance(value, date):
        return datetime.combine(value, time(0, 0), tzinfo=UTC)
    if isinstance(value, str):
        text = value.strip()
        try:
            if _EXPIRES_DATE.fullmatch(text):
                return datetime.combine(date.fromisoformat(text), time(0, 0), tzinfo=UTC)
            parsed = datetime.fromisoformat(text)
        except ValueError:
            raise PolicyError(
                f"expires {_quote(value)} is not an ISO 8601 date ('2027-01-31') or date and "
                "time with an offset ('2027-01-31T12:00:00Z')"
            ) from None
        if parsed.tzinfo is None:
            raise PolicyError(
                f"expires {_quote(value)} has a time but no UTC offset, which is ambiguous: "
                "append 'Z' or an offset such as '+02:00'"
            )
        return parsed.astimezone(UTC)
    raise PolicyError(
        f"expires must be a datetime, a date or an ISO 8601 string, got {type(value).__name__}"
    )


def _parse_pins(values: object, name: str) -> tuple[Pin, ...]:
    if isinstance(values, str | bytes | Pin):
        raise PolicyError(
            f"{name} must be a list of pins, not a single {type(values).__name__} "
            f"(write [{values!r}])"
        )
    if not isinstance(values, Iterable):
        raise PolicyError(f"{name} must be a list of pins, got {type(values).__name__}")
    pins: list[Pin] = []
    for index, value in enumerate(values):
        if isinstance(value, Pin):
            pins.append(value)
        elif isinstance(value, str):
            try:
                pins.append(parse_pin(value))
            except PinFormatError as exc:
                raise PinFormatError(f"{name}[{index}]: {exc}") from None
        else:
            raise PolicyError(
                f"{name}[{index}] must be a Pin or pin text, got {type(value).__name__}"
            )
    return tuple(pins)


def _check_bool(name: str, value: object) -> bool:
    if not isinstance(value, bool):
        raise PolicyError(f"{name} must be True or False, got {_quote(value)}")
    return value


class PinSet:
    """The pins of one host pattern, and how to apply them. Immutable.

    Args:
        pins: the pins of keys or certificates in service: :class:`~certpin.Pin` objects or pin
            text in any form :func:`~certpin.parse_pin` reads (``"sha256/<b64>"``, ...).
        include_subdomains: the pattern also covers every subdomain at any depth (RFC 7469
            section 2.1.3). Not allowed with a ``*.`` pattern or an IP literal (checked by
            :class:`PinPolicy`).
        expires: when the pins stop being enforced (Android network security config
            semantics): an aware :class:`~datetime.datetime` (converted to UTC), a
            :class:`~datetime.date` ``D`` or the string ``"YYYY-MM-DD"`` meaning ``D``
            00:00:00 UTC, or an ISO 8601 string with an offset (``"2027-01-31T12:00:00+02:00"``).
            ``None``: never.
        enforce: True to refuse connections whose verified chain holds no pin; False for
            report-only (a mismatch is reported, the connection proceeds).
        report_uris: where violation reports go (absolute ``http``/``https`` URIs, RFC 7469
            section 2.1.4).
        allow_single_pin: accept fewer than two distinct pins (no backup pin).
        backup_pins: pins of keys not yet deployed (RFC 7469 section 4.3). They are accepted
            exactly as ``pins`` are when enforcing; they are kept apart so that tools can tell
            which keys should be in service.

    Attributes:
        pins, backup_pins: tuples of :class:`~certpin.Pin`.
        all_pins: ``pins + backup_pins``.
        include_subdomains, enforce, allow_single_pin: bools.
        expires: an aware UTC :class:`~datetime.datetime`, or None.
        report_uris: a tuple of str.

    Raises:
        PolicyError: no pin at all; fewer than two distinct pins without
            ``allow_single_pin=True``; a pin listed twice; a naive datetime or malformed string
            for ``expires``; a non-bool flag; a report URI that is not an absolute http(s) URI;
            ``pins`` given as a single string.
        PinFormatError: a pin string that cannot be parsed (the message names its position,
            e.g. ``pins[1]``).
    """

    __slots__ = (
        "allow_single_pin",
        "backup_pins",
        "enforce",
        "expires",
        "include_subdomains",
        "pins",
        "report_uris",
    )

    pins: tuple[Pin, ...]
    backup_pins: tuple[Pin, ...]
    include_subdomains: bool
    expires: datetime | None
    enforce: bool
    report_uris: tuple[str, ...]
    allow_single_pin: bool

    def __init__(
        self,
        pins: Iterable[Pin | str],
        *,
        include_subdomains: bool = False,
        expires: datetime | date | str | None = None,
        enforce: bool = True,
        report_uris: Iterable[str] = (),
        allow_single_pin: bool = False,
        backup_pins: Iterable[Pin | str] = (),
    ) -> None:
        main = _parse_pins(pins, "pins")
        backup = _parse_pins(backup_pins, "backup_pins")
        seen: list[Pin] = []
        for pin in main + backup:
            if pin in seen:
                raise PolicyError(
                    f"pin {pin} is listed twice; a pin set needs distinct pins (was one of them "
                    "meant to be a backup pin?)"
                )
            seen.append(pin)
        if not main:
            raise PolicyError(
                "a pin set needs at least one pin in service (pins is empty); backup pins "
                "alone would refuse every connection"
            )
        allow_single = _check_bool("allow_single_pin", allow_single_pin)
        if len(seen) < 2 and not allow_single:
            raise PolicyError(
                f"a pin set with only one pin ({seen[0]}) locks clients out when that key or "
                "certificate is replaced or lost: add a backup pin, the SPKI pin of a spare key "
                "kept offline or of another CA in the chain (RFC 7469 section 4.3), or pass "
                "allow_single_pin=True if you accept that risk"
            )
        if isinstance(report_uris, str | bytes):
            raise PolicyError(
                f"report_uris must be a list of URIs, not a single string (write [{report_uris!r}])"
            )
        uris: list[str] = []
        for index, uri in enumerate(report_uris):
            if not isinstance(uri, str):
                raise PolicyError(f"report_uris[{index}] must be text, got {type(uri).__name__}")
            try:
                parts = urlsplit(uri)
            except ValueError:
                parts = None
            if (
                parts is None
                or parts.scheme not in ("http", "https")
                or not parts.netloc
                or uri != uri.strip()
                or not uri.isprintable()
            ):
                raise PolicyError(
                    f"report_uris[{index}] {_quote(uri)} is not an absolute http:// or https:// "
                    "URI"
                )
            uris.append(uri)
        set_ = object.__setattr__
        set_(self, "pins", main)
        set_(self, "backup_pins", backup)
        set_(self, "include_subdomains", _check_bool("include_subdomains", include_subdomains))
        set_(self, "expires", _parse_expires(expires))
        set_(self, "enforce", _check_bool("enforce", enforce))
        set_(self, "report_uris", tuple(uris))
        set_(self, "allow_single_pin", allow_single)

    @property
    def all_pins(self) -> tuple[Pin, ...]:
        """``pins + backup_pins``: every pin that is accepted when enforcing."""
        return self.pins + self.backup_pins

    def is_expired(self, now: datetime) -> bool:
        """Whether the pin set has expired at ``now``: ``now >= expires`` (never if no expiry).

        Args:
            now: an aware datetime (any time zone).

        Returns:
            True from the instant ``expires`` on; pins are enforced while ``now < expires``.

        Raises:
            ValueError: ``now`` is naive (it would be ambiguous).
        """
        if not isinstance(now, datetime):
            raise TypeError(f"now must be a datetime, got {type(now).__name__}")
        if now.tzinfo is None or now.utcoffset() is None:
            raise ValueError("now must be an aware datetime (e.g. datetime.now(datetime.UTC))")
        return self.expires is not None and now >= self.expires

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"PinSet is immutable: cannot set {name!r}")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"PinSet is immutable: cannot delete {name!r}")

    def __reduce__(self) -> tuple[Any, ...]:
        # copy, deepcopy and pickle rebuild through __init__ (attributes cannot be set).
        options = {
            "backup_pins": self.backup_pins,
            "include_subdomains": self.include_subdomains,
            "expires": self.expires,
            "enforce": self.enforce,
            "report_uris": self.report_uris,
            "allow_single_pin": self.allow_single_pin,
        }
        return (_rebuild_pin_set, (self.pins, options))

    def _key(self) -> tuple[object, ...]:
        return (
            self.pins,
            self.backup_pins,
            self.include_subdomains,
            self.expires,
            self.enforce,
            self.report_uris,
            self.allow_single_pin,
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, PinSet):
            return NotImplemented
        return self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __repr__(self) -> str:
        parts = [repr([str(p) for p in self.pins])]
        if self.backup_pins:
            parts.append(f"backup_pins={[str(p) for p in self.backup_pins]!r}")
        if self.include_subdomains:
            parts.append("include_subdomains=True")
        if self.expires is not None:
            parts.append(f"expires={self.expires.isoformat().replace('+00:00', 'Z')!r}")
        if not self.enforce:
            parts.append("enforce=False")
        if self.report_uris:
            parts.append(f"report_uris={list(self.report_uris)!r}")
        if self.allow_single_pin:
            parts.append("allow_single_pin=True")
        return f"PinSet({', '.join(parts)})"


_CHOICES = ("allow", "reject")


class PinPolicy:
    """Host patterns mapped to pin sets, with the most-specific-match lookup. Immutable.

    Args:
        pin_sets: ``{pattern: PinSet}``; patterns as described in the module docstring
            (normalised with :func:`normalize_pattern`).
        unknown_hosts: ``"allow"`` (default): hosts no pattern covers connect normally;
            ``"reject"``: they are refused (a closed world).
        expired: ``"allow"`` (default): when the matching pin set has expired the host is
            treated as unpinned and a warning is logged (Android semantics; there is no fallback
            to a less specific pin set); ``"reject"``: connections to it fail closed.

    Attributes:
        pin_sets: a read-only mapping, normalised pattern -> :class:`PinSet`, in the given order.
        unknown_hosts, expired: ``"allow"`` or ``"reject"``.

    Raises:
        PolicyError: ``pin_sets`` is not a mapping; a pattern is invalid (the message quotes
            it); two patterns are the same after normalisation; a value is not a
            :class:`PinSet`; ``include_subdomains`` on a ``*.`` pattern or an IP literal;
            ``unknown_hosts`` or ``expired`` is not ``"allow"``/``"reject"``.
    """

    __slots__ = ("expired", "pin_sets", "unknown_hosts")

    pin_sets: Mapping[str, PinSet]
    unknown_hosts: str
    expired: str

    def __init__(
        self,
        pin_sets: Mapping[str, PinSet],
        *,
        unknown_hosts: Literal["allow", "reject"] = "allow",
        expired: Literal["allow", "reject"] = "allow",
    ) -> None:
        if not isinstance(pin_sets, Mapping):
            raise PolicyError(
                f"pin_sets must be a mapping of pattern to PinSet, got {type(pin_sets).__name__}"
            )
        for name, value in (("unknown_hosts", unknown_hosts), ("expired", expired)):
            if value not in _CHOICES:
                raise PolicyError(f"{name} must be 'allow' or 'reject', got {_quote(value)}")
        table: dict[str, PinSet] = {}
        original: dict[str, str] = {}
        for raw, pin_set in pin_sets.items():
            pattern = normalize_pattern(raw)
            if not isinstance(pin_set, PinSet):
                raise PolicyError(
                    f"the value for pattern {_quote(raw)} must be a PinSet, "
                    f"got {type(pin_set).__name__}"
                )
            if pattern in table:
                raise PolicyError(
                    f"patterns {_quote(original[pattern])} and {_quote(raw)} are the same "
                    f"host pattern {pattern!r} after normalisation; merge their pins"
                )
            if pin_set.include_subdomains and pattern.startswith("*."):
                raise PolicyError(
                    f"pattern {_quote(raw)}: include_subdomains cannot be combined with a '*.' "
                    f"pattern; write {pattern[2:]!r} with include_subdomains=True to cover it "
                    "and every subdomain"
                )
            if pin_set.include_subdomains and _is_ip(pattern):
                raise PolicyError(
                    f"pattern {_quote(raw)}: an IP address has no subdomains; "
                    "drop include_subdomains"
                )
            table[pattern] = pin_set
            original[pattern] = raw
        set_ = object.__setattr__
        set_(self, "pin_sets", MappingProxyType(table))
        set_(self, "unknown_hosts", unknown_hosts)
        set_(self, "expired", expired)

    def match(self, hostname: str) -> tuple[str, PinSet] | None:
        """Find the most specific pattern covering ``hostname`` (module docstring, in order:
        exact, ``*.`` one label, include-subdomains by longest suffix).

        Args:
            hostname: a host name or IP literal; normalised with :func:`normalize_host`.

        Returns:
            ``(normalised pattern, pin set)``, expired or not, or None when no pattern covers
            the host.

        Raises:
            PolicyError: ``hostname`` cannot be normalised (see :func:`normalize_host`).
        """
        return self._lookup(normalize_host(hostname))

    def _lookup(self, host: str) -> tuple[str, PinSet] | None:
        """:meth:`match` for a host name that :func:`normalize_host` returned."""
        table = self.pin_sets
        exact = table.get(host)
        if exact is not None:
            return host, exact
        if _is_ip(host):
            return None
        labels = host.split(".")
        if len(labels) > 1:
            wildcard = "*." + ".".join(labels[1:])
            found = table.get(wildcard)
            if found is not None:
                return wildcard, found
        for start in range(1, len(labels)):
            parent = ".".join(labels[start:])
            found = table.get(parent)
            if found is not None and found.include_subdomains:
                return parent, found
        return None

    def pin_set_for(self, hostname: str) -> PinSet | None:
        """The pin set of the most specific pattern covering ``hostname``, expired or not.

        Args:
            hostname: a host name or IP literal; normalised with :func:`normalize_host`.

        Returns:
            The :class:`PinSet`, or None when no pattern covers the host.

        Raises:
            PolicyError: ``hostname`` cannot be normalised (see :func:`normalize_host`).
        """
        found = self.match(hostname)
        return None if found is None else found[1]

    def is_pinned(self, hostname: object) -> bool:
        """Whether a connection to ``hostname`` must pass a pin check: the one answer every
        client helper and :func:`certpin.check` (so the TLS layer) give to "is this host pinned".

        Any doubt answers True (refuse plain text, check pins): certpin never lets a spelling
        it cannot read fall through to "not pinned".

        Args:
            hostname: a host name or IP literal as the client library will connect to it and
                send it as the TLS name (any spelling; not normalised yet).

        Returns:
            True when a pattern covers the host (its pin set expired or not), when the policy
            has ``unknown_hosts="reject"`` (every TLS connection must match a pin set), or when
            ``hostname`` cannot be normalised (:func:`normalize_host` raises: ``127.1``, an
            IDNA-ambiguous name, a 6to4 address, not text ...). False only for a host that
            normalises and that no pattern covers, under ``unknown_hosts="allow"``. Never raises.
        """
        if self.unknown_hosts == "reject":
            return True
        try:
            return self._lookup(normalize_host(hostname)) is not None  # type: ignore[arg-type]
        except (PolicyError, ValueError, TypeError):
            return True

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"PinPolicy is immutable: cannot set {name!r}")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"PinPolicy is immutable: cannot delete {name!r}")

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, PinPolicy):
            return NotImplemented
        return (
            dict(self.pin_sets) == dict(other.pin_sets)
            and self.unknown_hosts == other.unknown_hosts
            and self.expired == other.expired
        )

    __hash__ = None  # type: ignore[assignment]

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild_policy, (dict(self.pin_sets), self.unknown_hosts, self.expired))

    def __repr__(self) -> str:
        options = ""
        if self.unknown_hosts != "allow":
            options += f", unknown_hosts={self.unknown_hosts!r}"
        if self.expired != "allow":
            options += f", expired={self.expired!r}"
        return f"PinPolicy({dict(self.pin_sets)!r}{options})"


def _rebuild_pin_set(pins: tuple[Pin, ...], options: dict[str, Any]) -> PinSet:
    """Unpickle a :class:`PinSet`."""
    return PinSet(pins, **options)


def _rebuild_policy(
    pin_sets: dict[str, PinSet],
    unknown_hosts: Literal["allow", "reject"],
    expired: Literal["allow", "reject"],
) -> PinPolicy:
    """Unpickle a :class:`PinPolicy`."""
    return PinPolicy(pin_sets, unknown_hosts=unknown_hosts, expired=expired)
