"""The HPKP header (RFC 7469 ``Public-Key-Pins`` and ``Public-Key-Pins-Report-Only``): import and
export, read as RFC 7469 says a user agent reads it.

The table with every rule and its section is ``docs/rules/hpkp.md``. In short:

* Grammar (RFC 7469 section 2.1): ``[ directive ] *( OWS ";" OWS [ directive ] )``, a directive
  being ``token [ "=" ( token / quoted-string ) ]`` (RFC 7230 section 3.2.6); names are case
  insensitive; empty directives are allowed. A quoted-pair (``\\"``, ``\\\\``) stands for the
  character after the backslash, and the export writes one for every ``"`` and ``\\``.
* Unknown directives are ignored for forward compatibility (section 2.1), with a warning, and so
  are ``pin-`` directives naming a hash other than ``sha256`` (section 2.1.1).
* ``max-age`` is required in ``Public-Key-Pins`` and not in ``Public-Key-Pins-Report-Only``
  (section 2.1.2). A user agent may cap it (section 2.3.3; section 4.1 suggests 60 days, the cap
  Chromium applied): a large value is read as capped, with a warning, never an error. It is a
  cache lifetime, not an expiry, so it is not imported; ``max-age=0`` (section 2.3.1: forget the
  pins) in ``Public-Key-Pins`` leaves nothing to import.
* Anything malformed makes a user agent ignore the whole header (section 2.1): a pin that is not
  the base64 of a 32-byte SHA-256 digest (such as ``/`` left over from curl's ``sha256//``), an
  unquoted pin or ``report-uri``, a repeated directive other than a pin: certpin refuses those.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from ..errors import ConfigError, PolicyError, escape, quote
from ..pins import Pin
from ..policy import PinPolicy, is_report_uri
from ._common import ExportResult, Lossy, as_text, bounded_pin_set
from .headers import host_pattern, no_set, select_host

__all__ = ["DEFAULT_MAX_AGE", "MAX_AGE_CAP", "MAX_DELTA_SECONDS", "from_hpkp", "to_hpkp"]

#: The export's default ``max-age``: 60 days, the limit RFC 7469 section 4.1 suggests.
DEFAULT_MAX_AGE = 60 * 24 * 3600
#: The ``max-age`` user agents keep at most (RFC 7469 sections 2.3.3 and 4.1; Chromium's
#: ``kMaxHPKPAgeSecs``); larger values are read as this, with a warning.
MAX_AGE_CAP = DEFAULT_MAX_AGE
#: The largest ``max-age`` the export writes: RFC 7234 section 1.2.1 (delta-seconds) lets a
#: recipient read anything larger as 2^31.
MAX_DELTA_SECONDS = 2**31

_HEADER = re.compile(r"[ \t\r\n]*(public-key-pins(?:-report-only)?)[ \t]*:", re.IGNORECASE)
# OWS (RFC 7230 section 3.2.3) is SP and HTAB; line breaks are allowed too, for copies folded
# over lines as RFC 7469 prints its examples. Other Unicode spaces are not white space in HTTP.
_WS = " \t\r\n"
# RFC 7230 section 3.2.6: token, quoted-string (qdtext / quoted-pair)
_TCHARS = r"[!#$%&'*+.^_`|~0-9A-Za-z-]+"
_QUOTED = r'"((?:[\t \x21\x23-\x5b\x5d-\x7e\x80-\U0010ffff]|\\[\t \x21-\x7e\x80-\U0010ffff])*)"'
# an unquoted value is captured up to the next ";", space or quote, and checked to be a token
# by the directive's own rule, so that the message names the directive
_DIRECTIVE = re.compile(rf'({_TCHARS})[ \t\r\n]*(?:=[ \t\r\n]*(?:{_QUOTED}|([^ \t\r\n;"]*)))?')
_TOKEN_RE = re.compile(_TCHARS)
_B64_RE = re.compile(r"[A-Za-z0-9+/]{43}=")
_KNOWN = ("pin-sha256", "max-age", "includesubdomains", "report-uri")


def _unescape(quoted: str) -> str:
    """The value of a quoted-string's content: each quoted-pair is the character after the
    backslash (RFC 7230 section 3.2.6)."""
    return re.sub(r"\\(.)", r"\1", quoted, flags=re.DOTALL)


def _escape(value: str) -> str:
    """``value`` as a quoted-string: ``"`` and ``\\`` get a backslash (RFC 7230 section 3.2.6)."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _pin(value: str) -> Pin | str:
    """The pin of a ``pin-sha256`` value, or why it is none (RFC 7469 section 2.1.1: the
    base64 of the SHA-256 of a SubjectPublicKeyInfo, 44 characters)."""
    if _B64_RE.fullmatch(value):
        try:
            digest = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):  # pragma: no cover - the pattern rules these out
            digest = b""
        if base64.b64encode(digest).decode() == value:
            return Pin("spki", digest)
        return "it is not the canonical base64 of 32 bytes"
    if value.startswith("/") and not isinstance(_pin(value[1:]), str):
        return "it starts with '/' (left over from curl's sha256//?)"
    if len(value) != 44:  # the base64 of 32 bytes
        return f"it is {len(value)} characters, not 44"
    return "it is not standard padded base64"


