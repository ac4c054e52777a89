"""The Swift delegate (``--format swift-delegate``) checked on its syntax tree.

No Swift compiler runs here: ``tree-sitter-swift`` parses the generated code and the checks in
``tests/support/swiftchecks.py`` and ``tests/support/swiftdoc.py`` assert on the tree (trust
evaluated before any hash, every certificate of the evaluated chain hashed, the SPKI header
table against ``cryptography``, the doc comment's claims against the code). Every check is also
run on a mutant that breaks its property, and must catch it.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

import pytest
from cryptography.hazmat.primitives.asymmetric import ed448, ed25519
from hypothesis import given, seed, settings
from hypothesis import strategies as st

from certpin import PolicyError
from certpin.config import ExportError, to_swift_delegate
from certpin.pins import spki_pin
from certpin.policy import PinPolicy, PinSet
from support.swiftchecks import (
    Row,
    check_evaluated_before_hashing,
    check_every_certificate_hashed,
    check_syntax,
    pin_tables,
)
from support.swiftdoc import (
    CURVES,
    KEY_TYPE,
    check_availability,
    check_doc_sentences,
    check_failure,
    check_install,
    check_spki_headers,
    doc_comment,
    reference_key,
)
from support.swiftroles import check_pin_roles
from support.swifttree import parse

GOLDEN = Path(__file__).parent.parent / "golden" / "CertpinPinningDelegate.swift"
K1 = "sha256/gXQJloeiZiH04s3XzAOz2s7bP7liJVsar9Azyr6DFTA="
K2 = "sha256/sQJTdkyLIz+zdULiNAHHtFDlpvl1HztaAU9vZ+i8mZ0="
C1 = "cert-sha256/lEnH86k88MVaZ13fHINzLYfVYlXnCxUNnm88+GO7f8E="

Check = Callable[[str], list[str]]
CHECKS: dict[str, Check] = {
    "syntax": check_syntax,
    "evaluated before hashing": check_evaluated_before_hashing,
    "every certificate hashed": check_every_certificate_hashed,
    "SPKI headers": check_spki_headers,
    "doc sentences": check_doc_sentences,
    "availability": check_availability,
    "install": check_install,
    "failure": check_failure,
    "pin roles": check_pin_roles,
}


def _every_key_type() -> PinSet:
    keys = [reference_key(KEY_TYPE["RSA"], bits) for bits in (2048, 3072, 4096)]
    keys += [reference_key(KEY_TYPE["EC"], bits) for bits in CURVES]
    pins = [str(spki_pin(k)) for k in keys if k is not None]
    pins += [str(spki_pin(ed25519.Ed25519PrivateKey.generate().public_key())),
             str(spki_pin(ed448.Ed448PrivateKey.generate().public_key())), C1]
    return PinSet(pins)


def _policies() -> dict[str, PinPolicy]:
    many = {f"host{i}.example.com": PinSet([K1, K2]) for i in range(12)}
    many["*.cdn.example.com"] = PinSet([K1, C1])
    return {
        "single host": PinPolicy({"api.example.com": PinSet([K1, K2])}),
        "many hosts": PinPolicy(many),
        "include subdomains": PinPolicy({
            "example.com": PinSet([K1, K2], include_subdomains=True),
            "deep.a.example.com": PinSet([K2, C1], include_subdomains=True)}),
        "report-only": PinPolicy({"a.test": PinSet(
            [K1, K2], enforce=False, report_uris=["https://r.test/pins"])}),
        "expiry": PinPolicy({"a.test": PinSet([K1, K2], expires="2027-01-31T12:30:00Z")},
                            expired="reject", unknown_hosts="allow"),
        "unknown hosts rejected": PinPolicy({"a.test": PinSet([K1, K2])},
                                            unknown_hosts="reject"),
        "every key type": PinPolicy({"keys.test": _every_key_type()}),
        "roles": PinPolicy({
            "a.test": PinSet([K1, K2, C1], roles={K1: "leaf", C1: "ca"}),
            "*.b.test": PinSet([K1, C1], roles={K1: "ca", C1: "leaf"}),
            "c.test": PinSet([K1, K2], include_subdomains=True, roles={K2: "ca"})}),
    }


POLICIES = _policies()


def _source(name: str) -> str:
    if name == "golden":
        return GOLDEN.read_text()
    return to_swift_delegate(POLICIES[name], lossy=True).text


@pytest.mark.parametrize("check", CHECKS)
@pytest.mark.parametrize("policy", [*POLICIES, "golden"])
def test_generated_delegate_has_the_property(policy: str, check: str) -> None:
    assert CHECKS[check](_source(policy)) == []


def test_doc_comment_is_the_tree_node_above_the_class() -> None:
    doc = doc_comment(parse(GOLDEN.read_text()))
    assert doc.startswith("Checks the TLS certificate pins of a certpin policy")
    assert "Supported: iOS 15.0 and later, macOS 12.0 and later." in doc
    assert "    let session = URLSession(configuration: .default," in doc.splitlines()
    assert doc_comment(parse("// Not a doc comment\nfinal class CertpinPinningDelegate {}")) == ""


def test_doc_comment_follows_the_policy_flags() -> None:
    allow = _source("expiry")
    assert "Hosts with no pin set are not pinned (default handling)." in doc_comment(parse(allow))
    assert "Expired pin sets are refused (the challenge is cancelled)." in doc_comment(
        parse(allow))


@pytest.mark.parametrize("policy", POLICIES)
def test_pin_tables_say_the_policy(policy: str) -> None:
    want: dict[str, dict[str, Row]] = {"exact": {}, "oneLabelWildcard": {},
                                       "includingSubdomains": {}}
    for pattern, ps in POLICIES[policy].pin_sets.items():
        row = ({p.base64: ps.role_of(p) for p in ps.all_pins if p.kind == "spki"},
               {p.base64: ps.role_of(p) for p in ps.all_pins if p.kind == "cert"}, ps.enforce,
               None if ps.expires is None else int(ps.expires.timestamp()))
        if pattern.startswith("*."):
            want["oneLabelWildcard"][pattern[2:]] = row
        else:
            want["exact"][pattern] = row
            if ps.include_subdomains:
                want["includingSubdomains"][pattern] = row
    assert pin_tables(_source(policy)) == want


# --- each check can fail: mutants of the golden file --------------------------------------

_EVALUATE_GUARD = """\
        guard SecTrustEvaluateWithError(trust, &trustError) else {
            completionHandler(.cancelAuthenticationChallenge, nil)
            return
        }
