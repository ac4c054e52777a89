"""The embedded HTTPS servers of ``certpin demo``: a test CA and threaded servers on 127.0.0.1.

Reusable by every demo step: :func:`make_ca` creates a fresh test CA (trustme, the ``demo``
extra), :func:`server_context` a server-side context for a certificate it issues, and
:class:`DemoServer` serves HTTPS on 127.0.0.1 in a thread and records every application byte it
receives (so a step can show that an impostor received zero bytes).
"""

from __future__ import annotations

import contextlib
import socket
import ssl
import threading
from typing import Any

__all__ = ["DemoServer", "make_ca", "server_context"]


def make_ca(organization: str) -> Any:
    """Create a fresh test CA (a ``trustme.CA``) named ``organization``.

    Raises:
        ModuleNotFoundError: trustme is not installed (``pip install 'certpin[demo]'``).
    """
    import trustme

    return trustme.CA(organization_name=organization)


def server_context(ca: Any, *names: str) -> ssl.SSLContext:
    """A server-side TLS context presenting a certificate from ``ca`` for ``names``."""
    leaf = ca.issue_cert(*names)
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    leaf.configure_cert(ctx)
    return ctx


class DemoServer:
    """An HTTPS server on 127.0.0.1 in a daemon thread, answering ``200 OK`` to each request.

    Use as a context manager. Attributes: ``port`` (bound port), ``received`` (every application
    byte received, all connections), ``connections`` (TCP connections accepted).
    """

    def __init__(self, context: ssl.SSLContext, body: bytes = b"hello from the demo server\n"):
        self.context = context
        self.body = body
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(16)
        self.port: int = self._sock.getsockname()[1]
        self._lock = threading.Lock()
        self._received = bytearray()
        self.connections = 0
        self._threads: list[threading.Thread] = []

    @property
    def received(self) -> bytes:
        """Every application byte received so far."""
        with self._lock:
            return bytes(self._received)

    def _accept(self) -> None:
        while True:
            try:
                raw, _ = self._sock.accept()
            except OSError:
                return
            with self._lock:
                self.connections += 1
            t = threading.Thread(target=self._serve, args=(raw,), daemon=True)
            self._threads.append(t)
            t.start()

    def _serve(self, raw: socket.socket) -> None:
        raw.settimeout(10)
        try:
            with self.context.wrap_socket(raw, server_side=True) as conn:
                buf = b""
                while b"\r\n\r\n" not in buf:
                    data = conn.recv(65536)
                    if not data:
                        return
                    with self._lock:
                        self._received += data
                    buf += data
                conn.sendall(
                    b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nConnection: close\r\n"
                    + f"Content-Length: {len(self.body)}\r\n\r\n".encode()
                    + self.body
                )
        except (OSError, ssl.SSLError):
            pass  # a client that refused the certificate, or closed after the handshake
        finally:
            with contextlib.suppress(OSError):
                raw.close()

    def __enter__(self) -> DemoServer:
        threading.Thread(target=self._accept, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        with contextlib.suppress(OSError):
            self._sock.shutdown(socket.SHUT_RDWR)  # wakes the thread blocked in accept()
        with contextlib.suppress(OSError):
            self._sock.close()
        for t in self._threads:
            t.join(timeout=5)
