"""Review 11d: a wrong SPKI pin with exit 0 (hybrid EC point + decoy), and empty check output.

1. Hybrid EC points bypass the review-11 decoy fix. ``certpin.pins.carries_spki`` accepts an EC
   certificate when cryptography's re-encoding of its key (always the *uncompressed* point,
   ``04 || X || Y``) is somewhere in the TBSCertificate and the *compressed* point
   (``02/03 || X``) is not. X9.62 has a third point form, *hybrid* (``06/07 || X || Y``), which
   OpenSSL reads and keeps (OpenSSL 3.0: ``crypto/ec/ecp_oct.c``,
   ``ossl_ec_GFp_simple_oct2point`` accepts ``POINT_CONVERSION_HYBRID``; ``crypto/ec/ec_asn1.c``,
   ``o2i_ECPublicKey`` keeps the form of the first octet; observed with OpenSSL 3.0.19 here), so
   ``openssl ec -conv_form hybrid`` and ``openssl x509 -force_pubkey`` make such certificates,
   and cryptography loads them (re-encoding the point uncompressed). A certificate with a
   hybrid point that carries the uncompressed SubjectPublicKeyInfo in a private extension passes
   every test of ``carries_spki`` (``src/certpin/pins.py``, the ``ec.EllipticCurvePublicKey``
   branch looks for the compressed form only; ``src/certpin/chainpins.py`` uses the same
   function), and certpin prints the pin of bytes the certificate does not hold, exit 0.

   What the platforms hash is the certificate's own SubjectPublicKeyInfo: curl
   ``lib/vtls/openssl.c`` (curl-7_88_1 lines 4039-4061: ``i2d_X509_PUBKEY(
   X509_get_X509_PUBKEY(cert))``, the encoding parsed from the certificate), and
   ``openssl x509 -pubkey | openssl pkey -pubin -outform der`` (the oracle of
   ``certpin.spki_pin``'s docstring), which keeps the hybrid form. Checked by hand against
   ``openssl s_server`` serving such a certificate: ``curl --pinnedpubkey sha256//<openssl's
   pin>`` exits 0, ``curl --pinnedpubkey`` with the pin ``certpin pins --format curl`` printed
   exits 90 (CURLE_SSL_PINNEDPUBKEYNOTMATCH); ``certpin pins 127.0.0.1:PORT --format json``
   printed the wrong pin as ``"verified": true`` with exit 0. The live curl differential is
   ``test_curl_accepts_the_pin_certpin_prints_for_a_hybrid_point`` below.

2. The same bypass with RSA: ``carries_spki`` checks only that an RSA certificate names
   ``rsaEncryption``. A SubjectPublicKeyInfo ``rsaEncryption`` *without* the NULL parameters
   is read by cryptography and by OpenSSL (both re-encode it with NULL); with the re-encoding in
   a private extension, certpin prints the pin of the re-encoding, exit 0, while curl hashes the
   certificate's own bytes (the ``i2d_X509_PUBKEY`` line above). Checked here against
   ``openssl s_server``: curl exits 90 with certpin's pin and 0 with the pin of the
   certificate's SubjectPublicKeyInfo (``openssl x509 -pubkey`` re-encodes here, so the oracle
   is the certificate's bytes, which the test builds).

3. ``certpin check --format json`` (and ``openmetrics``) on a policy with no pin set prints
   ``[]`` (no host checked) with exit 0: machine-readable output that is empty, exit 0
   (``src/certpin/commands/check.py``, ``run``: the exit status is computed only from the
   statuses of the reports, and an empty list has none).
"""

from __future__ import annotations

import base64
import hashlib
import shutil
import ssl
import subprocess
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from certpin import CertificateError, spki_pin
from certpin.chainpins import chain_pins
from certpin.cli import main
from support.servers import RecordingTLSServer

needs_openssl = pytest.mark.skipif(shutil.which("openssl") is None, reason="needs openssl")


def _sh(cmd: list[str], cwd: Path, stdin: bytes | None = None) -> bytes:
    return subprocess.run(cmd, cwd=cwd, input=stdin, capture_output=True, check=True).stdout


