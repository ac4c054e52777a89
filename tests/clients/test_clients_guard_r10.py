"""Review 10j of the client helpers: a kept-alive connection outlives a policy swap.

A pinning context made with a swap right (``certpin.tls.pinning_context(..., swap_right=...)``,
what :class:`certpin.updates.PolicyUpdater` makes with ``updater.create_ssl_context()``) has its
policy replaced by :func:`certpin.tls.swap.swap_policy` when a signed update arrives (docs/
updates.md: "A swap replaces the policy of each context at once"). The check runs only at a
handshake, and every HTTP helper keeps connections alive in a pool: a connection accepted under
the old policy carries the next requests after the swap without any check against the new one.

The scenario: policy v1 pins ``localhost`` to a set that includes a key since compromised (the
IMPOSTOR's, a leaf from a CA the client trusts); the application's first request goes to the
impostor (MITM) and passes v1. The publisher revokes the key: v2 pins ``localhost`` to the
legitimate key and CA only, and the update is swapped in. The application's next request to
``https://localhost/`` must not reach the impostor: v2 pins that host and the impostor's chain
fails v2. Today each helper sends it over the pooled connection, unchecked.

Each test asserts that the impostor received ZERO application bytes after the swap.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import trustme

import certpin
from certpin.tls import pinning_context
from certpin.tls.swap import SwapRight, swap_policy
from support.clientkit import ServedCert, ca_pin, leaf_pin, served
from support.review import PINNED, TIMEOUT, Review, attempt, review

__all__ = ["review"]  # fixture imported for pytest


class KeepAliveImpostor:
    """A TLS server on 127.0.0.1 that answers every request ``200 OK`` and keeps the connection
    alive (HTTP/1.1 persistent connections), recording every application byte it receives."""

    def __init__(self, cert: ServedCert) -> None:
        self.context = cert.context()
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.data = b""
        self.connections = 0
        self.lock = threading.Lock()
        self.conns: list[socket.socket] = []
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def received(self) -> bytes:
        with self.lock:
            return self.data

    def _accept(self) -> None:
        while True:
            try:
                raw, _ = self.sock.accept()
            except OSError:
                return
            with self.lock:
                self.connections += 1
                self.conns.append(raw)
            threading.Thread(target=self._serve, args=(raw,), daemon=True).start()

    def _serve(self, raw: socket.socket) -> None:
        with contextlib.suppress(OSError, ssl.SSLError, ValueError):
            raw.settimeout(10)
            conn = self.context.wrap_socket(raw, server_side=True)
            pending = b""
            while chunk := conn.recv(65536):
                with self.lock:
                    self.data += chunk
                pending += chunk
                while b"\r\n\r\n" in pending:
                    _, pending = pending.split(b"\r\n\r\n", 1)
                    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 8\r\n"
                                 b"Connection: keep-alive\r\n\r\nimpostor")

    def close(self) -> None:
        self.sock.close()
        with self.lock:
            conns = list(self.conns)
        for c in conns:
            with contextlib.suppress(OSError):
                socket.socket.shutdown(c, socket.SHUT_RDWR)


@pytest.fixture(scope="module")
def compromised(attacker_ca: trustme.CA) -> ServedCert:
    """The impostor's certificate (from a CA the client trusts): its key was in pin set v1."""
    return served(attacker_ca.issue_cert("localhost", "127.0.0.1", "::1"))


@pytest.fixture()
def keepalive(review: Review, compromised: ServedCert) -> Iterator[KeepAliveImpostor]:
    server = KeepAliveImpostor(compromised)
    yield server
    server.close()


@pytest.fixture()
def versions(review: Review, compromised: ServedCert, ca: trustme.CA,
             attacker_ca: trustme.CA) -> tuple[certpin.PinPolicy, certpin.PinPolicy]:
    """(v1: the compromised key is pinned, v2: it is revoked; the legitimate pins stay)."""
    legit = ca.issue_cert("localhost", "127.0.0.1", "::1")
    good = [leaf_pin(legit), ca_pin(ca)]
    v1 = certpin.PinPolicy({h: certpin.PinSet([*good, compromised.pin]) for h in PINNED},
                           unknown_hosts="allow")
    v2 = review.policy
    assert v2.is_pinned("localhost")
    return v1, v2


def _swap_and_mark(ctx: ssl.SSLContext, v2: certpin.PinPolicy, right: SwapRight,
                   server: KeepAliveImpostor) -> int:
    assert b"GET /first" in server.received(), "the first request (under v1) was not served"
    swap_policy(ctx, v2, right)
    return len(server.received())


