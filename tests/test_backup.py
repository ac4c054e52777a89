"""certpin.backup.generate_backup_key (the command: tests/commands/test_cmd_backup_key.py)."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from certpin.backup import KEY_TYPES, BackupKeyError, generate_backup_key
from certpin.pins import spki_pin
from support.cli import files


def test_existing_csr_alone_blocks_and_writes_nothing(tmp_path):
    csr = tmp_path / "a.test.p256.csr.pem"
    csr.write_bytes(b"keep me")
    with pytest.raises(BackupKeyError, match="already exists"):
        generate_backup_key(tmp_path, "a.test")
    assert files(tmp_path) == [csr.name]
    assert csr.read_bytes() == b"keep me"


def test_symlink_in_place_of_key_is_not_followed(tmp_path):
    target = tmp_path / "elsewhere"
    (tmp_path / "a.test.p256.key.pem").symlink_to(target)
    with pytest.raises(BackupKeyError, match="already exists"):
        generate_backup_key(tmp_path, "a.test")
    assert not target.exists()


def test_csr_write_failure_removes_the_new_key(tmp_path, monkeypatch):
    """Nothing half-written: when the CSR cannot be written, the key just created is removed."""
    import certpin.backup as backup

    real = backup._create_exclusive
    calls = []

    def failing(path: Path, data: bytes, mode: int) -> None:
        calls.append(path.name)
        if path.name.endswith(".csr.pem"):
            raise OSError(28, "No space left on device", str(path))
        real(path, data, mode)

    monkeypatch.setattr(backup, "_create_exclusive", failing)
    with pytest.raises(BackupKeyError, match="No space left"):
        generate_backup_key(tmp_path, "a.test")
    assert calls == ["a.test.p256.key.pem", "a.test.p256.csr.pem"]
    assert files(tmp_path) == []


@pytest.mark.parametrize("key_type", [t for t in KEY_TYPES if t != "rsa4096"])
def test_every_key_type(tmp_path, key_type):
    result = generate_backup_key(
        tmp_path, "*.example.com", sans=["127.0.0.1"], key_type=key_type, private_ca=True
    )
    assert result.key_path.name == f"wildcard.example.com.{key_type}.key.pem"
    key = serialization.load_pem_private_key(result.key_path.read_bytes(), password=None)
    assert spki_pin(key.public_key()) == result.pin
    csr = x509.load_pem_x509_csr(result.csr_path.read_bytes())
    san = csr.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["*.example.com"]
    assert san.get_values_for_type(x509.IPAddress) == [ipaddress.ip_address("127.0.0.1")]
    expected = {
        "rsa2048": (rsa.RSAPrivateKey, 2048),
        "rsa3072": (rsa.RSAPrivateKey, 3072),
        "p256": (ec.EllipticCurvePrivateKey, 256),
        "p384": (ec.EllipticCurvePrivateKey, 384),
    }
    if key_type in expected:
        cls, size = expected[key_type]
        assert isinstance(key, cls) and key.key_size == size
