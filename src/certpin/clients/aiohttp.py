"""aiohttp with pinning: :func:`pinned_session` (an :class:`aiohttp.ClientSession`).

The session's :class:`aiohttp.TCPConnector` holds the pinning context (``ssl=context``), so every
TLS connection it opens checks the policy on asyncio's ``SSLObject`` path: direct, through an
HTTP CONNECT proxy (``proxy=`` or ``HTTPS_PROXY`` with ``trust_env=True``; the TLS inside the tunnel
is the origin's), and the TLS to an ``https://`` proxy. aiohttp pools connections per
(host, port, ssl, proxy), never across host names.

The session's request class checks every request and every redirect hop before it is sent:
``ssl=False``, a ``Fingerprint`` or another ``SSLContext`` per request (which aiohttp would use
instead of the connector's context), a ``server_hostname`` override, a plain ``http://`` request to
a pinned host and a ``Host`` header naming another host are refused with
:class:`~certpin.clients.PinnedRequestError`.

Every plain (clear-text) connection the connector makes judges again right before each write,
under the policy in force then (a policy swap, :mod:`certpin.tls.swap`, can land while
connecting or before aiohttp's body task writes): the host dialled (the proxy, else the origin)
and the origin of a plain request a proxy forwards. aiohttp has no public hook for this: the
connector's protocol factory (``TCPConnector._factory``, a ``functools.partial`` of
``aiohttp.client_proto.ResponseHandler``) is replaced, and the session is refused when it is not
what certpin knows (fail closed).

Needs ``pip install 'certpin[aiohttp]'`` (aiohttp >= 3.9).
"""

from __future__ import annotations

import contextvars
import functools
import ssl
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import aiohttp

from ._common import GuardedTransport, PinnedRequestError, RequestGuard, resolve_context

if TYPE_CHECKING:
    from ..policy import PinPolicy

__all__ = ["pinned_session"]


def _judge(guard: RequestGuard, req: aiohttp.ClientRequest) -> None:
    """The guard on a request as aiohttp will make it: the URL as yarl parsed it (the connector
    dials ``url.raw_host`` and takes TLS from the scheme), its headers, the TLS name override,
    and its proxy (``proxy=``, or from the environment with ``trust_env``: an ``http://`` proxy
    is reached in clear text, ``CONNECT`` and ``Proxy-Authorization``, so it is refused when its
    host is pinned)."""
    guard.check(
        req.url.scheme, req.url.raw_host, req.headers, server_hostname=req.server_hostname,
        url=req.url,
    )
    if req.proxy is not None:
        scheme = "https" if req.proxy.scheme == "https" else "http"
        guard.check(scheme, req.proxy.raw_host, url=req.proxy)


def _request_class(ctx: ssl.SSLContext, guard: RequestGuard) -> type[aiohttp.ClientRequest]:
    class PinnedClientRequest(aiohttp.ClientRequest):
        """Refuses, before connecting, what would bypass the connector's pinning context."""

        def __init__(self, method: str, url: Any, *args: Any, **kwargs: Any) -> None:
            ssl_arg = kwargs.get("ssl", True)
            if ssl_arg is not True and ssl_arg is not None and ssl_arg is not ctx:
                raise PinnedRequestError(
                    f"ssl={ssl_arg!r} is refused by a pinned aiohttp session: aiohttp would use "
                    "it instead of the pinning context (no pins checked)"
                )
            super().__init__(method, url, *args, **kwargs)  # builds only; nothing is sent
            _judge(guard, self)

        async def send(self, conn: Any) -> Any:
            # Judged again right before the request is written: client middlewares (aiohttp
            # >= 3.12) may change the URL, headers or proxy after the request was built.
            _judge(guard, self)
            response = await super().send(conn)
            # What the WebSocket class judges again at every write (review 10n): the proxy.
            response.certpin_proxy = self.proxy  # type: ignore[attr-defined]
            return response

    return PinnedClientRequest


#: The request the connector is connecting for in this task (set by ``PinnedConnector.connect``):
#: what the protocol of each new connection reads to know the hosts it reaches in clear text.
_CONNECTING: contextvars.ContextVar[aiohttp.ClientRequest | None] = contextvars.ContextVar(
    "certpin_aiohttp_connecting", default=None
)


