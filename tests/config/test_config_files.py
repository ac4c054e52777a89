"""Policy files (TOML, JSON): schema, located errors, atomic writes."""

from __future__ import annotations

import json
import os
import stat
from datetime import UTC, datetime
from pathlib import Path

import pytest

from certpin import ConfigError
from certpin.config import dump_policy, dumps_policy, load_policy, loads_policy
from certpin.policy import PinPolicy, PinSet

K1 = "sha256/gXQJloeiZiH04s3XzAOz2s7bP7liJVsar9Azyr6DFTA="
K2 = "sha256/sQJTdkyLIz+zdULiNAHHtFDlpvl1HztaAU9vZ+i8mZ0="
K3 = "sha256/9XYQTuvqsJZR2DrP/HfIuMbqpLdnrqsk19qA+D9R2GU="
C1 = "cert-sha256/lEnH86k88MVaZ13fHINzLYfVYlXnCxUNnm88+GO7f8E="

GOOD_TOML = f"""\
version = 1
unknown_hosts = "reject"
expired = "allow"

[hosts."api.example.com"]
pins = ["{K1}", "{K2}"]
backup_pins = ["{K3}"]
include_subdomains = true
expires = 2027-01-31
enforce = false
report_uris = ["https://reports.example.com/pins"]

[hosts."*.cdn.example.com"]
pins = ["{C1}"]
allow_single_pin = true
expires = 2027-01-31T12:30:00+02:00
"""


def test_toml_fields_are_read() -> None:
    policy = loads_policy(GOOD_TOML, "toml", source="p.toml")
    assert policy.unknown_hosts == "reject"
    assert policy.expired == "allow"
    api = policy.pin_sets["api.example.com"]
    assert [str(p) for p in api.pins] == [K1, K2]
    assert [str(p) for p in api.backup_pins] == [K3]
    assert api.include_subdomains is True
    assert api.expires == datetime(2027, 1, 31, tzinfo=UTC)
    assert api.enforce is False
    assert api.report_uris == ("https://reports.example.com/pins",)
    cdn = policy.pin_sets["*.cdn.example.com"]
    assert cdn.expires == datetime(2027, 1, 31, 10, 30, tzinfo=UTC)
    assert cdn.allow_single_pin is True
    assert cdn.enforce is True
    assert cdn.pins[0].kind == "cert"


def test_json_same_schema_and_round_trip() -> None:
    policy = loads_policy(GOOD_TOML, "toml")
    text = dumps_policy(policy, "json")
    data = json.loads(text)
    assert data["hosts"]["api.example.com"]["expires"] == "2027-01-31"
    assert data["hosts"]["*.cdn.example.com"]["expires"] == "2027-01-31T10:30:00Z"
    assert loads_policy(text, "json") == policy
    assert loads_policy(dumps_policy(policy, "toml"), "toml") == policy


def test_pins_in_other_notations_are_written_canonically() -> None:
    hpkp = 'pin-sha256="gXQJloeiZiH04s3XzAOz2s7bP7liJVsar9Azyr6DFTA="'
    text = json.dumps({"hosts": {"A.Example.COM.": {"pins": [hpkp, K2]}}})
    policy = loads_policy(text, "json")
    assert list(policy.pin_sets) == ["a.example.com"]
    assert f'"{K1}"' in dumps_policy(policy, "toml")


def test_load_and_dump_by_extension(tmp_path: Path) -> None:
    policy = loads_policy(GOOD_TOML, "toml")
    for name in ("p.toml", "p.json"):
        path = tmp_path / name
        dump_policy(policy, path)
        assert load_policy(path) == policy
    with pytest.raises(ConfigError, match=r"p\.yaml.*expected \.toml or \.json"):
        load_policy(tmp_path / "p.yaml")


def _err(text: str, fmt: str = "toml") -> str:
    with pytest.raises(ConfigError) as info:
        loads_policy(text, fmt, source="policy." + fmt)  # type: ignore[arg-type]
    msg = str(info.value)
    assert msg.startswith("policy." + fmt), msg
    return msg


def test_toml_syntax_error_names_line() -> None:
    msg = _err('version = 1\n[hosts."a.test"]\npins = ["x",\n')
    assert "policy.toml, line 3: not valid TOML" in msg
    msg = _err('version = 1\n[hosts."a.test"\npins = []\n')
    assert "policy.toml, line 2: not valid TOML" in msg


def test_unknown_top_level_key() -> None:
    msg = _err('unknown_host = "reject"\n')
    assert "line 1" in msg and "unknown key 'unknown_host'" in msg


def test_unknown_host_key_names_line_and_path() -> None:
    msg = _err(f'[hosts."a.test"]\npins = ["{K1}", "{K2}"]\ninclude_subdomain = true\n')
    assert 'line 3 (hosts."a.test".include_subdomain)' in msg
    assert "unknown key" in msg and "include_subdomains" in msg