def _assert_nothing_after(server: KeepAliveImpostor, mark: int, what: str,
                          outcome: object) -> None:
    leaked = server.received()[mark:]
    assert not leaked, (
        f"{what}: after the policy swap that revoked the impostor's pin, the impostor received "
        f"{len(leaked)} application bytes over the connection kept from before the swap: "
        f"{leaked[:120]!r}. The helper returned {outcome!r}"
    )


def _context(review: Review, v1: certpin.PinPolicy) -> tuple[ssl.SSLContext, SwapRight]:
    right = SwapRight()
    return pinning_context(v1, cadata=review.cadata, swap_right=right), right


# ---------------------------------------------------------------- the helpers, one each
def test_requests_session_reuses_a_connection_after_the_swap(
    review: Review, keepalive: KeepAliveImpostor,
    versions: tuple[certpin.PinPolicy, certpin.PinPolicy],
) -> None:
    # finding (review10j): PinnedSession's pooled connection is not checked against the new
    # policy.
    from certpin.clients.requests import PinnedSession

    v1, v2 = versions
    ctx, right = _context(review, v1)
    base = f"https://localhost:{keepalive.port}"
    with PinnedSession(ctx) as s:
        assert s.get(f"{base}/first", timeout=TIMEOUT).text == "impostor"
        mark = _swap_and_mark(ctx, v2, right, keepalive)
        outcome = attempt(lambda: s.get(f"{base}/second", timeout=TIMEOUT))
    _assert_nothing_after(keepalive, mark, "requests PinnedSession", outcome)


def test_urllib3_pool_manager_reuses_a_connection_after_the_swap(
    review: Review, keepalive: KeepAliveImpostor,
    versions: tuple[certpin.PinPolicy, certpin.PinPolicy],
) -> None:
    # finding (review10j): pinned_pool_manager's pooled connection is not checked against the
    # new policy.
    from certpin.clients.urllib3 import pinned_pool_manager

    v1, v2 = versions
    ctx, right = _context(review, v1)
    base = f"https://localhost:{keepalive.port}"
    http = pinned_pool_manager(ctx, retries=False, timeout=TIMEOUT)
    assert http.request("GET", f"{base}/first").data == b"impostor"
    mark = _swap_and_mark(ctx, v2, right, keepalive)
    outcome = attempt(lambda: http.request("GET", f"{base}/second"))
    http.clear()
    _assert_nothing_after(keepalive, mark, "urllib3 pinned_pool_manager", outcome)


def test_httpx_client_reuses_a_connection_after_the_swap(
    review: Review, keepalive: KeepAliveImpostor,
    versions: tuple[certpin.PinPolicy, certpin.PinPolicy],
) -> None:
    # finding (review10j): httpx's connection pool keeps the connection checked under v1.
    from certpin.clients.httpx import pinned_client

    v1, v2 = versions
    ctx, right = _context(review, v1)
    base = f"https://localhost:{keepalive.port}"
    with pinned_client(ctx, timeout=TIMEOUT) as c:
        assert c.get(f"{base}/first").text == "impostor"
        mark = _swap_and_mark(ctx, v2, right, keepalive)
        outcome = attempt(lambda: c.get(f"{base}/second"))
    _assert_nothing_after(keepalive, mark, "httpx pinned_client", outcome)


def test_httpx_async_client_reuses_a_connection_after_the_swap(
    review: Review, keepalive: KeepAliveImpostor,
    versions: tuple[certpin.PinPolicy, certpin.PinPolicy],
) -> None:
    # finding (review10j): the same with httpx.AsyncClient (the SSLObject path).
    from certpin.clients.httpx import pinned_async_client

    v1, v2 = versions
    ctx, right = _context(review, v1)
    base = f"https://localhost:{keepalive.port}"

    async def run() -> tuple[int, object]:
        async with pinned_async_client(ctx, timeout=TIMEOUT) as c:
            assert (await c.get(f"{base}/first")).text == "impostor"
            mark = _swap_and_mark(ctx, v2, right, keepalive)
            try:
                out: object = await c.get(f"{base}/second")
            except Exception as exc:
                out = exc
        return mark, out

    mark, outcome = asyncio.run(run())
    _assert_nothing_after(keepalive, mark, "httpx pinned_async_client", outcome)


