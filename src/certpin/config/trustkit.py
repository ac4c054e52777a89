"""TrustKit (iOS/macOS) configuration: Info.plist import and export, Swift dictionary export.

Reference: TrustKit's README and ``TSKTrustKitConfig.h``. In an Info.plist the configuration is
the ``TSKConfiguration`` dictionary; its keys are the string values of TrustKit's constants
(``kTSKPinnedDomains`` is ``"TSKPinnedDomains"``, ...). Import accepts both spellings (with and
without the leading ``k``). Per domain: ``TSKPublicKeyHashes`` (base64 SPKI SHA-256),
``TSKIncludeSubdomains``, ``TSKEnforcePinning`` (default true), ``TSKReportUris``,
``TSKExpirationDate`` (``yyyy-MM-dd``, read as 00:00 UTC), ``TSKDisableDefaultReportUri``.

Export always sets ``TSKDisableDefaultReportUri`` to true (else TrustKit also sends reports to
a third-party default URI) and sets ``TSKSwizzleNetworkDelegates`` as the caller chooses
(default false). TrustKit refuses a domain with fewer than two hashes, wildcards and
certificate pins; see :func:`to_trustkit` for what is lossy.

The parser is hardened (defusedxml, 1 MiB cap, no DTD). The one DOCTYPE Xcode writes into every
plist (``-//Apple//DTD PLIST 1.0//EN``, an external identifier without internal subset, so it
can declare no entity) is accepted; every other DOCTYPE is refused.
"""

from __future__ import annotations

import json
from datetime import UTC, date
from xml.sax.saxutils import escape as xml_escape

from ..errors import ConfigError, PolicyError, escape
from ..hostnames import normalize_pattern
from ..pins import Pin
from ..policy import PinPolicy, PinSet, is_report_uri
from ._common import (
    ExportResult,
    Lossy,
    bounded_pin_set,
    date_only,
    floor_date,
    parse_date,
    pin_or_error,
)
from ._plist import PlistNode, PlistReader, key_path, read_plist
from ._xml import XmlDoc, parse_xml

__all__ = ["from_trustkit", "to_trustkit", "to_trustkit_swift"]

_DOMAIN_KEYS = {
    "TSKPublicKeyHashes", "TSKIncludeSubdomains", "TSKEnforcePinning", "TSKReportUris",
    "TSKExpirationDate", "TSKDisableDefaultReportUri", "TSKPublicKeyAlgorithms",
    "TSKExcludeSubdomainFromParentPolicy", "TSKAdditionalTrustAnchors",
}
_CONFIG_KEYS = {"TSKSwizzleNetworkDelegates", "TSKPinnedDomains",
                "TSKIgnorePinningForUserDefinedTrustAnchors"}
_BOOL_KEYS = ("TSKIncludeSubdomains", "TSKEnforcePinning", "TSKDisableDefaultReportUri",
              "TSKExcludeSubdomainFromParentPolicy")


def _norm(name: str) -> str:
    return name[1:] if name.startswith("kTSK") else name


