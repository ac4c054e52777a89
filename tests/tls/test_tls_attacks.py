"""Attack matrix for the standard library clients and asyncio, on real servers on 127.0.0.1.

Every attacker is a real TLS server recording every application byte it receives; each test
asserts the outcome, the exception the client surfaces (our error in its cause chain) and that
the attacker received zero bytes. The legitimate server keeps working on the same context.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import http.client
import socket
import ssl
import urllib.error
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import trustme

from certpin import PinMismatchError, PinValidationError, PolicyError
from certpin.clients import stdlib
from certpin.context import create_ssl_context
from certpin.policy import PinPolicy, PinSet
from certpin.tls import verified_chain
from certpin.verify import Outcome, check
from support.enforce import (
    HOST,
    UNPINNED,
    RecordingTLSServer,
    TunnelProxy,
    appending_impostor_context,
    expired_leaf,
    forged_leaf_context,
    impostor,
    impostor_leaf,
    intermediate,
    leaf_context,
    legit_leaf,
    legit_server,
    pem_pin,
    pinned_ctx,
    policy,
    self_signed,
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

REQUEST = b"GET /secret?token=hunter2 HTTP/1.1\r\nHost: pinned.test\r\nCookie: s=1\r\n\r\n"
BODY = b"hello from the pinned server"

Client = Callable[[ssl.SSLContext, int], bytes]


# ----------------------------------------------------------------------------- the clients


def _read_response(read: Callable[[], bytes]) -> bytes:
    data = b""
    while not data.endswith(BODY):
        chunk = read()
        if not chunk:
            break
        data += chunk
    return data


def socket_client(ctx: ssl.SSLContext, port: int) -> bytes:
    """wrap_socket with the handshake on connect, then sendall."""
    raw = socket.create_connection(("127.0.0.1", port), timeout=10)
    with ctx.wrap_socket(raw, server_hostname=HOST) as tls:
        tls.sendall(REQUEST)
        return _read_response(lambda: tls.recv(65536))


def lazy_socket_client(ctx: ssl.SSLContext, port: int) -> bytes:
    """do_handshake_on_connect=False and no do_handshake(): OpenSSL would handshake in write."""
    raw = socket.create_connection(("127.0.0.1", port), timeout=10)
    with ctx.wrap_socket(raw, server_hostname=HOST, do_handshake_on_connect=False) as tls:
        tls.sendall(REQUEST)
        return _read_response(lambda: tls.recv(65536))


def lazy_write_client(ctx: ssl.SSLContext, port: int) -> bytes:
    """Same, through the lower-level SSLSocket.write()."""
    raw = socket.create_connection(("127.0.0.1", port), timeout=10)
    with ctx.wrap_socket(raw, server_hostname=HOST, do_handshake_on_connect=False) as tls:
        tls.write(REQUEST)
        return _read_response(lambda: tls.read(65536))


def nonblocking_socket_client(ctx: ssl.SSLContext, port: int) -> bytes:
    """A non-blocking socket driven by select(), as event-loop clients do."""
    import select

    raw = socket.create_connection(("127.0.0.1", port), timeout=10)
    raw.setblocking(False)
    with ctx.wrap_socket(raw, server_hostname=HOST, do_handshake_on_connect=False) as tls:
        def drive(step: Callable[[], object]) -> object:
            while True:
                try:
                    return step()
                except ssl.SSLWantReadError:
                    select.select([tls], [], [], 10)
                except ssl.SSLWantWriteError:
                    select.select([], [tls], [], 10)

        sent = 0
        while sent < len(REQUEST):  # send() before any do_handshake()
            rest = REQUEST[sent:]
            sent += int(drive(lambda rest=rest: tls.send(rest)))  # type: ignore[misc, call-overload]
        return _read_response(lambda: bytes(drive(lambda: tls.recv(65536))))  # type: ignore[call-overload]


def http_client(ctx: ssl.SSLContext, port: int) -> bytes:
    with local_names(HOST):
        conn = stdlib.HTTPSConnection(HOST, port, policy=ctx, timeout=10)
        try:
            conn.request("GET", "/secret?token=hunter2", headers={"Cookie": "s=1"})
            return conn.getresponse().read()
        finally:
            conn.close()


def urllib_client(ctx: ssl.SSLContext, port: int) -> bytes:
    with local_names(HOST):
        opener = stdlib.build_opener(ctx)
        with opener.open(f"https://{HOST}:{port}/secret?token=hunter2", timeout=10) as resp:
            data: bytes = resp.read()
            return data


def _bio_pump(sock: socket.socket, obj: ssl.SSLObject, outgoing: ssl.MemoryBIO,
              incoming: ssl.MemoryBIO, step: Callable[[], object]) -> object:
    """Run ``step`` until it stops asking for more data, shuttling bytes over ``sock``."""
    while True:
        try:
            result = step()
        except ssl.SSLWantReadError:
            pending = outgoing.read()
            if pending:
                sock.sendall(pending)
            data = sock.recv(65536)
            if not data:
                incoming.write_eof()
            else:
                incoming.write(data)
            continue
        pending = outgoing.read()
        if pending:
            sock.sendall(pending)
        return result


def bio_client(ctx: ssl.SSLContext, port: int) -> bytes:
    """The SSLObject (memory BIO) path, pumped by hand: do_handshake, then write."""
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = ctx.wrap_bio(incoming, outgoing, server_hostname=HOST)
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        _bio_pump(sock, obj, outgoing, incoming, obj.do_handshake)
        _bio_pump(sock, obj, outgoing, incoming, lambda: obj.write(REQUEST))
        return _read_response(
            lambda: bytes(_bio_pump(sock, obj, outgoing, incoming, lambda: obj.read(65536)))  # type: ignore[call-overload]
        )


def lazy_bio_client(ctx: ssl.SSLContext, port: int) -> bytes:
    """The SSLObject path writing before any do_handshake()."""
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = ctx.wrap_bio(incoming, outgoing, server_hostname=HOST)
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        _bio_pump(sock, obj, outgoing, incoming, lambda: obj.write(REQUEST))
        return _read_response(
            lambda: bytes(_bio_pump(sock, obj, outgoing, incoming, lambda: obj.read(65536)))  # type: ignore[call-overload]
        )


async def _exchange(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bytes:
    """Send REQUEST, read until the body arrives, close."""
    try:
        writer.write(REQUEST)
        await writer.drain()
        data = b""
        while not data.endswith(BODY):
            chunk = await asyncio.wait_for(reader.read(65536), 10)
            if not chunk:
                break
            data += chunk
        return data
    finally:
        writer.close()
        with contextlib.suppress(OSError, ssl.SSLError):
            await writer.wait_closed()


async def _asyncio_get(ctx: ssl.SSLContext, port: int) -> bytes:
    return await _exchange(*await stdlib.open_connection(
        "127.0.0.1", port, ctx, server_hostname=HOST, ssl_handshake_timeout=10
    ))


def asyncio_client(ctx: ssl.SSLContext, port: int) -> bytes:
    return asyncio.run(_asyncio_get(ctx, port))


async def _asyncio_raw_get(ctx: ssl.SSLContext, port: int) -> bytes:
    """asyncio.open_connection itself (no certpin helper) with the pinning context."""
    return await _exchange(*await asyncio.open_connection(
        "127.0.0.1", port, ssl=ctx, server_hostname=HOST
    ))


def asyncio_raw_client(ctx: ssl.SSLContext, port: int) -> bytes:
    return asyncio.run(_asyncio_raw_get(ctx, port))


CLIENTS: dict[str, Client] = {
    "socket": socket_client,
    "socket-lazy-sendall": lazy_socket_client,
    "socket-lazy-write": lazy_write_client,
    "socket-nonblocking": nonblocking_socket_client,
    "http.client": http_client,
    "urllib": urllib_client,
    "sslobject": bio_client,
    "sslobject-lazy-write": lazy_bio_client,
    "asyncio-helper": asyncio_client,
    "asyncio.open_connection": asyncio_raw_client,
}


@pytest.fixture(params=sorted(CLIENTS))
def client(request: pytest.FixtureRequest) -> Client:
    return CLIENTS[request.param]


def chain_of_causes(exc: BaseException) -> Iterator[BaseException]:
    """``exc``, its causes/contexts and urllib's ``URLError.reason``, without cycles."""
    seen: set[int] = set()
    todo: list[BaseException] = [exc]
    while todo:
        e = todo.pop()
        if id(e) in seen:
            continue
        seen.add(id(e))
        yield e
        for nxt in (e.__cause__, e.__context__, getattr(e, "reason", None)):
            if isinstance(nxt, BaseException):
                todo.append(nxt)


