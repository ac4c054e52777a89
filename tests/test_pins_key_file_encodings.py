"""Key files whose public key cryptography does not write back byte for byte (issue 11 item 1).

RSA-PSS keys (their PSS parameters), EC keys with explicit curve parameters and EC keys with a
compressed point: a certificate made by openssl for such a key carries that same encoding, so the
pin of a cryptography re-encoding would never match it. certpin refuses these key files with a
clear error, as it refuses their certificates; ordinary key files still give openssl's pin.
"""

from __future__ import annotations

import base64
import hashlib
import json
import shutil
import subprocess
from pathlib import Path

import pytest
from cryptography import x509

from certpin import CertificateError, spki_pin
from certpin.chainpins import chain_pins
from certpin.cli import main
from support.cli import one_error_line

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl CLI")


def _openssl(*args: str, stdin: bytes | None = None) -> bytes:
    return subprocess.run(["openssl", *args], input=stdin, capture_output=True, check=True,
                          timeout=60).stdout


def _openssl_pin(public_der: bytes) -> str:
    return base64.b64encode(hashlib.sha256(public_der).digest()).decode()


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Key files made by openssl: odd encodings, and an ordinary P-256 key beside them."""
    d = tmp_path_factory.mktemp("odd-keys")
    _openssl("genpkey", "-algorithm", "RSA-PSS", "-pkeyopt", "rsa_keygen_bits:2048",
             "-out", str(d / "pss.key"))
    _openssl("ecparam", "-name", "prime256v1", "-genkey", "-noout", "-param_enc", "explicit",
             "-out", str(d / "explicit.key"))
    _openssl("ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", str(d / "named.key"))
    _openssl("ec", "-in", str(d / "named.key"), "-conv_form", "compressed",
             "-out", str(d / "compressed.key"))
    for name in ("pss", "explicit", "named", "compressed"):
        key = str(d / f"{name}.key")
        _openssl("pkey", "-in", key, "-pubout", "-out", str(d / f"{name}.pub"))
        _openssl("req", "-new", "-x509", "-key", key, "-subj", f"/CN={name}", "-days", "2",
                 "-out", str(d / f"{name}.crt"))
    return {p.name: p for p in d.iterdir()}


ODD = ["pss.key", "pss.pub", "explicit.key", "explicit.pub", "compressed.key", "compressed.pub"]


@pytest.mark.parametrize("name", ODD)
def test_a_key_file_whose_encoding_cryptography_changes_is_refused(
    name: str, keys: dict[str, Path]
) -> None:
    data = keys[name].read_bytes()
    stem = name.split(".", maxsplit=1)[0]
    # what openssl pins for this file and for the certificate it makes from the key: the same
    cert_spki = _openssl("x509", "-in", str(keys[f"{stem}.crt"]), "-pubkey", "-noout")
    openssl = _openssl_pin(_openssl("pkey", "-pubin", "-outform", "der", stdin=cert_spki))
    in_opt = ["-pubin"] if name.endswith(".pub") else []
    key_der = _openssl("pkey", *in_opt, "-in", str(keys[name]), "-pubout", "-outform", "der")
    assert _openssl_pin(key_der) == openssl
    with pytest.raises(CertificateError) as info:
        spki_pin(data)
    message = str(info.value)
    assert "byte for byte" in message and "cert-sha256" in message, message
    assert ("RSA-PSS" if stem == "pss" else "compressed point") in message
    assert "\n" not in message


@pytest.mark.parametrize("name", ODD)
def test_the_cli_refuses_it_with_one_line_and_exit_1(
    name: str, keys: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    for fmt in ("text", "json", "curl", "hpkp"):
        code = main(["pins", str(keys[name]), "--format", fmt])
        out, err = capsys.readouterr()
        assert code == 1, (fmt, out)
        line = one_error_line(err)
        assert line.startswith(f"certpin pins: error: {keys[name]}: ") and "byte for byte" in line
        if fmt == "json":
            (target,) = json.loads(out)
            assert target["certificates"] == [] and "byte for byte" in target["error"]
        else:
            assert out == ""


@pytest.mark.parametrize("stem", ["pss", "explicit", "compressed"])
def test_their_certificates_are_refused_too_and_give_no_wrong_spki_pin_at_run_time(
    stem: str, keys: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    cert = x509.load_pem_x509_certificate(keys[f"{stem}.crt"].read_bytes())
    with pytest.raises(CertificateError, match="byte for byte"):
        spki_pin(cert)
    # the TLS layer's per-certificate pins: no SPKI pin rather than the pin of re-encoded bytes
    from cryptography.hazmat.primitives.serialization import Encoding

    spki, cert_pin, _ = chain_pins(cert.public_bytes(Encoding.DER))
    assert spki is None and cert_pin.kind == "cert"
    # `certpin pins` names the real reason, not "cannot decode"
    assert main(["pins", str(keys[f"{stem}.crt"]), "--format", "json"]) == 0
    (info,) = json.loads(capsys.readouterr().out)[0]["certificates"]
    assert info["spki_pin"] is None
    assert "byte for byte" in info["spki_error"] and "cannot decode" not in info["spki_error"]
    assert info["key_type"] == ("RSA" if stem == "pss" else "EC P-256")


@pytest.mark.parametrize("name", ["named.key", "named.pub", "named.crt"])
def test_an_ordinary_key_still_gives_openssls_pin(name: str, keys: dict[str, Path]) -> None:
    cert_spki = _openssl("x509", "-in", str(keys["named.crt"]), "-pubkey", "-noout")
    expected = _openssl_pin(_openssl("pkey", "-pubin", "-outform", "der", stdin=cert_spki))
    assert spki_pin(keys[name].read_bytes()).base64 == expected
