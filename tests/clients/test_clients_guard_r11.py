"""Review 10k of the client helpers: a policy swap that lands in the middle of a handshake.

:class:`certpin.updates.PolicyUpdater` swaps policies on its own thread (``start()``: "Refresh now
and then every ``interval`` seconds on a daemon thread") while the application's threads make
connections. ``docs/security-model.md`` ("One policy per connection"): "no connection that
starts after the swap is judged by the old policy or a mix of both", and a connection is judged
again at its first read or write after a swap (review 10j).

``PinnedSSLSocket.do_handshake`` (the ``wrap_socket`` path: requests, urllib3, httpx's sync
client, http.client) reads the host's remembered pass from the context's cache, and only then
reads the cache it records as the one the connection was judged under (``_certpin_under``).
When the swap lands between those two reads (the GIL can pass to the updater thread right after
the ``dict.get`` call that reads the remembered pass), the connection is passed by the OLD
policy's remembered pass but recorded as judged under the NEW policy's cache: it is never judged
again, and every request it carries goes to a key the update revoked.

The tests place that thread switch deterministically: a trace function on the requesting thread
(``sys.settrace``: no certpin or client code is patched) waits, at the first line of
``do_handshake`` after the remembered pass was read, for the updater thread to swap the policy,
as the interpreter may do on its own there. The impostor (a key pinned by v1, revoked by v2)
must receive ZERO application bytes from the request whose connection was made across the swap.
"""

from __future__ import annotations

import contextlib
import ssl
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from types import FrameType
from typing import Any

import pytest
import trustme

# The keep-alive impostor of review 10j (it records every application byte it receives).
from test_clients_guard_r10 import KeepAliveImpostor

import certpin
from certpin.tls import pinning_context
from certpin.tls.hooks import PinnedSSLSocket
from certpin.tls.swap import SwapRight, swap_policy
from support.clientkit import ServedCert, ca_pin, leaf_pin, served
from support.review import PINNED, TIMEOUT, Review, attempt, review

__all__ = ["review"]  # fixture imported for pytest


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


class SwapMidHandshake:
    """Runs ``swap`` on another thread (the updater's) at the first line of
    ``PinnedSSLSocket.do_handshake`` after the host's remembered pass was read (its local
    ``remembered`` is bound), with the requesting thread paused there: a thread switch the
    interpreter is free to make at that point. Only the requesting thread is traced."""

    def __init__(self, swap: Callable[[], None]) -> None:
        self.swap = swap
        self.fired = False
        self.error: BaseException | None = None
        self._code = PinnedSSLSocket.do_handshake.__code__

    def _updater(self) -> None:
        try:
            self.swap()
        except BaseException as exc:  # reported by the test
            self.error = exc

    def _local(self, frame: FrameType, event: str, arg: Any) -> Any:
        if (
            event == "line"
            and not self.fired
            and frame.f_locals.get("remembered") is not None
        ):
            self.fired = True
            updater = threading.Thread(target=self._updater, name="certpin-updates")
            updater.start()
            updater.join(30)
        return self._local

    def _global(self, frame: FrameType, event: str, arg: Any) -> Any:
        if event == "call" and frame.f_code is self._code and not self.fired:
            return self._local
        return None

    @contextlib.contextmanager
    def active(self) -> Iterator[SwapMidHandshake]:
        previous = sys.gettrace()
        sys.settrace(self._global)
        try:
            yield self
        finally:
            sys.settrace(previous)

    def check(self) -> None:
        assert self.error is None, f"the swap failed: {self.error!r}"
        assert self.fired, (
            "the swap was never placed: no line of PinnedSSLSocket.do_handshake ran with a "
            "remembered pass read (the test's trigger needs updating)"
        )


def _context(review: Review, v1: certpin.PinPolicy) -> tuple[ssl.SSLContext, SwapRight]:
    right = SwapRight()
    return pinning_context(v1, cadata=review.cadata, swap_right=right), right


