"""Issue 11, item 4's sibling: untrusted text is escaped exactly once on its way to a message.

The rule (:func:`certpin.errors.escape`): a backslash of the input is shown as ``\\\\`` (two
characters, so that ``\\t`` always means a tab), a control character as its escape, never
raw; and nothing that was escaped is escaped again (no ``\\\\\\\\`` for one backslash).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st

from certpin.cli import main
from certpin.errors import ConfigError, PolicyError, escape, message_of, quote
from certpin.pins import parse_pin

K1 = "sha256/gXQJloeiZiH04s3XzAOz2s7bP7liJVsar9Azyr6DFTA="
K2 = "sha256/sQJTdkyLIz+zdULiNAHHtFDlpvl1HztaAU9vZ+i8mZ0="

#: hostile text: backslashes, control characters (C0, DEL, C1), escapes that look like escapes
HOSTILE = st.text(alphabet=st.sampled_from(list("ab\\xnt0.\x00\x07\t\n\x1b\x7f\x85\u2028")),
                  min_size=1, max_size=12).filter(lambda s: "\\" in s or not s.isprintable())


def _error_line(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    assert main(list(argv)) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.endswith("\n") and err.count("\n") == 1, err
    line = err[:-1]
    assert line.isprintable(), line  # never a raw control character
    return line


def _write(tmp_path: Path, doc: object) -> str:
    path = tmp_path / "policy.json"
    path.write_text(json.dumps(doc))
    return str(path)


@seed(20260801)
@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=HOSTILE, where=st.sampled_from(["pin", "host", "expires"]),
       command=st.sampled_from(["lint", "check"]))
def test_policy_load_errors_show_each_backslash_once(tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str],
                                                     text: str, where: str,
                                                     command: str) -> None:
    host, pins, extra = "a.example.com", [K1, K2], {}
    if where == "pin":
        pins = ["sha256/" + text, K2]
        shown = "sha256/" + text
    elif where == "host":
        host = "x" + text + ".example.com"
        shown = host
    else:
        extra = {"expires": text}
        shown = text
    path = _write(tmp_path, {"hosts": {host: {"pins": pins, **extra}}})
    line = _error_line(capsys, command, path)
    assert f"'{escape(shown)}'" in line, line
    if "\\" in shown:  # escaped once, not twice
        assert escape(escape(shown)) not in line, line


def test_one_backslash_in_a_pin_is_shown_as_two(tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    """The case of the review: ``a\\b`` was shown as ``a\\\\\\\\b``."""
    path = _write(tmp_path, {"hosts": {"a.example.com": {"pins": ["sha256/a\\b", K2]}}})
    line = _error_line(capsys, "lint", path)
    assert "invalid pin 'sha256/a\\\\b': " in line  # the characters a \ \ b


def test_quote_escapes_once_in_single_quotes() -> None:
    assert quote("a\\b\tc") == "'a\\\\b\\tc'"
    assert quote("it's") == "'it's'"
    assert quote("x" * 100, 10) == "'xxxxxxxxxx...'"
    assert quote("x" * 100, None) == "'" + "x" * 100 + "'"
    assert quote(b"\\") == "b'\\\\'"  # a non-string: its repr (escaped once already)


@given(st.text(max_size=30))
@seed(20260802)
@settings(max_examples=200)
def test_parse_pin_quotes_its_text_once(text: str) -> None:
    try:
        parse_pin(text)
    except PolicyError:
        pytest.fail("parse_pin raised a PolicyError")  # pragma: no cover
    except ValueError as exc:
        message = str(exc)
        assert message.isprintable()
        if text.strip() and len(text) <= 20 and "'" not in text:
            assert f"'{escape(text)}'" in message, message


def test_message_of_does_not_escape_a_certpin_message_again() -> None:
    exc = ConfigError("bad value " + quote("a\\b"))
    assert message_of(exc) == "bad value 'a\\\\b'"
    assert message_of(ValueError("a\\b\x07")) == "a\\\\b\\x07"
    # a certpin message with a stray control character still never shows it raw
    assert message_of(ConfigError("x\ny")) == "x\\ny"
