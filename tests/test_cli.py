"""Error lines: escaped once (no doubled backslashes, no raw control characters)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from certpin import PinSet, PolicyError
from certpin.cli import main
from certpin.errors import escape
from support.cli import one_error_line

K1 = "sha256/gXQJloeiZiH04s3XzAOz2s7bP7liJVsar9Azyr6DFTA="

PINS = [
    "sha256/C5+lpZ7tcVwmwQIMcRtPbsQtWLABXhQzejna0wHFr8M=",
    "sha256/hxqRlPTu1bMS/0DITB1SSu0vd4u/8l8TjPgfaAp63Gc=",
]


def test_escape_keeps_backslashes_when_told_the_text_is_escaped_already() -> None:
    assert escape("a\\b\x1b") == "a\\\\b\\x1b"
    assert escape("a\\b\x1b", backslashes=False) == "a\\b\\x1b"
    assert escape(escape("x\x1b[31m"), backslashes=False) == escape("x\x1b[31m")


def test_cli_error_line_escapes_control_characters_once(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    policy = tmp_path / "p.json"
    policy.write_text(json.dumps({"hosts": {"a.example.com": {"pins": PINS}}}))
    assert main(["check", str(policy), "--host", "x\x1b[31m"]) == 2
    err = capsys.readouterr().err
    assert "\x1b" not in err
    assert "x\\x1b[31m" in err and "\\\\x1b" not in err
    assert len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("value", ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00"])
def test_expiry_out_of_range_in_utc_is_a_policy_error(value: str) -> None:
    with pytest.raises(PolicyError, match="out of range"):
        PinSet(PINS, expires=value)


# --- unexpected exceptions and hostile files (issue 16 items 7, 9) -----------------------------

def _boom(args: object) -> int:
    raise RuntimeError("surprise\x1b[2J")


def test_an_unexpected_exception_is_one_line_and_exit_70(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import certpin.commands.lint as lint_cmd

    monkeypatch.setattr(lint_cmd, "run", _boom)
    assert main(["lint", "x.toml"]) == 70
    out, err = capsys.readouterr()
    assert out == ""
    assert err == (
        "certpin lint: internal error (RuntimeError: surprise\\x1b[2J): this is a bug in certpin; "
        "please report it with the traceback that 'certpin --debug lint ...' prints\n"
    )


def test_debug_adds_the_traceback(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import certpin.commands.lint as lint_cmd

    monkeypatch.setattr(lint_cmd, "run", _boom)
    assert main(["--debug", "lint", "x.toml"]) == 70
    err = capsys.readouterr().err
    assert err.startswith("Traceback (most recent call last):\n")
    assert 'in _boom\n    raise RuntimeError("surprise\\x1b[2J")' in err
    assert err.endswith("please report it with the traceback above\n")


def test_lint_on_a_folder_says_so_on_stderr(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["lint", str(tmp_path)]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err == (
        f"certpin lint: error: {tmp_path}: is a directory: expected a policy file "
        "(.toml or .json)\n"
    )


HOSTILE_FILES = {
    "big-int.json": ('{"version": 1, "x": ' + "7" * 5000 + "}").encode(),
    "big-int.toml": ("x = " + "7" * 5000).encode(),
    "deep.json": b'{"x": ' + b"[" * 50_000 + b"]" * 50_000 + b"}",
    "deep.toml": b"x = " + b"[" * 50_000 + b"]" * 50_000,
}


@pytest.mark.parametrize("name", sorted(HOSTILE_FILES))
def test_lint_on_hostile_policy_files_is_one_line(
    name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / name
    path.write_bytes(HOSTILE_FILES[name])
    assert main(["lint", str(path)]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith(f"certpin lint: error: {path}: not valid ")
    assert err.count("\n") == 1 and "Traceback" not in err


HOSTILE_IMPORTS = {
    "android": [
        b'<?xml version="1.0" encoding="utf-4"?><network-security-config/>',
        b'<?xml version="1.0" encoding="utf-7"?><network-security-config/>',
        b"<network-security-config>"
        + b"".join(b"<domain-config><domain>d%d.test</domain>" % i for i in range(1000))
        + b"</domain-config>" * 1000 + b"</network-security-config>",
    ],
    "trustkit": [
        b'<?xml version="1.0" encoding="rot13"?><plist/>',
        b"<plist><dict><key>TSKConfiguration</key>" + b"<array>" * 1000 + b"</array>" * 1000
        + b"</dict></plist>",
    ],
}


@pytest.mark.parametrize("fmt,index", [(f, i) for f, docs in sorted(HOSTILE_IMPORTS.items())
                                       for i in range(len(docs))])
def test_import_of_hostile_xml_is_one_line_and_writes_nothing(
    fmt: str, index: int, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "in.xml"
    path.write_bytes(HOSTILE_IMPORTS[fmt][index])
    out_file = tmp_path / "out.toml"
    assert main(["import", str(path), "--from", fmt, "-o", str(out_file)]) == 2
    out, err = capsys.readouterr()
    assert out == "" and not out_file.exists()
    assert err.startswith(f"certpin import: error: {path}, line ")
    assert ("unsupported XML encoding" in err) != ("nested deeper than 64" in err)
    assert err.count("\n") == 1


# ------------------------------------------------------------ regressions
# Moved here from the files that grouped them by who found them (red team, reviews).


# regression: lint/export of deeply nested TOML: exit 2 and the file's name, not a traceback (found
#   by the review of hostile input)
def test_deeply_nested_toml_cli_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "deep.toml"
    path.write_text("a = " + "{a=" * 3000 + "1" + "}" * 3000 + "\n")
    for cmd in ("lint", "export"):
        argv = [cmd, str(path)] + (["--format", "android"] if cmd == "export" else [])
        assert main(argv) == 2
        out, err = capsys.readouterr()
        assert "deep.toml" in out + err
        assert "Traceback" not in out + err


# regression: lint/check --days overflowing timedelta or datetime was a traceback (found by the
#   review of hostile input)
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
