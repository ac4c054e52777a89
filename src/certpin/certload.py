"""Reading certificates, CSRs and keys from PEM, DER and PKCS#7 bytes, for computing pins.

This module is pure: it imports nothing else of certpin but :mod:`certpin.errors`, does no I/O
and reads keys and certificates through :mod:`cryptography` only (no hand-parsed DER).
:mod:`certpin.pins` re-exports :func:`load_certificates` and :data:`MAX_RSA_PRIVATE_KEY_BITS`.
"""

from __future__ import annotations

import base64
import binascii
import re
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TypeAlias

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes, PublicKeyTypes
from cryptography.hazmat.primitives.serialization import pkcs7
from cryptography.utils import CryptographyDeprecationWarning

from .errors import CertificateError, escape

__all__ = [
    "CRYPTOGRAPHY_ERRORS",
    "MAX_RSA_PRIVATE_KEY_BITS",
    "LoadedKeySource",
    "load_certificates",
    "load_key_source",
    "quiet_cryptography",
    "require_reproducible_key",
]

#: Largest RSA modulus, in bits, of a private key that :func:`certpin.pins.spki_pin` reads from
#: bytes. A private key is read only for its public half, with cryptography's RSA private-key
#: checks skipped (``unsafe_skip_rsa_key_validation``: the checks test the primes, seconds of
#: work for a large hostile key, and a pin never uses the private half). OpenSSL refuses to use
#: RSA keys over 16384 bits (``OPENSSL_RSA_MAX_MODULUS_BITS``), so no working key is larger.
MAX_RSA_PRIVATE_KEY_BITS = 16384

#: What cryptography raises for bytes it parsed lazily: a subject that is not valid UTF-8
#: (ValueError), a duplicated extension, an unsupported general name type, an unknown key
#: algorithm, a bad version. Callers that read fields of an untrusted certificate catch these.
CRYPTOGRAPHY_ERRORS: tuple[type[Exception], ...] = (
    ValueError,
    TypeError,
    UnsupportedAlgorithm,
    x509.InvalidVersion,
    x509.DuplicateExtension,
    x509.UnsupportedGeneralNameType,
)


