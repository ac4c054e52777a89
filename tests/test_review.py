"""Findings of the review: hostile or out-of-range input that used to escape as a traceback."""

from __future__ import annotations

import json
import socket
import warnings
from pathlib import Path

import pytest

from certpin import ConfigError
from certpin.cli import main
from certpin.config import loads_policy

K1 = "sha256/gXQJloeiZiH04s3XzAOz2s7bP7liJVsar9Azyr6DFTA="


def one_error_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]


def test_deeply_nested_toml_is_a_config_error() -> None:
    # tomllib recurses per nesting level: 5000 brackets raised RecursionError.
    doc = "a = " + "[" * 5000 + "]" * 5000
    with pytest.raises(ConfigError, match="nested too deeply"):
        loads_policy(doc, "toml", source="deep.toml")


def test_deeply_nested_toml_cli_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "deep.toml"
    path.write_text("a = " + "{a=" * 3000 + "1" + "}" * 3000 + "\n")
    for cmd in ("lint", "export"):
        argv = [cmd, str(path)] + (["--format", "android"] if cmd == "export" else [])
        assert main(argv) == 2
        out, err = capsys.readouterr()
        assert "deep.toml" in out + err
        assert "Traceback" not in out + err


@pytest.mark.parametrize("value", [
    "0001-01-01T00:00:00+01:00",   # one hour before datetime.min in UTC
    "9999-12-31T23:59:59-01:00",   # one hour after datetime.max in UTC
])
def test_expiry_out_of_range_is_a_config_error(value: str) -> None:
    doc = f'[hosts."a.test"]\npins = ["{K1}"]\nallow_single_pin = true\nexpires = {value}\n'
    with pytest.raises(ConfigError, match=r"line 4 .*expires.*out of range"):
        loads_policy(doc, "toml", source="p.toml")
    host = {"pins": [K1], "allow_single_pin": True, "expires": value}
    jdoc = json.dumps({"hosts": {"a.test": host}})
    with pytest.raises(ConfigError, match=r"expires.*out of range"):
        loads_policy(jdoc, "json", source="p.json")


@pytest.mark.parametrize("cmd", ["lint", "check"])
def test_days_too_large_is_a_usage_error(
    cmd: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "p.toml"
    path.write_text(f'[hosts."a.test"]\npins = ["{K1}"]\nallow_single_pin = true\n')
    # 10**12 overflowed timedelta (C int); 10**7 days overflowed datetime (year 9999).
    for days in ("999999999999", "10000000"):
        assert main([cmd, str(path), "--days", days]) == 2
        out, err = capsys.readouterr()
        assert "--days" in one_error_line(err.splitlines()[-1])
        assert "Traceback" not in out + err


def test_import_output_in_missing_folder_names_the_output(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = tmp_path / "curl.txt"
    src.write_text(f"sha256//{K1.split('/', 1)[1]}\n")
    out = tmp_path / "no" / "such" / "p.toml"
    code = main(["import", str(src), "--from", "curl", "--host", "a.test", "-o", str(out)])
    _, err = capsys.readouterr()
    line = one_error_line(err)
    assert code == 2
    assert str(out) in line          # the file the user named, not the temporary file
    assert ".tmp" not in line
    assert not out.parent.exists()


def test_collect_address_in_use_names_the_address(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        assert main(["collect", "--port", str(port)]) == 2
    _, err = capsys.readouterr()
    line = one_error_line(err)
    assert f"127.0.0.1:{port}" in line


def test_collect_unresolvable_host_names_it(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["collect", "--port", "0", "--host", "no-such-host.invalid"]) == 2
    _, err = capsys.readouterr()
    assert "no-such-host.invalid" in one_error_line(err)


def test_pins_of_a_root_whose_extensions_warn_under_w_error(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Go Daddy Class 2 (in Debian's system store): cryptography warns when its extensions are
    # parsed; `certpin pins /etc/ssl/certs/ca-certificates.crt` under -W error crashed in
    # _position_in_file, outside the warning filter that load_certificates uses.
    pem = Path(__file__).parent / "fixtures" / "godaddy-class2-root.pem"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert main(["pins", "--format", "json", str(pem)]) == 0
    out, err = capsys.readouterr()
    (cert,) = json.loads(out)[0]["certificates"]
    assert cert["position"] == "root"
    assert cert["spki_pin"] == "sha256/VjLZe/p3W/PJnd6lL8JVNBCGQBZynFLdZSTIqcO0SJ8="
    assert err == ""


def test_android_bad_include_subdomains_names_the_location_once() -> None:
    # The attribute's ConfigError (already located) was caught as a PolicyError and wrapped
    # again: "a.xml, line 2: domain 'a.test': a.xml, line 2: <domain> includeSubdomains ...".
    from certpin.config import from_android

    xml = ('<?xml version="1.0" encoding="utf-8"?>\n<network-security-config><domain-config>'
           '<domain includeSubdomains="yes">a.test</domain><pin-set>'
           '<pin digest="SHA-256">gXQJloeiZiH04s3XzAOz2s7bP7liJVsar9Azyr6DFTA=</pin>'
           '<pin digest="SHA-256">sQJTdkyLIz+zdULiNAHHtFDlpvl1HztaAU9vZ+i8mZ0=</pin>'
           '</pin-set></domain-config></network-security-config>')
    with pytest.raises(ConfigError) as info:
        from_android(xml, source="a.xml")
    message = str(info.value)
    assert message.count("a.xml") == 1, message
    assert 'includeSubdomains must be "true" or "false"' in message


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


def test_fetch_chain_refuses_two_trailing_dots() -> None:
    from certpin import ProbeError, fetch_chain

    with pytest.raises(ProbeError, match="not a host name"):
        fetch_chain("localhost..", 1, timeout=1)


def test_library_days_past_year_9999_is_a_value_error() -> None:
    # lint_policy and check_policy documented ValueError for bad days but leaked
    # OverflowError from now + timedelta(days=days).
    from certpin import check_policy, lint_policy
    from certpin.policy import PinPolicy

    empty = PinPolicy({})
    for days in (10**7, 10**12):
        with pytest.raises(ValueError, match="days"):
            lint_policy(empty, days=days)
        with pytest.raises(ValueError, match="days"):
            check_policy(empty, days=days)


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


@pytest.mark.parametrize("timeout", [1e10, 1e308, float("inf")])
def test_fetch_chain_timeout_too_large_is_a_probe_error(timeout: float) -> None:
    # socket.settimeout accepted it, then connect raised OverflowError (time_t) from inside.
    from certpin import ProbeError, fetch_chain

    with pytest.raises(ProbeError, match="timeout"):
        fetch_chain("127.0.0.1", 1, timeout=timeout)


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


def test_collect_accepts_a_bracketed_ipv6_host(capsys: pytest.CaptureFixture[str]) -> None:
    # '--host [::1]' (the URL form the collector itself prints) failed to resolve; a busy
    # port makes the command return at once and shows the address it tried.
    with socket.socket(socket.AF_INET6) as busy:
        busy.bind(("::1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        assert main(["collect", "--port", str(port), "--host", "[::1]"]) == 2
    _, err = capsys.readouterr()
    line = one_error_line(err)
    assert f"cannot listen on [::1]:{port}:" in line
    assert "[[" not in line
