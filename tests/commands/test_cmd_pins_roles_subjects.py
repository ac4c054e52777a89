"""``certpin pins``: each certificate's role, and subjects printed as RFC 4514 says them.

Issue 11 item 4: subjects came out with doubled backslashes (``O=GoDaddy.com\\\\, Inc.``) in text
and JSON. Issue 12 item 1 (part): the output says each certificate's role, ``leaf`` or ``ca``.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

import certpin
from certpin.chainpins import chain_pins
from certpin.cli import main
from support.obtain_certs import Leaf, TestPKI, key_pem, pem, self_signed
from support.servers import RecordingTLSServer

GODADDY = Path(__file__).parent.parent / "fixtures" / "godaddy-class2-root.pem"
GODADDY_SUBJECT = "OU=Go Daddy Class 2 Certification Authority,O=The Go Daddy Group\\, Inc.,C=US"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["pins", *argv])
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    return code, out, err


# --- item 4: subjects ---------------------------------------------------------------------------

def test_the_fixture_subject_has_one_backslash_as_cryptography_gives_it() -> None:
    (cert,) = certpin.load_certificates(GODADDY.read_bytes())
    assert cert.subject.rfc4514_string() == GODADDY_SUBJECT
    assert GODADDY_SUBJECT.count("\\") == 1


def test_text_prints_the_subject_with_one_backslash(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, str(GODADDY))
    assert code == 0
    assert f"      subject    {GODADDY_SUBJECT}\n" in out
    assert f"      issuer     {GODADDY_SUBJECT}\n" in out
    assert "\\\\" not in out


def test_json_escapes_the_backslash_once(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, str(GODADDY), "--format", "json")
    assert code == 0
    (cert,) = json.loads(out)[0]["certificates"]
    assert cert["subject"] == cert["issuer"] == GODADDY_SUBJECT
    assert 'Group\\\\, Inc.' in out and 'Group\\\\\\\\' not in out  # raw JSON: \\ once


def test_failure_messages_show_the_subject_as_rfc_4514_says_it() -> None:
    """chain_pins feeds PinMismatchError, verdicts and health reports."""
    der = certpin.load_certificates(GODADDY.read_bytes())[0].public_bytes(
        serialization.Encoding.DER)
    assert chain_pins(der)[2] == GODADDY_SUBJECT
    policy = certpin.PinPolicy({"pinned.test": certpin.PinSet(
        ["sha256/" + "A" * 43 + "=", "sha256/B" + "A" * 42 + "="])})
    verdict = certpin.check(policy, "pinned.test", [der])
    assert f"  {GODADDY_SUBJECT}" in verdict.message


def test_control_characters_are_still_escaped_beside_an_rfc_4514_backslash(
    capsys: pytest.CaptureFixture[str], tmp_path: Path,
) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "a,b\x1b[31m\\c\u202e")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(1)
            .not_valid_before(now).not_valid_after(now + dt.timedelta(days=1))
            .sign(key, hashes.SHA256()))
    path = tmp_path / "odd.pem"
    path.write_bytes(pem(cert))
    code, out, _ = run(capsys, str(path), "--format", "json")
    assert code == 0
    subject = json.loads(out)[0]["certificates"][0]["subject"]
    # cryptography: CN=a\,b<ESC>[31m\\c<RLO>; the control characters become visible escapes
    assert subject == "CN=a\\,b\\x1b[31m\\\\c\\u202e"
    assert chain_pins(cert.public_bytes(serialization.Encoding.DER))[2] == subject


# --- issue 12 item 1: roles ---------------------------------------------------------------------

@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> TestPKI:
    return TestPKI(str(tmp_path_factory.mktemp("roles-pki")))


@pytest.fixture(scope="module")
def leaf(pki: TestPKI) -> Leaf:
    return pki.leaf("ec256")


@pytest.fixture()
def server(pki: TestPKI, leaf: Leaf) -> Iterator[RecordingTLSServer]:
    """Sends leaf, intermediate and an unrelated self-signed CA certificate."""
    with RecordingTLSServer(leaf.server_context(pki.directory, "roles",
                                                extra=(self_signed(),))) as srv:
        yield srv


def test_roles_of_a_verified_live_chain(
    capsys: pytest.CaptureFixture[str], server: RecordingTLSServer, pki: TestPKI,
) -> None:
    code, out, _ = run(capsys, f"127.0.0.1:{server.port}", "--cafile", pki.ca_file,
                       "--format", "json")
    assert code == 0
    certs = json.loads(out)[0]["certificates"]
    assert [(c["position"], c["role"], c["in_verified_chain"]) for c in certs] == [
        ("leaf", "leaf", True), ("intermediate", "ca", True), ("root", "ca", True),
        ("root", "ca", False),  # served only: a CA certificate
    ]
    code, out, _ = run(capsys, f"127.0.0.1:{server.port}", "--cafile", pki.ca_file)
    roles = [ln.split()[-1] for ln in out.splitlines() if ln.startswith("      role ")]
    assert roles == ["leaf", "ca", "ca", "ca"]


def test_roles_of_an_unverified_live_chain(
    capsys: pytest.CaptureFixture[str], server: RecordingTLSServer,
) -> None:
    code, out, _ = run(capsys, f"127.0.0.1:{server.port}", "--allow-unverified",
                       "--format", "json")
    assert code == 0
    certs = json.loads(out)[0]["certificates"]
    assert [c["role"] for c in certs] == ["leaf", "ca", "ca"]


def test_roles_of_files(
    capsys: pytest.CaptureFixture[str], pki: TestPKI, leaf: Leaf, tmp_path: Path,
) -> None:
    chain = tmp_path / "chain.pem"
    chain.write_bytes(pem(pki.root) + pem(leaf.cert) + pem(pki.intermediate))  # any order
    key = tmp_path / "key.pem"
    key.write_bytes(key_pem(leaf.key))
    csr = tmp_path / "req.csr"
    csr.write_bytes(
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "r.test")]))
        .sign(leaf.key, hashes.SHA256())  # type: ignore[arg-type]
        .public_bytes(serialization.Encoding.PEM)
    )
    code, out, _ = run(capsys, str(chain), str(key), str(csr), str(GODADDY), "--format", "json")
    assert code == 0
    chain_t, key_t, csr_t, godaddy_t = json.loads(out)
    assert [(c["position"], c["role"]) for c in chain_t["certificates"]] == [
        ("root", "ca"), ("leaf", "leaf"), ("intermediate", "ca")]
    assert key_t["certificates"][0]["role"] is None
    assert csr_t["certificates"][0]["role"] is None
    assert godaddy_t["certificates"][0]["role"] == "ca"
    # every field of before is still there
    assert set(chain_t["certificates"][1]) >= {
        "position", "subject", "issuer", "serial", "not_before", "not_after", "key_type",
        "key_bits", "spki_pin", "cert_pin", "sha256_fingerprint", "role"}
