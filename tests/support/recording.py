"""A recording server for the differential client tests, and a loopback-only network.

:class:`RecordingServer` listens on 127.0.0.1 and, where the machine has it, on ::1 (the same port
number on both), with one TLS port and one plain-TCP port. Both ports recognise what arrives: a TLS
ClientHello is handshaken (an SNI callback records the ``server_name`` the client sent), anything
else is clear text and recorded as such, so plain ``http://`` sent to the TLS port is caught too.
For every connection it records a :class:`ConnRecord`: the local address and port the connection
came to, the SNI, whether the TLS handshake completed, and every application byte received (the
request line, the ``Host`` header ...). Bytes of a TLS handshake are not application bytes.

It answers a request with ``302 Found`` to :attr:`RecordingServer.location` when that is set (to
drive redirect hops of HTTP and WebSocket clients), completes a WebSocket upgrade, and otherwise
answers ``200 OK``; then it closes the connection.

:func:`loopback_only` keeps real clients on this machine: names resolve only from a fixed map,
numeric hosts as the C library parses them, and any ``connect`` to an address other than
127.0.0.1 / ::1 (or ::ffff:127.0.0.1, which is 127.0.0.1) fails with ``ENETUNREACH``, as for an
unrouted NAT64 or 6to4 address, before a packet leaves.
"""

from __future__ import annotations

import base64
import contextlib
import errno
import hashlib
import ipaddress
import selectors
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

_WS_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
_TLS_HANDSHAKE_RECORD = 0x16


@dataclass
class ConnRecord:
    """What one connection to a :class:`RecordingServer` brought.

    Attributes:
        port_kind: ``"tls"`` or ``"plain"``: which of the server's ports it came to.
        local: ``(address, port)`` the connection came to (the server's side).
        tls: a TLS ClientHello arrived (else the first bytes were clear text).
        sni: the server name the ClientHello carried (None: no SNI, e.g. an IP literal).
        handshake: the TLS handshake completed on the server's side.
        data: every application byte received (clear text, or decrypted after the handshake).
        error: the error that ended the connection on the server's side, if any.
    """

    port_kind: str
    local: tuple[str, int]
    tls: bool = False
    sni: str | None = None
    handshake: bool = False
    data: bytes = b""
    error: str = ""

    @property
    def first_line(self) -> bytes:
        return self.data.split(b"\r\n", 1)[0]

    @property
    def host_header(self) -> bytes | None:
        for line in self.data.split(b"\r\n\r\n", 1)[0].split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"host":
                return value.strip()
        return None

    def describe(self) -> str:
        how = f"TLS (SNI {self.sni!r})" if self.tls else "clear text"
        return (f"{how} to {self.local[0]}:{self.local[1]} ({self.port_kind} port), "
                f"{len(self.data)} application bytes, first line {self.first_line!r}, "
                f"Host {self.host_header!r}: {self.data[:160]!r}")


def _bind_pair() -> list[socket.socket]:
    """Listening sockets on 127.0.0.1 and ::1 with one port number (only 127.0.0.1 if the
    machine has no ::1)."""
    for _ in range(50):
        v4 = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        v4.bind(("127.0.0.1", 0))
        port = v4.getsockname()[1]
        if not socket.has_ipv6:
            v4.listen(64)
            return [v4]
        v6 = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
        v6.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        try:
            v6.bind(("::1", port))
        except OSError as exc:
            v6.close()
            if exc.errno == errno.EADDRINUSE:
                v4.close()
                continue  # that port is taken on ::1: try another pair
            v4.listen(64)
            return [v4]  # no ::1 here
        v4.listen(64)
        v6.listen(64)
        return [v4, v6]
    raise OSError("no port free on both 127.0.0.1 and ::1")


