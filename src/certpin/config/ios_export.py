"""Export a certpin policy as Apple's ``NSPinnedDomains`` (an Info.plist fragment).

Nothing here is public API beyond :func:`to_ios` (re-exported by :mod:`certpin.config`). The
rules, each with its Apple source line, are in ``docs/rules/ios.md``.

How the export keeps Apple's union equal to certpin's most specific match: it builds the
entries, then asks, for every host that can be told apart (each name ``N`` of the policy or of
an entry, a fresh label under it and a fresh label two levels under it), what Apple would
enforce (:func:`certpin.config.ios_ats.applied`) and what ``certpin.check`` would (the pin
set :meth:`certpin.PinPolicy.match` picks). Any difference is refused; with ``lossy`` the pin
set certpin picks for that host is left out (or, where Apple pins a host certpin does not, the
entries Apple combined) and the check runs again. A host two or more labels below an
``include_subdomains`` pattern is the one difference allowed, after its own dropped row.
"""

from __future__ import annotations

from collections.abc import Iterable
from xml.sax.saxutils import escape as xml_escape

from ..errors import escape
from ..hostnames import is_ip
from ..pins import Pin
from ..policy import PinPolicy, PinSet
from ._common import ExportResult, Lossy
from .ios_ats import (
    CA_KEY,
    LEAF_KEY,
    SPKI_KEY,
    SUBDOMAINS_KEY,
    Applied,
    AtsDomain,
    applied,
    entries_by_name,
)

__all__ = ["to_ios"]

NOTE = ("NSPinnedDomains is read by iOS/iPadOS 14, macOS 11, visionOS 1 and later "
        "(earlier versions ignore it: not pinned); URLSession honours it, WKWebView and "
        "SFSafariViewController do not")


def to_ios(policy: PinPolicy, *, lossy: bool = False) -> ExportResult:
    """Export ``policy`` as an XML plist holding ``NSAppTransportSecurity`` →
    ``NSPinnedDomains`` (:func:`certpin.config.from_ios` reads it back).

    A pin set whose pins all have role ``leaf`` becomes ``NSPinnedLeafIdentities``, all ``ca``
    ``NSPinnedCAIdentities`` (backup pins included: they are accepted pins);
    ``NSIncludesSubdomains`` is always written, true for a ``*.D`` pattern merged into an
    equal ``D`` and for ``include_subdomains`` (which then covers one label only).

    Args:
        policy: the policy.
        lossy: leave out (unpinned, never locked out) what Apple cannot say, list each in
            ``dropped``; else raise.

    Returns:
        The :class:`ExportResult`; ``notes`` says which OS versions read the keys.

    Raises:
        ExportError: without ``lossy``, a rule Apple cannot say, naming host and rule: a pin
            without a role or roles mixed in one set (Apple ANDs the two arrays), certificate
            pins, expiry, report-only, report URIs, ``unknown_hosts = "reject"``, IP
            addresses, any-depth ``include_subdomains``, a ``*.D`` without an equal ``D``, a
            host for which Apple's union of matching entries differs from certpin's pin set;
            and, even with ``lossy``, a policy of which no pin set is left to export.
    """
    lx = Lossy("ios", lossy)
    if policy.unknown_hosts == "reject":
        lx.add("*", 'unknown_hosts = "reject" (ATS cannot refuse unpinned hosts)',
               "dropped: unknown hosts are allowed")
    kept = {p: ps for p, ps in policy.pin_sets.items() if _sayable(p, ps, lx)}
    while True:
        domains = _entries(kept, lx)
        bad = _first_difference(kept, domains)
        if bad is None:
            break
        for pattern in bad[1]:
            del kept[pattern]
        lx.add(bad[0], bad[2], f"pin set(s) {', '.join(bad[1])} left out (not pinned)")
    return lx.finish(_plist(domains), [NOTE], pinned=list(kept))


def _sayable(pattern: str, ps: PinSet, lx: Lossy) -> bool:
    """Whether one pin set can be said on its own; records why not (and report URIs)."""
    reason = None
    roles = {ps.role_of(p) for p in ps.all_pins}
    if is_ip(pattern):
        reason = ("an IP address (Apple compares NSPinnedDomains keys as text, "
                  "SecPolicy.c:1540, and ATS domain rules allow IP addresses only from iOS 17)")
    elif any(p.kind != "spki" for p in ps.all_pins):
        reason = "certificate pins (NSPinnedDomains holds SPKI digests only)"
    elif None in roles:
        pin = next(p for p in ps.all_pins if ps.role_of(p) is None)
        reason = (f"pin {pin} has no role (an NSPinnedDomains identity is a leaf or a CA, "
                  "certpin matches it anywhere in the chain)")
    elif len(roles) > 1:
        pin = next(p for p in ps.all_pins if ps.role_of(p) == "ca")
        reason = (f"roles mixed (e.g. pin {pin} is 'ca'): Apple requires a leaf match AND a CA "
                  "match, certpin any one pin")
    elif ps.expires is not None:
        reason = "expires (NSPinnedDomains pins never expire)"
    elif not ps.enforce:
        reason = "report-only (enforce = false, ATS always enforces)"
    if reason is not None:
        lx.add(escape(pattern), reason, "pin set left out (not pinned)")
        return False
    if ps.report_uris:
        lx.add(escape(pattern), "report_uris (ATS sends no reports)", "report URIs dropped")
    if ps.include_subdomains:
        lx.add(escape(pattern), "include_subdomains covers any depth, NSIncludesSubdomains one "
               "label (Apple's documentation of NSIncludesSubdomains, SecPolicy.c:1498-1551)",
               "exported with NSIncludesSubdomains; hosts two or more labels below are not "
               "pinned")
    return True


