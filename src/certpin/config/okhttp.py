"""OkHttp ``CertificatePinner``: import ``.add(...)`` calls or pin lines, export Java builder calls.

Reference: square/okhttp ``CertificatePinner`` (``parent-3.13.1``
``okhttp/src/main/java/okhttp3/CertificatePinner.java`` for OkHttp 3, Debian's 3.13.1;
``parent-4.3.0`` ``okhttp/src/main/java/okhttp3/CertificatePinner.kt`` for OkHttp 4). Patterns:
``example.com`` (that host), ``*.example.com`` (exactly one more label), and from OkHttp 4.3
``**.example.com`` (example.com and any subdomain, any depth: certpin's ``include_subdomains``);
OkHttp 3 reads ``**.`` as a literal name and pins nothing. Pins are ``sha256/<base64>`` SPKI
hashes. How each pattern and pin is read, and which are refused, is listed with its OkHttp or
okio source on the documentation's OkHttp rules page (``docs/rules/okhttp.md``).

OkHttp accepts a host when a pin of ANY matching pattern matches (CertificatePinner.java:217-226);
certpin uses only the most specific pattern. Import therefore gives each pattern the union of its
pins and the pins of every pattern that covers it (exactly OkHttp's behaviour for the hosts it
matches, with a warning); export refuses, unless ``lossy``, a policy where a broader pattern holds
pins the narrower one lacks (OkHttp would accept them too).
"""

from __future__ import annotations

import json

from ..errors import ConfigError, PinFormatError, PolicyError, escape, quote
from ..pins import Pin
from ..policy import PinPolicy, PinSet
from ._common import MAX_PINS_PER_SET, ExportResult, Lossy, as_text, bounded_pin_set
from ._okhttp_rules import read_pattern, read_pin
from ._okhttp_source import ADD, calls, lines

__all__ = ["OKHTTP_VERSIONS", "from_okhttp", "to_okhttp"]

#: The OkHttp major versions :func:`to_okhttp` writes for: 3 (exact and ``*.`` patterns) and 4
#: (also ``**.``, which needs OkHttp 4.3 or later).
OKHTTP_VERSIONS: tuple[int, ...] = (3, 4)

#: The first line of an OkHttp 4 export.
V4_FIRST_LINE = "// certpin: for OkHttp >= 4.3"

#: An OkHttp pattern as certpin holds it: (name, include_subdomains); a name may start ``*.``.
Key = tuple[str, bool]


