"""Regression tests from the second adversarial review of the client helpers (branch review10b).

Same setup as ``tests/test_review_helpers.py`` (its ``review`` fixture is reused): an IMPOSTOR on
127.0.0.1 whose certificate comes from a CA the client trusts and names ``localhost``,
``127.0.0.1``, ``::1`` and ``unpinned.test``; the policy pins ``localhost``, ``127.0.0.1`` and
``::1``; ``unpinned.test`` (also 127.0.0.1) is allowed. Each test drives a helper through its
library's documented API and asserts that the impostor received ZERO application bytes.

Findings (each test fails on the code it was written against):

* urllib3: the pools a ``PinnedProxyManager`` makes are plain urllib3 pools (only
  ``PinnedPoolManager`` installs the guarded pool classes): ``pool.urlopen`` with an absolute
  ``http://<pinned>/`` URL forwards a clear-text request for the pinned host through the proxy,
  and a tunnelled pool sends a ``Host`` header naming a pinned host;
* urllib: a plain ``http://`` request to an unpinned host carries a ``Host`` header naming a
  pinned host (HTTPHandler's connections are not guarded); ``Request.set_proxy(proxy, "http")``
  on an ``http://<pinned>/`` URL replaces ``req.host`` before ``_RefusePlainHTTP`` judges it, so
  the clear-text request for the pinned host goes to the proxy;
* urllib: ``build_opener(policy, SomeHTTPSHandlerSubclass)`` - a handler passed as a CLASS, which
  urllib's build_opener documents and instantiates - escapes the instance-only refusal; with a
  lower ``handler_order`` it opens https:// URLs with a default context, no pins;
* http.client: ``request("GET", "https://<pinned>/...", headers={"Host": <conn host>})`` sends an
  absolute request URL naming a pinned host over a connection checked for another host;
* httpx: the ``target`` request extension (httpcore's documented request-target override) does
  the same;
* websockets: ``proxy_server_hostname=`` (websockets passes every ``proxy_*`` keyword to the
  proxy's ``create_connection``) renames the TLS identity of an ``https://`` proxy, so a pinned
  proxy host is checked for an unpinned name and gets ``CONNECT`` and ``Proxy-Authorization``;
* aiohttp: client middlewares (session or per request) run after the request class's check
  and can change the ``Host`` header, the proxy or the URL before anything is sent.
"""

# ruff: noqa: F811  (the tests take the imported module fixture ``review`` as a parameter)
from __future__ import annotations

import urllib.request
from typing import Any

import pytest
import yarl

from support.proxy import ConnectProxy
from test_review_helpers import (
    PROXY_AUTH,
    TIMEOUT,
    Review,
    assert_zero_bytes,
    attempt,
    review,  # noqa: F401  (the module-scoped fixture)
)


# ------------------------------------------------------------------ urllib3: proxy manager pools
def test_urllib3_proxy_manager_pool_forwards_no_plain_request_for_a_pinned_host(
    review: Review,
) -> None:
    """``pinned_proxy_manager(http proxy).connection_from_url("http://unpinned.test/")`` is the
    proxy's pool; its ``urlopen`` with an absolute ``http://localhost/`` URL forwards a clear-text
    request for the pinned localhost to the proxy (the proxy is the recorder here)."""
    from certpin.clients.urllib3 import pinned_proxy_manager

    def run() -> Any:
        with pinned_proxy_manager(f"http://unpinned.test:{review.impostor.plain_port}",
                                  review.policy, cadata=review.cadata, timeout=TIMEOUT,
                                  retries=False) as pm:
            pool = pm.connection_from_url("http://unpinned.test:80/")
            return pool.urlopen("GET", f"http://localhost:{review.legit.plain_port}/secret",
                                assert_same_host=False).status

    mark = review.impostor.mark()
    outcome = attempt(run)
    assert_zero_bytes(review.impostor, mark, "urllib3 proxy pool forwarding http://localhost",
                      outcome)


