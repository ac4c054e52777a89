"""The request guard of the client helpers: what a caller, a redirect or a proxy can say that
would send a request for a pinned host over a connection not checked against its pins (a TLS name
override, a Host header or absolute URL naming another host, a plain proxy or adapter, a handler,
a middleware). Each test asserts that an IMPOSTOR on 127.0.0.1, whose certificate comes from a CA
the client trusts, received ZERO application bytes.

Every test here is a regression found by the red team or by the adversarial reviews of the
helpers (review10, review10b); its ``# regression:`` line says what it guards.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import trustme
import yarl

from certpin import PinMismatchError
from certpin.clients import PinnedRequestError
from support.enforce import (
    HOST,
    UNPINNED,
    RecordingTLSServer,
    impostor,
    impostor_leaf,
    intermediate,
    leaf_context,
    legit_leaf,
    legit_server,
    pinned_ctx,
    policy,
    trust_pem,
)
from support.proxy import ConnectProxy
from support.redirector import PlainRedirector
from support.review import (
    PROXY_AUTH,
    TIMEOUT,
    FtpImpostor,
    Review,
    assert_zero_bytes,
    attempt,
    review,
)
from support.servers import local_names

__all__ = [  # fixtures imported for pytest
    "impostor",
    "impostor_leaf",
    "intermediate",
    "legit_leaf",
    "legit_server",
    "pinned_ctx",
    "policy",
    "review",
    "trust_pem",
]


@pytest.fixture()
def unpinned_impostor(attacker_ca: trustme.CA) -> Iterator[RecordingTLSServer]:
    """An impostor whose valid certificate (trusted CA) names only an unpinned host."""
    with RecordingTLSServer(leaf_context(attacker_ca.issue_cert(UNPINNED))) as srv:
        yield srv


# regression: httpx's sni_hostname request extension moved the pin lookup to an unpinned name (found
#   by the red team)
def test_httpx_sni_hostname_extension_cannot_move_the_pin_check_to_another_name(
    pinned_ctx: ssl.SSLContext, unpinned_impostor: RecordingTLSServer
) -> None:
    """httpcore's ``sni_hostname`` request extension is a TLS name override: the handshake
    (and so the pin lookup) uses it instead of the URL host. For a request to a pinned host it
    must be refused like ``server_hostname`` is for the other clients."""
    pytest.importorskip("httpx")
    from certpin.clients.httpx import pinned_client

    url = f"https://{HOST}:{unpinned_impostor.port}/secret?token=hunter2"
    with (
        local_names(HOST),
        pinned_client(pinned_ctx) as client,
        pytest.raises(PinnedRequestError, match="TLS name override"),
    ):
        client.get(url, extensions={"sni_hostname": UNPINNED})
    assert unpinned_impostor.received == b""


# regression: the same sni_hostname override through httpx's async client (found by the red team)
def test_httpx_async_sni_hostname_extension_refused(
    pinned_ctx: ssl.SSLContext, unpinned_impostor: RecordingTLSServer
) -> None:
    import asyncio

    pytest.importorskip("httpx")
    from certpin.clients.httpx import pinned_async_client

    url = f"https://{HOST}:{unpinned_impostor.port}/secret?token=hunter2"

    async def go() -> None:
        async with pinned_async_client(pinned_ctx) as client:
            await client.get(url, extensions={"sni_hostname": UNPINNED})

    with local_names(HOST), pytest.raises(PinnedRequestError, match="TLS name override"):
        asyncio.run(go())
    assert unpinned_impostor.received == b""


# regression: the sni_hostname refusal leaves an extension naming the URL's own host working (found
#   by the red team)
def test_httpx_sni_hostname_naming_the_url_host_still_works(
    pinned_ctx: ssl.SSLContext, legit_server: RecordingTLSServer
) -> None:
    pytest.importorskip("httpx")
    from certpin.clients.httpx import pinned_client

    with local_names(HOST), pinned_client(pinned_ctx) as client:
        resp = client.get(
            f"https://{HOST}:{legit_server.port}/", extensions={"sni_hostname": HOST.upper()}
        )
    assert resp.status_code == 200
    assert b"Host: pinned.test" in legit_server.received


# regression: session.mount('https://', HTTPAdapter(...)) replaced PinnedSession's pinning adapter
#   (found by the red team)
@pytest.mark.parametrize("prefix", ["https://", "HTTPS://", "https://pinned", "http", ""])
def test_requests_pinned_session_refuses_a_plain_adapter_over_https(
    pinned_ctx: ssl.SSLContext,
    impostor: RecordingTLSServer,
    trust_pem: str,
    tmp_path: Path,
    prefix: str,
) -> None:
    """The common retry recipe ``session.mount("https://", HTTPAdapter(max_retries=...))`` on a
    PinnedSession would replace the pinning adapter for every https:// URL (requests picks the
    longest matching prefix), silently sending requests with requests' own context."""
    requests = pytest.importorskip("requests")
    from certpin.clients.requests import PinnedSession

    bundle = tmp_path / "trust.pem"  # the client trusts the attacker's CA (system store)
    bundle.write_text(trust_pem)
    with local_names(HOST), PinnedSession(pinned_ctx) as session:
        with pytest.raises(PinnedRequestError, match="adapter"):
            session.mount(prefix, requests.adapters.HTTPAdapter(max_retries=3))
        with pytest.raises(requests.exceptions.SSLError):
            session.get(f"https://{HOST}:{impostor.port}/secret", verify=str(bundle))
    assert impostor.received == b""