@pytest.fixture(scope="module")
def hybrid(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A leaf (CN and SAN 127.0.0.1, folder holds ``ca.pem``, ``leaf.pem``, ``key.pem``) whose
    P-256 key is written as a *hybrid* point, carrying its own uncompressed
    SubjectPublicKeyInfo in a private extension; and openssl's SPKI pin of it."""
    d = tmp_path_factory.mktemp("review11d-hybrid")
    _sh(["openssl", "ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", "key.pem"], d)
    _sh(["openssl", "ec", "-in", "key.pem", "-pubout", "-conv_form", "hybrid",
         "-out", "hybrid.pub"], d)
    uncompressed = _sh(["openssl", "ec", "-in", "key.pem", "-pubout", "-outform", "der"], d)
    assert len(uncompressed) == 91 and uncompressed[-65] == 0x04
    _sh(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-nodes", "-keyout", "ca.key", "-out", "ca.pem", "-subj", "/CN=review11d CA",
         "-days", "30"], d)
    (d / "ext.cnf").write_text(
        "basicConstraints=CA:FALSE\nsubjectAltName=IP:127.0.0.1\n"
        f"1.3.6.1.4.1.99999.1=DER:{uncompressed.hex()}\n"
    )
    _sh(["openssl", "x509", "-new", "-subj", "/CN=127.0.0.1", "-force_pubkey", "hybrid.pub",
         "-CA", "ca.pem", "-CAkey", "ca.key", "-days", "30", "-extfile", "ext.cnf",
         "-out", "leaf.pem"], d)
    pubkey_pem = _sh(["openssl", "x509", "-in", "leaf.pem", "-noout", "-pubkey"], d)
    spki = _sh(["openssl", "pkey", "-pubin", "-outform", "der"], d, stdin=pubkey_pem)
    # the certificate really carries the hybrid point (form 0x06 or 0x07), not the decoy's
    assert len(spki) == 91 and spki[-65] in (0x06, 0x07) and spki != uncompressed
    der = x509.load_pem_x509_certificate((d / "leaf.pem").read_bytes()).public_bytes(
        serialization.Encoding.DER)
    assert spki in der and uncompressed in der
    return d, base64.b64encode(hashlib.sha256(spki).digest()).decode()


@needs_openssl
def test_spki_pin_of_hybrid_point_is_openssls_or_refused(hybrid: tuple[Path, str]) -> None:
    d, openssl_pin = hybrid
    cert = x509.load_pem_x509_certificate((d / "leaf.pem").read_bytes())
    try:
        pin = spki_pin(cert)
    except CertificateError:
        return  # refused: fine (as for a compressed point)
    assert pin.base64 == openssl_pin


@needs_openssl
def test_chain_pins_of_hybrid_point_is_openssls_or_none(hybrid: tuple[Path, str]) -> None:
    d, openssl_pin = hybrid
    cert = x509.load_pem_x509_certificate((d / "leaf.pem").read_bytes())
    pin, _, _ = chain_pins(cert.public_bytes(serialization.Encoding.DER))
    assert pin is None or pin.base64 == openssl_pin


@needs_openssl
def test_cli_pins_of_hybrid_point_prints_no_wrong_pin(
    hybrid: tuple[Path, str], capsys: pytest.CaptureFixture[str]
) -> None:
    d, openssl_pin = hybrid
    code = main(["pins", "--format", "curl", str(d / "leaf.pem")])
    out = capsys.readouterr().out
    if code == 0:
        assert out.strip() == f"sha256//{openssl_pin}"
    else:
        assert "sha256//" not in out


@needs_openssl
@pytest.mark.skipif(shutil.which("curl") is None, reason="needs curl")
def test_curl_accepts_the_pin_certpin_prints_for_a_hybrid_point(
    hybrid: tuple[Path, str], capsys: pytest.CaptureFixture[str]
) -> None:
    """Live: a pin ``certpin pins HOST:PORT --format curl`` prints with exit 0 is one curl
    accepts for that server (curl exit 0, not 90)."""
    d, openssl_pin = hybrid
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(d / "leaf.pem", d / "key.pem")
    with RecordingTLSServer(ctx) as srv:
        target = f"127.0.0.1:{srv.port}"
        code = main(["pins", "--format", "curl", "--cafile", str(d / "ca.pem"), target])
        out = capsys.readouterr().out.strip()
        if code != 0:
            assert "sha256//" not in out
            return
        curl = subprocess.run(
            ["curl", "-s", "-o", "/dev/null", "--max-time", "10", "--cacert",
             str(d / "ca.pem"), "--pinnedpubkey", out, f"https://{target}/"],
            capture_output=True, check=False,
        )
        openssl_curl = subprocess.run(
            ["curl", "-s", "-o", "/dev/null", "--max-time", "10", "--cacert",
             str(d / "ca.pem"), "--pinnedpubkey", f"sha256//{openssl_pin}",
             f"https://{target}/"],
            capture_output=True, check=False,
        )
    assert openssl_curl.returncode == 0  # the oracle: openssl's pin is the one curl matches
    assert curl.returncode == 0, f"curl exit {curl.returncode} with certpin's pin {out}"


def _der(tag: int, body: bytes) -> bytes:
    """One DER element (test data only: certpin never hand-writes DER)."""
    n = len(body)
    size = bytes([n]) if n < 128 else (b"\x81" + bytes([n]) if n < 256 else
                                       b"\x82" + n.to_bytes(2, "big"))
    return bytes([tag]) + size + body


