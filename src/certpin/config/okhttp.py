"""OkHttp ``CertificatePinner``: import a pin list, export Kotlin.

Reference: OkHttp ``CertificatePinner`` documentation. Patterns: ``example.com`` (that host),
``*.example.com`` (exactly one more label), ``**.example.com`` (example.com and any subdomain,
any depth: certpin's ``include_subdomains``). Pins are ``sha256/<base64>`` SPKI hashes
(``sha1/`` is refused).

OkHttp accepts a host when a pin of ANY matching pattern matches; certpin uses only the most
specific pattern. Import therefore gives each pattern the union of its pins and the pins of
every pattern that covers it (exactly OkHttp's behaviour for the hosts it matches, with a
warning); export refuses, unless ``lossy``, a policy where a broader pattern holds pins the
narrower one lacks (OkHttp would accept them too).
"""

from __future__ import annotations

import bisect
import json
import re

from ..errors import ConfigError, PolicyError, escape
from ..hostnames import normalize_pattern
from ..pins import Pin
from ..policy import PinPolicy, PinSet
from ._common import MAX_PINS_PER_SET, ExportResult, Lossy, as_text, bounded_pin_set, pin_or_error

__all__ = ["from_okhttp", "to_okhttp"]

_ADD = re.compile(r"\.add\s*\(")
_STRING = re.compile(r'\s*"((?:[^"\\\n]|\\.)*)"\s*')


class _LineIndex:
    """Line numbers of positions in ``text`` by binary search (one count per file, not per call:
    counting newlines before every ``.add`` made a 1 MiB file quadratic)."""

    def __init__(self, text: str):
        self.newlines = [m.start() for m in re.finditer("\n", text)]

    def __call__(self, pos: int) -> int:
        return bisect.bisect_left(self.newlines, pos) + 1  # newlines before pos, plus one


def _unquote(lit: str) -> str:
    try:
        return str(json.loads('"' + lit + '"'))
    except ValueError:
        return lit


def _calls(text: str, source: str | None) -> list[tuple[str, list[str], int]]:
    out: list[tuple[str, list[str], int]] = []
    _line_of = _LineIndex(text)
    for m in _ADD.finditer(text):
        pos = m.end()
        args: list[str] = []
        line = _line_of(m.start())
        while True:
            sm = _STRING.match(text, pos)
            if sm is None:
                raise ConfigError(
                    "expected a string literal argument in .add(...): only literal hosts and "
                    "pins can be imported", path=source, location=f"line {_line_of(pos)}",
                )
            args.append(_unquote(sm.group(1)))
            pos = sm.end()
            if text.startswith(",", pos):
                pos += 1
                ws = re.compile(r"\s*").match(text, pos)
                pos = ws.end() if ws else pos
                if text.startswith(")", pos):
                    break
                continue
            if text.startswith(")", pos):
                break
            raise ConfigError("expected ',' or ')' in .add(...)", path=source,
                              location=f"line {_line_of(pos)}")
        if len(args) < 2:
            raise ConfigError(".add(pattern, pin, ...) needs a pattern and at least one pin",
                              path=source, location=f"line {line}")
        out.append((args[0], args[1:], line))
    return out


def _lines(text: str, host: str | None, source: str | None) -> list[tuple[str, list[str], int]]:
    out: list[tuple[str, list[str], int]] = []
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line or line.startswith("//"):
            continue
        parts = [p for p in re.split(r"[\s,]+", line) if p]
        if not parts:
            continue
        if parts[0].lower().startswith(("sha256/", "sha1/", "cert-sha256/")):
            if host is None:
                raise ConfigError("a pin without a host: give the host (--host) or write "
                                  "'host sha256/...'", path=source, location=f"line {n}")
            out.append((host, parts, n))
        else:
            if len(parts) < 2:
                raise ConfigError(f"expected 'host sha256/<base64> ...', got "
                                  f"{escape(line[:60])!r}", path=source, location=f"line {n}")
            out.append((parts[0], parts[1:], n))
    return out


def _okhttp_pattern(p: str) -> tuple[str, bool]:
    if p.startswith("**."):
        return normalize_pattern(p[3:]), True
    return normalize_pattern(p), False


def _relation(chosen: tuple[str, bool], other: tuple[str, bool]) -> str | None:
    """How ``other`` overlaps the hosts for which certpin picks ``chosen`` (OkHttp rules).

    Patterns are ``(name, include_subdomains)``; a name starting ``*.`` is a one-label wildcard.
    Returns ``"covers"`` if ``other`` matches every host ``chosen`` matches, ``"partial"`` if it
    matches some of them (and certpin picks ``chosen`` there), None if they share no host or
    certpin picks ``other`` for the shared hosts.
    """
    (cp, csub), (op, osub) = chosen, other
    if chosen == other:
        return None
    c_wild, o_wild = cp.startswith("*."), op.startswith("*.")
    if osub and not o_wild:
        base = cp[2:] if c_wild else cp
        if (base == op and c_wild) or base.endswith("." + op):
            return "covers"  # every host of chosen lies under other
        return None
    if o_wild and not c_wild and cp.count(".") == op.count(".") and cp.endswith(op[1:]):
        # chosen is one label below other's parent: they share the host cp itself
        return "partial" if csub else "covers"
    return None


