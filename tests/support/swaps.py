"""Placing a policy swap at an exact point of a client's work, for the swap-race tests of the
client helpers (tests/clients/test_clients_plainwrite.py, test_clients_guard_r17.py, _r18.py):
the swap runs on another thread, as :class:`certpin.updates.PolicyUpdater` runs it, while this
thread waits inside its first TCP connect to a loopback server of :mod:`support.recording`."""

from __future__ import annotations

import contextlib
import sys
import threading
from collections.abc import Callable, Iterator
from types import FrameType
from typing import Any

import support.recording as recording

__all__ = ["swap_at_first_connect"]


@contextlib.contextmanager
def swap_at_first_connect(swap: Callable[[], None], *, must_connect: bool = True,
                          ) -> Iterator[list[bool]]:
    """Run ``swap`` on another thread when this thread enters its first TCP connect (to a
    :mod:`support.recording` server), and wait for it there; yields ``[fired]``.

    Raises:
        AssertionError: the swap raised; or no connect was traced while ``must_connect``
            (the swap was never placed, so the test would test nothing).
    """
    fired = [False]
    errors: list[BaseException] = []

    def updater() -> None:
        try:
            swap()
        except BaseException as exc:  # reported below
            errors.append(exc)

    def tracer(frame: FrameType, event: str, arg: Any) -> Any:
        code = frame.f_code
        if (event == "call" and not fired[0] and code.co_name in ("connect", "connect_ex")
                and code.co_filename == recording.__file__):
            fired[0] = True
            t = threading.Thread(target=updater, name="certpin-updates")
            t.start()
            t.join(30)
        return None

    previous = sys.gettrace()
    sys.settrace(tracer)
    try:
        yield fired
    finally:
        sys.settrace(previous)
    assert not errors, f"the swap failed: {errors!r}"
    assert fired[0] or not must_connect, "no TCP connect was traced: the swap was never placed"
