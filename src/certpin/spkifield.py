"""Whether a certificate carries, byte for byte, the SubjectPublicKeyInfo cryptography re-encodes
from its key: :func:`carries_spki`, the one rule behind every SPKI pin of a certificate or CSR
(:func:`certpin.spki_pin`, :func:`certpin.chainpins.chain_pins`, hence ``certpin pins`` and the
TLS layer). Reviews 11, 11d, 11e and 11f each found a certificate that fooled a weaker rule.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa, x448, x25519
from cryptography.x509.oid import PublicKeyAlgorithmOID

from .certload import quiet_cryptography

__all__ = ["carries_spki"]


def _stand_in(key: object, length: int) -> bytes | None:
    """The DER SubjectPublicKeyInfo of another key of the same type and size as ``key`` whose
    encoding is ``length`` bytes long (a fresh, random one, so a certificate cannot have been
    shaped for it), or None when none can be made."""
    spki = serialization.PublicFormat.SubjectPublicKeyInfo
    other: Any
    if isinstance(key, rsa.RSAPublicKey):
        numbers = key.public_numbers()
        n = numbers.n
        size = (n.bit_length() + 7) // 8
        if size < 4:
            return None
        # the same top and bottom bytes (so the same length and an odd modulus), random between
        middle = int.from_bytes(os.urandom(size - 2), "big")
        n2 = (n >> ((size - 1) * 8) << ((size - 1) * 8)) | (middle << 8) | (n & 0xFF) | 1
        other = rsa.RSAPublicNumbers(numbers.e, n2).public_key()
    elif isinstance(key, ec.EllipticCurvePublicKey):
        other = ec.generate_private_key(key.curve).public_key()
    elif isinstance(key, ed25519.Ed25519PublicKey):
        other = ed25519.Ed25519PrivateKey.generate().public_key()
    elif isinstance(key, ed448.Ed448PublicKey):
        other = ed448.Ed448PrivateKey.generate().public_key()
    elif isinstance(key, x25519.X25519PublicKey):
        other = x25519.X25519PrivateKey.generate().public_key()
    elif isinstance(key, x448.X448PublicKey):
        other = x448.X448PrivateKey.generate().public_key()
    elif isinstance(key, dsa.DSAPublicKey):
        dsa_numbers = key.public_numbers()
        p = dsa_numbers.parameter_numbers.p
        bits = dsa_numbers.y.bit_length()
        y2 = int.from_bytes(os.urandom((p.bit_length() + 7) // 8), "big") % (p - 3) + 2
        y2 = (y2 & ((1 << bits) - 1)) | (1 << (bits - 1))  # the same bit length as y
        other = dsa.DSAPublicNumbers(y2, dsa_numbers.parameter_numbers).public_key()
    else:
        return None
    encoded: bytes = other.public_bytes(serialization.Encoding.DER, spki)
    return encoded if len(encoded) == length else None


def carries_spki(source: object, der: bytes, signed: bytes) -> bool:
    """Whether the certificate or CSR ``source`` carries ``der`` (cryptography's re-encoding of
    its public key as a SubjectPublicKeyInfo) byte for byte as its own key.

    RFC 7469 section 2.4 hashes the SubjectPublicKeyInfo as the certificate encodes it, and so
    do the platforms (curl: ``i2d_X509_PUBKEY(X509_get_X509_PUBKEY(cert))``,
    ``lib/vtls/openssl.c``). cryptography re-encodes the key it parsed, which differs from the
    certificate's bytes for every lenient encoding: RSA-PSS parameters, RSA without NULL
    parameters, explicit EC curve parameters, compressed or hybrid EC points. Finding ``der``
    somewhere in the signed bytes is not enough: an extension or a subject can carry a copy of
    the re-encoding, whole (a decoy, reviews 11 and 11d) or straddling the real key field
    (reviews 11e, 11f). So each place ``der`` occurs is tested with cryptography itself as the
    oracle, without reading DER by hand: the occurrence is replaced by the SubjectPublicKeyInfo
    of a fresh random key of the same type and length, and the certificate loaded again. Only
    if cryptography then reads exactly that stand-in as the certificate's key was the
    occurrence the key field, start to end. An RSA key must also be named ``rsaEncryption``.
    Any doubt answers False: no SPKI pin, rather than a wrong one.

    Args:
        source: an :class:`x509.Certificate` or :class:`x509.CertificateSigningRequest`, or a
            key (then True when ``der`` is in ``signed``: a key file is checked elsewhere).
        der: the re-encoded SubjectPublicKeyInfo, DER.
        signed: the signed bytes of ``source`` (TBSCertificate or CertificationRequestInfo).
    """
    if der not in signed:
        return False
    if isinstance(source, x509.Certificate):
        load: Callable[[bytes], Any] = x509.load_der_x509_certificate
    elif isinstance(source, x509.CertificateSigningRequest):
        load = x509.load_der_x509_csr
    else:
        return True
    with quiet_cryptography():
        key = source.public_key()
    algorithm = getattr(source, "public_key_algorithm_oid", None)
    if isinstance(key, rsa.RSAPublicKey) and algorithm is not None and (
        algorithm != PublicKeyAlgorithmOID.RSAES_PKCS1_v1_5
    ):
        # RSA-PSS: cryptography re-encodes it as rsaEncryption (review 11e)
        return False
    with quiet_cryptography():
        stand_in = _stand_in(key, len(der))
    if stand_in is None:
        return False
    whole = source.public_bytes(serialization.Encoding.DER)
    at = whole.find(der)
    while at >= 0:
        mutated = whole[:at] + stand_in + whole[at + len(der):]
        with quiet_cryptography():
            try:
                read = load(mutated).public_key().public_bytes(
                    serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
                )
            except (ValueError, UnsupportedAlgorithm, TypeError):
                read = None  # the structure broke: this occurrence is not the key field
        if read == stand_in:
            return True
        at = whole.find(der, at + 1)
    return False
