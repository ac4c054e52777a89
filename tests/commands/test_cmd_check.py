"""``certpin check`` and ``certpin lint`` end to end: policy files, real servers, exit codes."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import trustme

from certpin.cli import main
from certpin.config import dump_policy
from certpin.policy import PinPolicy, PinSet
from support.health import (
    ca_pin,
    closed_port,
    fresh_pin,
    iso,
    leaf_cert,
    leaf_pin,
    serve,
    subject,
    write_cafile,
)


@pytest.fixture()
def cafile(ca: trustme.CA, tmp_path: Path) -> str:
    return write_cafile(ca, tmp_path)


def write(tmp_path: Path, policy: PinPolicy, name: str = "policy.toml") -> str:
    path = tmp_path / name
    dump_policy(policy, path)
    return str(path)


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def check_json(capsys, policy_path, *args):  # type: ignore[no-untyped-def]
    code, out, err = run(capsys, "check", policy_path, "--format", "json", *args)
    return code, json.loads(out), err


def test_check_json_ok_field_by_field(tmp_path, capsys, server, server_cert, ca, cafile):
    pin = leaf_pin(server_cert)
    backup = fresh_pin()
    pin_set = PinSet([pin, ca_pin(ca)], backup_pins=[backup])
    path = write(tmp_path, PinPolicy({"127.0.0.1": pin_set}))
    code, data, err = check_json(
        capsys, path, "--host", f"127.0.0.1:{server.port}", "--cafile", cafile
    )
    assert code == 0, data
    assert err == ""  # no progress bar when stderr is not a terminal
    [r] = data
    leaf = leaf_cert(server_cert)
    assert r["status"] == "ok"
    assert r["host"] == "127.0.0.1"
    assert r["port"] == server.port
    assert r["pattern"] == "127.0.0.1"
    assert r["matched_pin"] == str(pin)
    assert r["matched_position"] == 0
    assert r["matched_subject"] == subject(leaf)
    assert r["matched_backup"] is False
    assert r["findings"] == [
        {
            "level": "info",
            "code": "pin-matched",
            "message": f"pin {pin} matched certificate 0 ({subject(leaf)})",
        }
    ]
    assert [(m["pin"], m["position"], m["backup"], m["public_root"]) for m in r["matches"]] == [
        (str(pin), 0, False, False),
        (str(ca_pin(ca)), 1, False, False),
    ]
    assert r["leaf_not_after"] == iso(leaf.not_valid_after_utc)
    assert r["pin_set_expires"] is None
    assert r["tls_version"] in ("TLSv1.2", "TLSv1.3")
    assert [c["position"] for c in r["verified_chain"]] == [0, 1]
    assert r["verified_chain"][0]["spki_pin"] == str(pin)
    assert r["verified_chain"][1]["spki_pin"] == str(ca_pin(ca))
    assert r["verified_chain"][0]["subject"] == subject(leaf)
    assert r["served_chain"][0]["cert_pin"] == r["verified_chain"][0]["cert_pin"]
    assert server.received == b""


def test_check_exit_1_on_backup_only_match(tmp_path, capsys, server, server_cert, cafile):
    policy = PinPolicy(
        {"127.0.0.1": PinSet([fresh_pin(), fresh_pin()], backup_pins=[leaf_pin(server_cert)])}
    )
    code, [r], _ = check_json(
        capsys, write(tmp_path, policy), "--host", f"127.0.0.1:{server.port}", "--cafile", cafile
    )
    assert code == 1
    assert r["status"] == "warn"
    assert r["matched_backup"] is True and r["matched_pin"] == str(leaf_pin(server_cert))
    warn = [f for f in r["findings"] if f["level"] == "warn"]
    assert [f["code"] for f in warn] == ["backup-pin-matched"]
    assert server.received == b""


def test_check_exit_2_on_mismatch(tmp_path, capsys, server, cafile):
    policy = PinPolicy({"127.0.0.1": PinSet([fresh_pin(), fresh_pin()])})
    code, [r], _ = check_json(
        capsys, write(tmp_path, policy), "--host", f"127.0.0.1:{server.port}", "--cafile", cafile
    )
    assert code == 2
    assert r["status"] == "error" and r["matched_pin"] is None and r["matched_position"] is None
    assert [f["code"] for f in r["findings"]] == ["no-match"]
    assert server.received == b""


def test_check_exit_2_untrusted_without_cafile(tmp_path, capsys, server, server_cert):
    policy = PinPolicy({"127.0.0.1": PinSet([leaf_pin(server_cert), fresh_pin()])})
    code, [r], _ = check_json(capsys, write(tmp_path, policy), "--host", f"127.0.0.1:{server.port}")
    assert code == 2
    assert [f["code"] for f in r["findings"]] == ["validation-failed"]
    assert r["verified_chain"] == [] and len(r["served_chain"]) == 1
    assert server.received == b""


def test_check_exit_2_connection_refused(tmp_path, capsys, cafile):
    port = closed_port()
    policy = PinPolicy({"127.0.0.1": PinSet([fresh_pin(), fresh_pin()])})
    code, [r], _ = check_json(
        capsys, write(tmp_path, policy), "--host", f"127.0.0.1:{port}", "--cafile", cafile
    )
    assert code == 2
    assert r["findings"][0]["code"] == "connection-failed"
    assert r["leaf_not_after"] is None and r["tls_version"] is None


def test_check_leaf_expiring_and_days(tmp_path, capsys, ca, cafile):
    leaf = ca.issue_cert("127.0.0.1", not_after=datetime.now(UTC) + timedelta(days=5))
    path = write(tmp_path, PinPolicy({"127.0.0.1": PinSet([leaf_pin(leaf), fresh_pin()])}))
    with serve(leaf) as srv:
        host = f"127.0.0.1:{srv.port}"
        code, [r], _ = check_json(capsys, path, "--host", host, "--cafile", cafile)
        assert code == 1 and "leaf-expiring" in [f["code"] for f in r["findings"]]
        code3, [r3], _ = check_json(capsys, path, "--host", host, "--cafile", cafile, "--days", "3")
        assert code3 == 0 and r3["status"] == "ok"
        assert srv.received == b""


def test_check_pin_set_expiring_and_expired(tmp_path, capsys, server, server_cert, cafile):
    today = datetime.now(UTC).date()
    pins = [leaf_pin(server_cert), fresh_pin()]
    policy = PinPolicy(
        {
            "127.0.0.1": PinSet(pins, expires=today + timedelta(days=10)),
            "localhost": PinSet(pins, expires=today - timedelta(days=1)),
        }
    )
    code, reports, _ = check_json(
        capsys,
        write(tmp_path, policy),
        "--host", f"127.0.0.1:{server.port}",
        "--host", f"localhost:{server.port}",
        "--cafile", cafile,
    )
    assert code == 1
    by_host = {r["host"]: r for r in reports}
    assert [r["host"] for r in reports] == ["127.0.0.1", "localhost"]
    assert "pin-set-expiring" in [f["code"] for f in by_host["127.0.0.1"]["findings"]]
    assert "pin-set-expired" in [f["code"] for f in by_host["localhost"]["findings"]]
    assert by_host["127.0.0.1"]["pin_set_expires"] == f"{today + timedelta(days=10)}T00:00:00Z"


def test_check_no_backup_pin(tmp_path, capsys, server, server_cert, ca, cafile):
    policy = PinPolicy({"127.0.0.1": PinSet([leaf_pin(server_cert), ca_pin(ca)])})
    code, [r], _ = check_json(
        capsys, write(tmp_path, policy), "--host", f"127.0.0.1:{server.port}", "--cafile", cafile
    )
    assert code == 1
    assert [f["code"] for f in r["findings"] if f["level"] == "warn"] == ["no-backup-pin"]


def test_check_worst_status_decides_exit(tmp_path, capsys, server, server_cert, cafile):
    ok = PinSet([leaf_pin(server_cert), fresh_pin()])
    bad = PinSet([fresh_pin(), fresh_pin()])
    path = write(tmp_path, PinPolicy({"127.0.0.1": ok, "localhost": bad}))
    code, reports, _ = check_json(
        capsys, path, "--host", f"127.0.0.1:{server.port}", "--host", f"localhost:{server.port}",
        "--cafile", cafile,
    )
    assert code == 2 and [r["status"] for r in reports] == ["ok", "error"]


def test_check_wildcard_needs_host(tmp_path, capsys):
    path = write(tmp_path, PinPolicy({"*.pinned.test": PinSet([fresh_pin(), fresh_pin()])}))
    code, [r], _ = check_json(capsys, path)
    assert code == 2
    assert r["host"] == "*.pinned.test" and r["findings"][0]["code"] == "needs-host"
    assert "--host" in r["findings"][0]["message"]


def test_check_table_output(tmp_path, capsys, server, server_cert, cafile):
    policy = PinPolicy({"127.0.0.1": PinSet([leaf_pin(server_cert), fresh_pin()])})
    code, out, err = run(
        capsys, "check", write(tmp_path, policy), "--host", f"127.0.0.1:{server.port}",
        "--cafile", cafile,
    )
    assert code == 0 and err == ""
    assert "STATUS" in out and "MATCHED PIN" in out
    assert f"127.0.0.1:{server.port}" in out
    assert "OK" in out
    assert out.rstrip().endswith("1 ok, 0 warning, 0 error")
    assert "\x1b[" not in out  # no colour codes when not a terminal


def test_check_json_policy_file(tmp_path, capsys, server, server_cert, cafile):
    policy = PinPolicy({"127.0.0.1": PinSet([leaf_pin(server_cert), fresh_pin()])})
    path = write(tmp_path, policy, "policy.json")
    host = f"127.0.0.1:{server.port}"
    code, [r], _ = check_json(capsys, path, "--host", host, "--cafile", cafile)
    assert code == 0 and r["status"] == "ok"


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--days", "-1"], "--days"),
        (["--timeout", "0"], "--timeout"),
        (["--format", "xml"], "--format"),
        (["--host", "a.test:99999"], "port"),
        (["--host", "[::1"], "]"),
        (["--cafile", "/nonexistent/ca.pem"], "CA file"),
    ],
)
def test_check_bad_usage_exit_2(tmp_path, capsys, args, needle):
    path = write(tmp_path, PinPolicy({"a.test": PinSet([fresh_pin(), fresh_pin()])}))
    code, out, err = run(capsys, "check", path, *args)
    assert code == 2
    assert out == ""
    assert needle in err and "Traceback" not in err


def test_check_bad_policy_file_exit_2(tmp_path, capsys):
    bad = tmp_path / "bad.toml"
    bad.write_text('[hosts."a.test"]\npins = ["sha256/nope"]\n')
    code, out, err = run(capsys, "check", str(bad))
    assert code == 2 and out == ""
    assert err.startswith("certpin check: error: ") and str(bad) in err
    assert err.count("\n") == 1
    code, _, err = run(capsys, "check", str(tmp_path / "missing.toml"))
    assert code == 2 and "missing.toml" in err


# --------------------------------------------------------------------------- lint


def test_lint_clean_exit_0(tmp_path, capsys):
    soon = datetime.now(UTC).date() + timedelta(days=300)
    policy = PinPolicy(
        {"api.example.com": PinSet([fresh_pin()], backup_pins=[fresh_pin()], expires=soon)}
    )
    code, out, err = run(capsys, "lint", write(tmp_path, policy))
    assert code == 0, out
    *notes, summary = out.strip().splitlines()  # notes: the pin-kinds line (issue 11 item 5)
    assert [n.split()[:2] for n in notes] == [["INFO", "pin-kinds"]]
    assert summary == "0 error, 0 warning, 1 note" and err == ""


def test_lint_warnings_exit_1(tmp_path, capsys):
    policy = PinPolicy(
        {
            "*.example.com": PinSet([fresh_pin(), fresh_pin()]),
            "x.example.com": PinSet([fresh_pin()], allow_single_pin=True, enforce=False),
        }
    )
    code, out, _ = run(capsys, "lint", write(tmp_path, policy), "--format", "json")
    assert code == 1
    found = {(f["level"], f["code"], f["pattern"]) for f in json.loads(out)}
    assert ("warn", "overlapping-pattern", "*.example.com") in found
    assert ("warn", "no-backup-pin", "x.example.com") in found
    assert ("info", "report-only", "x.example.com") in found
    assert not any(level == "error" for level, _, _ in found)


def test_lint_public_suffix_exit_2(tmp_path, capsys):
    policy = PinPolicy({"*.github.io": PinSet([fresh_pin(), fresh_pin()])})
    code, out, _ = run(capsys, "lint", write(tmp_path, policy))
    assert code == 2
    assert "ERROR public-suffix *.github.io:" in out


def test_lint_expiry_uses_days(tmp_path, capsys):
    soon = datetime.now(UTC).date() + timedelta(days=10)
    pin_set = PinSet([fresh_pin()], backup_pins=[fresh_pin()], expires=soon)
    policy = PinPolicy({"a.example.com": pin_set})
    path = write(tmp_path, policy)
    code, out, _ = run(capsys, "lint", path)
    assert code == 1 and "WARN pin-set-expiring a.example.com:" in out
    code, out, _ = run(capsys, "lint", path, "--days", "5")
    assert code == 0


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ('[hosts."a.test"]\npins = ["sha256/nope"]\n', "pins"),
        ('[hosts."a.test"]\npinz = []\n', "pinz"),
        ('[hosts."a.test"\n', "line"),
        ('[hosts."A.test"]\npins = ["sha256/' + "A" * 43 + '="]\n', ""),
    ],
)
def test_lint_load_errors_exit_2(tmp_path, capsys, text, needle):
    bad = tmp_path / "bad.toml"
    bad.write_text(text)
    code, out, err = run(capsys, "lint", str(bad), "--format", "json")
    [f] = json.loads(out)
    assert code == 2 and err == f"certpin lint: error: {f['message']}\n"
    assert f["level"] == "error" and f["code"] == "load-error" and f["pattern"] is None
    assert str(bad) in f["message"] and needle in f["message"]
    code, out, err2 = run(capsys, "lint", str(bad))
    assert (code, out, err2) == (2, "", err)  # text mode: the error on stderr only


def test_check_plain_table_without_rich(tmp_path, capsys, server, server_cert, cafile, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "rich", None)  # `import rich...` raises ImportError
    monkeypatch.setitem(sys.modules, "rich.console", None)
    policy = PinPolicy({"127.0.0.1": PinSet([leaf_pin(server_cert), fresh_pin()])})
    code, out, _ = run(
        capsys, "check", write(tmp_path, policy), "--host", f"127.0.0.1:{server.port}",
        "--cafile", cafile,
    )
    assert code == 0
    lines = out.splitlines()
    assert lines[0] == "STATUS | HOST | PATTERN | MATCHED PIN | FINDINGS"
    expected = f"OK | 127.0.0.1:{server.port} | 127.0.0.1 | {leaf_pin(server_cert)}"
    assert lines[1].startswith(expected)


def test_lint_builtin_suffixes_without_publicsuffixlist(tmp_path, capsys, monkeypatch):
    import sys

    from certpin import lint

    monkeypatch.setitem(sys.modules, "publicsuffixlist", None)
    lint._psl_lookup.cache_clear()
    try:
        assert lint.is_public_suffix("co.uk") and not lint.is_public_suffix("example.co.uk")
        assert not lint.is_public_suffix("kawasaki.jp")  # only the full list knows this one
        policy = PinPolicy({"*.herokuapp.com": PinSet([fresh_pin(), fresh_pin()])})
        code, out, _ = run(capsys, "lint", write(tmp_path, policy))
        assert code == 2 and "public-suffix" in out
    finally:
        monkeypatch.undo()
        lint._psl_lookup.cache_clear()
    assert lint.is_public_suffix("kawasaki.jp")  # with the bundled Public Suffix List


# ------------------------------------------------------------ regressions
# Moved here from the files that grouped them by who found them (red team, reviews).


K1 = "sha256/gXQJloeiZiH04s3XzAOz2s7bP7liJVsar9Azyr6DFTA="


# regression: check --timeout 1e308 overflowed time_t deep inside the probe (found by the review of
#   hostile input)
@pytest.mark.parametrize("timeout", ["1e308", "1e10"])
def test_check_huge_timeout_is_a_usage_error(
    timeout: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # 1e308 seconds overflowed time_t deep inside the probe (traceback); pins caps at 3600.
    path = tmp_path / "p.toml"
    path.write_text(f'[hosts."a.test"]\npins = ["{K1}"]\nallow_single_pin = true\n')
    assert main(["check", str(path), "--host", "127.0.0.1:1", "--timeout", timeout]) == 2
    out, err = capsys.readouterr()
    assert "--timeout" in err.strip().splitlines()[-1]
    assert "Traceback" not in out + err
