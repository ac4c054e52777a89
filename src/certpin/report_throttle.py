"""Throttling of pin violation reports: deduplication keys, token buckets per report URI, and
quiet periods for repeated log lines. Bounded tables; an injected clock. Pure: no I/O, no thread.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .report import ViolationReport

__all__ = [
    "DEDUP_SECONDS",
    "DEDUP_SIZE",
    "LOG_INTERVAL",
    "RATE_BURST",
    "RATE_PER_MINUTE",
    "RATE_TABLE_SIZE",
    "Buckets",
    "Quiet",
    "dedup_key",
]

#: An identical report goes to the same URI at most once in this many seconds.
DEDUP_SECONDS = 24 * 60 * 60.0


#: Entries of the deduplication table (oldest evicted first).
DEDUP_SIZE = 1024


#: Token bucket per report URI: burst size and refill rate (reports a minute).
RATE_BURST = 10


RATE_PER_MINUTE = 10.0


#: Report URIs tracked by the rate limiter (least recently used evicted).
RATE_TABLE_SIZE = 256


#: How long a report-only warning (per host and result) or a delivery error (per URI) stays quiet.
LOG_INTERVAL = 60.0


def dedup_key(uri: str, report: ViolationReport) -> str:
    doc = report.to_json()
    del doc["date-time"]
    canonical = json.dumps(doc, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(f"{uri}\n{canonical}".encode()).hexdigest()


class Quiet:
    """At most one event per key and ``interval`` seconds; bounded table (LRU eviction)."""

    def __init__(self, interval: float, size: int, clock: Callable[[], float]) -> None:
        self.interval = interval
        self.size = size
        self.clock = clock
        self._last: OrderedDict[Any, float] = OrderedDict()
        self._lock = threading.Lock()

    def allow(self, key: Any) -> bool:
        now = self.clock()
        with self._lock:
            last = self._last.get(key)
            if last is not None and now - last < self.interval:
                return False
            self._last[key] = now
            self._last.move_to_end(key)
            while len(self._last) > self.size:
                self._last.popitem(last=False)
            return True


class Buckets:
    """A token bucket per key: ``burst`` tokens, refilled at ``per_minute`` a minute."""

    def __init__(self, burst: int, per_minute: float, size: int,
                 clock: Callable[[], float]) -> None:
        self.burst = burst
        self.rate = per_minute / 60.0
        self.size = size
        self.clock = clock
        self._state: OrderedDict[str, tuple[float, float]] = OrderedDict()
        self._lock = threading.Lock()

    def take(self, key: str) -> bool:
        now = self.clock()
        with self._lock:
            tokens, stamp = self._state.get(key, (float(self.burst), now))
            tokens = min(float(self.burst), tokens + (now - stamp) * self.rate)
            ok = tokens >= 1.0
            if ok:
                tokens -= 1.0
            self._state[key] = (tokens, now)
            self._state.move_to_end(key)
            while len(self._state) > self.size:
                self._state.popitem(last=False)
            return ok
