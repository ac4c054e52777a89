"""Export a policy as an iOS/macOS ``URLSessionDelegate`` in Swift that checks the pins.

The generated delegate (iOS 15+, macOS 12+: ``SecTrustCopyCertificateChain``, Security
``trust/headers/SecTrust.h`` line 656):

1. sets an SSL policy with the host name on the trust object and evaluates it with
   ``SecTrustEvaluateWithError`` first: pinning adds to validation, never replaces it; no hash
   is computed and no credential given before that returned true;
2. picks the pin set like certpin: exact host, then ``*.parent`` (one label), then the
   nearest parent with include_subdomains; honours expiry (not enforced after it, or fail
   closed with ``expired = "reject"``), report-only (log, allow) and ``unknown_hosts``;
3. walks the evaluated chain (``SecTrustCopyCertificateChain``) from position 0 (the leaf) to
   its end and hashes every certificate twice: the DER certificate (``SecCertificateCopyData``)
   and its SPKI. The key's raw bytes (``SecKeyCopyExternalRepresentation``) are NOT a
   SubjectPublicKeyInfo: RSA gives the PKCS#1 ``RSAPublicKey``, EC the X9.63 point (Security
   ``keychain/headers/SecKey.h`` lines 851-852), so the ASN.1 SPKI header for the key type and
   size is PREPENDED (forgetting it is the classic bug: the hash then never equals an
   ``openssl``/HPKP pin). ``PinSet.admits(_:at:)`` decides per chain position and applies each
   pin's role (:mod:`certpin.pinroles`, as :func:`certpin.check` does): the generated tables
   map each pin to ``.leaf`` (compared at position 0 only), ``.ca`` (positions 1 and up) or
   ``.anywhere`` (no role).

Key types with no header (Ed25519, which ``SecCertificateCopyKey`` does not support, Security
``trust/headers/SecCertificate.h`` line 153; P-192; RSA with another exponent) never match an
SPKI pin: fail closed. Report URIs are not implemented (lossy). ``tests/config/
test_config_swift_tree.py`` checks these properties on the Swift syntax tree.
"""

from __future__ import annotations

import json
from datetime import UTC

from ..policy import PinPolicy, PinSet
from ._common import ExportResult, Lossy
from .swift_source import FILE_HEAD, METHODS, TYPES, doc_comment

__all__ = ["SPKI_HEADERS", "to_swift_delegate"]

#: (key type, key size in bits, length of SecKeyCopyExternalRepresentation, DER prefix making
#: it a SubjectPublicKeyInfo). RSA lengths assume the public exponent 65537 (what CAs issue);
#: the tree checks compare each prefix with ``cryptography``'s SPKI of a real key.
_HEADER_ROWS: tuple[tuple[str, int, int, str], ...] = (
    ("rsa", 2048, 270, "30820122300d06092a864886f70d01010105000382010f00"),
    ("rsa", 3072, 398, "308201a2300d06092a864886f70d01010105000382018f00"),
    ("rsa", 4096, 526, "30820222300d06092a864886f70d01010105000382020f00"),
    ("ec", 256, 65, "3059301306072a8648ce3d020106082a8648ce3d030107034200"),
    ("ec", 384, 97, "3076301006072a8648ce3d020106052b81040022036200"),
    ("ec", 521, 133, "30819b301006072a8648ce3d020106052b8104002303818600"),
)

#: (key type, length of SecKeyCopyExternalRepresentation) -> DER prefix making it an SPKI.
SPKI_HEADERS: dict[tuple[str, int], str] = {(t, n): h for t, _, n, h in _HEADER_ROWS}

#: Security's ``kSecAttrKeyType`` value of each key type (``keychain/headers/SecItem.h``).
_SEC_KEY_TYPES = {"rsa": "kSecAttrKeyTypeRSA", "ec": "kSecAttrKeyTypeECSECPrimeRandom"}


def _key_names() -> str:
    return ", ".join(f"RSA {bits}" if t == "rsa" else f"EC P-{bits}"
                     for t, bits, _, _ in _HEADER_ROWS)


def _bytes_literal(hex_text: str) -> str:
    data = bytes.fromhex(hex_text)
    return "[" + ", ".join(f"0x{b:02x}" for b in data) + "]"


