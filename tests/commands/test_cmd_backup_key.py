"""``certpin backup-key`` (the library function: tests/test_backup.py)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from certpin.backup import BackupKeyError, generate_backup_key
from certpin.cli import main
from certpin.pins import parse_pin, spki_pin
from support.cli import files, one_error_line


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["backup-key", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_writes_key_0600_and_csr_and_prints_its_pin(tmp_path, capsys):
    code, out, err = run_cli(
        capsys, "--out", str(tmp_path), "--cn", "api.example.com", "--san", "www.example.com"
    )
    assert code == 0, err
    key_path = tmp_path / "api.example.com.p256.key.pem"
    csr_path = tmp_path / "api.example.com.p256.csr.pem"
    assert files(tmp_path) == [csr_path.name, key_path.name]
    assert stat.S_IMODE(os.stat(key_path).st_mode) == 0o600
    key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
    assert isinstance(key, ec.EllipticCurvePrivateKey) and key.curve.name == "secp256r1"
    csr = x509.load_pem_x509_csr(csr_path.read_bytes())
    assert csr.is_signature_valid
    assert csr.subject.rfc4514_string() == "CN=api.example.com"
    sans = csr.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert sans.get_values_for_type(x509.DNSName) == ["api.example.com", "www.example.com"]
    printed = out.strip().splitlines()[-1]
    assert parse_pin(printed) == spki_pin(csr) == spki_pin(key.public_key())
    assert str(spki_pin(csr)) == printed
    assert "PRIVATE KEY" not in out and "PRIVATE KEY" not in err
    assert "NOT encrypted" in out


def test_cli_never_overwrites(tmp_path, capsys):
    assert run_cli(capsys, "--out", str(tmp_path), "--cn", "a.test")[0] == 0
    key_path = tmp_path / "a.test.p256.key.pem"
    before = key_path.read_bytes()
    mtime = key_path.stat().st_mtime_ns
    code, out, err = run_cli(capsys, "--out", str(tmp_path), "--cn", "a.test")
    assert code == 2
    assert out == ""
    assert err.startswith("certpin backup-key: error: ") and "already exists" in err
    assert err.count("\n") == 1
    assert key_path.read_bytes() == before and key_path.stat().st_mtime_ns == mtime
    assert len(files(tmp_path)) == 2


def test_ed25519_needs_private_ca(tmp_path, capsys):
    code, out, err = run_cli(capsys, "--out", str(tmp_path), "--cn", "a.test", "--type", "ed25519")
    assert code == 2
    assert "--private-ca" in err and "public CAs certify only RSA and ECDSA" in err
    assert files(tmp_path) == [] and out == ""
    code, out, err = run_cli(
        capsys, "--out", str(tmp_path), "--cn", "a.test", "--type", "ed25519", "--private-ca"
    )
    assert code == 0, err
    key = serialization.load_pem_private_key(
        (tmp_path / "a.test.ed25519.key.pem").read_bytes(), password=None
    )
    assert isinstance(key, ed25519.Ed25519PrivateKey)
    csr = x509.load_pem_x509_csr((tmp_path / "a.test.ed25519.csr.pem").read_bytes())
    assert csr.is_signature_valid and parse_pin(out.splitlines()[-1]) == spki_pin(key.public_key())


def test_passphrase_file_encrypts_the_key(tmp_path, capsys):
    secret = "correct horse battery staple"
    pf = tmp_path / "pass.txt"
    pf.write_text(secret + "\n")
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    code, out, err = run_cli(
        capsys, "--out", str(out_dir), "--cn", "a.test", "--passphrase-file", str(pf),
        "--type", "rsa2048",
    )
    assert code == 0, err
    data = (out_dir / "a.test.rsa2048.key.pem").read_bytes()
    assert b"ENCRYPTED PRIVATE KEY" in data
    with pytest.raises(TypeError):
        serialization.load_pem_private_key(data, password=None)
    with pytest.raises(ValueError):
        serialization.load_pem_private_key(data, password=b"wrong")
    key = serialization.load_pem_private_key(data, password=secret.encode())
    assert isinstance(key, rsa.RSAPrivateKey) and key.key_size == 2048
    assert parse_pin(out.splitlines()[-1]) == spki_pin(key.public_key())
    assert secret not in out and secret not in err
    assert "PRIVATE KEY" not in out and "(mode 0600, encrypted)" in out


def test_empty_passphrase_file_is_refused(tmp_path, capsys):
    pf = tmp_path / "pass.txt"
    pf.write_text("\n")
    code, out, err = run_cli(
        capsys, "--out", str(tmp_path), "--cn", "a.test", "--passphrase-file", str(pf)
    )
    assert code == 2 and "empty" in err and out == ""
    assert files(tmp_path) == ["pass.txt"]


def test_missing_passphrase_file(tmp_path, capsys):
    code, _, err = run_cli(
        capsys, "--out", str(tmp_path), "--cn", "a.test", "--passphrase-file",
        str(tmp_path / "nope"),
    )
    assert code == 2 and "passphrase file" in err and "Traceback" not in err
    assert files(tmp_path) == []


def test_bad_inputs(tmp_path, capsys):
    with pytest.raises(BackupKeyError, match="unknown key type"):
        generate_backup_key(tmp_path, "a.test", key_type="dsa1024")
    with pytest.raises(BackupKeyError, match="not a directory"):
        generate_backup_key(tmp_path / "missing", "a.test")
    with pytest.raises(BackupKeyError, match="CSR"):
        generate_backup_key(tmp_path, "a" * 65 + ".test")  # CN longer than 64 characters
    assert files(tmp_path) == []
    code, _, err = run_cli(capsys, "--out", str(tmp_path), "--cn", "a.test", "--type", "dsa")
    assert code == 2 and "invalid choice" in err
    code, _, err = run_cli(capsys, "--cn", "a.test")
    assert code == 2 and "--out" in err


# ------------------------------------------------------------ regressions
# Moved here from the files that grouped them by who found them (red team, reviews).


# regression: control characters in --cn/--san went into the CSR subject and SAN (found by the
#   review of hostile input)
@pytest.mark.parametrize("argv", [
    ["--cn", "api\x1b[31m.example.com"],
    ["--cn", "api.example.com", "--san", "www\x07.example.com"],
])
def test_backup_key_refuses_control_characters(
    argv: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # They went into the CSR subject/SAN (and the file name as '_'): a CA refuses such a
    # CSR only after the key's pin shipped in the app.
    assert main(["backup-key", "--out", str(tmp_path), *argv]) == 2
    _, err = capsys.readouterr()
    assert "\x1b" not in err and "\x07" not in err
    assert one_error_line(err).startswith("certpin backup-key: error:")
    assert list(tmp_path.iterdir()) == []