def test_urllib3_proxy_manager_tunnel_pool_host_header_naming_a_pinned_host_is_refused(
    review: Review,
) -> None:
    """The tunnelled pool of a ``PinnedProxyManager`` sends ``Host: localhost`` over a TLS
    connection checked for unpinned.test (the PinnedPoolManager's pools refuse this)."""
    from certpin.clients.urllib3 import pinned_proxy_manager

    with ConnectProxy() as proxy:
        def run() -> Any:
            with pinned_proxy_manager(proxy.url, review.policy, cadata=review.cadata,
                                      timeout=TIMEOUT, retries=False) as pm:
                pool = pm.connection_from_url(f"https://unpinned.test:{review.impostor.tls_port}")
                return pool.urlopen("GET", "/secret", headers={"Host": "localhost"}).status

        mark = review.impostor.mark()
        outcome = attempt(run)
        assert_zero_bytes(review.impostor, mark, "urllib3 proxy tunnel pool Host: localhost",
                          outcome)


# ------------------------------------------------------------------ urllib
def test_urllib_plain_http_host_header_naming_a_pinned_host_is_refused(review: Review) -> None:
    """``http://unpinned.test/`` with ``Host: localhost``: a clear-text request for the pinned
    host (requests, httpx, aiohttp and urllib3 refuse this Host header on http:// too)."""
    from certpin.clients.stdlib import build_opener

    def run() -> Any:
        req = urllib.request.Request(f"http://unpinned.test:{review.impostor.plain_port}/secret",
                                     headers={"Host": "localhost"})
        with build_opener(review.policy, cadata=review.cadata).open(req, timeout=TIMEOUT) as r:
            return r.status

    mark = review.impostor.mark()
    outcome = attempt(run)
    assert_zero_bytes(review.impostor, mark, "urllib http:// with Host: localhost", outcome)


def test_urllib_set_proxy_on_a_plain_url_of_a_pinned_host_sends_nothing(review: Review) -> None:
    """``Request("http://localhost/...").set_proxy("unpinned.test:PORT", "http")``: set_proxy
    replaces ``req.host`` by the proxy's before the plain-http refusal runs, so the request for
    the pinned localhost goes in clear text to the proxy."""
    from certpin.clients.stdlib import build_opener

    def run() -> Any:
        req = urllib.request.Request(f"http://localhost:{review.legit.plain_port}/secret")
        req.set_proxy(f"unpinned.test:{review.impostor.plain_port}", "http")
        with build_opener(review.policy, cadata=review.cadata).open(req, timeout=TIMEOUT) as r:
            return r.status

    mark = review.impostor.mark()
    outcome = attempt(run)
    assert_zero_bytes(review.impostor, mark, "urllib set_proxy on http://localhost", outcome)


def test_build_opener_refuses_a_plain_https_handler_given_as_a_class(review: Review) -> None:
    """urllib's build_opener takes handler classes too (and instantiates them); the refusal of
    a plain HTTPSHandler only looks at instances. An earlier-ordered subclass opens
    ``https://localhost`` with a default context: no pins, the request reaches the impostor."""
    from certpin.clients.stdlib import build_opener

    class Early(urllib.request.HTTPSHandler):
        handler_order = 400

    def run() -> Any:
        opener = build_opener(review.policy, Early, cadata=review.cadata)  # type: ignore[arg-type]
        with opener.open(f"https://localhost:{review.impostor.tls_port}/secret",
                         timeout=TIMEOUT) as r:
            return r.status

    mark = review.impostor.mark()
    outcome = attempt(run)
    assert_zero_bytes(review.impostor, mark, "build_opener(policy, Early) (a class)", outcome)


# ------------------------------------------------------------------ absolute request URLs
def test_http_client_absolute_url_naming_a_pinned_host_is_refused(review: Review) -> None:
    """``HTTPSConnection("unpinned.test").request("GET", "https://localhost/...",
    headers={"Host": "unpinned.test"})``: the absolute request URL names the pinned localhost
    (a server must prefer it to Host), the pins were checked for unpinned.test."""
    from certpin.clients.stdlib import HTTPSConnection

    def run() -> Any:
        conn = HTTPSConnection("unpinned.test", review.impostor.tls_port, policy=review.policy,
                               cadata=review.cadata, timeout=TIMEOUT)
        try:
            conn.request("GET", f"https://localhost:{review.legit.tls_port}/secret",
                         headers={"Host": "unpinned.test"})
            return conn.getresponse().status
        finally:
            conn.close()

    mark = review.impostor.mark()
    outcome = attempt(run)
    assert_zero_bytes(review.impostor, mark, "http.client absolute URL to localhost", outcome)


