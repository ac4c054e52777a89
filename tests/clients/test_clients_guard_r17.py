"""Review 10q of the client helpers: httpx forwards a plain request through an ``https://`` proxy
after a policy swap pinned its origin while the connection to the proxy was being made.

Since review 10n every helper judges the clear text it writes right before writing it, under the
policy in force then; ``test_clients_plainwrite.py`` covers a forwarded ``http://`` request only
through an ``http://`` proxy. Through an ``https://`` proxy the request for the origin is still
clear text to the origin (the proxy forwards it unencrypted, and no TLS was checked for the
origin). urllib3, requests and aiohttp judge the origin at that write (their TLS-to-proxy
connection judges a forwarded request's host); httpx does not: its backend wraps the TCP stream
dialled to the proxy, but ``start_tls`` returns httpcore's TLS stream unwrapped, so nothing judges
the origin after the transport guard ran (before the connect). certpin's httpx module docstring
says every clear-text write judges "an ``http://`` URL's host (a proxy forwards such a request to
it in clear text)".

The swap is placed at the first TCP connect on another thread (the updater's), the technique of
``test_clients_plainwrite.py``; no certpin or client code is patched. The recorder on 127.0.0.1
(the review's impostor, TLS for ``unpinned.test``) stands for the proxy path; the test asserts
it received zero bytes of the request for the origin the new policy pins.
"""

from __future__ import annotations

import ssl
from collections.abc import Callable
from typing import Any

import pytest

import certpin
from certpin.tls import pinning_context
from certpin.tls.swap import SwapRight, swap_policy
from support.review import TIMEOUT, Review, assert_zero_bytes, attempt, review
from support.swaps import swap_at_first_connect

__all__ = ["review"]  # fixture imported for pytest

PROXY = "unpinned.test"  # 127.0.0.1, never pinned here
ORIGIN = "origin.test"  # v1 does not pin it, v2 does; never resolved: only the proxy is dialled


def _swappable(review: Review) -> tuple[ssl.SSLContext, Callable[[], None]]:
    """(a pinning context under v1, a swap to v2); v2 also pins ``origin.test``."""
    v1 = review.policy
    v2 = certpin.PinPolicy({**v1.pin_sets, ORIGIN: v1.pin_sets["localhost"]},
                           unknown_hosts="allow")
    assert not v1.is_pinned(ORIGIN)
    assert v2.is_pinned(ORIGIN)
    assert not v2.is_pinned(PROXY)
    right = SwapRight()
    ctx = pinning_context(v1, cadata=review.cadata, swap_right=right)
    return ctx, lambda: swap_policy(ctx, v2, right)


@pytest.mark.parametrize("client", ["httpx", "httpx-async"])
def test_httpx_forwards_through_an_https_proxy_to_an_origin_a_swap_pinned_while_it_connected(
    review: Review, client: str,
) -> None:
    # finding (review10q): http:// through an https:// proxy. The transport guard judged the
    # origin (unpinned under v1) before connecting; the swap pins it during the connect; the
    # TLS stream start_tls returned is not wrapped, so the forwarded request goes out unjudged.
    from certpin.clients.httpx import pinned_async_client, pinned_client

    ctx, swap = _swappable(review)
    proxy = f"https://{PROXY}:{review.impostor.tls_port}"
    url = f"http://{ORIGIN}/secret"

    def get() -> Any:
        if client == "httpx":
            with pinned_client(ctx, timeout=TIMEOUT, proxy=proxy, trust_env=False) as c:
                return c.get(url).status_code

        async def aget() -> Any:
            async with pinned_async_client(ctx, timeout=TIMEOUT, proxy=proxy,
                                           trust_env=False) as c:
                return (await c.get(url)).status_code

        return aget()

    mark = review.impostor.mark()
    with swap_at_first_connect(swap):
        outcome = attempt(get)
    assert_zero_bytes(review.impostor, mark,
                      f"{client}: http://{ORIGIN} forwarded by https://{PROXY} after a swap "
                      "pinned the origin while connecting", outcome)