def find(exc: BaseException, kind: type[BaseException]) -> BaseException | None:
    return next((e for e in chain_of_causes(exc) if isinstance(e, kind)), None)


def expect_refused(client: Client, ctx: ssl.SSLContext, port: int,
                   kind: type[BaseException]) -> BaseException:
    """Run ``client``, require it to fail with ``kind`` somewhere in the cause chain."""
    with pytest.raises((ssl.SSLError, urllib.error.URLError, OSError)) as info:
        client(ctx, port)
    found = find(info.value, kind)
    assert found is not None, f"{kind.__name__} not in the cause chain of {info.value!r}"
    return found


def settle(server: RecordingTLSServer) -> None:
    """Let the server threads record whatever might still be in flight."""
    import time

    deadline = time.monotonic() + 0.3
    while time.monotonic() < deadline:
        time.sleep(0.05)


# ----------------------------------------------------------------------------- legitimate


def test_legitimate_server_passes(client: Client, pinned_ctx: ssl.SSLContext,
                                  legit_server: RecordingTLSServer) -> None:
    assert client(pinned_ctx, legit_server.port).endswith(BODY)
    assert b"token=hunter2" in legit_server.received


# ----------------------------------------------------------------------------- attackers


def test_trusted_ca_impostor_refused(client: Client, pinned_ctx: ssl.SSLContext,
                                     impostor: RecordingTLSServer) -> None:
    err = expect_refused(client, pinned_ctx, impostor.port, PinMismatchError)
    assert isinstance(err, PinMismatchError)
    assert str(err).startswith("Certificate pinning failure for pinned.test")
    assert err.hostname == "pinned.test"
    assert len(err.chain) == 2  # impostor leaf + attacker root: what OpenSSL verified
    settle(impostor)
    assert impostor.received == b""  # not one application byte left


def test_impostor_appending_pinned_certs_refused(
    client: Client, pinned_ctx: ssl.SSLContext, impostor_leaf: trustme.LeafCert,
    legit_leaf: trustme.LeafCert, ca: trustme.CA, intermediate: trustme.CA,
) -> None:
    # The impostor sends: its own leaf, the pinned leaf's certificate, the pinned root.
    srv_ctx = appending_impostor_context(impostor_leaf, legit_leaf, ca)
    with RecordingTLSServer(srv_ctx) as srv:
        err = expect_refused(client, pinned_ctx, srv.port, PinMismatchError)
        assert isinstance(err, PinMismatchError)
        root_pin = pem_pin(ca.cert_pem.bytes())
        assert f"{root_pin}" in str(err)  # listed as expected, ...
        assert all(f"{root_pin}  " not in line for line in str(err).splitlines())  # not found
        settle(srv)
        assert srv.received == b""


