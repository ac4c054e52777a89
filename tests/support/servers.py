"""Real TLS servers on 127.0.0.1 that record every application byte they receive.

Use them as legitimate servers and as attackers: an attack test asserts ``server.received == b""``
(zero application bytes reached the impostor).

    with RecordingTLSServer(server_context) as srv:
        ... connect to ("127.0.0.1", srv.port) ...
    assert srv.received == b""
"""

from __future__ import annotations

import contextlib
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

Handler = Callable[[ssl.SSLSocket, "RecordingTLSServer"], None]


def http_handler(conn: ssl.SSLSocket, server: RecordingTLSServer) -> None:
    """Answer every HTTP/1.1 request head with ``200 OK`` and a small body; keep-alive."""
    buf = b""
    while True:
        data = server.recv(conn)
        if not data:
            return
        buf += data
        while b"\r\n\r\n" in buf:
            head, buf = buf.split(b"\r\n\r\n", 1)
            length = 0
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value.strip() or 0)
            while len(buf) < length:
                more = server.recv(conn)
                if not more:
                    return
                buf += more
            buf = buf[length:]
            body = server.body
            conn.sendall(
                b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
                + b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body
            )


class RecordingTLSServer:
    """A threaded TLS server on 127.0.0.1 (or ::1) recording all application bytes received.

    Args:
        context: the server-side :class:`ssl.SSLContext` (certificate chain loaded).
        handler: what to do with each handshaken connection; default :func:`http_handler`.
        host: the address to bind, ``"127.0.0.1"`` or ``"::1"``.
        body: the HTTP response body of the default handler.

    Attributes:
        port: the bound port.
        received: every application byte received on every connection, concatenated.
        connections: the number of TCP connections accepted.
        handshakes: the number of TLS handshakes completed.
        errors: handshake errors seen (e.g. the client closing after a pin failure).
    """

    def __init__(
        self,
        context: ssl.SSLContext,
        handler: Handler = http_handler,
        *,
        host: str = "127.0.0.1",
        body: bytes = b"hello from the pinned server",
    ) -> None:
        self.context = context
        self.handler = handler
        self.host = host
        self.body = body
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self._sock = socket.socket(family, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind((host, 0))
        self._sock.listen(64)
        self.port: int = self._sock.getsockname()[1]
        self._lock = threading.Lock()
        self._received = bytearray()
        self.connections = 0
        self.handshakes = 0
        self.errors: list[BaseException] = []
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._conns: list[socket.socket] = []
        self._acceptor = threading.Thread(target=self._accept_loop, daemon=True)

    @property
    def received(self) -> bytes:
        with self._lock:
            return bytes(self._received)

    def recv(self, conn: ssl.SSLSocket, size: int = 65536) -> bytes:
        """Receive from ``conn`` and record the bytes; ``b""`` on EOF or error."""
        try:
            data = conn.recv(size)
        except (OSError, ssl.SSLError):
            return b""
        with self._lock:
            self._received += data
        return data

    def record(self, data: bytes) -> None:
        """Record bytes that a custom handler received by other means."""
        with self._lock:
            self._received += data

    def _accept_loop(self) -> None:
        while not self._stop.is_set():
            try:
                raw, _ = self._sock.accept()
            except OSError:
                return
            with self._lock:
                self.connections += 1
                self._conns.append(raw)
            t = threading.Thread(target=self._serve, args=(raw,), daemon=True)
            self._threads.append(t)  # listed before it runs, so settle() never misses it
            t.start()

    def _serve(self, raw: socket.socket) -> None:
        try:
            # stop() may already have closed ``raw`` (EBADF here): that is a served connection too.
            raw.settimeout(10)
            conn = self.context.wrap_socket(raw, server_side=True)
        except (OSError, ssl.SSLError) as exc:
            self.errors.append(exc)
            raw.close()
            return
        with self._lock:
            self.handshakes += 1
        try:
            self.handler(conn, self)
        except (OSError, ssl.SSLError) as exc:
            self.errors.append(exc)
        finally:
            with contextlib.suppress(OSError):
                conn.close()

    def settle(self, timeout: float = 5.0) -> RecordingTLSServer:
        """Wait until every connection accepted so far has been served to its end.

        Call it before asserting ``received``/``handshakes`` while the server is still running:
        a client returns as soon as its side of the handshake is done, possibly before the
        server thread has counted the handshake or read what the client sent. The client must
        have closed its connections (or they time out after ``timeout`` seconds in all).
        """
        deadline = time.monotonic() + timeout
        for t in list(self._threads):
            while True:
                try:
                    t.join(timeout=max(0.0, deadline - time.monotonic()))
                    break
                except RuntimeError:  # listed but not started yet: it is about to be
                    if time.monotonic() >= deadline:
                        break
                    time.sleep(0.001)
        return self

    def start(self) -> RecordingTLSServer:
        self._acceptor.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        with contextlib.suppress(OSError):
            self._sock.shutdown(socket.SHUT_RDWR)  # close() alone does not wake accept() on Linux
        with contextlib.suppress(OSError):
            self._sock.close()
        with self._lock:
            conns = list(self._conns)
        for c in conns:
            with contextlib.suppress(OSError):
                c.shutdown(socket.SHUT_RDWR)
            with contextlib.suppress(OSError):
                c.close()
        self._acceptor.join(timeout=5)
        for t in self._threads:
            t.join(timeout=5)

    def __enter__(self) -> RecordingTLSServer:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()


@contextlib.contextmanager
def local_names(*names: str, address: str = "127.0.0.1") -> Iterator[None]:
    """Resolve ``names`` (e.g. ``"pinned.test"``) to ``address`` inside the block.

    Replaces :func:`socket.getaddrinfo` for those names only, so that real clients (requests,
    httpx, aiohttp, asyncio) connect to a local server by its certificate's host name. TLS is
    untouched. Every other name resolves as usual (and the tests use no other name).
    """
    real = socket.getaddrinfo
    wanted = {n.lower().rstrip(".") for n in names}

    def fake(host: Any, *args: Any, **kwargs: Any) -> Any:
        host_s = host.decode("ascii", "replace") if isinstance(host, bytes) else host
        if isinstance(host_s, str) and host_s.lower().rstrip(".") in wanted:
            return real(address, *args, **kwargs)
        return real(host, *args, **kwargs)

    socket.getaddrinfo = fake
    try:
        yield
    finally:
        socket.getaddrinfo = real