def test_bad_pin_names_index_and_line() -> None:
    msg = _err(f'[hosts."a.test"]\n\npins = ["{K1}", "sha256/short"]\n')
    assert 'line 3 (hosts."a.test".pins[1])' in msg
    assert "sha256/short" in msg


def test_wrong_types() -> None:
    assert "expected true or false, got a string" in _err(
        f'[hosts."a.test"]\npins = ["{K1}", "{K2}"]\nenforce = "yes"\n'
    )
    assert "expected an array of pin strings" in _err(f'[hosts."a.test"]\npins = "{K1}"\n')
    assert 'hosts."a.test".pins[0]' in _err('{"hosts": {"a.test": {"pins": [1]}}}', "json")
    assert "expected a table for the host" in _err('hosts = {"a.test" = 3}\n')
    assert "expected \"allow\" or \"reject\"" in _err('expired = "deny"\n')
    assert "unsupported version" in _err("version = 2\n")


def test_bad_dates() -> None:
    base = f'[hosts."a.test"]\npins = ["{K1}", "{K2}"]\n'
    msg = _err(base + 'expires = "31/01/2027"\n')
    assert 'line 3 (hosts."a.test".expires)' in msg and "ISO date" in msg
    assert "needs a UTC offset" in _err(base + "expires = 2027-01-31T12:00:00\n")
    assert "expected a date" in _err(base + "expires = 12\n")
    assert "ISO date" in _err(base + 'expires = "2027-02-30"\n')


def test_policy_rule_broken_becomes_located_config_error() -> None:
    msg = _err(f'[hosts."a.test"]\npins = ["{K1}"]\n')
    assert "line 1 (hosts.\"a.test\")" in msg and "backup pin" in msg
    assert "include_subdomains" in _err(
        f'[hosts."*.a.test"]\npins = ["{K1}", "{K2}"]\ninclude_subdomains = true\n'
    )
    msg = _err(f'[hosts."A.test"]\npins = ["{K1}", "{K2}"]\n[hosts."a.test."]\n'
               f'pins = ["{K1}", "{K2}"]\n')
    assert "duplicates" in msg and "line 3" in msg
    assert "bad host pattern" in _err(f'[hosts."a..test"]\npins = ["{K1}", "{K2}"]\n')
    assert "missing key 'pins'" in _err('[hosts."a.test"]\nenforce = true\n')


def test_json_errors() -> None:
    msg = _err('{"hosts": {"a.test": {"pins": [}}}', "json")
    assert "line 1, column" in msg and "not valid JSON" in msg
    assert "duplicate key 'pins'" in _err(
        '{"hosts": {"a.test": {"pins": [], "pins": []}}}', "json"
    )
    text = json.dumps({"hosts": {"b.test": {"pins": [K1, K2], "expires": "2027-01-01"},
                                 "a.test": {"pins": [K1, K2], "expires": "soon"}}}, indent=2)
    msg = _err(text, "json")
    assert 'line 15 (hosts."a.test".expires)' in msg, msg
    assert text.splitlines()[14].strip() == '"expires": "soon"'


def test_oversized_input_refused(tmp_path: Path) -> None:
    path = tmp_path / "big.toml"
    path.write_bytes(b"#" * (1024 * 1024 + 1))
    with pytest.raises(ConfigError, match="larger than 1048576 bytes"):
        load_policy(path)


def test_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "p.toml"
    path.write_bytes(b'unknown_hosts = "\xff"\n')
    with pytest.raises(ConfigError, match=r"p\.toml: not UTF-8 text \(byte 17\)"):
        load_policy(path)


# --- atomic writes ---------------------------------------------------------------------------


def _policy() -> PinPolicy:
    return PinPolicy({"a.test": PinSet([K1, K2])})


def test_dump_keeps_mode_of_existing_file(tmp_path: Path) -> None:
    path = tmp_path / "p.toml"
    path.write_text("old")
    path.chmod(0o600)
    dump_policy(_policy(), path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_policy(path) == _policy()


def test_dump_new_file_follows_umask(tmp_path: Path) -> None:
    old = os.umask(0o027)
    try:
        dump_policy(_policy(), tmp_path / "p.json")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "p.json").stat().st_mode) == 0o640


def test_failed_replace_leaves_old_file_and_no_temp(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "p.toml"
    path.write_text("old contents\n")

    def boom(src: str, dst: str) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError, match="No space left"):
        dump_policy(_policy(), path)
    assert path.read_text() == "old contents\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p.toml"]


def test_failed_write_of_new_file_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def boom(fd: int) -> None:
        raise OSError(5, "I/O error")

    monkeypatch.setattr(os, "fsync", boom)
    with pytest.raises(OSError, match="I/O error"):
        dump_policy(_policy(), tmp_path / "new.toml")
    assert list(tmp_path.iterdir()) == []


