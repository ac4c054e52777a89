"""The generated Swift delegate's doc comment and SPKI header table, checked on its tree.

The doc comment (the ``///`` lines right above the class) must say which OS versions it
supports, how to install it, which key types it covers and what happens on failure; each check
here reads such a claim from the comment and confronts it with the code's tree. API
availability comes from Apple's SDK headers in the open-source Security project
(github.com/apple-oss-distributions/Security at tag Security-61901.0.87.0.1, the
``API_AVAILABLE``/``__OSX_AVAILABLE_STARTING`` line after each declaration) and, for CryptoKit,
Apple's documentation page of the framework (developer.apple.com/documentation/cryptokit:
iOS 13.0+, macOS 10.15+).
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from tree_sitter import Node

from certpin.pins import spki_pin
from support.swiftchecks import CLASS, Delegate, evaluated_trust, trust_of
from support.swifttree import (
    ancestors,
    arguments,
    callee,
    calls,
    condition_items,
    else_chain,
    find_class,
    if_parts,
    line,
    name_of,
    of_type,
    parameters,
    parse,
    runs_only_after,
    syntax_errors,
    text,
)

Version = tuple[int, int]

#: name -> (iOS, macOS introduced, where Apple says so)
AVAILABILITY: dict[str, tuple[Version, Version, str]] = {
    "SecTrustEvaluateWithError": ((12, 0), (10, 14), "trust/headers/SecTrust.h:427"),
    "SecTrustCopyCertificateChain": ((15, 0), (12, 0), "trust/headers/SecTrust.h:657"),
    "SecTrustGetCertificateCount": ((2, 0), (10, 7), "trust/headers/SecTrust.h:519"),
    # deprecated from iOS 15 / macOS 12 (same line): use it only for older systems
    "SecTrustGetCertificateAtIndex": ((2, 0), (10, 7), "trust/headers/SecTrust.h:537"),
    "SecTrustSetPolicies": ((6, 0), (10, 3), "trust/headers/SecTrust.h:246"),
    "SecPolicyCreateSSL": ((2, 0), (10, 6), "trust/headers/SecPolicy.h:197"),
    "SecCertificateCopyKey": ((12, 0), (10, 14), "trust/headers/SecCertificate.h:157"),
    "SecCertificateCopyData": ((2, 0), (10, 6), "trust/headers/SecCertificate.h:87"),
    "SecKeyCopyExternalRepresentation": ((10, 0), (10, 12), "keychain/headers/SecKey.h:855"),
    "SecKeyCopyAttributes": ((10, 0), (10, 12), "keychain/headers/SecKey.h:877"),
    "kSecAttrKeyType": ((2, 0), (10, 6), "keychain/headers/SecItem.h:523"),
    "kSecAttrKeyTypeRSA": ((2, 0), (10, 7), "keychain/headers/SecItem.h:784"),
    "kSecAttrKeyTypeECSECPrimeRandom": ((10, 0), (10, 12), "keychain/headers/SecItem.h:804"),
    # base types: typedefs with no availability attribute (base/SecBase.h:91, 114, 125)
    "SecCertificate": ((2, 0), (10, 0), "base/SecBase.h:91"),
    "SecKey": ((2, 0), (10, 0), "base/SecBase.h:114"),
    "SecPolicy": ((2, 0), (10, 0), "base/SecBase.h:125"),
    "SecTrust": ((2, 0), (10, 0), "trust/headers/SecTrust.h"),
    "CryptoKit": ((13, 0), (10, 15), "CryptoKit documentation"),
    "SHA256": ((13, 0), (10, 15), "CryptoKit documentation"),
}


def _is_apple_api(name: str) -> bool:
    return name != "Security" and (name.startswith(("Sec", "kSec", "CC_"))
                                   or name in AVAILABILITY)


def doc_comment(root: Node) -> str:
    """The text of the ``///`` lines directly above the class (markers stripped), or ''."""
    cls = find_class(root, CLASS)
    lines: list[str] = []
    node = None if cls is None else cls.prev_sibling
    row = -1 if cls is None else cls.start_point.row
    while node is not None and node.type == "comment" and text(node).startswith("///") \
            and node.end_point.row == row - 1:
        lines.insert(0, text(node)[4:] if text(node).startswith("/// ") else text(node)[3:])
        row = node.start_point.row
        node = node.prev_sibling
    return "\n".join(lines)


def _sentence(doc: str, pattern: str) -> re.Match[str] | None:
    return re.search(pattern, " ".join(doc.split()))


