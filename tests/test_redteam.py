"""Red-team regressions: ways a real client could reach an impostor with the policy in force.

Each attack runs against real TLS servers on 127.0.0.1 whose certificates come from a CA the
client trusts (``attacker_ca``), and asserts that the impostor received zero application bytes.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import trustme

from certpin import PinMismatchError, PinValidationError
from certpin.clients import PinnedRequestError
from support.enforce import (
    HOST,
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
from support.servers import local_names

__all__ = [  # fixtures imported for pytest
    "impostor",
    "impostor_leaf",
    "intermediate",
    "legit_leaf",
    "legit_server",
    "pinned_ctx",
    "policy",
    "trust_pem",
]

UNPINNED = "evil.test"


@pytest.fixture()
def unpinned_impostor(attacker_ca: trustme.CA) -> Iterator[RecordingTLSServer]:
    """An impostor whose valid certificate (trusted CA) names only an unpinned host."""
    with RecordingTLSServer(leaf_context(attacker_ca.issue_cert(UNPINNED))) as srv:
        yield srv


# --------------------------------------------------------------------------- httpx sni_hostname


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


# --------------------------------------------------------------------------- requests mount


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


# --------------------------------------------------------------------------- websockets redirects


class PlainRedirector:
    """A plain-TCP HTTP server on 127.0.0.1 that answers every request head with a redirect to
    ``location`` (a MITM on a plain ``ws://`` connection can inject that) and records what it
    received."""

    def __init__(self, location: str = "") -> None:
        self.location = location
        self._sock = socket.create_server(("127.0.0.1", 0))
        self.port = self._sock.getsockname()[1]
        self._received = bytearray()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    @property
    def received(self) -> bytes:
        with self._lock:
            return bytes(self._received)

    def _loop(self) -> None:
        while True:
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            with conn:
                conn.settimeout(5)
                buf = b""
                with contextlib.suppress(OSError):
                    while b"\r\n\r\n" not in buf:
                        data = conn.recv(65536)
                        if not data:
                            break
                        buf += data
                with self._lock:
                    self._received += buf
                with contextlib.suppress(OSError):
                    conn.sendall(
                        b"HTTP/1.1 302 Found\r\nLocation: " + self.location.encode()
                        + b"\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                    )

    def __enter__(self) -> PlainRedirector:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        with contextlib.suppress(OSError):
            self._sock.shutdown(socket.SHUT_RDWR)
        self._sock.close()
        self._thread.join(timeout=5)


def _ws_connect(uri: str, ctx: ssl.SSLContext, **kwargs: Any) -> None:
    from certpin.clients.websockets import connect

    async def go() -> None:
        async with connect(uri, ctx, open_timeout=5, **kwargs):
            pass

    asyncio.run(go())


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


# --------------------------------------------------------------------------- core socket paths


@pytest.mark.parametrize("path", ["makefile", "sendfile"])
def test_file_style_writes_before_the_handshake_are_held_to_the_pins(
    pinned_ctx: ssl.SSLContext, impostor: RecordingTLSServer, tmp_path: Path, path: str
) -> None:
    """``makefile('wb')`` and ``sendfile`` on a socket made with do_handshake_on_connect=False:
    both reach OpenSSL only through ``send`` (a future kTLS ``sendfile`` that skipped it would
    make OpenSSL handshake implicitly and send without a pin check)."""
    payload = tmp_path / "body"
    payload.write_bytes(b"GET /secret?token=hunter2 HTTP/1.1\r\nHost: pinned.test\r\n\r\n")
    raw = socket.create_connection(("127.0.0.1", impostor.port))
    tls = pinned_ctx.wrap_socket(raw, server_hostname=HOST, do_handshake_on_connect=False)
    with pytest.raises(PinMismatchError):
        if path == "makefile":
            tls.makefile("wb", buffering=0).write(payload.read_bytes())
        else:
            with payload.open("rb") as f:
                tls.sendfile(f)
    tls.close()
    impostor.settle()
    assert impostor.received == b""


def test_anonymous_cipher_suite_without_certificate_fails_closed(
    pinned_ctx: ssl.SSLContext,
) -> None:
    """With an anonymous (aNULL) TLS 1.2 suite the server sends no certificate and OpenSSL
    completes the handshake under CERT_REQUIRED and check_hostname without verifying anything.
    A client that enables such suites (``set_ciphers``) must still never send a byte: the
    verified chain is empty, which certpin treats as a failure, pinned host or not."""
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    try:
        server_ctx.set_ciphers("aNULL:@SECLEVEL=0")
    except ssl.SSLError:  # pragma: no cover - an OpenSSL built without anonymous suites
        pytest.skip("this OpenSSL has no anonymous cipher suites")
    pinned_ctx.set_ciphers("aNULL:@SECLEVEL=0")
    pinned_ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    for name in (HOST, UNPINNED):
        with RecordingTLSServer(server_ctx) as anon:
            raw = socket.create_connection(("127.0.0.1", anon.port))
            with pytest.raises(PinValidationError, match="no verified certificate chain"):
                pinned_ctx.wrap_socket(raw, server_hostname=name)
            anon.settle()
            assert anon.handshakes == 1  # OpenSSL really accepted the certificate-less handshake
            assert anon.received == b""


# --------------------------------------------------------------------------- context mutations


@pytest.mark.parametrize("version", [ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3])
def test_every_legitimate_context_mutation_keeps_the_pins(
    pinned_ctx: ssl.SSLContext,
    attacker_ca: trustme.CA,
    impostor: RecordingTLSServer,
    legit_server: RecordingTLSServer,
    version: ssl.TLSVersion,
) -> None:
    """What client libraries and users do to a context after creation (more trust, looser
    verification flags, CN matching, ALPN, post-handshake auth, version bounds, ciphers) may
    change what OpenSSL accepts, never whether pins are checked; and it cannot be copied into
    a plain, pin-less context."""
    import copy
    import pickle

    ctx = pinned_ctx
    ctx.load_default_certs()
    ctx.load_verify_locations(cadata=attacker_ca.cert_pem.bytes().decode())
    ctx.verify_flags |= ssl.VERIFY_X509_PARTIAL_CHAIN | ssl.VERIFY_ALLOW_PROXY_CERTS
    ctx.verify_flags &= ~ssl.VERIFY_X509_STRICT
    ctx.hostname_checks_common_name = True
    ctx.set_alpn_protocols(["h2", "http/1.1"])
    ctx.post_handshake_auth = True
    ctx.minimum_version = ctx.maximum_version = version
    ctx.set_ciphers("ALL:@SECLEVEL=0")
    for clone in (copy.copy, copy.deepcopy, pickle.dumps):
        with pytest.raises(TypeError):
            clone(ctx)
    request = b"GET /secret?token=hunter2 HTTP/1.1\r\nHost: pinned.test\r\n\r\n"
    with pytest.raises(PinMismatchError):
        ctx.wrap_socket(socket.create_connection(("127.0.0.1", impostor.port)),
                        server_hostname=HOST).sendall(request)
    impostor.settle()
    assert impostor.received == b""
    with ctx.wrap_socket(socket.create_connection(("127.0.0.1", legit_server.port)),
                         server_hostname=HOST) as tls:
        assert tls.version() == {ssl.TLSVersion.TLSv1_2: "TLSv1.2"}.get(version, "TLSv1.3")
        tls.sendall(request)
        assert tls.recv(1024).startswith(b"HTTP/1.1 200")


# ------------------------------------------------------------------ URL parser differential


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


# --------------------------------------------------------------------------- verdict cache races


def test_interleaved_threads_with_a_thrashing_verdict_cache(
    pinned_ctx: ssl.SSLContext,
    legit_server: RecordingTLSServer,
    impostor: RecordingTLSServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Threads on one context interleave the legitimate server, the impostor (same host name)
    and an unpinned name while the verdict cache is cleared at almost every insert: a pass
    cached for one (host, chain) is never served for another, whatever the interleaving."""
    import concurrent.futures

    import certpin.tls

    monkeypatch.setattr(certpin.tls, "VERDICT_CACHE_SIZE", 1)
    request = b"GET /secret?token=hunter2 HTTP/1.1\r\nHost: pinned.test\r\n\r\n"

    def one(i: int) -> str:
        port = impostor.port if i % 2 else legit_server.port
        name = (HOST, "localhost")[i % 3 == 0 and i % 2 == 0]
        raw = socket.create_connection(("127.0.0.1", port))
        try:
            with pinned_ctx.wrap_socket(raw, server_hostname=name) as tls:
                tls.sendall(request)
                tls.recv(1024)
        except PinMismatchError:
            return "refused"
        return "passed"

    with concurrent.futures.ThreadPoolExecutor(max_workers=12) as pool:
        results = list(pool.map(one, range(240)))
    assert results[1::2] == ["refused"] * 120
    assert results[0::2] == ["passed"] * 120
    impostor.settle()
    assert impostor.received == b""


def test_pin_lookup_uses_the_name_openssl_verified_not_the_python_attribute(
    impostor: RecordingTLSServer, pinned_ctx: ssl.SSLContext
) -> None:
    """Reassigning SSLSocket.server_hostname cannot move the pin lookup to an unpinned name."""
    raw = socket.create_connection(("127.0.0.1", impostor.port))
    conn = pinned_ctx.wrap_socket(raw, server_hostname=HOST, do_handshake_on_connect=False)
    try:
        conn.server_hostname = UNPINNED  # a plain Python attribute; OpenSSL keeps HOST
        with pytest.raises(PinMismatchError) as info:
            conn.do_handshake()
        assert info.value.hostname == HOST
        with pytest.raises((ssl.SSLError, OSError)):
            conn.sendall(b"GET / HTTP/1.1\r\nHost: pinned.test\r\n\r\n")
    finally:
        conn.close()
    assert impostor.settle().received == b""