def from_trustkit(data: str | bytes, *, source: str | None = None,
                  warnings: list[str] | None = None) -> PinPolicy:
    """Import a TrustKit configuration from an Info.plist (XML) or a plist holding it.

    The document is a ``<plist>`` whose dictionary holds ``TSKConfiguration`` (a whole
    Info.plist; other keys are ignored), or holds ``TSKPinnedDomains`` directly.

    Args:
        data: the plist XML (at most 1 MiB).
        source: the file name for messages, or None.
        warnings: if given, warnings are appended (one pin only, deprecated keys, user-defined
            trust anchors ignored).

    Returns:
        A policy with one pin set per pinned domain; ``allow_single_pin`` is set exactly when a
        domain has fewer than two hashes (TrustKit itself refuses that).

    Raises:
        ConfigError: bad or hostile XML, a binary plist, wrong types, unknown keys inside the
            configuration, bad dates or hashes, wildcards, ``TSKExcludeSubdomainFromParentPolicy``
            (an unpinned exception certpin cannot express); names file, line and key path.
    """
    if isinstance(data, bytes) and data.startswith(b"bplist"):
        raise ConfigError("binary plist: convert it first (plutil -convert xml1 FILE)",
                          path=source)
    doc = parse_xml(data, source, allow_plist_doctype=True)
    rd = PlistReader(doc, source, warnings if warnings is not None else [])
    config, path = _find_config(doc)
    domains = _pinned_domains(rd, config, path)
    sets: dict[str, PinSet] = {}
    for host, dnode in domains.value.items():
        dpath = f"{path}.TSKPinnedDomains.{key_path(host)}"
        pattern = _domain_pattern(rd, host, dnode, dpath)
        if pattern in sets:
            raise rd.at(dnode, dpath, f"domain {escape(pattern)!r} appears twice")
        sets[pattern] = _domain_pin_set(rd, pattern, dnode, dpath)
    try:
        return PinPolicy(sets)
    except PolicyError as exc:
        raise ConfigError(str(exc), path=source) from None


def _find_config(doc: XmlDoc) -> tuple[PlistNode, str]:
    """The TrustKit configuration dictionary and its path: TSKConfiguration or the top."""
    top = read_plist(doc)
    if not isinstance(top.value, dict):
        raise doc.error(top.el, "expected a <dict> at the top of the plist")
    path = "TSKConfiguration"
    if "TSKConfiguration" in top.value:
        config = top.value["TSKConfiguration"]
    elif any(_norm(k) == "TSKPinnedDomains" for k in top.value):
        config, path = top, "(plist)"
    else:
        raise doc.error(top.el, "no TSKConfiguration (nor TSKPinnedDomains) in the plist")
    if not isinstance(config.value, dict):
        raise doc.error(config.el, f"{path}: expected a <dict>")
    return config, path


def _pinned_domains(rd: PlistReader, config: PlistNode, path: str) -> PlistNode:
    """Check the configuration's own keys; return its TSKPinnedDomains dictionary."""
    domains: PlistNode | None = None
    for name, node in config.value.items():
        key = _norm(name)
        if path == "(plist)" and key not in _CONFIG_KEYS:
            continue  # other Info.plist keys next to TSKPinnedDomains
        if key not in _CONFIG_KEYS:
            raise rd.at(node, f"{path}.{key_path(name)}", f"unknown TrustKit key {escape(name)!r}")
        if key == "TSKPinnedDomains":
            domains = node
        elif not isinstance(node.value, bool):
            raise rd.at(node, f"{path}.{key_path(name)}", "expected <true/> or <false/>")
        elif key == "TSKIgnorePinningForUserDefinedTrustAnchors" and node.value:
            rd.warn(node, "TSKIgnorePinningForUserDefinedTrustAnchors is true: on macOS, "
                          "user-installed anchors bypass the pins (not imported)")
    if domains is None:
        raise rd.at(config, path, "missing TSKPinnedDomains")
    if not isinstance(domains.value, dict):
        raise rd.at(domains, f"{path}.TSKPinnedDomains", "expected a <dict> of domains")
    return domains


def _domain_pattern(rd: PlistReader, host: str, dnode: PlistNode, dpath: str) -> str:
    """The normalised pattern of one domain entry (no wildcards in TrustKit)."""
    if not isinstance(dnode.value, dict):
        raise rd.at(dnode, dpath, "expected a <dict> for the domain")
    try:
        if "*" in host:
            raise PolicyError("TrustKit domains cannot contain '*'")
        return normalize_pattern(host)
    except PolicyError as exc:
        raise rd.at(dnode, dpath, f"bad domain {escape(host)!r}: {exc}") from None


