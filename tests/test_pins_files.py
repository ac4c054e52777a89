"""Real bundles and awkward files: certifi, Debian's store, cryptography-vectors."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from pathlib import Path

import certifi
import cryptography_vectors
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import NameOID

from certpin import CertificateError, cert_pin, load_certificates, spki_pin
from support.obtain_certs import openssl_pin

VECTORS = Path(os.path.dirname(cryptography_vectors.__file__))
X509 = VECTORS / "x509"
ISRG_ROOT_X1 = "C5+lpZ7tcVwmwQIMcRtPbsQtWLABXhQzejna0wHFr8M="
#: TESTDATA.md: published pins checked against the openssl pipeline
PUBLISHED = {
    "ISRG Root X1": ISRG_ROOT_X1,
    "GTS Root R1": "hxqRlPTu1bMS/0DITB1SSu0vd4u/8l8TjPgfaAp63Gc=",
    "Amazon Root CA 1": "++MBgDH5WGvL9Bcn5Be30cRcL0f5O+NyoXuWtQdX1aI=",
    "GlobalSign": "cGuxAXyFXFkWm61cF4HPWX8S0srS9j0aSqN0k4AP+4A=",  # GlobalSign Root CA - R3
}


def _cn(cert) -> str:  # type: ignore[no-untyped-def]
    attrs = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(attrs[0].value) if attrs else ""


def test_the_whole_certifi_bundle_loads() -> None:
    data = Path(certifi.where()).read_bytes()
    certs = load_certificates(data)
    assert len(certs) == data.count(b"-----BEGIN CERTIFICATE-----")
    assert len(certs) > 100
    pins = {spki_pin(c) for c in certs}
    assert len(pins) >= len(certs) - 5  # a few roots were re-issued with the same key
    assert len({cert_pin(c) for c in certs}) == len(certs)


def test_published_root_pins() -> None:
    certs = load_certificates(Path(certifi.where()).read_bytes())
    by_cn = {_cn(c): c for c in certs}
    assert spki_pin(by_cn["ISRG Root X1"]).base64 == ISRG_ROOT_X1
    assert spki_pin(by_cn["GTS Root R1"]).base64 == PUBLISHED["GTS Root R1"]
    assert spki_pin(by_cn["Amazon Root CA 1"]).base64 == PUBLISHED["Amazon Root CA 1"]
    glob_r3 = [c for c in certs if _cn(c) == "GlobalSign" and
               "Root CA - R3" in c.subject.rfc4514_string()]
    assert [spki_pin(c).base64 for c in glob_r3] == [PUBLISHED["GlobalSign"]]


def test_certifi_pins_equal_openssl_for_a_sample() -> None:
    certs = load_certificates(Path(certifi.where()).read_bytes())
    for cert in certs[::15]:
        pem = cert.public_bytes(serialization.Encoding.PEM)
        assert spki_pin(cert).base64 == openssl_pin(pem), _cn(cert)


def test_certifi_loads_quietly_under_w_error() -> None:
    code = (
        "import certifi, certpin, pathlib\n"
        "data = pathlib.Path(certifi.where()).read_bytes()\n"
        "certs = certpin.load_certificates(data)\n"
        "pins = [certpin.spki_pin(c) for c in certs] + [certpin.cert_pin(c) for c in certs]\n"
        "assert len(certs) == data.count(b'-----BEGIN CERTIFICATE-----')\n"
        "isrg = [c for c in certs if 'CN=ISRG Root X1' in c.subject.rfc4514_string()]\n"
        "print(len(certs), certpin.spki_pin(isrg[0]).base64)\n"
    )
    out = subprocess.run([sys.executable, "-W", "error", "-c", code],
                         capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stderr
    assert out.stderr == ""
    assert out.stdout.split()[1] == ISRG_ROOT_X1


def test_a_root_with_a_non_positive_serial_loads_under_w_error() -> None:
    code = (
        "import certpin, pathlib\n"
        f"data = pathlib.Path({str(X509 / 'custom' / 'negative_serial.pem')!r}).read_bytes()\n"
        "(cert,) = certpin.load_certificates(data)\n"
        "print(certpin.spki_pin(data), certpin.cert_pin(cert))\n"
    )
    out = subprocess.run([sys.executable, "-W", "error", "-c", code],
                         capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stderr
    assert out.stderr == ""
    assert out.stdout.startswith("sha256/+VACYBeHZRm1EocDPJRJPQhj4Okg1oM68CGX4jdD0q0= cert-sha256/")


@pytest.mark.skipif(not Path("/etc/ssl/certs/ca-certificates.crt").exists(),
                    reason="no Debian system store on this machine")
def test_debian_system_store_loads() -> None:
    data = Path("/etc/ssl/certs/ca-certificates.crt").read_bytes()
    assert len(load_certificates(data)) == data.count(b"-----BEGIN CERTIFICATE-----")


# --- cryptography-vectors: awkward encodings -------------------------------------------------

LEAF_PIN = "jeHmKR1BO+YKvR3Re25kVbbBci7g3TE513U0i1o2l8I="  # www.cryptography.io (openssl agrees)


@pytest.mark.parametrize(
    "name",
    [
        "cryptography.io.pem",
        "cryptography.io.old_header.pem",  # -----BEGIN X509 CERTIFICATE-----
        "cryptography.io.with_headers.pem",  # PEM headers inside the block
        "cryptography.io.with_garbage.pem",  # text around the block
    ],
)
def test_awkward_single_certificate_files(name: str) -> None:
    data = (X509 / name).read_bytes()
    (cert,) = load_certificates(data)
    assert spki_pin(cert).base64 == LEAF_PIN
    assert spki_pin(data).base64 == LEAF_PIN
    assert openssl_pin((X509 / "cryptography.io.pem").read_bytes()) == LEAF_PIN


def test_chain_with_garbage_and_a_private_key_block() -> None:
    data = (X509 / "cryptography.io.chain_with_garbage.pem").read_bytes()
    certs = load_certificates(data)
    assert [_cn(c) for c in certs] == ["www.cryptography.io", "RapidSSL SHA256 CA - G3"]
    assert load_certificates((X509 / "cryptography.io.chain.pem").read_bytes()) == certs
    with pytest.raises(CertificateError, match="holds 2 certificates"):
        spki_pin(data)


def test_crlf_line_endings() -> None:
    data = (X509 / "cryptography.io.chain.pem").read_bytes().replace(b"\n", b"\r\n")
    assert len(load_certificates(data)) == 2


def test_der_certificate() -> None:
    pem = (X509 / "cryptography.io.pem").read_bytes()
    (cert,) = load_certificates(pem)
    der = cert.public_bytes(serialization.Encoding.DER)
    assert load_certificates(der) == [cert]
    assert spki_pin(der).base64 == LEAF_PIN
    assert cert_pin(der) == cert_pin(pem)


@pytest.mark.parametrize("name", ["amazon-roots.p7b", "amazon-roots.der", "isrg.pem"])
def test_pkcs7_bundles(name: str) -> None:
    certs = load_certificates((VECTORS / "pkcs7" / name).read_bytes())
    names = {_cn(c) for c in certs}
    assert names in ({"Amazon Root CA 2", "Amazon Root CA 3"}, {"ISRG Root X1"})
    if name == "isrg.pem":
        assert spki_pin((VECTORS / "pkcs7" / name).read_bytes()).base64 == ISRG_ROOT_X1


@pytest.mark.parametrize(
    ("name", "pin"),
    [
        ("ed25519/server-ed25519-cert.pem", "z/U5lsXV9mKAMCBN/ukt87wjwkvawPFMeHU6kWGGaRs="),
        ("ed448/server-ed448-cert.pem", None),
        ("ed25519/root-ed25519.pem", None),
        ("ed448/root-ed448.pem", None),
    ],
)
def test_ed25519_and_ed448_certificates(name: str, pin: str | None) -> None:
    data = (X509 / name).read_bytes()
    got = spki_pin(data).base64
    assert got == openssl_pin(data)
    if pin is not None:
        assert got == pin


@pytest.mark.parametrize(
    "name", ["ec_sha256.pem", "ec_sha256.der", "ec_sha256_old_header.pem", "rsa_sha256.pem",
             "rsa_sha256.der", "dsa_sha1.pem", "dsa_sha1.der", "rsa_md4.pem"]
)
def test_csrs_give_the_spki_pin_of_their_key(name: str) -> None:
    data = (X509 / "requests" / name).read_bytes()
    pin = spki_pin(data)
    pem = data if data.startswith(b"-----") else None
    args = ["openssl", "req", "-pubkey", "-noout"] + ([] if pem else ["-inform", "der"])
    key = subprocess.run(args, input=data, capture_output=True, check=True).stdout
    oracle = subprocess.run(
        ["sh", "-c", "openssl pkey -pubin -outform der | openssl dgst -sha256 -binary | base64"],
        input=key, capture_output=True, check=True,
    ).stdout.decode().strip()
    assert pin.base64 == oracle
    with pytest.raises(CertificateError, match="no certificate"):
        load_certificates(data)
    with pytest.raises(CertificateError):
        cert_pin(data)


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("custom/unsupported_subject_public_key_info.pem", "does not support this key algorithm"),
        ("e-trust.ru.der", "does not support this key algorithm"),  # GOST key
        ("custom/rsa_pss_cert.pem", "byte for byte"),  # re-encoding would give a wrong pin
        ("custom/ec_no_named_curve.pem", "byte for byte"),  # explicit curve parameters
    ],
)
def test_keys_cryptography_cannot_pin_are_certificate_errors(path: str, message: str) -> None:
    data = (X509 / path).read_bytes()
    (cert,) = load_certificates(data)  # the certificate itself loads
    with pytest.raises(CertificateError, match=message):
        spki_pin(cert)
    with pytest.raises(CertificateError, match=message):
        spki_pin(data)
    assert cert_pin(cert).kind == "cert"  # a certificate pin is always possible


@pytest.mark.parametrize(
    "path",
    ["custom/invalid_version.pem", "custom/dsa_null_alg_params.pem", "badasn1time.pem",
     "requests/bad-version.pem", "custom/crl_empty.pem", "ocsp/resp-sha256.der"],
)
def test_broken_files_are_certificate_errors(path: str) -> None:
    file = X509 / path
    if not file.exists():
        pytest.skip(f"{path} is not in this cryptography-vectors version")
    data = file.read_bytes()
    for function in (load_certificates, spki_pin, cert_pin):
        try:
            function(data)  # type: ignore[operator]
        except CertificateError as exc:
            assert str(exc)


def test_every_vector_file_gives_a_pin_or_a_certificate_error() -> None:
    """No foreign exception from any x509 vector (PKITS excluded: thousands of plain certs)."""
    count = 0
    for file in sorted(X509.rglob("*")):
        if not file.is_file() or "PKITS" in file.parts or file.suffix not in (".pem", ".der"):
            continue
        data = file.read_bytes()
        count += 1
        for function in (load_certificates, spki_pin):
            with contextlib.suppress(CertificateError):
                function(data)  # type: ignore[operator]
    assert count > 100
