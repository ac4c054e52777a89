"""Regression tests from the third adversarial review of the client helpers (branch review10c).

Same setup as ``tests/test_review_helpers.py`` (its ``review`` fixture is reused): an IMPOSTOR on
127.0.0.1 whose certificate comes from a CA the client trusts and names ``localhost``,
``127.0.0.1``, ``::1`` and ``unpinned.test``; the policy pins ``localhost``, ``127.0.0.1`` and
``::1``; ``unpinned.test`` (also 127.0.0.1) is allowed. Each test drives a helper through its
library's documented API and asserts that the impostor received ZERO application bytes.

Findings (each test fails on the code it was written against):

* urllib3: ``PoolManager.connection_from_pool_key(key, request_context)`` (public, documented)
  builds the pool from ``request_context`` alone, never through ``connection_from_context``, so
  the pool has no ``ssl_context``: urllib3's default context, no pins. A full HTTPS request to the
  pinned ``localhost`` reaches the impostor. Same on a ``PinnedProxyManager`` and on the pool
  manager of a requests ``PinnedAdapter`` (``adapter.poolmanager``);
* urllib3: ``headers`` given as a pool keyword (``connection_from_url(url, pool_kwargs=
  {"headers": {"Host": "localhost"}})``, a pool-key field) become the pool's default headers;
  the guarded pool's ``urlopen`` judges only the ``headers`` argument (None here), then urllib3
  sends the pool's ``Host: localhost`` over a connection checked for unpinned.test (https), or in
  clear text (http);
* urllib: ``_RefusePlainHTTP`` is a pre-processor at ``handler_order`` 100; a processor the caller
  passes to ``build_opener`` runs after it (default order 500, or anything above 100) and can
  add a ``Host`` header naming a pinned host to a plain ``http://`` request, or rewrite
  ``req.full_url`` (from ``http://`` or even ``https://``) to ``http://<pinned>/``: urllib opens
  by the rewritten ``req.type`` with the plain ``HTTPHandler``, clear text to the pinned host
  (the urllib counterpart of the aiohttp middleware finding of review 2);
* websockets: ``create_connection=`` (documented: "a wrapper or a subclass to customize
  connection handling") is a ``ClientConnection`` subclass whose ``handshake`` adds
  ``{"Host": "localhost"}``: the guard judged only the ``additional_headers`` given to
  ``connect``; websockets appends a second ``Host: localhost`` to the opening handshake over a
  connection checked for unpinned.test.
"""

# ruff: noqa: F811  (the tests take the imported module fixture ``review`` as a parameter)
from __future__ import annotations

import urllib.request
from typing import Any

import pytest

from support.proxy import ConnectProxy
from test_review_helpers import (
    TIMEOUT,
    Review,
    assert_zero_bytes,
    attempt,
    review,  # noqa: F401  (the module-scoped fixture)
)


# ---------------------------------------------------------- urllib3: connection_from_pool_key
def _pool_key_request(manager: Any, port: int) -> int:
    context = {"scheme": "https", "host": "localhost", "port": port}
    key = manager.key_fn_by_scheme["https"](context)
    pool = manager.connection_from_pool_key(key, request_context=context)
    return int(pool.urlopen("GET", "/secret").status)


def test_urllib3_connection_from_pool_key_gets_the_pinning_context(review: Review) -> None:
    """``connection_from_pool_key`` with an https request context makes a pool with urllib3's
    default context (no pins): the impostor at the pinned localhost gets the request."""
    from certpin.clients.urllib3 import pinned_pool_manager

    def run() -> Any:
        with pinned_pool_manager(review.policy, cadata=review.cadata, timeout=TIMEOUT,
                                 retries=False) as pm:
            return _pool_key_request(pm, review.impostor.tls_port)

    mark = review.impostor.mark()
    outcome = attempt(run)
    assert_zero_bytes(review.impostor, mark, "urllib3 connection_from_pool_key(localhost)",
                      outcome)


def test_urllib3_proxy_manager_connection_from_pool_key_gets_the_pinning_context(
    review: Review,
) -> None:
    """The same on a ``PinnedProxyManager`` (the pool is made without the proxy, directly)."""
    from certpin.clients.urllib3 import pinned_proxy_manager

    with ConnectProxy() as proxy:
        def run() -> Any:
            with pinned_proxy_manager(proxy.url, review.policy, cadata=review.cadata,
                                      timeout=TIMEOUT, retries=False) as pm:
                return _pool_key_request(pm, review.impostor.tls_port)

        mark = review.impostor.mark()
        outcome = attempt(run)
        assert_zero_bytes(review.impostor, mark,
                          "urllib3 proxy manager connection_from_pool_key(localhost)", outcome)


