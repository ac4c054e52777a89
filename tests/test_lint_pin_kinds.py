"""``certpin lint`` names the kind of every pin (issue 11 item 5).

A hex SHA-256 given as a pin is read as a certificate fingerprint (``openssl x509 -fingerprint
-sha256``), not as an SPKI pin: someone who pasted the hex of a key hash gets a certificate pin
that never matches. lint says which kind each pin is, so that shows before the policy ships.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

import certpin
from certpin.cli import main
from certpin.health import Level
from certpin.lint import lint_policy
from certpin.policy import PinPolicy, PinSet

NOW = datetime(2030, 6, 1, 12, 0, tzinfo=UTC)
K = "sha256/gXQJloeiZiH04s3XzAOz2s7bP7liJVsar9Azyr6DFTA="
K2 = "sha256/sQJTdkyLIz+zdULiNAHHtFDlpvl1HztaAU9vZ+i8mZ0="
HEX = ("81:74:09:96:87:A2:66:21:F4:E2:CD:D7:CC:03:B3:DA:"  # sha256 fingerprint notation
       "CE:DB:3F:B9:62:25:5B:1A:AF:D0:33:CA:BE:83:15:30")  # of the digest of K


def test_hex_is_read_as_a_certificate_pin() -> None:
    pin = certpin.parse_pin(HEX)
    assert pin.kind == "cert" and str(pin).startswith("cert-sha256/")
    assert pin.digest == certpin.parse_pin(K).digest  # same bytes, another kind: never equal
    assert pin != certpin.parse_pin(K)


def test_parse_pin_documents_hex_as_a_certificate_fingerprint() -> None:
    doc = " ".join((certpin.parse_pin.__doc__ or "").split())
    assert "never an SPKI pin" in doc


def _policy() -> PinPolicy:
    return PinPolicy({
        "api.example.com": PinSet([K, HEX], backup_pins=[K2],
                                  expires=NOW + timedelta(days=300)),
        "b.example.com": PinSet([K2, K], expires=NOW + timedelta(days=300)),
    })


def test_lint_policy_names_each_pins_kind_when_asked() -> None:
    assert not [f for f in lint_policy(_policy(), now=NOW) if f.code == "pin-kinds"]
    found = [f for f in lint_policy(_policy(), now=NOW, pin_kinds=True) if f.code == "pin-kinds"]
    assert [(f.level, f.pattern) for f in found] == [
        (Level.INFO, "api.example.com"), (Level.INFO, "b.example.com")]
    api = found[0].message
    cert = str(certpin.parse_pin(HEX))
    assert api == (
        f"api.example.com pins {K} (SPKI pin: SHA-256 of a public key); {cert} (certificate "
        "pin: SHA-256 of a whole certificate, as a hex fingerprint is read); "
        f"backup {K2} (SPKI pin: SHA-256 of a public key)"
    )
    assert "certificate pin" not in found[1].message


def _write(tmp_path: Path) -> Path:
    path = tmp_path / "policy.toml"
    path.write_text(
        '[hosts."api.example.com"]\n'
        f'pins = ["{K}", "{HEX}"]\n'
        f'backup_pins = ["{K2}"]\n'
        'expires = 2099-01-01\n'
    )
    return path


def test_the_command_names_each_pins_kind(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _write(tmp_path)
    code = main(["lint", str(path)])
    out = capsys.readouterr().out
    assert code == 1  # the certificate pin is a warning, as before
    line = next(ln for ln in out.splitlines() if ln.startswith("INFO pin-kinds"))
    assert line.startswith(f"INFO pin-kinds api.example.com: api.example.com pins {K} (SPKI pin")
    assert f"{certpin.parse_pin(HEX)} (certificate pin: " in line
    assert main(["lint", str(path), "--format", "json"]) == 1
    found = json.loads(capsys.readouterr().out)
    (kinds,) = [f for f in found if f["code"] == "pin-kinds"]
    assert kinds["level"] == "info" and "(certificate pin: " in kinds["message"]