# --- overlapping patterns: OkHttp accepts the pins of every pattern that matches -----------------
# (parent-3.13.1 CertificatePinner.java:217-226 findMatchingPins; parent-4.3.0
# CertificatePinner.kt:215-224)


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

    Patterns and pins are read as OkHttp reads them, and refused where OkHttp refuses them or
    reads them in a way certpin cannot hold (docs/rules/okhttp.md lists each rule with its
    source). ``**.`` is read as OkHttp 4.3 reads it, with a warning that OkHttp 3 pins nothing
    there, unless the text starts with the line ``// certpin: for OkHttp >= 4.3`` (as
    ``to_okhttp(..., okhttp_version=4)`` writes): then the code is read as OkHttp 4's, and
    ``*.`` over a one-label name is accepted too.

    Args:
        text: the source (at most 1 MiB).
        host: with ``.add`` calls or host lines: keep only this pattern (OkHttp spelling, e.g.
            ``**.example.com``); with bare pin lines: the pattern they belong to.
        source: a file name for messages.
        warnings: if given, receives a line for each pattern whose pins were widened with those
            of a covering pattern (OkHttp's any-match rule), for each pin spelled in a lenient
            base64 that OkHttp reads as the same pin, and for each ``**.`` pattern (OkHttp 3).

    Returns:
        The policy; ``allow_single_pin`` is set exactly when a pattern ends with one pin.

    Raises:
        ConfigError: no pins found, non-literal arguments, a pattern or pin OkHttp refuses
            or certpin cannot hold (``SHA256/``, ``pin-sha256=``, ``sha1/``, a hash that is not
            32 bytes, a trailing dot, ...), the same host both exact and ``**.`` (not
            expressible); names the line (and the pin).
    """
    doc = as_text(text, source)
    warns = warnings if warnings is not None else []
    code = ADD.search(doc) is not None or "CertificatePinner" in doc
    entries = calls(doc, source) if code else lines(doc, host, source)
    if not entries:
        raise ConfigError("no pins found (expected .add(\"host\", \"sha256/...\") or "
                          "'host sha256/...' lines)", path=source)
    okhttp4 = doc.lstrip("\ufeff").split("\n", 1)[0].rstrip("\r") == V4_FIRST_LINE
    groups, first_line = _group_pins(entries, source, warns, okhttp4=okhttp4)
    wanted = _wanted_pattern(host, groups, source, okhttp4=okhttp4)
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


def _group_pins(entries: list[tuple[str, list[str], int]], source: str | None,
                warns: list[str], *, okhttp4: bool) -> tuple[dict[Key, list[Pin]], dict[Key, int]]:
    """The distinct pins of each pattern, in input order, and the line each pattern first has.

    Patterns and pins are read as OkHttp reads them (:mod:`._okhttp_rules`); a lenient pin
    spelling or a ``**.`` pattern adds a warning to ``warns``.
    """
    groups: dict[Key, list[Pin]] = {}
    first_line: dict[Key, int] = {}
    where = source or "<input>"
    for pattern_text, pin_texts, line in entries:
        try:
            name, sub, note = read_pattern(pattern_text, okhttp4=okhttp4)
        except PolicyError as exc:
            raise ConfigError(str(exc), path=source, location=f"line {line}") from None
        key = (name, sub)
        if note is not None and key not in first_line:
            warns.append(f"{where}: line {line}: {note}")
        for i, p in enumerate(pin_texts):

            def err(m: str, line: int = line, i: int = i) -> ConfigError:
                return ConfigError(m, path=source, location=f"line {line}, pin {i + 1}")

            try:
                pin, lenient = read_pin(p)
            except PinFormatError as exc:
                raise err(str(exc)) from None
            if lenient is not None:
                warns.append(f"{where}: line {line}, pin {i + 1}: {lenient}")
            bucket = groups.setdefault(key, [])
            if pin not in bucket:
                if len(bucket) == MAX_PINS_PER_SET:  # bounds this pairwise check too
                    raise err(f"more than {MAX_PINS_PER_SET} pins for {quote(pattern_text, None)}; "
                              f"certpin reads at most {MAX_PINS_PER_SET} per pin set")
                bucket.append(pin)
        first_line.setdefault(key, line)
    return groups, first_line


def _wanted_pattern(host: str | None, groups: dict[Key, list[Pin]],
                    source: str | None, *, okhttp4: bool) -> Key | None:
    """The one pattern to keep (``host`` in OkHttp spelling), or None to keep all."""
    if host is None:
        return None
    try:
        name, sub, _ = read_pattern(host, okhttp4=okhttp4)
    except PolicyError as exc:
        raise ConfigError(f"bad host {quote(host, None)}: {exc}", path=source) from None
    wanted = (name, sub)
    if wanted not in groups:
        raise ConfigError(f"pattern {quote(host, None)} not found in the pin list", path=source)
    return wanted


def _check_exact_and_subdomains(groups: dict[Key, list[Pin]], first_line: dict[Key, int],
                                source: str | None) -> None:
    """Refuse a name pinned both exactly and with ``**.`` (one certpin pattern cannot hold both)."""
    names: dict[str, Key] = {}
    for key in groups:
        if key[0] in names:
            raise ConfigError(
                f"{quote(key[0], None)} is pinned both exactly and with '**.': certpin cannot give "
                "the host and its subdomains different pins under one pattern", path=source,
                location=f"line {first_line[key]}",
            )
        names[key[0]] = key


def _merged_pins(key: Key, groups: dict[Key, list[Pin]], order: dict[Key, int], line: int,
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
                warns.append(f"{source or '<input>'}: {quote(key[0], None)} also accepts the "
                             f"pins of {quote(shown, None)} (OkHttp accepts any matching "
                             "pattern's pins); merged")
            merged += extra
    return merged


def to_okhttp(policy: PinPolicy, *, lossy: bool = False, okhttp_version: int = 3) -> ExportResult:
    """Export a policy as Java building an OkHttp ``CertificatePinner`` (Kotlin: drop ``new``).

    The text is one Java statement, ``CertificatePinner certificatePinner = new
    CertificatePinner.Builder().add("pattern", "sha256/...", ...)....build();`` (with ``import
    okhttp3.CertificatePinner;``), which ``javac`` compiles; in Kotlin write ``val
    certificatePinner = CertificatePinner.Builder()`` with the same ``.add`` calls.

    OkHttp cannot express: report-only, expiry, report URIs, certificate pins,
    ``unknown_hosts = "reject"``, and overlapping patterns where a broader pattern holds pins the
    narrower one lacks (OkHttp accepts the pins of every matching pattern). OkHttp 3 also cannot
    express ``include_subdomains`` (it has no ``**.``: parent-3.13.1 CertificatePinner.java:289-296
    compares anything but ``*.`` literally, so ``**.example.com`` pins nothing), nor ``*.`` over a
    one-label name (its ``*.`` also matches the name itself, lines 289-293).

    Args:
        policy: the policy.
        lossy: instead of raising, leave out sets that are report-only, expiring or hold
            certificate pins (unpinned, never locked out), drop report URIs, keep overlapping
            patterns, and for OkHttp 3 pin an include-subdomains name and ``*.name`` only
            (hosts two or more labels below are then unpinned); each is listed in ``dropped``.
        okhttp_version: 3 (default) for OkHttp 3.x; 4 for OkHttp 4.3 or later, which may use
            ``**.``: the text then starts with the line ``// certpin: for OkHttp >= 4.3``.

    Returns:
        The :class:`~certpin.config.ExportResult`.

    Raises:
        PolicyError: ``okhttp_version`` is not 3 or 4.
        ExportError: a rule cannot be expressed and ``lossy`` is false, or nothing is left to
            export (even with ``lossy``: a pinner that pins nothing is not an export).
    """
    if type(okhttp_version) is not int or okhttp_version not in OKHTTP_VERSIONS:
        raise PolicyError(f"okhttp_version must be 3 or 4 (OkHttp 3.x, or OkHttp >= 4.3), got "
                          f"{okhttp_version!r}")
    lx = Lossy("okhttp", lossy)
    if policy.unknown_hosts == "reject":
        lx.add("*", 'unknown_hosts = "reject"', "dropped: unknown hosts are allowed")
    emitted: dict[Key, tuple[Pin, ...]] = {}
    for pattern, ps in sorted(policy.pin_sets.items()):
        if _expressible(pattern, ps, lx):
            emitted.update(_patterns(pattern, ps, okhttp_version, policy, lx))
    _flag_overlaps(emitted, lx)
    return lx.finish(_java(emitted, okhttp_version),
                     pinned=sorted({name for name, _ in emitted}))


def _expressible(pattern: str, ps: PinSet, lx: Lossy) -> bool:
    """False (and a lossy row) for a set OkHttp cannot hold at all; report URIs are dropped."""
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
        return True
    return False


def _patterns(pattern: str, ps: PinSet, version: int, policy: PinPolicy,
              lx: Lossy) -> dict[Key, tuple[Pin, ...]]:
    """The OkHttp patterns (``(name, uses **.)``) that carry ``ps`` for ``version``."""
    pins = ps.all_pins
    if version == 4:
        return {(pattern, ps.include_subdomains): pins}
    if pattern.startswith("*.") and "." not in pattern[2:]:
        lx.add(pattern, f"'*.' over a one-label name (OkHttp 3's '*.' also matches "
                        f"'{pattern[2:]}' itself)", "pin set left out (not pinned)")
        return {}
    if not ps.include_subdomains:
        return {(pattern, False): pins}
    out = {(pattern, False): pins}
    wild = "*." + pattern
    if wild not in policy.pin_sets:
        out[(wild, False)] = pins
    lx.add(pattern, f"include_subdomains (OkHttp 3 has no '**.': it would read '**.{pattern}' as "
                    "a literal name and pin nothing)",
           f"pinned {pattern} and *.{pattern} only (OkHttp 3's '*.' covers one label): hosts "
           f"two or more labels below {pattern} are not pinned; --okhttp-version 4 writes "
           "'**.' for OkHttp >= 4.3")
    return out


def _flag_overlaps(emitted: dict[Key, tuple[Pin, ...]], lx: Lossy) -> None:
    """A lossy row for each pattern that OkHttp would also give a broader pattern's pins."""
    order = {key: i for i, key in enumerate(emitted)}
    for key, pins in emitted.items():
        for other in _candidates(key, order):
            if _relation(key, other) and not set(emitted[other]) <= set(pins):
                shown = ("**." if other[1] else "") + other[0]
                lx.add(key[0], f"overlaps {shown} whose other pins OkHttp would also accept",
                       "kept; the hosts of the narrower pattern accept both sets")


def _java(emitted: dict[Key, tuple[Pin, ...]], version: int) -> str:
    """The Java statement for ``emitted`` (patterns and pins are ASCII: no escapes needed)."""
    if version == 4:
        out = [V4_FIRST_LINE, "// Generated by certpin ('**.' patterns need OkHttp 4.3 or later)."]
    else:
        out = ["// Generated by certpin for OkHttp 3 and later (exact and '*.' patterns only)."]
    out += ["// Java (import okhttp3.CertificatePinner); in Kotlin write",
            "// val certificatePinner = CertificatePinner.Builder() with the same .add calls.",
            "CertificatePinner certificatePinner = new CertificatePinner.Builder()"]
    for (name, sub), pins in emitted.items():
        args = [json.dumps(("**." if sub else "") + name)] + [json.dumps(str(p)) for p in pins]
        out.append(f"    .add({args[0]},")
        out += [f"        {a}," for a in args[1:-1]] + [f"        {args[-1]})"]
    out.append("    .build();")
    return "\n".join(out) + "\n"