def test_forged_leaf_would_match_without_verification(
    ca: trustme.CA, intermediate: trustme.CA, trust_pem: str, policy: PinPolicy
) -> None:
    """The attack is real: under CERT_NONE OpenSSL reports a chain holding the pinned key."""
    plain = ssl.create_default_context(cadata=trust_pem)
    plain.check_hostname = False
    plain.verify_mode = ssl.CERT_NONE
    with RecordingTLSServer(forged_leaf_context(intermediate, HOST)) as srv:
        raw = socket.create_connection(("127.0.0.1", srv.port), timeout=10)
        with plain.wrap_socket(raw, server_hostname=HOST) as tls:
            chain = verified_chain(tls)
    verdict = check(policy, HOST, chain)
    assert verdict.outcome == Outcome.MATCHED  # a naive pin check would pass the forgery
    assert verdict.matched_position == 1


def test_forged_leaf_refused_even_after_weakening_attempts(
    client: Client, pinned_ctx: ssl.SSLContext, intermediate: trustme.CA
) -> None:
    with pytest.raises(PolicyError):
        pinned_ctx.verify_mode = ssl.CERT_NONE
    with pytest.raises(PolicyError):
        pinned_ctx.verify_mode = ssl.CERT_OPTIONAL
    with pytest.raises(PolicyError):
        pinned_ctx.check_hostname = False
    assert pinned_ctx.verify_mode == ssl.CERT_REQUIRED
    assert pinned_ctx.check_hostname is True
    with RecordingTLSServer(forged_leaf_context(intermediate, HOST)) as srv:
        err = expect_refused(client, pinned_ctx, srv.port, ssl.SSLCertVerificationError)
        assert not isinstance(err, PinValidationError)  # OpenSSL itself refused the signature
        settle(srv)
        assert srv.received == b""


def test_forged_leaf_refused_when_context_weakened_behind_its_back(
    client: Client, pinned_ctx: ssl.SSLContext, intermediate: trustme.CA
) -> None:
    # Bypass the guarded setters through the stdlib's own descriptors.
    ssl.SSLContext.check_hostname.__set__(pinned_ctx, False)  # type: ignore[attr-defined]
    ssl.SSLContext.verify_mode.__set__(pinned_ctx, ssl.CERT_NONE)  # type: ignore[attr-defined]
    with RecordingTLSServer(forged_leaf_context(intermediate, HOST)) as srv:
        with pytest.raises((PolicyError, OSError)) as info:
            client(pinned_ctx, srv.port)
        # http.client on 3.11 re-assigns check_hostname from the context: the setter refuses
        # (PolicyError); everywhere else the TLS layer fails closed (PinValidationError).
        err = find(info.value, PinValidationError) or find(info.value, PolicyError)
        assert err is not None, repr(info.value)
        assert "CERT_REQUIRED" in str(err) or "check_hostname" in str(err)
        settle(srv)
        assert srv.received == b""


@pytest.mark.parametrize("path", ["wrap_socket", "wrap_bio"])
def test_weakened_context_fails_closed_in_the_handshake_hook(
    path: str, pinned_ctx: ssl.SSLContext, intermediate: trustme.CA
) -> None:
    """Even skipping PinningSSLContext.wrap_* (calling ssl.SSLContext's directly)."""
    ssl.SSLContext.check_hostname.__set__(pinned_ctx, False)  # type: ignore[attr-defined]
    ssl.SSLContext.verify_mode.__set__(pinned_ctx, ssl.CERT_NONE)  # type: ignore[attr-defined]
    with RecordingTLSServer(forged_leaf_context(intermediate, HOST)) as srv:
        raw = socket.create_connection(("127.0.0.1", srv.port), timeout=10)
        with raw:
            if path == "wrap_socket":
                with pytest.raises(PinValidationError, match="verify_mode"):
                    ssl.SSLContext.wrap_socket(pinned_ctx, raw, server_hostname=HOST)
            else:
                incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
                with pytest.raises(PinValidationError, match="verify_mode"):
                    ssl.SSLContext.wrap_bio(pinned_ctx, incoming, outgoing, server_hostname=HOST)
        settle(srv)
        assert srv.received == b""


@pytest.mark.parametrize("path", ["wrap_socket", "wrap_bio"])
def test_context_weakened_only_while_a_connection_is_created_fails_closed(
    path: str, pinned_ctx: ssl.SSLContext, intermediate: trustme.CA
) -> None:
    """Weaken (C-level descriptors), create a connection past PinningSSLContext.wrap_* (OpenSSL
    would copy CERT_NONE into it), restore before the handshake: the creation is refused, since
    at the handshake the context already looks strong again. (The forged leaf names the pinned
    intermediate: under CERT_NONE its chain would match.)"""
    c_level = ssl.SSLContext.__mro__[1]
    with RecordingTLSServer(forged_leaf_context(intermediate, HOST)) as srv:
        raw = socket.create_connection(("127.0.0.1", srv.port), timeout=10)
        with raw:
            c_level.check_hostname.__set__(pinned_ctx, False)  # type: ignore[attr-defined]
            c_level.verify_mode.__set__(pinned_ctx, ssl.CERT_NONE)  # type: ignore[attr-defined]
            try:
                with pytest.raises(PinValidationError, match=r"new connection.*verify_mode"):
                    if path == "wrap_socket":
                        ssl.SSLContext.wrap_socket(pinned_ctx, raw, server_hostname=HOST,
                                                   do_handshake_on_connect=False)
                    else:
                        ssl.SSLContext.wrap_bio(pinned_ctx, ssl.MemoryBIO(), ssl.MemoryBIO(),
                                                server_hostname=HOST)
            finally:
                c_level.verify_mode.__set__(  # type: ignore[attr-defined]
                    pinned_ctx, ssl.CERT_REQUIRED
                )
                c_level.check_hostname.__set__(pinned_ctx, True)  # type: ignore[attr-defined]
        settle(srv)
        assert srv.received == b""