"""
_STEP_1 = "        // 1. Ordinary validation first"
_STEP_2 = "        // 2. The pin set of the most specific matching pattern."
_CHAIN = "        let chain = (SecTrustCopyCertificateChain(trust) as? [SecCertificate]) ?? []\n"
_HASH = "            let hashes = Self.computeHashes(of: chain[position])\n"
_DECIDE = """\
            if pinSet.admits(hashes, at: position) {
                return true
            }
"""
_RSA_3072 = ("        SPKIHeader(keyType: kSecAttrKeyTypeRSA as String, bits: 3072, "
             "rawLength: 398,\n")

# name: (check, text to replace, replacement, what the problem must say)
MUTANTS: dict[str, tuple[str, str, str, str]] = {
    "unbalanced brace": ("syntax", "        if host.hasSuffix(\".\") { host.removeLast() }\n",
                         "        if host.hasSuffix(\".\") { host.removeLast()\n", "line"),
    "hash before evaluate": (
        "evaluated before hashing", _STEP_1,
        "        _ = Self.matches(chain: [], pinSet: Self.exact[host]!)\n" + _STEP_1,
        "`matches` hashes before SecTrustEvaluateWithError(trust) returned true"),
    "CryptoKit hash before evaluate": (
        "evaluated before hashing", _STEP_1,
        "        _ = SHA256.hash(data: Data())\n" + _STEP_1, "`SHA256` hashes before"),
    "evaluation result ignored": (
        "evaluated before hashing", _EVALUATE_GUARD,
        "        _ = SecTrustEvaluateWithError(trust, &trustError)\n", "never guards on"),
    "evaluation or true": (
        "evaluated before hashing", "guard SecTrustEvaluateWithError(trust, &trustError) else",
        "guard SecTrustEvaluateWithError(trust, &trustError) || true else", "never guards on"),
    "hash in a branch before the guard": (
        "evaluated before hashing", _EVALUATE_GUARD,
        "        if host.isEmpty { _ = Self.spkiHash(SecTrustGetCertificateAtIndex(trust, 0)!) }\n"
        + _EVALUATE_GUARD, "`spkiHash` hashes before"),
    "credential before evaluate": (
        "evaluated before hashing", _STEP_1,
        "        completionHandler(.useCredential, URLCredential(trust: trust))\n" + _STEP_1,
        ".useCredential before SecTrustEvaluateWithError"),
    "policies changed after evaluation": (
        "evaluated before hashing", _STEP_2,
        "        SecTrustSetPolicies(trust, SecPolicyCreateBasicX509())\n" + _STEP_2,
        "SecTrustSetPolicies changes the trust after it was evaluated"),
    "trust is a var": ("evaluated before hashing", "let trust = space.serverTrust",
                       "var trust = space.serverTrust", "must be bound once, by let"),
    "another trust evaluated": ("evaluated before hashing", "SecTrustEvaluateWithError(trust,",
                                "SecTrustEvaluateWithError(other,", "`other` must be bound"),
    "loop starts at 1": ("every certificate hashed", "0..<chain.count", "1..<chain.count",
                         "not 0..<count"),
    "loop skips the last": ("every certificate hashed", "0..<chain.count",
                            "0..<chain.count - 1", "is not the chain's count"),
    "break before a match": ("every certificate hashed", _HASH,
                             _HASH + "            if position > 0 { break }\n",
                             "`break` leaves the loop before a match decides"),
    "return false on a mismatch": (
        "every certificate hashed", _DECIDE,
        "            return pinSet.admits(hashes, at: position)\n", "leaves the loop before"),
    "leaf only": ("every certificate hashed", "computeHashes(of: chain[position])",
                  "computeHashes(of: chain[0])", "not the chain element"),
    "hashed on some paths only": (
        "every certificate hashed", _HASH + _DECIDE,
        "            if pinSet.spki.isEmpty || pinSet.admits(Self.computeHashes(of: "
        "chain[position]), at: position) {\n                return true\n            }\n",
        "hashed on some paths only"),
    "leaf hashed outside the loop": (
        "every certificate hashed", "        for position in 0..<chain.count {\n",
        "        _ = Self.computeHashes(of: chain[0])\n"
        "        for position in 0..<chain.count {\n", "hashes outside the loop"),
    "chain of another trust": (
        "every certificate hashed", "SecTrustCopyCertificateChain(trust)",
        "SecTrustCopyCertificateChain(space.serverTrust!)",
        "is not SecTrustCopyCertificateChain(trust) of the evaluated trust"),
    "a header dropped": ("SPKI headers", _RSA_3072, "        // ", "kSecAttrKeyTypeRSA 3072 but "
                         "the table has no header"),
    "a header byte wrong": ("SPKI headers", "0x07, 0x03, 0x42, 0x00]", "0x07, 0x03, 0x41, 0x00]",
                            "is not the SPKI of a kSecAttrKeyTypeECSECPrimeRandom 256 key"),
    "a raw length wrong": ("SPKI headers", "bits: 2048, rawLength: 270", "bits: 2048, "
                           "rawLength: 271", "rawLength 271, but kSecAttrKeyTypeRSA 2048"),
    "a key type wrong": ("SPKI headers", "kSecAttrKeyTypeECSECPrimeRandom as String, bits: 384",
                         "kSecAttrKeyTypeRSA as String, bits: 384",
                         "no reference key for kSecAttrKeyTypeRSA 384"),
    "doc lists a key type less": ("SPKI headers", "RSA 3072, RSA 4096,", "RSA 3072,",
                                  "kSecAttrKeyTypeRSA 4096 not listed in the doc comment"),
    "header picked by length only": ("SPKI headers", "($0.keyType == keyType) && ", "",
                                     "does not pick the header by key type and raw length"),
    "claims iOS 13": ("availability", "Supported: iOS 15.0", "Supported: iOS 13.0",
                      "`SecTrustCopyCertificateChain` needs iOS 15.0"),
    "claims macOS 11": ("availability", "macOS 12.0 and later", "macOS 11.0 and later",
                        "claims iOS 15.0 / macOS 11.0"),
    "an API of unknown availability": (
        "availability", _STEP_2, "        SecTrustSetNetworkFetchAllowed(trust, false)\n" + _STEP_2,
        "`SecTrustSetNetworkFetchAllowed`: availability unknown"),
    "no install sentence": ("doc sentences", "/// Install: make it the delegate", "/// Make it the"
                            " delegate", "does not say 'install'"),
    "no failure sentence": ("doc sentences", "/// On failure the challenge is cancelled",
                            "/// On failure the task is cancelled", "does not say 'failure'"),
    "no version sentence": ("doc sentences", "/// Supported: iOS", "/// Works on: iOS",
                            "does not say 'supported'"),
    "doc comment on another declaration": (
        "doc sentences", "final class CertpinPinningDelegate",
        "private let unrelated = 0\nfinal class CertpinPinningDelegate", "no /// doc comment"),
    "example passes another delegate": ("install", "delegate: CertpinPinningDelegate(),",
                                        "delegate: self,",
                                        "does not pass CertpinPinningDelegate()"),
    "example does not parse": ("install", "delegateQueue: nil)\n", "delegateQueue: nil\n",
                               "example: line"),
    "class needs an argument": ("install", "    private static let rejectUnknownHosts",
                                "    let label: String\n    private static let rejectUnknownHosts",
                                "cannot be built as the example says"),
    "handler private": ("install", "    func urlSession(", "    private func urlSession(",
                        "no urlSession(_:didReceive:completionHandler:)"),
    "mismatch not cancelled": (
        "failure", "NSLog(\"Certificate pinning failure for %@\", host)\n"
        "            completionHandler(.cancelAuthenticationChallenge, nil)",
        "NSLog(\"Certificate pinning failure for %@\", host)\n"
        "            completionHandler(.performDefaultHandling, nil)", "else log and cancel"),
    "report-only not logged": (
        "failure", "            NSLog(\"Certificate pinning failure for %@ (report-only, "
        "allowed)\", host)\n", "", "report-only -> log and useCredential"),
    "failed evaluation not cancelled": (
        "failure", _EVALUATE_GUARD, _EVALUATE_GUARD.replace(".cancelAuthenticationChallenge",
                                                            ".performDefaultHandling"),
        "a failed trust evaluation is not cancelled"),
    "unknown hosts flag against the doc": (
        "failure", "rejectUnknownHosts = true", "rejectUnknownHosts = false",
        "rejectUnknownHosts is false but the doc comment says 'Hosts with no pin set are "
        "refused'"),
    "expired branches swapped": (
        "failure", """            if Self.rejectExpired {
                completionHandler(.cancelAuthenticationChallenge, nil)
            } else {
                completionHandler(.performDefaultHandling, nil)
            }""", """            if Self.rejectExpired {
                completionHandler(.performDefaultHandling, nil)
            } else {
                completionHandler(.cancelAuthenticationChallenge, nil)
            }""", "`if Self.rejectExpired` does not cancel, else default-handle"),
    # pin roles: the rule in enum Role, and admits asking it
    "leaf admits every position": ("pin roles", "case .leaf: return position == 0",
                                   "case .leaf: return position >= 0",
                                   "Role.leaf: positions [0, 1, 2, 3, 4, 5, 6, 7]"),
    "leaf and ca flipped": ("pin roles", "case .leaf: return position == 0",
                            "case .leaf: return position >= 1", "Role.leaf: positions [1, 2"),
    "ca admits the leaf": ("pin roles", "case .ca: return position >= 1",
                           "case .ca: return position >= 0", "Role.ca: positions [0, 1"),
    "ca skips the first intermediate": ("pin roles", "case .ca: return position >= 1",
                                        "case .ca: return position > 1", "Role.ca: positions [2,"),
    "ca only the first intermediate": ("pin roles", "case .ca: return position >= 1",
                                       "case .ca: return position == 1", "Role.ca: positions [1]"),
    "no role admits nothing": ("pin roles", "case .anywhere: return true",
                               "case .anywhere: return false", "Role.anywhere: positions []"),
    "a default case": ("pin roles", "case .anywhere: return true", "default: return true",
                       "is not `case .role: return"),
    "a rule that cannot be read": ("pin roles", "case .leaf: return position == 0",
                                   "case .leaf: return position == Self.leafIndex",
                                   "cannot read `Self.leafIndex`"),
    "spki role dropped": ("pin roles", ", let role = spki[spkiPin], role.admits(at: position) {",
                          ", spki[spkiPin] != nil {", "`return true` in admits is not decided"),
    "cert role dropped": ("pin roles", "if let role = cert[hashes.cert], role.admits(at: position)",
                          "if cert[hashes.cert] != nil", "`return true` in admits is not decided"),
    "role asked at the leaf": ("pin roles", "let role = spki[spkiPin], role.admits(at: position)",
                               "let role = spki[spkiPin], role.admits(at: 0)",
                               "`return true` in admits is not decided"),
    "role of another lookup": (
        "pin roles", "let role = cert[hashes.cert], role.admits(at: position)",
        "let role = cert[hashes.cert], Role.ca.admits(at: position)",
        "`return true` in admits is not decided"),
    "admits falls through to a match": (
        "pin roles", "            return false\n        }\n    }\n\n    private struct Cert",
        "            return cert[hashes.cert] != nil\n        }\n    }\n\n    private struct Cert",
        "`return cert[hashes.cert] != nil` in admits is not decided"),
    "admits asked at the leaf": ("pin roles", "pinSet.admits(hashes, at: position)",
                                 "pinSet.admits(hashes, at: 0)",
                                 "admits is asked at `0`, not the position of the loop"),
}


@pytest.mark.parametrize("mutant", MUTANTS)
def test_check_catches_mutant(mutant: str) -> None:
    check, old, new, expected = MUTANTS[mutant]
    golden = GOLDEN.read_text()
    assert golden.count(old) == 1, "the mutation no longer applies to the golden file"
    assert CHECKS[check](golden) == []
    problems = CHECKS[check](golden.replace(old, new))
    assert any(expected in p for p in problems), problems


_STEP_3 = """\
        // 3. A certificate of the evaluated chain must match a pin.
