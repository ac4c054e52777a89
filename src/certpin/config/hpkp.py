"""The HPKP header (RFC 7469 ``Public-Key-Pins``): import and export."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field

from ..errors import ConfigError, PolicyError, escape
from ..pins import Pin
from ..policy import PinPolicy, is_report_uri
from ._common import ExportResult, Lossy, as_text, bounded_pin_set, pin_or_error
from .headers import host_pattern, no_set, nonempty, select_host

__all__ = ["DEFAULT_MAX_AGE", "from_hpkp", "to_hpkp"]

#: RFC 7469 section 4.1 suggests 60 days.
DEFAULT_MAX_AGE = 60 * 24 * 3600

_HEADER = re.compile(r"\s*(public-key-pins(?:-report-only)?)\s*:", re.IGNORECASE)
_DIRECTIVE = re.compile(
    r'\s*([A-Za-z0-9-]+)\s*(?:=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s;"]*)))?\s*(?:;|$)'
)


def from_hpkp(value: str | bytes, host: str, *, report_only: bool = False,
              source: str | None = None) -> PinPolicy:
    """Import an HPKP header value (RFC 7469 section 2.1) as the pins of ``host``.

    ``value`` may carry the header name: ``Public-Key-Pins-Report-Only:`` makes the set
    report-only (``enforce=False``), as does ``report_only=True``. Directives: ``pin-sha256``
    (quoted, repeated), ``max-age`` (required once; a cache lifetime in seconds, not an expiry,
    so it is checked but not imported), ``includeSubDomains``, ``report-uri`` (quoted, once).

    Args:
        value: the header value (at most 1 MiB).
        host: the host pattern the header was served for.
        report_only: the value came from ``Public-Key-Pins-Report-Only``.
        source: a file name for messages.

    Returns:
        A policy with the one pin set; ``allow_single_pin`` is never set (RFC 7469 section 4.3
        requires a backup pin, so one pin is an error).

    Raises:
        ConfigError: a directive that is unknown, repeated, malformed or missing (max-age),
            ``max-age=0`` (which removes pins), a bad pin, fewer than two pins; names the
            directive's position.
    """
    text = as_text(value, source).strip()
    m = _HEADER.match(text)
    if m:
        report_only = report_only or m.group(1).lower().endswith("report-only")
        text = text[m.end():]
    pattern = host_pattern(host, source)
    found = _HpkpDirectives()
    seen: set[str] = set()
    for where, dm in _directives(text.strip(), source):
        name = dm.group(1).lower()
        if name != "pin-sha256" and name in seen:
            raise ConfigError(f"directive {name} repeated (RFC 7469 section 2.1)", path=source,
                              location=where)
        seen.add(name)
        found.add(name, dm, where, source)
    found.check_complete(source)
    try:
        ps = bounded_pin_set(found.pins, include_subdomains=found.include,
                             enforce=not report_only, report_uris=found.uris)
        return PinPolicy({pattern: ps})
    except PolicyError as exc:
        raise ConfigError(str(exc), path=source) from None


def _directives(text: str, source: str | None) -> Iterator[tuple[str, re.Match[str]]]:
    """Each directive of an HPKP value with its location text; empty directives skipped."""
    pos = 0
    index = 0
    while pos < len(text):
        empty = re.compile(r"\s*;").match(text, pos)
        if empty:  # empty directives are allowed (RFC 7469 section 2.1 grammar)
            pos = empty.end()
            continue
        index += 1
        dm = _DIRECTIVE.match(text, pos)
        where = f"directive {index} (character {pos + 1})"
        if dm is None or dm.end() == pos:
            raise ConfigError(f"cannot parse {escape(text[pos:pos + 40])!r}: expected "
                              'name[=value] directives separated by ";"', path=source,
                              location=where)
        pos = dm.end()
        yield where, dm


@dataclass
class _HpkpDirectives:
    """What the directives of one HPKP value say."""

    pins: list[Pin] = field(default_factory=list)
    include: bool = False
    uris: list[str] = field(default_factory=list)
    max_age: int | None = None

    def add(self, name: str, dm: re.Match[str], where: str, source: str | None) -> None:
        """Apply one directive (``name`` in lower case)."""
        quoted, token = dm.group(2), dm.group(3)
        val = quoted if quoted is not None else token

        def err(msg: str) -> ConfigError:
            return ConfigError(msg, path=source, location=where)

        if name == "pin-sha256":
            if quoted is None:
                raise err('pin-sha256 needs a quoted value: pin-sha256="<base64>"')
            self.pins.append(pin_or_error("sha256/" + quoted, err))
        elif name == "max-age":
            if val is None or not re.fullmatch(r"\d{1,12}", val):
                raise err("max-age needs a number of seconds")
            self.max_age = int(val)
        elif name == "includesubdomains":
            if val is not None:
                raise err("includeSubDomains takes no value")
            self.include = True
        elif name == "report-uri":
            if quoted is None or not is_report_uri(quoted):
                raise err('report-uri needs a quoted http(s) URI')
            self.uris.append(quoted)
        else:
            raise err(f"unknown directive {escape(dm.group(1))!r}: expected pin-sha256, "
                      "max-age, includeSubDomains, report-uri")

    def check_complete(self, source: str | None) -> None:
        """Refuse a value without max-age (or max-age=0) or without pins."""
        if self.max_age is None:
            raise ConfigError("missing max-age directive (RFC 7469 section 2.1.2)", path=source)
        if self.max_age == 0:
            raise ConfigError("max-age=0 tells the browser to forget the pins: nothing to "
                              "import", path=source)
        if not self.pins:
            raise ConfigError("no pin-sha256 directive", path=source)


def to_hpkp(policy: PinPolicy, host: str | None = None, *, lossy: bool = False,
            max_age: int = DEFAULT_MAX_AGE) -> ExportResult:
    """Export one pin set as an HPKP header value (RFC 7469 section 2.1).

    A report-only set is expressible (send the value in ``Public-Key-Pins-Report-Only``; a note
    says so). Not expressible: certificate pins and fewer than two pins (always an error: the
    header would be empty or ignored), an expiry (HPKP has ``max-age`` only) and more than
    one report URI (``lossy`` drops the expiry / keeps the first URI).

    Args:
        policy: the policy.
        host: the pattern to export; None if the policy has one pin set.
        lossy: drop what HPKP cannot say, listing it, instead of raising.
        max_age: the ``max-age`` directive in seconds (default 60 days).

    Raises:
        PolicyError: no host chosen / unknown host.
        ExportError: a rule cannot be expressed (and ``lossy`` is false, or nothing is left).
    """
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
    uris = list(ps.report_uris)
    if len(uris) > 1:
        lx.add(pattern, "more than one report URI", f"kept {uris[0]}")
        uris = uris[:1]
    parts = [p.hpkp for p in ps.all_pins] + [f"max-age={int(max_age)}"]
    if ps.include_subdomains:
        parts.append("includeSubDomains")
    parts += [f'report-uri="{u}"' for u in uris]
    header = "Public-Key-Pins" if ps.enforce else "Public-Key-Pins-Report-Only"
    return nonempty(lx.finish("; ".join(parts) + "\n",
                              [f"send this value in the {header} header for {pattern}"]),
                    "hpkp", pattern)