def _candidates(key: tuple[str, bool], order: dict[tuple[str, bool], int]) -> list[
    tuple[str, bool]
]:
    """The patterns that :func:`_relation` can relate to ``key``, in input order.

    Only a parent name with subdomains, or the one-label wildcard over ``key``'s parent, can
    overlap it; looking those up keeps the import linear (comparing every pair of patterns took
    40 s for a 1 MiB file of 12,000 ``.add`` calls).
    """
    name, _ = key
    wild = name.startswith("*.")
    base = name[2:] if wild else name
    labels = base.split(".")
    found: set[tuple[str, bool]] = {(".".join(labels[i:]), True) for i in range(1, len(labels))}
    if wild:
        found.add((base, True))
    elif len(labels) > 1:
        parent = ".".join(labels[1:])
        found.update({("*." + parent, True), ("*." + parent, False)})
    return sorted((k for k in found if k in order and k != key), key=order.__getitem__)


def from_okhttp(text: str | bytes, host: str | None = None, *, source: str | None = None,
                warnings: list[str] | None = None) -> PinPolicy:
    """Import OkHttp pins: ``.add("pattern", "sha256/...", ...)`` calls (Kotlin or Java), or
    plain lines ``pattern sha256/... [sha256/...]`` (``#`` comments; a line of pins alone uses
    ``host``).

    Args:
        text: the source (at most 1 MiB).
        host: with ``.add`` calls or host lines: keep only this pattern (OkHttp spelling, e.g.
            ``**.example.com``); with bare pin lines: the pattern they belong to.
        source: a file name for messages.
        warnings: if given, receives a line for each pattern whose pins were widened with those
            of a covering pattern (OkHttp's any-match rule).

    Returns:
        The policy; ``allow_single_pin`` is set exactly when a pattern ends with one pin.

    Raises:
        ConfigError: no pins found, non-literal arguments, bad patterns or pins (``sha1/``),
            the same host both exact and ``**.`` (not expressible); names the line.
    """
    doc = as_text(text, source)
    warns = warnings if warnings is not None else []
    code = _ADD.search(doc) is not None or "CertificatePinner" in doc
    entries = _calls(doc, source) if code else _lines(doc, host, source)
    if not entries:
        raise ConfigError("no pins found (expected .add(\"host\", \"sha256/...\") or "
                          "'host sha256/...' lines)", path=source)
    groups, first_line = _group_pins(entries, source)
    wanted = _wanted_pattern(host, groups, source)
    _check_exact_and_subdomains(groups, first_line, source)
    sets: dict[str, PinSet] = {}
    order = {k: i for i, k in enumerate(groups)}
    for key in groups:
        if wanted is not None and key != wanted:
            continue
        merged = _merged_pins(key, groups, order, first_line[key], source=source, warns=warns)
        try:
            sets[key[0]] = bounded_pin_set(merged, include_subdomains=key[1],
                                           allow_single_pin=len(merged) < 2)
        except PolicyError as exc:
            raise ConfigError(str(exc), path=source,
                              location=f"line {first_line[key]}") from None
    try:
        return PinPolicy(sets)
    except PolicyError as exc:
        raise ConfigError(str(exc), path=source) from None


_Key = tuple[str, bool]


def _group_pins(entries: list[tuple[str, list[str], int]], source: str | None
                ) -> tuple[dict[_Key, list[Pin]], dict[_Key, int]]:
    """The distinct pins of each pattern, in input order, and the line each pattern first has."""
    groups: dict[_Key, list[Pin]] = {}
    first_line: dict[_Key, int] = {}
    for pattern_text, pin_texts, line in entries:
        try:
            key = _okhttp_pattern(pattern_text)
        except PolicyError as exc:
            raise ConfigError(f"bad pattern {escape(pattern_text)!r}: {exc}", path=source,
                              location=f"line {line}") from None
        for i, p in enumerate(pin_texts):

            def err(m: str, line: int = line, i: int = i) -> ConfigError:
                return ConfigError(m, path=source, location=f"line {line}, pin {i + 1}")

            pin = pin_or_error(p, err, spki_only=True)
            bucket = groups.setdefault(key, [])
            if pin not in bucket:
                if len(bucket) == MAX_PINS_PER_SET:  # bounds this pairwise check too
                    raise err(f"more than {MAX_PINS_PER_SET} pins for {escape(pattern_text)!r}; "
                              f"certpin reads at most {MAX_PINS_PER_SET} per pin set")
                bucket.append(pin)
        first_line.setdefault(key, line)
    return groups, first_line