def _domain_pin_set(rd: PlistReader, pattern: str, dnode: PlistNode, dpath: str) -> PinSet:
    """The pin set of one domain entry."""
    opts = _domain_options(rd, dnode, dpath)
    pins = _public_key_hashes(rd, opts.get("TSKPublicKeyHashes"), dnode, dpath)
    uris = _report_uris(rd, opts.get("TSKReportUris"), dpath)
    expires = _expiration(rd, opts.get("TSKExpirationDate"), dpath)
    single = len(set(pins)) < 2
    if single:
        rd.warn(dnode, f"{escape(pattern)!r} has fewer than two pins; "
                       "TrustKit refuses such a configuration")
    flags = {k: n.value for k, n in opts.items() if isinstance(n.value, bool)}
    try:
        return bounded_pin_set(
            pins,
            include_subdomains=flags.get("TSKIncludeSubdomains", False),
            enforce=flags.get("TSKEnforcePinning", True),
            report_uris=uris, expires=expires, allow_single_pin=single,
        )
    except PolicyError as exc:
        raise rd.at(dnode, dpath, str(exc)) from None


def _domain_options(rd: PlistReader, dnode: PlistNode, dpath: str) -> dict[str, PlistNode]:
    """A domain's keys (``kTSK`` spelling normalised), with the boolean ones type-checked."""
    opts: dict[str, PlistNode] = {}
    for name, node in dnode.value.items():
        key = _norm(name)
        if key not in _DOMAIN_KEYS:
            raise rd.at(node, f"{dpath}.{key_path(name)}",
                        f"unknown TrustKit key {escape(name)!r}")
        opts[key] = node
    for key in _BOOL_KEYS:
        if key in opts and not isinstance(opts[key].value, bool):
            raise rd.at(opts[key], f"{dpath}.{key}", "expected <true/> or <false/>")
    exclude = opts.get("TSKExcludeSubdomainFromParentPolicy")
    if exclude is not None and exclude.value:
        raise rd.at(exclude, dpath,
                    "TSKExcludeSubdomainFromParentPolicy (an unpinned exception under a parent's "
                    "includeSubdomains) cannot be expressed in a certpin policy")
    for key in ("TSKPublicKeyAlgorithms", "TSKAdditionalTrustAnchors"):
        if key in opts:
            rd.warn(opts[key], f"{dpath}.{key} ignored")
    return opts


def _public_key_hashes(rd: PlistReader, hashes: PlistNode | None, dnode: PlistNode,
                       dpath: str) -> list[Pin]:
    """The SPKI pins of TSKPublicKeyHashes (required)."""
    if hashes is None:
        raise rd.at(dnode, dpath, "missing TSKPublicKeyHashes")
    if not isinstance(hashes.value, list):
        raise rd.at(hashes, f"{dpath}.TSKPublicKeyHashes", "expected an <array> of <string>")
    pins: list[Pin] = []
    for i, h in enumerate(hashes.value):
        hp = f"{dpath}.TSKPublicKeyHashes[{i}]"
        if not isinstance(h.value, str) or h.el.tag != "string":
            raise rd.at(h, hp, "expected a <string> (base64 SHA-256 of the SPKI)")

        def err(m: str, h: PlistNode = h, hp: str = hp) -> ConfigError:
            return rd.at(h, hp, m)

        pins.append(pin_or_error("sha256/" + h.value.strip(), err))
    return pins


def _report_uris(rd: PlistReader, node: PlistNode | None, dpath: str) -> list[str]:
    """The URIs of TSKReportUris, or none."""
    if node is None:
        return []
    if not isinstance(node.value, list) or not all(
        isinstance(u.value, str) and u.el.tag == "string" for u in node.value
    ):
        raise rd.at(node, f"{dpath}.TSKReportUris", "expected an <array> of <string>")
    uris = [u.value.strip() for u in node.value]
    for i, uri in enumerate(uris):
        if not is_report_uri(uri):  # the rule of policy files, so the import loads back
            raise rd.at(node.value[i], f"{dpath}.TSKReportUris[{i}]",
                        f"expected an http(s) URI without spaces, got {escape(repr(uri))}")
    return uris


