"""``certpin demo`` runs end to end, offline, and its steps say what they checked."""

from __future__ import annotations

import re

import pytest

from certpin.cli import main
from certpin.commands import demo


def test_demo_runs_and_reports_every_step(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo"]) == 0
    out, err = capsys.readouterr()
    assert err == ""
    for number, (title, _step) in enumerate(demo.STEPS, 1):
        assert f"{number}. {title}" in out
    assert out.count("-> ok") == len(demo.STEPS)
    assert "FAILED" not in out
    # the live server's verified chain: a leaf and the demo CA's root, each with an SPKI pin
    assert re.search(r"\[0\] leaf +sha256/[A-Za-z0-9+/]{43}=", out)
    assert re.search(r"\[1\] root +sha256/[A-Za-z0-9+/]{43}=", out)
    assert "application bytes the server received: 0" in out
    assert f"ISRG Root X1 computed   sha256/{demo.ISRG_ROOT_X1_PIN}" in out
    assert out.rstrip().endswith("every step went as expected")


def test_a_failing_step_makes_the_demo_fail(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(demo, "ISRG_ROOT_X1_PIN", "A" * 43 + "=")
    assert main(["demo"]) == 1
    out, _ = capsys.readouterr()
    assert "MISMATCH" in out and "-> FAILED" in out