@dataclass
class _Directives:
    """What the directives of one HPKP value say."""

    report_only: bool
    source: str | None
    pins: dict[Pin, None] = field(default_factory=dict)  # ordered; linear lookups
    include: bool = False
    uris: list[str] = field(default_factory=list)
    max_age: int | None = None
    warnings: list[str] = field(default_factory=list)

    def add(self, m: re.Match[str], where: str) -> None:
        """Apply one directive."""
        name, quoted, token = m.group(1).lower(), m.group(2), m.group(3)
        value = _unescape(quoted) if quoted is not None else token

        def err(msg: str) -> ConfigError:
            return ConfigError(msg, path=self.source, location=where)

        if name.startswith("pin-"):
            if quoted is None:
                raise err(f'{name} needs a quoted value: {name}="<base64>" (RFC 7469 section '
                          "2.1.1); a browser ignores the whole header")
            if name != "pin-sha256":
                self.warnings.append(f"{where}: {escape(m.group(1))} ignored: certpin knows "
                                     "sha256 pins only (RFC 7469 section 2.1.1); a browser "
                                     "that knows that hash would accept those keys too")
                return
            pin = _pin(value)
            if isinstance(pin, str):
                raise err(f"pin-sha256 {quote(value, 60)} is not the base64 of a SHA-256 digest: "
                          f"{pin}; a browser ignores the whole header (RFC 7469 sections 2.1 "
                          "and 2.1.1)")
            if pin in self.pins:
                self.warnings.append(f"{where}: pin-sha256 {quote(value, 60)} is listed twice; "
                                     "imported once")
            self.pins[pin] = None
        elif name == "max-age":
            self.max_age = self._max_age(value, err)
        elif name == "includesubdomains":
            if value is not None:
                raise err("includeSubDomains takes no value (RFC 7469 section 2.1.3)")
            self.include = True
        elif name == "report-uri":
            if quoted is None or not is_report_uri(value):
                raise err("report-uri needs a quoted absolute http(s) URI (RFC 7469 section "
                          "2.1.4)")
            self.uris.append(value)
        elif token is not None and not _TOKEN_RE.fullmatch(token):
            raise err(f"the value of {quote(m.group(1), None)} is neither a token nor a quoted "
                      "string: a browser ignores the whole header (RFC 7469 section 2.1)")
        else:
            self.warnings.append(f"{where}: unknown directive {quote(m.group(1), None)} ignored "
                                 "(RFC 7469 section 2.1: for forward compatibility)")

    def _max_age(self, value: str | None, err: Callable[[str], ConfigError]) -> int:
        if value is None or not value.isascii() or not value.isdigit():
            raise err("max-age needs a number of seconds (RFC 7469 section 2.1.2)")
        digits = value.lstrip("0") or "0"
        if len(digits) > len(str(MAX_AGE_CAP)) or int(digits) > MAX_AGE_CAP:
            self.warnings.append(f"max-age={quote(value, 30)[1:-1]} is read as {MAX_AGE_CAP} "
                                 "(60 days): user agents cap it (RFC 7469 sections 2.3.3, 4.1)")
            return MAX_AGE_CAP
        return int(digits)

    def check_complete(self) -> None:
        """Refuse a value without pins, or an enforcing one without max-age or with max-age=0."""
        if not self.report_only and self.max_age is None:
            raise ConfigError("missing max-age directive, which Public-Key-Pins requires (RFC "
                              "7469 section 2.1.2; Public-Key-Pins-Report-Only does not)",
                              path=self.source)
        if not self.report_only and self.max_age == 0:
            raise ConfigError("max-age=0 tells the browser to forget the pins (RFC 7469 "
                              "section 2.3.1): nothing to import", path=self.source)
        if not self.pins:
            raise ConfigError("no pin-sha256 directive", path=self.source)