def _expiration(rd: PlistReader, node: PlistNode | None, dpath: str) -> date | None:
    """The date of TSKExpirationDate, or None."""
    if node is None:
        return None
    try:
        if not isinstance(node.value, str) or node.el.tag != "string":
            raise ValueError("expected a <string> yyyy-MM-dd")
        return parse_date(node.value.strip())
    except ValueError as exc:
        raise rd.at(node, f"{dpath}.TSKExpirationDate", str(exc)) from None


def _exportable(policy: PinPolicy, lx: Lossy) -> list[tuple[str, PinSet, str | None]]:
    """Pin sets TrustKit can hold, with their expiration date text; records the rest."""
    if policy.unknown_hosts == "reject":
        lx.add("*", 'unknown_hosts = "reject" (TrustKit cannot refuse unpinned hosts)',
               "dropped: unknown hosts are allowed")
    if policy.expired == "reject" and any(ps.expires for ps in policy.pin_sets.values()):
        lx.add("*", 'expired = "reject" (TrustKit stops enforcing expired pin sets)',
               "dropped: expired pin sets are not enforced")
    out: list[tuple[str, PinSet, str | None]] = []
    for pattern, ps in sorted(policy.pin_sets.items()):
        if pattern.startswith("*."):
            lx.add(pattern, "one-label wildcard", "pin set left out (not pinned)")
            continue
        if any(p.kind != "spki" for p in ps.all_pins):
            lx.add(pattern, "certificate pins (TrustKit pins SPKI only)",
                   "pin set left out (not pinned)")
            continue
        if len(set(ps.all_pins)) < 2:
            lx.add(pattern, "fewer than two pins (TrustKit refuses the configuration)",
                   "pin set left out (not pinned)")
            continue
        expiration: str | None = None
        if ps.expires is not None:
            expiration = date_only(ps.expires)
            if expiration is None:
                expiration = floor_date(ps.expires)
                lx.add(pattern, f"expiry {ps.expires.astimezone(UTC).isoformat()} is not at "
                                "00:00 UTC", f"expiration moved back to {expiration}")
        out.append((pattern, ps, expiration))
    # TrustKit (configuration_utils.m) uses an exact entry, else the FIRST includeSubdomains
    # parent in dictionary order, not the most specific one: nested parents that differ are
    # ambiguous there.
    subs = [(p, ps) for p, ps, _ in out if ps.include_subdomains]
    index = {p: i for i, (p, _) in enumerate(subs)}
    for inner, ips in subs:
        # only a parent name can hold ``inner``: look its parents up (all pairs: quadratic)
        labels = inner.split(".")
        parents = sorted(index[".".join(labels[k:])] for k in range(1, len(labels))
                          if ".".join(labels[k:]) in index)
        for outer, ops in (subs[i] for i in parents):
            if inner.endswith("." + outer) and _rules(ips) != _rules(ops):
                lx.add(inner, f"nested under {outer} (both include_subdomains; TrustKit applies "
                              "either parent's pins to hosts below, not the most specific)",
                       "kept; hosts below it may get the pins of either")
    return out


def _rules(ps: PinSet) -> tuple[object, ...]:
    return (frozenset(ps.all_pins), ps.enforce, ps.expires, ps.report_uris)


