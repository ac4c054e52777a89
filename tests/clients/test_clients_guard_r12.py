"""Review 10l of the client helpers: what a policy swap changes for what was judged in clear text.

docs/security-model.md ("Signed pin updates"): "The client helpers' request guards read the
policy in force at every request"; docs/clients.md: "a proxy whose host is pinned is refused by
every helper" (a plain ``http://`` proxy gets the ``CONNECT`` line, ``Proxy-Authorization`` and,
when forwarding, whole requests in clear text).

A signed update (:class:`certpin.updates.PolicyUpdater`, or :func:`certpin.tls.swap.swap_policy`)
can start pinning the host of a proxy the application already uses. The pinned proxy manager
judges its proxy again at every ``urlopen``/``connection_from_host``; but a pool it handed out
(``ProxyManager.connection_from_url``, urllib3's documented way to get a pool and reuse it)
judges only the origin at its own ``urlopen``, never the proxy again: after the swap it opens new
connections to the now pinned proxy host and speaks clear text to it.

The same holds for a plain ``ws://`` WebSocket open at the swap (certpin's websockets ``connect``,
aiohttp's ``ws_connect`` on a ``pinned_session``): allowed under v1, it is one long-lived
clear-text connection that no guard sees again, so every frame sent after a swap that pins its
host goes out in clear text (a TLS connection is judged again at its first write, review 10j).

The IMPOSTOR is the recording plain-TCP listener at ``unpinned.test`` (127.0.0.1), as the proxy
or the WebSocket server; v2 pins ``unpinned.test``. Each test asserts it received ZERO bytes
after the swap.
"""

from __future__ import annotations

import ssl
from typing import Any

import certpin
from certpin.tls import pinning_context
from certpin.tls.swap import SwapRight, swap_policy
from support.review import PROXY_AUTH, TIMEOUT, Review, assert_zero_bytes, attempt, review

__all__ = ["review"]  # fixture imported for pytest

PROXY_HOST = "unpinned.test"


def _versions(review: Review) -> tuple[certpin.PinPolicy, certpin.PinPolicy]:
    """(v1: the review policy, the proxy host unpinned; v2: the same, plus the proxy host)."""
    v1 = review.policy
    v2 = certpin.PinPolicy({**v1.pin_sets, PROXY_HOST: v1.pin_sets["localhost"]},
                           unknown_hosts="allow")
    assert not v1.is_pinned(PROXY_HOST)
    assert v2.is_pinned(PROXY_HOST)
    return v1, v2


def _context(review: Review, v1: certpin.PinPolicy) -> tuple[ssl.SSLContext, SwapRight]:
    right = SwapRight()
    return pinning_context(v1, cadata=review.cadata, swap_right=right), right


def test_urllib3_tunnel_pool_sends_connect_to_a_proxy_host_pinned_by_a_swap(
    review: Review,
) -> None:
    # finding (review10l): the tunnel pool's urlopen judges the origin only; the proxy, judged
    # when the pool was handed out under v1, gets CONNECT and Proxy-Authorization in clear
    # text although v2 pins its host.
    from certpin.clients.urllib3 import pinned_proxy_manager

    v1, v2 = _versions(review)
    ctx, right = _context(review, v1)
    origin = f"https://localhost:{review.legit.tls_port}"
    pm = pinned_proxy_manager(f"http://{PROXY_HOST}:{review.impostor.plain_port}", ctx,
                              proxy_headers={"Proxy-Authorization": PROXY_AUTH},
                              retries=False, timeout=TIMEOUT)
    pool = pm.connection_from_url(f"{origin}/")  # the application keeps its pool
    swap_policy(ctx, v2, right)
    refused = attempt(lambda: pm.request("GET", f"{origin}/via-manager"))
    assert isinstance(refused, certpin.PolicyError), refused  # the manager judges the proxy
    mark = review.impostor.mark()
    outcome = attempt(lambda: pool.urlopen("GET", "/secret").status)
    pm.clear()
    assert_zero_bytes(review.impostor, mark,
                      f"urllib3 tunnel pool through http://{PROXY_HOST} (pinned by v2)", outcome)