class RecordingServer:
    """TLS and plain-TCP listeners on 127.0.0.1 (and ::1) recording every connection.

    Args:
        context: the server-side context (its certificate chain loaded); an SNI callback is
            installed on it.

    Attributes:
        tls_port, plain_port: the two port numbers (each bound on every address in
            ``addresses``).
        addresses: ``["127.0.0.1", "::1"]`` or ``["127.0.0.1"]``.
        location: when set, every request is answered with a redirect to it.
        records: one :class:`ConnRecord` per accepted connection, in order.
    """

    def __init__(self, context: ssl.SSLContext) -> None:
        self.context = context
        self.context.sni_callback = self._sni
        self.location: str | None = None
        self.records: list[ConnRecord] = []
        self._by_conn: dict[int, ConnRecord] = {}
        self._sentinels: dict[tuple[str, int], threading.Event] = {}
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._open: list[socket.socket] = []
        tls, plain = _bind_pair(), _bind_pair()
        self.tls_port: int = tls[0].getsockname()[1]
        self.plain_port: int = plain[0].getsockname()[1]
        self.addresses = [s.getsockname()[0] for s in tls if len(plain) == len(tls)] or [
            "127.0.0.1"
        ]
        self._listeners = [(s, "tls") for s in tls] + [(s, "plain") for s in plain]
        self._selector = selectors.DefaultSelector()
        for sock, kind in self._listeners:
            sock.setblocking(False)
            self._selector.register(sock, selectors.EVENT_READ, kind)
        self._stop = threading.Event()
        self._acceptor = threading.Thread(target=self._accept_loop, daemon=True)

    # ------------------------------------------------------------ bookkeeping
    def mark(self) -> int:
        """An index into :attr:`records`: pass it to :meth:`since` after the client ran."""
        with self._lock:
            return len(self.records)

    def since(self, mark: int, settle: float = 5.0) -> list[ConnRecord]:
        """The records of the connections accepted after ``mark``, once each was served to its
        end (or ``settle`` seconds passed).

        A connection the client made may still wait in a listener's accept queue: a sentinel
        connection to every listener is accepted (queues are first in, first out) before the
        records are read, so none is missed or counted for the next client.
        """
        deadline = time.monotonic() + settle
        self._barrier(deadline)
        with self._lock:
            threads = list(self._threads)
        for t in threads:
            t.join(timeout=max(0.0, deadline - time.monotonic()))
        with self._lock:
            return list(self.records[mark:])

    def _barrier(self, deadline: float) -> None:
        sentinels = []
        for listener, _ in self._listeners:
            sock = socket.socket(listener.family, socket.SOCK_STREAM)
            address = listener.getsockname()[:2]
            sock.bind((address[0], 0))  # known before connecting: the acceptor may be quick
            with self._lock:
                self._sentinels[sock.getsockname()[:2]] = threading.Event()
            sentinels.append(sock)
            sock.connect(address)
        try:
            with self._lock:
                events = list(self._sentinels.values())
            for event in events:
                event.wait(max(0.0, deadline - time.monotonic()))
        finally:
            for sock in sentinels:
                sock.close()
            with self._lock:
                self._sentinels.clear()

    # ------------------------------------------------------------ serving
    def _sni(self, conn: Any, name: str | None, _ctx: ssl.SSLContext) -> None:
        with self._lock:
            rec = self._by_conn.get(id(conn))
        if rec is not None:
            rec.sni = name

    def _accept_loop(self) -> None:
        while not self._stop.is_set():
            for key, _ in self._selector.select(timeout=0.2):
                try:
                    raw, _addr = key.fileobj.accept()  # type: ignore[union-attr]
                except (BlockingIOError, OSError):
                    continue
                peer = tuple(_addr[:2])
                with self._lock:
                    sentinel = self._sentinels.get(peer)  # type: ignore[arg-type]
                if sentinel is not None:  # see since(): not a client connection
                    raw.close()
                    sentinel.set()
                    continue
                raw.setblocking(True)
                rec = ConnRecord(key.data, tuple(raw.getsockname()[:2]))  # type: ignore[arg-type]
                t = threading.Thread(target=self._serve, args=(raw, rec), daemon=True)
                with self._lock:
                    self.records.append(rec)
                    self._threads.append(t)
                    self._open.append(raw)
                t.start()

    def _serve(self, raw: socket.socket, rec: ConnRecord) -> None:
        stream: socket.socket = raw
        try:
            raw.settimeout(3)
            first = raw.recv(1, socket.MSG_PEEK)
            if not first:
                return
            if first[0] == _TLS_HANDSHAKE_RECORD:
                rec.tls = True
                conn = self.context.wrap_socket(
                    raw, server_side=True, do_handshake_on_connect=False
                )
                stream = conn
                with self._lock:
                    self._by_conn[id(conn)] = rec
                    self._open.append(conn)
                conn.do_handshake()
                rec.handshake = True
            self._converse(stream, rec)
        except (OSError, ssl.SSLError, ValueError) as exc:
            rec.error = repr(exc)
        finally:
            with contextlib.suppress(OSError):
                stream.close()
            with contextlib.suppress(OSError):
                raw.close()

    def _read(self, stream: socket.socket, rec: ConnRecord) -> bytes:
        data = stream.recv(65536)
        rec.data += data
        return data

    def _converse(self, stream: socket.socket, rec: ConnRecord) -> None:
        while b"\r\n\r\n" not in rec.data:
            if not self._read(stream, rec):
                return
        head = rec.data.split(b"\r\n\r\n", 1)[0]
        key = None
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"sec-websocket-key":
                key = value.strip()
        location = self.location
        if location is not None:
            stream.sendall(
                b"HTTP/1.1 302 Found\r\nLocation: " + location.encode("utf-8", "surrogateescape")
                + b"\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            )
        elif key is not None:
            accept = base64.b64encode(hashlib.sha1(key + _WS_GUID).digest())
            stream.sendall(
                b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                b"Connection: Upgrade\r\nSec-WebSocket-Accept: " + accept + b"\r\n\r\n"
            )
        else:
            stream.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 8\r\nConnection: close\r\n\r\n"
                           b"recorded")
        stream.settimeout(0.5)  # whatever else the client sends (a WebSocket frame ...)
        with contextlib.suppress(OSError, ssl.SSLError):
            while self._read(stream, rec):
                pass

    # ------------------------------------------------------------ lifecycle
    def start(self) -> RecordingServer:
        self._acceptor.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._acceptor.join(timeout=5)
        for sock, _ in self._listeners:
            with contextlib.suppress(OSError):
                sock.close()
        with self._lock:
            opened = list(self._open)
        for s in opened:
            with contextlib.suppress(OSError):
                socket.socket.shutdown(s, socket.SHUT_RDWR)  # wakes a reader, even under TLS
        for t in list(self._threads):
            t.join(timeout=5)
        self._selector.close()

    def __enter__(self) -> RecordingServer:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()