def _ws_connect(uri: str, ctx: ssl.SSLContext, **kwargs: Any) -> None:
    from certpin.clients.websockets import connect

    async def go() -> None:
        async with connect(uri, ctx, open_timeout=5, **kwargs):
            pass

    asyncio.run(go())


# regression: a ws:// redirect to wss://<pinned host> used websockets' default context, without pins
#   (found by the red team)
def test_websockets_plain_redirect_to_wss_pinned_host_keeps_the_pinning_context(
    pinned_ctx: ssl.SSLContext,
    impostor: RecordingTLSServer,
    trust_pem: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """ws:// to an unpinned host is allowed; a MITM there answers with a redirect to
    wss://pinned.test. websockets then used ``ssl=True`` (a default context, no pins) for
    the new hop, and the impostor got the opening handshake (path, query, headers)."""
    pytest.importorskip("websockets")
    bundle = tmp_path / "system.pem"  # the system store trusts the attacker's CA too
    bundle.write_text(trust_pem)
    monkeypatch.setenv("SSL_CERT_FILE", str(bundle))
    target = f"wss://{HOST}:{impostor.port}/feed?token=hunter2"
    with PlainRedirector(target) as mitm, local_names(HOST, UNPINNED):
        with pytest.raises(PinMismatchError):
            _ws_connect(f"ws://{UNPINNED}:{mitm.port}/feed", pinned_ctx)
        assert mitm.received.startswith(b"GET /feed HTTP/1.1")
    assert impostor.received == b""


# regression: a websockets redirect hop to plain ws://<pinned host> (found by the red team)
def test_websockets_redirect_to_plain_ws_pinned_host_refused(
    pinned_ctx: ssl.SSLContext,
) -> None:
    """A redirect hop to ws://pinned.test (plain text to a pinned host) is refused like a first
    request to it is."""
    pytest.importorskip("websockets")
    with PlainRedirector() as pinned_plain, PlainRedirector() as mitm, local_names(HOST, UNPINNED):
        mitm.location = f"ws://{HOST}:{pinned_plain.port}/feed?token=hunter2"
        with pytest.raises(PinnedRequestError, match="plain ws://"):
            _ws_connect(f"ws://{UNPINNED}:{mitm.port}/feed", pinned_ctx)
        assert pinned_plain.received == b""


# regression: a websockets server_hostname override carried over a redirect to a pinned host (found
#   by the red team)
def test_websockets_redirect_keeps_a_server_hostname_override_only_for_its_own_host(
    pinned_ctx: ssl.SSLContext, attacker_ca: trustme.CA, impostor: RecordingTLSServer
) -> None:
    """wss://evil.test with server_hostname='evil.test' (allowed: it names the URI's host),
    redirected to wss://pinned.test: websockets kept server_hostname='evil.test' for the new
    hop, so the pins looked up were evil.test's (none) while the handshake went to pinned.test."""
    pytest.importorskip("websockets")
    evil_ctx = leaf_context(attacker_ca.issue_cert(UNPINNED))

    def redirect(conn: ssl.SSLSocket, server: RecordingTLSServer) -> None:
        server.recv(conn)
        conn.sendall(
            b"HTTP/1.1 302 Found\r\nLocation: wss://" + HOST.encode() + b":"
            + str(impostor_evil.port).encode() + b"/feed\r\nContent-Length: 0\r\n\r\n"
        )

    with (
        RecordingTLSServer(evil_ctx) as impostor_evil,
        RecordingTLSServer(evil_ctx, handler=redirect) as evil,
        local_names(HOST, UNPINNED),
        pytest.raises(PinnedRequestError, match="TLS name override"),
    ):
        _ws_connect(f"wss://{UNPINNED}:{evil.port}/feed", pinned_ctx, server_hostname=UNPINNED)
    assert impostor_evil.received == b""
    del impostor


# regression: URL parser differential: the guard and urllib3 read https://evil.test\\@pinned.test/
#   differently (found by the red team)
def test_urllib3_guard_reads_the_url_as_urllib3_does(
    pinned_ctx: ssl.SSLContext, attacker_ca: trustme.CA
) -> None:
    """``https://evil.test\\@pinned.test/``: urllib.parse (the guard) sees pinned.test, urllib3
    connects to evil.test. With ``Host: pinned.test`` the request meant for the pinned host went
    over a connection whose pins were checked for evil.test (none) to the impostor."""
    pytest.importorskip("urllib3")
    from certpin.clients.urllib3 import pinned_pool_manager

    with RecordingTLSServer(leaf_context(attacker_ca.issue_cert(UNPINNED))) as evil:
        url = f"https://{UNPINNED}:{evil.port}\\@{HOST}/secret?token=hunter2"
        pm = pinned_pool_manager(pinned_ctx)
        with local_names(HOST, UNPINNED), pytest.raises(PinnedRequestError, match="Host header"):
            pm.request("GET", url, headers={"Host": HOST}, retries=False)
        evil.settle()
        assert evil.received == b""


# regression: websockets Headers with a repeated name crashed the request guard or hid a second Host
#   (found by the red team)
def test_websockets_headers_with_repeated_names_are_checked_not_crashed_on() -> None:
    """websockets' own ``Headers`` (what a redirect leaves in ``additional_headers``) raises on
    ``items()`` when a name repeats; the guard reads every value instead, so a second ``Host``
    is seen and a harmless repeated header does not break the connection."""
    pytest.importorskip("websockets")
    from websockets.datastructures import Headers

    from certpin.clients._common import RequestGuard

    guard = RequestGuard(None)
    guard.check("wss", HOST, Headers([("X-A", "1"), ("X-A", "2"), ("Host", HOST)]))
    with pytest.raises(PinnedRequestError, match="Host header"):
        guard.check("wss", HOST, Headers([("Host", HOST), ("host", UNPINNED)]))


def _proxy_request(helper: str, rv: Review, proxy: str) -> Callable[[], Any]:
    target = f"https://localhost:{rv.legit.tls_port}/secret"
    if helper == "urllib3":
        def run() -> Any:
            from certpin.clients.urllib3 import pinned_proxy_manager

            with pinned_proxy_manager(proxy, rv.policy, cadata=rv.cadata, timeout=TIMEOUT,
                                      retries=False) as pm:
                return pm.request("GET", target).status
        return run
    if helper == "requests":
        def run() -> Any:
            from certpin.clients.requests import PinnedSession

            with PinnedSession(rv.policy, cadata=rv.cadata) as s:
                return s.get(target, proxies={"https": proxy}, timeout=TIMEOUT).status_code
        return run
    if helper == "httpx":
        def run() -> Any:
            from certpin.clients.httpx import pinned_client

            with pinned_client(rv.policy, cadata=rv.cadata, proxy=proxy, timeout=TIMEOUT) as c:
                return c.get(target).status_code
        return run
    if helper == "httpx-async":
        async def run_async() -> Any:
            from certpin.clients.httpx import pinned_async_client

            async with pinned_async_client(rv.policy, cadata=rv.cadata, proxy=proxy,
                                           timeout=TIMEOUT) as c:
                return (await c.get(target)).status_code
        return run_async
    if helper == "aiohttp":
        async def run_aiohttp() -> Any:
            import aiohttp

            from certpin.clients.aiohttp import pinned_session

            async with pinned_session(rv.policy, cadata=rv.cadata) as s, s.get(
                target, proxy=proxy, timeout=aiohttp.ClientTimeout(total=TIMEOUT)
            ) as r:
                return r.status
        return run_aiohttp
    if helper == "websockets":
        async def run_ws() -> Any:
            from certpin.clients.websockets import connect

            async with connect(f"wss://localhost:{rv.legit.tls_port}/secret", rv.policy,
                               cadata=rv.cadata, proxy=proxy, open_timeout=TIMEOUT,
                               close_timeout=0.2):
                return 101
        return run_ws
    raise AssertionError(helper)


# The tests from here on use support.review's module-scoped ``review`` fixture, which (while it
# lives: until the end of this module) points SSL_CERT_FILE at both CAs, clears the proxy
# variables and resolves names to loopback only: keep them last in the module.


# regression: a plain http:// proxy at a pinned host got CONNECT and Proxy-Authorization in clear
#   text (found by the adversarial review of the client helpers (review10))
@pytest.mark.parametrize(
    "helper", ["urllib3", "requests", "httpx", "httpx-async", "aiohttp", "websockets"]
)
def test_plain_proxy_at_a_pinned_host_gets_no_connect_line(review: Review, helper: str) -> None:
    """An ``http://`` proxy on 127.0.0.1 (pinned) would get CONNECT and Proxy-Authorization in
    clear text; build_opener refuses such a proxy, the other helpers must too."""
    proxy = f"http://puser:psecret@127.0.0.1:{review.impostor.plain_port}"
    mark = review.impostor.mark()
    outcome = attempt(_proxy_request(helper, review, proxy))
    assert_zero_bytes(review.impostor, mark, f"{helper} through proxy {proxy}", outcome)


# regression: http.client set_tunnel through a pinned proxy host sent CONNECT in clear text (found
#   by the adversarial review of the client helpers (review10))
def test_http_client_set_tunnel_through_a_pinned_proxy_host_sends_nothing(
    review: Review,
) -> None:
    """``HTTPSConnection("127.0.0.1", port).set_tunnel("localhost")``: 127.0.0.1 is pinned, the
    CONNECT to it is clear text (the guard judged only the tunnel's origin)."""
    from certpin.clients.stdlib import HTTPSConnection

    def run() -> Any:
        conn = HTTPSConnection("127.0.0.1", review.impostor.plain_port, policy=review.policy,
                               cadata=review.cadata, timeout=TIMEOUT)
        try:
            conn.set_tunnel("localhost", review.legit.tls_port,
                            headers={"Proxy-Authorization": PROXY_AUTH})
            conn.request("GET", "/secret")
            return conn.getresponse().status
        finally:
            conn.close()

    mark = review.impostor.mark()
    outcome = attempt(run)
    assert_zero_bytes(review.impostor, mark, "http.client set_tunnel via 127.0.0.1", outcome)


# regression: urllib Request.set_proxy went around build_opener's refusal of a pinned proxy host
#   (found by the adversarial review of the client helpers (review10))
def test_urllib_request_set_proxy_to_a_pinned_host_sends_nothing(review: Review) -> None:
    """``Request.set_proxy`` (urllib's documented per-request proxy) bypasses build_opener's
    proxy handler, which refuses a proxy whose host is pinned."""
    from certpin.clients.stdlib import build_opener

    def run() -> Any:
        req = urllib.request.Request(
            f"https://localhost:{review.legit.tls_port}/secret",
            headers={"Host": f"localhost:{review.legit.tls_port}",
                     "Proxy-Authorization": PROXY_AUTH},
        )
        req.set_proxy(f"127.0.0.1:{review.impostor.plain_port}", "https")
        with build_opener(review.policy, cadata=review.cadata).open(req, timeout=TIMEOUT) as r:
            return r.status

    mark = review.impostor.mark()
    outcome = attempt(run)
    assert_zero_bytes(review.impostor, mark, "urllib Request.set_proxy(127.0.0.1)", outcome)


# regression: urllib followed https:// -> ftp://<pinned host> and logged in in clear text (found by
#   the adversarial review of the client helpers (review10))
@pytest.mark.parametrize("host", ["localhost", "127.0.0.1"])
def test_urllib_redirect_to_ftp_on_a_pinned_host_sends_nothing(review: Review, host: str) -> None:
    """A pinned https:// hop answers ``302 Location: ftp://<pinned host>/``: urllib follows it
    (its redirect handler allows ftp) and logs in in clear text to the pinned host."""
    from certpin.clients.stdlib import build_opener

    ftp = FtpImpostor()
    try:
        review.redirector.location = f"ftp://{host}:{ftp.port}/secret.txt"
        outcome = attempt(lambda: build_opener(review.policy, cadata=review.cadata).open(
            f"https://localhost:{review.redirector.tls_port}/hop", timeout=TIMEOUT).read())
        with ftp.lock:
            got = ftp.data
        assert got == b"", (f"urllib sent FTP commands in clear text to pinned {host}: {got!r} "
                            f"(outcome {outcome!r})")
    finally:
        review.redirector.location = None
        ftp.close()


# regression: stdlib.open_connection with a server_hostname naming another host than the one
#   addressed (found by the adversarial review of the client helpers (review10))
def test_open_connection_server_hostname_naming_another_host_is_refused(review: Review) -> None:
    """``open_connection("localhost", ..., server_hostname="unpinned.test")``: the bytes go to the
    pinned localhost, the pins are looked up for unpinned.test (none: allowed). Every other
    helper refuses a TLS name override naming another host than the one addressed."""
    from certpin.clients.stdlib import open_connection

    async def run() -> Any:
        _reader, writer = await open_connection(
            "localhost", review.impostor.tls_port, review.policy,
            server_hostname="unpinned.test", cadata=review.cadata,
        )
        writer.write(b"GET /secret HTTP/1.1\r\nHost: localhost\r\n\r\n")
        await writer.drain()
        writer.close()
        with contextlib.suppress(Exception):
            await writer.wait_closed()
        return "sent"

    mark = review.impostor.mark()
    outcome = attempt(run)
    assert_zero_bytes(review.impostor, mark, "open_connection server_hostname override", outcome)


# regression: requests: a plain adapter assigned into session.adapters went around
#   PinnedSession.mount (found by the adversarial review of the client helpers (review10))
def test_requests_plain_adapter_assigned_into_session_adapters_is_not_used(
    review: Review,
) -> None:
    """``session.adapters["https://"] = HTTPAdapter()`` (a public attribute) goes around the
    refusal in ``PinnedSession.mount``: the request is sent with no pin check."""
    from requests.adapters import HTTPAdapter

    from certpin.clients.requests import PinnedSession

    def run() -> Any:
        with PinnedSession(review.policy, cadata=review.cadata) as s:
            s.adapters["https://"] = HTTPAdapter()
            return s.get(f"https://localhost:{review.impostor.tls_port}/secret",
                         timeout=TIMEOUT, verify=review.bundle).status_code

    mark = review.impostor.mark()
    outcome = attempt(run)
    assert_zero_bytes(review.impostor, mark, "requests session.adapters assignment", outcome)


# regression: urllib3: a connection_from_url pool sent Host: <pinned host> over a connection checked
#   for another (found by the adversarial review of the client helpers (review10))
def test_urllib3_pool_urlopen_host_header_naming_a_pinned_host_is_refused(
    review: Review,
) -> None:
    """``pm.connection_from_url("https://unpinned.test:PORT").urlopen(..., headers={"Host":
    "localhost"})``: a request for the pinned localhost over a connection whose TLS (and pins)
    were checked for unpinned.test. The manager's urlopen refuses this Host header; the pool's
    must too."""
    from certpin.clients.urllib3 import pinned_pool_manager

    def run() -> Any:
        with pinned_pool_manager(review.policy, cadata=review.cadata, timeout=TIMEOUT,
                                 retries=False) as pm:
            pool = pm.connection_from_url(f"https://unpinned.test:{review.impostor.tls_port}")
            return pool.urlopen("GET", "/secret", headers={"Host": "localhost"}).status

    mark = review.impostor.mark()
    outcome = attempt(run)
    assert_zero_bytes(review.impostor, mark, "urllib3 pool.urlopen Host: localhost", outcome)


# regression: urllib3: a PinnedProxyManager pool forwarded a clear-text request for a pinned host
#   (found by the second adversarial review of the client helpers (review10b))
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


# regression: urllib3: a PinnedProxyManager tunnel pool sent Host: <pinned host> (found by the
#   second adversarial review of the client helpers (review10b))
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


# regression: urllib: plain http:// to an unpinned host with Host: <pinned host> (found by the
#   second adversarial review of the client helpers (review10b))
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


# regression: urllib: set_proxy(..., 'http') on http://<pinned host> replaced req.host before the
#   plain-http refusal (found by the second adversarial review of the client helpers (review10b))
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


# regression: build_opener(policy, HTTPSHandlerSubclass): a handler class escaped the instance-only
#   refusal (found by the second adversarial review of the client helpers (review10b))
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


# regression: http.client: an absolute request URL naming a pinned host over a connection checked
#   for another (found by the second adversarial review of the client helpers (review10b))
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


# regression: httpx: the 'target' request extension naming a pinned host (found by the second
#   adversarial review of the client helpers (review10b))
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


# regression: websockets: proxy_server_hostname= renamed the TLS identity of a pinned https proxy
#   (found by the second adversarial review of the client helpers (review10b))
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


# regression: aiohttp client middlewares changed Host, proxy or URL after the guard judged the
#   request (found by the second adversarial review of the client helpers (review10b))
@pytest.mark.parametrize("case", ["host", "proxy", "url"])
def test_aiohttp_middleware_cannot_change_what_the_guard_judged(review: Review, case: str) -> None:
    """aiohttp client middlewares (documented, session-wide or per request) get the request
    after the pinned request class checked it: a ``Host`` header naming localhost, a plain
    proxy at the pinned 127.0.0.1 (CONNECT and Proxy-Authorization in clear text), or a plain
    ``http://localhost`` URL all reach the impostor."""
    mark = review.impostor.mark()
    outcome = attempt(_aiohttp_middleware_case(review, case))
    assert_zero_bytes(review.impostor, mark, f"aiohttp middleware ({case})", outcome)


# ============================ third adversarial review (review10c)
# ---------------------------------------------------------- urllib3: connection_from_pool_key
def _pool_key_request(manager: Any, port: int) -> int:
    context = {"scheme": "https", "host": "localhost", "port": port}
    key = manager.key_fn_by_scheme["https"](context)
    pool = manager.connection_from_pool_key(key, request_context=context)
    return int(pool.urlopen("GET", "/secret").status)


# regression: found by the third adversarial review of the client helpers (review10c)
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


# regression: found by the third adversarial review of the client helpers (review10c)
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


# regression: found by the third adversarial review of the client helpers (review10c)
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
# regression: found by the third adversarial review of the client helpers (review10c)
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
# regression: found by the third adversarial review of the client helpers (review10c)
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


# regression: found by the third adversarial review of the client helpers (review10c)
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
# regression: found by the third adversarial review of the client helpers (review10c)
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


# ============================ fourth adversarial review (review10d)
# ------------------------------------------- urllib3: server_hostname through a pool key
def _pool_key_server_hostname(manager: Any, port: int) -> int:
    context = {"scheme": "https", "host": "localhost", "port": port,
               "server_hostname": "unpinned.test"}
    key = manager.key_fn_by_scheme["https"](context)
    pool = manager.connection_from_pool_key(key, request_context=context)
    return int(pool.urlopen("GET", "/secret").status)


# regression: found by the fourth adversarial review of the client helpers (review10d)
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


# regression: found by the fourth adversarial review of the client helpers (review10d)
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


# regression: found by the fourth adversarial review of the client helpers (review10d)
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
# regression: found by the fourth adversarial review of the client helpers (review10d)
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


# regression: found by the fourth adversarial review of the client helpers (review10d)
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
# regression: found by the fourth adversarial review of the client helpers (review10d)
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


# regression: found by the fourth adversarial review of the client helpers (review10d)
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


# regression: found by the fourth adversarial review of the client helpers (review10d)
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


# regression: found by the fourth adversarial review of the client helpers (review10d)
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


# regression: found by the fourth adversarial review of the client helpers (review10d)
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


# regression: found by the fourth adversarial review of the client helpers (review10d)
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


# ============================ fifth adversarial review (review10e)
# ------------------------------------------- websockets: proxy_server_hostname after connect()
# regression: found by the fifth adversarial review of the client helpers (review10e)
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


# ============================ sixth adversarial review (review10f)
# regression: review10f: a plain manager's public proxy/proxy_config set after creation
# regression: found by the sixth adversarial review of the client helpers (review10f)
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
# regression: found by the sixth adversarial review of the client helpers (review10f)
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
# regression: found by the sixth adversarial review of the client helpers (review10f)
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
# regression: found by the sixth adversarial review of the client helpers (review10f)
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
# regression: found by the sixth adversarial review of the client helpers (review10f)
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


# ============================ seventh adversarial review (review10g)
def _open(review: Review, req: urllib.request.Request, *handlers: Any) -> Any:
    from certpin.clients.stdlib import build_opener

    opener = build_opener(review.policy, *handlers, cadata=review.cadata)
    with opener.open(req, timeout=TIMEOUT) as resp:
        return resp.status


# regression: review10g: urllib: Request.host reassigned to a pinned host on an http:// URL of an
#   unpinned one: the guard judged full_url, http.client dialled req.host ([::1]) in clear text
# regression: found by the seventh adversarial review of the client helpers (review10g)
def test_urllib_request_host_reassigned_to_a_pinned_host_sends_nothing(review: Review) -> None:
    port = review.impostor.plain_port

    def run() -> Any:
        req = urllib.request.Request(f"http://unpinned.test:{port}/secret",
                                     headers={"Host": f"unpinned.test:{port}"})
        req.host = f"[::1]:{port}"  # documented attribute: where urllib connects
        return _open(review, req)

    mark = review.impostor.mark()
    outcome = attempt(run)
    assert_zero_bytes(review.impostor, mark, "urllib Request.host = pinned [::1]", outcome)


# regression: review10g: urllib: a request processor ordered after urllib's own (handler_order >
#   500, after the Host header was added) changed req.host to a pinned host: clear text to it
# regression: found by the seventh adversarial review of the client helpers (review10g)
def test_urllib_late_processor_changing_request_host_sends_nothing(review: Review) -> None:
    port = review.impostor.plain_port

    class Late(urllib.request.BaseHandler):
        handler_order = 900

        def http_request(self, req: urllib.request.Request) -> urllib.request.Request:
            req.host = f"[::1]:{port}"
            return req

    def run() -> Any:
        return _open(review, urllib.request.Request(f"http://unpinned.test:{port}/secret"),
                     Late())

    mark = review.impostor.mark()
    outcome = attempt(run)
    assert_zero_bytes(review.impostor, mark, "urllib processor setting req.host", outcome)


# regression: review10g: urllib: Request.type = "http" on an https:// URL of a pinned host: the
#   guard judged the https full_url, urllib's PinnedHTTPHandler opened it in clear text
# regression: found by the seventh adversarial review of the client helpers (review10g)
def test_urllib_request_type_http_on_a_pinned_https_url_sends_nothing(review: Review) -> None:
    port = review.impostor.plain_port

    def run() -> Any:
        req = urllib.request.Request(f"https://[::1]:{port}/secret")
        req.type = "http"  # documented attribute: the scheme urllib opens the request with
        return _open(review, req)

    mark = review.impostor.mark()
    outcome = attempt(run)
    assert_zero_bytes(review.impostor, mark, "urllib Request.type = http, pinned [::1]", outcome)


# regression: review10g: urllib: Request.selector set to an absolute http:// URL of a pinned host on
#   a plain request to an unpinned one: a clear-text request for the pinned host (as set_proxy)
# regression: found by the seventh adversarial review of the client helpers (review10g)
def test_urllib_selector_naming_a_pinned_host_in_clear_text_sends_nothing(
    review: Review,
) -> None:
    port = review.impostor.plain_port

    def run() -> Any:
        req = urllib.request.Request(f"http://unpinned.test:{port}/secret")
        req.selector = f"http://localhost:{port}/secret"  # documented attribute
        return _open(review, req)

    mark = review.impostor.mark()
    outcome = attempt(run)
    assert_zero_bytes(review.impostor, mark, "urllib selector http://localhost/", outcome)


# ============================ eighth adversarial review (review10h)


# regression: http.client: an absolute request URL is judged by urllib.parse.urlsplit, whose
#   authority runs to the first "/" and whose host follows the last "@": for
#   "https://localhost\@unpinned.test/" that is unpinned.test (the TLS name: allowed), while a
#   WHATWG URL parser (backslash is a slash in an https URL) reads host localhost, the pinned
#   host, path "/@unpinned.test/". http.client sends the backslash as is. Two readings of the
#   request target: it must be refused (any doubt answers "pinned"), not sent.
# regression: found by the eighth adversarial review of the client helpers (review10h)
def test_http_client_absolute_url_with_backslash_naming_a_pinned_host_is_refused(
    review: Review,
) -> None:
    from certpin.clients.stdlib import HTTPSConnection

    def run() -> Any:
        conn = HTTPSConnection("unpinned.test", review.impostor.tls_port, policy=review.policy,
                               cadata=review.cadata, timeout=TIMEOUT)
        try:
            conn.request("GET", f"https://localhost:{review.legit.tls_port}\\@unpinned.test:"
                                f"{review.impostor.tls_port}/secret",
                         headers={"Host": "unpinned.test"})
            return conn.getresponse().status
        finally:
            conn.close()

    mark = review.impostor.mark()
    outcome = attempt(run)
    assert_zero_bytes(review.impostor, mark, "http.client absolute URL localhost\\@unpinned.test",
                      outcome)


# regression: urllib: the same backslash spelling in Request.selector (a documented attribute,
#   review10g judged it with urlsplit) on a clear-text connection to unpinned.test: a WHATWG
#   reading names the pinned localhost, in clear text
# regression: found by the eighth adversarial review of the client helpers (review10h)
def test_urllib_selector_with_backslash_naming_a_pinned_host_sends_nothing(
    review: Review,
) -> None:
    from certpin.clients.stdlib import build_opener

    port = review.impostor.plain_port

    def run() -> Any:
        req = urllib.request.Request(f"http://unpinned.test:{port}/secret")
        req.selector = f"http://localhost:{port}\\@unpinned.test:{port}/secret"
        opener = build_opener(review.policy, cadata=review.cadata)
        with opener.open(req, timeout=TIMEOUT) as resp:
            return resp.status

    mark = review.impostor.mark()
    outcome = attempt(run)
    assert_zero_bytes(review.impostor, mark, "urllib selector http://localhost\\@unpinned.test/",
                      outcome)


# regression: httpx: the same backslash spelling in the 'target' request extension (review10b
#   judged it with httpx.URL, which reads unpinned.test; httpcore sends the target as is, and
#   urllib3's own parse_url reads localhost)
# regression: found by the eighth adversarial review of the client helpers (review10h)
def test_httpx_target_extension_with_backslash_naming_a_pinned_host_is_refused(
    review: Review,
) -> None:
    from certpin.clients.httpx import pinned_client

    target = (f"https://localhost:{review.legit.tls_port}\\@unpinned.test:"
              f"{review.impostor.tls_port}/secret").encode()

    def run() -> Any:
        with pinned_client(review.policy, cadata=review.cadata, timeout=TIMEOUT) as c:
            return c.get(f"https://unpinned.test:{review.impostor.tls_port}/",
                         extensions={"target": target}).status_code

    mark = review.impostor.mark()
    outcome = attempt(run)
    assert_zero_bytes(review.impostor, mark, "httpx target https://localhost\\@unpinned.test",
                      outcome)


# ============================ ninth adversarial review (review10i)
SPELLINGS = ["https:///localhost:{port}/secret", "https:localhost:{port}/secret",
             "https:/localhost:{port}/secret"]


# regression: found by the ninth adversarial review (review10i): slash-less / extra-slash
#   absolute targets pass check_target (urlsplit netloc empty), WHATWG reads localhost
# regression: found by the ninth adversarial review of the client helpers (review10i)
@pytest.mark.parametrize("spelling", SPELLINGS)
def test_http_client_absolute_url_without_netloc_naming_a_pinned_host_is_refused(
    review: Review, spelling: str,
) -> None:
    from certpin.clients.stdlib import HTTPSConnection

    def run() -> Any:
        conn = HTTPSConnection("unpinned.test", review.impostor.tls_port, policy=review.policy,
                               cadata=review.cadata, timeout=TIMEOUT)
        try:
            conn.request("GET", spelling.format(port=review.legit.tls_port),
                         headers={"Host": "unpinned.test"})
            return conn.getresponse().status
        finally:
            conn.close()

    mark = review.impostor.mark()
    outcome = attempt(run)
    assert_zero_bytes(review.impostor, mark, f"http.client target {spelling}", outcome)


# regression: found by the ninth adversarial review of the client helpers (review10i)
@pytest.mark.parametrize("spelling", SPELLINGS)
def test_urllib_selector_without_netloc_naming_a_pinned_host_sends_nothing(
    review: Review, spelling: str,
) -> None:
    from certpin.clients.stdlib import build_opener

    port = review.impostor.plain_port

    def run() -> Any:
        req = urllib.request.Request(f"http://unpinned.test:{port}/secret")
        req.selector = spelling.replace("https", "http").format(port=port)
        opener = build_opener(review.policy, cadata=review.cadata)
        with opener.open(req, timeout=TIMEOUT) as resp:
            return resp.status

    mark = review.impostor.mark()
    outcome = attempt(run)
    assert_zero_bytes(review.impostor, mark, f"urllib selector {spelling}", outcome)


# regression: found by the ninth adversarial review of the client helpers (review10i)
@pytest.mark.parametrize("spelling", SPELLINGS)
def test_httpx_target_extension_without_netloc_naming_a_pinned_host_is_refused(
    review: Review, spelling: str,
) -> None:
    from certpin.clients.httpx import pinned_client

    target = spelling.format(port=review.legit.tls_port).encode()

    def run() -> Any:
        with pinned_client(review.policy, cadata=review.cadata, timeout=TIMEOUT) as c:
            return c.get(f"https://unpinned.test:{review.impostor.tls_port}/",
                         extensions={"target": target}).status_code

    mark = review.impostor.mark()
    outcome = attempt(run)
    assert_zero_bytes(review.impostor, mark, f"httpx target {spelling}", outcome)