""" + _CHAIN + """\
        if Self.matches(chain: chain, pinSet: pinSet) {
            completionHandler(.useCredential, URLCredential(trust: trust))
        } else if !pinSet.enforce {
            NSLog("Certificate pinning failure for %@ (report-only, allowed)", host)
            completionHandler(.useCredential, URLCredential(trust: trust))
        } else {
            NSLog("Certificate pinning failure for %@", host)
            completionHandler(.cancelAuthenticationChallenge, nil)
        }
"""

# name: (check, text moved, moved to before this text, what the problem must say)
MOVES: dict[str, tuple[str, str, str, str]] = {
    "pin check moved before the evaluation": (
        "evaluated before hashing", _STEP_3, _STEP_1,
        "`matches` hashes before SecTrustEvaluateWithError(trust) returned true"),
    "chain copied before evaluation": ("every certificate hashed", _CHAIN, _STEP_1,
                                       "the chain is copied before SecTrustEvaluateWithError"),
}


@pytest.mark.parametrize("move", MOVES)
def test_check_catches_moved_code(move: str) -> None:
    check, moved, marker, expected = MOVES[move]
    golden = GOLDEN.read_text()
    assert golden.count(moved) == 1 and golden.count(marker) == 1
    mutant = golden.replace(moved, "").replace(marker, moved + marker)
    assert check_syntax(mutant) == []
    problems = CHECKS[check](mutant)
    assert any(expected in p for p in problems), problems


def test_every_check_has_mutants() -> None:
    assert {check for check, *_ in MUTANTS.values()} == set(CHECKS)


# --- availability: an older claim is fine behind #available ---------------------------------

_OLDER = """\
/// Supported: iOS 13.0 and later, macOS 10.15 and later.
final class CertpinPinningDelegate: NSObject {
    func chain(of trust: SecTrust) -> [SecCertificate] {
        if #available(iOS 15.0, macOS 12.0, *) {
            return (SecTrustCopyCertificateChain(trust) as? [SecCertificate]) ?? []
        }
        return (0..<SecTrustGetCertificateCount(trust)).compactMap {
            SecTrustGetCertificateAtIndex(trust, $0)
        }
    }
}
"""


def test_availability_accepts_a_newer_api_behind_available() -> None:
    assert check_availability(_OLDER) == []
    unguarded = _OLDER.replace("if #available(iOS 15.0, macOS 12.0, *)", "if true")
    assert check_availability(unguarded) == [
        "line 5: `SecTrustCopyCertificateChain` needs iOS 15.0 / macOS 12.0 "
        "(trust/headers/SecTrust.h:657); the doc comment claims iOS 13.0 / macOS 10.15"]
    too_old = _OLDER.replace("#available(iOS 15.0,", "#available(iOS 14.0,")
    assert "needs iOS 15.0" in check_availability(too_old)[0]
    ios_only = _OLDER.replace("#available(iOS 15.0, macOS 12.0, *)", "#available(iOS 15.0, *)")
    assert "needs iOS 15.0 / macOS 12.0" in check_availability(ios_only)[0]


# --- random policies ------------------------------------------------------------------------

_HOSTS = ["a.test", "b.a.test", "example.com", "api.example.com", "x.y.example.com"]


@st.composite
def _random_policies(draw: st.DrawFn) -> PinPolicy:
    sets = {}
    for host in draw(st.lists(st.sampled_from(_HOSTS), max_size=4, unique=True)):
        wildcard = draw(st.booleans())
        pins = draw(st.lists(st.sampled_from([K1, K2, C1]), min_size=2, max_size=3, unique=True))
        roles = {p: r for p in pins
                 if (r := draw(st.sampled_from([None, "leaf", "ca"]))) is not None}
        sets[("*." if wildcard else "") + host] = PinSet(
            pins, roles=roles, include_subdomains=not wildcard and draw(st.booleans()),
            enforce=draw(st.booleans()),
            expires=draw(st.none() | st.just(datetime(2027, 5, 1, 8, tzinfo=UTC))))
    flags: st.SearchStrategy[Literal["allow", "reject"]] = st.sampled_from(["allow", "reject"])
    try:
        return PinPolicy(sets, unknown_hosts=draw(flags), expired=draw(flags))
    except PolicyError:
        return PinPolicy({})


@seed(20260712)
@settings(max_examples=30, deadline=None)
@given(_random_policies())
def test_random_policies_keep_the_properties(policy: PinPolicy) -> None:
    if not policy.pin_sets:  # a delegate that pins nothing is no export (issue 11, item 2)
        with pytest.raises(ExportError, match="the policy has no pin set"):
            to_swift_delegate(policy, lossy=True)
        return
    source = to_swift_delegate(policy, lossy=True).text
    for name in ("syntax", "evaluated before hashing", "every certificate hashed",
                 "doc sentences", "install", "failure", "pin roles"):
        assert CHECKS[name](source) == [], name
