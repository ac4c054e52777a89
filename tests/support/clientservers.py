"""Connection handlers for :class:`support.servers.RecordingTLSServer` used by the client tests.

* :func:`multi_handler`: HTTP/2 when ALPN selected ``h2`` (with the ``h2`` library), otherwise
  HTTP/1.1 (:func:`support.servers.http_handler`); an HTTP/2 response body names the
  ``:authority`` it answered, and every request's authority is logged on the server.
* :func:`ws_handler`: a WebSocket server (websockets' sans-I/O ``ServerProtocol``) echoing text.
* :func:`redirect_handler`: answers every request with a redirect to ``server.location``.

All record every application byte received (``server.received``).
"""

from __future__ import annotations

import ssl
import threading
from typing import Any

import h2.config
import h2.connection
import h2.events
from websockets.frames import Opcode
from websockets.http11 import Request
from websockets.server import ServerProtocol

from support.servers import RecordingTLSServer, http_handler


class QuickServer(RecordingTLSServer):
    """RecordingTLSServer that stops at once. Its stop() shuts down the raw sockets, but after
    wrap_socket a raw socket is detached, so a handler blocked reading an idle keep-alive
    connection waits for its 10 s timeout (a 5 s join each); this also shuts the TLS sockets."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._tls_conns: list[ssl.SSLSocket] = []
        inner = self.handler

        def handler(conn: ssl.SSLSocket, server: RecordingTLSServer) -> None:
            with self._lock:
                self._tls_conns.append(conn)
            inner(conn, server)

        self.handler = handler

    def _serve(self, raw: Any) -> None:
        # stop() may close a connection accepted an instant before (a client that gave up before
        # its handshake, e.g. urllib3 refusing to weaken the context): not a server error.
        try:
            super()._serve(raw)
        except OSError as exc:
            self.errors.append(exc)

    def stop(self) -> None:
        import contextlib
        import socket

        with self._lock:
            conns = list(self._tls_conns)
        for c in conns:
            with contextlib.suppress(OSError):
                # the plain socket's shutdown: wakes the reader without touching the SSL object
                # (SSLSocket.shutdown would drop it under the reading thread)
                socket.socket.shutdown(c, socket.SHUT_RDWR)
        super().stop()


_authority_lock = threading.Lock()


def h2_server_context(ctx: ssl.SSLContext) -> ssl.SSLContext:
    """Offer ``h2`` and ``http/1.1`` by ALPN on the server context ``ctx`` (returned)."""
    ctx.set_alpn_protocols(["h2", "http/1.1"])
    return ctx


def authorities(server: RecordingTLSServer) -> list[str]:
    """The ``:authority`` (HTTP/2) or ``Host`` of every request the server answered."""
    with _authority_lock:
        return list(getattr(server, "authorities", []))


def _log_authority(server: RecordingTLSServer, value: str) -> None:
    with _authority_lock:
        if not hasattr(server, "authorities"):
            server.authorities = []  # type: ignore[attr-defined]
        server.authorities.append(value)  # type: ignore[attr-defined]


def multi_handler(conn: ssl.SSLSocket, server: RecordingTLSServer) -> None:
    """HTTP/2 if negotiated, else HTTP/1.1 keep-alive."""
    if conn.selected_alpn_protocol() != "h2":
        http_handler(conn, server)
        return
    h2c = h2.connection.H2Connection(h2.config.H2Configuration(client_side=False))
    h2c.initiate_connection()
    conn.sendall(h2c.data_to_send())
    while True:
        data = server.recv(conn)
        if not data:
            return
        for event in h2c.receive_data(data):
            if isinstance(event, h2.events.RequestReceived):
                headers = {
                    (k.decode() if isinstance(k, bytes) else k): (
                        v.decode() if isinstance(v, bytes) else v
                    )
                    for k, v in event.headers
                }
                authority = headers.get(":authority", "")
                _log_authority(server, authority)
                location = getattr(server, "location", None)
                if location is not None:
                    h2c.send_headers(
                        event.stream_id,
                        [(":status", "302"), ("location", location), ("content-length", "0")],
                        end_stream=True,
                    )
                    continue
                body = server.body + b" for " + authority.encode()
                h2c.send_headers(
                    event.stream_id,
                    [(":status", "200"), ("content-length", str(len(body))),
                     ("content-type", "text/plain")],
                )
                h2c.send_data(event.stream_id, body, end_stream=True)
            elif isinstance(event, h2.events.ConnectionTerminated):
                conn.sendall(h2c.data_to_send())
                return
        out = h2c.data_to_send()
        if out:
            conn.sendall(out)


def ws_handler(conn: ssl.SSLSocket, server: RecordingTLSServer) -> None:
    """A WebSocket endpoint echoing every text message prefixed with ``echo: ``."""
    proto = ServerProtocol()
    while True:
        data = server.recv(conn)
        if not data:
            return
        proto.receive_data(data)
        for event in proto.events_received():
            if isinstance(event, Request):
                _log_authority(server, event.headers.get("Host", ""))
                proto.send_response(proto.accept(event))
            elif getattr(event, "opcode", None) is Opcode.TEXT:
                proto.send_text(b"echo: " + event.data)
        for chunk in proto.data_to_send():
            if chunk:
                conn.sendall(chunk)
            else:
                return


def redirect_handler(conn: ssl.SSLSocket, server: Any) -> None:
    """Answer every request with ``302 Found`` to ``server.location`` (HTTP/2 if negotiated)."""
    if conn.selected_alpn_protocol() == "h2":
        multi_handler(conn, server)
        return
    buf = b""
    while True:
        data = server.recv(conn)
        if not data:
            return
        buf += data
        while b"\r\n\r\n" in buf:
            _head, buf = buf.split(b"\r\n\r\n", 1)
            loc = server.location.encode()
            conn.sendall(
                b"HTTP/1.1 302 Found\r\nLocation: " + loc + b"\r\nContent-Length: 0\r\n\r\n"
            )