def _wanted_pattern(host: str | None, groups: dict[_Key, list[Pin]],
                    source: str | None) -> _Key | None:
    """The one pattern to keep (``host`` in OkHttp spelling), or None to keep all."""
    if host is None:
        return None
    try:
        wanted = _okhttp_pattern(host)
    except PolicyError as exc:
        raise ConfigError(f"bad host {escape(host)!r}: {exc}", path=source) from None
    if wanted not in groups:
        raise ConfigError(f"pattern {escape(host)!r} not found in the pin list", path=source)
    return wanted


def _check_exact_and_subdomains(groups: dict[_Key, list[Pin]], first_line: dict[_Key, int],
                                source: str | None) -> None:
    """Refuse a name pinned both exactly and with ``**.`` (one certpin pattern cannot hold both)."""
    names: dict[str, _Key] = {}
    for key in groups:
        if key[0] in names:
            raise ConfigError(
                f"{escape(key[0])!r} is pinned both exactly and with '**.': certpin cannot give "
                "the host and its subdomains different pins under one pattern", path=source,
                location=f"line {first_line[key]}",
            )
        names[key[0]] = key


def _merged_pins(key: _Key, groups: dict[_Key, list[Pin]], order: dict[_Key, int], line: int,
                 *, source: str | None, warns: list[str]) -> list[Pin]:
    """The pins of ``key`` plus those of every pattern covering it (OkHttp's any-match rule)."""
    merged = list(groups[key])
    for other in _candidates(key, order):
        relation = _relation(key, other)
        if relation is None:
            continue
        extra = [p for p in groups[other] if p not in merged]
        if extra and relation == "partial":
            raise ConfigError(
                f"**.{escape(key[0])} and {escape(other[0])} both match {escape(key[0])}, "
                "where OkHttp accepts the pins of both; certpin cannot give that host "
                "different pins from its subdomains", path=source, location=f"line {line}",
            )
        if relation == "covers":
            if extra:
                shown = ("**." if other[1] else "") + other[0]
                warns.append(f"{source or '<input>'}: {escape(key[0])!r} also accepts the "
                             f"pins of {escape(shown)!r} (OkHttp accepts any matching "
                             "pattern's pins); merged")
            merged += extra
    return merged


def to_okhttp(policy: PinPolicy, *, lossy: bool = False) -> ExportResult:
    """Export a policy as Kotlin building an OkHttp ``CertificatePinner``.

    OkHttp cannot express: report-only, expiry, report URIs, certificate pins,
    ``unknown_hosts = "reject"``, ``expired = "reject"``, and overlapping patterns where a
    broader pattern holds pins the narrower one lacks (OkHttp would accept them).

    Args:
        policy: the policy.
        lossy: leave out sets that are report-only, expiring or hold certificate pins (unpinned,
            never locked out), drop report URIs, keep overlapping patterns (listed), instead
            of raising.

    Raises:
        ExportError: a rule cannot be expressed and ``lossy`` is false.
    """
    lx = Lossy("okhttp", lossy)
    if policy.unknown_hosts == "reject":
        lx.add("*", 'unknown_hosts = "reject"', "dropped: unknown hosts are allowed")
    kept: list[tuple[str, PinSet]] = []
    for pattern, ps in sorted(policy.pin_sets.items()):
        if not ps.enforce:
            lx.add(pattern, "report-only (enforce = false)", "pin set left out (not pinned)")
        elif ps.expires is not None:
            lx.add(pattern, "expires (OkHttp pins never expire)", "pin set left out (not pinned)")
        elif any(p.kind != "spki" for p in ps.all_pins):
            lx.add(pattern, "certificate pins (OkHttp pins SPKI only)",
                   "pin set left out (not pinned)")
        else:
            if ps.report_uris:
                lx.add(pattern, "report_uris", "report URIs dropped")
            kept.append((pattern, ps))
    keys = {pattern: (pattern, ps.include_subdomains) for pattern, ps in kept}
    order = {keys[pattern]: i for i, (pattern, _) in enumerate(kept)}
    by_pattern = dict(kept)
    for pattern, ps in kept:
        for other, _sub in _candidates(keys[pattern], order):
            ops = by_pattern[other]
            if _relation(keys[pattern], keys[other]) and not set(ops.all_pins) <= set(ps.all_pins):
                shown = ("**." if ops.include_subdomains else "") + other
                lx.add(pattern, f"overlaps {shown} whose other pins OkHttp would also accept",
                       "kept; the hosts of the narrower pattern accept both sets")
    out = ["// Generated by certpin.", "val certificatePinner = CertificatePinner.Builder()"]
    for pattern, ps in kept:
        name = ("**." if ps.include_subdomains else "") + pattern
        out.append("    .add(")
        out.append(f"        {json.dumps(name)},")
        out += [f"        {json.dumps(str(p))}," for p in ps.all_pins]
        out.append("    )")
    out.append("    .build()")
    return lx.finish("\n".join(out) + "\n")
