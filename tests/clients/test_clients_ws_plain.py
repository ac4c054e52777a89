"""Plain ``ws://`` WebSockets through the pinned helpers, to a host the policy does not pin: they
work (messages both ways, a clean close) and keep working across a policy swap that leaves the
host unpinned; a swap that pins the host stops the next write, with no byte sent (the guarded
transport of :mod:`certpin.clients._common`, reviews 10l and 10m). Real websockets server on
127.0.0.1."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest
import trustme

import certpin
from certpin.clients import PinnedRequestError
from certpin.tls import pinning_context
from certpin.tls.swap import SwapRight, swap_policy
from support.clientkit import ca_pin


def _policy(ca: trustme.CA, *hosts: str) -> certpin.PinPolicy:
    pins = certpin.PinSet([ca_pin(ca)], allow_single_pin=True)
    return certpin.PinPolicy({"localhost": pins, **{h: pins for h in hosts}},
                             unknown_hosts="allow")


async def _with_echo(body: Callable[[str, list[str]], Any]) -> Any:
    from websockets.asyncio.server import serve

    received: list[str] = []

    async def echo(ws: Any) -> None:
        async for message in ws:
            received.append(message)
            await ws.send(f"echo {message}")

    async with serve(echo, "127.0.0.1", 0) as server:
        port = server.sockets[0].getsockname()[1]
        return await body(f"ws://127.0.0.1:{port}/", received)


def _helpers() -> list[str]:
    return ["websockets", "aiohttp"]


async def _open(helper: str, uri: str, ctx: Any, stack: Any) -> tuple[Any, Any]:
    """(send, receive) coroutine functions of a WebSocket opened with ``helper``."""
    if helper == "websockets":
        from certpin.clients.websockets import connect

        ws = await stack.enter_async_context(connect(uri, ctx, open_timeout=5))
        return ws.send, ws.recv
    from certpin.clients.aiohttp import pinned_session

    session = await stack.enter_async_context(pinned_session(ctx))
    ws = await stack.enter_async_context(session.ws_connect(uri))

    async def receive() -> str:
        return str(await ws.receive_str())

    return ws.send_str, receive


@pytest.mark.parametrize("helper", _helpers())
def test_plain_ws_to_an_unpinned_host_works_across_a_swap_that_leaves_it_unpinned(
    helper: str, ca: trustme.CA
) -> None:
    right = SwapRight()
    ctx = pinning_context(_policy(ca), cadata=ca.cert_pem.bytes().decode(), swap_right=right)

    async def body(uri: str, received: list[str]) -> list[str]:
        from contextlib import AsyncExitStack

        replies = []
        async with AsyncExitStack() as stack:
            send, receive = await _open(helper, uri, ctx, stack)
            await send("one")
            replies.append(await receive())
            swap_policy(ctx, _policy(ca, "other.test"), right)
            await send("two")
            replies.append(await receive())
        return replies + received

    assert asyncio.run(_with_echo(body)) == ["echo one", "echo two", "one", "two"]


@pytest.mark.parametrize("helper", _helpers())
def test_plain_ws_write_after_a_swap_that_pins_the_host_is_refused_with_nothing_sent(
    helper: str, ca: trustme.CA
) -> None:
    right = SwapRight()
    ctx = pinning_context(_policy(ca), cadata=ca.cert_pem.bytes().decode(), swap_right=right)

    async def body(uri: str, received: list[str]) -> tuple[list[str], str]:
        from contextlib import AsyncExitStack

        outcome = "sent"
        try:
            async with AsyncExitStack() as stack:
                send, receive = await _open(helper, uri, ctx, stack)
                await send("before")
                await receive()
                swap_policy(ctx, _policy(ca, "127.0.0.1"), right)
                await send("after")
        except Exception as exc:  # websockets raises ConnectionClosedError from the refusal
            cause: BaseException | None = exc
            while cause is not None and not isinstance(cause, PinnedRequestError):
                cause = cause.__cause__ or cause.__context__
            outcome = str(cause) if cause is not None else repr(exc)
        await asyncio.sleep(0.2)
        return received, outcome

    received, outcome = asyncio.run(_with_echo(body))
    assert received == ["before"]
    assert "127.0.0.1" in outcome


