"""Pin events: what the TLS layer hands to an injected reporter, and their kinds.

The contract between :mod:`certpin.tls` (which builds events from a connection) and
:mod:`certpin.report` (which turns them into RFC 7469 section 3 violation reports). Pure: no I/O,
no :mod:`ssl`.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .verify import Verdict

__all__ = ["PIN_EVENT_KINDS", "PinEvent", "PinEventKind"]


class PinEventKind(enum.StrEnum):
    """The kinds of :class:`PinEvent` (a :class:`str` enum: ``PinEventKind.PIN_MISMATCH ==
    "pin-mismatch"``); the value is the report's ``validation-result``."""

    PIN_MISMATCH = "pin-mismatch"
    REPORT_ONLY_MISMATCH = "report-only-mismatch"
    CERTIFICATE_INVALID = "certificate-invalid"


#: The values of :attr:`PinEvent.kind`.
PIN_EVENT_KINDS = tuple(kind.value for kind in PinEventKind)


@dataclass(frozen=True)
class PinEvent:
    """What the TLS layer hands to an injected reporter when a check fails or reports.

    Attributes:
        kind: a :class:`PinEventKind` (a :class:`str` enum: ``"pin-mismatch"``, an enforced
            check failed; ``"report-only-mismatch"``; ``"certificate-invalid"``, the handshake's
            own validation failed). A plain string of one of these values is accepted and
            converted.
        hostname: the host name of the connection.
        port: the server port, or None when unknown.
        verdict: the :class:`certpin.Verdict`, or None when no pin check ran.
        served_chain: the chain the server sent, DER, in its order (for reports only, never
            for matching).
        verified_chain: the chain OpenSSL verified, DER, leaf first.
        error: the error text, or None.
        time: when it happened, aware UTC.

    Raises:
        ValueError: on construction, for another ``kind`` or a naive ``time``.
    """

    kind: PinEventKind
    hostname: str
    port: int | None
    verdict: Verdict | None
    served_chain: tuple[bytes, ...]
    verified_chain: tuple[bytes, ...]
    error: str | None
    time: datetime

    def __post_init__(self) -> None:
        try:
            kind = PinEventKind(self.kind)
        except ValueError:
            raise ValueError(
                f"PinEvent kind must be one of {', '.join(PIN_EVENT_KINDS)}, got {self.kind!r}"
            ) from None
        object.__setattr__(self, "kind", kind)
        if not isinstance(self.time, datetime) or self.time.utcoffset() is None:
            raise ValueError("PinEvent time must be an aware datetime (UTC)")
