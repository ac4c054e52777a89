"""What the caller sees when aiohttp's or websockets' clear-text write is refused after a policy
swap (review 10o, ``test_clients_guard_r15.py`` checks that nothing is sent): a
:class:`~certpin.clients.PinnedRequestError`, or the library's own error with it as cause, naming
the host the swap pinned; a session or connection made without a swap still works there."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest
from test_clients_guard_r15 import (
    ORIGIN,
    PROXY,
    _is_aiohttp_write_bytes,
    _is_tcp_connect,
    _proxy,
    _swappable,
    swap_when,
)

from certpin.clients import PinnedRequestError
from support.review import TIMEOUT, Review, attempt, review

__all__ = ["review"]  # fixture imported for pytest


def _refusal(outcome: object) -> PinnedRequestError:
    err = outcome if isinstance(outcome, PinnedRequestError) else getattr(outcome, "__cause__",
                                                                          None)
    assert isinstance(err, PinnedRequestError), f"not refused by certpin: {outcome!r}"
    assert f"pinned host {PROXY}" in str(err)
    return err


def test_aiohttp_connect_refusal_is_a_pinned_request_error(review: Review) -> None:
    from certpin.clients.aiohttp import pinned_session

    ctx, swap = _swappable(review)

    async def run() -> Any:
        async with pinned_session(ctx) as s, s.get(
            f"https://{ORIGIN}/secret", proxy=_proxy(review),
            timeout=aiohttp.ClientTimeout(total=TIMEOUT),
        ) as r:
            return r.status

    with swap_when(_is_tcp_connect, swap):
        outcome = attempt(run)
    _refusal(outcome)


def test_aiohttp_body_task_refusal_has_a_pinned_request_error_as_cause(review: Review) -> None:
    from certpin.clients.aiohttp import pinned_session

    ctx, swap = _swappable(review)
    url = f"http://{PROXY}:{review.impostor.plain_port}/secret"

    async def run() -> Any:
        async with pinned_session(ctx) as s:
            async with s.post(url, data=b"before", timeout=aiohttp.ClientTimeout(total=TIMEOUT)):
                pass  # v1 does not pin the host: sent (the recorder answers or closes)
            with swap_when(_is_aiohttp_write_bytes, swap):
                try:
                    async with s.post(url, data=b"after",
                                      timeout=aiohttp.ClientTimeout(total=TIMEOUT)) as r:
                        return r.status
                except Exception as exc:
                    return exc

    first_mark = review.impostor.mark()
    outcome = asyncio_run(run)
    _refusal(outcome)
    sent = b"".join(r.data for r in review.impostor.since(first_mark))
    assert b"before" in sent
    assert b"after" not in sent


def asyncio_run(fn: Any) -> object:
    out = attempt(fn)
    if isinstance(out, aiohttp.ClientError) and not isinstance(
        out.__cause__, PinnedRequestError
    ):
        pytest.fail(f"the first request failed: {out!r}")
    return out


@pytest.mark.parametrize("scheme", ["wss", "ws"])
def test_websockets_connect_refusal_is_a_pinned_request_error(review: Review,
                                                              scheme: str) -> None:
    from certpin.clients.websockets import connect

    ctx, swap = _swappable(review)

    async def run() -> Any:
        async with connect(f"{scheme}://{ORIGIN}/feed", ctx, proxy=_proxy(review),
                           open_timeout=TIMEOUT, close_timeout=0.2):
            return "opened"

    with swap_when(_is_tcp_connect, swap):
        outcome = attempt(run)
    _refusal(outcome)