def test_urllib3_forwarding_pool_sends_a_request_to_a_proxy_host_pinned_by_a_swap(
    review: Review,
) -> None:
    # finding (review10l): the same with the proxy's forwarding pool (plain http:// origins):
    # the whole request, in clear text, to the proxy host v2 pins.
    from certpin.clients.urllib3 import pinned_proxy_manager

    v1, v2 = _versions(review)
    ctx, right = _context(review, v1)
    origin = "http://origin.test"
    assert not v2.is_pinned("origin.test")
    pm = pinned_proxy_manager(f"http://{PROXY_HOST}:{review.impostor.plain_port}", ctx,
                              proxy_headers={"Proxy-Authorization": PROXY_AUTH},
                              retries=False, timeout=TIMEOUT)
    pool = pm.connection_from_url(f"{origin}/")
    swap_policy(ctx, v2, right)
    mark = review.impostor.mark()
    # absolute form, as urllib3's ProxyManager.urlopen itself calls a forwarding pool
    outcome = attempt(lambda: pool.urlopen("GET", f"{origin}/secret",
                                           assert_same_host=False).status)
    pm.clear()
    assert_zero_bytes(review.impostor, mark,
                      f"urllib3 forwarding pool through http://{PROXY_HOST} (pinned by v2)",
                      outcome)


# ---------------------------------------------------------------- plain WebSockets
def _frames_after_handshake(review: Review, mark: int) -> list[tuple[str, bytes]]:
    """(connection, bytes after the end of the opening handshake) for each plain connection
    to the impostor since ``mark`` that carried any."""
    leaked = []
    for rec in review.impostor.since(mark):
        _, sep, after = rec.data.partition(b"\r\n\r\n")
        if sep and after:
            leaked.append((rec.describe(), after))
    return leaked


def test_websockets_plain_connection_carries_frames_after_a_swap_pins_its_host(
    review: Review,
) -> None:
    # finding (review10l): ws:// to a host v1 does not pin is allowed; v2 pins it. The open
    # WebSocket (one long-lived connection, clear text) is never judged again: every frame the
    # application sends after the swap goes in clear text to the host v2 pins (a TLS
    # connection would be judged again at its first write, review 10j).
    from certpin.clients.websockets import connect

    v1, v2 = _versions(review)
    ctx, right = _context(review, v1)
    mark = review.impostor.mark()

    async def run() -> Any:
        async with connect(f"ws://{PROXY_HOST}:{review.impostor.plain_port}/feed", ctx,
                           open_timeout=TIMEOUT, close_timeout=0.2) as ws:
            swap_policy(ctx, v2, right)
            await ws.send("secret after the swap")
            return "sent"

    outcome = attempt(run)
    leaked = _frames_after_handshake(review, mark)
    assert review.impostor.since(mark), "the WebSocket under v1 never connected"
    assert not leaked, (
        f"websockets ws://{PROXY_HOST} (pinned by v2): frames sent in clear text after the "
        f"swap: {leaked!r}. The helper returned {outcome!r}"
    )


def test_aiohttp_plain_ws_connect_carries_frames_after_a_swap_pins_its_host(
    review: Review,
) -> None:
    # finding (review10l): the same with aiohttp's ClientSession.ws_connect on a pinned_session.
    from certpin.clients.aiohttp import pinned_session

    v1, v2 = _versions(review)
    ctx, right = _context(review, v1)
    mark = review.impostor.mark()

    async def run() -> Any:
        async with pinned_session(ctx) as s, s.ws_connect(
            f"ws://{PROXY_HOST}:{review.impostor.plain_port}/feed", timeout=TIMEOUT
        ) as ws:
            swap_policy(ctx, v2, right)
            await ws.send_str("secret after the swap")
            return "sent"

    outcome = attempt(run)
    leaked = _frames_after_handshake(review, mark)
    assert review.impostor.since(mark), "the WebSocket under v1 never connected"
    assert not leaked, (
        f"aiohttp ws_connect ws://{PROXY_HOST} (pinned by v2): frames sent in clear text after "
        f"the swap: {leaked!r}. The helper returned {outcome!r}"
    )