@pytest.mark.parametrize(
    "method", ["connect", "connect_ex", "ssl.SSLSocket.connect", "ssl.SSLSocket.connect_ex"]
)
def test_context_weakened_when_an_unconnected_socket_connects_fails_closed(
    method: str, pinned_ctx: ssl.SSLContext, intermediate: trustme.CA
) -> None:
    """A socket wrapped before it is connected gets its OpenSSL connection in connect(): a
    context weakened at that moment (then restored before the handshake) is refused there,
    also when the base class's connect is called directly (the handshake-time check would see
    the restored context, not the weak connection)."""
    c_level = ssl.SSLContext.__mro__[1]
    with RecordingTLSServer(forged_leaf_context(intermediate, HOST)) as srv:
        tls = pinned_ctx.wrap_socket(socket.socket(), server_hostname=HOST,
                                     do_handshake_on_connect=False)
        with tls:
            c_level.check_hostname.__set__(pinned_ctx, False)  # type: ignore[attr-defined]
            c_level.verify_mode.__set__(pinned_ctx, ssl.CERT_NONE)  # type: ignore[attr-defined]
            try:
                with pytest.raises(PinValidationError, match="verify_mode"):
                    if method.startswith("ssl."):
                        getattr(ssl.SSLSocket, method.rsplit(".", 1)[1])(
                            tls, ("127.0.0.1", srv.port)
                        )
                    else:
                        getattr(tls, method)(("127.0.0.1", srv.port))
            finally:
                c_level.verify_mode.__set__(  # type: ignore[attr-defined]
                    pinned_ctx, ssl.CERT_REQUIRED
                )
                c_level.check_hostname.__set__(pinned_ctx, True)  # type: ignore[attr-defined]
            with pytest.raises(OSError):
                tls.sendall(REQUEST)  # never connected: nothing can be sent
        settle(srv)
        assert srv.received == b""
        assert srv.connections == 0


@pytest.mark.parametrize("do_handshake_on_connect", [True, False])
def test_tcp_connected_behind_the_ssl_socket_sends_nothing_in_clear(
    do_handshake_on_connect: bool, pinned_ctx: ssl.SSLContext
) -> None:
    """socket.socket.connect on a pinned socket wrapped before it was connected connects TCP
    without creating any TLS connection; the stdlib would then send and read in clear text.
    Nothing leaves and nothing is read: there was no pin check. (The listener records raw TCP
    bytes and sends some, in clear.)"""
    import threading

    received = bytearray()
    with socket.create_server(("127.0.0.1", 0)) as listener:

        def serve() -> None:
            conn, _ = listener.accept()
            with conn:
                conn.settimeout(5)
                conn.sendall(b"HTTP/1.1 200 OK\r\n\r\nclear text")
                with contextlib.suppress(OSError):
                    while chunk := conn.recv(65536):
                        received.extend(chunk)

        server = threading.Thread(target=serve, daemon=True)
        server.start()
        tls = pinned_ctx.wrap_socket(socket.socket(), server_hostname=HOST,
                                     do_handshake_on_connect=do_handshake_on_connect)
        with tls:
            socket.socket.connect(tls, listener.getsockname())
            tls.settimeout(5)
            for step in (lambda: tls.sendall(REQUEST), lambda: tls.send(REQUEST),
                         lambda: tls.recv(1), lambda: tls.write(REQUEST)):
                with pytest.raises(PinValidationError, match="no TLS connection yet"):
                    step()
        server.join(10)
    assert not server.is_alive()
    assert bytes(received) == b""


def test_sending_after_a_handshake_timeout_in_connect_sends_nothing(
    pinned_ctx: ssl.SSLContext,
) -> None:
    """connect() of a socket wrapped before it was connected times out in the handshake (a
    server that never answers); the stdlib then drops the TLS connection but keeps TCP, so a
    client that sends anyway (a retry loop) would send the request in clear text. It gets
    PinValidationError, and the server sees the ClientHello only."""
    import threading

    received = bytearray()
    with socket.create_server(("127.0.0.1", 0)) as listener:

        def serve() -> None:
            conn, _ = listener.accept()
            with conn:
                conn.settimeout(5)
                with contextlib.suppress(OSError):
                    while chunk := conn.recv(65536):
                        received.extend(chunk)

        server = threading.Thread(target=serve, daemon=True)
        server.start()
        with pinned_ctx.wrap_socket(socket.socket(), server_hostname=HOST) as tls:
            tls.settimeout(0.5)
            with pytest.raises(TimeoutError):
                tls.connect(listener.getsockname())
            with pytest.raises(PinValidationError, match="no TLS connection yet"):
                tls.sendall(REQUEST)
        server.join(10)
    assert not server.is_alive()
    assert received[:1] == b"\x16"  # a TLS handshake record: the ClientHello
    assert b"GET " not in received


