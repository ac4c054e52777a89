"""TrustKit export: an Info.plist fragment (:func:`to_trustkit`) or a Swift dictionary literal
(:func:`to_trustkit_swift`), re-exported by :mod:`certpin.config.trustkit`.

Every rule, with TrustKit's source file and line (tag 3.0.7), is in ``docs/rules/trustkit.md``.
In short: what TrustKit would throw on at start-up is never written (without ``lossy`` the
export fails; with it the pin set is left out and listed; a document with no domain left is
refused either way, TrustKit throws on that too); what TrustKit cannot express (wildcards,
certificate pins, expiry not at 00:00 UTC, ``unknown_hosts``/``expired = "reject"``) follows
the same lossy rule. Nested includeSubdomains domains are written as they are: TrustKit
1.6.2 and later apply the most specific one, as certpin does (a note says so).

Nothing here is public API.
"""

from __future__ import annotations

from datetime import UTC
from xml.sax.saxutils import escape as xml_escape

from ..errors import quote
from ..policy import PinPolicy, PinSet
from ._common import ExportResult, Lossy, date_only, floor_date, nothing_pinned
from ._trustkit_registry import domain_problem, trustkit_report_uri

__all__ = ["to_trustkit", "to_trustkit_swift"]

_Entry = tuple[str, PinSet, str | None]

#: Written false in every export: TrustKit's default on macOS is true (parse_configuration.m
#: lines 47-59), which lets a chain to a user- or admin-installed root pass without a pin
#: (ssl_pin_verifier.m lines 101-138, TSKPinningValidator.m lines 141-148). certpin never does.
_USER_ANCHORS = "TSKIgnorePinningForUserDefinedTrustAnchors"


def _cannot_hold(pattern: str, ps: PinSet) -> str | None:
    """Why TrustKit cannot hold this pin set (or would throw on it at start-up), or None."""
    if pattern.startswith("*."):
        return "one-label wildcard (TrustKit has no wildcards)"
    if any(p.kind != "spki" for p in ps.all_pins):
        return "certificate pins (TrustKit pins SPKI only)"
    bad = next((u for u in ps.report_uris if not trustkit_report_uri(u)), None)
    if bad is not None:
        return (f"report URI {quote(bad, None)} has characters outside RFC 3986 (section 2): "
                "NSURL URLWithString: returns nil for it in apps linked before iOS 17 and "
                "TrustKit then throws at start-up (parse_configuration.m lines 174-181)")
    if ps.enforce and len(set(ps.all_pins)) < 2:
        return ("fewer than two pins while enforcing (TrustKit throws at start-up: "
                "parse_configuration.m lines 207-212, a report-only domain needs one)")
    return domain_problem(pattern, ps.include_subdomains)


def _exportable(policy: PinPolicy, lx: Lossy) -> list[_Entry]:
    """Pin sets TrustKit can hold, with their expiration date text; records the rest.

    Raises:
        ExportError: nothing is left (even with ``lossy``: TrustKit throws at start-up when
            ``TSKPinnedDomains`` is empty, parse_configuration.m lines 62-66).
    """
    if policy.unknown_hosts == "reject":
        lx.add("*", 'unknown_hosts = "reject" (TrustKit cannot refuse unpinned hosts)',
               "dropped: unknown hosts are allowed")
    if policy.expired == "reject" and any(ps.expires for ps in policy.pin_sets.values()):
        lx.add("*", 'expired = "reject" (TrustKit stops enforcing expired pin sets)',
               "dropped: expired pin sets are not enforced")
    out: list[_Entry] = []
    for pattern, ps in sorted(policy.pin_sets.items()):
        why = _cannot_hold(pattern, ps)
        if why is not None:
            lx.add(pattern, why, "pin set left out (not pinned)")
            continue
        expiration: str | None = None
        if ps.expires is not None:
            # TrustKit reads yyyy-MM-dd at 00:00 UTC (parse_configuration.m lines 135-140)
            expiration = date_only(ps.expires)
            if expiration is None:
                expiration = floor_date(ps.expires)
                lx.add(pattern, f"expiry {ps.expires.astimezone(UTC).isoformat()} is not at "
                                "00:00 UTC", f"expiration moved back to {expiration}")
        out.append((pattern, ps, expiration))
    if not out:
        raise nothing_pinned(lx.target, lx.reasons(), "TrustKit throws at start-up when "
                             "TSKPinnedDomains is empty: parse_configuration.m lines 62-66")
    return out


def _rules(ps: PinSet) -> tuple[object, ...]:
    return (frozenset(ps.all_pins), ps.enforce, ps.expires, ps.report_uris)