def _skip(text: str, pos: int) -> int:
    """The first position at or after ``pos`` that is not white space."""
    while pos < len(text) and text[pos] in _WS:
        pos += 1
    return pos


def _directives(text: str, source: str | None) -> Iterator[tuple[str, re.Match[str]]]:
    """Each directive of an HPKP value with its location text; empty directives skipped
    (RFC 7469 section 2.1 allows them)."""
    pos = _skip(text, 0)
    index = 0
    while pos < len(text):
        if text[pos] == ";":
            pos = _skip(text, pos + 1)
            continue
        index += 1
        where = f"directive {index} (character {pos + 1})"
        m = _DIRECTIVE.match(text, pos)
        if m is None:
            raise ConfigError(f"cannot parse {quote(text[pos:pos + 40])}: expected "
                              'name[=value] directives separated by ";" (RFC 7469 section 2.1)',
                              path=source, location=where)
        pos = _skip(text, m.end())
        if pos < len(text) and text[pos] != ";":
            raise ConfigError(f"cannot parse {quote(text[pos:pos + 40])} after "
                              f"{quote(m.group(0), 40)}: directives are separated by \";\", "
                              "values with ; or spaces are quoted (RFC 7469 section 2.1)",
                              path=source, location=where)
        yield where, m


def from_hpkp(value: str | bytes, host: str, *, report_only: bool = False,
              source: str | None = None, warnings: list[str] | None = None) -> PinPolicy:
    """Import an HPKP header value (RFC 7469 section 2.1) as the pins of ``host``.

    ``value`` may carry the header name: ``Public-Key-Pins-Report-Only:`` makes the set
    report-only (``enforce=False``), as does ``report_only=True``. Line breaks between directives
    are read as white space (the RFC's own examples are folded). The rules, each with its RFC
    section, are in the module docstring and ``docs/rules/hpkp.md``.

    Args:
        value: the header value (at most 1 MiB).
        host: the host pattern the header was served for.
        report_only: the value came from ``Public-Key-Pins-Report-Only``.
        source: a file name for messages.
        warnings: receives warnings: unknown directives and pin algorithms ignored, a
            ``max-age`` over 60 days read as 60 days, a pin listed twice.

    Returns:
        A policy with the one pin set; ``allow_single_pin`` is never set (RFC 7469 sections
        2.5 and 4.3 require a backup pin, so one pin is an error).

    Raises:
        ConfigError: malformed text, an unquoted pin or report-uri, a pin that is not the
            base64 of 32 bytes (a stray ``/`` included), a repeated directive other than a pin,
            max-age missing or 0 in ``Public-Key-Pins``, no pin, one pin, more than 64 pins, a
            bad host; names the directive's position.
    """
    text = as_text(value, source).strip(_WS)
    m = _HEADER.match(text)
    if m:
        report_only = report_only or m.group(1).lower().endswith("report-only")
        text = text[m.end():]
    pattern = host_pattern(host, source)
    found = _Directives(report_only=report_only, source=source)
    seen: set[str] = set()
    for where, dm in _directives(text, source):
        name = dm.group(1).lower()
        if name in _KNOWN[1:] and name in seen:
            raise ConfigError(f"directive {name} repeated: a browser ignores the whole header "
                              "(RFC 7469 section 2.1)", path=source, location=where)
        seen.add(name)
        found.add(dm, where)
    found.check_complete()
    if warnings is not None:
        warnings.extend(found.warnings)
    try:
        ps = bounded_pin_set(list(found.pins), include_subdomains=found.include,
                             enforce=not report_only, report_uris=found.uris)
        return PinPolicy({pattern: ps})
    except PolicyError as exc:
        raise ConfigError(str(exc), path=source) from None