def _plain_hosts(req: aiohttp.ClientRequest | None, *, tls: bool) -> list[tuple[str | None, Any]]:
    """The hosts a connection made for ``req`` carries clear text to, as ``(host, url)``: on a
    plain connection the host dialled (the proxy when there is one, else the origin); on a plain
    or TLS connection to a proxy, the origin of a plain request it forwards. ``[(None, None)]``
    (refused) for a plain connection made for no known request."""
    if req is None:
        return [] if tls else [(None, None)]
    hosts: list[tuple[str | None, Any]] = []
    if not tls:
        dialled = req.url if req.proxy is None else req.proxy
        hosts.append((dialled.raw_host, dialled))
    if req.proxy is not None and req.url.scheme not in ("https", "wss"):
        hosts.append((req.url.raw_host, req.url))
    return hosts


def _guarded_factory(guard: RequestGuard, factory: Any) -> Any:
    """aiohttp's protocol factory (``functools.partial(ResponseHandler, loop=loop)``) made to
    build protocols whose plain transport judges before every write.

    Raises:
        PinnedRequestError: the connector's factory is not the one certpin knows (fail closed).
    """
    from aiohttp.client_proto import ResponseHandler

    if not (isinstance(factory, functools.partial) and factory.func is ResponseHandler):
        raise PinnedRequestError(
            "this aiohttp's connector makes its connections in a way certpin does not know; "
            "refusing to make a session whose clear-text writes are not judged"
        )

    class PinnedResponseHandler(ResponseHandler):
        """A connection whose transport, when plain, judges its clear-text hosts before every
        write (:class:`~certpin.clients._common.GuardedTransport`): the request line and
        headers, a body written by aiohttp's ``write_bytes`` task, and the ``CONNECT`` line
        aiohttp sends a proxy with its own request. A TLS transport is judged by the TLS layer
        (the pinning context); it is wrapped only to a proxy that forwards a plain request (the
        origin then gets it in clear text)."""

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            # made in the connecting task (loop.create_connection / start_tls call the factory)
            self.certpin_request = _CONNECTING.get()
            self.certpin_hosts: list[tuple[str | None, Any]] = []

        def connection_made(self, transport: Any) -> None:
            tls = transport.get_extra_info("ssl_object") is not None
            self.certpin_hosts = _plain_hosts(self.certpin_request, tls=tls)
            if self.certpin_hosts:
                transport = GuardedTransport(transport, self._certpin_judge)
            super().connection_made(transport)

        def _certpin_judge(self) -> None:
            for host, url in self.certpin_hosts:
                guard.check_plain(host, url=url)

    return functools.partial(PinnedResponseHandler, *factory.args, **factory.keywords)


def _connector_class(guard: RequestGuard) -> type[aiohttp.TCPConnector]:
    class PinnedConnector(aiohttp.TCPConnector):
        """Judges every request again before it connects (and so before a ``CONNECT`` line is
        written to a proxy): the request a middleware handed on is the one connected for.
        Every plain connection it makes judges again right before each write (review 10o): a
        policy swap that lands while connecting, or before aiohttp's body task writes,
        applies."""

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self._factory = _guarded_factory(guard, getattr(self, "_factory", None))

        async def connect(self, req: aiohttp.ClientRequest, *args: Any, **kwargs: Any) -> Any:
            _judge(guard, req)
            token = _CONNECTING.set(req)
            try:
                conn = await super().connect(req, *args, **kwargs)
            finally:
                _CONNECTING.reset(token)
            protocol = conn.protocol
            if protocol is not None and not hasattr(protocol, "certpin_hosts"):
                # a connection not made by the guarded factory: fail closed
                conn.close()
                raise PinnedRequestError("cannot guard this aiohttp connection's clear-text writes")
            return conn

    return PinnedConnector