SUPPORTED = r"Supported: iOS (\d+)\.(\d+) and later, macOS (\d+)\.(\d+) and later\."
INSTALL = r"Install: make it the delegate of the `URLSession` that talks to the pinned hosts"
KEY_TYPES = r"Key types: ((?:(?:RSA \d+|EC P-\d+)(?:, )?)+)\."
FAILURE = (r"On failure the challenge is cancelled \(`\.cancelAuthenticationChallenge`\): the "
           r"request fails with `NSURLErrorCancelled`\.")
REPORT_ONLY = (r"Report-only pin sets \(`enforce: false` below\) are not enforced: a mismatch is "
               r"logged with `NSLog` and the connection proceeds\.")
UNKNOWN = r"Hosts with no pin set are (refused|not pinned)"
EXPIRED = r"Expired pin sets are (refused|not enforced)"
SENTENCES = {"supported": SUPPORTED, "install": INSTALL, "key types": KEY_TYPES,
             "failure": FAILURE, "report-only": REPORT_ONLY, "unknown hosts": UNKNOWN,
             "expired": EXPIRED}


def check_doc_sentences(source: str) -> list[str]:
    """Every sentence the doc comment must hold is there."""
    doc = doc_comment(parse(source))
    if not doc:
        return [f"no /// doc comment right above class {CLASS}"]
    return [f"the doc comment does not say {what!r} ({pattern})"
            for what, pattern in SENTENCES.items() if _sentence(doc, pattern) is None]


def _available_in(item: Node, platform: str, need: Version) -> bool:
    """``item`` is ``#available(..., platform N.M, ...)`` with N.M >= need."""
    m = re.search(rf"\b{platform} (\d+)(?:\.(\d+))?", text(item))
    return item.type == "availability_condition" and m is not None and (
        int(m.group(1)), int(m.group(2) or 0)) >= need


def _available_from(platform: str, need: Version) -> Callable[[Node], bool]:
    return lambda item: _available_in(item, platform, need)


def check_availability(source: str) -> list[str]:
    """Every Apple API used exists on the oldest iOS and macOS the doc comment claims, or is
    behind an ``if``/``guard #available`` naming a version of that OS that has it (``*``
    stands for the deployment target, so an OS it does not name is not guarded)."""
    root = parse(source)
    m = _sentence(doc_comment(root), SUPPORTED)
    if m is None:
        return ["the doc comment claims no iOS/macOS versions"]
    ios, macos = (int(m.group(1)), int(m.group(2))), (int(m.group(3)), int(m.group(4)))
    problems = []
    for node in of_type(root, "simple_identifier", "type_identifier"):
        name = text(node)
        if not _is_apple_api(name):
            continue
        if name not in AVAILABILITY:
            problems.append(f"line {line(node)}: `{name}`: availability unknown, add it to "
                            "AVAILABILITY with Apple's source")
            continue
        need_ios, need_macos, where = AVAILABILITY[name]
        scope = next((a for a in ancestors(node) if a.type == "function_declaration"), root)
        ios_ok = need_ios <= ios or runs_only_after(node, scope, _available_from("iOS", need_ios))
        macos_ok = need_macos <= macos or runs_only_after(
            node, scope, _available_from("macOS", need_macos))
        if not (ios_ok and macos_ok):
            problems.append(f"line {line(node)}: `{name}` needs iOS {need_ios[0]}.{need_ios[1]}"
                            f" / macOS {need_macos[0]}.{need_macos[1]} ({where}); the doc "
                            f"comment claims iOS {ios[0]}.{ios[1]} / macOS {macos[0]}.{macos[1]}")
    return problems


def check_install(source: str) -> list[str]:
    """The doc comment's example parses and makes the class a URLSession's delegate, and the
    class can be built that way and handles the session-level challenge."""
    root = parse(source)
    doc = doc_comment(root)
    code = "\n".join(x[4:] for x in doc.splitlines() if x.startswith("    "))
    example = parse(code)
    problems = [f"example: {e}" for e in syntax_errors(example)]
    session = [c for c in calls(example, "URLSession")
               if [label for label, _ in arguments(c)] == ["configuration", "delegate",
                                                          "delegateQueue"]]
    delegate = [text(v) for c in session for label, v in arguments(c) if label == "delegate"]
    if delegate != [f"{CLASS}()"]:
        problems.append(f"the example does not pass {CLASS}() as a URLSession's delegate "
                        f"({code!r})")
    cls = find_class(root, CLASS)
    if cls is None:
        return [*problems, f"no class {CLASS}"]
    inherits = [text(n) for n in cls.children if n.type == "inheritance_specifier"]
    if inherits[:1] != ["NSObject"] or "URLSessionDelegate" not in inherits:
        problems.append(f"{CLASS} is not an NSObject URLSessionDelegate ({inherits})")
    body = cls.child_by_field_name("body")
    for decl in [] if body is None else body.named_children:
        if decl.type == "init_declaration" or (
                decl.type == "property_declaration" and "static" not in text(decl).split("=")[0]
                and decl.child_by_field_name("value") is None):
            problems.append(f"line {line(decl)}: {CLASS}() cannot be built as the example says")
    handler = [fn for fn in of_type(cls, "function_declaration") if name_of(fn) == "urlSession"
               and [p[0] for p in parameters(fn)] == ["_", "didReceive", "completionHandler"]
               and "private" not in text(fn).split("func")[0]]
    if len(handler) != 1:
        problems.append("no urlSession(_:didReceive:completionHandler:) that URLSession can call")
    return problems


