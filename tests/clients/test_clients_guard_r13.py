"""Review 10m of the client helpers: the frames a plain WebSocket sends that the application does
not send through ``send``/``ping``/``pong``, after a policy swap pins its host.

Review 10l made certpin's websockets ``connect`` and aiohttp's ``ws_connect`` on a
``pinned_session`` judge a plain ``ws://`` connection's host again before every message, ping and
pong the application sends, cutting the connection when a swap pinned it. Two more frame paths
of those same connections are not judged again:

* the closing handshake: websockets' ``ClientConnection.close(code, reason)`` (also run when the
  ``async with`` block exits) and aiohttp's ``ClientWebSocketResponse.close(code=, message=)``
  write a Close frame, with the application's reason text, straight to the protocol's writer;
* aiohttp's ``heartbeat=`` (documented ``ws_connect`` argument) writes Ping frames from a timer
  with ``WebSocketWriter.send_frame``, not through ``ClientWebSocketResponse.ping``.

The IMPOSTOR is the recording plain-TCP listener at ``unpinned.test`` (127.0.0.1), as the
WebSocket server; v1 does not pin ``unpinned.test``, v2 does. Each test asserts that no byte
after the opening handshake reached it once v2 was swapped in.
"""

from __future__ import annotations

import asyncio
import ssl
from typing import Any

import aiohttp

import certpin
from certpin.tls import pinning_context
from certpin.tls.swap import SwapRight, swap_policy
from support.review import TIMEOUT, Review, attempt, review

__all__ = ["review"]  # fixture imported for pytest

WS_HOST = "unpinned.test"
WS_TIMEOUT = aiohttp.ClientWSTimeout(ws_close=TIMEOUT)
_PING = 0x89  # FIN + opcode 9 (RFC 6455 section 5.2)


def _versions(review: Review) -> tuple[certpin.PinPolicy, certpin.PinPolicy]:
    """(v1: the review policy, ``unpinned.test`` unpinned; v2: the same, plus that host)."""
    v1 = review.policy
    v2 = certpin.PinPolicy({**v1.pin_sets, WS_HOST: v1.pin_sets["localhost"]},
                           unknown_hosts="allow")
    assert not v1.is_pinned(WS_HOST)
    assert v2.is_pinned(WS_HOST)
    return v1, v2


def _context(review: Review, v1: certpin.PinPolicy) -> tuple[ssl.SSLContext, SwapRight]:
    right = SwapRight()
    return pinning_context(v1, cadata=review.cadata, swap_right=right), right


def _frames_after_handshake(review: Review, mark: int) -> list[tuple[str, bytes]]:
    """(connection, bytes after the end of the opening handshake) for each plain connection
    to the impostor since ``mark`` that carried any."""
    leaked = []
    for rec in review.impostor.since(mark):
        _, sep, after = rec.data.partition(b"\r\n\r\n")
        if sep and after:
            leaked.append((rec.describe(), after))
    return leaked


def _assert_no_frame(review: Review, mark: int, what: str, outcome: object) -> None:
    leaked = _frames_after_handshake(review, mark)
    assert review.impostor.since(mark), "the WebSocket under v1 never connected"
    assert not leaked, (
        f"{what}: frames sent in clear text to ws://{WS_HOST} after the swap that pins it: "
        f"{leaked!r}. The helper returned {outcome!r}"
    )


# ---------------------------------------------------------------- websockets
def test_websockets_close_with_a_reason_after_a_swap_pins_the_host(review: Review) -> None:
    # finding (review10m): ClientConnection.close() writes the Close frame (code and the
    # application's reason, unmasked length + masked text) through the protocol, past the
    # send/ping/pong judge of review 10l.
    from certpin.clients.websockets import connect

    v1, v2 = _versions(review)
    ctx, right = _context(review, v1)
    mark = review.impostor.mark()

    async def run() -> Any:
        async with connect(f"ws://{WS_HOST}:{review.impostor.plain_port}/feed", ctx,
                           open_timeout=TIMEOUT, close_timeout=0.2) as ws:
            swap_policy(ctx, v2, right)
            await ws.close(1000, "secret reason after the swap")
            return "closed"

    outcome = attempt(run)
    _assert_no_frame(review, mark, "websockets close(1000, reason)", outcome)


def test_websockets_leaving_async_with_after_a_swap_pins_the_host(review: Review) -> None:
    # finding (review10m): the plainest use, ``async with connect(...) as ws:`` whose block ends
    # after the swap: its exit sends a Close frame in clear text to the host v2 pins.
    from certpin.clients.websockets import connect

    v1, v2 = _versions(review)
    ctx, right = _context(review, v1)
    mark = review.impostor.mark()

    async def run() -> Any:
        async with connect(f"ws://{WS_HOST}:{review.impostor.plain_port}/feed", ctx,
                           open_timeout=TIMEOUT, close_timeout=0.2):
            swap_policy(ctx, v2, right)
        return "left"

    outcome = attempt(run)
    _assert_no_frame(review, mark, "websockets async with exit", outcome)


# ---------------------------------------------------------------- aiohttp
def test_aiohttp_ws_close_with_a_message_after_a_swap_pins_the_host(review: Review) -> None:
    # finding (review10m): ClientWebSocketResponse.close(message=...) writes the Close frame
    # with WebSocketWriter.close, not through the send_frame/ping/pong judged since review 10l.
    from certpin.clients.aiohttp import pinned_session

    v1, v2 = _versions(review)
    ctx, right = _context(review, v1)
    mark = review.impostor.mark()

    async def run() -> Any:
        async with pinned_session(ctx) as s, s.ws_connect(
            f"ws://{WS_HOST}:{review.impostor.plain_port}/feed", timeout=WS_TIMEOUT
        ) as ws:
            swap_policy(ctx, v2, right)
            await ws.close(message=b"secret reason after the swap")
            return "closed"

    outcome = attempt(run)
    _assert_no_frame(review, mark, "aiohttp ws.close(message=...)", outcome)


def test_aiohttp_ws_heartbeat_pings_after_a_swap_pins_the_host(review: Review) -> None:
    # finding (review10m): ws_connect(heartbeat=...) pings from a timer with
    # WebSocketWriter.send_frame: the pinned response class's ping() never runs, so the Ping
    # frames keep going in clear text to the host v2 pins.
    from certpin.clients.aiohttp import pinned_session

    v1, v2 = _versions(review)
    ctx, right = _context(review, v1)
    mark = review.impostor.mark()

    async def run() -> Any:
        async with pinned_session(ctx) as s:
            ws = await s.ws_connect(f"ws://{WS_HOST}:{review.impostor.plain_port}/feed",
                                    timeout=WS_TIMEOUT, heartbeat=0.05)
            swap_policy(ctx, v2, right)
            await asyncio.sleep(0.3)  # a few heartbeats; the application sends nothing
            return ws  # left open (no Close frame): only the heartbeats can reach the impostor

    outcome = attempt(run)
    leaked = _frames_after_handshake(review, mark)
    assert all(frame[0] == _PING for _, frame in leaked), leaked  # heartbeats, nothing else
    _assert_no_frame(review, mark, "aiohttp ws_connect(heartbeat=0.05)", outcome)
