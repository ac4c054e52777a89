"""Review 11e: a wrong SPKI pin with exit 0 (RSA-PSS parameters that end with a decoy header).

``certpin.pins.carries_spki`` (``src/certpin/pins.py``) accepts a certificate when one
occurrence of cryptography's re-encoding ``der`` of its key, with its *last* byte flipped,
changes (or breaks) the key cryptography reads. That proves the occurrence *ends* inside the
certificate's key field, not that it *is* the key field. cryptography re-encodes an RSA-PSS
SubjectPublicKeyInfo as ``rsaEncryption`` with NULL parameters and the *same* BIT STRING. So an
RSA-PSS SubjectPublicKeyInfo whose parameters end with the bytes ``30 82 01 22`` (the
re-encoding's header) followed by ``30 0d 06 09 <rsaEncryption> 05 00`` (its
AlgorithmIdentifier) holds ``der`` as a suffix straddling its parameters and its BIT STRING:
flipping the last byte of that occurrence flips the last byte of the real key, the test passes,
and certpin gives the pin of bytes the certificate does not hold as its SubjectPublicKeyInfo.

cryptography 50 reads such parameters without complaint: a ``maskGenAlgorithm`` (or
``hashAlgorithm``) whose OID is any OID (here ``1.3.6.1.4.1.99999`` followed by arcs whose
encoding ends ``30 82 01 22``) and whose AlgorithmIdentifier is ``rsaEncryption`` + NULL.

The oracle is the certificate's own SubjectPublicKeyInfo bytes, which the test builds (RFC 7469
section 2.4 hashes the SubjectPublicKeyInfo as the certificate encodes it; curl
``lib/vtls/openssl.c`` hashes ``i2d_X509_PUBKEY(X509_get_X509_PUBKEY(cert))``). OpenSSL 3.0
itself cannot decode this key (``openssl x509 -pubkey``: ``X509_PUBKEY_get0: decode error``),
so there is no live server differential: the right answer is the certificate's own bytes'
pin, or a refusal, never the pin of cryptography's re-encoding. Seen here:
``certpin pins leaf.pem --format json`` prints ``"spki_pin"`` of the re-encoding, exit 0.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import json
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from certpin import CertificateError, spki_pin
from certpin.chainpins import chain_pins
from certpin.cli import main

_RSA_ALGID = bytes.fromhex("300d06092a864886f70d0101010500")  # rsaEncryption, NULL
_PSS_OID = bytes.fromhex("06092a864886f70d01010a")  # id-RSASSA-PSS
_ECDSA_SHA256 = bytes.fromhex("300a06082a8648ce3d040302")


def _der(tag: int, body: bytes) -> bytes:
    """One DER element (test data only: certpin never hand-writes DER)."""
    n = len(body)
    size = bytes([n]) if n < 128 else (b"\x81" + bytes([n]) if n < 256 else
                                       b"\x82" + n.to_bytes(2, "big"))
    return bytes([tag]) + size + body


def _pss_straddling(field: int) -> tuple[bytes, str, str]:
    """A certificate (DER) whose RSA-PSS SubjectPublicKeyInfo ends with cryptography's
    re-encoding of its key; the pin of its own SubjectPublicKeyInfo; the re-encoding's pin.

    ``field`` is the RsaPssParameters context tag used: 0xA0 hashAlgorithm, 0xA1
    maskGenAlgorithm."""
    ca_key = ec.generate_private_key(ec.SECP256R1())
    key = rsa.generate_private_key(65537, 2048)
    spki = key.public_key().public_bytes(serialization.Encoding.DER,
                                         serialization.PublicFormat.SubjectPublicKeyInfo)
    assert spki[4:4 + len(_RSA_ALGID)] == _RSA_ALGID
    header, bit_string = spki[:4], spki[4 + len(_RSA_ALGID):]
    # OID 1.3.6.1.4.1.99999.48.32930: its encoding ends with the re-encoding's header 30 82 01 22
    oid = _der(0x06, bytes.fromhex("2b06010401868d1f") + header)
    params = _der(0x30, _der(field, _der(0x30, oid + _RSA_ALGID)))
    own_spki = _der(0x30, _der(0x30, _PSS_OID + params) + bit_string)
    assert own_spki.endswith(spki)
    now = datetime.datetime.now(datetime.UTC)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    leaf = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=30))
            .public_key(key.public_key()).sign(ca_key, hashes.SHA256()))
    tbs = leaf.tbs_certificate_bytes
    at = tbs.index(spki)
    tbs = _der(0x30, tbs[4:at] + own_spki + tbs[at + len(spki):])
    signature = ca_key.sign(tbs, ec.ECDSA(hashes.SHA256()))
    cert = _der(0x30, tbs + _ECDSA_SHA256 + _der(0x03, b"\x00" + signature))
    loaded = x509.load_der_x509_certificate(cert)
    assert loaded.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo) == spki

    def pin(b: bytes) -> str:
        return base64.b64encode(hashlib.sha256(b).digest()).decode()

    return cert, pin(own_spki), pin(spki)


@pytest.fixture(scope="module", params=[0xA0, 0xA1], ids=["hashAlgorithm", "maskGenAlgorithm"])
def pss(request: pytest.FixtureRequest) -> tuple[bytes, str, str]:
    return _pss_straddling(request.param)


def test_spki_pin_of_straddling_rsa_pss_is_the_certificates_or_refused(
    pss: tuple[bytes, str, str]
) -> None:
    cert, own_pin, reencoded_pin = pss
    try:
        pin = spki_pin(x509.load_der_x509_certificate(cert))
    except CertificateError:
        return
    assert pin.base64 == own_pin, f"certpin pinned the re-encoding ({reencoded_pin})"


def test_chain_pins_of_straddling_rsa_pss_is_the_certificates_or_none(
    pss: tuple[bytes, str, str]
) -> None:
    cert, own_pin, _ = pss
    spki, _, _ = chain_pins(cert)
    assert spki is None or spki.base64 == own_pin


def test_cli_pins_of_straddling_rsa_pss_prints_no_wrong_pin(
    pss: tuple[bytes, str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cert, own_pin, reencoded_pin = pss
    path = tmp_path / "leaf.pem"
    path.write_bytes(x509.load_der_x509_certificate(cert).public_bytes(
        serialization.Encoding.PEM))
    code = main(["pins", "--format", "json", str(path)])
    out = capsys.readouterr().out
    assert reencoded_pin not in out, f"exit {code}: {out}"
    if code == 0:
        printed = json.loads(out)[0]["certificates"][0]["spki_pin"]
        assert printed in (None, f"sha256/{own_pin}")
