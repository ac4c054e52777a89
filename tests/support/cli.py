"""Helpers of the CLI tests."""

from __future__ import annotations


def one_error_line(err: str) -> str:
    """The single line of ``err`` (asserted: one line, no traceback)."""
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]