def test_self_signed_with_matching_pin_refused(client: Client, trust_pem: str) -> None:
    srv_ctx, pin = self_signed(HOST, "127.0.0.1")
    pol = PinPolicy({HOST: PinSet([pin], allow_single_pin=True)})
    ctx = create_ssl_context(pol, cadata=trust_pem)
    with RecordingTLSServer(srv_ctx) as srv:
        err = expect_refused(client, ctx, srv.port, ssl.SSLCertVerificationError)
        assert not isinstance(err, PinValidationError)  # pin matched, validation still refused
        settle(srv)
        assert srv.received == b""


def test_expired_certificate_with_matching_pin_refused(
    client: Client, pinned_ctx: ssl.SSLContext, intermediate: trustme.CA
) -> None:
    leaf = expired_leaf(intermediate, HOST, "127.0.0.1")
    with RecordingTLSServer(leaf_context(leaf)) as srv:
        err = expect_refused(client, pinned_ctx, srv.port, ssl.SSLCertVerificationError)
        assert "expired" in str(err)
        settle(srv)
        assert srv.received == b""


def test_wrong_hostname_with_matching_pin_refused(
    client: Client, pinned_ctx: ssl.SSLContext, intermediate: trustme.CA
) -> None:
    leaf = intermediate.issue_cert("other.test")  # chain carries the pinned intermediate
    with RecordingTLSServer(leaf_context(leaf)) as srv:
        err = expect_refused(client, pinned_ctx, srv.port, ssl.SSLCertVerificationError)
        assert "mismatch" in str(err).lower() or "match" in str(err).lower()
        settle(srv)
        assert srv.received == b""


def test_rotation_to_backup_key_passes(client: Client, intermediate: trustme.CA,
                                       legit_leaf: trustme.LeafCert, trust_pem: str) -> None:
    rotated = intermediate.issue_cert(HOST, "127.0.0.1")
    old = pem_pin(legit_leaf.cert_chain_pems[0].bytes())
    new = pem_pin(rotated.cert_chain_pems[0].bytes())
    with_backup = create_ssl_context(
        PinPolicy({HOST: PinSet([old], backup_pins=[new])}), cadata=trust_pem
    )
    unrelated = pem_pin(trustme.CA().cert_pem.bytes())
    without = create_ssl_context(PinPolicy({HOST: PinSet([old, unrelated])}), cadata=trust_pem)
    with RecordingTLSServer(leaf_context(rotated)) as srv:
        assert client(with_backup, srv.port).endswith(BODY)
        n = len(srv.received)
        assert n > 0
        expect_refused(client, without, srv.port, PinMismatchError)
        settle(srv)
        assert len(srv.received) == n  # the control connection sent nothing


def test_pin_of_another_host_does_not_admit(client: Client, trust_pem: str,
                                            legit_leaf: trustme.LeafCert,
                                            impostor_leaf: trustme.LeafCert) -> None:
    # other.test is pinned to the impostor's key; pinned.test is not: serving pinned.test with
    # the impostor certificate must still fail.
    imp = pem_pin(impostor_leaf.cert_chain_pems[0].bytes())
    real = pem_pin(legit_leaf.cert_chain_pems[0].bytes())
    pol = PinPolicy({
        "other.test": PinSet([imp], allow_single_pin=True),
        HOST: PinSet([real], allow_single_pin=True),
    })
    ctx = create_ssl_context(pol, cadata=trust_pem)
    with RecordingTLSServer(leaf_context(impostor_leaf)) as srv:
        expect_refused(client, ctx, srv.port, PinMismatchError)
        settle(srv)
        assert srv.received == b""


@pytest.mark.parametrize("via", ["socket", "urllib", "asyncio"])
def test_shared_san_certificate_checked_per_host(via: str, trust_pem: str,
                                                intermediate: trustme.CA,
                                                attacker_ca: trustme.CA) -> None:
    """Two hosts on one IP share a SAN certificate; only the host whose pins match passes."""
    shared = intermediate.issue_cert(HOST, "other.test", "127.0.0.1")
    pol = PinPolicy({
        HOST: PinSet([pem_pin(intermediate.cert_pem.bytes())], allow_single_pin=True),
        "other.test": PinSet([pem_pin(attacker_ca.cert_pem.bytes())], allow_single_pin=True),
    })
    ctx = create_ssl_context(pol, cadata=trust_pem)

    def fetch(name: str, port: int) -> bytes:
        if via == "socket":
            raw = socket.create_connection(("127.0.0.1", port), timeout=10)
            with ctx.wrap_socket(raw, server_hostname=name) as tls:
                tls.sendall(REQUEST.replace(b"pinned.test", name.encode()))
                return _read_response(lambda: tls.recv(65536))
        if via == "urllib":
            with local_names(HOST, "other.test"), stdlib.build_opener(ctx).open(
                f"https://{name}:{port}/", timeout=10
            ) as resp:
                data: bytes = resp.read()
                return data

        async def go() -> bytes:
            reader, writer = await stdlib.open_connection("127.0.0.1", port, ctx,
                                                          server_hostname=name)
            writer.write(REQUEST.replace(b"pinned.test", name.encode()))
            data = await asyncio.wait_for(reader.read(65536), 10)
            writer.close()
            with contextlib.suppress(OSError, ssl.SSLError):
                await writer.wait_closed()
            return data

        return asyncio.run(go())

    with RecordingTLSServer(leaf_context(shared)) as srv:
        assert BODY in fetch(HOST, srv.port)
        n = len(srv.received)
        with pytest.raises((ssl.SSLError, urllib.error.URLError)) as info:
            fetch("other.test", srv.port)
        assert find(info.value, PinMismatchError) is not None
        settle(srv)
        assert len(srv.received) == n
        assert b"other.test" not in srv.received


