"""The pre-deploy gate: would the clients of each shipped policy accept what is to be deployed?

:func:`plan` takes the policies still in users' hands, the host, and what is about to be
served for it (a whole chain, or only the new leaf's public key from a key file or a CSR) and
judges each policy with :func:`certpin.check`, the same code the TLS layer runs (host matching,
expiry at the instant given, report-only): nothing is re-implemented here. Pure: no I/O.

A key alone says what the leaf's key will be, not which CA certificates will sit above it. It
is judged as a chain made of one stand-in certificate carrying that key (its certificate pin
is that of no real certificate). When no pin matches the leaf key, the verdict depends on the
CA certificates of the new chain; if a pin of the set is a known CA key (``ca_pins``) or has
role ``ca``, and its role is not ``leaf``, that is a warning (``depends-on-ca``: give the chain
to judge it), else an error. Pin roles are honoured as :func:`certpin.check` honours them.

Finding codes (stable):

======================  =======  ==============================================================
code                    level    meaning
======================  =======  ==============================================================
``accepted``            info     a primary pin of the set matches the new chain
``not-pinned``          info     no pattern of the policy covers the host (not pinned there)
``backup-pin-only``     warn     only a backup pin matches: accepted, rotate the pins next
``expired-pin-set``     warn     accepted only because the pin set has expired at the instant
``report-only``         warn     no pin matches, but the set is report-only (reports are sent)
``depends-on-ca``       warn     key alone: the leaf key is not pinned; a CA pin may match
``refused``             error    the clients of this policy would refuse the new chain
``expired-reject``      error    the pin set has expired and the policy has expired = "reject"
``unknown-host``        error    the host is refused (unknown_hosts = "reject" or a bad name)
``chain-invalid``       error    the chain does not validate against the trust store given
``unsupported``         info     the policy's support ended before the instant: listed only
======================  =======  ==============================================================
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from .chainpins import chain_pins
from .errors import CertificateError, escape
from .findings import Finding, Level, Status, sort_findings, status_of
from .instants import aware_now, iso_z
from .pinroles import role_admits
from .pins import Pin
from .policy import PinPolicy, PinSet
from .verify import Outcome, Verdict, check

__all__ = ["PlanResult", "PolicyMeta", "ShippedPolicy", "plan", "stand_in_leaf", "validate_chain"]


@dataclass(frozen=True)
class PolicyMeta:
    """When a shipped policy reached users and until when that version is supported.

    Attributes:
        shipped: when the version carrying the policy shipped, or None (unknown).
        supported_until: the end of support (UTC), or None (still supported). A policy whose
            support ended at the instant judged is listed but does not fail the gate.
    """

    shipped: datetime | None = None
    supported_until: datetime | None = None


@dataclass(frozen=True)
class ShippedPolicy:
    """A policy that shipped: its name (e.g. the file name), the policy and its metadata."""

    name: str
    policy: PinPolicy
    meta: PolicyMeta = field(default_factory=PolicyMeta)


@dataclass(frozen=True)
class PlanResult:
    """The gate's answer for one shipped policy.

    Attributes:
        policy: the policy's name.
        host: the host judged.
        status: ok, warn or error (the most severe finding; ``ok`` for unsupported policies).
        supported: False when the policy's support ended at the instant judged.
        accepted: True when its clients would connect (warnings included).
        findings: what to know, most severe first; messages name the pins and what to do.
        verdict: the :class:`certpin.verify.Verdict` of :func:`certpin.check`, or None.
    """

    policy: str
    host: str
    status: Status
    supported: bool
    accepted: bool
    findings: tuple[Finding, ...]
    verdict: Verdict | None = field(default=None, repr=False)

    def to_json(self) -> dict[str, Any]:
        """Return the result as JSON-ready values."""
        v = self.verdict
        return {
            "policy": self.policy,
            "host": self.host,
            "status": self.status.value,
            "supported": self.supported,
            "accepted": self.accepted,
            "outcome": v.outcome.value if v is not None else None,
            "pattern": v.pattern if v is not None else None,
            "matched_pin": str(v.matched_pin) if v and v.matched_pin else None,
            "matched_position": v.matched_position if v is not None else None,
            "findings": [f.to_json() for f in self.findings],
        }


def stand_in_leaf(leaf_spki: bytes, host: str, at: datetime) -> bytes:
    """A DER certificate carrying the public key ``leaf_spki`` (DER SubjectPublicKeyInfo),
    valid around ``at`` for ``host``, signed by a throw-away key: its SPKI pin is the new leaf's,
    its certificate pin matches nothing real.

    Raises:
        CertificateError: ``leaf_spki`` is not a public key cryptography can read.
    """
    try:
        key = serialization.load_der_public_key(leaf_spki)
    except (ValueError, TypeError) as exc:
        raise CertificateError(f"cannot read the new leaf key: {escape(str(exc))}") from None
    signer = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "certpin plan stand-in")])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key)  # type: ignore[arg-type]
        .serial_number(1)
        .not_valid_before(at - timedelta(days=1))
        .not_valid_after(at + timedelta(days=1))
        .sign(signer, hashes.SHA256())
    )
    der = cert.public_bytes(serialization.Encoding.DER)
    if leaf_spki not in der:
        raise CertificateError("the new leaf key cannot be re-encoded byte for byte")
    return der


def validate_chain(
    chain_der: Sequence[bytes], host: str, trust_pems: bytes, at: datetime
) -> str | None:
    """Validate ``chain_der`` (leaf first) for ``host`` against the PEM trust anchors at ``at``
    (cryptography's RFC 5280 path builder: signatures, validity at ``at``, CA constraints, the
    host name). Returns None when it validates, else why not."""
    from cryptography.x509.verification import (
        Criticality,
        ExtensionPolicy,
        PolicyBuilder,
        Store,
        VerificationError,
    )

    try:
        anchors = x509.load_pem_x509_certificates(trust_pems)
        certs = [x509.load_der_x509_certificate(d) for d in chain_der]
    except ValueError as exc:
        return f"cannot read the certificates: {escape(str(exc))}"
    try:
        verifier = (
            PolicyBuilder().store(Store(anchors)).time(at)
            # OpenSSL (the TLS layer) does not enforce every CA/B Forum profile rule (e.g. a
            # critical subjectAltName), so neither does this: chain, validity, CA constraints
            # and the host name are checked.
            .extension_policies(
                ca_policy=ExtensionPolicy.webpki_defaults_ca(),
                ee_policy=ExtensionPolicy.permit_all().require_present(
                    x509.SubjectAlternativeName, Criticality.AGNOSTIC, None
                ),
            )
            .build_server_verifier(_subject(host))
        )
        verifier.verify(certs[0], certs[1:])
    except (VerificationError, ValueError) as exc:
        return escape(str(exc))
    return None


def _subject(host: str) -> x509.DNSName | x509.IPAddress:
    import ipaddress

    try:
        return x509.IPAddress(ipaddress.ip_address(host))
    except ValueError:
        return x509.DNSName(host)


def plan(
    policies: Sequence[ShippedPolicy],
    host: str,
    *,
    chain_der: Sequence[bytes] | None = None,
    leaf_spki: bytes | None = None,
    at: datetime | None = None,
    ca_pins: Collection[Pin] = (),
) -> list[PlanResult]:
    """Judge what is about to be deployed for ``host`` against every shipped policy.

    Args:
        policies: the shipped policies, in the order to report them.
        host: the host name the clients connect to.
        chain_der: the new chain, DER, leaf first (taken as the verified chain); or
        leaf_spki: only the new leaf's DER SubjectPublicKeyInfo (from a key or CSR).
        at: the instant of the deploy (aware); default now. Expiry is judged at it.
        ca_pins: pins of known CA certificates: with a key alone, a set pinning one of them
            may still match the unknown CA certificates (a warning, not an error).

    Returns:
        One :class:`PlanResult` per policy, in order.

    Raises:
        ValueError: neither or both of ``chain_der`` and ``leaf_spki``, or an empty chain.
        CertificateError: ``leaf_spki`` cannot be read.
    """
    if (chain_der is None) == (leaf_spki is None):
        raise ValueError("give exactly one of chain_der and leaf_spki")
    moment = aware_now(at)
    key_only = leaf_spki is not None
    if leaf_spki is not None:
        chain: tuple[bytes, ...] = (stand_in_leaf(leaf_spki, host, moment),)
    else:
        assert chain_der is not None
        chain = tuple(chain_der)
        if not chain:
            raise ValueError("the new chain is empty")
    return [_one(p, host, chain, moment, key_only=key_only, ca_pins=ca_pins) for p in policies]


def _one(
    shipped: ShippedPolicy,
    host: str,
    chain: tuple[bytes, ...],
    at: datetime,
    *,
    key_only: bool,
    ca_pins: Collection[Pin],
) -> PlanResult:
    verdict = check(shipped.policy, host, chain, now=at)
    findings = _findings(shipped, verdict, key_only, ca_pins)
    accepted = verdict.passed and all(f.level is not Level.ERROR for f in findings)
    until = shipped.meta.supported_until
    if until is not None and at >= until:
        note = Finding(
            Level.INFO, "unsupported",
            f"{shipped.name}: support ended on {iso_z(until)}; listed, not counted "
            f"(it would {'accept' if accepted else 'refuse'} the deploy)",
        )
        return PlanResult(
            shipped.name, verdict.hostname, Status.OK, False, accepted,
            (note, *(Finding(Level.INFO, f.code, f.message) for f in findings)), verdict,
        )
    ordered = sort_findings(findings)
    return PlanResult(
        shipped.name, verdict.hostname, status_of(ordered), True, accepted, ordered, verdict
    )


def _pins_text(pins: Sequence[Pin]) -> str:
    shown = [str(p) for p in pins]
    if len(shown) <= 1:
        return "".join(shown) or "nothing"
    return ", ".join(shown[:-1]) + " and " + shown[-1]


def _findings(
    shipped: ShippedPolicy, verdict: Verdict, key_only: bool, ca_pins: Collection[Pin]
) -> list[Finding]:
    name, host, outcome = shipped.name, verdict.hostname, verdict.outcome
    if outcome is Outcome.NOT_PINNED:
        return [Finding(Level.INFO, "not-pinned", f"{name} does not pin {host}")]
    if outcome in (Outcome.UNKNOWN_HOST, Outcome.EMPTY_CHAIN):
        first = verdict.message.splitlines()[1].strip() if "\n" in verdict.message else ""
        return [Finding(Level.ERROR, "unknown-host", f"{name} refuses {host}: {first}")]
    pin_set = verdict.pin_set
    assert pin_set is not None and verdict.pattern is not None
    if outcome is Outcome.EXPIRED:
        return [_expired(name, verdict, pin_set, shipped.policy.expired)]
    if outcome is Outcome.MATCHED:
        return _matched(name, verdict, pin_set)
    return _unmatched(name, verdict, pin_set, key_only, ca_pins)


def _expired(name: str, verdict: Verdict, pin_set: PinSet, mode: str) -> Finding:
    assert pin_set.expires is not None
    when = iso_z(pin_set.expires)
    if mode == "reject":
        return Finding(
            Level.ERROR, "expired-reject",
            f"{name}: the pin set for {verdict.pattern} expired on {when} and the policy has "
            f'expired = "reject": its clients refuse every connection to {verdict.hostname}; '
            "ship a policy with a later expiry and wait until it has reached your users",
        )
    return Finding(
        Level.WARN, "expired-pin-set",
        f"{name}: accepted only because the pin set for {verdict.pattern} expired on {when} "
        "(its pins are no longer enforced)",
    )


def _matched(name: str, verdict: Verdict, pin_set: PinSet) -> list[Finding]:
    primary = set(pin_set.pins)
    hits = [
        p for position, der in enumerate(verdict.chain) for p in chain_pins(der)[:2]
        if p is not None and p in primary and role_admits(pin_set.role_of(p), position)
    ]
    if hits:
        return [Finding(
            Level.INFO, "accepted", f"{name} accepts the new chain for {verdict.hostname} "
            f"(pin {hits[0]})",
        )]
    return [Finding(
        Level.WARN, "backup-pin-only",
        f"{name} accepts the new chain for {verdict.hostname} only through its backup pin "
        f"{verdict.matched_pin}: make it a primary pin in the next policy and add a new backup",
    )]


def _may_be_ca(pin_set: PinSet, pin: Pin, ca_pins: Collection[Pin]) -> bool:
    """Whether ``pin`` may match a CA certificate of the new chain: it has role ``ca``, or it
    is a known CA key and its role is not ``leaf`` (:mod:`certpin.pinroles`)."""
    role = pin_set.role_of(pin)
    return role == "ca" or (pin in ca_pins and role != "leaf")


def _unmatched(
    name: str, verdict: Verdict, pin_set: PinSet, key_only: bool, ca_pins: Collection[Pin]
) -> list[Finding]:
    pattern = verdict.pattern
    pins = pin_set.all_pins
    leaf_spki = chain_pins(verdict.chain[0])[0]
    new_key = str(leaf_spki) if leaf_spki is not None else "(unreadable)"
    which = "neither" if len(pins) == 2 else "none of them"
    head = f"{name} pins {_pins_text(pins)} for {pattern}; the new leaf key {new_key} is in {which}"
    if leaf_spki is not None and leaf_spki in pins:  # pinned, but its role excludes the leaf
        head = (f"{name} pins {_pins_text(pins)} for {pattern}; the new leaf key {new_key} is "
                f"one of them, with role {pin_set.role_of(leaf_spki)}")
    if key_only and any(_may_be_ca(pin_set, p, ca_pins) for p in pins):
        return [Finding(
            Level.WARN, "depends-on-ca",
            f"{head}, but it also pins a CA key: the verdict depends on the CA certificates of "
            "the new chain, unknown from a key alone; run the plan with --chain to judge it",
        )]
    cas = [p for der in verdict.chain[1:] if (p := chain_pins(der)[0]) is not None]
    ca_text = f" nor in its CA keys ({_pins_text(cas)})" if cas else ""
    advice = (
        f"; ship {new_key} as a backup pin first and wait until that version has reached your "
        "users"
    )
    ca_text += "".join(
        f"; pin {p} is in the new chain at position {position}, where its role "
        f"{pin_set.role_of(p)} does not match"
        for p, position in verdict.misplaced
    )
    if not pin_set.enforce:
        return [Finding(
            Level.WARN, "report-only",
            f"{head}{ca_text}: the set is report-only, so clients connect and send reports"
            f"{advice}",
        )]
    return [Finding(
        Level.ERROR, "refused", f"{head}{ca_text}: its clients would refuse it{advice}"
    )]
