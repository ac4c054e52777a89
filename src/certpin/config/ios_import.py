"""Import Apple's ``NSPinnedDomains`` (App Transport Security) into a certpin policy.

Nothing here is public API beyond :func:`from_ios` (re-exported by :mod:`certpin.config`).
The rules, each with its Apple source line, are in ``docs/rules/ios.md`` and
:mod:`certpin.config.ios_ats`.
"""

from __future__ import annotations

import json

from ..errors import ConfigError, PinFormatError, PolicyError, quote
from ..hostnames import is_ip, normalize_pattern
from ..pinroles import Role
from ..pins import Pin, parse_pin
from ..policy import PinPolicy, PinSet
from ._common import bounded_pin_set
from .ios_ats import (
    CA_KEY,
    LEAF_KEY,
    SPKI_KEY,
    SUBDOMAINS_KEY,
    Applied,
    AtsDomain,
    apple_base64,
    applied,
    entries_by_name,
)
from .ios_plist import Node, read

__all__ = ["from_ios"]

_WS = " \t\r\n"
#: ATS keys that let a pinned domain be reached without TLS, or with weaker TLS
_WEAK_GLOBAL = ("NSAllowsArbitraryLoads", "NSAllowsArbitraryLoadsInWebContent",
                "NSAllowsArbitraryLoadsForMedia")
_WEAK_INSECURE = ("NSExceptionAllowsInsecureHTTPLoads",
                  "NSThirdPartyExceptionAllowsInsecureHTTPLoads")
_WEAK_TLS = ("NSExceptionMinimumTLSVersion", "NSThirdPartyExceptionMinimumTLSVersion")
_OLD_TLS = ("TLSv1.0", "TLSv1.1")


class _Reader:
    def __init__(self, source: str | None, warns: list[str]):
        self.source = source
        self.warns = warns

    def at(self, node: Node, path: str, message: str) -> ConfigError:
        where = path if node.line is None else f"line {node.line} ({path})"
        return ConfigError(message, path=self.source, location=where)

    def warn(self, node: Node, path: str, message: str) -> None:
        where = path if node.line is None else f"line {node.line} ({path})"
        self.warns.append(f"{self.source or '<input>'}, {where}: {message}")


def _kp(name: str) -> str:
    return name if name.replace("_", "").isalnum() else json.dumps(name)


def from_ios(data: str | bytes, *, source: str | None = None,
             warnings: list[str] | None = None, lossy: bool = False) -> PinPolicy:
    """Import ``NSAppTransportSecurity`` → ``NSPinnedDomains`` from an Info.plist.

    Reads a whole Info.plist or a plist whose top dictionary is the ATS dictionary itself, XML
    (the hardened reader: 1 MiB cap, no DOCTYPE but Apple's) or binary (``bplist00``).
    Every host gets what Apple enforces for it (:mod:`certpin.config.ios_ats`): an entry
    ``D`` becomes the exact pattern ``D`` holding the identities of ``D`` together with those of
    its parent when the parent has ``NSIncludesSubdomains`` (Apple takes both,
    SecPolicy.c:1532-1579); ``NSIncludesSubdomains`` adds ``*.D`` (one label,
    SecPolicy.c:1498-1551) holding ``D``'s identities. Leaf identities get role ``leaf``, CA
    identities role ``ca``; sets with fewer than two pins get ``allow_single_pin`` (Apple
    requires no backup).

    Args:
        data: the plist (at most 1 MiB).
        source: the file name for messages.
        warnings: receives warnings (ATS keys that weaken TLS for a pinned domain, ignored
            keys, duplicate identities, entries that pin nothing, the lossy choice).
        lossy: where a host has both leaf and CA identities (an AND, which a certpin pin set
            cannot say), keep its leaf identities only, with a warning, instead of raising.

    Returns:
        The policy.

    Raises:
        ConfigError: bad input, naming file, line (XML) and key path: no ``NSPinnedDomains``;
            a domain key Apple can never match (trailing dot, ``*``, IP address, not a host
            name) or given twice ignoring case; an entry Apple skips silently (not a
            dictionary; an identity that is not a dictionary or has no string
            ``SPKI-SHA256-BASE64``; base64 that does not decode to exactly one canonical
            SHA-256 digest); an empty identity array (Apple fails every connection); a host
            with both kinds of identities (unless ``lossy``); no host pinned at all.
    """
    rd = _Reader(source, warnings if warnings is not None else [])
    ats, apath = _find_ats(rd, read(data, source))
    domains = _domains(rd, ats, apath)
    _weak_keys(rd, ats, apath, domains)
    sets: dict[str, PinSet] = {}
    index = entries_by_name(domains.values())
    for d in domains.values():
        own = applied(index, d.name)
        if own.pinned:
            sets[d.name] = _pin_set(rd, d.name, own, lossy, source)
        elif d.leaf is None and d.ca is None:
            rd.warns.append(f"{source or '<input>'}: {d.name!r} has neither {LEAF_KEY} nor "
                            f"{CA_KEY}: Apple does not pin it (SecPolicy.c:1554-1555)")
        if d.includes_subdomains and (d.leaf is not None or d.ca is not None):
            sub = Applied(d.leaf, d.ca, (d.name,))
            sets["*." + d.name] = _pin_set(rd, "*." + d.name, sub, lossy, source)
    if not sets:
        raise ConfigError("NSPinnedDomains pins no host: no entry holds "
                          f"{LEAF_KEY} or {CA_KEY}, so Apple pins nothing", path=source,
                          location=f"{apath}.NSPinnedDomains")
    try:
        return PinPolicy(sets)
    except PolicyError as exc:  # pragma: no cover - patterns were normalised above
        raise ConfigError(str(exc), path=source) from None