def _roles_literal(ps: PinSet, kind: str) -> str:
    """``[base64: .role]`` of the pins of ``kind``; a pin without a role is ``.anywhere``."""
    items = sorted((p.base64, ps.role_of(p) or "anywhere") for p in set(ps.all_pins)
                   if p.kind == kind)
    if not items:
        return "[:]"
    inner = "".join(f"\n                {json.dumps(b64)}: .{role}," for b64, role in items)
    return f"[{inner}\n            ]"


def _set_literal(ps: PinSet, expires: str) -> str:
    return (
        "PinSet(\n"
        f"            spki: {_roles_literal(ps, 'spki')},\n"
        f"            cert: {_roles_literal(ps, 'cert')},\n"
        f"            enforce: {str(ps.enforce).lower()},\n"
        f"            expires: {expires}\n"
        "        )"
    )


def _table(name: str, entries: list[tuple[str, str]], comment: str) -> list[str]:
    out = [f"    // {comment}"]
    if not entries:
        return [*out, f"    private static let {name}: [String: PinSet] = [:]"]
    out.append(f"    private static let {name}: [String: PinSet] = [")
    out += [f"        {json.dumps(k)}: {v}," for k, v in entries]
    out.append("    ]")
    return out


def _header_table() -> list[str]:
    out = ["    private static let spkiHeaders: [SPKIHeader] = ["]
    for key_type, bits, raw_length, prefix in _HEADER_ROWS:
        sec_type = _SEC_KEY_TYPES[key_type]
        out.append(f"        SPKIHeader(keyType: {sec_type} as String, bits: {bits}, "
                   f"rawLength: {raw_length},")
        out.append(f"                   prefix: {_bytes_literal(prefix)}),")
    out.append("    ]")
    return out


def _swift_bool(mode: str) -> str:
    return "true" if mode == "reject" else "false"


def to_swift_delegate(policy: PinPolicy, *, lossy: bool = False) -> ExportResult:
    """Export a policy as a Swift ``URLSessionDelegate`` class ``CertpinPinningDelegate``.

    Expressible: exact hosts, ``*.`` one-label wildcards, include_subdomains, SPKI and
    certificate pins, backup pins (accepted like pins), pin roles (``leaf``: chain position 0
    only, ``ca``: positions 1 and up), expiry (exact instant), report-only (logged and
    allowed), ``unknown_hosts`` and ``expired``. Not expressible: report URIs
    (``lossy`` drops them) and a wildcard pattern with include_subdomains.

    Raises:
        ExportError: a rule cannot be expressed and ``lossy`` is false.
    """
    lx = Lossy("swift-delegate", lossy)
    exact: list[tuple[str, str]] = []
    wild: list[tuple[str, str]] = []
    subtree: list[tuple[str, str]] = []
    for pattern, ps in sorted(policy.pin_sets.items()):
        if ps.report_uris:
            lx.add(pattern, "report_uris (the delegate sends no reports)", "report URIs dropped")
        if ps.expires is not None:
            ts = int(ps.expires.astimezone(UTC).timestamp())
            when = f"{ps.expires.astimezone(UTC):%Y-%m-%dT%H:%M:%SZ}"
            expires = f"Date(timeIntervalSince1970: {ts})  // {when}"
            if ps.expires.microsecond:
                lx.add(pattern, "expiry with sub-second precision", "rounded down to the second")
        else:
            expires = "nil"
        literal = _set_literal(ps, expires)
        if pattern.startswith("*."):
            if ps.include_subdomains:
                lx.add(pattern, "wildcard with include_subdomains", "pin set left out (not pinned)")
                continue
            wild.append((pattern[2:], literal))
        else:
            exact.append((pattern, literal))
            if ps.include_subdomains:
                subtree.append((pattern, literal))
    head = [
        FILE_HEAD,
        doc_comment(_key_names(), policy.unknown_hosts == "reject", policy.expired == "reject")
        + "final class CertpinPinningDelegate: NSObject, URLSessionDelegate {",
        TYPES,
        f"    private static let rejectUnknownHosts = {_swift_bool(policy.unknown_hosts)}",
        f"    private static let rejectExpired = {_swift_bool(policy.expired)}",
        "",
    ]
    head += _table("exact", exact, "host -> pins (exact host name)")
    head += _table("oneLabelWildcard", wild, "parent -> pins for *.parent (one label)")
    head += _table("includingSubdomains", subtree, "domain -> pins for it and any subdomain")
    head += ["", *_header_table(), ""]
    return lx.finish("\n".join(head) + "\n" + METHODS,
                     pinned=[p for p, _ in exact] + [f"*.{p}" for p, _ in wild])
