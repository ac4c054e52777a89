"""Instants: parsing a pin set's expiry, requiring aware datetimes, printing UTC as ISO 8601 "Z".

One home for the time rules every module shares. Pure: no I/O.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time

from .errors import PolicyError, quote

__all__ = ["aware_now", "iso_z", "parse_expires"]

_EXPIRES_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def parse_expires(value: object) -> datetime | None:
    """A pin set's ``expires`` as an aware UTC instant (pins are not enforced from then on).

    A bare date is 00:00 UTC here, in certpin's policies; an Android ``expiration`` date is
    local midnight on the device instead (:mod:`certpin.config.android` converts).

    Args:
        value: None (never expires); an aware :class:`~datetime.datetime` (converted to UTC); a
            :class:`~datetime.date` ``D`` or the string ``"YYYY-MM-DD"``, meaning ``D`` 00:00:00
            UTC; or an ISO 8601 string with an offset (``"2027-01-31T12:00:00+02:00"``).

    Returns:
        An aware :class:`~datetime.datetime` in UTC, or None.

    Raises:
        PolicyError: a naive datetime, a string that is not one of the forms above (a time
            without an offset is ambiguous), another type, or an instant out of range once
            converted to UTC. The message quotes the value.
    """
    try:
        return _parse_expires_unchecked(value)
    except OverflowError:
        raise PolicyError(
            f"expires {quote(value if isinstance(value, str) else str(value))} is out of range "
            "once converted to UTC (years 1 to 9999)"
        ) from None


def _parse_expires_unchecked(value: object) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        if value.tzinfo is None or value.utcoffset() is None:
            raise PolicyError(
                f"expires {value.isoformat()!r} is a naive datetime, which is ambiguous: give "
                "an aware datetime (e.g. tzinfo=datetime.UTC), a date, or an ISO 8601 string "
                "with an offset ('2027-01-31T00:00:00Z')"
            )
        return value.astimezone(UTC)
    if isinstance(value, date):
        return datetime.combine(value, time(0, 0), tzinfo=UTC)
    if isinstance(value, str):
        text = value.strip()
        try:
            if _EXPIRES_DATE.fullmatch(text):
                return datetime.combine(date.fromisoformat(text), time(0, 0), tzinfo=UTC)
            parsed = datetime.fromisoformat(text)
        except ValueError:
            raise PolicyError(
                f"expires {quote(value)} is not an ISO 8601 date ('2027-01-31') or date and "
                "time with an offset ('2027-01-31T12:00:00Z')"
            ) from None
        if parsed.tzinfo is None:
            raise PolicyError(
                f"expires {quote(value)} has a time but no UTC offset, which is ambiguous: "
                "append 'Z' or an offset such as '+02:00'"
            )
        return parsed.astimezone(UTC)
    raise PolicyError(
        f"expires must be a datetime, a date or an ISO 8601 string, got {type(value).__name__}"
    )


def aware_now(now: datetime | None) -> datetime:
    """``now`` in UTC, or the current time when None: the injected clock of every check.

    Raises:
        TypeError: ``now`` is not a datetime.
        ValueError: ``now`` is naive (no UTC offset).
    """
    if now is None:
        return datetime.now(UTC)
    if not isinstance(now, datetime):
        raise TypeError(f"now must be a datetime, got {type(now).__name__}")
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be an aware datetime (e.g. datetime.now(datetime.UTC))")
    return now.astimezone(UTC)


def iso_z(when: datetime, *, timespec: str = "auto") -> str:
    """``when`` in UTC as ISO 8601 with ``Z`` (``"2027-01-31T00:00:00Z"``); a naive datetime is
    taken as UTC. ``timespec`` as for :meth:`datetime.datetime.isoformat`."""
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.astimezone(UTC).isoformat(timespec=timespec).replace("+00:00", "Z")
