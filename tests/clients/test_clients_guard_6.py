"""Regressions from the sixth adversarial review of the client helpers (review10f): each drives a
helper through its library's documented API or a public attribute of the object certpin returned,
and asserts the IMPOSTOR on 127.0.0.1 (certificate from a CA the client trusts, key not pinned)
received ZERO application bytes."""

from __future__ import annotations

import urllib.request
from typing import Any

from support.review import (
    TIMEOUT,
    Review,
    assert_zero_bytes,
    attempt,
    review,
)

__all__ = ["review"]  # fixture imported for pytest


# regression: review10f: a plain manager's public proxy/proxy_config set after creation
def test_urllib3_pool_manager_proxy_set_after_creation(review: Review) -> None:
    from urllib3.poolmanager import ProxyConfig
    from urllib3.util.url import parse_url

    from certpin.clients.urllib3 import pinned_pool_manager

    def run() -> Any:
        with pinned_pool_manager(review.policy, cadata=review.cadata, timeout=TIMEOUT,
                                 retries=False) as pm:
            pm.proxy = parse_url(f"https://unpinned.test:{review.impostor.tls_port}")
            pm.proxy_config = ProxyConfig(pm.certpin_context, True, None, None)
            return pm.request("GET", f"https://localhost:{review.legit.tls_port}/secret",
                              headers={"Authorization": "Bearer pinned-secret"}).status

    mark = review.impostor.mark()
    outcome = attempt(run)
    assert_zero_bytes(review.impostor, mark, "urllib3 pool manager proxy set", outcome)


# regression: review10f: a pool's public conn_kw['server_hostname'] set after creation
def test_urllib3_pool_conn_kw_server_hostname(review: Review) -> None:
    from certpin.clients.urllib3 import pinned_pool_manager

    def run() -> Any:
        with pinned_pool_manager(review.policy, cadata=review.cadata, timeout=TIMEOUT,
                                 retries=False) as pm:
            pool = pm.connection_from_url(f"https://localhost:{review.impostor.tls_port}/")
            pool.conn_kw["server_hostname"] = "unpinned.test"
            return pool.urlopen("GET", "/secret").status

    mark = review.impostor.mark()
    outcome = attempt(run)
    assert_zero_bytes(review.impostor, mark, "urllib3 pool conn_kw server_hostname", outcome)


# regression: review10f: a plain HTTPSHandler put in the opener's public handle_open
def test_urllib_opener_handle_open_plain_https(review: Review) -> None:
    from certpin.clients.stdlib import build_opener

    def run() -> Any:
        opener = build_opener(review.policy, cadata=review.cadata)
        plain = urllib.request.HTTPSHandler()
        plain.add_parent(opener)
        opener.handle_open["https"].insert(0, plain)
        return opener.open(f"https://localhost:{review.impostor.tls_port}/secret",
                           timeout=TIMEOUT).status

    mark = review.impostor.mark()
    outcome = attempt(run)
    assert_zero_bytes(review.impostor, mark, "urllib handle_open", outcome)


# regression: review10f: a pool's public proxy/proxy_config set after creation (forwarding)
def test_urllib3_pool_proxy_set_after_creation(review: Review) -> None:
    from urllib3.poolmanager import ProxyConfig
    from urllib3.util.url import parse_url

    from certpin.clients.urllib3 import pinned_pool_manager

    def run() -> Any:
        with pinned_pool_manager(review.policy, cadata=review.cadata, timeout=TIMEOUT,
                                 retries=False) as pm:
            pool = pm.connection_from_url(f"https://localhost:{review.legit.tls_port}/")
            pool.proxy = parse_url(f"https://unpinned.test:{review.impostor.tls_port}")
            pool.proxy_config = ProxyConfig(pm.certpin_context, True, None, None)
            return pool.urlopen("GET", f"https://localhost:{review.legit.tls_port}/secret").status

    mark = review.impostor.mark()
    outcome = attempt(run)
    assert_zero_bytes(review.impostor, mark, "urllib3 pool.proxy forwarding", outcome)


# regression: review10f: websockets' host= (create_connection) dials a pinned host under another
#   URI host: clear text (ws://) to the pinned localhost
def test_websockets_host_kwarg_dials_a_pinned_host_in_clear_text(review: Review) -> None:
    import pytest

    pytest.importorskip("websockets")
    from certpin.clients.websockets import connect

    async def go() -> Any:
        async with connect(f"ws://unpinned.test:{review.impostor.plain_port}/", review.policy,
                           cadata=review.cadata, open_timeout=TIMEOUT, proxy=None,
                           host="localhost"):
            return "open"

    mark = review.impostor.mark()
    outcome = attempt(go)
    assert_zero_bytes(review.impostor, mark, "websockets host= to a pinned host", outcome)
