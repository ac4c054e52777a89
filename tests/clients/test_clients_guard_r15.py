"""Review 10o of the client helpers: clear text that aiohttp and websockets write after a policy
swap without being judged again.

Since review 10n, httpx, urllib3, requests and urllib judge every clear-text write (the request,
a forwarded request, the ``CONNECT`` line to a proxy) under the policy in force at that moment,
so a swap that lands while the TCP connection is being made applies
(``test_clients_plainwrite.py``); docs/security-model.md states it for ``CONNECT`` lines in
general. Two helpers still write clear text judged only before a swap:

* the ``CONNECT`` line (and ``Proxy-Authorization``) to an ``http://`` proxy: aiohttp sends it
  with its own ``ClientRequest`` (not certpin's request class, whose ``send`` judges), and
  websockets from its ``HTTPProxyConnection.connection_made`` (before certpin's
  ``GuardedTransport`` exists). Both were judged in the connector / ``prepare()`` before the TCP
  connect; a swap that pins the proxy host during the connect lets the credentials go to it;
* aiohttp's request with a body: ``send`` judges, buffers the headers and hands the body to a
  ``write_bytes`` task (Python 3.11: scheduled on the loop, so it runs in a later iteration);
  nothing is written until that task runs, and nothing judges again there. A swap landing in
  that window (the updater swaps on its own thread) lets the request line, headers and body go
  in clear text to a host the new policy pins.

The swap is placed with ``sys.settrace`` on the updater's thread (the technique of
``test_clients_guard_r14.py``), at the TCP connect or at the start of aiohttp's ``write_bytes``;
no certpin or client code is patched. The IMPOSTOR is the review's clear-text recorder on
127.0.0.1 (``unpinned.test``); each test asserts it received zero bytes.
"""

from __future__ import annotations

import contextlib
import ssl
import sys
import threading
from collections.abc import Callable, Iterator
from types import CodeType, FrameType
from typing import Any

import aiohttp
import pytest

import certpin
import support.recording as recording
from certpin.tls import pinning_context
from certpin.tls.swap import SwapRight, swap_policy
from support.review import TIMEOUT, Review, assert_zero_bytes, attempt, review

__all__ = ["review"]  # fixture imported for pytest

PROXY = "unpinned.test"  # 127.0.0.1; v1 does not pin it, v2 does
ORIGIN = "origin.test"  # never pinned, never resolved: only the proxy is dialled


def _is_tcp_connect(code: CodeType) -> bool:
    # loopback_only's socket.socket.connect/connect_ex (what every client and asyncio call)
    return code.co_name in ("connect", "connect_ex") and code.co_filename == recording.__file__


def _is_aiohttp_write_bytes(code: CodeType) -> bool:
    return code.co_name == "write_bytes" and code.co_filename.replace("\\", "/").endswith(
        "aiohttp/client_reqrep.py")


@contextlib.contextmanager
def swap_when(at: Callable[[CodeType], bool], swap: Callable[[], None]) -> Iterator[None]:
    """Run ``swap`` on another thread (the updater's) when this thread first calls a function
    ``at`` accepts, and wait for it there."""
    fired: list[bool] = []
    errors: list[BaseException] = []

    def updater() -> None:
        try:
            swap()
        except BaseException as exc:  # reported below
            errors.append(exc)

    def tracer(frame: FrameType, event: str, arg: Any) -> Any:
        if event == "call" and not fired and at(frame.f_code):
            fired.append(True)
            t = threading.Thread(target=updater, name="certpin-updates")
            t.start()
            t.join(30)
        return None

    previous = sys.gettrace()
    sys.settrace(tracer)
    try:
        yield
    finally:
        sys.settrace(previous)
    assert not errors, f"the swap failed: {errors!r}"
    assert fired, "the swap was never placed"