def test_httpx_target_extension_naming_a_pinned_host_is_refused(review: Review) -> None:
    """httpcore's ``target`` request extension sets the request target: an absolute
    ``https://localhost/`` target over a connection checked for unpinned.test."""
    from certpin.clients.httpx import pinned_client

    target = f"https://localhost:{review.legit.tls_port}/secret".encode()

    def run() -> Any:
        with pinned_client(review.policy, cadata=review.cadata, timeout=TIMEOUT) as c:
            return c.get(f"https://unpinned.test:{review.impostor.tls_port}/",
                         extensions={"target": target}).status_code

    mark = review.impostor.mark()
    outcome = attempt(run)
    assert_zero_bytes(review.impostor, mark, "httpx extensions target=https://localhost", outcome)


# ------------------------------------------------------------------ websockets
def test_websockets_proxy_server_hostname_cannot_rename_a_pinned_proxy(review: Review) -> None:
    """websockets hands every ``proxy_*`` keyword to the proxy's ``create_connection``:
    ``proxy_server_hostname="unpinned.test"`` makes the TLS to the pinned https proxy host
    ``localhost`` be checked for unpinned.test (not pinned: allowed), and the impostor gets
    ``CONNECT`` with ``Proxy-Authorization``."""
    from certpin.clients.websockets import connect

    async def run() -> Any:
        async with connect(f"wss://unpinned.test:{review.legit.tls_port}/", review.policy,
                           cadata=review.cadata,
                           proxy=f"https://puser:psecret@localhost:{review.impostor.tls_port}",
                           proxy_server_hostname="unpinned.test", open_timeout=TIMEOUT,
                           close_timeout=0.2):
            return 101

    mark = review.impostor.mark()
    outcome = attempt(run)
    assert_zero_bytes(review.impostor, mark, "websockets proxy_server_hostname", outcome)


# ------------------------------------------------------------------ aiohttp middlewares
def _aiohttp_middleware_case(review: Review, case: str) -> Any:
    from certpin.clients.aiohttp import pinned_session

    async def host_mw(req: Any, handler: Any) -> Any:
        req.headers["Host"] = "localhost"
        return await handler(req)

    async def proxy_mw(req: Any, handler: Any) -> Any:
        req.proxy = yarl.URL(f"http://127.0.0.1:{review.impostor.plain_port}")
        req.proxy_headers = {"Proxy-Authorization": PROXY_AUTH}
        return await handler(req)

    async def url_mw(req: Any, handler: Any) -> Any:
        req.url = yarl.URL(f"http://localhost:{review.impostor.plain_port}/secret")
        return await handler(req)

    async def run() -> Any:
        if case == "host":  # a session middleware
            async with pinned_session(review.policy, cadata=review.cadata,
                                      middlewares=(host_mw,)) as s, s.get(
                f"https://unpinned.test:{review.impostor.tls_port}/secret"
            ) as r:
                return r.status
        mw, url = {
            "proxy": (proxy_mw, f"https://unpinned.test:{review.legit.tls_port}/secret"),
            "url": (url_mw, f"http://unpinned.test:{review.legit.plain_port}/secret"),
        }[case]
        async with pinned_session(review.policy, cadata=review.cadata) as s, s.get(
            url, middlewares=(mw,)  # a per-request middleware
        ) as r:
            return r.status

    return run


@pytest.mark.parametrize("case", ["host", "proxy", "url"])
def test_aiohttp_middleware_cannot_change_what_the_guard_judged(review: Review, case: str) -> None:
    """aiohttp client middlewares (documented, session-wide or per request) get the request
    after the pinned request class checked it: a ``Host`` header naming localhost, a plain
    proxy at the pinned 127.0.0.1 (CONNECT and Proxy-Authorization in clear text), or a plain
    ``http://localhost`` URL all reach the impostor."""
    mark = review.impostor.mark()
    outcome = attempt(_aiohttp_middleware_case(review, case))
    assert_zero_bytes(review.impostor, mark, f"aiohttp middleware ({case})", outcome)