def test_missing_optional_dependency_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    from certpin.config import from_android

    monkeypatch.setitem(sys.modules, "tomli_w", None)
    with pytest.raises(ConfigError, match=r"tomli-w is required.*certpin\[config\]"):
        dumps_policy(_policy(), "toml")
    assert loads_policy(dumps_policy(_policy(), "json"), "json") == _policy()
    monkeypatch.setitem(sys.modules, "defusedxml.ElementTree", None)
    with pytest.raises(ConfigError, match=r"defusedxml is required"):
        from_android("<network-security-config/>")


def test_dump_without_overwrite_refuses_existing_file(tmp_path: Path) -> None:
    path = tmp_path / "p.toml"
    dump_policy(_policy(), path, overwrite=False)
    assert load_policy(path) == _policy()
    path.write_text("mine\n")
    with pytest.raises(ConfigError, match=r"p\.toml: exists; refusing to replace it"):
        dump_policy(_policy(), path, overwrite=False)
    assert path.read_text() == "mine\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p.toml"]


# --- hostile input (issue 16): every failure is a located ConfigError --------------------------

@pytest.mark.parametrize("fmt,doc", [
    ("json", '{"version": 1, "unknown": ' + "9" * 5000 + "}"),
    ("json", '{"version": ' + "1" * 65 + "}"),
    ("toml", "unknown = " + "9" * 5000),
    ("toml", "version = " + "1" * 4400),
])
def test_integer_literals_over_the_limit_are_config_errors(fmt: str, doc: str) -> None:
    with pytest.raises(ConfigError, match="integer literal") as info:
        loads_policy(doc, fmt, source="p." + fmt)  # type: ignore[arg-type]
    assert str(info.value).startswith("p." + fmt)
    assert len(str(info.value)) < 200  # the literal itself is not echoed


def test_json_integer_at_the_cap_is_read_as_a_number() -> None:
    from certpin.config import MAX_INT_DIGITS

    with pytest.raises(ConfigError, match=r"unsupported version 1{40}\.\.\.: expected 1$"):
        loads_policy('{"version": ' + "1" * MAX_INT_DIGITS + "}", "json")


@pytest.mark.parametrize("fmt", ["json", "toml"])
def test_a_lone_surrogate_in_a_str_is_a_located_config_error(fmt: str) -> None:
    doc = '{\n "hosts": {"a\ud800": 1}}' if fmt == "json" else 'x = 1\n[hosts."a\udfff"]'
    with pytest.raises(ConfigError, match=r"line 2, column \d+: text holds a lone surrogate"):
        loads_policy(doc, fmt)  # type: ignore[arg-type]


def test_a_directory_is_named_as_one(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_policy(tmp_path)
    assert str(info.value) == f"{tmp_path}: is a directory: expected a policy file (.toml or .json)"


@pytest.mark.parametrize("fmt,opener,closer", [("json", "[", "]"), ("toml", "[", "]")])
def test_deep_nesting_is_a_config_error(fmt: str, opener: str, closer: str) -> None:
    value = opener * 100_000 + closer * 100_000
    doc = f'{{"x": {value}}}' if fmt == "json" else f"x = {value}"
    with pytest.raises(ConfigError, match="nested too deeply"):
        loads_policy(doc, fmt)  # type: ignore[arg-type]


def _distinct_pins(n: int) -> list[str]:
    import base64
    import hashlib

    return ["sha256/" + base64.b64encode(hashlib.sha256(str(i).encode()).digest()).decode()
            for i in range(n)]


@pytest.mark.parametrize("backups", [0, 30])
def test_a_pin_set_over_the_pin_cap_is_a_located_config_error(backups: int) -> None:
    from certpin.config import MAX_PINS_PER_SET

    pins = _distinct_pins(MAX_PINS_PER_SET + 1)
    table = {"pins": pins[backups:], "backup_pins": pins[:backups]}
    doc = json.dumps({"hosts": {"a.example": table}}, indent=1)
    with pytest.raises(ConfigError) as info:
        loads_policy(doc, "json", source="p.json")
    assert str(info.value) == (
        'p.json, line 3 (hosts."a.example"): 65 pins in one pin set; certpin reads at most 64 '
        "(the live keys and a few backups)"
    )
    ok = {"hosts": {"a.example": {"pins": pins[:MAX_PINS_PER_SET]}}}
    assert len(loads_policy(json.dumps(ok), "json").pin_sets["a.example"].pins) == 64


# ------------------------------------------------------------ regressions
# Moved here from the files that grouped them by who found them (red team, reviews).


# regression: deeply nested TOML raised RecursionError out of tomllib instead of a ConfigError
#   (found by the review of hostile input)
def test_deeply_nested_toml_is_a_config_error() -> None:
    # tomllib recurses per nesting level: 5000 brackets raised RecursionError.
    doc = "a = " + "[" * 5000 + "]" * 5000
    with pytest.raises(ConfigError, match="nested too deeply"):
        loads_policy(doc, "toml", source="deep.toml")


# regression: an expiry out of datetime's range once converted to UTC escaped as OverflowError
#   (found by the review of hostile input)
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
