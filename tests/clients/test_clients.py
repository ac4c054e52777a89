"""The client helpers beyond the attack matrix: host binding (Host header, HTTP/2 and pooled
connections across hosts), redirects (each hop against its own pins; https->http refused), plain
http:// refused, weakening options refused, explicit and HTTPS proxies, threads and asyncio
tasks on one client. Real servers on 127.0.0.1, real clients; no mocks."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
import sys
import threading
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import trustme

import certpin
from certpin.clients import PinnedRequestError
from support.clientkit import (
    CLIENTS,
    Certs,
    ServedCert,
    expected_error,
    fetch,
    find_error,
    forged_leaf_setup,
    main_policy,
    one,
    served,
)
from support.clientservers import (
    QuickServer,
    authorities,
    multi_handler,
    redirect_handler,
    ws_handler,
)
from support.proxy import ConnectProxy
from support.servers import RecordingTLSServer, local_names

HTTP_CLIENTS = [c for c in CLIENTS if c != "websockets"]


def serve(cert: ServedCert, client: str, handler: Any = None) -> RecordingTLSServer:
    if handler is None:
        handler = ws_handler if client == "websockets" else multi_handler
    return QuickServer(cert.context(alpn=["h2", "http/1.1"]), handler)


class PlainRecorder:
    """A plain-TCP server on 127.0.0.1 recording connections and bytes (an http:// target)."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.connections = 0
        self.received = b""
        self._t = threading.Thread(target=self._loop, daemon=True)

    def _loop(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            with conn:
                conn.settimeout(5)
                with contextlib.suppress(OSError):
                    self.received += conn.recv(65536)
                    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")

    def __enter__(self) -> PlainRecorder:
        self._t.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)
        self.sock.close()
        self._t.join(timeout=5)


# ------------------------------------------------------------------ plain http, Host header
@pytest.mark.parametrize("client", CLIENTS)
def test_plain_http_to_pinned_host_refused(client: str, certs: Certs) -> None:
    with PlainRecorder() as plain, local_names("pinned.test"):
        exc = one(fetch(client, [f"http://pinned.test:{plain.port}/?token=x"],
                        main_policy(certs), certs.cadata))
    assert isinstance(find_error(exc, PinnedRequestError), PinnedRequestError), repr(exc)
    assert "refusing plain" in str(find_error(exc, PinnedRequestError))
    assert plain.connections == 0
    assert plain.received == b""


@pytest.mark.parametrize("client", HTTP_CLIENTS)
def test_plain_http_to_unpinned_host_allowed(client: str, certs: Certs) -> None:
    with PlainRecorder() as plain, local_names("unpinned.test"):
        (res,) = fetch(client, [f"http://unpinned.test:{plain.port}/"], main_policy(certs),
                       certs.cadata)
    assert res == (200, b"ok"), repr(res)
    assert plain.received.startswith(b"GET / HTTP/1.1\r\n")


@pytest.mark.parametrize("client", CLIENTS)
def test_host_header_for_another_host_refused(client: str, certs: Certs) -> None:
    headers = {"Host": "other.test"}
    kwargs = {"additional_headers": headers} if client == "websockets" else {"headers": headers}
    with serve(certs.legit, client) as server, local_names("pinned.test"):
        exc = one(fetch(client, [f"https://pinned.test:{server.port}/"], main_policy(certs),
                        certs.cadata, **kwargs))
    err = find_error(exc, PinnedRequestError)
    assert err is not None, repr(exc)
    assert "Host header 'other.test'" in str(err)
    assert server.connections == 0


@pytest.mark.parametrize("client", HTTP_CLIENTS)
def test_host_header_same_host_allowed(client: str, certs: Certs) -> None:
    with serve(certs.legit, client) as server, local_names("pinned.test"):
        (res,) = fetch(client, [f"https://pinned.test:{server.port}/"], main_policy(certs),
                       certs.cadata, headers={"Host": f"PINNED.test:{server.port}"})
    assert not isinstance(res, BaseException), repr(res)
    assert res[0] == 200


# ------------------------------------------------------------------ two hosts, one IP
def shared_policy(certs: Certs, ca_b: Any) -> certpin.PinPolicy:
    """a.test pinned to the CA that issued the shared certificate; b.test to another key."""
    return certpin.PinPolicy({
        "a.test": certpin.PinSet([certs.ca_pin, certs.legit.pin]),
        "b.test": certpin.PinSet([certs.impostor.pin, certpin.Pin("spki", b"\x02" * 32)]),
    })


@pytest.mark.parametrize("client", HTTP_CLIENTS)
def test_shared_certificate_two_hosts_never_share_a_connection(client: str, certs: Certs) -> None:
    """Two hosts on one IP and port, one SAN certificate, different pin sets. The connection
    pinned for a.test (HTTP/2 for httpx-http2) is never used for b.test: b.test gets its own
    handshake, its pins fail, and the server sees no request for b.test."""
    with serve(certs.shared, client) as server, local_names("a.test", "b.test"):
        a, b, a2 = (f"https://{h}.test:{server.port}/" for h in ("a", "b", "a"))
        results = fetch(client, [a, b, a2], shared_policy(certs, None), certs.cadata)
        received_after = server.received
    ra, rb, ra2 = results
    assert not isinstance(ra, BaseException), repr(ra)
    assert not isinstance(ra2, BaseException), repr(ra2)
    assert isinstance(rb, expected_error(client)), repr(rb)
    err = find_error(rb, certpin.PinMismatchError)
    assert isinstance(err, certpin.PinMismatchError) and err.hostname == "b.test"
    assert b"b.test" not in received_after  # no request head / :authority for b.test
    if client == "httpx-http2":
        assert authorities(server) == [f"a.test:{server.port}"] * 2
        assert ra[1].endswith(f"for a.test:{server.port}".encode())
    assert server.connections >= 2  # b.test got its own connection (and failed its pins)


def test_http2_is_really_used(certs: Certs) -> None:
    from certpin.clients.httpx import pinned_client

    with serve(certs.legit, "httpx") as server, local_names("pinned.test"), \
            pinned_client(main_policy(certs), cadata=certs.cadata, http2=True) as c:
        r1 = c.get(f"https://pinned.test:{server.port}/")
        r2 = c.get(f"https://pinned.test:{server.port}/x")
    assert (r1.http_version, r2.http_version) == ("HTTP/2", "HTTP/2")
    assert server.connections == 1
    assert authorities(server) == [f"pinned.test:{server.port}"] * 2


# ------------------------------------------------------------------ redirects
@pytest.mark.parametrize("client", CLIENTS)
def test_redirect_hop_checked_against_its_own_pins(client: str, certs: Certs) -> None:
    """pinned.test (legitimate) redirects to www.pinned.test, served by an impostor: the hop's
    connection is checked against www.pinned.test's pins and refused; zero bytes to it."""
    with serve(certs.impostor, client) as attacker, \
            serve(certs.legit, client, redirect_handler) as redirector, \
            local_names("pinned.test", "www.pinned.test"):
        scheme = "wss" if client == "websockets" else "https"
        redirector.location = f"{scheme}://www.pinned.test:{attacker.port}/next"  # type: ignore[attr-defined]
        exc = one(fetch(client, [f"https://pinned.test:{redirector.port}/start"],
                        main_policy(certs), certs.cadata))
    err = find_error(exc, certpin.PinMismatchError)
    assert isinstance(err, certpin.PinMismatchError), repr(exc)
    assert err.hostname == "www.pinned.test"
    assert redirector.received  # the first hop really was requested (HTTP/1.1 or HTTP/2)
    assert attacker.connections >= 1
    assert attacker.received == b""


@pytest.mark.parametrize("client", CLIENTS)
def test_https_to_http_redirect_to_pinned_host_refused(client: str, certs: Certs) -> None:
    with PlainRecorder() as plain, serve(certs.legit, client, redirect_handler) as redirector, \
            local_names("pinned.test", "www.pinned.test"):
        scheme = "ws" if client == "websockets" else "http"
        redirector.location = f"{scheme}://www.pinned.test:{plain.port}/next"  # type: ignore[attr-defined]
        exc = one(fetch(client, [f"https://pinned.test:{redirector.port}/start"],
                        main_policy(certs), certs.cadata))
    if client == "websockets":
        from websockets.exceptions import SecurityError

        assert isinstance(exc, SecurityError), repr(exc)  # websockets refuses wss -> ws itself
    else:
        assert isinstance(find_error(exc, PinnedRequestError), PinnedRequestError), repr(exc)
    assert plain.connections == 0
    assert plain.received == b""


# ------------------------------------------------------------------ weakening refused
def test_requests_verify_false_and_cert_refused(certs: Certs,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    from certpin.clients.requests import PinnedSession

    # requests lets REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE override session.verify=False (then it
    # verifies, and pins are checked anyway); remove them to test the verify=False path itself.
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)

    with serve(certs.impostor, "requests") as server, local_names("pinned.test"), \
            PinnedSession(main_policy(certs), cadata=certs.cadata) as s:
        url = f"https://pinned.test:{server.port}/"
        with pytest.raises(PinnedRequestError, match="verify=False"):
            s.get(url, verify=False)
        with pytest.raises(PinnedRequestError, match="cert="):
            s.get(url, cert=("/nonexistent.pem", "/nonexistent.key"))
        s.verify = False
        with pytest.raises(PinnedRequestError, match="verify=False"):
            s.get(url)
    assert server.connections == 0


def test_requests_mounted_adapter_and_ca_bundle_env(certs: Certs, tmp_path: Any,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """The adapter mounted on a plain Session; REQUESTS_CA_BUNDLE naming the attacker's CA is
    ignored (the trust store is the context's) and the impostor is still refused."""
    import requests

    from certpin.clients.requests import PinnedAdapter

    bundle = tmp_path / "bundle.pem"
    bundle.write_text(certs.cadata)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(bundle))
    s = requests.Session()
    adapter = PinnedAdapter(main_policy(certs), cadata=certs.cadata)
    s.mount("https://", adapter)
    s.mount("http://", adapter)
    with serve(certs.impostor, "requests") as bad, serve(certs.legit, "requests") as good, \
            local_names("pinned.test"), s:
        assert s.get(f"https://pinned.test:{good.port}/", timeout=10).status_code == 200
        with pytest.raises(requests.exceptions.SSLError) as info:
            s.get(f"https://pinned.test:{bad.port}/", timeout=10)
    assert find_error(info.value, certpin.PinMismatchError) is not None
    assert bad.received == b""


@pytest.mark.parametrize("kwargs", [
    {"cert_reqs": "CERT_NONE"}, {"assert_hostname": False}, {"assert_hostname": "pinned.test"},
    {"assert_fingerprint": "AA" * 32}, {"ca_certs": "/etc/ssl/certs/ca-certificates.crt"},
    {"cert_file": "/x.pem"}, {"ssl_context": ssl.create_default_context()},
], ids=lambda k: next(iter(k)))
def test_urllib3_weakening_refused(kwargs: dict[str, Any], certs: Certs) -> None:
    from certpin.clients.urllib3 import pinned_pool_manager

    with pytest.raises(PinnedRequestError):
        pinned_pool_manager(main_policy(certs), cadata=certs.cadata, **kwargs)
    pm = pinned_pool_manager(main_policy(certs), cadata=certs.cadata)
    with serve(certs.impostor, "urllib3") as server, local_names("pinned.test"), \
            pytest.raises(PinnedRequestError):
        pm.connection_from_host("pinned.test", server.port, "https", pool_kwargs=kwargs)
    assert server.connections == 0


@pytest.mark.parametrize("kwargs", [
    {"cert_reqs": "CERT_NONE"}, {"assert_hostname": False}, {"assert_fingerprint": "AA" * 32},
], ids=lambda k: next(iter(k)))
def test_plain_urllib3_with_pinning_context_cannot_weaken_it(
    kwargs: dict[str, Any], certs: Certs, ca: trustme.CA
) -> None:
    """Without the helper: urllib3 handed the pinning context plus an option that weakens it,
    against a forged leaf naming the pinned intermediate (real intermediate appended), surfaces
    certpin.PolicyError (the context refuses to be weakened), never a silent unpinned
    connection; the forger receives zero bytes. Control: the same context passes the
    legitimate leaf under that intermediate."""
    import urllib3

    legit, forged, inter_pin = forged_leaf_setup(ca)
    policy = certpin.PinPolicy({"pinned.test": certpin.PinSet([inter_pin, legit.pin])})
    ctx = certpin.create_ssl_context(policy, cadata=certs.cadata)
    with QuickServer(forged.context(), multi_handler) as server, \
            QuickServer(legit.context(), multi_handler) as good, local_names("pinned.test"):
        with urllib3.PoolManager(ssl_context=ctx, retries=False) as plain:
            r = plain.request("GET", f"https://pinned.test:{good.port}/", timeout=10)
            assert r.status == 200
        with urllib3.PoolManager(ssl_context=ctx, retries=False, **kwargs) as pm, \
                pytest.raises(Exception) as info:
            pm.request("GET", f"https://pinned.test:{server.port}/", timeout=10)
    assert find_error(info.value, certpin.PolicyError) is not None, repr(info.value)
    assert server.received == b""
    assert ctx.verify_mode == ssl.CERT_REQUIRED and ctx.check_hostname


def test_httpx_weakening_refused(certs: Certs) -> None:
    import httpx

    from certpin.clients.httpx import pinned_async_client, pinned_client

    for key, value in [("verify", False), ("cert", "/x.pem"),
                       ("transport", httpx.HTTPTransport()), ("mounts", {})]:
        with pytest.raises(PinnedRequestError, match=key):
            pinned_client(main_policy(certs), **{key: value})
        with pytest.raises(PinnedRequestError, match=key):
            pinned_async_client(main_policy(certs), **{key: value})
    c = pinned_client(main_policy(certs), cadata=certs.cadata)
    c.event_hooks = {"request": []}  # replacing the hooks keeps the guard
    with pytest.raises(PinnedRequestError):
        c.get("http://pinned.test/")
    c.close()


@pytest.mark.parametrize("ssl_arg", [False, "ctx", "fingerprint"])
def test_aiohttp_per_request_ssl_refused(ssl_arg: Any, certs: Certs) -> None:
    import aiohttp

    from certpin.clients.aiohttp import pinned_session

    value: Any = {False: False, "ctx": ssl.create_default_context(),
                  "fingerprint": aiohttp.Fingerprint(b"\0" * 32)}[ssl_arg]

    async def go(port: int) -> None:
        async with pinned_session(main_policy(certs), cadata=certs.cadata) as s:
            with pytest.raises(PinnedRequestError, match="ssl="):
                await s.get(f"https://pinned.test:{port}/", ssl=value)
            with pytest.raises(PinnedRequestError, match="TLS name override"):
                await s.get(f"https://pinned.test:{port}/", server_hostname="other.test")

    with serve(certs.impostor, "aiohttp") as server, local_names("pinned.test"):
        asyncio.run(go(server.port))
    assert server.connections == 0


def test_websockets_ssl_and_server_hostname_refused(certs: Certs) -> None:
    from certpin.clients.websockets import connect

    with pytest.raises(PinnedRequestError, match="ssl="):
        connect("wss://pinned.test/", main_policy(certs), ssl=ssl.create_default_context())
    with pytest.raises(PinnedRequestError, match="TLS name override"):
        connect("wss://pinned.test/", main_policy(certs), server_hostname="other.test")
    with pytest.raises(PinnedRequestError, match="refusing plain ws://"):
        connect("ws://pinned.test/", main_policy(certs))


def test_plain_context_refused_by_helpers(certs: Certs) -> None:
    from certpin.clients.requests import PinnedSession
    from certpin.clients.urllib3 import pinned_pool_manager

    with pytest.raises(PinnedRequestError, match="not a certpin pinning context"):
        PinnedSession(ssl.create_default_context())
    ctx = certpin.create_ssl_context(main_policy(certs), cadata=certs.cadata)
    with pytest.raises(PinnedRequestError, match="apply only when a policy"):
        pinned_pool_manager(ctx, cadata=certs.cadata)
    assert pinned_pool_manager(ctx).certpin_context is ctx


# ------------------------------------------------------------------ proxies
@pytest.fixture(scope="module")
def proxy_cert(ca: trustme.CA) -> trustme.LeafCert:
    return ca.issue_cert("127.0.0.1", "proxy.test")


@contextlib.contextmanager
def proxy_for(kind: str, proxy_cert: trustme.LeafCert) -> Iterator[ConnectProxy]:
    tls = None
    if kind == "https-proxy":
        tls = served(proxy_cert).context()
    with ConnectProxy(tls=tls) as proxy:
        yield proxy


def fetch_via(client: str, proxy: str, url: str, certs: Certs) -> Any:
    """One GET through an EXPLICIT proxy (the client's own proxy argument)."""
    policy, cadata = main_policy(certs), certs.cadata
    if client == "requests":
        from certpin.clients.requests import PinnedSession

        with PinnedSession(policy, cadata=cadata) as s:
            r = s.get(url, proxies={"https": proxy}, timeout=10)
            return r.status_code, r.content
    if client == "urllib3":
        from certpin.clients.urllib3 import pinned_proxy_manager

        with pinned_proxy_manager(proxy, policy, cadata=cadata, retries=1) as pm:
            r3 = pm.request("GET", url, timeout=10)
            return r3.status, r3.data
    if client in ("httpx", "httpx-http2"):
        from certpin.clients.httpx import pinned_client

        with pinned_client(policy, cadata=cadata, proxy=proxy, trust_env=False,
                           http2=client == "httpx-http2") as c:
            rx = c.get(url)
            return rx.status_code, rx.content
    if client == "httpx-async":
        from certpin.clients.httpx import pinned_async_client

        async def hx() -> Any:
            async with pinned_async_client(policy, cadata=cadata, proxy=proxy) as c:
                r = await c.get(url)
                return r.status_code, r.content
        return asyncio.run(hx())
    if client == "aiohttp":
        from certpin.clients.aiohttp import pinned_session

        async def ai() -> Any:
            async with pinned_session(policy, cadata=cadata) as s, s.get(url, proxy=proxy) as r:
                return r.status, await r.read()
        return asyncio.run(ai())
    from certpin.clients.websockets import connect

    async def ws() -> Any:
        uri = url.replace("https://", "wss://")
        async with connect(uri, policy, cadata=cadata, proxy=proxy) as w:
            await w.send("hi")
            return 101, (await w.recv()).encode()  # type: ignore[union-attr]
    return asyncio.run(ws())


@pytest.mark.parametrize("kind", ["http-proxy", "https-proxy"])
@pytest.mark.parametrize("client", CLIENTS)
def test_explicit_proxy(client: str, kind: str, certs: Certs, proxy_cert: trustme.LeafCert
                        ) -> None:
    """Through an explicit HTTP or HTTPS proxy: the legitimate origin passes, an impostor origin
    is refused on ITS chain (the proxy's own certificate is not what is pinned)."""
    with proxy_for(kind, proxy_cert) as proxy, serve(certs.legit, client) as good, \
            serve(certs.impostor, client) as bad, local_names("pinned.test"):
        ok = fetch_via(client, proxy.url, f"https://pinned.test:{good.port}/", certs)
        with pytest.raises(Exception) as info:  # its type is asserted below
            fetch_via(client, proxy.url, f"https://pinned.test:{bad.port}/", certs)
    assert ok[0] in (200, 101), ok
    assert good.received
    err = find_error(info.value, certpin.PinMismatchError)
    if kind == "https-proxy" and client in ("aiohttp", "websockets") \
            and sys.version_info < (3, 12):
        # TLS in TLS over asyncio on 3.11: when the inner handshake fails (our pin check raises),
        # asyncio's sslproto hits "SSLProtocol._abort() takes 1 positional argument" and that
        # TypeError replaces the pin error. Still refused, still nothing sent.
        assert "_abort()" in repr(info.value) or isinstance(err, certpin.PinMismatchError)
    else:
        assert isinstance(info.value, expected_error(client)), repr(info.value)
        assert isinstance(err, certpin.PinMismatchError), repr(info.value)
    assert bad.received == b""
    assert f"pinned.test:{good.port}" in proxy.targets
    assert f"pinned.test:{bad.port}" in proxy.targets


# ------------------------------------------------------------------ concurrency
@pytest.mark.parametrize("client", ["requests", "urllib3", "httpx"])
def test_many_threads_one_client(client: str, certs: Certs) -> None:
    from certpin.clients.httpx import pinned_client
    from certpin.clients.requests import PinnedSession
    from certpin.clients.urllib3 import pinned_pool_manager

    policy = main_policy(certs)
    obj: Any = {"requests": lambda: PinnedSession(policy, cadata=certs.cadata),
                "urllib3": lambda: pinned_pool_manager(policy, cadata=certs.cadata, maxsize=8),
                "httpx": lambda: pinned_client(policy, cadata=certs.cadata)}[client]()
    with serve(certs.legit, client) as server, local_names("pinned.test"):
        url = f"https://pinned.test:{server.port}/"

        def get(_: int) -> int:
            if client == "urllib3":
                return int(obj.request("GET", url, timeout=10).status)
            return int(obj.get(url, timeout=10).status_code)

        with ThreadPoolExecutor(8) as pool:
            statuses = list(pool.map(get, range(40)))
        obj.close() if client != "urllib3" else obj.clear()
    assert statuses == [200] * 40
    assert 1 <= server.handshakes <= 40


@pytest.mark.parametrize("client", ["httpx-async", "aiohttp", "websockets"])
def test_many_asyncio_tasks_one_client(client: str, certs: Certs) -> None:
    policy = main_policy(certs)

    async def run(port: int) -> list[Any]:
        url = f"https://pinned.test:{port}/"
        if client == "httpx-async":
            from certpin.clients.httpx import pinned_async_client

            async with pinned_async_client(policy, cadata=certs.cadata) as c:
                rs = await asyncio.gather(*(c.get(url) for _ in range(30)))
                return [r.status_code for r in rs]
        if client == "aiohttp":
            from certpin.clients.aiohttp import pinned_session

            async with pinned_session(policy, cadata=certs.cadata) as s:
                async def one_get() -> int:
                    async with s.get(url) as r:
                        await r.read()
                        return r.status
                return list(await asyncio.gather(*(one_get() for _ in range(30))))
        from certpin.clients.websockets import connect

        ctx = certpin.create_ssl_context(policy, cadata=certs.cadata)

        async def one_ws(i: int) -> str:
            async with connect(url.replace("https", "wss"), ctx) as ws:
                await ws.send(str(i))
                return str(await ws.recv())
        return list(await asyncio.gather(*(one_ws(i) for i in range(10))))

    with serve(certs.legit, client) as server, local_names("pinned.test"):
        out = asyncio.run(run(server.port))
    if client == "websockets":
        assert sorted(out) == sorted(f"echo: {i}" for i in range(10))
    else:
        assert out == [200] * 30


# ------------------------------------------------------------------ mTLS
@pytest.mark.parametrize("client", ["requests", "httpx", "aiohttp"])
def test_client_certificate_via_base_context(client: str, certs: Certs, ca: trustme.CA) -> None:
    """mTLS keeps working: the client certificate lives in the base= context (TLS 1.3 only, so
    it is encrypted), the server requires and verifies it, and pins are still checked."""
    server_ctx = certs.legit.context()
    server_ctx.verify_mode = ssl.CERT_REQUIRED
    server_ctx.load_verify_locations(cadata=ca.cert_pem.bytes().decode())
    client_leaf = ca.issue_cert("client.test")

    def base() -> ssl.SSLContext:
        ctx = ssl.create_default_context(cadata=certs.cadata)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_3
        client_leaf.configure_cert(ctx)
        return ctx

    policy = main_policy(certs)
    with QuickServer(server_ctx, multi_handler) as server, local_names("pinned.test"):
        url = f"https://pinned.test:{server.port}/"
        if client == "requests":
            from certpin.clients.requests import PinnedSession

            with PinnedSession(policy, base=base()) as s:
                status = s.get(url, timeout=10).status_code
        elif client == "httpx":
            from certpin.clients.httpx import pinned_client

            with pinned_client(policy, base=base()) as c:
                status = c.get(url).status_code
        else:
            from certpin.clients.aiohttp import pinned_session

            async def go() -> int:
                async with pinned_session(policy, base=base()) as s, s.get(url) as r:
                    await r.read()
                    return r.status
            status = asyncio.run(go())
    assert status == 200
    assert server.received


def test_core_imports_no_client_library() -> None:
    """`import certpin` and `certpin.clients` load no HTTP client (they are optional extras)."""
    import subprocess

    code = ("import sys, certpin, certpin.clients; "
            "print(sorted(m for m in ('requests', 'urllib3', 'httpx', 'httpcore', 'aiohttp', "
            "'websockets', 'h2') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=60)
    assert out.stdout.strip() == "[]"
    assert certpin.PinnedRequestError is PinnedRequestError


# ------------------------------------------------------------ regressions
# Moved here from the files that grouped them by who found them (red team, reviews).


def _policy() -> certpin.PinPolicy:
    pins = certpin.PinSet([certpin.Pin("spki", b"\x01" * 32), certpin.Pin("spki", b"\x02" * 32)])
    return certpin.PinPolicy({"localhost": pins, "127.0.0.1": pins})


# regression: a plain proxy_ssl_context reached a pinned https proxy without its pins (review10,
#   note N1)
def test_urllib3_proxy_ssl_context_must_be_a_pinning_context() -> None:
    # regression (review note N1): a plain proxy_ssl_context reached a pinned https proxy
    # without its pins.
    import ssl

    from certpin.clients import PinnedRequestError
    from certpin.clients.urllib3 import pinned_proxy_manager

    with pytest.raises(PinnedRequestError, match="proxy_ssl_context"):
        pinned_proxy_manager("https://proxy.test:3128", _policy(),
                             proxy_ssl_context=ssl.create_default_context())


# regression: http.client putheader('Host', a, b) checked only a; b went out folded (review10, note
#   N2)
def test_http_client_checks_every_value_of_a_folded_host_header() -> None:
    # regression (review note N2): putheader("Host", a, b) only checked a; b went out folded.
    from certpin.clients import PinnedRequestError
    from certpin.clients.stdlib import HTTPSConnection

    conn = HTTPSConnection("unpinned.test", policy=_policy())
    conn.putrequest("GET", "/", skip_host=True)  # builds the request; connects at endheaders
    with pytest.raises(PinnedRequestError, match="Host header"):
        conn.putheader("Host", "unpinned.test", "localhost")
    assert conn.sock is None  # nothing was connected, nothing sent


# regression: a user HTTPSHandler ordered before certpin's opened https:// URLs without pins
#   (review10, note N3)
def test_build_opener_refuses_a_plain_https_handler() -> None:
    # regression (review note N3): a user HTTPSHandler with a lower handler_order than
    # certpin's opened https:// URLs with its own context, without pins.
    from certpin.clients import PinnedRequestError
    from certpin.clients.stdlib import build_opener

    class Early(urllib.request.HTTPSHandler):
        handler_order = 400

    with pytest.raises(PinnedRequestError, match="Early"):
        build_opener(_policy(), Early())