def to_hpkp(policy: PinPolicy, host: str | None = None, *, lossy: bool = False,
            max_age: int = DEFAULT_MAX_AGE) -> ExportResult:
    """Export one pin set as an HPKP header value (RFC 7469 section 2.1).

    A report-only set is expressible (send the value in ``Public-Key-Pins-Report-Only``; a note
    says so). Not expressible: certificate pins and fewer than two pins (always an error: the
    header would be empty or ignored), an expiry (HPKP has ``max-age`` only), more than one
    report URI, and a report URI with non-ASCII characters (a header value is ASCII: RFC 7230
    section 3.2.6); ``lossy`` drops the expiry / keeps the first URI / drops such a URI. A
    ``"`` or ``\\`` in a report URI is written as a quoted-pair, which :func:`from_hpkp` reads
    back.

    Args:
        policy: the policy.
        host: the pattern to export; None if the policy has one pin set.
        lossy: drop what HPKP cannot say, listing it, instead of raising.
        max_age: the ``max-age`` directive in seconds, 1 to :data:`MAX_DELTA_SECONDS`
            (default 60 days; a note says when browsers would cap it at 60 days).

    Returns:
        The :class:`ExportResult`; its text is never empty.

    Raises:
        PolicyError: no host chosen / unknown host; ``max_age`` not an int in range (0 would
            tell browsers to forget the pins).
        ExportError: a rule cannot be expressed (and ``lossy`` is false, or nothing is left).
    """
    if isinstance(max_age, bool) or not isinstance(max_age, int) or not (
            1 <= max_age <= MAX_DELTA_SECONDS):
        raise PolicyError(f"max_age must be a whole number of seconds from 1 to "
                          f"{MAX_DELTA_SECONDS}, got {max_age!r}")
    pattern, ps = select_host(policy, host, "hpkp")
    lx = Lossy("hpkp", lossy)
    if pattern.startswith("*."):
        raise no_set("hpkp", pattern, "a header is served by one host: no wildcard")
    if any(p.kind != "spki" for p in ps.all_pins):
        raise no_set("hpkp", pattern, "certificate pins (HPKP pins SPKI only)")
    if len(set(ps.all_pins)) < 2:
        raise no_set("hpkp", pattern, "fewer than two pins (RFC 7469 section 4.3)")
    if ps.expires is not None:
        lx.add(pattern, "expires (HPKP has max-age only)", "expiry dropped")
    uris: list[str] = []
    for uri in ps.report_uris:
        if not uri.isascii():
            lx.add(pattern, f"report URI {escape(uri)} is not ASCII (RFC 7230 section 3.2.6)",
                   "report URI dropped")
        elif uris:
            lx.add(pattern, "more than one report URI", f"kept {uris[0]}")
        else:
            uris.append(uri)
    parts = [p.hpkp for p in ps.all_pins] + [f"max-age={max_age}"]
    if ps.include_subdomains:
        parts.append("includeSubDomains")
    parts += [f"report-uri={_escape(u)}" for u in uris]
    header = "Public-Key-Pins" if ps.enforce else "Public-Key-Pins-Report-Only"
    notes = [f"send this value in the {header} header for {pattern}"]
    if max_age > MAX_AGE_CAP:
        notes.append(f"max-age={max_age} is over 60 days: browsers keep the pins 60 days at most "
                     "(RFC 7469 sections 2.3.3 and 4.1)")
    return lx.finish("; ".join(parts) + "\n", notes, pinned=[pattern])
