"""The pure judge of a health check: what one host's connection says about its pin set.

:func:`judge` takes what was seen (a :class:`certpin.probe.FetchedChain`, or the error of the
connection) and returns a :class:`~certpin.health.model.HostReport`. It does no I/O, so it is
tested without sockets (``tests/health/test_health_judge.py``), as :func:`certpin.check` is.
It is made of small rules, each returning the findings of one question, in the order a reader
asks them: the pin set itself, the connection, the leaf's validity, the chain's validation,
then the pins.
The finding codes are listed in :mod:`certpin.health`.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from datetime import datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from ..errors import escape
from ..findings import Finding, Level, sort_findings, status_of
from ..pinroles import role_admits
from ..pins import Pin
from ..policy import PinSet
from ..probe import FetchedChain
from ..verify import chain_pins
from .model import ChainCertificate, HostReport, PinMatch, iso_or_none
from .targets import Target

__all__ = ["describe", "judge"]


def describe(certs: Iterable[x509.Certificate]) -> tuple[ChainCertificate, ...]:
    """Each certificate's position, subject (escaped), pins and end of validity."""
    out: list[ChainCertificate] = []
    for position, cert in enumerate(certs):
        spki, cert_p, subject = chain_pins(cert.public_bytes(Encoding.DER))
        out.append(ChainCertificate(position, subject, spki, cert_p, cert.not_valid_after_utc))
    return tuple(out)


def _in_days(when: datetime, now: datetime) -> str:
    delta = when - now
    if delta <= timedelta(0):
        return f"expired on {iso_or_none(when)}"
    return f"expires on {iso_or_none(when)} (in {delta.days} days)"


# --------------------------------------------------------------------------- rules


def pin_set_rules(
    target: Target, now: datetime, horizon: datetime, expired_mode: str
) -> list[Finding]:
    """``report-only``; ``pin-set-expired`` (an error under ``expired="reject"``);
    ``pin-set-expiring`` before ``horizon``."""
    pin_set = target.pin_set
    if pin_set is None:
        return []
    out: list[Finding] = []
    if not pin_set.enforce:
        out.append(Finding(
            Level.INFO, "report-only", f"{target.pattern} is report-only (enforce = false)"
        ))
    expires = pin_set.expires
    if expires is None:
        return out
    if pin_set.is_expired(now) and expired_mode == "reject":
        out.append(Finding(
            Level.ERROR, "pin-set-expired",
            f"the pin set for {target.pattern} expired on {iso_or_none(expires)} and the "
            "policy says expired = 'reject': every connection to it is refused",
        ))
    elif pin_set.is_expired(now):
        out.append(Finding(
            Level.WARN, "pin-set-expired",
            f"the pin set for {target.pattern} expired on {iso_or_none(expires)}: "
            "its pins are no longer enforced",
        ))
    elif expires <= horizon:
        out.append(Finding(
            Level.WARN, "pin-set-expiring",
            f"the pin set for {target.pattern} {_in_days(expires, now)}",
        ))
    return out


def leaf_rule(leaf: ChainCertificate | None, now: datetime, horizon: datetime) -> list[Finding]:
    """``leaf-expiring``: the leaf (verified, else served) ends before ``horizon``."""
    if leaf is None or leaf.not_after > horizon:
        return []
    return [Finding(
        Level.WARN, "leaf-expiring",
        f"the leaf certificate {leaf.subject} {_in_days(leaf.not_after, now)}",
    )]


def match_pins(
    verified: Sequence[ChainCertificate], pin_set: PinSet, public_roots: Collection[Pin]
) -> list[PinMatch]:
    """Every (pin, certificate) match in the verified chain where the pin's role allows it
    (:mod:`certpin.pinroles`, as :func:`certpin.check`): primary pins before backup pins, then
    the certificate nearest the leaf."""
    primary = set(pin_set.pins)
    every = primary | set(pin_set.backup_pins)
    matches = [
        PinMatch(pin, cert.position, cert.subject, pin not in primary, pin in public_roots)
        for cert in verified
        for pin in cert.pins
        if pin in every and role_admits(pin_set.role_of(pin), cert.position)
    ]
    matches.sort(key=lambda m: (m.backup, m.position))
    return matches