def _swappable(review: Review) -> tuple[ssl.SSLContext, Callable[[], None]]:
    """(a pinning context under v1, a swap to v2); v2 also pins ``unpinned.test``."""
    v1 = review.policy
    v2 = certpin.PinPolicy({**v1.pin_sets, PROXY: v1.pin_sets["localhost"]},
                           unknown_hosts="allow")
    assert not v1.is_pinned(PROXY)
    assert v2.is_pinned(PROXY)
    assert not v2.is_pinned(ORIGIN)
    right = SwapRight()
    ctx = pinning_context(v1, cadata=review.cadata, swap_right=right)
    return ctx, lambda: swap_policy(ctx, v2, right)


def _proxy(review: Review) -> str:
    return f"http://puser:psecret@{PROXY}:{review.impostor.plain_port}"


# ---------------------------------------------------------------- CONNECT after a swap
def test_aiohttp_connect_line_goes_to_a_proxy_a_swap_pinned_while_it_connected(
    review: Review,
) -> None:
    # finding (review10o): https:// through an http:// proxy. PinnedConnector.connect judged
    # the proxy (unpinned under v1) before the TCP connect; aiohttp then writes CONNECT and
    # Proxy-Authorization with its own ClientRequest, which no certpin judge sees.
    from certpin.clients.aiohttp import pinned_session

    ctx, swap = _swappable(review)

    async def run() -> Any:
        async with pinned_session(ctx) as s, s.get(
            f"https://{ORIGIN}/secret", proxy=_proxy(review),
            timeout=aiohttp.ClientTimeout(total=TIMEOUT),
        ) as r:
            return r.status

    mark = review.impostor.mark()
    with swap_when(_is_tcp_connect, swap):
        outcome = attempt(run)
    assert_zero_bytes(review.impostor, mark,
                      f"aiohttp: CONNECT to http://{PROXY} after a swap pinned it", outcome)


@pytest.mark.parametrize("scheme", ["wss", "ws"])
def test_websockets_connect_line_goes_to_a_proxy_a_swap_pinned_while_it_connected(
    review: Review, scheme: str,
) -> None:
    # finding (review10o): websockets tunnels both wss:// and ws:// through an http:// proxy;
    # prepare() judged the proxy before the attempt, HTTPProxyConnection.connection_made writes
    # CONNECT and Proxy-Authorization as soon as TCP is up, unjudged.
    from certpin.clients.websockets import connect

    ctx, swap = _swappable(review)

    async def run() -> Any:
        async with connect(f"{scheme}://{ORIGIN}/feed", ctx, proxy=_proxy(review),
                           open_timeout=TIMEOUT, close_timeout=0.2) as ws:
            await ws.send("secret")
            return "sent"

    mark = review.impostor.mark()
    with swap_when(_is_tcp_connect, swap):
        outcome = attempt(run)
    assert_zero_bytes(review.impostor, mark,
                      f"websockets {scheme}://: CONNECT to http://{PROXY} after a swap pinned it",
                      outcome)


# ---------------------------------------------------------------- aiohttp's body task
def test_aiohttp_request_written_by_its_body_task_after_a_swap_pinned_the_host(
    review: Review,
) -> None:
    # finding (review10o): PinnedClientRequest.send judges, then aiohttp buffers the headers and
    # leaves request line, headers and body to its write_bytes task. Nothing was written when
    # the swap pinning the host lands as that task starts; the whole request then goes out.
    from certpin.clients.aiohttp import pinned_session

    ctx, swap = _swappable(review)

    async def run() -> Any:
        async with pinned_session(ctx) as s, s.post(
            f"http://{PROXY}:{review.impostor.plain_port}/secret", data=b"secret body",
            timeout=aiohttp.ClientTimeout(total=TIMEOUT),
        ) as r:
            return r.status

    mark = review.impostor.mark()
    with swap_when(_is_aiohttp_write_bytes, swap):
        outcome = attempt(run)
    assert_zero_bytes(review.impostor, mark,
                      f"aiohttp: POST http://{PROXY} whose body task started after a swap "
                      "pinned the host", outcome)