def _dispositions(scope: Node | None) -> set[str]:
    if scope is None:
        return set()
    return {text(arguments(c)[0][1]) for c in calls(scope, "completionHandler") if arguments(c)}


def _flag(cls: Node, name: str) -> str | None:
    for decl in of_type(cls, "property_declaration"):
        if text(decl.child_by_field_name("name")) == name:
            return text(decl.child_by_field_name("value"))
    return None


def _flag_problems(d: Delegate, doc: str, flag: str, pattern: str, refused: str) -> list[str]:
    """A ``static let flag = Bool`` said in the doc comment and used as ``if Self.flag``."""
    value, m = _flag(d.cls, flag), _sentence(doc, pattern)
    said = None if m is None else m.group(1) == refused
    problems = []
    if value not in ("true", "false") or said != (value == "true"):
        problems.append(f"{flag} is {value} but the doc comment says {m and m.group(0)!r}")
    branches = [else_chain(n) for n in of_type(d.cls, "if_statement")
                if [text(i) for i in condition_items(n)] == [f"Self.{flag}"]]
    if [[_dispositions(b) for _, b in chain] for chain in branches] != [
            [{".cancelAuthenticationChallenge"}, {".performDefaultHandling"}]]:
        problems.append(f"`if Self.{flag}` does not cancel, else default-handle")
    return problems


def check_failure(source: str) -> list[str]:
    """What the doc comment says happens on failure is what the handler does."""
    d = Delegate(source)
    doc = doc_comment(d.root)
    handler = d.handlers[0]
    problems = []
    allowed = {".useCredential", ".performDefaultHandling", ".cancelAuthenticationChallenge"}
    if not _dispositions(handler) <= allowed:
        problems.append(f"unexpected dispositions {sorted(_dispositions(handler) - allowed)}")
    trust = trust_of(handler)
    for node in of_type(handler, "guard_statement"):
        if any(evaluated_trust(i) == trust for i in condition_items(node)) and _dispositions(
                if_parts(node)[1]) != {".cancelAuthenticationChallenge"}:
            problems.append(f"line {line(node)}: a failed {trust} evaluation is not cancelled")
    decisions = [else_chain(n) for n in of_type(handler, "if_statement")
                 if any(c.type == "call_expression" and d.hash_uses(c)
                        for c in condition_items(n))]
    shape = [[(text(cond) if cond is not None else None, _dispositions(b),
               bool(b is not None and calls(b, "NSLog"))) for cond, b in chain]
             for chain in decisions]
    report_only = bool(_sentence(doc, REPORT_ONLY))
    want: list[tuple[str | None, set[str], bool]] = [
        (None, {".cancelAuthenticationChallenge"}, True)]
    if report_only:
        want.insert(0, ("!pinSet.enforce", {".useCredential"}, True))
    if len(shape) != 1 or shape[0][1:] != want or shape[0][0][1] != {".useCredential"}:
        problems.append(f"the decision on the match is {shape}, not match -> useCredential, "
                        f"{'report-only -> log and useCredential, ' if report_only else ''}"
                        "else log and cancel")
    problems += _flag_problems(d, doc, "rejectUnknownHosts", UNKNOWN, "refused")
    problems += _flag_problems(d, doc, "rejectExpired", EXPIRED, "refused")
    return problems


# --- the SPKI header table ------------------------------------------------------------------

KEY_TYPE = {"RSA": "kSecAttrKeyTypeRSA", "EC": "kSecAttrKeyTypeECSECPrimeRandom"}
CURVES: dict[int, ec.EllipticCurve] = {256: ec.SECP256R1(), 384: ec.SECP384R1(),
                                       521: ec.SECP521R1()}


@dataclass(frozen=True)
class Header:
    key_type: str  # kSecAttr... name
    bits: int
    raw_length: int
    prefix: bytes
    line: int


