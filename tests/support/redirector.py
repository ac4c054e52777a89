"""A plain-TCP HTTP server that answers every request with a redirect, and records what it got."""

from __future__ import annotations

import contextlib
import socket
import threading


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
