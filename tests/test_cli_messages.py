"""Error lines: escaped once (no doubled backslashes, no raw control characters)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from certpin import PinSet, PolicyError
from certpin.cli import main
from certpin.errors import escape

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