@contextmanager
def quiet_cryptography() -> Iterator[None]:
    """Silence cryptography's deprecation warnings for real-world quirks (serial number 0).

    certifi's bundle holds roots with a non-positive serial number; cryptography warns when it
    parses them. They are still correct certificates for pinning, and ``-W error`` must not turn
    the warning into a failure.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CryptographyDeprecationWarning)
        # "PKCS#7 certificates could not be parsed as DER, falling back to parsing as BER":
        # leniency notices about the input, not about our use; a failed parse still raises.
        warnings.simplefilter("ignore", UserWarning)
        yield


_PEM_BEGIN = re.compile(rb"-----BEGIN ([A-Z0-9 ]+)-----")


def load_certificates(data: bytes) -> list[x509.Certificate]:
    """Read every certificate in PEM, DER or PKCS#7 bytes, in file order.

    PEM may hold many blocks, text between them, CRLF line endings and the old
    ``X509 CERTIFICATE`` / ``TRUSTED CERTIFICATE`` armour; PKCS#7 bundles may be PEM or DER.
    Certificates with quirks that cryptography warns about (e.g. serial number 0) are loaded
    quietly, also under ``python -W error``.

    Args:
        data: the file contents.

    Returns:
        The certificates, a non-empty list.

    Raises:
        CertificateError: the bytes hold no certificate, or a block cannot be parsed; the
            message says which block.
    """
    if not isinstance(data, bytes | bytearray | memoryview):
        raise CertificateError(f"certificate data must be bytes, got {type(data).__name__}")
    data = bytes(data)
    with quiet_cryptography():
        if b"-----BEGIN" in data:
            return _load_pem_certificates(data)
        return _load_der_certificates(data)


def _load_pem_certificates(data: bytes) -> list[x509.Certificate]:
    certs: list[x509.Certificate] = []
    data = data.replace(b"\r\n", b"\n")
    blocks = list(_PEM_BEGIN.finditer(data))
    for number, m in enumerate(blocks, 1):
        label = m.group(1).decode("ascii")
        end_marker = f"-----END {label}-----".encode()
        end = data.find(end_marker, m.end())
        if end < 0:
            raise CertificateError(f"PEM block {number} ({label}) has no END line")
        block = data[m.start() : end + len(end_marker)]
        try:
            if label in ("CERTIFICATE", "X509 CERTIFICATE", "TRUSTED CERTIFICATE"):
                if label != "CERTIFICATE":
                    block = block.replace(label.encode(), b"CERTIFICATE")
                certs.append(x509.load_pem_x509_certificate(block))
            elif label in ("PKCS7", "CMS"):
                certs.extend(pkcs7.load_pem_pkcs7_certificates(block))
        except (ValueError, UnsupportedAlgorithm, x509.InvalidVersion) as exc:
            raise CertificateError(
                f"PEM block {number} ({label}) is not a valid certificate: {escape(str(exc))}"
            ) from None
    if not certs:
        labels = ", ".join(sorted({m.group(1).decode("ascii") for m in blocks}))
        raise CertificateError(f"no certificate found in PEM data (blocks: {labels or 'none'})")
    return certs


def _load_der_certificates(data: bytes) -> list[x509.Certificate]:
    if not data:
        raise CertificateError("no certificate found: the data is empty")
    try:
        return [x509.load_der_x509_certificate(data)]
    except (ValueError, UnsupportedAlgorithm, x509.InvalidVersion):
        pass
    try:
        certs = pkcs7.load_der_pkcs7_certificates(data)
    except (ValueError, UnsupportedAlgorithm, x509.InvalidVersion):
        certs = []
    if certs:
        return list(certs)
    raise CertificateError(
        "no certificate found: the data is neither PEM, a DER certificate nor a PKCS#7 bundle"
    )


#: What :func:`load_key_source` returns.
LoadedKeySource: TypeAlias = (
    x509.Certificate | x509.CertificateSigningRequest | PublicKeyTypes | PrivateKeyTypes
)


def load_key_source(data: bytes) -> LoadedKeySource:
    """Read one certificate, CSR, public key or (unencrypted) private key from PEM or DER.

    Raises:
        CertificateError: none of these, several certificates, or an encrypted private key.
    """
    with quiet_cryptography():
        if b"-----BEGIN" in data:
            return _pem_key_source(data)
        return _der_key_source(data)


def _pem_key_source(data: bytes) -> LoadedKeySource:
    """:func:`load_key_source` for PEM: the loader follows the ``BEGIN`` labels."""
    labels = {m.group(1).decode("ascii") for m in _PEM_BEGIN.finditer(data)}
    if labels & {"CERTIFICATE", "X509 CERTIFICATE", "TRUSTED CERTIFICATE", "PKCS7"}:
        certs = load_certificates(data)
        if len(certs) != 1:
            raise CertificateError(
                f"the data holds {len(certs)} certificates; pin one at a time "
                "(load_certificates reads them all)"
            )
        return certs[0]
    loaders: list[object] = []
    if labels & {"CERTIFICATE REQUEST", "NEW CERTIFICATE REQUEST"}:
        loaders.append(x509.load_pem_x509_csr)
    if any("PUBLIC KEY" in label for label in labels):
        loaders.append(serialization.load_pem_public_key)
    if any("PRIVATE KEY" in label for label in labels):
        loaders.append(_load_pem_private_key)
    for loader in loaders:
        try:
            return loader(data)  # type: ignore[operator, no-any-return]
        except CertificateError:
            raise
        except TypeError as exc:  # encrypted private key
            raise CertificateError(
                f"the private key is encrypted; pin its public key instead ({exc})"
            ) from None
        except (ValueError, UnsupportedAlgorithm, x509.InvalidVersion) as exc:
            raise CertificateError(
                f"cannot read PEM {'/'.join(sorted(labels))}: {escape(str(exc))}"
            ) from None
    raise CertificateError(
        "no certificate, CSR or key found in PEM data "
        f"(blocks: {', '.join(sorted(labels)) or 'none'})"
    )


def _der_key_source(data: bytes) -> LoadedKeySource:
    """:func:`load_key_source` for DER: each loader in turn, then a one-certificate PKCS#7."""
    der_loaders = (
        x509.load_der_x509_certificate,
        serialization.load_der_public_key,
        x509.load_der_x509_csr,
        _load_der_private_key,
    )
    for loader in der_loaders:
        try:
            return loader(data)
        except CertificateError:
            raise
        except (ValueError, TypeError, UnsupportedAlgorithm, x509.InvalidVersion):
            continue
    try:
        bundle = pkcs7.load_der_pkcs7_certificates(data)
    except (ValueError, UnsupportedAlgorithm, x509.InvalidVersion):
        bundle = []
    if len(bundle) == 1:
        return bundle[0]
    if bundle:
        raise CertificateError(
            f"the PKCS#7 bundle holds {len(bundle)} certificates; pin one at a time "
            "(load_certificates reads them all)"
        )
    raise CertificateError(
        "cannot read the data as a certificate, CSR, public key or private key (PEM or DER)"
    )


def _public_half_only(key: PrivateKeyTypes) -> PrivateKeyTypes:
    """Refuse an RSA private key over :data:`MAX_RSA_PRIVATE_KEY_BITS` bits."""
    if isinstance(key, rsa.RSAPrivateKey) and key.key_size > MAX_RSA_PRIVATE_KEY_BITS:
        raise CertificateError(
            f"the RSA private key has a {key.key_size}-bit modulus; certpin reads RSA keys of "
            f"at most {MAX_RSA_PRIVATE_KEY_BITS} bits (OpenSSL's limit for a usable key)"
        )
    return key


def _load_pem_private_key(data: bytes) -> PrivateKeyTypes:
    # The private half is never used for a pin: skip cryptography's RSA consistency checks,
    # which test the primes (seconds for a hostile 40,000-bit key).
    return _public_half_only(serialization.load_pem_private_key(
        data, password=None, unsafe_skip_rsa_key_validation=True
    ))