# ---------------------------------------------------------------- loopback-only network
_LOOPBACK = {ipaddress.ip_address(a) for a in ("127.0.0.1", "::1", "::ffff:127.0.0.1")}


@dataclass
class LoopbackNet:
    """What :func:`loopback_only` let through and what it stopped."""

    names: dict[str, str]
    blocked: list[str] = field(default_factory=list)


@contextlib.contextmanager
def loopback_only(names: dict[str, str]) -> Iterator[LoopbackNet]:
    """Inside the block, no client can reach beyond this machine.

    ``socket.getaddrinfo`` answers a numeric host as the C library parses it (``127.1``,
    ``0x7f.0.0.1``, ``::ffff:127.0.0.1`` ...), a name (case-insensitive, one trailing dot dropped)
    from ``names`` (name -> address), and any other name with ``EAI_NONAME`` (no DNS query).
    ``socket.socket.connect``/``connect_ex`` (what every client and asyncio use) refuse any
    address but 127.0.0.1, ::1 and ::ffff:127.0.0.1 with ``ENETUNREACH``.
    """
    net = LoopbackNet({k.lower(): v for k, v in names.items()})
    real_gai = socket.getaddrinfo
    real_connect = socket.socket.connect
    real_connect_ex = socket.socket.connect_ex

    def getaddrinfo(host: Any, port: Any, family: int = 0, type: int = 0,
                    proto: int = 0, flags: int = 0) -> Any:
        text = host.decode("ascii", "replace") if isinstance(host, bytes) else host
        if text is None:
            return real_gai(host, port, family, type, proto, flags)
        try:
            return real_gai(host, port, family, type, proto, flags | socket.AI_NUMERICHOST)
        except (socket.gaierror, UnicodeError):
            pass
        try:  # as the socket module encodes a str host (IDNA 2003, fullwidth letters mapped)
            key = str(text).encode("idna").decode("ascii").lower()
        except UnicodeError:
            key = str(text).lower()
        key = key[:-1] if key.endswith(".") else key
        if key in net.names:
            return real_gai(net.names[key], port, family, type, proto, flags)
        net.blocked.append(f"resolve {text!r}")
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known (loopback_only)")

    def allowed(address: Any) -> bool:
        if not isinstance(address, tuple) or not address:
            return True  # AF_UNIX and friends: not the network
        try:
            ip = ipaddress.ip_address(str(address[0]).split("%")[0])
        except ValueError:
            return False
        return ip in _LOOPBACK

    def connect(self: socket.socket, address: Any) -> None:
        if self.family in (socket.AF_INET, socket.AF_INET6) and not allowed(address):
            net.blocked.append(f"connect {address!r}")
            raise OSError(errno.ENETUNREACH, f"{address!r} is off limits (loopback_only)")
        return real_connect(self, address)

    def connect_ex(self: socket.socket, address: Any) -> int:
        if self.family in (socket.AF_INET, socket.AF_INET6) and not allowed(address):
            net.blocked.append(f"connect {address!r}")
            return errno.ENETUNREACH
        return real_connect_ex(self, address)

    socket.getaddrinfo = getaddrinfo  # type: ignore[assignment]
    socket.socket.connect = connect  # type: ignore[method-assign]
    socket.socket.connect_ex = connect_ex  # type: ignore[method-assign]
    try:
        yield net
    finally:
        socket.getaddrinfo = real_gai
        socket.socket.connect = real_connect  # type: ignore[method-assign]
        socket.socket.connect_ex = real_connect_ex  # type: ignore[method-assign]
