"""Regression tests from the fourth adversarial review of the client helpers (branch review10d).

Same setup as ``tests/test_review_helpers.py`` (its ``review`` fixture is reused): an IMPOSTOR on
127.0.0.1 whose certificate comes from a CA the client trusts and names ``localhost``,
``127.0.0.1``, ``::1`` and ``unpinned.test``; the policy pins ``localhost``, ``127.0.0.1`` and
``::1``; ``unpinned.test`` (also 127.0.0.1) is allowed. Each test asserts that the impostor
received ZERO application bytes.

Findings (each test fails on the code it was written against):

* urllib3: ``connection_from_pool_key(key, request_context)`` with ``server_hostname`` in the
  request context: ``_new_pool`` judges only the scheme and host, never the TLS name override
  (only ``connection_from_context`` does), so a pool for the pinned ``localhost`` checks the pins
  of ``unpinned.test`` and sends ``GET /secret`` with ``Host: localhost`` to whoever answers at
  localhost. Same on a ``PinnedProxyManager`` and on a requests ``PinnedAdapter``'s pool manager;
* urllib3: on a ``PinnedProxyManager`` the same method takes a ``_proxy_config`` from the request
  context (only ``_proxy`` is compared with the manager's): a plain ``ssl_context`` there makes the
  TLS to an ``https://`` proxy at the pinned ``localhost`` without pins (the CONNECT line reaches
  the impostor), and ``use_forwarding_for_https=True`` there (refused as a manager argument) makes
  the pool forward ``GET https://localhost/secret`` to the proxy: the origin's pins are never
  checked;
* websockets: header NAMES in ``additional_headers`` are not validated by websockets (only
  values are); the guard compares each name with ``host`` exactly, so a name holding CR LF
  (``"X: y\\r\\nHost"``) writes a second ``Host: localhost`` (or a whole second request) into the
  opening handshake over a connection checked for unpinned.test;
* every helper but ``http.client``: a header named ``"Host "`` or ``"Host\\t"`` (legal for
  http.client, urllib3, requests and aiohttp, which send it as ``Host : localhost``) is not
  counted as a ``Host`` header by the guard (``_header_values`` compares names without stripping
  them; ``stdlib._HostGuard.putheader`` strips and refuses). Sent over https to unpinned.test
  (urllib3, requests, aiohttp, websockets) and in clear text (urllib, requests plain http).
"""

# ruff: noqa: F811  (the tests take the imported module fixture ``review`` as a parameter)
from __future__ import annotations

import ssl
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


# ------------------------------------------- urllib3: server_hostname through a pool key
def _pool_key_server_hostname(manager: Any, port: int) -> int:
    context = {"scheme": "https", "host": "localhost", "port": port,
               "server_hostname": "unpinned.test"}
    key = manager.key_fn_by_scheme["https"](context)
    pool = manager.connection_from_pool_key(key, request_context=context)
    return int(pool.urlopen("GET", "/secret").status)


def test_urllib3_pool_key_server_hostname_naming_another_host_is_refused(review: Review) -> None:
    """A pool for the pinned localhost whose TLS name (pins) is unpinned.test."""
    from certpin.clients.urllib3 import pinned_pool_manager

    def run() -> Any:
        with pinned_pool_manager(review.policy, cadata=review.cadata, timeout=TIMEOUT,
                                 retries=False) as pm:
            return _pool_key_server_hostname(pm, review.impostor.tls_port)

    mark = review.impostor.mark()
    outcome = attempt(run)
    assert_zero_bytes(review.impostor, mark, "urllib3 pool key server_hostname", outcome)


