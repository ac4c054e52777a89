"""Helpers of the CLI tests."""

from __future__ import annotations

from pathlib import Path


def one_error_line(err: str) -> str:
    """The single line of ``err`` (asserted: one line, no traceback)."""
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]


def files(directory: Path) -> list[str]:
    """The names of the files in ``directory``, sorted (what a command left behind)."""
    return sorted(p.name for p in directory.iterdir())
