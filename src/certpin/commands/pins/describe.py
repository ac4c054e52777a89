"""What ``certpin pins`` prints about one certificate, CSR or key: subject, key, pins.

Every field of an untrusted certificate is read so that a failure names the field
(:class:`certpin.CertificateError`), never a traceback.
"""

from __future__ import annotations

from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa, x448, x25519
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes, PublicKeyTypes

from ...certload import CRYPTOGRAPHY_ERRORS, load_certificates, load_key_source, quiet_cryptography
from ...chainpins import name_text
from ...errors import CertificateError, escape, message_of
from ...pins import cert_pin, spki_pin

__all__ = ["describe_certificate", "describe_data", "describe_key", "position_in_file"]


def _name(name: x509.Name) -> str:
    try:
        return name_text(name)
    except ValueError:  # pragma: no cover - attributes cryptography cannot render
        return escape(repr(name))


_KEY_ERRORS: tuple[type[Exception], ...] = (CertificateError, *CRYPTOGRAPHY_ERRORS)


def _field(what: str, read: Any, of: str = "certificate") -> Any:
    """Read one lazily parsed field of an untrusted certificate or CSR, or raise CertificateError.

    cryptography parses subjects, extensions and keys on first access and raises several types
    for bytes it cannot decode (see :data:`certpin.pins.CRYPTOGRAPHY_ERRORS`); here each becomes
    a CertificateError naming the field, so the target fails with one line instead of a traceback.
    """
    try:
        with quiet_cryptography():
            return read()
    except CRYPTOGRAPHY_ERRORS as exc:
        raise CertificateError(
            f"cannot describe the {of}: its {what} cannot be decoded "
            f"({escape(str(exc) or type(exc).__name__)})"
        ) from None


def describe_key(key: object) -> tuple[str, int | None]:
    """Return ``(key_type, key_bits)`` of a public key, e.g. ``("EC P-256", 256)``."""
    if isinstance(key, rsa.RSAPublicKey):
        return "RSA", key.key_size
    if isinstance(key, ec.EllipticCurvePublicKey):
        curves = {"secp256r1": "P-256", "secp384r1": "P-384", "secp521r1": "P-521"}
        return f"EC {curves.get(key.curve.name, key.curve.name)}", key.curve.key_size
    if isinstance(key, ed25519.Ed25519PublicKey):
        return "Ed25519", 256
    if isinstance(key, ed448.Ed448PublicKey):
        return "Ed448", 456
    if isinstance(key, dsa.DSAPublicKey):
        return "DSA", key.key_size
    if isinstance(key, x25519.X25519PublicKey):
        return "X25519", 256
    if isinstance(key, x448.X448PublicKey):
        return "X448", 448
    return type(key).__name__, None


def position_in_file(cert: x509.Certificate) -> str:
    """``leaf``, ``intermediate`` or ``root``.

    Raises:
        CertificateError: the extensions, subject or issuer cannot be decoded.
    """
    extensions = _field("extensions", lambda: cert.extensions)
    try:
        is_ca = extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    except x509.ExtensionNotFound:
        is_ca = False
    if is_ca:
        same = _field("subject", lambda: cert.subject) == _field("issuer", lambda: cert.issuer)
        return "root" if same else "intermediate"
    return "leaf"


