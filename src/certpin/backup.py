"""Backup keys: generate a key pair and CSR for a future rotation, and its pin for today.

RFC 7469 section 4.3 asks every pin set to hold a pin for a key that is not deployed, so that a
lost or compromised key can be replaced without locking users out. :func:`generate_backup_key`
makes that key now: the app ships its pin today, the key waits (offline, encrypted) until the
day it is needed, and its CSR is ready to send to the CA.

Files, in ``out_dir``, named from the common name and the key type (``*`` becomes
``wildcard``, other characters outside ``[A-Za-z0-9._-]`` become ``_``):

* ``<stem>.key.pem``: the private key, PKCS#8 PEM, created exclusively (``O_CREAT|O_EXCL``,
  ``O_NOFOLLOW``) with mode 0600, encrypted with the passphrase if one is given;
* ``<stem>.csr.pem``: the CSR (PKCS#10 PEM), signed by the key, also created exclusively.

Nothing is ever overwritten: if either file exists, nothing is written. Nothing is left
half-written: both contents are built in memory first; if writing either file fails, every file
this call created is removed (the key was never used and its pin never shown, so removing it
loses nothing) and the error is raised.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, TypeAlias, get_args

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import NameOID

from .errors import CertpinError, escape, quote
from .pins import Pin, spki_pin

__all__ = ["KEY_TYPES", "BackupKey", "BackupKeyError", "KeyType", "generate_backup_key"]

KeyType: TypeAlias = Literal["rsa2048", "rsa3072", "rsa4096", "p256", "p384", "ed25519"]
#: The key types :func:`generate_backup_key` accepts.
KEY_TYPES: tuple[str, ...] = get_args(KeyType)

_PRIVATE_CA_ONLY = {"ed25519"}


class BackupKeyError(CertpinError):
    """A backup key cannot be generated or written (bad argument, file exists, write failed)."""


@dataclass(frozen=True)
class BackupKey:
    """What :func:`generate_backup_key` wrote.

    Attributes:
        key_path: the private key file (mode 0600).
        csr_path: the CSR file.
        pin: the SPKI pin of the new key: add it to the policy's ``backup_pins`` now.
        key_type: one of :data:`KEY_TYPES`.
        encrypted: True if the key file is encrypted with a passphrase.
    """

    key_path: Path
    csr_path: Path
    pin: Pin
    key_type: str
    encrypted: bool


def _stem(common_name: str, key_type: str) -> str:
    name = common_name.replace("*", "wildcard")
    name = re.sub(r"[^A-Za-z0-9._-]", "_", name).strip(".") or "key"
    return f"{name}.{key_type}"


_PrivateKey: TypeAlias = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey


def _new_key(key_type: str) -> _PrivateKey:
    if key_type.startswith("rsa"):
        return rsa.generate_private_key(public_exponent=65537, key_size=int(key_type[3:]))
    if key_type == "p256":
        return ec.generate_private_key(ec.SECP256R1())
    if key_type == "p384":
        return ec.generate_private_key(ec.SECP384R1())
    return ed25519.Ed25519PrivateKey.generate()


def _san(name: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(name))
    except ValueError:
        pass
    try:
        ascii_name = name.encode("idna").decode("ascii") if not name.isascii() else name
    except UnicodeError:
        raise BackupKeyError(f"invalid subject alternative name {quote(name, None)}") from None
    if not ascii_name or any(c.isspace() for c in ascii_name):
        raise BackupKeyError(f"invalid subject alternative name {quote(name, None)}")
    return x509.DNSName(ascii_name.lower())


def _create_exclusive(path: Path, data: bytes, mode: int) -> None:
    """Create ``path`` (which must not exist) with ``mode``, write ``data`` and fsync.

    Raises FileExistsError if it exists; on any later failure the file is removed.
    """
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    fd = os.open(path, flags, mode)
    try:
        try:
            os.fchmod(fd, mode)  # independent of the umask
            view = memoryview(data)
            while view:
                written = os.write(fd, view)
                view = view[written:]
            os.fsync(fd)
        finally:
            os.close(fd)
    except BaseException:
        path.unlink(missing_ok=True)  # we created it: leave nothing half-written
        raise


def generate_backup_key(
    out_dir: str | os.PathLike[str],
    common_name: str,
    *,
    sans: Sequence[str] = (),
    key_type: str = "p256",
    passphrase: bytes | None = None,
    private_ca: bool = False,
) -> BackupKey:
    """Generate a backup key pair and CSR, write them exclusively, return the key's SPKI pin.

    Args:
        out_dir: an existing directory for the two files.
        common_name: the CSR subject's CN (at most 64 characters); also the first SAN unless
            ``sans`` already holds it.
        sans: further subject alternative names: DNS names (IDNA-encoded) or IP addresses.
        key_type: ``rsa2048``, ``rsa3072``, ``rsa4096``, ``p256`` (default), ``p384`` or
            ``ed25519``.
        passphrase: encrypt the private key with it (cryptography's BestAvailableEncryption);
            None writes it unencrypted. Never printed or logged.
        private_ca: allow key types that public CAs do not certify (``ed25519``): the CA/Browser
            Forum Baseline Requirements (section 6.1.5) admit only RSA and ECDSA P-256/P-384/P-521
            subject keys.

    Returns:
        A :class:`BackupKey` with both paths and the SPKI pin.

    Raises:
        BackupKeyError: an unknown key type, ``ed25519`` without ``private_ca``, an empty
            passphrase, a bad CN or SAN, ``out_dir`` missing, or a file that already exists
            (nothing is written then); also when writing fails (files created by this call are
            removed first).
    """
    _check_request(common_name, sans, key_type, passphrase, private_ca)
    out = Path(out_dir)
    if not out.is_dir():
        raise BackupKeyError(f"{escape(str(out))} is not a directory")
    stem = _stem(common_name, key_type)
    key_path = out / f"{stem}.key.pem"
    csr_path = out / f"{stem}.csr.pem"
    for path in (key_path, csr_path):
        if os.path.lexists(path):
            raise BackupKeyError(f"{escape(str(path))} already exists; not overwriting it")
    key = _new_key(key_type)
    csr = _csr(key, common_name, sans)
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(passphrase)
        if passphrase is not None
        else serialization.NoEncryption()
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
    )
    csr_pem = csr.public_bytes(serialization.Encoding.PEM)
    pin = spki_pin(csr)
    _write_all(((key_path, key_pem, 0o600), (csr_path, csr_pem, 0o644)))
    return BackupKey(key_path, csr_path, pin, key_type, passphrase is not None)


def _check_request(
    common_name: str, sans: Sequence[str], key_type: str, passphrase: bytes | None,
    private_ca: bool,
) -> None:
    """Refuse what :func:`generate_backup_key` cannot make, before anything is written."""
    if key_type not in KEY_TYPES:
        raise BackupKeyError(
            f"unknown key type {quote(key_type, None)}: expected one of {', '.join(KEY_TYPES)}"
        )
    if key_type in _PRIVATE_CA_ONLY and not private_ca:
        raise BackupKeyError(
            f"{key_type} keys need --private-ca: public CAs certify only RSA and ECDSA keys "
            "(CA/Browser Forum Baseline Requirements section 6.1.5)"
        )
    if passphrase is not None and not passphrase:
        raise BackupKeyError("the passphrase is empty")
    if not common_name or not common_name.strip():
        raise BackupKeyError("the common name is empty")
    for name in (common_name, *sans):
        if not name.isprintable():  # would go into the CSR as is; a CA refuses it later
            raise BackupKeyError(f"control characters in the name {quote(name, None)}")


def _csr(
    key: _PrivateKey, common_name: str, sans: Sequence[str]
) -> x509.CertificateSigningRequest:
    """A CSR for ``key``: subject CN ``common_name``, SANs the CN and ``sans`` (deduplicated)."""
    general: list[x509.GeneralName] = []
    for n in (common_name, *sans):
        g = _san(n) if n else None
        if g is not None and g not in general:
            general.append(g)
    try:
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
        builder = (
            x509.CertificateSigningRequestBuilder()
            .subject_name(subject)
            .add_extension(x509.SubjectAlternativeName(general), critical=False)
        )
        algorithm = None if isinstance(key, ed25519.Ed25519PrivateKey) else hashes.SHA256()
        return builder.sign(key, algorithm)
    except ValueError as exc:
        raise BackupKeyError(
            f"cannot build a CSR for {quote(common_name, None)}: {escape(str(exc))}"
        ) from None


def _write_all(files: Sequence[tuple[Path, bytes, int]]) -> None:
    """Create every file exclusively with its mode; on any failure remove those created."""
    created: list[Path] = []
    try:
        for path, data, mode in files:
            try:
                _create_exclusive(path, data, mode)
            except FileExistsError:
                raise BackupKeyError(
                    f"{escape(str(path))} already exists; not overwriting it"
                ) from None
            created.append(path)
    except BaseException as exc:
        for path in created:
            with contextlib.suppress(OSError):
                path.unlink()
        if isinstance(exc, OSError):
            raise BackupKeyError(f"cannot write {escape(str(exc))}") from None
        raise