def _ws_response_class(guard: RequestGuard) -> type[aiohttp.ClientWebSocketResponse]:
    class PinnedWebSocketResponse(aiohttp.ClientWebSocketResponse):
        """A WebSocket whose frame writer's transport judges the URL's host before every write
        (:class:`~certpin.clients._common.GuardedTransport`): frames, pings, pongs, heartbeats
        and closing frames alike. A plain ``ws://`` connection has no TLS to judge again after
        a policy swap, so a swap that pins its host would otherwise leave it writing in clear
        text (reviews 10l, 10m). A ``wss://`` connection is judged again by its TLS too
        (:func:`certpin.tls.hooks.rejudge`)."""

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            writer = getattr(self, "_writer", None)
            if writer is None or getattr(writer, "transport", None) is None:
                # an aiohttp certpin does not know: fail closed
                self._certpin_abort()
                raise PinnedRequestError("cannot guard this aiohttp WebSocket's frame writer")
            writer.transport = GuardedTransport(writer.transport, self._certpin_judge)

        def _certpin_abort(self) -> None:
            response = getattr(self, "_response", None)
            if response is not None:
                response.close()

        def _certpin_judge(self) -> None:
            response = getattr(self, "_response", None)
            url = getattr(response, "url", None)
            if url is None or not hasattr(response, "certpin_proxy"):
                # an aiohttp certpin does not know: fail closed
                raise PinnedRequestError("cannot tell which host this WebSocket is connected to")
            guard.check(url.scheme, url.raw_host, url=url)
            proxy = getattr(response, "certpin_proxy", None)
            if proxy is not None and url.scheme in ("ws", "http"):
                # a plain WebSocket through a proxy: every frame crosses it in clear text
                scheme = "https" if proxy.scheme == "https" else "http"
                guard.check(scheme, proxy.raw_host, url=proxy)

    return PinnedWebSocketResponse


def pinned_session(
    policy: PinPolicy | ssl.SSLContext,
    *,
    cafile: str | None = None,
    capath: str | None = None,
    cadata: str | bytes | None = None,
    base: ssl.SSLContext | None = None,
    on_report: Callable[[Any], None] | None = None,
    connector_kwargs: dict[str, Any] | None = None,
    **session_kwargs: Any,
) -> aiohttp.ClientSession:
    """An :class:`aiohttp.ClientSession` whose every TLS connection checks ``policy``.

    Call it from a coroutine (aiohttp binds the session to the running loop); use it as
    ``async with pinned_session(policy) as session: ...``.

    Args:
        policy: a :class:`certpin.PinPolicy`, or a context from :func:`certpin.create_ssl_context`.
        cafile, capath, cadata, base, on_report: how to build the context (with a policy only).
        connector_kwargs: extra :class:`aiohttp.TCPConnector` arguments (``limit``, ...);
            ``ssl`` is refused.
        **session_kwargs: :class:`aiohttp.ClientSession` arguments (``trust_env=True`` for
            ``HTTPS_PROXY``, ``proxy=``, ``headers``, ``timeout`` ...); ``connector``,
            ``request_class`` and ``ws_response_class`` are refused (they would replace the
            pinning ones: the WebSocket class judges its host again before every frame sent).

    Returns:
        The session. A failed pin check raises
        :class:`aiohttp.ClientConnectorCertificateError` whose ``certificate_error`` (and
        ``__cause__``) is :class:`certpin.PinMismatchError`; nothing of the request is sent.
        Requests raise :class:`~certpin.clients.PinnedRequestError` as described in the module.

    Raises:
        certpin.clients.PinnedRequestError: ``connector``, ``request_class``,
            ``ws_response_class`` or a connector ``ssl`` given; an aiohttp whose connector's
            protocol factory certpin does not know (its clear-text writes could not be judged).
        certpin.PolicyError: from :func:`certpin.create_ssl_context`.
        RuntimeError: no running event loop.
    """
    for key in ("connector", "request_class", "ws_response_class"):
        if key in session_kwargs:
            raise PinnedRequestError(
                f"{key}= is refused by pinned_session: it would replace the pinning one"
            )
    conn_kw = dict(connector_kwargs or {})
    if "ssl" in conn_kw:
        raise PinnedRequestError("connector ssl= is refused: the connector's ssl is the pinning "
                                 "context")
    ctx, _ = resolve_context(
        policy, cafile=cafile, capath=capath, cadata=cadata, base=base, on_report=on_report
    )
    guard = RequestGuard(ctx)
    connector = _connector_class(guard)(ssl=ctx, **conn_kw)
    return aiohttp.ClientSession(
        connector=connector, request_class=_request_class(ctx, guard),
        ws_response_class=_ws_response_class(guard), **session_kwargs,
    )