def _notes(entries: list[_Entry]) -> list[str]:
    """A note when includeSubdomains domains nest with different rules: TrustKit picks the most
    specific parent since 1.6.2 (configuration_utils.m lines 63-81, commit 96045ef); before,
    whichever parent its dictionary enumeration met first."""
    subs = {p: ps for p, ps, _ in entries if ps.include_subdomains}
    nested: list[str] = []
    for inner, ips in subs.items():
        labels = inner.split(".")  # only a parent name can hold ``inner``: look those up
        for k in range(1, len(labels)):
            outer = ".".join(labels[k:])
            if outer in subs and _rules(ips) != _rules(subs[outer]):
                nested.append(f"{inner} under {outer}")
    if not nested:
        return []
    shown = ", ".join(sorted(nested)[:3]) + (", ..." if len(nested) > 3 else "")
    return [f"nested includeSubdomains domains with different pins ({shown}) need TrustKit "
            ">= 1.6.2, which applies the most specific one as certpin does; older versions "
            "apply whichever parent they find first"]


def to_trustkit(policy: PinPolicy, *, lossy: bool = False, swizzle: bool = False) -> ExportResult:
    """Export a policy as an Info.plist fragment (a plist holding ``TSKConfiguration``).

    :func:`~certpin.config.from_trustkit` reads the output back. TrustKit cannot express, or
    throws at start-up on: one-label wildcards, certificate pins, a domain with no public
    suffix in TrustKit's own snapshot (an IP address, ``api.internal``), includeSubdomains on
    a public suffix, fewer than two pins when enforcing (report-only needs one), expiry not
    at 00:00 UTC, ``unknown_hosts = "reject"``, ``expired = "reject"``. Backup pins become
    hashes. ``TSKDisableDefaultReportUri`` is always true (else TrustKit also reports to a
    third party) and ``TSKIgnorePinningForUserDefinedTrustAnchors`` always false (macOS
    would otherwise let user-installed roots bypass the pins).

    Args:
        policy: the policy.
        lossy: leave such pin sets out (unpinned, never locked out), move expiries back to
            their UTC date, and list every change in ``dropped``; else raise.
        swizzle: the value of ``TSKSwizzleNetworkDelegates``.

    Returns:
        The document; ``notes`` says when nested includeSubdomains domains need TrustKit 1.6.2.

    Raises:
        ExportError: a rule cannot be expressed and ``lossy`` is false; or no pin set would be
            left (whatever ``lossy`` says: TrustKit throws on an empty ``TSKPinnedDomains``).
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
        f"{t*2}<key>{_USER_ANCHORS}</key>",
        f"{t*2}<false/>",
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
    return lx.finish("\n".join(out) + "\n", _notes(entries), pinned=[p for p, _, _ in entries])


def _swift_str(text: str) -> str:
    r"""A Swift string literal of ``text``: ``\\``, ``\"`` and every character outside
    printable ASCII as ``\u{X}`` (Swift has no ``\uXXXX`` form: the Swift lexer,
    ``Lexer::lexCharacter``, accepts only ``\u{...}``; review 11b)."""
    out = []
    for ch in text:
        if ch in '\\"':
            out.append("\\" + ch)
        elif " " <= ch <= "~":
            out.append(ch)
        else:
            out.append(f"\\u{{{ord(ch):x}}}")
    return '"' + "".join(out) + '"'



def to_trustkit_swift(policy: PinPolicy, *, lossy: bool = False,
                      swizzle: bool = False) -> ExportResult:
    """Export a policy as a Swift dictionary literal for ``TrustKit.initSharedInstance``.

    Same rules, lossy behaviour and errors as :func:`to_trustkit`.

    Raises:
        ExportError: a rule cannot be expressed and ``lossy`` is false, or nothing is left.
    """
    lx = Lossy("trustkit-swift", lossy)
    entries = _exportable(policy, lx)
    out = [
        "// Generated by certpin. Pass to TrustKit.initSharedInstance(withConfiguration:).",
        "let trustKitConfig: [String: Any] = [",
        f"    kTSKSwizzleNetworkDelegates: {str(swizzle).lower()},",
        "    // macOS only (kTSKIgnorePinningForUserDefinedTrustAnchors, unavailable on iOS):",
        "    // user-installed roots must not bypass the pins",
        f"    {_swift_str(_USER_ANCHORS)}: false,",
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
    out += ["    ],", "]"]
    return lx.finish("\n".join(out) + "\n", _notes(entries), pinned=[p for p, _, _ in entries])