def _find_ats(rd: _Reader, top: Node) -> tuple[Node, str]:
    if top.kind != "dict":
        raise rd.at(top, "(plist)", "expected a dictionary at the top of the plist")
    if "NSAppTransportSecurity" in top.value:
        ats, path = top.value["NSAppTransportSecurity"], "NSAppTransportSecurity"
    elif "NSPinnedDomains" in top.value:
        ats, path = top, "(plist)"
    else:
        raise rd.at(top, "(plist)", "no NSAppTransportSecurity (nor NSPinnedDomains) in the "
                    "plist")
    if ats.kind != "dict":
        raise rd.at(ats, path, "expected a dictionary (Apple ignores anything else, "
                    "SecPolicy.c:1602)")
    return ats, path


def _domains(rd: _Reader, ats: Node, apath: str) -> dict[str, AtsDomain]:
    pinned = ats.value.get("NSPinnedDomains")
    ppath = f"{apath}.NSPinnedDomains"
    if pinned is None:
        raise rd.at(ats, apath, "no NSPinnedDomains: Apple pins nothing")
    if pinned.kind != "dict":
        raise rd.at(pinned, ppath, "expected a dictionary of domains (Apple ignores anything "
                    "else and pins nothing, SecPolicy.c:1605)")
    out: dict[str, AtsDomain] = {}
    for key, node in pinned.value.items():
        dpath = f"{ppath}.{_kp(key)}"
        name = _domain_name(rd, key, node, dpath)
        if name in out:
            raise rd.at(node, dpath, f"domain {quote(name, None)} is given twice (ignoring case); "
                        "Apple would take the pins of both together: write one entry")
        out[name] = _domain(rd, name, node, dpath)
    return out


def _domain_name(rd: _Reader, key: str, node: Node, dpath: str) -> str:
    """The lower-case name of a domain key that Apple can match; else refuse."""
    if node.kind != "dict":
        raise rd.at(node, dpath, "expected a dictionary; Apple silently skips this entry "
                    "(SecPolicy.c:1536), so the domain would not be pinned")
    if key.endswith("."):
        raise rd.at(node, dpath, f"domain {quote(key, None)} ends with a dot: Apple strips the "
                    "host's trailing dot before comparing (SecPolicy.c:1523-1530), so this "
                    f"entry matches no host; write {quote(key[:-1], None)}")
    if "*" in key:
        raise rd.at(node, dpath, f"domain {quote(key, None)}: Apple compares domain keys as text "
                    "(SecPolicy.c:1540), so a wildcard matches no host; write the parent "
                    "domain with NSIncludesSubdomains")
    if not key.isascii() or key != key.strip(_WS):
        raise rd.at(node, dpath, f"domain {quote(key, None)} is not an ASCII host name: Apple "
                    "compares it as text with the host (SecPolicy.c:1540); write the "
                    "punycode (xn--) form")
    try:
        name = normalize_pattern(key)
    except PolicyError as exc:
        raise rd.at(node, dpath, f"bad domain {quote(key, None)}: {exc}") from None
    if is_ip(name):
        raise rd.at(node, dpath, f"domain {quote(key, None)} is an IP address: Apple compares it "
                    "as text with the host the app names (SecPolicy.c:1540; the domain-name "
                    "rules of NSExceptionDomains allow IP addresses only since iOS 17), so "
                    "certpin cannot tell which connections it pins")
    if name != key.lower():  # pragma: no cover - an ASCII LDH name normalises to itself
        raise rd.at(node, dpath, f"domain {quote(key, None)} is not in canonical form")
    return name


def _domain(rd: _Reader, name: str, node: Node, dpath: str) -> AtsDomain:
    entry: dict[str, Node] = node.value
    for key, value in entry.items():
        if key not in (LEAF_KEY, CA_KEY, SUBDOMAINS_KEY):
            rd.warn(value, f"{dpath}.{_kp(key)}", f"{key!r} is not an NSPinnedDomains key; "
                    "Apple ignores it")
    sub = entry.get(SUBDOMAINS_KEY)
    if sub is not None and sub.kind != "bool":
        raise rd.at(sub, f"{dpath}.{SUBDOMAINS_KEY}", "expected <true/> or <false/>: Apple "
                    "reads only the boolean true (SecPolicy.c:1545), so this entry does not "
                    "cover subdomains")
    return AtsDomain(
        name, sub is not None and sub.value is True,
        _identities(rd, entry.get(LEAF_KEY), f"{dpath}.{LEAF_KEY}"),
        _identities(rd, entry.get(CA_KEY), f"{dpath}.{CA_KEY}"),
    )


