"""The health report of one host: :class:`HostReport`, with the chain and the pin matches it saw."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ..findings import Finding, Status
from ..instants import iso_z
from ..pins import Pin

__all__ = ["ChainCertificate", "HostReport", "PinMatch", "iso_or_none"]


@dataclass(frozen=True)
class ChainCertificate:
    """One certificate of a chain, as the report shows it.

    Attributes:
        position: 0 for the leaf, then towards the root.
        subject: the RFC 4514 subject, escaped.
        spki_pin: the SPKI pin (``sha256/<b64>``), or None when cryptography cannot decode the
            key (the certificate pin still works).
        cert_pin: the certificate pin (``cert-sha256/<b64>``).
        not_after: the end of validity, an aware UTC datetime.
    """

    position: int
    subject: str
    spki_pin: Pin | None
    cert_pin: Pin
    not_after: datetime

    @property
    def pins(self) -> tuple[Pin, ...]:
        """The certificate's pins: SPKI (when decodable) and certificate."""
        return (self.cert_pin,) if self.spki_pin is None else (self.spki_pin, self.cert_pin)

    def to_json(self) -> dict[str, Any]:
        """Return the fields as JSON-ready values (pins as canonical strings, ISO 8601 time)."""
        return {
            "position": self.position,
            "subject": self.subject,
            "spki_pin": str(self.spki_pin) if self.spki_pin is not None else None,
            "cert_pin": str(self.cert_pin),
            "not_after": iso_or_none(self.not_after),
        }


@dataclass(frozen=True)
class PinMatch:
    """A pin of the set that matched a certificate of the verified chain.

    Attributes:
        pin: the pin of the policy that matched.
        position: the certificate's position in the verified chain (0 = leaf).
        subject: that certificate's subject, escaped.
        backup: True if the pin is one of the set's ``backup_pins``.
        public_root: True if the pin is the key (or certificate) of a public root CA.
    """

    pin: Pin
    position: int
    subject: str
    backup: bool
    public_root: bool

    def to_json(self) -> dict[str, Any]:
        """Return the fields as JSON-ready values."""
        return {
            "pin": str(self.pin),
            "position": self.position,
            "subject": self.subject,
            "backup": self.backup,
            "public_root": self.public_root,
        }


@dataclass(frozen=True)
class HostReport:
    """The health of one host against its pin set.

    Attributes:
        host: the host name checked (normalised): sent as SNI, matched against the certificate
            and looked up in the policy; also the host connected to unless ``address`` is set;
            the pattern when nothing was connected.
        port: the TCP port.
        pattern: the policy pattern whose pin set applies, or None (not pinned).
        status: ok, warn or error (the most severe finding).
        findings: every observation, most severe first.
        matched_pin: the pin reported as matching (a primary pin before a backup pin, then the
            certificate nearest the leaf), or None.
        matched_position: its certificate's position in the verified chain (0 = leaf), or None.
        matched_subject: its certificate's subject (escaped), or None.
        matches: every (pin, certificate) match in the verified chain.
        verified_chain: the chain Python's ssl verified, leaf first (empty if it did not verify).
        served_chain: the chain the server sent, in its order.
        leaf_not_after: the leaf's end of validity (UTC), or None when no certificate was seen.
        pin_set_expires: the pin set's expiry (UTC), or None.
        tls_version: e.g. ``"TLSv1.3"``, or None.
        address: the IP address connected to instead of resolving ``host`` (``resolve``, or a
            host given with ``server_name``), or None; ``host`` was still the SNI, the name
            checked against the certificate and the name looked up in the policy.
    """

    host: str
    port: int
    pattern: str | None
    status: Status
    findings: tuple[Finding, ...]
    matched_pin: Pin | None = None
    matched_position: int | None = None
    matched_subject: str | None = None
    matches: tuple[PinMatch, ...] = ()
    verified_chain: tuple[ChainCertificate, ...] = ()
    served_chain: tuple[ChainCertificate, ...] = ()
    leaf_not_after: datetime | None = None
    pin_set_expires: datetime | None = None
    tls_version: str | None = None
    address: str | None = None

    @property
    def codes(self) -> tuple[str, ...]:
        """The codes of the findings, in order."""
        return tuple(f.code for f in self.findings)

    def to_json(self) -> dict[str, Any]:
        """Return a JSON-ready dict: every attribute, pins as strings, times as ISO 8601 UTC."""
        return {
            "status": self.status.value,
            "host": self.host,
            "port": self.port,
            "address": self.address,
            "pattern": self.pattern,
            "matched_pin": str(self.matched_pin) if self.matched_pin is not None else None,
            "matched_position": self.matched_position,
            "matched_subject": self.matched_subject,
            "matched_backup": (
                self.matches[0].backup if self.matches and self.matched_pin is not None else None
            ),
            "findings": [f.to_json() for f in self.findings],
            "matches": [m.to_json() for m in self.matches],
            "leaf_not_after": iso_or_none(self.leaf_not_after),
            "pin_set_expires": iso_or_none(self.pin_set_expires),
            "tls_version": self.tls_version,
            "verified_chain": [c.to_json() for c in self.verified_chain],
            "served_chain": [c.to_json() for c in self.served_chain],
        }


def iso_or_none(when: datetime | None) -> str | None:
    """``when`` as ISO 8601 with ``Z``, or None."""
    if when is None:
        return None
    return iso_z(when)
