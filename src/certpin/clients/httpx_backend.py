"""The network backend of certpin's httpx transports: a clear-text stream judges right before
every write, under the policy in force at that moment.

The transport guard judges a request when httpx hands it over (:mod:`certpin.clients.httpx`),
before httpcore connects; a policy swapped into the context while the TCP connection is being
made (a signed update, :mod:`certpin.tls.swap`) could pin the host after that and before the
first byte is written (review 10n). httpcore writes every byte through its network backend's
streams (``httpcore.NetworkBackend``/``AsyncNetworkBackend``, public httpcore API): the pool's
backend is wrapped so that each plain stream judges, before every ``write``, the host it was
dialled to (bytes to it are clear text) and, for the request being sent in this thread or task,
an ``http://`` URL's host (a proxy forwards such a request to it in clear text) and a proxy that
is not ``https://``: one policy lookup per host. A stream upgraded by ``start_tls`` is TLS,
judged by the pinning context; it still judges, before every write, the request's ``http://``
URL host that an ``https://`` proxy forwards in clear text beyond it (review 10q). On a
refusal the stream is closed, nothing is written, and
:class:`~certpin.clients.PinnedRequestError` is raised.

httpx gives no public way to set the backend of the pool it builds: certpin replaces the
``_network_backend`` of the transport's ``_pool`` (httpx >= 0.27, httpcore 1.x), and refuses to
make the client (fail closed) when either is missing.
"""

from __future__ import annotations

import contextvars
import ssl
from collections.abc import Callable, Iterable
from typing import Any

import httpcore
import httpx

from ._common import PinnedRequestError, RequestGuard

__all__ = ["CURRENT_REQUEST", "guard_async_transport", "guard_transport"]

#: The request (and its transport's proxy) being sent in this thread or task, set by the
#: transport guard around ``handle_request``; None outside a request (a pooled HTTP/2
#: connection's window updates while a body is read, closing frames).
CURRENT_REQUEST: contextvars.ContextVar[tuple[httpx.Request, httpx.Proxy | None] | None] = (
    contextvars.ContextVar("certpin_httpx_request", default=None)
)

Judge = Callable[[], None]


def _judge_for(guard: RequestGuard, host: str | None) -> Judge:
    """The judge of a plain stream dialled to ``host`` (None: a Unix socket): the hosts its bytes
    reach in clear text, each refused when the policy in force pins it (one lookup each): the
    host dialled and, for the request being sent, an ``http://`` URL's host (direct, or forwarded
    by a proxy) and a proxy that is not ``https://``. What no swap changes (headers, TLS name
    overrides) was judged when the transport took the request."""

    def judge() -> None:
        if host is not None:
            guard.check_plain(host)
        current = CURRENT_REQUEST.get()
        if current is None:
            return
        request, proxy = current
        url = request.url
        if url.scheme != "https":
            named = url.raw_host.decode("ascii", "replace")
            if named != host:
                guard.check_plain(named, url=url)
        if proxy is not None and proxy.url.scheme != "https":
            dialled = proxy.url.raw_host.decode("ascii", "replace")
            if dialled != host:
                guard.check_plain(dialled, url=proxy.url)

    return judge


