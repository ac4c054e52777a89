"""Review 11f: a copy of the re-encoded SPKI that ends inside the certificate's own key field.

The certificate's own SubjectPublicKeyInfo names rsaEncryption without the NULL parameters, so
cryptography's re-encoding (with NULL) differs from it. The RSA exponent is chosen so that the
re-encoding ends with the first 17 bytes of the certificate's own SPKI (up to the end of the
algorithm OID), and the subject's last attribute ends with the rest of the re-encoding. The one
occurrence of the re-encoding then starts in the subject and ends on the last byte of the real
key's algorithm OID: flipping that byte makes the key unreadable, which ``carries_spki`` takes as
proof that the occurrence is the key field, and the pin of the re-encoding is returned instead
of a refusal.
"""

from __future__ import annotations

import datetime
import hashlib

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.name import _ASN1Type
from cryptography.x509.oid import NameOID

from certpin import CertificateError, spki_pin

_RSA_OID = bytes.fromhex("06092a864886f70d010101")
_SHA256_RSA = bytes.fromhex("300d06092a864886f70d01010b0500")
_HEAD = 17  # bytes of the certificate's own SPKI up to the end of its algorithm OID


def _tlv(tag: int, body: bytes) -> bytes:
    n = len(body)
    if n < 0x80:
        length = bytes([n])
    elif n < 0x100:
        length = bytes([0x81, n])
    else:
        length = bytes([0x82, n >> 8, n & 0xFF])
    return bytes([tag]) + length + body


def _int(value: int) -> bytes:
    return _tlv(2, value.to_bytes((value.bit_length() + 8) // 8, "big"))


def _spki_without_null(n: int, e: int) -> bytes:
    key = _tlv(0x30, _int(n) + _int(e))
    return _tlv(0x30, _tlv(0x30, _RSA_OID) + _tlv(3, b"\x00" + key))


def _crafted() -> tuple[bytes, bytes]:
    """(certificate DER, the certificate's own SPKI bytes)."""
    n = rsa.generate_private_key(65537, 2048).public_key().public_numbers().n
    placeholder = int.from_bytes(b"\x01" + b"\x00" * _HEAD, "big")
    head = _spki_without_null(n, placeholder)[:_HEAD]  # its lengths do not depend on e's value
    e = int.from_bytes(b"\x01" + head, "big")
    own = _spki_without_null(n, e)
    key = rsa.RSAPublicNumbers(e, n).public_key()
    der = key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    assert own[:_HEAD] == head and der.endswith(head) and der != own
    issuer_key = rsa.generate_private_key(65537, 2048)
    subject = x509.Name([
        x509.NameAttribute(NameOID.COMMON_NAME, "victim"),
        x509.NameAttribute(
            NameOID.X500_UNIQUE_IDENTIFIER, der[: len(der) - _HEAD], _type=_ASN1Type.BitString
        ),
    ])
    start = datetime.datetime(2024, 1, 1, tzinfo=datetime.UTC)
    built = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "issuer")]))
        .public_key(key)
        .serial_number(7)
        .not_valid_before(start)
        .not_valid_after(start + datetime.timedelta(days=3650))
        .sign(issuer_key, hashes.SHA256())
    )
    tbs = built.tbs_certificate_bytes
    assert tbs.count(der) == 1 and tbs[1] == 0x82
    tbs = _tlv(0x30, tbs[4:].replace(der, own))  # the key field now has no NULL
    signature = issuer_key.sign(tbs, padding.PKCS1v15(), hashes.SHA256())
    cert = _tlv(0x30, tbs + _SHA256_RSA + _tlv(3, b"\x00" + signature))
    loaded = x509.load_der_x509_certificate(cert)
    assert loaded.tbs_certificate_bytes == tbs
    assert own in tbs and der in tbs  # the only copy of der straddles subject and own SPKI
    return cert, own


def test_copy_ending_in_the_key_algorithm_is_not_the_key() -> None:
    cert, own = _crafted()
    expected = hashlib.sha256(own).digest()
    for source in (x509.load_der_x509_certificate(cert), cert):
        try:
            pin = spki_pin(source)
        except CertificateError:
            continue  # refusing is right: cryptography does not reproduce the key field
        assert pin.digest == expected, "SPKI pin is not sha256 of the certificate's own SPKI"