def _assert_nothing_after(server: KeepAliveImpostor, mark: int, what: str,
                          outcome: object) -> None:
    leaked = server.received()[mark:]
    assert not leaked, (
        f"{what}: the policy swap that revoked the impostor's pin landed during the handshake "
        f"of a new connection, and the impostor received {len(leaked)} application bytes over "
        f"it: {leaked[:160]!r}. The helper returned {outcome!r}"
    )


def test_requests_connection_made_across_a_swap_is_never_judged_by_the_new_policy(
    review: Review, keepalive: KeepAliveImpostor,
    versions: tuple[certpin.PinPolicy, certpin.PinPolicy],
) -> None:
    # finding (review10k): the new connection passes on v1's remembered pass but is recorded as
    # judged under v2's cache, so neither the handshake nor the first write judges it under v2.
    from certpin.clients.requests import PinnedSession

    v1, v2 = versions
    ctx, right = _context(review, v1)
    base = f"https://localhost:{keepalive.port}"
    with PinnedSession(ctx) as s:  # v1 in force: passes, remembered in v1's cache
        assert s.get(f"{base}/first", timeout=TIMEOUT).text == "impostor"
    mark = len(keepalive.received())
    race = SwapMidHandshake(lambda: swap_policy(ctx, v2, right))
    with PinnedSession(ctx) as s:
        with race.active():
            outcome = attempt(lambda: s.get(f"{base}/second", timeout=TIMEOUT))
        # the connection stays open and is never judged again: the next request goes too
        third = attempt(lambda: s.get(f"{base}/third", timeout=TIMEOUT))
    race.check()
    assert ctx.policy is v2  # type: ignore[attr-defined]
    _assert_nothing_after(keepalive, mark, "requests PinnedSession", (outcome, third))


def test_httpx_connection_made_across_a_swap_is_never_judged_by_the_new_policy(
    review: Review, keepalive: KeepAliveImpostor,
    versions: tuple[certpin.PinPolicy, certpin.PinPolicy],
) -> None:
    # finding (review10k): the same with httpx's sync client (httpcore wraps the socket).
    from certpin.clients.httpx import pinned_client

    v1, v2 = versions
    ctx, right = _context(review, v1)
    base = f"https://localhost:{keepalive.port}"
    with pinned_client(ctx, timeout=TIMEOUT) as c:
        assert c.get(f"{base}/first").text == "impostor"
    mark = len(keepalive.received())
    race = SwapMidHandshake(lambda: swap_policy(ctx, v2, right))
    with pinned_client(ctx, timeout=TIMEOUT) as c:
        with race.active():
            outcome = attempt(lambda: c.get(f"{base}/second"))
        third = attempt(lambda: c.get(f"{base}/third"))
    race.check()
    _assert_nothing_after(keepalive, mark, "httpx pinned_client", (outcome, third))


def test_policy_updater_refresh_on_its_thread_during_a_handshake(
    review: Review, keepalive: KeepAliveImpostor, compromised: ServedCert, ca: trustme.CA,
    tmp_path: Path,
) -> None:
    # finding (review10k), as docs/updates.md deploys it: ctx = updater.create_ssl_context()
    # handed to urllib3; the publisher revokes the compromised pin and the updater's own thread
    # (refresh(), as start() runs it) swaps v2 in while the application thread handshakes.
    from certpin.clients.urllib3 import pinned_pool_manager
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
            first = pinned_pool_manager(ctx, retries=False, timeout=TIMEOUT)
            assert first.request("GET", f"{base}/first").data == b"impostor"
            first.clear()
            publish_policy(tmp_path / "repo", write_policy(tmp_path / "v2.toml", v2),
                           [tmp_path / "keys"])
            refreshed: list[bool] = []
            race = SwapMidHandshake(lambda: refreshed.append(updater.refresh()))
            mark = len(keepalive.received())
            http = pinned_pool_manager(ctx, retries=False, timeout=TIMEOUT)
            with race.active():
                outcome = attempt(lambda: http.request("GET", f"{base}/second"))
            third = attempt(lambda: http.request("GET", f"{base}/third"))
            http.clear()
            race.check()
            assert refreshed == [True]
            assert updater.policy == v2
    finally:
        web.stop()
    _assert_nothing_after(keepalive, mark, "PolicyUpdater + urllib3", (outcome, third))