def test_urllib3_proxy_manager_pool_key_server_hostname_is_refused(review: Review) -> None:
    from certpin.clients.urllib3 import pinned_proxy_manager

    with ConnectProxy() as proxy:
        def run() -> Any:
            with pinned_proxy_manager(proxy.url, review.policy, cadata=review.cadata,
                                      timeout=TIMEOUT, retries=False) as pm:
                return _pool_key_server_hostname(pm, review.impostor.tls_port)

        mark = review.impostor.mark()
        outcome = attempt(run)
        assert_zero_bytes(review.impostor, mark,
                          "urllib3 proxy manager pool key server_hostname", outcome)


def test_requests_adapter_pool_key_server_hostname_is_refused(review: Review) -> None:
    from certpin.clients.requests import PinnedSession

    def run() -> Any:
        with PinnedSession(review.policy, cadata=review.cadata) as session:
            return _pool_key_server_hostname(session.certpin_adapter.poolmanager,
                                             review.impostor.tls_port)

    mark = review.impostor.mark()
    outcome = attempt(run)
    assert_zero_bytes(review.impostor, mark, "requests adapter pool key server_hostname",
                      outcome)


# ------------------------------------------- urllib3: _proxy_config through a pool key
def test_urllib3_pool_key_proxy_config_with_a_plain_context_is_refused(review: Review) -> None:
    """The TLS to an https proxy at the pinned localhost with a plain context: the CONNECT line
    reaches the impostor."""
    from urllib3.poolmanager import ProxyConfig

    from certpin.clients.urllib3 import pinned_proxy_manager

    def run() -> Any:
        with pinned_proxy_manager(f"https://localhost:{review.impostor.tls_port}", review.policy,
                                  cadata=review.cadata, timeout=TIMEOUT, retries=False) as pm:
            plain = ssl.create_default_context(cadata=review.cadata)
            context = {"scheme": "https", "host": "unpinned.test", "port": 9,
                       "_proxy": pm.proxy, "_proxy_headers": {},
                       "_proxy_config": ProxyConfig(plain, False, None, None)}
            pool = pm.connection_from_pool_key(pm.key_fn_by_scheme["https"](context),
                                               request_context=context)
            return pool.urlopen("GET", "/secret", retries=False).status

    mark = review.impostor.mark()
    outcome = attempt(run)
    assert_zero_bytes(review.impostor, mark, "urllib3 _proxy_config plain context", outcome)


def test_urllib3_pool_key_proxy_config_forwarding_https_is_refused(review: Review) -> None:
    """``use_forwarding_for_https`` smuggled in through the request context: the request for the
    pinned localhost is forwarded to the proxy, the origin's pins never checked."""
    from urllib3.poolmanager import ProxyConfig

    from certpin.clients.urllib3 import pinned_proxy_manager

    target = f"https://localhost:{review.legit.tls_port}/secret"

    def run() -> Any:
        with pinned_proxy_manager(f"https://unpinned.test:{review.impostor.tls_port}",
                                  review.policy, cadata=review.cadata, timeout=TIMEOUT,
                                  retries=False) as pm:
            context = {"scheme": "https", "host": "localhost", "port": review.legit.tls_port,
                       "_proxy": pm.proxy, "_proxy_headers": {},
                       "_proxy_config": ProxyConfig(pm.certpin_context, True, None, None)}
            pool = pm.connection_from_pool_key(pm.key_fn_by_scheme["https"](context),
                                               request_context=context)
            return pool.urlopen("GET", target, retries=False).status

    mark = review.impostor.mark()
    outcome = attempt(run)
    assert_zero_bytes(review.impostor, mark, "urllib3 _proxy_config forwarding", outcome)


# ------------------------------------------- websockets: CR LF in a header name
@pytest.mark.parametrize("name", [
    "X-A: 1\r\nHost",
    "X: y\r\n\r\nGET /smuggled HTTP/1.1\r\nHost",
])
def test_websockets_header_name_cannot_inject_a_host_header(review: Review, name: str) -> None:
    from certpin.clients.websockets import connect

    async def run() -> Any:
        async with connect(f"wss://unpinned.test:{review.impostor.tls_port}/", review.policy,
                           cadata=review.cadata, additional_headers=[(name, "localhost")],
                           open_timeout=TIMEOUT):
            return "open"

    mark = review.impostor.mark()
    outcome = attempt(run)
    assert_zero_bytes(review.impostor, mark, f"websockets header name {name!r}", outcome)