def _identities(rd: _Reader, node: Node | None, path: str) -> tuple[Pin, ...] | None:
    """The pins of one identity array, None when absent; refuses what Apple skips."""
    if node is None:
        return None
    if node.kind != "array":
        raise rd.at(node, path, "expected an array of dictionaries: Apple counts the domain as "
                    "pinned with no identity (SecPolicy.c:1555-1558), so every connection to "
                    "it would fail")
    if not node.value:
        raise rd.at(node, path, "empty array: Apple counts the domain as pinned with no "
                    "identity (SecPolicy.c:1554-1556), so every connection to it fails "
                    "(SecPolicyServer.c:838-898)")
    pins: list[Pin] = []
    for i, item in enumerate(node.value):
        ipath = f"{path}[{i}]"
        if item.kind != "dict":
            raise rd.at(item, ipath, "expected a dictionary holding SPKI-SHA256-BASE64: Apple "
                        "silently skips this identity (SecPolicy.c:1562)")
        b64 = item.value.get(SPKI_KEY)
        if b64 is None or b64.kind != "string":
            raise rd.at(item, f"{ipath}.{SPKI_KEY}", "expected a string: Apple silently skips "
                        "this identity (SecPolicy.c:1564-1565)")
        pin = _pin(rd, b64, f"{ipath}.{SPKI_KEY}")
        if pin in pins:
            rd.warn(b64, f"{ipath}.{SPKI_KEY}", f"{pin} is listed twice; imported once")
        else:
            pins.append(pin)
    return tuple(pins)


def _pin(rd: _Reader, node: Node, path: str) -> Pin:
    text: str = node.value
    apple = apple_base64(text)
    try:
        pin = parse_pin("sha256/" + text.strip(_WS))
    except PinFormatError:
        pin = None
    if pin is not None and apple == pin.digest:
        return pin
    shown = quote(text, None)
    if apple is None:
        why = "Apple's decoder yields nothing and silently skips this identity"
    elif len(apple) != 32:
        why = (f"Apple's decoder reads {len(apple)} bytes, which never equal a SHA-256 "
               "digest: a pin that never matches")
    else:
        why = (f"Apple's decoder reads it as {Pin('spki', apple)} (ignoring characters outside "
               "base64); write that canonical form")
    raise rd.at(node, path, f"{shown} is not the base64 of one SHA-256 digest: {why} "
                "(SecPolicy.c:1466-1496, SecBase64.c:258-391)")


def _pin_set(rd: _Reader, pattern: str, got: Applied, lossy: bool,
             source: str | None) -> PinSet:
    """One pin set from Apple's two arrays for a host (one of them only)."""
    leaf, ca = got.leaf, got.ca
    if leaf and ca:
        if not lossy:
            raise ConfigError(
                f"{pattern!r} has both {LEAF_KEY} and {CA_KEY} (from "
                f"{', '.join(repr(s) for s in got.sources)}): Apple requires a leaf match AND "
                "a CA match (SecPolicy.c:1622-1639), a certpin pin set passes on any one pin, "
                "so importing both would widen it (use --lossy to keep the leaf identities)",
                path=source)
        rd.warns.append(
            f"{source or '<input>'}: {pattern!r}: kept {LEAF_KEY} only, dropped {CA_KEY} "
            f"({', '.join(str(p) for p in ca)}): Apple requires both to "
            "match; certpin now accepts a chain whose leaf key matches whatever CA issued it "
            "(a leaf pin is the stricter half: it needs the server's private key)")
        ca = None
    pins = list(leaf or ca or ())
    role: Role = "leaf" if leaf else "ca"
    try:
        return bounded_pin_set(pins, roles=dict.fromkeys(pins, role),
                               allow_single_pin=len(pins) < 2)
    except PolicyError as exc:
        raise ConfigError(f"{pattern!r}: {exc}", path=source) from None


def _weak_keys(rd: _Reader, ats: Node, apath: str, domains: dict[str, AtsDomain]) -> None:
    """Warn about ATS keys that let a pinned domain be reached without TLS or with old TLS."""
    for key in _WEAK_GLOBAL:
        node = ats.value.get(key)
        if node is not None and node.value is True:
            rd.warn(node, f"{apath}.{key}", f"{key} is true: ATS allows plain-HTTP (unpinned) "
                    "loads, pinned domains included")
    exc = ats.value.get("NSExceptionDomains")
    if exc is None or exc.kind != "dict":
        return
    for name, entry in exc.value.items():
        if entry.kind != "dict":
            continue
        low = name.lower()
        hits = [d for d in domains if low == d or low.endswith("." + d) or d.endswith("." + low)]
        if not hits:
            continue
        for key, node in entry.value.items():
            weak = (key in _WEAK_INSECURE and node.value is True) or (
                key in _WEAK_TLS and node.value in _OLD_TLS)
            if weak:
                rd.warn(node, f"{apath}.NSExceptionDomains.{_kp(name)}.{key}",
                        f"{key} = {node.value!r} weakens TLS for pinned domain(s) "
                        f"{', '.join(repr(h) for h in hits)}")