@pytest.fixture(scope="module")
def rsa_absent(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A leaf for 127.0.0.1 whose RSA SubjectPublicKeyInfo names rsaEncryption without
    parameters, carrying cryptography's re-encoding (with NULL) in a private extension; and the
    pin of the certificate's own SubjectPublicKeyInfo bytes."""
    import datetime
    import ipaddress

    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec, rsa
    from cryptography.x509.oid import NameOID

    d = tmp_path_factory.mktemp("review11d-rsa")
    ca_key = ec.generate_private_key(ec.SECP256R1())
    key = rsa.generate_private_key(65537, 2048)
    spki = key.public_key().public_bytes(serialization.Encoding.DER,
                                         serialization.PublicFormat.SubjectPublicKeyInfo)
    now = datetime.datetime.now(datetime.UTC)

    def name(cn: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])

    def builder(subject: str) -> x509.CertificateBuilder:
        return (x509.CertificateBuilder().subject_name(name(subject)).issuer_name(name("CA"))
                .serial_number(x509.random_serial_number())
                .not_valid_before(now - datetime.timedelta(days=1))
                .not_valid_after(now + datetime.timedelta(days=30)))

    ca = (builder("CA").public_key(ca_key.public_key())
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .sign(ca_key, hashes.SHA256()))
    leaf = (builder("127.0.0.1").public_key(key.public_key())
            .add_extension(x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
            .add_extension(x509.UnrecognizedExtension(
                x509.ObjectIdentifier("1.3.6.1.4.1.99999.1"), spki), critical=False)
            .sign(ca_key, hashes.SHA256()))
    tbs = leaf.tbs_certificate_bytes
    with_null = bytes.fromhex("300d06092a864886f70d0101010500")
    bit_string = spki[4 + len(with_null):]
    assert spki[4:4 + len(with_null)] == with_null and bit_string[0] == 0x03
    own_spki = _der(0x30, bytes.fromhex("300b06092a864886f70d010101") + bit_string)
    at = tbs.index(spki)  # the subjectPublicKeyInfo comes before the extensions
    tbs = _der(0x30, tbs[4:at] + own_spki + tbs[at + len(spki):])
    signature = ca_key.sign(tbs, ec.ECDSA(hashes.SHA256()))
    ecdsa_sha256 = bytes.fromhex("300a06082a8648ce3d040302")
    cert = _der(0x30, tbs + ecdsa_sha256 + _der(0x03, b"\x00" + signature))
    loaded = x509.load_der_x509_certificate(cert)
    assert own_spki in loaded.tbs_certificate_bytes and spki in loaded.tbs_certificate_bytes
    (d / "leaf.pem").write_bytes(loaded.public_bytes(serialization.Encoding.PEM))
    (d / "key.pem").write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                                  serialization.PrivateFormat.PKCS8,
                                                  serialization.NoEncryption()))
    (d / "ca.pem").write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    return d, base64.b64encode(hashlib.sha256(own_spki).digest()).decode()


def test_spki_pin_of_rsa_without_null_parameters_is_the_certificates_or_refused(
    rsa_absent: tuple[Path, str]
) -> None:
    d, own_pin = rsa_absent
    cert = x509.load_pem_x509_certificate((d / "leaf.pem").read_bytes())
    try:
        pin = spki_pin(cert)
    except CertificateError:
        return
    assert pin.base64 == own_pin


@needs_openssl
@pytest.mark.skipif(shutil.which("curl") is None, reason="needs curl")
def test_curl_accepts_the_pin_certpin_prints_for_rsa_without_null_parameters(
    rsa_absent: tuple[Path, str], capsys: pytest.CaptureFixture[str]
) -> None:
    """Live: curl matches the pin of the certificate's own bytes (the oracle), and must match
    the pin ``certpin pins HOST:PORT --format curl`` prints with exit 0."""
    d, own_pin = rsa_absent
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(d / "leaf.pem", d / "key.pem")
    with RecordingTLSServer(ctx) as srv:
        target = f"127.0.0.1:{srv.port}"
        code = main(["pins", "--format", "curl", "--cafile", str(d / "ca.pem"), target])
        out = capsys.readouterr().out.strip()

        def curl(pin: str) -> int:
            return subprocess.run(
                ["curl", "-s", "-o", "/dev/null", "--max-time", "10", "--cacert",
                 str(d / "ca.pem"), "--pinnedpubkey", pin, f"https://{target}/"],
                capture_output=True, check=False).returncode

        oracle = curl(f"sha256//{own_pin}")
        mine = curl(out) if code == 0 else None
    assert oracle == 0
    if code != 0:
        assert "sha256//" not in out
        return
    assert mine == 0, f"curl exit {mine} with certpin's pin {out}"


@pytest.mark.parametrize("fmt", ["json", "openmetrics"])
def test_check_of_a_policy_without_pin_sets_is_not_exit_0(
    tmp_path: Path, fmt: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """No host checked: the machine-readable output holds no report, so not exit 0."""
    policy = tmp_path / "empty.toml"
    policy.write_text("version = 1\n")
    code = main(["check", str(policy), "--format", fmt])
    out = capsys.readouterr().out
    assert code != 0, f"certpin check --format {fmt} printed {out!r} (no report) with exit 0"
