"""``certpin pins``: in-process through main(argv), once as a subprocess; real servers and files."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from certpin import cert_pin, spki_pin
from certpin.cli import main
from support.cli import one_error_line
from support.obtain_certs import Leaf, TestPKI, build_cert, der, key_pem, pem, self_signed
from support.servers import RecordingTLSServer

EVIL_CN = "evil\x1b[31m\nname"


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> TestPKI:
    return TestPKI(str(tmp_path_factory.mktemp("cli-pki")))


@pytest.fixture(scope="module")
def leaf(pki: TestPKI) -> Leaf:
    return pki.leaf("ec256")


@pytest.fixture(scope="module")
def unrelated() -> x509.Certificate:
    return self_signed()


@pytest.fixture()
def server(pki: TestPKI, leaf: Leaf, unrelated: x509.Certificate) -> Iterator[RecordingTLSServer]:
    """Sends leaf, intermediate and an unrelated certificate."""
    with RecordingTLSServer(leaf.server_context(pki.directory, "cli", extra=(unrelated,))) as srv:
        yield srv


@pytest.fixture()
def refused_port() -> Iterator[int]:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        yield s.getsockname()[1]


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["pins", *argv])
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    return code, out, err


def test_json_for_a_live_target(
    capsys: pytest.CaptureFixture[str], server: RecordingTLSServer, pki: TestPKI, leaf: Leaf,
    unrelated: x509.Certificate,
) -> None:
    code, out, err = run(capsys, f"127.0.0.1:{server.port}", "--cafile", pki.ca_file,
                         "--format", "json")
    assert (code, err) == (0, "")
    (target,) = json.loads(out)
    assert target["target"] == f"127.0.0.1:{server.port}"
    assert target["verified"] is True and target["verify_error"] is None
    assert target["server_name"] is None and target["port"] == server.port
    certs = target["certificates"]
    assert [c["position"] for c in certs] == ["leaf", "intermediate", "root", "root"]
    assert [c["in_verified_chain"] for c in certs] == [True, True, True, False]
    assert [c["served"] for c in certs] == [True, True, False, True]  # root from the store
    assert [c["spki_pin"] for c in certs] == [
        str(spki_pin(c)) for c in (leaf.cert, pki.intermediate, pki.root, unrelated)
    ]
    assert certs[0]["cert_pin"] == str(cert_pin(leaf.cert))
    assert certs[0]["subject"] == "CN=pinned.test,O=certpin obtain tests"
    assert certs[0]["issuer"] == "CN=obtain test intermediate,O=certpin obtain tests"
    assert certs[0]["not_after"] == leaf.cert.not_valid_after_utc.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert (certs[0]["key_type"], certs[0]["key_bits"]) == ("EC P-256", 256)
    server.stop()
    assert server.received == b""


def test_text_marks_served_only_and_store_certificates(
    capsys: pytest.CaptureFixture[str], server: RecordingTLSServer, pki: TestPKI, leaf: Leaf
) -> None:
    code, out, _ = run(capsys, f"https://127.0.0.1:{server.port}/path?q=1", "--cafile",
                       pki.ca_file, "--servername", "pinned.test")
    assert code == 0
    assert "server name pinned.test" in out
    assert "chain verified" in out
    assert out.count("served only") == 1
    assert out.count("from the trust store") == 1
    assert f"spki pin   {spki_pin(leaf.cert)}" in out
    assert f"cert pin   {cert_pin(leaf.cert)}" in out


def test_unverified_target_warns_and_shows_the_served_chain(
    capsys: pytest.CaptureFixture[str], server: RecordingTLSServer, leaf: Leaf
) -> None:
    code, out, err = run(capsys, f"127.0.0.1:{server.port}", "--format", "json",
                         "--allow-unverified")  # without it: exit 1, no pins (issue 11 item 3)
    assert code == 0
    (target,) = json.loads(out)
    assert target["verified"] is False and target["verify_error"]
    assert [c["in_verified_chain"] for c in target["certificates"]] == [False] * 3
    assert target["certificates"][0]["spki_pin"] == str(spki_pin(leaf.cert))
    assert err.count("\n") == 1 and "warning" in err and "did not validate" in err


def test_one_failed_target_exits_1_and_the_others_are_printed(
    capsys: pytest.CaptureFixture[str], server: RecordingTLSServer, pki: TestPKI,
    refused_port: int, tmp_path: Path,
) -> None:
    code, out, err = run(capsys, f"127.0.0.1:{refused_port}", f"127.0.0.1:{server.port}",
                         str(tmp_path / "missing.pem"), "--cafile", pki.ca_file,
                         "--format", "json")
    assert code == 1
    failed, ok, missing = json.loads(out)
    assert "cannot connect" in failed["error"] and failed["certificates"] == []
    assert ok["verified"] is True and len(ok["certificates"]) == 4
    assert "missing.pem" in missing["error"]
    lines = err.splitlines()
    assert len(lines) == 2
    assert lines[0] == f"certpin pins: error: 127.0.0.1:{refused_port}: cannot connect: " \
        "Connection refused"
    assert lines[1].startswith("certpin pins: error: ") and "No such file" in lines[1]


def test_files_pem_der_key_csr_and_stdin(
    capsys: pytest.CaptureFixture[str], pki: TestPKI, leaf: Leaf, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    chain = tmp_path / "chain.pem"
    chain.write_bytes(pem(leaf.cert) + b"some text\n" + pem(pki.intermediate) + pem(pki.root))
    der_file = tmp_path / "leaf.der"
    der_file.write_bytes(der(leaf.cert))
    key_file = tmp_path / "backup.key"
    backup = ec.generate_private_key(ec.SECP384R1())
    key_file.write_bytes(key_pem(backup))
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "csr.test")]))
        .sign(backup, hashes.SHA256())
    )
    csr_file = tmp_path / "req.csr"
    csr_file.write_bytes(csr.public_bytes(serialization.Encoding.PEM))
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(pem(pki.root))))
    code, out, err = run(capsys, str(chain), str(der_file), str(key_file), str(csr_file), "-",
                         "--format", "json")
    assert (code, err) == (0, "")
    chain_t, der_t, key_t, csr_t, stdin_t = json.loads(out)
    assert [c["position"] for c in chain_t["certificates"]] == ["leaf", "intermediate", "root"]
    assert [c["spki_pin"] for c in chain_t["certificates"]] == [
        str(spki_pin(c)) for c in (leaf.cert, pki.intermediate, pki.root)
    ]
    assert der_t["certificates"][0]["cert_pin"] == str(cert_pin(leaf.cert))
    (key_c,) = key_t["certificates"]
    assert key_c["position"] == "key" and key_c["cert_pin"] is None
    assert (key_c["key_type"], key_c["key_bits"]) == ("EC P-384", 384)
    assert key_c["spki_pin"] == str(spki_pin(backup.public_key()))
    (csr_c,) = csr_t["certificates"]
    assert csr_c["position"] == "csr" and csr_c["subject"] == "CN=csr.test"
    assert csr_c["spki_pin"] == key_c["spki_pin"]
    assert stdin_t["target"] == "-" and stdin_t["file"] == "stdin"
    assert stdin_t["certificates"][0]["spki_pin"] == str(spki_pin(pki.root))


def test_garbage_file_is_one_error_line(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    bad = tmp_path / "junk.pem"
    bad.write_bytes(b"\x00\x01 this is not a certificate \x1b[2J")
    code, out, err = run(capsys, str(bad))
    assert code == 1 and out == ""
    assert err.count("\n") == 1 and "junk.pem" in err and "\x1b" not in err


@pytest.fixture(scope="module")
def evil_leaf(pki: TestPKI) -> Leaf:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, EVIL_CN)])
    cert = build_cert(name, key.public_key(), pki.int_name, pki.int_key, ca=False,
                      sans=("127.0.0.1",))
    return Leaf(key=key, cert=cert, chain=(pki.intermediate,))


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_control_characters_in_subjects_are_escaped(
    capsys: pytest.CaptureFixture[str], pki: TestPKI, evil_leaf: Leaf, tmp_path: Path, fmt: str,
) -> None:
    evil_file = tmp_path / "evil.pem"
    evil_file.write_bytes(pem(evil_leaf.cert))
    with RecordingTLSServer(evil_leaf.server_context(pki.directory, "evil")) as srv:
        code, out, err = run(capsys, f"127.0.0.1:{srv.port}", str(evil_file),
                             "--cafile", pki.ca_file, "--format", fmt)
    assert code == 0, err
    assert "\x1b" not in out and "\x1b" not in err
    if fmt == "text":
        subject_lines = [ln for ln in out.splitlines() if "subject" in ln and "evil" in ln]
        assert len(subject_lines) == 2
        assert all(ln.endswith("CN=evil\\x1b[31m\\nname") for ln in subject_lines)
    else:
        live, file = json.loads(out)
        assert live["certificates"][0]["subject"] == "CN=evil\\x1b[31m\\nname"
        assert file["certificates"][0]["subject"] == "CN=evil\\x1b[31m\\nname"


def test_hpkp_and_curl_formats(
    capsys: pytest.CaptureFixture[str], server: RecordingTLSServer, pki: TestPKI, leaf: Leaf,
    tmp_path: Path,
) -> None:
    target = f"127.0.0.1:{server.port}"
    code, out, _ = run(capsys, target, "--cafile", pki.ca_file, "--format", "hpkp")
    assert code == 0
    expected = "; ".join(
        f'pin-sha256="{spki_pin(c).base64}"' for c in (leaf.cert, pki.intermediate, pki.root)
    )
    assert out == expected + "\n"  # the served-only certificate is not offered as a pin
    code, out, _ = run(capsys, target, "--cafile", pki.ca_file, "--format", "curl")
    assert (code, out) == (0, f"sha256//{spki_pin(leaf.cert).base64}\n")
    # the line works as is with curl
    rc = subprocess.run(
        ["curl", "--silent", "--noproxy", "*", "--max-time", "20", "--cacert", pki.ca_file,
         "--pinnedpubkey", out.strip(), f"https://127.0.0.1:{server.port}/"],
        capture_output=True,
    ).returncode
    assert rc == 0
    keys = tmp_path / "keys.pem"
    keys.write_bytes(pem(leaf.cert) + pem(pki.root))
    code, out, _ = run(capsys, str(keys), "--format", "curl")
    assert out == f"sha256//{spki_pin(leaf.cert).base64};sha256//{spki_pin(pki.root).base64}\n"


def test_ipv6_target(capsys: pytest.CaptureFixture[str], pki: TestPKI, leaf: Leaf) -> None:
    try:
        srv = RecordingTLSServer(leaf.server_context(pki.directory, "v6cli"), host="::1")
    except OSError as exc:  # pragma: no cover
        pytest.skip(f"no IPv6 loopback: {exc}")
    with srv:
        code, out, err = run(capsys, f"[::1]:{srv.port}", "--cafile", pki.ca_file,
                             "--format", "json")
    assert code == 0, err
    (target,) = json.loads(out)
    assert target["host"] == "::1" and target["verified"] is True


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["--format", "xml", "example.test"],
        ["--timeout", "-1", "example.test"],
        ["--timeout", "abc", "example.test"],
        ["[::1"],
        ["example.test:99999"],
        ["http://example.test/"],
        ["-", "-"],
        ["--cafile", "/nonexistent/ca.pem", "example.test"],
        ["--servername", "bad name", "example.test"],
        ["a..b"],
        ["ftp://example.test/"],
    ],
)
def test_usage_errors_exit_2(capsys: pytest.CaptureFixture[str], argv: list[str]) -> None:
    code, out, err = run(capsys, *argv)
    assert code == 2
    assert out == ""
    assert "error" in err


def test_timeout_is_a_failed_target(capsys: pytest.CaptureFixture[str]) -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(1)
        port = s.getsockname()[1]
        code, out, err = run(capsys, f"127.0.0.1:{port}", "--timeout", "0.3")
    assert code == 1 and out == ""
    assert err == f"certpin pins: error: 127.0.0.1:{port}: TLS handshake timed out after 0.3 s\n"


def test_as_a_subprocess(server: RecordingTLSServer, pki: TestPKI, leaf: Leaf,
                         tmp_path: Path) -> None:
    chain = tmp_path / "chain.pem"
    chain.write_bytes(pem(leaf.cert) + pem(pki.intermediate))
    proc = subprocess.run(
        [sys.executable, "-m", "certpin", "pins", f"127.0.0.1:{server.port}", str(chain),
         "--cafile", pki.ca_file, "--format", "json"],
        capture_output=True, text=True, timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    live, file = json.loads(proc.stdout)
    for target in (live, file):
        leaf_info = target["certificates"][0]
        assert set(leaf_info) >= {"position", "subject", "issuer", "not_after", "key_type",
                                  "key_bits", "spki_pin", "cert_pin"}
        assert leaf_info["spki_pin"] == str(spki_pin(leaf.cert))
    assert live["verified"] is True
    bad = subprocess.run([sys.executable, "-m", "certpin", "pins"], capture_output=True,
                         text=True, timeout=60)
    assert bad.returncode == 2 and "Traceback" not in bad.stderr


def test_unsupported_key_algorithm_still_gives_the_certificate_pin(
    capsys: pytest.CaptureFixture[str],
) -> None:
    import os

    import cryptography_vectors

    gost = os.path.join(os.path.dirname(cryptography_vectors.__file__), "x509", "e-trust.ru.der")
    code, out, err = run(capsys, gost, "--format", "json")
    assert (code, err) == (0, "")
    (cert,) = json.loads(out)[0]["certificates"]
    assert cert["spki_pin"] is None and "cannot decode" in cert["spki_error"]
    assert cert["key_type"].startswith("unsupported (1.2.643.")  # a GOST key
    assert cert["cert_pin"].startswith("cert-sha256/")
    code, out, _ = run(capsys, gost)
    assert code == 0 and "spki pin   (none: " in out
    code, out, _ = run(capsys, gost, "--format", "hpkp")
    assert (code, out) == (1, "")  # nothing to pin by key: an error (issue 11 item 2)


def test_a_directory_is_a_failed_target(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, out, err = run(capsys, str(tmp_path))
    assert code == 1 and out == ""
    assert err.strip().endswith("is a directory")


# --- certificates cryptography parses lazily (issue 16 item 6) --------------------------------

def _vector(path: str) -> Path:
    import cryptography_vectors

    return Path(cryptography_vectors.__file__).parent / path


@pytest.mark.parametrize("vector,field", [
    ("x509/custom/invalid_utf8_common_name.pem", "subject"),
    ("x509/custom/two_basic_constraints.pem", "extensions"),
])
def test_a_certificate_that_cannot_be_described_fails_its_target_only(
    vector: str, field: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = tmp_path / "good.pem"
    good.write_bytes(pem(self_signed()))
    bad = _vector(vector)
    assert main(["pins", str(bad), str(good), "--format", "hpkp"]) == 1
    out, err = capsys.readouterr()
    assert out == f'pin-sha256="{spki_pin(self_signed_cert(good)).base64}"\n'
    assert err.startswith(f"certpin pins: error: {bad}: cannot describe the certificate: its "
                          f"{field} cannot be decoded (")
    assert err.count("\n") == 1 and "Traceback" not in err


def self_signed_cert(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def test_a_general_name_type_cryptography_does_not_support_fails_the_target(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import datetime

    from cryptography.x509.oid import ExtensionOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "x400")])
    start = datetime.datetime(2025, 1, 1, tzinfo=datetime.UTC)
    # subjectAltName = GeneralNames { x400Address [3] ORAddress {} }: cryptography parses the
    # extensions lazily and raises UnsupportedGeneralNameType (not a ValueError) on first use
    san = x509.UnrecognizedExtension(ExtensionOID.SUBJECT_ALTERNATIVE_NAME,
                                     bytes.fromhex("3004a3023000"))
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(1).not_valid_before(start)
            .not_valid_after(start + datetime.timedelta(days=1))
            .add_extension(san, critical=False).sign(key, hashes.SHA256()))
    path = tmp_path / "x400.pem"
    path.write_bytes(pem(cert))
    assert main(["pins", str(path)]) == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert err == (f"certpin pins: error: {path}: cannot describe the certificate: its "
                   "extensions cannot be decoded (x400Address/EDIPartyName are not supported "
                   "types)\n")


def test_a_csr_with_an_unknown_key_algorithm_is_a_failed_target(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(65537, 2048)
    csr = x509.CertificateSigningRequestBuilder().subject_name(
        x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "x")])
    ).sign(key, hashes.SHA256())
    der_csr = bytearray(csr.public_bytes(serialization.Encoding.DER))
    rsa_oid = bytes.fromhex("2a864886f70d010101")  # 1.2.840.113549.1.1.1 rsaEncryption
    at = der_csr.index(rsa_oid)
    der_csr[at + len(rsa_oid) - 1] = 0x7F  # ...1.1.127: no such algorithm
    path = tmp_path / "odd.csr"
    path.write_bytes(bytes(der_csr))
    assert main(["pins", str(path)]) == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith(f"certpin pins: error: {path}: ")
    assert err.endswith(": cannot describe the CSR: its key cannot be decoded "
                        "(Unknown key type: 1.2.840.113549.1.1.127)\n")


# ------------------------------------------------------------ regressions
# Moved here from the files that grouped them by who found them (red team, reviews).


# regression: pins of a root whose extensions make cryptography warn crashed under -W error (found
#   by the review of hostile input)
def test_pins_of_a_root_whose_extensions_warn_under_w_error(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Go Daddy Class 2 (in Debian's system store): cryptography warns when its extensions are
    # parsed; `certpin pins /etc/ssl/certs/ca-certificates.crt` under -W error crashed in
    # _position_in_file, outside the warning filter that load_certificates uses.
    pem = Path(__file__).parent.parent / "fixtures" / "godaddy-class2-root.pem"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert main(["pins", "--format", "json", str(pem)]) == 0
    out, err = capsys.readouterr()
    (cert,) = json.loads(out)[0]["certificates"]
    assert cert["position"] == "root"
    assert cert["spki_pin"] == "sha256/VjLZe/p3W/PJnd6lL8JVNBCGQBZynFLdZSTIqcO0SJ8="
    assert err == ""


# regression: malformed pins targets ('https://[::1/', 'a..:443') escaped as tracebacks (found by
#   the review of hostile input)
@pytest.mark.parametrize("target", [
    "https://[::1/",          # urlsplit raised ValueError("Invalid IPv6 URL")
    "https://[::1]x:443/",
    "localhost..:443",        # passed the name check, then socket's idna codec raised
    "a..:443",
])
def test_pins_malformed_target_is_one_line(
    target: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["pins", "--timeout", "1", target])
    _, err = capsys.readouterr()
    line = one_error_line(err)
    assert code in (1, 2)
    assert line.startswith("certpin pins: error:")