def no_match_rules(
    target: Target,
    pin_set: PinSet,
    served: Sequence[ChainCertificate],
    verified: Sequence[ChainCertificate],
) -> list[Finding]:
    """``served-only-match`` (a pin matches a served certificate outside the verified chain)
    and ``no-match``."""
    every = set(pin_set.all_pins)
    verified_pins = {p for c in verified for p in c.pins}
    out: list[Finding] = []
    served_only = [c for c in served if set(c.pins) & every and not set(c.pins) & verified_pins]
    if served_only:
        c = served_only[0]
        out.append(Finding(
            Level.ERROR, "served-only-match",
            f"a pin matches {c.subject} (served at position {c.position}), but that "
            "certificate is not part of the verified chain, so it is never accepted",
        ))
    chain_text = "; ".join(f"{c.position}: {c.pins[0]} {c.subject}" for c in verified)
    misplaced = "".join(
        f"; pin {pin} has role {pin_set.role_of(pin)} but is at position {c.position} "
        f"({c.subject}), where its role does not match"
        for c in verified for pin in c.pins
        if pin in every and not role_admits(pin_set.role_of(pin), c.position)
    )
    out.append(Finding(
        Level.ERROR, "no-match",
        f"no pin of {target.pattern} matches the verified chain of "
        f"{target.host}:{target.port} ({chain_text}){misplaced}",
    ))
    return out


def matched_rules(target: Target, matches: Sequence[PinMatch]) -> list[Finding]:
    """``pin-matched``; ``backup-pin-matched`` when only backup pins matched; ``weak-pin`` when
    only public root keys matched."""
    best = matches[0]
    kind = "backup pin" if best.backup else "pin"
    out = [Finding(
        Level.INFO, "pin-matched",
        f"{kind} {best.pin} matched certificate {best.position} ({best.subject})",
    )]
    if all(m.backup for m in matches):
        out.append(Finding(
            Level.WARN, "backup-pin-matched",
            f"only backup pin {best.pin} matched: {target.host} has rotated onto a backup "
            "key; move it to pins and add a new backup pin",
        ))
    if all(m.public_root for m in matches):
        out.append(Finding(
            Level.WARN, "weak-pin",
            f"the only matching pin {best.pin} is the key of a public root CA "
            f"({best.subject}): weak pin, shared by many sites (any certificate that CA "
            "issues passes)",
        ))
    return out


def pinned_cert_rule(
    matches: Sequence[PinMatch],
    verified: Sequence[ChainCertificate],
    now: datetime,
    horizon: datetime,
) -> list[Finding]:
    """``pinned-cert-expiring``: a matched certificate other than the leaf ends before
    ``horizon`` (once per certificate)."""
    out: list[Finding] = []
    warned: set[int] = set()
    for m in matches:
        if m.position == 0 or m.position in warned:
            continue
        cert = verified[m.position]
        if cert.not_after <= horizon:
            warned.add(m.position)
            out.append(Finding(
                Level.WARN, "pinned-cert-expiring",
                f"pinned certificate {m.position} ({cert.subject}) {_in_days(cert.not_after, now)}",
            ))
    return out


def backup_rule(
    target: Target,
    pin_set: PinSet,
    served: Sequence[ChainCertificate],
    verified: Sequence[ChainCertificate],
) -> list[Finding]:
    """``no-backup-pin``: every pin of the set is in the chain, so none is for a key that is not
    deployed (RFC 7469 section 4.3)."""
    chain_pin_set = {p for c in (*verified, *served) for p in c.pins}
    if not set(pin_set.all_pins) <= chain_pin_set:
        return []
    return [Finding(
        Level.WARN, "no-backup-pin",
        f"every pin of {target.pattern} is in the chain {target.host} serves: pin a "
        "backup key that is not deployed (RFC 7469 section 4.3)",
    )]


def intermediate_only_rule(
    target: Target, matches: Sequence[PinMatch], verified: Sequence[ChainCertificate]
) -> list[Finding]:
    """``intermediate-only-pin``: every pin that matched is an intermediate CA's (neither the
    leaf nor the trust anchor): CAs replace intermediates without notice."""
    last = len(verified) - 1
    if not matches or any(m.position in (0, last) for m in matches):
        return []
    subjects = ", ".join(sorted({m.subject for m in matches}))
    return [Finding(
        Level.WARN, "intermediate-only-pin",
        f"{target.pattern} matches {target.host} only through intermediate CA keys ({subjects}): "
        "CAs replace intermediates without notice, and the next chain fails; pin your own "
        "leaf key and a backup key, or the CA's root",
    )]