# ----------------------------------------------------------------------------- resumption


def _get_session(ctx: ssl.SSLContext, port: int) -> ssl.SSLSession:
    raw = socket.create_connection(("127.0.0.1", port), timeout=10)
    with ctx.wrap_socket(raw, server_hostname=HOST) as tls:
        tls.sendall(REQUEST)
        assert _read_response(lambda: tls.recv(65536)).endswith(BODY)
        session = tls.session
    assert session is not None
    return session


def test_resumption_is_real_on_a_plain_context(legit_server: RecordingTLSServer,
                                               trust_pem: str) -> None:
    """Control: the server resumes sessions, so the pinning test below means something."""
    plain = ssl.create_default_context(cadata=trust_pem)
    session = _get_session(plain, legit_server.port)
    raw = socket.create_connection(("127.0.0.1", legit_server.port), timeout=10)
    with plain.wrap_socket(raw, server_hostname=HOST, session=session) as tls:
        assert tls.session_reused
        assert verified_chain(tls) == []  # OpenSSL keeps no verified chain on resumption


def test_resumed_session_fails_closed(legit_server: RecordingTLSServer,
                                      pinned_ctx: ssl.SSLContext) -> None:
    session = _get_session(pinned_ctx, legit_server.port)
    assert HOST in pinned_ctx._certpin_passes  # type: ignore[attr-defined]  # a pass remembered
    before = legit_server.received
    raw = socket.create_connection(("127.0.0.1", legit_server.port), timeout=10)
    with pytest.raises(PinValidationError, match="resumed"):
        tls = pinned_ctx.wrap_socket(raw, server_hostname=HOST, session=session,
                                     do_handshake_on_connect=False)
        tls.sendall(REQUEST)
    settle(legit_server)
    assert legit_server.received == before


def test_resumed_session_fails_closed_on_sslobject(legit_server: RecordingTLSServer,
                                                   pinned_ctx: ssl.SSLContext) -> None:
    session = _get_session(pinned_ctx, legit_server.port)
    assert HOST in pinned_ctx._certpin_passes  # type: ignore[attr-defined]  # a pass remembered
    before = legit_server.received
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = pinned_ctx.wrap_bio(incoming, outgoing, server_hostname=HOST, session=session)
    with socket.create_connection(("127.0.0.1", legit_server.port), timeout=10) as sock:
        with pytest.raises(PinValidationError, match="resumed"):
            _bio_pump(sock, obj, outgoing, incoming, obj.do_handshake)
        with pytest.raises(PinValidationError, match="already failed"):
            obj.write(REQUEST)
    settle(legit_server)
    assert legit_server.received == before


# ----------------------------------------------------------------------------- other rules


@pytest.mark.parametrize("name", [None, ""])
def test_missing_server_hostname_fails_closed(name: str | None, pinned_ctx: ssl.SSLContext,
                                              legit_server: RecordingTLSServer) -> None:
    raw = socket.create_connection(("127.0.0.1", legit_server.port), timeout=10)
    with raw, pytest.raises(PinValidationError, match="server_hostname"):
        pinned_ctx.wrap_socket(raw, server_hostname=name)
    with pytest.raises(PinValidationError, match="server_hostname"):
        pinned_ctx.wrap_bio(ssl.MemoryBIO(), ssl.MemoryBIO(), server_hostname=name)
    assert legit_server.received == b""


def test_failed_socket_is_closed_and_stays_failed(pinned_ctx: ssl.SSLContext,
                                                  impostor: RecordingTLSServer) -> None:
    raw = socket.create_connection(("127.0.0.1", impostor.port), timeout=10)
    tls = pinned_ctx.wrap_socket(raw, server_hostname=HOST, do_handshake_on_connect=False)
    with pytest.raises(PinMismatchError):
        tls.do_handshake()
    assert tls.fileno() == -1  # closed before the exception reached us
    for attempt in (lambda: tls.sendall(REQUEST), lambda: tls.send(REQUEST),
                    lambda: tls.write(REQUEST), lambda: tls.recv(10)):
        with pytest.raises(PinValidationError, match="already failed"):
            attempt()
    settle(impostor)
    assert impostor.received == b""


def test_asyncio_many_tasks_on_one_context(pinned_ctx: ssl.SSLContext,
                                           legit_server: RecordingTLSServer,
                                           impostor: RecordingTLSServer) -> None:
    async def main() -> list[bytes | BaseException]:
        jobs = [_asyncio_get(pinned_ctx, legit_server.port) for _ in range(30)]
        jobs += [_asyncio_get(pinned_ctx, impostor.port) for _ in range(10)]
        return await asyncio.gather(*jobs, return_exceptions=True)

    results = asyncio.run(main())
    assert all(isinstance(r, bytes) and r.endswith(BODY) for r in results[:30])
    assert all(isinstance(r, PinMismatchError) for r in results[30:])
    assert legit_server.received.count(b"token=hunter2") == 30
    settle(impostor)
    assert impostor.received == b""