def test_requests_adapter_pool_manager_connection_from_pool_key_gets_the_pinning_context(
    review: Review,
) -> None:
    """The same through a requests ``PinnedSession``'s adapter (``adapter.poolmanager``)."""
    from certpin.clients.requests import PinnedSession

    def run() -> Any:
        with PinnedSession(review.policy, cadata=review.cadata) as session:
            return _pool_key_request(session.certpin_adapter.poolmanager,
                                     review.impostor.tls_port)

    mark = review.impostor.mark()
    outcome = attempt(run)
    assert_zero_bytes(review.impostor, mark, "requests adapter.poolmanager pool key", outcome)


# ------------------------------------------------------------------ urllib3: pool default headers
@pytest.mark.parametrize("scheme", ["https", "http"])
def test_urllib3_pool_default_headers_naming_a_pinned_host_are_refused(
    review: Review, scheme: str
) -> None:
    """``pool_kwargs={"headers": {"Host": "localhost"}}`` on a pool for unpinned.test: the pool's
    ``urlopen`` without ``headers`` sends the pool's own ``Host: localhost``."""
    from certpin.clients.urllib3 import pinned_pool_manager

    port = review.impostor.tls_port if scheme == "https" else review.impostor.plain_port

    def run() -> Any:
        with pinned_pool_manager(review.policy, cadata=review.cadata, timeout=TIMEOUT,
                                 retries=False) as pm:
            pool = pm.connection_from_url(f"{scheme}://unpinned.test:{port}",
                                          pool_kwargs={"headers": {"Host": "localhost"}})
            return pool.urlopen("GET", "/secret").status

    mark = review.impostor.mark()
    outcome = attempt(run)
    assert_zero_bytes(review.impostor, mark,
                      f"urllib3 {scheme} pool with default headers Host: localhost", outcome)


# ------------------------------------------------------------------ urllib: later processors
def test_urllib_processor_adding_a_pinned_host_header_to_plain_http_is_refused(
    review: Review,
) -> None:
    """A processor (order 499, after certpin's 100, before HTTPHandler's own) adds
    ``Host: localhost`` to ``http://unpinned.test/``: clear text for the pinned host."""
    from certpin.clients.stdlib import build_opener

    class AddHost(urllib.request.BaseHandler):
        handler_order = 499

        def http_request(self, req: urllib.request.Request) -> urllib.request.Request:
            req.add_header("Host", "localhost")
            return req

    def run() -> Any:
        opener = build_opener(review.policy, AddHost(), cadata=review.cadata)
        url = f"http://unpinned.test:{review.impostor.plain_port}/secret"
        with opener.open(url, timeout=TIMEOUT) as resp:
            return resp.status

    mark = review.impostor.mark()
    outcome = attempt(run)
    assert_zero_bytes(review.impostor, mark, "urllib processor adding Host: localhost", outcome)


@pytest.mark.parametrize("start", ["http", "https"])
def test_urllib_processor_rewriting_the_url_to_plain_http_of_a_pinned_host_is_refused(
    review: Review, start: str
) -> None:
    """A processor rewrites ``req.full_url`` to ``http://localhost/`` after certpin judged the
    request: urllib opens the rewritten URL with the plain HTTPHandler."""
    from certpin.clients.stdlib import build_opener

    target = f"http://localhost:{review.impostor.plain_port}/secret"

    class Rewrite(urllib.request.BaseHandler):
        handler_order = 499

        def http_request(self, req: urllib.request.Request) -> urllib.request.Request:
            req.full_url = target
            return req

        https_request = http_request

    def run() -> Any:
        opener = build_opener(review.policy, Rewrite(), cadata=review.cadata)
        port = review.impostor.plain_port if start == "http" else review.impostor.tls_port
        with opener.open(f"{start}://unpinned.test:{port}/x", timeout=TIMEOUT) as resp:
            return resp.status

    mark = review.impostor.mark()
    outcome = attempt(run)
    assert_zero_bytes(review.impostor, mark, f"urllib processor rewriting {start}:// to {target}",
                      outcome)


# ------------------------------------------------------------------ websockets: connection factory
def test_websockets_connection_factory_adding_a_pinned_host_header_is_refused(
    review: Review,
) -> None:
    """``create_connection=`` a ``ClientConnection`` subclass whose ``handshake`` passes
    ``{"Host": "localhost"}``: the opening handshake to unpinned.test carries
    ``Host: localhost``."""
    from websockets.asyncio.client import ClientConnection

    from certpin.clients.websockets import connect

    class HostConnection(ClientConnection):
        async def handshake(self, additional_headers: Any = None, *args: Any,
                            **kwargs: Any) -> None:
            await super().handshake({"Host": "localhost"}, *args, **kwargs)

    async def run() -> Any:
        async with connect(f"wss://unpinned.test:{review.impostor.tls_port}/secret",
                           review.policy, cadata=review.cadata, create_connection=HostConnection,
                           open_timeout=TIMEOUT, close_timeout=0.2):
            return 101

    mark = review.impostor.mark()
    outcome = attempt(run)
    assert_zero_bytes(review.impostor, mark, "websockets create_connection adding Host: localhost",
                      outcome)