def only_leaf_key_rule(
    target: Target,
    pin_set: PinSet,
    verified: Sequence[ChainCertificate],
    now: datetime,
    horizon: datetime,
) -> list[Finding]:
    """``only-leaf-key-expiring``: the leaf ends before ``horizon``, its key is pinned, and no
    other pin of the set is for a key outside the chain (no pin for the next leaf key)."""
    if not verified or verified[0].not_after > horizon:
        return []
    leaf = verified[0]
    every = set(pin_set.all_pins)
    if not set(leaf.pins) & every:
        return []
    in_chain = {p for c in verified for p in c.pins}
    if not every <= in_chain:
        return []
    return [Finding(
        Level.WARN, "only-leaf-key-expiring",
        f"the leaf certificate {leaf.subject} {_in_days(leaf.not_after, now)} and its key "
        f"{leaf.spki_pin or leaf.cert_pin} is the only leaf key {target.pattern} pins: renew "
        "with the same key, or ship a backup pin for the new key first and wait until that "
        "version has reached your users",
    )]


# --------------------------------------------------------------------------- the judge


def _connection_rules(
    target: Target,
    pin_set: PinSet,
    fetched: FetchedChain,
    chains: tuple[tuple[ChainCertificate, ...], tuple[ChainCertificate, ...]],
    *,
    now: datetime,
    horizon: datetime,
    public_roots: Collection[Pin],
) -> tuple[list[Finding], list[PinMatch]]:
    served, verified = chains
    leaf = verified[0] if verified else (served[0] if served else None)
    out = leaf_rule(leaf, now, horizon)
    if fetched.verified is None:
        reason = escape(fetched.verify_error or "unknown reason")
        out.append(Finding(
            Level.ERROR, "validation-failed",
            f"certificate validation failed for {target.host}:{target.port}: {reason}",
        ))
        return out, []
    if not verified:
        out.append(Finding(
            Level.ERROR, "empty-chain", "no verified chain was available (fail closed)"
        ))
        return out, []
    matches = match_pins(verified, pin_set, public_roots)
    if not matches:
        return out + no_match_rules(target, pin_set, served, verified), []
    out += matched_rules(target, matches)
    out += pinned_cert_rule(matches, verified, now, horizon)
    out += backup_rule(target, pin_set, served, verified)
    out += intermediate_only_rule(target, matches, verified)
    out += only_leaf_key_rule(target, pin_set, verified, now, horizon)
    return out, matches


def judge(
    target: Target,
    fetched: FetchedChain | None,
    error: str | None,
    *,
    days: int,
    now: datetime,
    public_roots: Collection[Pin],
    expired_mode: str,
) -> HostReport:
    """Judge one host: its pin set, and what its connection showed.

    Args:
        target: the host, port, pattern and pin set (:func:`certpin.health.targets.targets_of`).
        fetched: what :func:`certpin.probe.fetch_chain` saw, or None (not connected, or failed).
        error: why the connection failed (escaped text), or None.
        days: warn about expiries within this many days.
        now: the time to judge expiry at, aware.
        public_roots: pins of public root CAs (``weak-pin``).
        expired_mode: the policy's ``expired`` (``"allow"`` or ``"reject"``).

    Returns:
        The :class:`~certpin.health.model.HostReport`, findings most severe first.
    """
    horizon = now + timedelta(days=days)
    pin_set = target.pin_set
    findings: list[Finding] = [*target.pre, *pin_set_rules(target, now, horizon, expired_mode)]
    served = describe(fetched.served) if fetched is not None else ()
    verified = (
        describe(fetched.verified) if fetched is not None and fetched.verified is not None else ()
    )
    matches: list[PinMatch] = []
    if target.connect and pin_set is not None:
        if error is not None:
            findings.append(Finding(Level.ERROR, "connection-failed", error))
        elif fetched is not None:
            found, matches = _connection_rules(
                target, pin_set, fetched, (served, verified), now=now, horizon=horizon,
                public_roots=public_roots,
            )
            findings += found
    leaf = verified[0] if verified else (served[0] if served else None)
    first = matches[0] if matches else None
    return HostReport(
        host=target.host,
        port=target.port,
        address=target.address,
        pattern=target.pattern,
        status=status_of(findings),
        findings=sort_findings(findings),
        matched_pin=first.pin if first else None,
        matched_position=first.position if first else None,
        matched_subject=first.subject if first else None,
        matches=tuple(matches),
        verified_chain=verified,
        served_chain=served,
        leaf_not_after=leaf.not_after if leaf else None,
        pin_set_expires=pin_set.expires if pin_set is not None else None,
        tls_version=fetched.tls_version if fetched is not None else None,
    )