class _Stream(httpcore.NetworkStream):
    def __init__(self, inner: httpcore.NetworkStream, judge: Judge, tls_judge: Judge) -> None:
        self._inner = inner
        self._judge = judge
        self._tls_judge = tls_judge

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(max_bytes, timeout)

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        try:
            self._judge()
        except BaseException:
            self._inner.close()
            raise
        self._inner.write(buffer, timeout)

    def close(self) -> None:
        self._inner.close()

    def start_tls(self, ssl_context: ssl.SSLContext, server_hostname: str | None = None,
                  timeout: float | None = None) -> httpcore.NetworkStream:
        # The TLS stream is judged by the pinning context; what crosses it in clear text to
        # a host beyond (a plain request an https proxy forwards) is judged at every write
        # too (review 10q).
        tls = self._inner.start_tls(ssl_context, server_hostname, timeout)
        return _Stream(tls, self._tls_judge, self._tls_judge)

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class _AsyncStream(httpcore.AsyncNetworkStream):
    def __init__(self, inner: httpcore.AsyncNetworkStream, judge: Judge, tls_judge: Judge) -> None:
        self._inner = inner
        self._judge = judge
        self._tls_judge = tls_judge

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return await self._inner.read(max_bytes, timeout)

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        try:
            self._judge()
        except BaseException:
            await self._inner.aclose()
            raise
        await self._inner.write(buffer, timeout)

    async def aclose(self) -> None:
        await self._inner.aclose()

    async def start_tls(self, ssl_context: ssl.SSLContext, server_hostname: str | None = None,
                        timeout: float | None = None) -> httpcore.AsyncNetworkStream:
        # The TLS stream is judged by the pinning context; what crosses it in clear text to
        # a host beyond (a plain request an https proxy forwards) is judged at every write
        # too (review 10q).
        tls = await self._inner.start_tls(ssl_context, server_hostname, timeout)
        return _AsyncStream(tls, self._tls_judge, self._tls_judge)

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class _Backend(httpcore.NetworkBackend):
    def __init__(self, inner: httpcore.NetworkBackend, guard: RequestGuard) -> None:
        self._inner = inner
        self._guard = guard

    def connect_tcp(self, host: str, port: int, timeout: float | None = None,
                    local_address: str | None = None,
                    socket_options: Iterable[Any] | None = None) -> httpcore.NetworkStream:
        stream = self._inner.connect_tcp(host, port, timeout, local_address, socket_options)
        return _Stream(stream, _judge_for(self._guard, host), _judge_for(self._guard, None))

    def connect_unix_socket(self, path: str, timeout: float | None = None,
                            socket_options: Iterable[Any] | None = None,
                            ) -> httpcore.NetworkStream:
        stream = self._inner.connect_unix_socket(path, timeout, socket_options)
        return _Stream(stream, _judge_for(self._guard, None), _judge_for(self._guard, None))

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


class _AsyncBackend(httpcore.AsyncNetworkBackend):
    def __init__(self, inner: httpcore.AsyncNetworkBackend, guard: RequestGuard) -> None:
        self._inner = inner
        self._guard = guard

    async def connect_tcp(self, host: str, port: int, timeout: float | None = None,
                          local_address: str | None = None,
                          socket_options: Iterable[Any] | None = None,
                          ) -> httpcore.AsyncNetworkStream:
        stream = await self._inner.connect_tcp(host, port, timeout, local_address, socket_options)
        return _AsyncStream(stream, _judge_for(self._guard, host),
                            _judge_for(self._guard, None))

    async def connect_unix_socket(self, path: str, timeout: float | None = None,
                                  socket_options: Iterable[Any] | None = None,
                                  ) -> httpcore.AsyncNetworkStream:
        stream = await self._inner.connect_unix_socket(path, timeout, socket_options)
        return _AsyncStream(stream, _judge_for(self._guard, None),
                            _judge_for(self._guard, None))

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


def _pool_of(transport: object) -> Any:
    """The httpcore pool of an httpx transport, or None for a transport that makes no network
    connection (httpx's WSGI/ASGI transports)."""
    if isinstance(transport, httpx.WSGITransport | httpx.ASGITransport):
        return None
    pool = getattr(transport, "_pool", None)
    if pool is None or not hasattr(pool, "_network_backend"):
        raise PinnedRequestError(
            f"cannot guard the writes of this httpx transport ({type(transport).__name__}): "
            "this httpx/httpcore version does not have the connection pool certpin wraps "
            "(transport._pool._network_backend); refusing rather than sending unjudged"
        )
    return pool


def guard_transport(transport: httpx.BaseTransport, guard: RequestGuard) -> None:
    """Wrap the network backend of ``transport``'s pool (see the module).

    Raises:
        PinnedRequestError: the transport has no pool or backend certpin knows (fail closed).
    """
    pool = _pool_of(transport)
    if pool is None:
        return
    backend = pool._network_backend
    if not isinstance(backend, httpcore.NetworkBackend):
        raise PinnedRequestError(
            f"cannot guard the writes of an httpx pool whose backend is {type(backend).__name__}"
        )
    if not isinstance(backend, _Backend):
        pool._network_backend = _Backend(backend, guard)


def guard_async_transport(transport: httpx.AsyncBaseTransport, guard: RequestGuard) -> None:
    """:func:`guard_transport` for an :class:`httpx.AsyncClient`'s transport."""
    pool = _pool_of(transport)
    if pool is None:
        return
    backend = pool._network_backend
    if not isinstance(backend, httpcore.AsyncNetworkBackend):
        raise PinnedRequestError(
            f"cannot guard the writes of an httpx pool whose backend is {type(backend).__name__}"
        )
    if not isinstance(backend, _AsyncBackend):
        pool._network_backend = _AsyncBackend(backend, guard)
