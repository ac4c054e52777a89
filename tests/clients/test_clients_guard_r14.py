"""Review 10n of the client helpers: what a policy swap changes for clear text the guards judged
only once.

Since review 10l a plain ``ws://`` WebSocket's transport judges the URI's host before every write
(:class:`certpin.clients._common.GuardedTransport`), and every HTTP request is judged when the
helper takes it. Three things judged in clear text are not judged again after a swap:

* the PROXY of a plain WebSocket: a ``ws://`` connection through a plain ``http://`` proxy
  (aiohttp ``ws_connect(proxy=...)`` forwards it, websockets ``connect(proxy=...)`` tunnels it
  with ``CONNECT``) carries every frame in clear text through the proxy host; the write judge
  looks at the URI's host only, so a swap that pins the proxy host leaves frames flowing to it
  (docs/clients.md: "a proxy whose host is pinned is refused by every helper");
* the DIALLED host of a websockets ``connect(host=...)``: judged before the attempt, but the
  write judge looks at the URI's name only;
* a plain ``http://`` request whose guard ran before its TCP connection was made: a swap that
  lands while the connection is being established (DNS and TCP connect, before one byte is
  written) lets the request go in clear text to a host the new policy pins. httpx (sync and
  async), urllib3, requests and urllib judge only before connecting; aiohttp judges again before
  sending and is not affected. The swap is placed with ``sys.settrace`` at the TCP connect (the
  ``loopback_only`` ``socket.socket.connect``), on the updater's thread, as
  :class:`certpin.updates.PolicyUpdater` swaps.

The IMPOSTOR is clear-text TCP on 127.0.0.1 (the review's recording listener, or a CONNECT proxy
here); each test asserts that it received ZERO bytes sent after the swap.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import socket
import ssl
import sys
import threading
from collections.abc import Callable, Iterator
from types import FrameType
from typing import Any

import aiohttp
import pytest

import certpin
import support.recording as recording
from certpin.tls import pinning_context
from certpin.tls.swap import SwapRight, swap_policy
from support.review import TIMEOUT, Review, assert_zero_bytes, attempt, review

__all__ = ["review"]  # fixture imported for pytest

SWAPPED_HOST = "unpinned.test"  # 127.0.0.1; v1 does not pin it, v2 does
ORIGIN = "origin.test"  # never pinned
WS_TIMEOUT = aiohttp.ClientWSTimeout(ws_close=TIMEOUT)
_WS_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def _versions(review: Review) -> tuple[certpin.PinPolicy, certpin.PinPolicy]:
    """(v1: the review policy, ``unpinned.test`` unpinned; v2: the same, plus that host)."""
    v1 = review.policy
    v2 = certpin.PinPolicy({**v1.pin_sets, SWAPPED_HOST: v1.pin_sets["localhost"]},
                           unknown_hosts="allow")
    assert not v1.is_pinned(SWAPPED_HOST)
    assert v2.is_pinned(SWAPPED_HOST)
    assert not v2.is_pinned(ORIGIN)
    return v1, v2


def _context(review: Review, v1: certpin.PinPolicy) -> tuple[ssl.SSLContext, SwapRight]:
    right = SwapRight()
    return pinning_context(v1, cadata=review.cadata, swap_right=right), right


def _frames_after_handshake(review: Review, mark: int) -> list[tuple[str, bytes]]:
    """(connection, bytes after the opening handshake) for each connection to the impostor
    since ``mark`` that carried any."""
    leaked = []
    for rec in review.impostor.since(mark):
        _, sep, after = rec.data.partition(b"\r\n\r\n")
        if sep and after:
            leaked.append((rec.describe(), after))
    return leaked


class ConnectImpostor:
    """A clear-text HTTP proxy on 127.0.0.1: answers ``CONNECT`` with 200, then the WebSocket
    upgrade inside the tunnel with 101, and records every byte it receives."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self._data: list[bytes] = []
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def settle(self) -> None:
        """Wait until every connection so far was served to its end (the client closed it)."""
        with self._lock:
            threads = list(self._threads)
        for t in threads:
            t.join(TIMEOUT)

    def received(self) -> bytes:
        with self._lock:
            return b"".join(self._data)

    def _record(self, raw: socket.socket) -> bytes:
        chunk = raw.recv(65536)
        with self._lock:
            self._data.append(chunk)
        return chunk

    def _accept(self) -> None:
        while True:
            try:
                raw, _ = self.sock.accept()
            except OSError:
                return
            t = threading.Thread(target=self._serve, args=(raw,), daemon=True)
            with self._lock:
                self._threads.append(t)
            t.start()

    def _serve(self, raw: socket.socket) -> None:
        buf = b""
        with raw, contextlib.suppress(OSError):
            raw.settimeout(5)
            while chunk := self._record(raw):
                buf += chunk
                while b"\r\n\r\n" in buf:
                    head, _, buf = buf.partition(b"\r\n\r\n")
                    if head.startswith(b"CONNECT "):
                        raw.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
                        continue
                    key = _ws_key(head)
                    if key is None:
                        raw.sendall(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")
                        continue
                    accept = base64.b64encode(hashlib.sha1(key + _WS_GUID).digest())
                    raw.sendall(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                                b"Connection: Upgrade\r\nSec-WebSocket-Accept: " + accept
                                + b"\r\n\r\n")
                    while self._record(raw):  # frames, recorded until the client goes
                        pass
                    return

    def close(self) -> None:
        self.sock.close()


def _ws_key(head: bytes) -> bytes | None:
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"sec-websocket-key":
            return value.strip()
    return None


@pytest.fixture()
def connect_impostor() -> Iterator[ConnectImpostor]:
    proxy = ConnectImpostor()
    yield proxy
    proxy.close()


# ---------------------------------------------------------------- the proxy of a plain WebSocket
def test_aiohttp_plain_ws_keeps_writing_through_a_proxy_a_swap_pins(review: Review) -> None:
    # finding (review10n): ws:// through a plain http:// proxy (aiohttp forwards the upgrade to
    # the proxy, and every frame after it, in clear text). The write judge looks at the URL's
    # host (origin.test, never pinned), not at the proxy host v2 pins.
    from certpin.clients.aiohttp import pinned_session

    v1, v2 = _versions(review)
    ctx, right = _context(review, v1)
    mark = review.impostor.mark()

    async def run() -> Any:
        async with pinned_session(ctx) as s, s.ws_connect(
            f"ws://{ORIGIN}/feed", proxy=f"http://{SWAPPED_HOST}:{review.impostor.plain_port}",
            timeout=WS_TIMEOUT,
        ) as ws:
            swap_policy(ctx, v2, right)
            await ws.send_str("secret after the swap")
            return "sent"

    outcome = attempt(run)
    leaked = _frames_after_handshake(review, mark)
    assert review.impostor.since(mark), f"the WebSocket under v1 never connected: {outcome!r}"
    assert not leaked, (
        f"aiohttp ws://{ORIGIN} through http://{SWAPPED_HOST} (pinned by v2): frames sent in "
        f"clear text to the proxy after the swap: {leaked!r}. The helper returned {outcome!r}"
    )


def test_websockets_plain_ws_keeps_writing_through_a_proxy_a_swap_pins(
    review: Review, connect_impostor: ConnectImpostor,
) -> None:
    # finding (review10n): the same with websockets' proxy= (a CONNECT tunnel, the ws:// frames
    # in clear text inside it): prepare() judged the proxy before the attempt, the write judge
    # only the URI's host.
    from certpin.clients.websockets import connect

    v1, v2 = _versions(review)
    ctx, right = _context(review, v1)
    seen: dict[str, int] = {}

    async def run() -> Any:
        async with connect(f"ws://{ORIGIN}/feed", ctx,
                           proxy=f"http://{SWAPPED_HOST}:{connect_impostor.port}",
                           open_timeout=TIMEOUT, close_timeout=0.2) as ws:
            seen["opened"] = len(connect_impostor.received())
            swap_policy(ctx, v2, right)
            await ws.send("secret after the swap")
            return "sent"

    outcome = attempt(run)
    assert "opened" in seen, f"the WebSocket under v1 never opened: {outcome!r}"
    connect_impostor.settle()
    leaked = connect_impostor.received()[seen["opened"]:]
    assert not leaked, (
        f"websockets ws://{ORIGIN} through http://{SWAPPED_HOST} (pinned by v2): {len(leaked)} "
        f"bytes sent in clear text to the proxy after the swap: {leaked[:80]!r}. The helper "
        f"returned {outcome!r}"
    )


# ---------------------------------------------------------------- websockets host=
def test_websockets_plain_ws_keeps_writing_to_a_dialled_address_a_swap_pins(
    review: Review,
) -> None:
    # finding (review10n): connect(host="127.0.0.1") dials that address for ws://unpinned.test;
    # prepare() judged the dialled host (plain text to a pinned one is refused), the write judge
    # only the URI's name: after a swap that pins 127.0.0.1, frames keep going to it.
    from certpin.clients.websockets import connect

    v2 = review.policy
    v1 = certpin.PinPolicy({h: s for h, s in v2.pin_sets.items() if h != "127.0.0.1"},
                           unknown_hosts="allow")
    assert not v1.is_pinned("127.0.0.1")
    assert v2.is_pinned("127.0.0.1")
    assert not v2.is_pinned(SWAPPED_HOST)
    ctx, right = _context(review, v1)
    mark = review.impostor.mark()

    async def run() -> Any:
        async with connect(f"ws://{SWAPPED_HOST}:{review.impostor.plain_port}/feed", ctx,
                           host="127.0.0.1", open_timeout=TIMEOUT, close_timeout=0.2) as ws:
            swap_policy(ctx, v2, right)
            await ws.send("secret after the swap")
            return "sent"

    outcome = attempt(run)
    leaked = _frames_after_handshake(review, mark)
    assert review.impostor.since(mark), f"the WebSocket under v1 never connected: {outcome!r}"
    assert not leaked, (
        f"websockets ws://{SWAPPED_HOST} dialled at 127.0.0.1 (pinned by v2): frames sent in "
        f"clear text after the swap: {leaked!r}. The helper returned {outcome!r}"
    )


# ---------------------------------------------------------------- a swap during the TCP connect
class SwapDuringConnect:
    """Runs ``swap`` on another thread (the updater's) when the requesting thread enters its
    first TCP connect (``loopback_only``'s ``socket.socket.connect``/``connect_ex``), and waits
    for it there: a thread switch the interpreter is free to make while a connection is being
    established. No certpin or client code is patched."""

    def __init__(self, swap: Callable[[], None]) -> None:
        self.swap = swap
        self.fired = False
        self.error: BaseException | None = None

    def _updater(self) -> None:
        try:
            self.swap()
        except BaseException as exc:  # reported by check()
            self.error = exc

    def _global(self, frame: FrameType, event: str, arg: Any) -> Any:
        code = frame.f_code
        if (event == "call" and not self.fired and code.co_name in ("connect", "connect_ex")
                and code.co_filename == recording.__file__):
            self.fired = True
            updater = threading.Thread(target=self._updater, name="certpin-updates")
            updater.start()
            updater.join(30)
        return None

    @contextlib.contextmanager
    def active(self) -> Iterator[SwapDuringConnect]:
        previous = sys.gettrace()
        sys.settrace(self._global)
        try:
            yield self
        finally:
            sys.settrace(previous)

    def check(self) -> None:
        assert self.error is None, f"the swap failed: {self.error!r}"
        assert self.fired, "the swap was never placed: no TCP connect was traced"


def _plain_get(client: str, url: str, ctx: ssl.SSLContext) -> Callable[[], Any]:
    if client == "httpx":
        from certpin.clients.httpx import pinned_client

        return lambda: pinned_client(ctx, timeout=TIMEOUT).get(url).status_code
    if client == "httpx-async":
        from certpin.clients.httpx import pinned_async_client

        async def get() -> Any:
            async with pinned_async_client(ctx, timeout=TIMEOUT) as c:
                return (await c.get(url)).status_code

        return get
    if client == "urllib3":
        from certpin.clients.urllib3 import pinned_pool_manager

        return lambda: pinned_pool_manager(ctx, retries=False, timeout=TIMEOUT).request(
            "GET", url).status
    if client == "requests":
        from certpin.clients.requests import PinnedSession

        return lambda: PinnedSession(ctx).get(url, timeout=TIMEOUT).status_code
    from certpin.clients.stdlib import build_opener

    return lambda: build_opener(ctx).open(url, timeout=TIMEOUT).status


@pytest.mark.parametrize("client", ["httpx", "httpx-async", "urllib3", "requests", "urllib"])
def test_plain_request_goes_to_a_host_a_swap_pinned_while_it_connected(
    review: Review, client: str,
) -> None:
    # finding (review10n): the guard judged http://unpinned.test under v1, then the updater
    # swapped in v2 (which pins it) while the TCP connection was being made; nothing had been
    # written yet, and the whole request then goes out in clear text. (aiohttp judges the
    # request again right before sending it and refuses it.)
    v1, v2 = _versions(review)
    ctx, right = _context(review, v1)
    get = _plain_get(client, f"http://{SWAPPED_HOST}:{review.impostor.plain_port}/secret", ctx)
    mark = review.impostor.mark()
    with SwapDuringConnect(lambda: swap_policy(ctx, v2, right)).active() as swapper:
        outcome = attempt(get)
    swapper.check()
    assert_zero_bytes(review.impostor, mark,
                      f"{client}: plain request whose TCP connect the swap to v2 landed in",
                      outcome)
