"""Rotation checks on a policy and the backup key held for it (used by ``certpin lint``).

RFC 7469 section 4.3 asks for a backup pin: the pin of a key that is not deployed, kept ready
for the day the served key must change. The backup protects users only if the key file kept
is the one whose pin shipped. :func:`backup_key_findings` compares the key (or the CSR) that
``certpin backup-key`` wrote with the ``backup_pins`` of the pin sets it is for. The rules are
pure (:func:`backup_key_of` takes bytes); :func:`read_backup_keys` reads the files.

Finding codes (stable):

==========================  =======  ==========================================================
code                        level    meaning
==========================  =======  ==========================================================
``backup-key-not-pinned``   warn     the backup key held is in no pin of the set: its pin
                                     never shipped, so deploying it would lock users out
``backup-key-is-primary``   info     the backup key held is a primary pin (already deployed?)
``backup-key-unmatched``    warn     the CSR names hosts that no pattern of the policy covers
``backup-key-role-ca``      warn     the backup key held (a leaf key) is pinned with role
                                     ``ca``: deployed as the server's key it would never match
==========================  =======  ==========================================================
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from cryptography import x509
from cryptography.x509.oid import NameOID

from .errors import escape
from .findings import Finding, Level
from .pins import Pin, spki_pin
from .policy import PinPolicy

__all__ = ["BackupKeyInfo", "backup_key_findings", "backup_key_of", "read_backup_keys"]


@dataclass(frozen=True)
class BackupKeyInfo:
    """A backup key held: where it came from, its SPKI pin, and the hosts its CSR names.

    Attributes:
        source: a label for messages (the file name).
        pin: the key's SPKI pin.
        names: the CSR's DNS names (SAN, else common name); empty for a key file, which then
            concerns every pin set of the policy.
    """

    source: str
    pin: Pin
    names: tuple[str, ...] = ()


def backup_key_of(source: str, data: bytes) -> BackupKeyInfo:
    """Read the key or CSR that ``certpin backup-key`` wrote (PEM or DER bytes).

    Raises:
        CertificateError: the bytes hold no CSR or key (an encrypted private key: give its CSR).
    """
    pin = spki_pin(data)
    names: tuple[str, ...] = ()
    try:
        csr = x509.load_pem_x509_csr(data) if b"-----BEGIN" in data else x509.load_der_x509_csr(
            data
        )
    except ValueError:
        csr = None
    if csr is not None:
        try:
            san = csr.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
            names = tuple(san.get_values_for_type(x509.DNSName))
        except x509.ExtensionNotFound:
            names = ()
        if not names:
            names = tuple(
                str(a.value) for a in csr.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
            )
    return BackupKeyInfo(source, pin, names)


def backup_key_findings(
    policy: PinPolicy, keys: Sequence[BackupKeyInfo]
) -> list[tuple[str | None, Finding]]:
    """``(pattern, finding)`` for each backup key against the pin sets it is for (the patterns
    that cover its CSR's names, else every pin set)."""
    out: list[tuple[str | None, Finding]] = []
    for key in keys:
        patterns = _patterns_for(policy, key)
        if key.names and not patterns:
            out.append((None, Finding(
                Level.WARN, "backup-key-unmatched",
                f"the backup key in {escape(key.source)} is for "
                f"{escape(', '.join(key.names))}, which no pattern of the policy covers",
            )))
        for pattern in patterns:
            pin_set = policy.pin_sets[pattern]
            if pin_set.role_of(key.pin) == "ca":
                out.append((pattern, Finding(
                    Level.WARN, "backup-key-role-ca",
                    f"the backup key in {escape(key.source)} ({key.pin}) is a leaf key, but "
                    f"{escape(pattern)} gives its pin role ca (CA certificates only): deployed "
                    "as the server's key it would never match; make its role leaf",
                )))
            if key.pin in pin_set.backup_pins:
                continue
            if key.pin in pin_set.pins:
                out.append((pattern, Finding(
                    Level.INFO, "backup-key-is-primary",
                    f"the backup key in {escape(key.source)} ({key.pin}) is a primary pin of "
                    f"{escape(pattern)}: if it is deployed now, make a new backup key",
                )))
                continue
            shipped = ", ".join(str(p) for p in pin_set.backup_pins) or "none"
            out.append((pattern, Finding(
                Level.WARN, "backup-key-not-pinned",
                f"the backup key in {escape(key.source)} has pin {key.pin}, which is not a pin "
                f"of {escape(pattern)} (its backup pins: {shipped}): deploying that key would "
                f"lock users out; add {key.pin} to backup_pins and ship it first",
            )))
    return out


def _patterns_for(policy: PinPolicy, key: BackupKeyInfo) -> list[str]:
    if not key.names:
        return list(policy.pin_sets)
    found: list[str] = []
    for name in key.names:
        try:
            hit = policy.match(name)
        except ValueError:
            hit = None
        if hit is not None and hit[0] not in found:
            found.append(hit[0])
    return found


def read_backup_keys(paths: Sequence[str]) -> list[BackupKeyInfo]:
    """:func:`backup_key_of` for each file (size-capped reads).

    Raises:
        ConfigError: a file cannot be read. CertificateError: it holds no key or CSR.
    """
    from .config._common import read_input

    return [backup_key_of(path, read_input(path)) for path in paths]
