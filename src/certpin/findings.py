"""One vocabulary for what certpin's checks find: :class:`Level`, :class:`Status`, :class:`Finding`.

Shared by :mod:`certpin.health` (live servers), :mod:`certpin.lint` (offline policy checks) and the
pre-deploy gate; each finding code has one meaning everywhere (the tables are in those modules'
docstrings). Pure.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass

__all__ = ["Finding", "Level", "Status", "sort_findings", "status_of"]


class Level(enum.StrEnum):
    """The severity of a :class:`Finding`."""

    INFO = "info"
    WARN = "warn"
    ERROR = "error"


class Status(enum.StrEnum):
    """The overall state of one host: the most severe finding (info counts as ``ok``)."""

    OK = "ok"
    WARN = "warn"
    ERROR = "error"


RANK = {Level.INFO: 0, Level.WARN: 1, Level.ERROR: 2}


@dataclass(frozen=True)
class Finding:
    """One observation about a host.

    Attributes:
        level: info, warn or error.
        code: a stable identifier (see the table of the module that makes it), e.g.
            ``"backup-pin-matched"``.
        message: a human sentence; network strings in it are escaped.
    """

    level: Level
    code: str
    message: str

    def to_json(self) -> dict[str, str]:
        """Return ``{"level": ..., "code": ..., "message": ...}`` (all strings)."""
        return {"level": self.level.value, "code": self.code, "message": self.message}


def status_of(findings: Iterable[Finding]) -> Status:
    """The most severe level among ``findings`` as a :class:`Status` (info counts as ``ok``)."""
    worst = max((RANK[f.level] for f in findings), default=0)
    return (Status.OK, Status.WARN, Status.ERROR)[worst]


def sort_findings(findings: Iterable[Finding]) -> tuple[Finding, ...]:
    """``findings`` most severe first (stable within a level)."""
    return tuple(sorted(findings, key=lambda f: -RANK[f.level]))