def test_threads_with_keep_alive_on_one_context(pinned_ctx: ssl.SSLContext,
                                                legit_server: RecordingTLSServer,
                                                impostor: RecordingTLSServer) -> None:
    def legit_worker(_: int) -> int:
        with local_names(HOST):
            conn = stdlib.HTTPSConnection(HOST, legit_server.port, policy=pinned_ctx,
                                          timeout=10)
        try:
            for _ in range(10):  # keep-alive: one connection, ten requests
                conn.request("GET", "/secret?token=hunter2")
                assert conn.getresponse().read() == BODY
        finally:
            conn.close()
        return 10

    def impostor_worker(_: int) -> bool:
        try:
            socket_client(pinned_ctx, impostor.port)
        except PinMismatchError:
            return True
        return False

    # local_names patches getaddrinfo process-wide; hold it for the whole run.
    with local_names(HOST), concurrent.futures.ThreadPoolExecutor(max_workers=16) as pool:
        legit = list(pool.map(legit_worker, range(16)))
        refused = list(pool.map(impostor_worker, range(16)))
    assert sum(legit) == 160
    assert legit_server.received.count(b"token=hunter2") == 160
    assert legit_server.connections == 16
    assert all(refused)
    settle(impostor)
    assert impostor.received == b""


def test_http_client_refuses_foreign_host_header(pinned_ctx: ssl.SSLContext,
                                                 legit_server: RecordingTLSServer) -> None:
    with local_names(HOST):
        conn = stdlib.HTTPSConnection(HOST, legit_server.port, policy=pinned_ctx, timeout=10)
        try:
            with pytest.raises(PolicyError, match="Host header"):
                conn.request("GET", "/", headers={"Host": "other.test"})
        finally:
            conn.close()
    assert legit_server.received == b""


def test_urllib_refuses_foreign_host_header(pinned_ctx: ssl.SSLContext,
                                           legit_server: RecordingTLSServer) -> None:
    import urllib.request

    req = urllib.request.Request(f"https://{HOST}:{legit_server.port}/",
                                 headers={"Host": "other.test"})
    with local_names(HOST), pytest.raises(PolicyError, match="Host header"):
        stdlib.build_opener(pinned_ctx).open(req, timeout=10)
    settle(legit_server)
    assert legit_server.received == b""


def test_urllib_refuses_plain_http_to_pinned_host(pinned_ctx: ssl.SSLContext) -> None:
    opener = stdlib.build_opener(pinned_ctx)
    with pytest.raises(urllib.error.URLError) as info:
        opener.open("http://pinned.test:1/")
    assert isinstance(info.value.reason, PolicyError)


def test_helpers_refuse_plain_context() -> None:
    plain = ssl.create_default_context()
    with pytest.raises(PolicyError, match="does not enforce pins"):
        stdlib.build_opener(plain)
    with pytest.raises(PolicyError, match="does not enforce pins"):
        stdlib.HTTPSConnection("pinned.test", policy=plain)
    with pytest.raises(PolicyError, match="does not enforce pins"):
        asyncio.run(stdlib.open_connection("127.0.0.1", 1, plain))


def test_http_client_plain_connection_type() -> None:
    assert issubclass(stdlib.HTTPSConnection, http.client.HTTPSConnection)


# ----------------------------------------------------------------------------- through a proxy


@pytest.fixture()
def https_proxy(monkeypatch: pytest.MonkeyPatch) -> Iterator[TunnelProxy]:
    """An HTTP CONNECT proxy set as HTTPS_PROXY (urllib picks it up from the environment)."""
    with TunnelProxy() as proxy:
        for var in ("HTTPS_PROXY", "https_proxy"):
            monkeypatch.setenv(var, proxy.url)
        for var in ("NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy"):
            monkeypatch.delenv(var, raising=False)
        yield proxy


def _via_proxy(via: str, ctx: ssl.SSLContext, port: int, proxy: TunnelProxy) -> bytes:
    if via == "urllib":  # HTTPS_PROXY from the environment
        with stdlib.build_opener(ctx).open(f"https://{HOST}:{port}/secret?token=hunter2",
                                           timeout=10) as resp:
            data: bytes = resp.read()
            return data
    conn = stdlib.HTTPSConnection("127.0.0.1", proxy.port, policy=ctx, timeout=10)
    conn.set_tunnel(HOST, port)
    try:
        conn.request("GET", "/secret?token=hunter2")
        return conn.getresponse().read()
    finally:
        conn.close()


@pytest.mark.parametrize("via", ["urllib", "http.client-tunnel"])
def test_through_proxy_pins_checked_on_the_origin(
    via: str, pinned_ctx: ssl.SSLContext, https_proxy: TunnelProxy,
    legit_server: RecordingTLSServer, impostor: RecordingTLSServer,
) -> None:
    assert _via_proxy(via, pinned_ctx, legit_server.port, https_proxy).endswith(BODY)
    assert b"token=hunter2" in legit_server.received
    with pytest.raises((ssl.SSLError, urllib.error.URLError)) as info:
        _via_proxy(via, pinned_ctx, impostor.port, https_proxy)
    err = find(info.value, PinMismatchError)
    assert isinstance(err, PinMismatchError)
    assert err.hostname == HOST  # the origin's name, not the proxy's
    assert https_proxy.targets == [f"{HOST}:{legit_server.port}", f"{HOST}:{impostor.port}"]
    settle(impostor)
    assert impostor.received == b""


# ----------------------------------------------------------------------------- TLS 1.2


def test_tls12_impostor_refused(client: Client, pinned_ctx: ssl.SSLContext,
                                impostor_leaf: trustme.LeafCert) -> None:
    """On TLS 1.2 the client speaks last in the handshake: still nothing after it."""
    srv_ctx = leaf_context(impostor_leaf)
    srv_ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    with RecordingTLSServer(srv_ctx) as srv:
        err = expect_refused(client, pinned_ctx, srv.port, PinMismatchError)
        assert str(err).startswith("Certificate pinning failure for pinned.test")
        settle(srv)
        assert srv.received == b""


