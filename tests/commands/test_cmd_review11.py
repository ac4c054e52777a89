"""Review 11: SPKI pins of a certificate whose key cryptography re-encodes differently.

certpin refuses an SPKI pin when cryptography's re-encoding of a certificate's key (a compressed
EC point, explicit curve parameters, RSA-PSS parameters) is not the SubjectPublicKeyInfo the
certificate carries. It tests that by looking for the re-encoded bytes *anywhere* in the
TBSCertificate (``der not in signed`` in ``certpin/pins.py`` and ``certpin/chainpins.py``). A
certificate whose key is a compressed point but which also carries the uncompressed
SubjectPublicKeyInfo in an extension passes that test, and certpin prints the pin of the
uncompressed encoding, with exit 0.

What the platforms hash is the certificate's own SubjectPublicKeyInfo, byte for byte:
curl ``lib/vtls/openssl.c:4417-4426`` (curl/curl at 5c61e168, ``i2d_X509_PUBKEY(
X509_get_X509_PUBKEY(cert))``, the encoding the certificate was parsed from), and
``openssl x509 -pubkey`` (the oracle of ``certpin.spki_pin``'s docstring). Checked by hand:
``curl --pinnedpubkey sha256//<openssl's pin>`` against ``openssl s_server`` with this
certificate exits 0, with certpin's pin exits 90 (CURLE_SSL_PINNEDPUBKEYNOTMATCH).
"""

from __future__ import annotations

import base64
import hashlib
import shutil
import subprocess
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from certpin import CertificateError, spki_pin
from certpin.chainpins import chain_pins
from certpin.cli import main

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="needs openssl")


def _sh(cmd: list[str], cwd: Path, stdin: bytes | None = None) -> bytes:
    return subprocess.run(cmd, cwd=cwd, input=stdin, capture_output=True, check=True).stdout


@pytest.fixture(scope="module")
def decoy(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A self-signed P-256 certificate with a compressed point, carrying its own uncompressed
    SubjectPublicKeyInfo in a private extension; and openssl's SPKI pin of it."""
    d = tmp_path_factory.mktemp("review11-decoy")
    _sh(["openssl", "ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", "named.pem"], d)
    _sh(["openssl", "ec", "-in", "named.pem", "-conv_form", "compressed", "-out", "key.pem"], d)
    uncompressed = _sh(["openssl", "ec", "-in", "named.pem", "-pubout", "-outform", "der"], d)
    assert len(uncompressed) < 128
    octets = "04" + f"{len(uncompressed):02x}" + uncompressed.hex()
    _sh(["openssl", "req", "-x509", "-new", "-key", "key.pem", "-subj", "/CN=decoy.test",
         "-days", "30", "-addext", f"1.3.6.1.4.1.99999.1=DER:{octets}", "-out", "cert.pem"], d)
    pubkey_pem = _sh(["openssl", "x509", "-in", "cert.pem", "-noout", "-pubkey"], d)
    spki = _sh(["openssl", "pkey", "-pubin", "-outform", "der"], d, stdin=pubkey_pem)
    # the certificate really carries the compressed point (33-byte point + headers)
    assert len(spki) == 59 and spki != uncompressed
    return d / "cert.pem", base64.b64encode(hashlib.sha256(spki).digest()).decode()


def test_spki_pin_of_decoy_is_openssls_or_refused(decoy: tuple[Path, str]) -> None:
    path, openssl_pin = decoy
    cert = x509.load_pem_x509_certificate(path.read_bytes())
    try:
        pin = spki_pin(cert)
    except CertificateError:
        return  # refused: fine (as for any compressed-point certificate)
    assert pin.base64 == openssl_pin


def test_chain_pins_of_decoy_is_openssls_or_none(decoy: tuple[Path, str]) -> None:
    path, openssl_pin = decoy
    cert = x509.load_pem_x509_certificate(path.read_bytes())
    pin, _, _ = chain_pins(cert.public_bytes(serialization.Encoding.DER))
    assert pin is None or pin.base64 == openssl_pin


def test_cli_pins_of_decoy_prints_no_wrong_pin(
    decoy: tuple[Path, str], capsys: pytest.CaptureFixture[str]
) -> None:
    path, openssl_pin = decoy
    code = main(["pins", "--format", "curl", str(path)])
    out = capsys.readouterr().out
    if code == 0:
        assert out.strip() == f"sha256//{openssl_pin}"
    else:
        assert "sha256//" not in out or openssl_pin in out