def _load_der_private_key(data: bytes) -> PrivateKeyTypes:
    return _public_half_only(serialization.load_der_private_key(
        data, password=None, unsafe_skip_rsa_key_validation=True
    ))


#: PEM labels cryptography reads a public key from, and a private key from (the first such
#: block of a file is the one it reads).
_PUBLIC_LABELS = frozenset({"PUBLIC KEY", "RSA PUBLIC KEY"})
_PRIVATE_LABELS = frozenset(
    {"PRIVATE KEY", "RSA PRIVATE KEY", "EC PRIVATE KEY", "DSA PRIVATE KEY"}
)


def _pem_body(data: bytes, labels: frozenset[str]) -> bytes | None:
    """The DER in the first PEM block labelled one of ``labels``, or None.

    This undoes the PEM armour only (RFC 7468: base64 between the BEGIN and END lines); the DER
    inside is left to cryptography. A block with RFC 1421 headers (``Proc-Type``) gives None.
    """
    for m in _PEM_BEGIN.finditer(data):
        label = m.group(1).decode("ascii")
        if label not in labels:
            continue
        end = data.find(f"-----END {label}-----".encode(), m.end())
        if end < 0 or b":" in data[m.end() : end]:
            return None
        try:
            return base64.b64decode(b"".join(data[m.end() : end].split()), validate=True)
        except (binascii.Error, ValueError):
            return None
    return None


def _rewritten(key: PublicKeyTypes | PrivateKeyTypes) -> list[bytes]:
    """Every DER encoding cryptography writes of ``key`` in a format a key file may use."""
    if hasattr(key, "private_bytes"):
        formats = (
            serialization.PrivateFormat.PKCS8, serialization.PrivateFormat.TraditionalOpenSSL
        )
        out = []
        for private_format in formats:
            try:
                out.append(key.private_bytes(
                    serialization.Encoding.DER, private_format, serialization.NoEncryption()
                ))
            except (ValueError, TypeError, UnsupportedAlgorithm):
                continue  # e.g. Ed25519 has no traditional format
        return out
    out = [key.public_bytes(serialization.Encoding.DER,
                            serialization.PublicFormat.SubjectPublicKeyInfo)]
    if isinstance(key, rsa.RSAPublicKey):
        out.append(key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.PKCS1))
    return out


def require_reproducible_key(data: bytes, key: PublicKeyTypes | PrivateKeyTypes) -> None:
    """Refuse a key file that cryptography does not write back byte for byte.

    The SPKI pin of a key file must be the pin of the SubjectPublicKeyInfo that a certificate
    for that key carries. OpenSSL keeps a key's encoding when it makes that SubjectPublicKeyInfo:
    the parameters of an RSA-PSS key (``id-RSASSA-PSS``, RFC 4055 section 3.1), explicit EC curve
    parameters and a compressed EC point (RFC 5480 section 2.2), as ``openssl req -x509 -key``
    and ``openssl pkey -pubout`` show. cryptography reads such keys but writes them back as a
    plain ``rsaEncryption`` key, a named curve and an uncompressed point, so a pin of its
    encoding would never match that certificate. A key file whose DER is one of cryptography's
    own encodings of the key it read (PKCS#8, the traditional OpenSSL format, SPKI or PKCS#1) is
    known to be free of these; any other is refused. That also refuses a few harmless encodings
    (a PKCS#8 EC key without its public point, as Java writes them): their public key file
    (``openssl pkey -pubout``) is accepted.

    Args:
        data: the key file (PEM or DER).
        key: the key cryptography read from ``data`` (:func:`load_key_source`).

    Raises:
        CertificateError: the file's DER is none of cryptography's encodings of ``key``; the
            message names the usual cause for the key type and says to pin the certificate.
    """
    private = hasattr(key, "private_bytes")
    if b"-----BEGIN" in data:
        der = _pem_body(data, _PRIVATE_LABELS if private else _PUBLIC_LABELS)
    else:
        der = data
    with quiet_cryptography():
        if der is not None and der in _rewritten(key):
            return
    public = key.public_key() if private else key  # type: ignore[union-attr]
    if isinstance(public, rsa.RSAPublicKey):
        kind, cause = "RSA", "RSA-PSS parameters are not"
    elif isinstance(public, ec.EllipticCurvePublicKey):
        kind, cause = "EC", "explicit curve parameters and compressed points are not"
    else:
        kind, cause = type(public).__name__.strip("_").removesuffix("PublicKey"), ""
    advice = "pin the certificate made for it (cert-sha256) instead"
    if private:
        advice = ("pin its public key (openssl pkey -pubout) or the certificate made for it "
                  "(cert-sha256) instead")
    if kind == "EC":
        advice += (", or re-encode the key (openssl ec -param_enc named_curve "
                   "-conv_form uncompressed) before a certificate is made for it")
    raise CertificateError(
        f"cannot compute the SPKI pin of this {kind} {'private' if private else 'public'} key: "
        f"its encoding is not one cryptography writes back byte for byte"
        f"{f' ({cause})' if cause else ''}, and a "
        "certificate made from the key keeps that encoding, so a pin of the re-encoded key "
        f"would not match it; {advice}"
    )