def test_tls12_legitimate_server_passes(client: Client, pinned_ctx: ssl.SSLContext,
                                        legit_leaf: trustme.LeafCert) -> None:
    srv_ctx = leaf_context(legit_leaf)
    srv_ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    with RecordingTLSServer(srv_ctx) as srv:
        assert client(pinned_ctx, srv.port).endswith(BODY)


# ----------------------------------------------------------------------------- asyncio paths


class _EagerProtocol(asyncio.Protocol):
    """Writes the request as soon as asyncio reports the connection made."""

    def __init__(self) -> None:
        self.made = False
        self.data = b""
        self.done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.lost: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.made = True
        assert isinstance(transport, asyncio.WriteTransport)
        transport.write(REQUEST)

    def data_received(self, data: bytes) -> None:
        self.data += data
        if self.data.endswith(BODY) and not self.done.done():
            self.done.set_result(None)

    def connection_lost(self, exc: Exception | None) -> None:
        for fut in (self.done, self.lost):
            if not fut.done():
                fut.set_result(None)


@pytest.mark.parametrize("target", ["legit", "impostor"])
def test_asyncio_create_connection_protocol(target: str, pinned_ctx: ssl.SSLContext,
                                            legit_server: RecordingTLSServer,
                                            impostor: RecordingTLSServer) -> None:
    """loop.create_connection: the protocol only hears of a connection that passed."""
    srv = legit_server if target == "legit" else impostor
    made: list[_EagerProtocol] = []

    async def main() -> None:
        loop = asyncio.get_running_loop()

        def factory() -> _EagerProtocol:
            made.append(_EagerProtocol())
            return made[-1]

        transport, proto = await loop.create_connection(
            factory, "127.0.0.1", srv.port, ssl=pinned_ctx, server_hostname=HOST
        )
        await asyncio.wait_for(proto.done, 10)
        transport.close()
        await asyncio.wait_for(proto.lost, 10)  # let the socket close before the loop ends

    if target == "legit":
        asyncio.run(main())
        assert made[0].made and made[0].data.endswith(BODY)
    else:
        with pytest.raises(PinMismatchError):
            asyncio.run(main())
        assert not made or not made[0].made  # connection_made never ran: nothing written
        settle(srv)
        assert srv.received == b""


@pytest.mark.parametrize("target", ["legit", "impostor"])
def test_asyncio_start_tls_upgrade(target: str, pinned_ctx: ssl.SSLContext,
                                   legit_server: RecordingTLSServer,
                                   impostor: RecordingTLSServer) -> None:
    """STARTTLS-style upgrade (loop.start_tls, as proxies' CONNECT tunnels use)."""
    srv = legit_server if target == "legit" else impostor

    async def main() -> bytes:
        reader, writer = await asyncio.open_connection("127.0.0.1", srv.port)
        try:
            await writer.start_tls(pinned_ctx, server_hostname=HOST)
            writer.write(REQUEST)
            await writer.drain()
            return await asyncio.wait_for(reader.read(65536), 10)
        finally:
            writer.close()
            with contextlib.suppress(OSError, ssl.SSLError):
                await writer.wait_closed()

    if target == "legit":
        assert asyncio.run(main()).endswith(BODY)
    else:
        with pytest.raises(PinMismatchError):
            asyncio.run(main())
        settle(srv)
        assert srv.received == b""


@pytest.mark.parametrize("name", ["PINNED.TEST", "Pinned.Test.", "www.PINNED.test", "pinned.test."])
def test_other_spellings_of_the_pinned_host_are_pinned(name: str, pinned_ctx: ssl.SSLContext,
                                                       impostor: RecordingTLSServer,
                                                       legit_server: RecordingTLSServer) -> None:
    """No spelling of a pinned name falls through to "not pinned"."""
    raw = socket.create_connection(("127.0.0.1", impostor.port), timeout=10)
    with pytest.raises(ssl.SSLError) as info, pinned_ctx.wrap_socket(
        raw, server_hostname=name
    ) as tls:
        tls.sendall(REQUEST)
    if name.endswith("."):  # OpenSSL's host name check refuses it before any pin check
        assert isinstance(info.value, ssl.SSLCertVerificationError)
        assert "Hostname mismatch" in str(info.value)
    else:  # ssl keeps the case; certpin normalises it and finds the pin set
        assert isinstance(info.value, PinMismatchError)
        assert info.value.hostname in (HOST, "www." + HOST)
    settle(impostor)
    assert impostor.received == b""
    if not name.endswith("."):  # OpenSSL matches the certificate without the trailing dot only
        raw = socket.create_connection(("127.0.0.1", legit_server.port), timeout=10)
        with pinned_ctx.wrap_socket(raw, server_hostname=name) as tls:
            assert len(verified_chain(tls)) == 3


# ------------------------------------------------------------ regressions
# Moved here from the files that grouped them by who found them (red team, reviews).


# regression: makefile('wb') / sendfile before the handshake must go through the pin check (found by
#   the red team)
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


# regression: an anonymous (aNULL) suite completes a handshake with no certificate at all (found by
#   the red team)
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


# regression: context mutations made by client libraries, and copy/pickle of a pinning context,
#   dropping the pins (found by the red team)
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


# regression: verdict cache races: a pass cached for one (host, chain) served for another (found by
#   the red team)
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


# regression: reassigning SSLSocket.server_hostname moved the pin lookup to an unpinned name (found
#   by the red team)
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
