"""A plain (clear-text) connection is judged again right before its bytes are written (review
10n, fix): a policy swapped in while the TCP connection is being made applies to everything the
connection then writes: the request to the origin, a request a proxy forwards, and the
``CONNECT`` line to a proxy.

The swap is placed at the first TCP connect (``loopback_only``'s ``socket.socket.connect``) on
another thread, as :class:`certpin.updates.PolicyUpdater` swaps (the technique of
``test_clients_guard_r14.py``). The IMPOSTOR is clear-text TCP on 127.0.0.1 that answers 200 to
anything; each refusal test asserts that it received zero bytes, and that the helper raised
:class:`~certpin.clients.PinnedRequestError` (urllib: ``URLError`` whose ``reason`` is one).
"""

from __future__ import annotations

import ssl
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any

import httpx
import pytest
import urllib3

import certpin
from certpin.clients import PinnedRequestError
from certpin.clients._common import RequestGuard
from certpin.clients.httpx_backend import guard_transport
from certpin.tls import pinning_context
from certpin.tls.swap import SwapRight, swap_policy
from support.review import TIMEOUT, Review, assert_zero_bytes, attempt, review
from support.swaps import swap_at_first_connect

__all__ = ["review"]  # fixture imported for pytest

PROXY = "unpinned.test"  # 127.0.0.1 (the impostor's name in the review's loopback map)
ORIGIN = "origin.test"  # never resolved: only a proxy is dialled
CLIENTS = ["httpx", "httpx-async", "urllib3", "requests", "urllib"]


def _policies(review: Review, pinned_by_v2: str) -> tuple[certpin.PinPolicy, certpin.PinPolicy]:
    v1 = review.policy
    v2 = certpin.PinPolicy({**v1.pin_sets, pinned_by_v2: v1.pin_sets["localhost"]},
                           unknown_hosts="allow")
    assert not v1.is_pinned(pinned_by_v2)
    assert v2.is_pinned(pinned_by_v2)
    return v1, v2


def _get(client: str, url: str, ctx: ssl.SSLContext, proxy: str | None = None) -> Callable[[], Any]:
    """A call that GETs ``url`` with a certpin helper (through ``proxy`` when given) and returns
    the status."""
    if client in ("httpx", "httpx-async"):
        from certpin.clients.httpx import pinned_async_client, pinned_client

        kw: dict[str, Any] = {"timeout": TIMEOUT, "proxy": proxy, "trust_env": False}
        if client == "httpx":
            return lambda: pinned_client(ctx, **kw).get(url).status_code

        async def get() -> Any:
            async with pinned_async_client(ctx, **kw) as c:
                return (await c.get(url)).status_code

        return get
    if client == "urllib3":
        from certpin.clients.urllib3 import pinned_pool_manager, pinned_proxy_manager

        pool_kw: dict[str, Any] = {"retries": False, "timeout": TIMEOUT}
        if proxy is None:
            return lambda: pinned_pool_manager(ctx, **pool_kw).request("GET", url).status
        return lambda: pinned_proxy_manager(proxy, ctx, **pool_kw).request("GET", url).status
    if client == "requests":
        from certpin.clients.requests import PinnedSession

        proxies = {"http": proxy, "https": proxy} if proxy else None
        return lambda: PinnedSession(ctx).get(url, timeout=TIMEOUT, proxies=proxies).status_code
    from certpin.clients.stdlib import build_opener

    handlers = [urllib.request.ProxyHandler({"http": proxy, "https": proxy} if proxy else {})]
    return lambda: build_opener(ctx, *handlers).open(url, timeout=TIMEOUT).status


def _assert_refused(client: str, outcome: object) -> None:
    if client == "urllib" and isinstance(outcome, urllib.error.URLError):
        outcome = outcome.reason
    assert isinstance(outcome, PinnedRequestError), (
        f"{client}: expected PinnedRequestError, the helper returned {outcome!r}"
    )


def _run(review: Review, client: str, url: str, pinned_by_v2: str,
         proxy: str | None = None) -> tuple[object, int]:
    v1, v2 = _policies(review, pinned_by_v2)
    right = SwapRight()
    ctx = pinning_context(v1, cadata=review.cadata, swap_right=right)
    get = _get(client, url, ctx, proxy)
    mark = review.impostor.mark()
    with swap_at_first_connect(lambda: swap_policy(ctx, v2, right)):
        outcome = attempt(get)
    return outcome, mark