def _entries(kept: dict[str, PinSet], lx: Lossy) -> list[AtsDomain]:
    """The NSPinnedDomains entries of ``kept``: an exact or include_subdomains pattern ``D``
    holds its own pins; a ``*.D`` becomes ``D``'s entry with NSIncludesSubdomains and the pins
    of ``*.D`` (the check of every host then requires ``D`` to get what certpin gives it). A
    ``*.D`` without a pin set for ``D`` is dropped: NSIncludesSubdomains pins ``D`` itself."""
    out: dict[str, AtsDomain] = {}
    for pattern, ps in kept.items():
        if not pattern.startswith("*."):
            out[pattern] = _entry(pattern, ps, ps.include_subdomains)
    for pattern, ps in list(kept.items()):
        if not pattern.startswith("*."):
            continue
        base = pattern[2:]
        if base not in kept:
            lx.add(escape(pattern), f"one-label wildcard without a pin set for {escape(base)} "
                   f"(NSIncludesSubdomains also pins {escape(base)} itself)",
                   "pin set left out (not pinned)")
            del kept[pattern]
            continue
        out[base] = _entry(base, ps, True)
    return sorted(out.values(), key=lambda d: d.name)


def _entry(name: str, ps: PinSet, includes: bool) -> AtsDomain:
    pins = tuple(ps.all_pins)
    leaf = ps.role_of(pins[0]) == "leaf"
    return AtsDomain(name, includes, pins if leaf else None, None if leaf else pins)


def _view(ps: PinSet | None) -> Applied:
    """What certpin enforces with ``ps``, in Apple's terms (every pin has the same role)."""
    if ps is None:
        return Applied(None, None, ())
    pins = ps.all_pins
    if ps.role_of(ps.all_pins[0]) == "leaf":
        return Applied(pins, None, ())
    return Applied(None, pins, ())


def _probes(names: Iterable[str]) -> list[str]:
    """Hosts that tell every rule apart: each name, a fresh label below it, and two."""
    names = sorted(set(names))
    labels = {label for n in names for label in n.split(".")}
    fresh = next(f"x{i}" for i in range(len(labels) + 1) if f"x{i}" not in labels)
    return [h for n in names for h in (n, f"{fresh}.{n}", f"{fresh}.{fresh}.{n}")]


def _first_difference(kept: dict[str, PinSet], domains: list[AtsDomain]
                      ) -> tuple[str, list[str], str] | None:
    """The first host where Apple and certpin differ: (host, patterns to drop, rule)."""
    policy = PinPolicy(kept)
    names = [p.removeprefix("*.") for p in kept] + [d.name for d in domains]
    index = entries_by_name(domains)
    for host in _probes(names):
        apple = applied(index, host)
        found = policy.match(host)
        mine = _view(found[1] if found else None)
        if apple.key() == mine.key():
            continue
        if found is not None and not apple.pinned and found[1].include_subdomains \
                and host.count(".") - found[0].count(".") >= 2:
            continue  # the any-depth loss, already recorded for found[0]
        if found is not None and "*." + found[0] in kept and found[0] == host:
            drop = ["*." + host]  # the wildcard merged into this host's entry changed it
        elif found is not None:
            drop = [found[0]]
        else:
            drop = [p for p in kept if p.removeprefix("*.") in apple.sources]
        rule = (f"Apple would enforce {_say(apple)} (every NSPinnedDomains entry matching it "
                f"together: {', '.join(apple.sources) or 'none'}, SecPolicy.c:1532-1579), "
                f"certpin {_say(mine)}"
                + (f" (pattern {found[0]})" if found else ""))
        return escape(host), drop, rule
    return None


def _say(a: Applied) -> str:
    def pins(s: tuple[Pin, ...]) -> str:
        return ", ".join(sorted(str(p) for p in s))
    parts = []
    if a.leaf is not None:
        parts.append(f"leaf in [{pins(a.leaf)}]")
    if a.ca is not None:
        parts.append(f"CA in [{pins(a.ca)}]")
    return " AND ".join(parts) or "no pins"


def _plist(domains: list[AtsDomain]) -> str:
    t = "\t"
    out = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        '<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" '
        '"http://www.apple.com/DTDs/PropertyList-1.0.dtd">',
        '<plist version="1.0">',
        "<dict>",
        f"{t}<key>NSAppTransportSecurity</key>",
        f"{t}<dict>",
        f"{t*2}<key>NSPinnedDomains</key>",
        f"{t*2}<dict>",
    ]
    for d in domains:
        i = t * 4
        out += [f"{t*3}<key>{xml_escape(d.name)}</key>", f"{t*3}<dict>",
                f"{i}<key>{SUBDOMAINS_KEY}</key>",
                f"{i}<{'true' if d.includes_subdomains else 'false'}/>"]
        for key, pins in ((LEAF_KEY, d.leaf), (CA_KEY, d.ca)):
            if pins is None:
                continue
            out += [f"{i}<key>{key}</key>", f"{i}<array>"]
            for p in pins:
                out += [f"{i}{t}<dict>", f"{i}{t*2}<key>{SPKI_KEY}</key>",
                        f"{i}{t*2}<string>{p.base64}</string>", f"{i}{t}</dict>"]
            out.append(f"{i}</array>")
        out.append(f"{t*3}</dict>")
    out += [f"{t*2}</dict>", f"{t}</dict>", "</dict>", "</plist>"]
    return "\n".join(out) + "\n"