def header_table(source: str) -> list[Header]:
    """The ``SPKIHeader(...)`` entries of ``spkiHeaders``, read from the tree."""
    out = []
    for decl in of_type(parse(source), "property_declaration"):
        if text(decl.child_by_field_name("name")) != "spkiHeaders":
            continue
        for call in calls(decl, "SPKIHeader"):
            args = {label: v for label, v in arguments(call)}
            kind = next((text(n) for n in of_type(args["keyType"], "simple_identifier")), "")
            prefix = bytes(int(text(n), 0) for n in of_type(args["prefix"], "hex_literal",
                                                               "integer_literal"))
            out.append(Header(kind, int(text(args["bits"]), 0), int(text(args["rawLength"]), 0),
                              prefix, line(call)))
    return out


def doc_key_types(source: str) -> list[tuple[str, int]]:
    m = _sentence(doc_comment(parse(source)), KEY_TYPES)
    items = [] if m is None else re.findall(r"(RSA|EC) (?:P-)?(\d+)", m.group(1))
    return [(KEY_TYPE[kind], int(bits)) for kind, bits in items]


_KEYS: dict[tuple[str, int], rsa.RSAPublicKey | ec.EllipticCurvePublicKey] = {}


def reference_key(key_type: str, bits: int) -> rsa.RSAPublicKey | ec.EllipticCurvePublicKey | None:
    """A real public key of that type and size (cached: RSA 4096 takes a while)."""
    if (key_type, bits) not in _KEYS:
        if key_type == KEY_TYPE["RSA"] and bits in (2048, 3072, 4096):
            _KEYS[key_type, bits] = rsa.generate_private_key(65537, bits).public_key()
        elif key_type == KEY_TYPE["EC"] and bits in CURVES:
            _KEYS[key_type, bits] = ec.generate_private_key(CURVES[bits]).public_key()
        else:
            return None
    return _KEYS[key_type, bits]


def raw_representation(key: rsa.RSAPublicKey | ec.EllipticCurvePublicKey) -> bytes:
    """What SecKeyCopyExternalRepresentation gives: PKCS#1 for RSA, the X9.63 point for EC
    (Security keychain/headers/SecKey.h:851-852)."""
    if isinstance(key, rsa.RSAPublicKey):
        return key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.PKCS1)
    return key.public_bytes(serialization.Encoding.X962,
                            serialization.PublicFormat.UncompressedPoint)


def check_spki_headers(source: str) -> list[str]:
    """The table covers exactly the key types and sizes the doc comment lists, and each
    prefix + the raw key of a real key of that type is its DER SubjectPublicKeyInfo (so the
    Swift hashes what certpin pins)."""
    table, listed = header_table(source), doc_key_types(source)
    entries = [(h.key_type, h.bits) for h in table]
    problems = [f"the doc comment lists {k} {b} but the table has no header for it"
                for k, b in listed if (k, b) not in entries]
    problems += [f"line {h.line}: header for {h.key_type} {h.bits} not listed in the doc comment"
                 for h in table if (h.key_type, h.bits) not in listed]
    problems += [f"{k} {b}: {entries.count((k, b))} headers" for k, b in sorted(set(entries))
                 if entries.count((k, b)) > 1]
    if not listed:
        problems.append("the doc comment lists no key types")
    for h in table:
        key = reference_key(h.key_type, h.bits)
        if key is None:
            problems.append(f"line {h.line}: no reference key for {h.key_type} {h.bits}")
            continue
        raw = raw_representation(key)
        spki = key.public_bytes(serialization.Encoding.DER,
                                serialization.PublicFormat.SubjectPublicKeyInfo)
        pin = base64.b64encode(hashlib.sha256(h.prefix + raw).digest()).decode()
        if len(raw) != h.raw_length:
            problems.append(f"line {h.line}: rawLength {h.raw_length}, but {h.key_type} "
                            f"{h.bits} keys have {len(raw)} bytes")
        elif h.prefix + raw != spki or pin != spki_pin(key).base64:
            problems.append(f"line {h.line}: prefix + raw key is not the SPKI of a "
                            f"{h.key_type} {h.bits} key")
    return problems + _lookup_problems(source)


def _lookup_problems(source: str) -> list[str]:
    """The header is chosen by the key's type and the raw length, as the table says."""
    d = Delegate(source)
    for fn in d.functions:
        if not calls(fn, "SecKeyCopyExternalRepresentation"):
            continue
        compared = {" ".join(text(n).split()) for n in of_type(fn, "equality_expression")}
        if {"$0.keyType == keyType", "$0.rawLength == raw.count"} <= compared and callee(
                calls(fn, "first")[0]) == "spkiHeaders.first":
            return []
        return [f"line {line(fn)}: {name_of(fn)} does not pick the header by key type and "
                f"raw length ({sorted(compared)})"]
    return ["no function reads SecKeyCopyExternalRepresentation"]
