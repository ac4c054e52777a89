"""Export a policy as an iOS/macOS ``URLSessionDelegate`` in Swift that checks the pins.

The generated delegate (iOS 15+, macOS 12+):

1. sets an SSL policy with the host name on the trust object and evaluates it with
   ``SecTrustEvaluateWithError`` first: pinning adds to validation, never replaces it;
2. takes the evaluated chain (``SecTrustCopyCertificateChain``), and for each certificate gets
   its key (``SecCertificateCopyKey``) and raw bytes (``SecKeyCopyExternalRepresentation``),
   which are NOT a SubjectPublicKeyInfo: RSA gives the PKCS#1 ``RSAPublicKey``, EC the X9.63
   point. It PREPENDS the ASN.1 SPKI header for the key type and raw length (forgetting this
   is the classic bug: the hash then never equals an ``openssl``/HPKP pin), hashes with
   CryptoKit's SHA-256 and compares with the pins; certificate pins hash
   ``SecCertificateCopyData``;
3. picks the pin set like certpin: exact host, then ``*.parent`` (one label), then the
   nearest parent with include_subdomains; honours expiry (not enforced after it, or fail
   closed with ``expired = "reject"``), report-only (log, allow) and ``unknown_hosts``.

Key types with no known header (e.g. Ed25519, which the Security framework does not expose as a
certificate key) never match an SPKI pin: fail closed. Report URIs are not implemented (lossy).
"""

from __future__ import annotations

import json
from datetime import UTC

from ..policy import PinPolicy, PinSet
from ._common import ExportResult, Lossy

__all__ = ["SPKI_HEADERS", "to_swift_delegate"]

#: (key type, length of SecKeyCopyExternalRepresentation) -> DER prefix making it an SPKI.
#: RSA lengths assume the public exponent 65537 (what CAs issue); tests check each against
#: ``cryptography``.
SPKI_HEADERS: dict[tuple[str, int], str] = {
    ("rsa", 270): "30820122300d06092a864886f70d01010105000382010f00",  # RSA 2048
    ("rsa", 398): "308201a2300d06092a864886f70d01010105000382018f00",  # RSA 3072
    ("rsa", 526): "30820222300d06092a864886f70d01010105000382020f00",  # RSA 4096
    ("ec", 65): "3059301306072a8648ce3d020106082a8648ce3d030107034200",  # P-256
    ("ec", 97): "3076301006072a8648ce3d020106052b81040022036200",  # P-384
    ("ec", 133): "30819b301006072a8648ce3d020106052b8104002303818600",  # P-521
}


def _bytes_literal(hex_text: str) -> str:
    data = bytes.fromhex(hex_text)
    return "[" + ", ".join(f"0x{b:02x}" for b in data) + "]"