# ------------------------------------------- a Host header name with white space
HOST_NAMES = ["Host ", "Host\t"]


@pytest.mark.parametrize("name", HOST_NAMES)
def test_urllib3_host_header_name_with_white_space_is_refused(review: Review, name: str) -> None:
    from certpin.clients.urllib3 import pinned_pool_manager

    def run() -> Any:
        with pinned_pool_manager(review.policy, cadata=review.cadata, timeout=TIMEOUT,
                                 retries=False) as pm:
            url = f"https://unpinned.test:{review.impostor.tls_port}/"
            return pm.request("GET", url, headers={name: "localhost"}).status

    mark = review.impostor.mark()
    outcome = attempt(run)
    assert_zero_bytes(review.impostor, mark, f"urllib3 header {name!r}", outcome)


@pytest.mark.parametrize("scheme", ["https", "http"])
def test_requests_host_header_name_with_white_space_is_refused(
    review: Review, scheme: str
) -> None:
    from certpin.clients.requests import PinnedSession

    port = review.impostor.tls_port if scheme == "https" else review.impostor.plain_port

    def run() -> Any:
        with PinnedSession(review.policy, cadata=review.cadata) as session:
            return session.get(f"{scheme}://unpinned.test:{port}/",
                               headers={"Host ": "localhost"}, timeout=TIMEOUT).status_code

    mark = review.impostor.mark()
    outcome = attempt(run)
    assert_zero_bytes(review.impostor, mark, f"requests {scheme} header 'Host '", outcome)


@pytest.mark.parametrize("ws", [False, True])
def test_aiohttp_host_header_name_with_white_space_is_refused(review: Review, ws: bool) -> None:
    from certpin.clients.aiohttp import pinned_session

    async def run() -> Any:
        async with pinned_session(review.policy, cadata=review.cadata) as session:
            if ws:
                async with session.ws_connect(f"wss://unpinned.test:{review.impostor.tls_port}/",
                                              headers={"Host ": "localhost"}):
                    return "open"
            async with session.get(f"https://unpinned.test:{review.impostor.tls_port}/",
                                   headers={"Host ": "localhost"}) as resp:
                return resp.status

    mark = review.impostor.mark()
    outcome = attempt(run)
    assert_zero_bytes(review.impostor, mark, f"aiohttp (ws={ws}) header 'Host '", outcome)


def test_websockets_host_header_name_with_white_space_is_refused(review: Review) -> None:
    from certpin.clients.websockets import connect

    async def run() -> Any:
        async with connect(f"wss://unpinned.test:{review.impostor.tls_port}/", review.policy,
                           cadata=review.cadata, additional_headers=[("Host ", "localhost")],
                           open_timeout=TIMEOUT):
            return "open"

    mark = review.impostor.mark()
    outcome = attempt(run)
    assert_zero_bytes(review.impostor, mark, "websockets header 'Host '", outcome)


def test_urllib_plain_http_host_header_name_with_white_space_is_refused(review: Review) -> None:
    """Clear text to unpinned.test naming the pinned localhost (the plain ``Host`` header is
    refused since review 2; ``Host `` is not)."""
    from certpin.clients.stdlib import build_opener

    def run() -> Any:
        opener = build_opener(review.policy, cadata=review.cadata)
        req = urllib.request.Request(
            f"http://unpinned.test:{review.impostor.plain_port}/", headers={"Host ": "localhost"}
        )
        with opener.open(req, timeout=TIMEOUT) as resp:
            return resp.status

    mark = review.impostor.mark()
    outcome = attempt(run)
    assert_zero_bytes(review.impostor, mark, "urllib plain http header 'Host '", outcome)
