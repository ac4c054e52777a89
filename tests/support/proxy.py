"""A small real HTTP CONNECT proxy on 127.0.0.1 for the client tests (threaded).

It records each CONNECT target and every byte it forwards in either direction (it is allowed to
see the encrypted stream: that is what a proxy sees). It only ever connects to loopback
addresses: names are resolved through ``resolve`` (default: every name to 127.0.0.1).
With ``tls=`` (a server :class:`ssl.SSLContext`) it is an HTTPS proxy: the client speaks TLS to the
proxy, and CONNECT tunnels inside that TLS (TLS in TLS).

    with ConnectProxy() as proxy:
        url = proxy.url                 # "http://proxy.test:PORT" (resolves to 127.0.0.1)
        ...
    proxy.targets                       # ["pinned.test:443", ...]
"""

from __future__ import annotations

import contextlib
import ipaddress
import select
import socket
import ssl
import threading
from typing import Any

from support.servers import local_names

#: The name the proxy is reached by (its certificate, for an https proxy, names it too).
PROXY_NAME = "proxy.test"


class ConnectProxy:
    """A threaded HTTP CONNECT proxy bound to 127.0.0.1.

    Attributes:
        port: the bound port. url: ``http://proxy.test:PORT`` (``https://`` with ``tls``);
            ``proxy.test`` resolves to 127.0.0.1 while the proxy runs (``with``).
        targets: the ``host:port`` of every CONNECT request, in order.
        requests: the request line of every non-CONNECT request (answered 403, not forwarded).
        upstream: every byte forwarded client -> server (the tunnelled stream).
        downstream: every byte forwarded server -> client.
    """

    def __init__(
        self, *, tls: ssl.SSLContext | None = None, resolve: dict[str, str] | None = None
    ) -> None:
        self.tls = tls
        self.resolve = resolve or {}
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(64)
        self.port: int = self._sock.getsockname()[1]
        # Named, not 127.0.0.1: the test policies pin 127.0.0.1, and a proxy on a pinned host
        # is refused (plain text to it; issue 10 review). proxy.test resolves to 127.0.0.1
        # while the proxy runs (support.servers.local_names).
        self.url = f"{'https' if tls else 'http'}://{PROXY_NAME}:{self.port}"
        self._names: contextlib.AbstractContextManager[None] | None = None
        self._lock = threading.Lock()
        self.targets: list[str] = []
        self.requests: list[bytes] = []
        self._up = bytearray()
        self._down = bytearray()
        self.errors: list[BaseException] = []
        self._stop = threading.Event()
        self._socks: list[socket.socket] = []
        self._threads: list[threading.Thread] = []
        self._acceptor = threading.Thread(target=self._accept_loop, daemon=True)

    @property
    def upstream(self) -> bytes:
        with self._lock:
            return bytes(self._up)

    @property
    def downstream(self) -> bytes:
        with self._lock:
            return bytes(self._down)

    def _address(self, host: str) -> str:
        addr = self.resolve.get(host.lower(), host)
        try:
            ip = ipaddress.ip_address(addr.strip("[]"))
        except ValueError:
            addr = "127.0.0.1"  # test names (pinned.test, a.test ...) are all local
            ip = ipaddress.ip_address(addr)
        if not ip.is_loopback:
            raise OSError(f"test proxy refuses non-loopback target {addr}")
        return str(ip)

    def _accept_loop(self) -> None:
        while not self._stop.is_set():
            try:
                raw, _ = self._sock.accept()
            except OSError:
                return
            with self._lock:
                self._socks.append(raw)
            t = threading.Thread(target=self._serve, args=(raw,), daemon=True)
            self._threads.append(t)
            t.start()

    def _serve(self, raw: socket.socket) -> None:
        client: socket.socket = raw
        try:
            raw.settimeout(10)
            if self.tls is not None:
                client = self.tls.wrap_socket(raw, server_side=True)
                with self._lock:
                    self._socks.append(client)  # raw is detached now: stop() needs this one
            head = b""
            while b"\r\n\r\n" not in head:
                chunk = client.recv(4096)
                if not chunk:
                    return
                head += chunk
            line = head.split(b"\r\n", 1)[0]
            method, _, rest = line.partition(b" ")
            if method.upper() != b"CONNECT":
                with self._lock:
                    self.requests.append(line)
                client.sendall(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")
                return
            target = rest.split(b" ", 1)[0].decode("ascii")
            host, _, port = target.rpartition(":")
            with self._lock:
                self.targets.append(target)
            upstream = socket.create_connection((self._address(host.strip("[]")), int(port)), 10)
            with self._lock:
                self._socks.append(upstream)
            client.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
            extra = head.split(b"\r\n\r\n", 1)[1]
            if extra:
                self._forward_chunk(upstream, extra, up=True)
            self._pump(client, upstream)
        except (OSError, ssl.SSLError, ValueError) as exc:
            self.errors.append(exc)
        finally:
            with contextlib.suppress(OSError):
                client.close()

    def _forward_chunk(self, dst: socket.socket, data: bytes, *, up: bool) -> None:
        with self._lock:
            (self._up if up else self._down).extend(data)
        dst.sendall(data)

    def _pump(self, client: socket.socket, upstream: socket.socket) -> None:
        """Relay both directions in this one thread (an SSLSocket is not safe to read and write
        from two threads at once)."""
        peers = {client: upstream, upstream: client}
        try:
            while True:
                ready = [s for s in peers if isinstance(s, ssl.SSLSocket) and s.pending()]
                if not ready:
                    ready, _, _ = select.select(list(peers), [], [], 10)
                    if not ready:
                        return
                for src in ready:
                    data = src.recv(65536)
                    if not data:
                        return
                    self._forward_chunk(peers[src], data, up=src is client)
        except (OSError, ssl.SSLError):
            pass
        finally:
            for s in (upstream, client):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)

    def start(self) -> ConnectProxy:
        self._acceptor.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        with contextlib.suppress(OSError):
            self._sock.shutdown(socket.SHUT_RDWR)  # close() alone does not wake accept()
        with contextlib.suppress(OSError):
            self._sock.close()
        with self._lock:
            socks = list(self._socks)
        for s in socks:
            with contextlib.suppress(OSError):
                socket.socket.shutdown(s, socket.SHUT_RDWR)  # plain shutdown, even for TLS
            with contextlib.suppress(OSError):
                s.close()
        self._acceptor.join(timeout=5)
        for t in self._threads:
            t.join(timeout=5)

    def __enter__(self) -> ConnectProxy:
        self._names = local_names(PROXY_NAME)
        self._names.__enter__()
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()
        if self._names is not None:
            self._names.__exit__(None, None, None)
            self._names = None