def _set_literal(ps: PinSet, expires: str) -> str:
    spki = sorted({p.base64 for p in ps.all_pins if p.kind == "spki"})
    cert = sorted({p.base64 for p in ps.all_pins if p.kind == "cert"})

    def strs(items: list[str]) -> str:
        if not items:
            return "[]"
        inner = "".join(f"\n                {json.dumps(s)}," for s in items)
        return f"[{inner}\n            ]"

    return (
        "PinSet(\n"
        f"            spki: {strs(spki)},\n"
        f"            cert: {strs(cert)},\n"
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


_BODY = '''
    // SecKeyCopyExternalRepresentation returns the bare key (PKCS#1 RSAPublicKey for RSA, the
    // X9.63 point for EC), not a SubjectPublicKeyInfo. Pins are SHA-256 of the DER SPKI, so the
    // ASN.1 header for the key type and size is prepended before hashing.
    private static let rsaSPKIHeaders: [Int: [UInt8]] = [
@RSA@
    ]
    private static let ecSPKIHeaders: [Int: [UInt8]] = [
@EC@
    ]

    func urlSession(
        _ session: URLSession,
        didReceive challenge: URLAuthenticationChallenge,
        completionHandler: @escaping (URLSession.AuthChallengeDisposition, URLCredential?) -> Void
    ) {
        let space = challenge.protectionSpace
        guard space.authenticationMethod == NSURLAuthenticationMethodServerTrust,
              let trust = space.serverTrust
        else {
            completionHandler(.performDefaultHandling, nil)
            return
        }
        var host = challenge.protectionSpace.host.lowercased()
        if host.hasSuffix(".") { host.removeLast() }

        // 1. Ordinary validation first (chain to a trusted root, dates, host name).
        SecTrustSetPolicies(trust, SecPolicyCreateSSL(true, host as CFString))
        var trustError: CFError?
        guard SecTrustEvaluateWithError(trust, &trustError) else {
            completionHandler(.cancelAuthenticationChallenge, nil)
            return
        }

        // 2. The pin set of the most specific matching pattern.
        guard let pinSet = Self.pinSet(for: host) else {
            if Self.rejectUnknownHosts {
                completionHandler(.cancelAuthenticationChallenge, nil)
            } else {
                completionHandler(.performDefaultHandling, nil)
            }
            return
        }
        if let expires = pinSet.expires, Date() >= expires {
            // Expired pin set: not enforced (Android's rule), unless the policy says reject.
            if Self.rejectExpired {
                completionHandler(.cancelAuthenticationChallenge, nil)
            } else {
                completionHandler(.performDefaultHandling, nil)
            }
            return
        }

        // 3. Any certificate of the evaluated chain must match a pin.
        let chain = (SecTrustCopyCertificateChain(trust) as? [SecCertificate]) ?? []
        if Self.matches(chain: chain, pinSet: pinSet) {
            completionHandler(.useCredential, URLCredential(trust: trust))
        } else if !pinSet.enforce {
            NSLog("Certificate pinning failure for %@ (report-only, allowed)", host)
            completionHandler(.useCredential, URLCredential(trust: trust))
        } else {
            NSLog("Certificate pinning failure for %@", host)
            completionHandler(.cancelAuthenticationChallenge, nil)
        }
    }

    private static func pinSet(for host: String) -> PinSet? {
        if let exactSet = exact[host] { return exactSet }
        var labels = host.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
        var firstParent = true
        while labels.count > 1 {
            labels.removeFirst()
            let parent = labels.joined(separator: ".")
            if firstParent, let wildcardSet = oneLabelWildcard[parent] { return wildcardSet }
            if let subtreeSet = includingSubdomains[parent] { return subtreeSet }
            firstParent = false
        }
        return nil
    }

    private static func matches(chain: [SecCertificate], pinSet: PinSet) -> Bool {
        for certificate in chain {
            if !pinSet.cert.isEmpty {
                let der = SecCertificateCopyData(certificate) as Data
                if pinSet.cert.contains(Data(SHA256.hash(data: der)).base64EncodedString()) {
                    return true
                }
            }
            if let spki = spkiHash(certificate), pinSet.spki.contains(spki) {
                return true
            }
        }
        return false  // an empty chain never matches: fail closed
    }

    private static func spkiHash(_ certificate: SecCertificate) -> String? {
        guard let key = SecCertificateCopyKey(certificate),
              let attributes = SecKeyCopyAttributes(key) as? [CFString: Any],
              let keyType = attributes[kSecAttrKeyType] as? String,
              let raw = SecKeyCopyExternalRepresentation(key, nil) as Data?
        else { return nil }
        let header: [UInt8]?
        if keyType == (kSecAttrKeyTypeRSA as String) {
            header = rsaSPKIHeaders[raw.count]
        } else if keyType == (kSecAttrKeyTypeECSECPrimeRandom as String) {
            header = ecSPKIHeaders[raw.count]
        } else {
            header = nil
        }
        guard let header else { return nil }  // unknown key type or size: cannot match
        var spki = Data(header)
        spki.append(raw)
        return Data(SHA256.hash(data: spki)).base64EncodedString()
    }
}
'''


def _swift_bool(mode: str) -> str:
    return "true" if mode == "reject" else "false"


def to_swift_delegate(policy: PinPolicy, *, lossy: bool = False) -> ExportResult:
    """Export a policy as a Swift ``URLSessionDelegate`` class ``CertpinPinningDelegate``.

    Expressible: exact hosts, ``*.`` one-label wildcards, include_subdomains, SPKI and
    certificate pins, backup pins (accepted like pins), expiry (exact instant), report-only
    (logged and allowed), ``unknown_hosts`` and ``expired``. Not expressible: report URIs
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
        "// Generated by certpin: URLSessionDelegate that checks SPKI SHA-256 pins of the chain",
        "// the system verified. iOS 15+ / macOS 12+. Do not edit; regenerate from the policy.",
        "import CryptoKit",
        "import Foundation",
        "import Security",
        "",
        "final class CertpinPinningDelegate: NSObject, URLSessionDelegate {",
        "    private struct PinSet {",
        "        let spki: Set<String>  // base64 SHA-256 of the DER SubjectPublicKeyInfo",
        "        let cert: Set<String>  // base64 SHA-256 of the DER certificate",
        "        let enforce: Bool  // false: report-only (log and allow)",
        "        let expires: Date?  // not enforced from this instant on",
        "    }",
        "",
        f"    private static let rejectUnknownHosts = {_swift_bool(policy.unknown_hosts)}",
        f"    private static let rejectExpired = {_swift_bool(policy.expired)}",
        "",
    ]
    head += _table("exact", exact, "host -> pins (exact host name)")
    head += _table("oneLabelWildcard", wild, "parent -> pins for *.parent (one label)")
    head += _table("includingSubdomains", subtree, "domain -> pins for it and any subdomain")
    rsa = "\n".join(f"        {n}: {_bytes_literal(h)}," for (t, n), h in SPKI_HEADERS.items()
                    if t == "rsa")
    ec = "\n".join(f"        {n}: {_bytes_literal(h)}," for (t, n), h in SPKI_HEADERS.items()
                   if t == "ec")
    body = _BODY.replace("@RSA@", rsa).replace("@EC@", ec)
    return lx.finish("\n".join(head) + "\n" + body)
