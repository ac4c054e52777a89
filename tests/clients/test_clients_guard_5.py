"""What the fifth adversarial review of the client helpers (review10e) found: public attributes
and methods of a helper's returned object, used after certpin judged it, that move a request
or a CONNECT line to a host whose pins were not checked. Each test asserts that the IMPOSTOR
(support.review) received ZERO application bytes.

Every test here uses support.review's module-scoped ``review`` fixture.
"""

from __future__ import annotations

import urllib.request
from typing import Any

from support.review import TIMEOUT, Review, assert_zero_bytes, attempt, review

__all__ = ["review"]  # fixture imported for pytest


# ------------------------------------------- websockets: proxy_server_hostname after connect()
# regression: found by the fifth adversarial review of the client helpers (review10e)
def test_websockets_proxy_server_hostname_set_after_connect_cannot_rename_a_pinned_proxy(
    review: Review,
) -> None:
    """``connect()`` refuses ``proxy_server_hostname=`` (review10b), but the connect object's
    public ``create_connection_kwargs`` dict is read again at every attempt and certpin's
    per-attempt check does not look at that key: the TLS to the https proxy at the pinned
    ``localhost`` is checked for ``unpinned.test`` (no pins), and the CONNECT line reaches the
    impostor."""
    from certpin.clients.websockets import connect

    async def run() -> Any:
        conn = connect("wss://unpinned.test:9/", review.policy, cadata=review.cadata,
                       proxy=f"https://localhost:{review.impostor.tls_port}",
                       open_timeout=TIMEOUT)
        conn.create_connection_kwargs["proxy_server_hostname"] = "unpinned.test"
        async with conn:
            return "open"

    mark = review.impostor.mark()
    outcome = attempt(run)
    assert_zero_bytes(review.impostor, mark,
                      "websockets create_connection_kwargs['proxy_server_hostname']", outcome)


# ------------------------------------------- websockets: the connection factory after connect()
# regression: found by the fifth adversarial review of the client helpers (review10e)
def test_websockets_factory_replaced_after_connect_cannot_add_a_pinned_host_header(
    review: Review,
) -> None:
    """``connect()`` refuses ``create_connection=`` (review10c), but the connect object's public
    ``factory`` attribute, which builds each attempt's connection, can be replaced: a
    ``ClientConnection`` whose ``handshake`` adds ``Host: localhost`` sends a second Host
    header naming the pinned host over the connection checked for unpinned.test."""
    from websockets.asyncio.client import ClientConnection
    from websockets.client import ClientProtocol

    from certpin.clients.websockets import connect

    class HostConnection(ClientConnection):
        async def handshake(self, additional_headers: Any = None, *args: Any,
                            **kwargs: Any) -> None:
            await super().handshake({"Host": "localhost"}, *args, **kwargs)

    async def run() -> Any:
        conn = connect(f"wss://unpinned.test:{review.impostor.tls_port}/secret", review.policy,
                       cadata=review.cadata, open_timeout=TIMEOUT, close_timeout=0.2)
        conn.factory = lambda uri: HostConnection(ClientProtocol(uri))
        async with conn:
            return "open"

    mark = review.impostor.mark()
    outcome = attempt(run)
    assert_zero_bytes(review.impostor, mark, "websockets factory adding Host: localhost", outcome)


# ------------------------------------------- urllib: OpenerDirector.add_handler after build_opener
# regression: found by the fifth adversarial review of the client helpers (review10e)
def test_urllib_plain_https_handler_added_after_build_opener_is_not_used(review: Review) -> None:
    """``build_opener`` refuses a plain ``HTTPSHandler`` (instance or class), but the opener's
    public ``add_handler`` takes one afterwards; with a ``handler_order`` below 500 it opens
    ``https://localhost`` before certpin's handler, with a default context (no pins): the
    request reaches the impostor."""
    from certpin.clients.stdlib import build_opener

    def run() -> Any:
        opener = build_opener(review.policy, cadata=review.cadata)
        plain = urllib.request.HTTPSHandler()
        plain.handler_order = 499
        opener.add_handler(plain)
        with opener.open(f"https://localhost:{review.impostor.tls_port}/secret",
                         timeout=TIMEOUT) as resp:
            return resp.status

    mark = review.impostor.mark()
    outcome = attempt(run)
    assert_zero_bytes(review.impostor, mark, "urllib add_handler(HTTPSHandler) order 499",
                      outcome)


# ------------------------------------------- urllib3: the manager's pool classes and pool keys
# regression: found by the fifth adversarial review of the client helpers (review10e)
def test_urllib3_plain_pool_classes_set_on_the_manager_are_not_used(review: Review) -> None:
    """The manager's public ``pool_classes_by_scheme`` set back to urllib3's own (unguarded)
    pools: a pool from ``connection_from_url`` used directly sends ``Host: localhost`` over the
    connection checked for unpinned.test (the refusal of review10 is in the guarded pool class
    only)."""
    import urllib3

    from certpin.clients.urllib3 import pinned_pool_manager

    def run() -> Any:
        with pinned_pool_manager(review.policy, cadata=review.cadata, timeout=TIMEOUT,
                                 retries=False) as pm:
            pm.pool_classes_by_scheme = urllib3.PoolManager().pool_classes_by_scheme
            pool = pm.connection_from_url(f"https://unpinned.test:{review.impostor.tls_port}/")
            return pool.urlopen("GET", "/secret", headers={"Host": "localhost"}).status

    mark = review.impostor.mark()
    outcome = attempt(run)
    assert_zero_bytes(review.impostor, mark, "urllib3 plain pool_classes_by_scheme", outcome)


# regression: found by the fifth adversarial review of the client helpers (review10e)
def test_urllib3_pool_key_function_cannot_hand_another_hosts_pool_to_a_pinned_request(
    review: Review,
) -> None:
    """The manager's public ``key_fn_by_scheme`` replaced by one that gives every request the
    same key: the pool (and live connection) made for unpinned.test, at the impostor, is
    handed to the request for ``https://localhost``, whose pins are never checked; the request
    line and its Authorization header reach the impostor."""
    from certpin.clients.urllib3 import pinned_pool_manager

    def run() -> Any:
        with pinned_pool_manager(review.policy, cadata=review.cadata, timeout=TIMEOUT,
                                 retries=False) as pm:
            pm.key_fn_by_scheme = {s: (lambda context: ("one",)) for s in ("http", "https")}
            pm.connection_from_url(f"https://unpinned.test:{review.impostor.tls_port}/")
            return pm.request("GET", f"https://localhost:{review.legit.tls_port}/secret",
                              headers={"Authorization": "Bearer pinned-secret"}).status

    mark = review.impostor.mark()
    outcome = attempt(run)
    assert_zero_bytes(review.impostor, mark, "urllib3 key_fn_by_scheme sharing a pool", outcome)