def test_aiohttp_session_reuses_a_connection_after_the_swap(
    review: Review, keepalive: KeepAliveImpostor,
    versions: tuple[certpin.PinPolicy, certpin.PinPolicy],
) -> None:
    # finding (review10j): aiohttp's connector pool keeps the connection checked under v1.
    import aiohttp

    from certpin.clients.aiohttp import pinned_session

    v1, v2 = versions
    ctx, right = _context(review, v1)
    base = f"https://localhost:{keepalive.port}"
    timeout = aiohttp.ClientTimeout(total=TIMEOUT)

    async def run() -> tuple[int, object]:
        async with pinned_session(ctx, timeout=timeout) as s:
            async with s.get(f"{base}/first") as r:
                assert await r.text() == "impostor"
            mark = _swap_and_mark(ctx, v2, right, keepalive)
            try:
                async with s.get(f"{base}/second") as r:
                    out: object = await r.text()
            except Exception as exc:
                out = exc
        return mark, out

    mark, outcome = asyncio.run(run())
    _assert_nothing_after(keepalive, mark, "aiohttp pinned_session", outcome)


def test_stdlib_https_connection_reuses_a_connection_after_the_swap(
    review: Review, keepalive: KeepAliveImpostor,
    versions: tuple[certpin.PinPolicy, certpin.PinPolicy],
) -> None:
    # finding (review10j): certpin.clients.stdlib.HTTPSConnection sends the next request on its
    # open connection.
    from certpin.clients import stdlib

    v1, v2 = versions
    ctx, right = _context(review, v1)
    conn = stdlib.HTTPSConnection("localhost", keepalive.port, policy=ctx, timeout=TIMEOUT)
    try:
        conn.request("GET", "/first")
        assert conn.getresponse().read() == b"impostor"
        mark = _swap_and_mark(ctx, v2, right, keepalive)

        def second() -> Any:
            conn.request("GET", "/second")
            return conn.getresponse().read()

        outcome = attempt(second)
    finally:
        conn.close()
    _assert_nothing_after(keepalive, mark, "stdlib.HTTPSConnection", outcome)


def test_a_new_connection_after_the_swap_is_refused(
    review: Review, keepalive: KeepAliveImpostor,
    versions: tuple[certpin.PinPolicy, certpin.PinPolicy],
) -> None:
    # control: a NEW connection after the swap is checked against v2 and refused (so the
    # findings above are about connection reuse only).
    from certpin.clients.requests import PinnedSession

    v1, v2 = versions
    ctx, right = _context(review, v1)
    base = f"https://localhost:{keepalive.port}"
    with PinnedSession(ctx) as s:
        assert s.get(f"{base}/first", timeout=TIMEOUT).text == "impostor"
    mark = _swap_and_mark(ctx, v2, right, keepalive)
    with PinnedSession(ctx) as s:
        outcome = attempt(lambda: s.get(f"{base}/second", timeout=TIMEOUT))
    assert isinstance(outcome, Exception)
    _assert_nothing_after(keepalive, mark, "a new PinnedSession", outcome)


def test_policy_updater_end_to_end_requests_reuses_a_connection_after_a_revocation(
    review: Review, keepalive: KeepAliveImpostor, compromised: ServedCert, ca: trustme.CA,
    tmp_path: Path,
) -> None:
    # finding (review10j), as docs/updates.md shows it: ctx = updater.create_ssl_context(),
    # handed to PinnedSession; the publisher revokes a compromised pin (certpin publish policy),
    # updater.refresh() swaps it in; the next request still goes to the impostor.
    from certpin.clients.requests import PinnedSession
    from certpin.updates import PolicyUpdater
    from certpin.updates.publish import init_repository, publish_policy
    from support.tufrepo import RepoServer, write_policy

    legit = ca.issue_cert("localhost")
    good = [leaf_pin(legit), ca_pin(ca)]
    v1 = certpin.PinPolicy({"localhost": certpin.PinSet([*good, compromised.pin])})
    v2 = certpin.PinPolicy({"localhost": certpin.PinSet(good)})
    root = init_repository(tmp_path / "repo", tmp_path / "keys").read_bytes()
    web = RepoServer(tmp_path / "repo")
    base = f"https://localhost:{keepalive.port}"
    try:
        with PolicyUpdater(web.url, root=root, policy=v1, cache_dir=tmp_path / "cache",
                           timeout=5) as updater:
            ctx = updater.create_ssl_context(cadata=review.cadata)
            with PinnedSession(ctx) as s:
                assert s.get(f"{base}/first", timeout=TIMEOUT).text == "impostor"
                publish_policy(tmp_path / "repo", write_policy(tmp_path / "v2.toml", v2),
                               [tmp_path / "keys"])
                assert updater.refresh() is True
                assert updater.policy == v2
                mark = len(keepalive.received())
                outcome = attempt(lambda: s.get(f"{base}/second", timeout=TIMEOUT))
    finally:
        web.stop()
    _assert_nothing_after(keepalive, mark, "PolicyUpdater + requests PinnedSession", outcome)