def to_trustkit(policy: PinPolicy, *, lossy: bool = False, swizzle: bool = False) -> ExportResult:
    """Export a policy as an Info.plist fragment (a plist holding ``TSKConfiguration``).

    :func:`from_trustkit` reads the output back. TrustKit cannot express: one-label wildcards,
    certificate pins, sets with fewer than two pins, expiry not at 00:00 UTC,
    ``unknown_hosts = "reject"``, ``expired = "reject"``, and nested include_subdomains
    patterns with different rules (TrustKit picks either parent). Backup pins become hashes.

    Args:
        policy: the policy.
        lossy: leave such pin sets out (unpinned, never locked out), move expiries back to
            their UTC date, and list every change in ``dropped``; else raise.
        swizzle: the value of ``TSKSwizzleNetworkDelegates``.

    Raises:
        ExportError: a rule cannot be expressed and ``lossy`` is false.
    """
    lx = Lossy("trustkit", lossy)
    entries = _exportable(policy, lx)
    t = "\t"
    out = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        '<plist version="1.0">',
        "<dict>",
        f"{t}<key>TSKConfiguration</key>",
        f"{t}<dict>",
        f"{t*2}<key>TSKSwizzleNetworkDelegates</key>",
        f"{t*2}<{'true' if swizzle else 'false'}/>",
        f"{t*2}<key>TSKPinnedDomains</key>",
        f"{t*2}<dict>",
    ]
    for pattern, ps, expiration in entries:
        d = t * 4
        out += [f"{t*3}<key>{xml_escape(pattern)}</key>", f"{t*3}<dict>"]
        out += [f"{d}<key>TSKEnforcePinning</key>", f"{d}<{str(ps.enforce).lower()}/>"]
        out += [f"{d}<key>TSKIncludeSubdomains</key>",
                f"{d}<{str(ps.include_subdomains).lower()}/>"]
        out += [f"{d}<key>TSKDisableDefaultReportUri</key>", f"{d}<true/>"]
        if expiration:
            out += [f"{d}<key>TSKExpirationDate</key>", f"{d}<string>{expiration}</string>"]
        out += [f"{d}<key>TSKPublicKeyHashes</key>", f"{d}<array>"]
        out += [f"{d}{t}<string>{p.base64}</string>" for p in ps.all_pins]
        out += [f"{d}</array>"]
        if ps.report_uris:
            out += [f"{d}<key>TSKReportUris</key>", f"{d}<array>"]
            out += [f"{d}{t}<string>{xml_escape(u)}</string>" for u in ps.report_uris]
            out += [f"{d}</array>"]
        out.append(f"{t*3}</dict>")
    out += [f"{t*2}</dict>", f"{t}</dict>", "</dict>", "</plist>"]
    return lx.finish("\n".join(out) + "\n")


def _swift_str(text: str) -> str:
    return json.dumps(text)  # ASCII-escaped; hosts, base64 and URIs need nothing more


def to_trustkit_swift(policy: PinPolicy, *, lossy: bool = False,
                      swizzle: bool = False) -> ExportResult:
    """Export a policy as a Swift dictionary literal for ``TrustKit.initSharedInstance``.

    Same rules and lossy behaviour as :func:`to_trustkit`.

    Raises:
        ExportError: a rule cannot be expressed and ``lossy`` is false.
    """
    lx = Lossy("trustkit-swift", lossy)
    entries = _exportable(policy, lx)
    out = [
        "// Generated by certpin. Pass to TrustKit.initSharedInstance(withConfiguration:).",
        "let trustKitConfig: [String: Any] = [",
        f"    kTSKSwizzleNetworkDelegates: {str(swizzle).lower()},",
        "    kTSKPinnedDomains: [",
    ]
    for pattern, ps, expiration in entries:
        out.append(f"        {_swift_str(pattern)}: [")
        out.append(f"            kTSKEnforcePinning: {str(ps.enforce).lower()},")
        out.append(f"            kTSKIncludeSubdomains: {str(ps.include_subdomains).lower()},")
        out.append("            kTSKDisableDefaultReportUri: true,")
        if expiration:
            out.append(f"            kTSKExpirationDate: {_swift_str(expiration)},")
        out.append("            kTSKPublicKeyHashes: [")
        out += [f"                {_swift_str(p.base64)}," for p in ps.all_pins]
        out.append("            ],")
        if ps.report_uris:
            out.append("            kTSKReportUris: [")
            out += [f"                {_swift_str(u)}," for u in ps.report_uris]
            out.append("            ],")
        out.append("        ] as [String: Any],")
    if not entries:
        out.append("        :")
    out += ["    ],", "]"]
    return lx.finish("\n".join(out) + "\n")
