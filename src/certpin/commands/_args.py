"""argparse ``type=`` converters shared by the commands; each raises ArgumentTypeError.

Nothing here is public API.
"""

from __future__ import annotations

import argparse

MAX_DAYS = 36500  # 100 years; beyond this now + days leaves datetime's range (year 9999)
MAX_SECONDS = 3600.0  # network timeouts; huge values overflow time_t in socket


def non_negative_int(text: str) -> int:
    """An integer >= 0."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {value}")
    return value


def days(text: str) -> int:
    """A number of days, 0 to :data:`MAX_DAYS`."""
    value = non_negative_int(text)
    if value > MAX_DAYS:
        raise argparse.ArgumentTypeError(f"expected at most {MAX_DAYS} days, got {value}")
    return value


def positive_int(text: str) -> int:
    """An integer >= 1."""
    value = non_negative_int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {value}")
    return value


def seconds(text: str) -> float:
    """A timeout: more than 0 and at most :data:`MAX_SECONDS` seconds."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {text!r}") from None
    if not 0 < value <= MAX_SECONDS:
        raise argparse.ArgumentTypeError(
            f"expected a positive number of seconds up to {MAX_SECONDS:g}, got {text!r}"
        )
    return value


def okhttp_version(text: str) -> int:
    """An OkHttp major version certpin writes for: 3 (OkHttp 3.x) or 4 (OkHttp >= 4.3)."""
    if text not in ("3", "4"):
        raise argparse.ArgumentTypeError(
            f"expected 3 or 4 (OkHttp 3.x, or OkHttp 4.3 and later), got {text!r}"
        )
    return int(text)