def describe_certificate(cert: x509.Certificate, position: str) -> dict[str, Any]:
    """Describe one certificate as the JSON object ``certpin pins`` prints.

    Args:
        cert: the certificate.
        position: ``"leaf"``, ``"intermediate"`` or ``"root"``: position 0 of a live chain is
            the leaf, the others are CAs; in a file, :func:`position_in_file`.

    Returns:
        A dict with ``position``, ``role`` (``"leaf"`` for position ``leaf``, else ``"ca"``: the
        roles a pin may be given, issue 12), ``subject``, ``issuer`` (RFC 4514 text,
        :func:`certpin.chainpins.name_text`), ``serial`` (hex), ``not_before``/``not_after``
        (ISO 8601, UTC), ``key_type``, ``key_bits`` (``None`` if unknown), ``spki_pin``
        (``None`` when cryptography cannot decode the key algorithm or reproduce the key's
        encoding byte for byte, with ``spki_error`` saying which), ``cert_pin`` and
        ``sha256_fingerprint`` (hex).

    Raises:
        CertificateError: a field cryptography parses lazily (subject, issuer, serial, validity)
            cannot be decoded; the message names the field.
    """
    info: dict[str, Any] = {
        "position": position,
        "role": "leaf" if position == "leaf" else "ca",
        "subject": _name(_field("subject", lambda: cert.subject)),
        "issuer": _name(_field("issuer", lambda: cert.issuer)),
        "serial": format(_field("serial number", lambda: cert.serial_number), "x"),
        "not_before": _field("validity", lambda: cert.not_valid_before_utc).isoformat().replace(
            "+00:00", "Z"),
        "not_after": _field("validity", lambda: cert.not_valid_after_utc).isoformat().replace(
            "+00:00", "Z"),
    }
    pin: str | None = None
    spki_error = None
    try:
        with quiet_cryptography():
            key_type, key_bits = describe_key(cert.public_key())
    except _KEY_ERRORS as exc:  # cryptography raises several types for odd keys
        try:
            oid = cert.public_key_algorithm_oid.dotted_string
        except CRYPTOGRAPHY_ERRORS:
            oid = "unknown"
        key_type, key_bits = f"unsupported ({oid})", None
        spki_error = escape(f"cryptography cannot decode this key algorithm: {exc}")
    else:
        try:
            pin = str(spki_pin(cert))
        except _KEY_ERRORS as exc:  # a key cryptography does not reproduce byte for byte
            spki_error = message_of(exc)
    info.update(key_type=key_type, key_bits=key_bits, spki_pin=pin)
    if spki_error:
        info["spki_error"] = spki_error
    cpin = cert_pin(cert)
    info.update(cert_pin=str(cpin), sha256_fingerprint=cpin.hex)
    return info


def describe_data(data: bytes, where: str) -> list[dict[str, Any]]:
    """Describe every certificate, or the one CSR or key, in the bytes of a file.

    Args:
        data: PEM, DER or PKCS#7 certificates, or a public key, private key or CSR.
        where: the file name for messages (escaped already).

    Returns:
        One dict per certificate (as :func:`describe_certificate`) or one for the key or CSR.

    Raises:
        CertificateError: the bytes hold nothing certpin can read, or a certificate, CSR or key
            that cannot be described or pinned; the message starts with ``where``.
    """
    try:
        loaded = load_certificates(data)
    except CertificateError:
        try:
            source = load_key_source(data)
        except CertificateError as exc:
            raise CertificateError(f"{where}: {exc}") from None
        if isinstance(source, x509.Certificate):  # pragma: no cover - handled above
            return [describe_certificate(source, position_in_file(source))]
        try:
            return [_describe_key_source(source, data)]
        except CertificateError as exc:
            raise CertificateError(f"{where}: {exc}") from None
    certs: list[dict[str, Any]] = []
    for number, cert in enumerate(loaded, 1):
        try:
            certs.append(describe_certificate(cert, position_in_file(cert)))
        except CertificateError as exc:
            which = f"certificate {number}: " if len(loaded) > 1 else ""
            raise CertificateError(f"{where}: {which}{exc}") from None
    return certs


def _describe_key_source(
    source: x509.CertificateSigningRequest | PublicKeyTypes | PrivateKeyTypes, data: bytes,
) -> dict[str, Any]:
    """Describe a CSR or a public or private key (read from ``data``) as :func:`describe_data`
    prints it."""
    is_csr = isinstance(source, x509.CertificateSigningRequest)
    of = "CSR" if is_csr else "key file"
    key = _field("key", lambda: source.public_key() if hasattr(source, "public_key")
                 else source, of)
    key_type, key_bits = describe_key(key)
    pin = str(spki_pin(data))  # from the file's bytes: its encoding must be reproducible
    subject = (
        _name(_field("subject", lambda: source.subject, of))  # type: ignore[union-attr]
        if is_csr else None
    )
    return {
        "position": "csr" if is_csr else "key",
        "role": None,  # a key or CSR is not yet in a chain
        "subject": subject,
        "issuer": None,
        "not_after": None,
        "key_type": key_type,
        "key_bits": key_bits,
        "spki_pin": pin,
        "cert_pin": None,
    }