@pytest.mark.parametrize("client", CLIENTS)
def test_plain_request_refused_when_a_swap_pins_its_host_during_the_connect(
    review: Review, client: str,
) -> None:
    url = f"http://{PROXY}:{review.impostor.plain_port}/secret"
    outcome, mark = _run(review, client, url, PROXY)
    assert_zero_bytes(review.impostor, mark, f"{client}: direct plain request", outcome)
    _assert_refused(client, outcome)


@pytest.mark.parametrize("client", CLIENTS)
def test_plain_request_still_sent_when_a_swap_pins_another_host(
    review: Review, client: str,
) -> None:
    # The judge right before the write refuses only what the policy in force refuses.
    url = f"http://{PROXY}:{review.impostor.plain_port}/fine"
    outcome, mark = _run(review, client, url, "other.test")
    assert outcome == 200, f"{client}: {outcome!r}"
    records = [r for r in review.impostor.since(mark) if r.data]
    assert records and records[0].first_line == b"GET /fine HTTP/1.1", records


@pytest.mark.parametrize("client", CLIENTS)
def test_forwarded_request_refused_when_a_swap_pins_its_origin_during_the_connect(
    review: Review, client: str,
) -> None:
    # http:// through an http:// proxy: the proxy forwards the request in clear text to the
    # URL's host; the swap pins that host while the connection to the proxy is being made.
    proxy = f"http://{PROXY}:{review.impostor.plain_port}"
    outcome, mark = _run(review, client, f"http://{ORIGIN}/secret", ORIGIN, proxy)
    assert_zero_bytes(review.impostor, mark, f"{client}: forwarded plain request", outcome)
    _assert_refused(client, outcome)


@pytest.mark.parametrize("client", CLIENTS)
def test_connect_line_refused_when_a_swap_pins_the_proxy_during_the_connect(
    review: Review, client: str,
) -> None:
    # https:// through an http:// proxy: CONNECT (and Proxy-Authorization) go in clear text to
    # the proxy; the swap pins the proxy host while the connection to it is being made.
    proxy = f"http://{PROXY}:{review.impostor.plain_port}"
    outcome, mark = _run(review, client, f"https://{ORIGIN}/secret", PROXY, proxy)
    assert_zero_bytes(review.impostor, mark, f"{client}: CONNECT to the proxy", outcome)
    _assert_refused(client, outcome)


def test_urllib3_pool_with_its_connection_class_replaced_is_refused(review: Review) -> None:
    from certpin.clients.urllib3 import pinned_pool_manager

    manager = pinned_pool_manager(review.policy, cadata=review.cadata, retries=False)
    pool = manager.connection_from_url(f"http://{PROXY}:{review.impostor.plain_port}/")
    pool.ConnectionCls = urllib3.connection.HTTPConnection  # unguarded writes
    mark = review.impostor.mark()
    outcome = attempt(lambda: pool.urlopen("GET", "/secret"))
    assert_zero_bytes(review.impostor, mark, "urllib3 pool with ConnectionCls replaced", outcome)
    assert isinstance(outcome, PinnedRequestError), outcome
    assert "ConnectionCls" in str(outcome)


def test_httpx_transport_without_a_known_pool_is_refused() -> None:
    # fail closed: httpx/httpcore internals certpin wraps are missing
    class Unknown(httpx.BaseTransport):
        pass

    with pytest.raises(PinnedRequestError, match="cannot guard the writes"):
        guard_transport(Unknown(), RequestGuard(None))


def test_check_plain_is_the_plain_text_rule_of_check(review: Review) -> None:
    guard = RequestGuard(review.policy)
    guard.check_plain("unpinned.test")  # not pinned: clear text allowed
    for host in ("localhost", "LOCALHOST.", "127.0.0.1", None, "", "a..b"):
        with pytest.raises(PinnedRequestError) as plain:
            guard.check_plain(host)
        with pytest.raises(PinnedRequestError) as full:
            guard.check("http", host)
        assert str(plain.value) == str(full.value), host
