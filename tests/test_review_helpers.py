"""Regression tests from the adversarial review of the client helpers (branch review10).

Each test drives a certpin client helper through its library's documented API against an
IMPOSTOR on 127.0.0.1 (support.recording.RecordingServer, or a minimal FTP impostor): its
certificate comes from a CA the client trusts and names every host used here, but its key is not
pinned. The policy pins ``localhost``, ``127.0.0.1`` and ``::1``; ``unpinned.test`` (also
127.0.0.1) is allowed. Each test asserts that the impostor received ZERO application bytes
(request line, CONNECT line, Proxy-Authorization, FTP command): the helper must refuse, or the pin
check must fail, before anything is sent.

Findings:

* a plain ``http://`` proxy whose host is pinned gets ``CONNECT`` and ``Proxy-Authorization`` in
  clear text from urllib3, requests, httpx, aiohttp and websockets (build_opener refuses it);
* ``http.client`` ``set_tunnel`` and urllib ``Request.set_proxy`` reach such a proxy too
  (set_proxy goes around build_opener's proxy handler);
* urllib follows an ``https://`` -> ``ftp://`` redirect to a pinned host and sends FTP commands
  in clear text;
* ``stdlib.open_connection`` accepts a ``server_hostname`` naming another host than ``host`` (the
  pins are checked for the override, the bytes go to the pinned host);
* requests: assigning a plain adapter into ``session.adapters`` (a public attribute) goes around
  ``PinnedSession.mount``'s refusal;
* urllib3: a pool from ``connection_from_url`` sends a ``Host`` header naming a pinned host over
  a connection checked for another host (the manager's ``urlopen`` refuses it).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import tempfile
import threading
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import trustme

import certpin
from support.clientkit import ca_pin, served
from support.recording import RecordingServer, loopback_only

PINNED = ("localhost", "127.0.0.1", "::1")
TIMEOUT = 2.0
PROXY_AUTH = "Basic cHVzZXI6cHNlY3JldA=="  # puser:psecret


@dataclass
class Review:
    impostor: RecordingServer
    legit: RecordingServer
    redirector: RecordingServer
    policy: certpin.PinPolicy
    cadata: str
    bundle: str


@pytest.fixture(scope="module")
def review(ca: trustme.CA, attacker_ca: trustme.CA) -> Iterator[Review]:
    legit = served(ca.issue_cert("localhost", "127.0.0.1", "::1"))
    impostor = served(attacker_ca.issue_cert("localhost", "127.0.0.1", "::1", "unpinned.test"))
    pins = certpin.PinSet([legit.pin, ca_pin(ca)])
    policy = certpin.PinPolicy({h: pins for h in PINNED}, unknown_hosts="allow")
    cadata = ca.cert_pem.bytes().decode() + attacker_ca.cert_pem.bytes().decode()
    with contextlib.ExitStack() as stack, tempfile.TemporaryDirectory() as tmp:
        bundle = Path(tmp, "system-roots.pem")
        bundle.write_text(cadata)
        mp = stack.enter_context(pytest.MonkeyPatch.context())
        mp.setenv("SSL_CERT_FILE", str(bundle))
        mp.setenv("SSL_CERT_DIR", tmp)
        for var in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY",
                    "all_proxy", "WS_PROXY", "ws_proxy", "WSS_PROXY", "wss_proxy", "NO_PROXY",
                    "no_proxy", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
            mp.delenv(var, raising=False)
        stack.enter_context(loopback_only({"localhost": "127.0.0.1",
                                           "unpinned.test": "127.0.0.1"}))
        imp = stack.enter_context(RecordingServer(impostor.context()))
        good = stack.enter_context(RecordingServer(legit.context()))
        redirector = stack.enter_context(RecordingServer(legit.context()))
        yield Review(imp, good, redirector, policy, cadata, str(bundle))


def attempt(fn: Callable[[], Any]) -> object:
    try:
        out = fn()
        if asyncio.iscoroutine(out):
            out = asyncio.run(out)
        return out
    except Exception as exc:  # any refusal or failure is fine: the recorder is the judge
        return exc


def assert_zero_bytes(server: RecordingServer, mark: int, what: str, outcome: object) -> None:
    leaked = [r for r in server.since(mark) if r.data]
    assert not leaked, (
        f"{what}: the impostor received application bytes: "
        + "; ".join(r.describe() for r in leaked) + f". The helper returned {outcome!r}"
    )


# ------------------------------------------------------------------ plain proxy at a pinned host
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


# ------------------------------------------------------------------ urllib: ftp:// redirect
class FtpImpostor:
    """Clear-text TCP on 127.0.0.1 that greets like an FTP server and records what it gets."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        self.data = b""
        self.lock = threading.Lock()
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.thread.start()

    def _loop(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                conn.settimeout(TIMEOUT)
                with contextlib.suppress(OSError):
                    conn.sendall(b"220 ready\r\n")
                    while chunk := conn.recv(4096):
                        with self.lock:
                            self.data += chunk
                        verb = chunk.split(b" ")[0].strip().upper()
                        conn.sendall({b"USER": b"331 password\r\n",
                                      b"PASS": b"230 in\r\n"}.get(verb, b"500 no\r\n"))

    def close(self) -> None:
        self.sock.close()


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


# ------------------------------------------------------------------ asyncio open_connection
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


# ------------------------------------------------------------------ requests: adapters dict
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


# ------------------------------------------------------------------ urllib3: pool Host header
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


# ------------------------------------------------------------------ the review's notes, closed
def _policy() -> certpin.PinPolicy:
    pins = certpin.PinSet([certpin.Pin("spki", b"\x01" * 32), certpin.Pin("spki", b"\x02" * 32)])
    return certpin.PinPolicy({"localhost": pins, "127.0.0.1": pins})


def test_urllib3_proxy_ssl_context_must_be_a_pinning_context() -> None:
    # regression (review note N1): a plain proxy_ssl_context reached a pinned https proxy
    # without its pins.
    import ssl

    from certpin.clients import PinnedRequestError
    from certpin.clients.urllib3 import pinned_proxy_manager

    with pytest.raises(PinnedRequestError, match="proxy_ssl_context"):
        pinned_proxy_manager("https://proxy.test:3128", _policy(),
                             proxy_ssl_context=ssl.create_default_context())


def test_http_client_checks_every_value_of_a_folded_host_header() -> None:
    # regression (review note N2): putheader("Host", a, b) only checked a; b went out folded.
    from certpin.clients import PinnedRequestError
    from certpin.clients.stdlib import HTTPSConnection

    conn = HTTPSConnection("unpinned.test", policy=_policy())
    conn.putrequest("GET", "/", skip_host=True)  # builds the request; connects at endheaders
    with pytest.raises(PinnedRequestError, match="Host header"):
        conn.putheader("Host", "unpinned.test", "localhost")
    assert conn.sock is None  # nothing was connected, nothing sent


def test_build_opener_refuses_a_plain_https_handler() -> None:
    # regression (review note N3): a user HTTPSHandler with a lower handler_order than
    # certpin's opened https:// URLs with its own context, without pins.
    from certpin.clients import PinnedRequestError
    from certpin.clients.stdlib import build_opener

    class Early(urllib.request.HTTPSHandler):
        handler_order = 400

    with pytest.raises(PinnedRequestError, match="Early"):
        build_opener(_policy(), Early())
