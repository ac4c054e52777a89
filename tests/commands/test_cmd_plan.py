"""``certpin plan``: the CLI in-process, exit codes and messages; --live against 127.0.0.1."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import trustme
from cryptography import x509

from certpin import Pin, spki_pin
from certpin.cli import main
from support.servers import RecordingTLSServer

HOST = "api.example.com"
SPARE = str(Pin("spki", b"\x07" * 32))


def _pems(leaf: trustme.LeafCert) -> bytes:
    return b"".join(p.bytes() for p in leaf.cert_chain_pems)


@pytest.fixture(scope="module")
def pki() -> dict[str, object]:
    root = trustme.CA()
    inter = root.create_child_ca()
    old, new = inter.issue_cert(HOST), inter.issue_cert(HOST)
    return {"root": root, "old": old, "new": new}


def k(leaf: object) -> str:
    cert = x509.load_pem_x509_certificate(leaf.cert_chain_pems[0].bytes())  # type: ignore[attr-defined]
    return str(spki_pin(cert))


def policy(tmp: Path, name: str, pins: list[str], backup: list[str] | None = None,
           extra: str = "", meta: str | None = None) -> str:
    lines = [extra, f'[hosts."{HOST}"]', f"pins = {json.dumps(pins)}"]
    if backup:
        lines.append(f"backup_pins = {json.dumps(backup)}")
    path = tmp / name
    path.write_text("\n".join(lines) + "\n")
    if meta is not None:
        (tmp / name.replace(".toml", ".meta.toml")).write_text(meta)
    return str(path)


def test_refuses_a_new_key_not_pinned(tmp_path, pki, capsys) -> None:
    v12 = policy(tmp_path, "v12.toml", [k(pki["old"]), SPARE])
    key = tmp_path / "new.key"
    key.write_bytes(pki["new"].private_key_pem.bytes())  # type: ignore[attr-defined]
    assert main(["plan", v12, "--host", HOST, "--key", str(key), "--at", "2030-01-01"]) == 2
    out = capsys.readouterr().out
    assert out.startswith("REFUSE v12.toml\n")
    assert f"v12.toml pins {k(pki['old'])} and {SPARE} for {HOST}; the new leaf key " \
           f"{k(pki['new'])} is in neither" in out
    assert f"ship {k(pki['new'])} as a backup pin first and wait until that version has " \
           "reached your users" in out


def test_safe_rotation_passes_with_a_warning_then_cleanly(tmp_path, pki, capsys) -> None:
    chain = tmp_path / "new.pem"
    chain.write_bytes(_pems(pki["new"]))  # type: ignore[arg-type]
    v12 = policy(tmp_path, "v12.toml", [k(pki["old"])], [k(pki["new"])])
    v13 = policy(tmp_path, "v13.toml", [k(pki["new"])], [SPARE])
    assert main(["plan", v12, v13, "--host", HOST, "--chain", str(chain)]) == 1
    assert "WARN backup-pin-only" in capsys.readouterr().out
    assert main(["plan", v13, "--host", HOST, "--chain", str(chain), "--format", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["policies"][0]["accepted"] is True and doc["chain_errors"] == []


def test_expired_reject_and_unsupported_versions(tmp_path, pki, capsys) -> None:
    chain = tmp_path / "old.pem"
    chain.write_bytes(_pems(pki["old"]))  # type: ignore[arg-type]
    pins = [k(pki["old"]), SPARE]
    v1 = policy(tmp_path, "v1.toml", pins, extra='expired = "reject"')
    (tmp_path / "v1.toml").write_text((tmp_path / "v1.toml").read_text().replace(
        "pins =", 'expires = 2029-06-01\npins ='))
    args = ["plan", v1, "--host", HOST, "--chain", str(chain), "--at", "2030-01-01"]
    assert main(args) == 2
    assert "expired-reject" in capsys.readouterr().out
    (tmp_path / "v1.meta.toml").write_text('shipped = 2028-01-01\nsupported_until = 2029-12-01\n')
    assert main(args) == 0
    out = capsys.readouterr().out
    assert out.startswith("UNSUPPORTED v1.toml") and "1 unsupported" in out


def test_cafile_reports_a_chain_that_does_not_validate(tmp_path, pki, capsys) -> None:
    chain = tmp_path / "new.pem"
    chain.write_bytes(_pems(pki["new"]))  # type: ignore[arg-type]
    v13 = policy(tmp_path, "v13.toml", [k(pki["new"]), SPARE])
    good, other = tmp_path / "ca.pem", tmp_path / "other.pem"
    pki["root"].cert_pem.write_to_path(str(good))  # type: ignore[attr-defined]
    trustme.CA().cert_pem.write_to_path(str(other))
    base = ["plan", v13, "--host", HOST, "--chain", str(chain)]
    assert main([*base, "--cafile", str(good)]) == 0
    capsys.readouterr()
    assert main([*base, "--cafile", str(other)]) == 2
    assert "ERROR chain-invalid" in capsys.readouterr().out


def test_bad_input_is_exit_2(tmp_path, pki, capsys) -> None:
    v = policy(tmp_path, "v.toml", [k(pki["old"]), SPARE])
    assert main(["plan", v, "--host", HOST]) == 2  # nothing to judge
    assert main(["plan", v, "--host", HOST, "--csr", str(tmp_path / "missing.csr")]) == 2
    assert main(["plan", v, "--host", HOST, "--csr", v, "--at", "tomorrow"]) == 2
    assert "error" in capsys.readouterr().err


def test_live_takes_the_chain_from_a_staging_server(tmp_path, ca, server_cert, capsys) -> None:
    from conftest import server_context

    leaf = x509.load_pem_x509_certificate(server_cert.cert_chain_pems[0].bytes())
    v = policy(tmp_path, "v.toml", [str(spki_pin(leaf)), SPARE])
    (tmp_path / "v.toml").write_text((tmp_path / "v.toml").read_text().replace(HOST, "pinned.test"))
    cafile = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(cafile))
    with RecordingTLSServer(server_context(server_cert)) as srv:
        code = main(["plan", v, "--host", "pinned.test", "--live", f"127.0.0.1:{srv.port}",
                     "--cafile", str(cafile)])
        assert srv.received == b""
    assert code == 0, capsys.readouterr()
    assert "ACCEPT v.toml" in capsys.readouterr().out
