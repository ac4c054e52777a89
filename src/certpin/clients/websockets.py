"""websockets with pinning: :func:`connect` wraps :func:`websockets.asyncio.client.connect`.

Every connection attempt (the first URI and every redirect hop websockets follows) is decided on
the URI **as websockets itself parsed it** (``websockets.uri.parse_uri``, which strips leading
whitespace and control characters and deletes tabs and newlines anywhere, so ``w\tss://`` is
``wss``): a secure URI gets the pinning context (``ssl=``) whatever its text looks like, a plain
one none; a plain ``ws://`` attempt to a pinned host, a ``server_hostname`` naming another host
than the URI's, and an ``additional_headers`` ``Host`` naming another host are refused before the
attempt connects. websockets itself refuses a ``wss://`` to ``ws://`` redirect
(:class:`websockets.exceptions.SecurityError`).

Proxies (websockets >= 15): the TLS to an ``https://`` proxy, given as ``proxy=`` or found in the
environment (``HTTPS_PROXY``, the default ``proxy=True``), uses the pinning context too
(``proxy_ssl``; websockets would otherwise make a default context, no pins); the TLS inside the
tunnel is the origin's, checked for the origin. An ``http://`` proxy is judged again right before
websockets writes ``CONNECT`` and ``Proxy-Authorization`` to it (a policy swap may land while
TCP connects): websockets has no hook there, so certpin replaces the module's
``HTTPProxyConnection`` with a subclass that behaves as websockets' own outside certpin's
attempts (see :func:`_guard_http_proxy_connections`).

Needs ``pip install 'certpin[websockets]'`` (websockets >= 13).
"""

from __future__ import annotations

import contextvars
import ssl
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, cast

from ..hostnames import is_ip
from ._common import GuardedTransport, PinnedRequestError, RequestGuard, resolve_context

if TYPE_CHECKING:
    from websockets.asyncio.client import connect as _connect

    from ..policy import PinPolicy

__all__ = ["connect"]


def connect(
    uri: str,
    policy: PinPolicy | ssl.SSLContext,
    *,
    cafile: str | None = None,
    capath: str | None = None,
    cadata: str | bytes | None = None,
    base: ssl.SSLContext | None = None,
    on_report: Callable[[Any], None] | None = None,
    **kwargs: Any,
) -> _connect:
    """Open a WebSocket connection to ``uri`` whose TLS checks ``policy``.

    Use it like websockets' own ``connect``: ``async with connect(uri, policy) as ws: ...`` or
    ``ws = await connect(uri, policy)``.

    Args:
        uri: ``wss://host[:port]/path`` (``ws://`` only to a host the policy does not pin).
        policy: a :class:`certpin.PinPolicy`, or a context from :func:`certpin.create_ssl_context`.
        cafile, capath, cadata, base, on_report: how to build the context (with a policy only).
        **kwargs: :func:`websockets.asyncio.client.connect` arguments. ``ssl`` and ``proxy_ssl``
            are refused (both are the pinning context), and so are ``proxy_server_hostname`` (it
            would check the proxy's pins for another name) and ``create_connection`` (a
            connection class can rewrite the opening handshake after certpin checked it, e.g.
            add a second ``Host``); ``server_hostname`` must name the URI's host; an
            ``additional_headers`` ``Host`` must name the URI's host.

    Returns:
        websockets' ``connect`` object (awaitable, async context manager, async iterator).
        A failed pin check raises :class:`certpin.PinMismatchError` itself (websockets does not
        wrap TLS errors); nothing of the opening handshake is sent.

    Raises:
        certpin.clients.PinnedRequestError: the refusals above, or ``ws://`` to a pinned host
            (for the first URI here; for a redirect hop when the connection is awaited); an
            ``http://`` proxy the policy in force pins right before ``CONNECT`` is written
            (when the connection is awaited; nothing is sent, the connection is aborted).
        certpin.PolicyError: from :func:`certpin.create_ssl_context`.
        ValueError: websockets cannot parse ``uri`` (:class:`websockets.exceptions.InvalidURI`).
    """
    from websockets.asyncio.client import connect as ws_connect

    for key in _REFUSED:
        if key in kwargs:
            raise PinnedRequestError(
                f"{key}= is refused by certpin's websockets connect: the TLS (to the server and "
                "to an https proxy) is the pinning context's, for the names in the URIs, and the "
                "opening handshake is websockets' own"
            )
    ctx, _ = resolve_context(
        policy, cafile=cafile, capath=capath, cadata=cadata, base=base, on_report=on_report
    )
    guard = RequestGuard(ctx)
    attempt: dict[str, Any] = {}  # what the current attempt dials: set by prepare()
    pinned = _pinned_connect_class(ws_connect, ctx, guard, attempt)(
        uri, create_connection=_connection_class(guard, attempt), **kwargs
    )
    pinned.certpin_factory = pinned.factory  # type: ignore[attr-defined]
    pinned.certpin_prepare()  # type: ignore[attr-defined]  # refuse now, not only when awaited; again before each attempt
    return pinned


def _connection_class(guard: RequestGuard, attempt: dict[str, Any]) -> Any:
    """websockets' ``ClientConnection`` whose transport, on a plain ``ws://`` connection, judges
    the URI's host before every write (:class:`~certpin.clients._common.GuardedTransport`):
    messages, pings, pongs, automatic pongs, keepalives and closing frames alike. A plain
    connection has no TLS to judge again after a policy swap, so a swap that pins its host would
    otherwise leave it writing in clear text (reviews 10l, 10m). Everything the attempt reached
    in clear text is judged: the URI's host, the address dialled (``host=``) and a plain proxy
    (review 10n). ``attempt`` holds what :func:`_pinned_connect_class`'s ``prepare`` judged for
    the attempt being opened; each connection keeps its own copy. A ``wss://`` connection is
    judged again by its TLS (:func:`certpin.tls.hooks.rejudge`)."""
    from websockets.asyncio.client import ClientConnection

    class PinnedClientConnection(ClientConnection):
        def connection_made(self, transport: Any) -> None:
            self.certpin_attempt = dict(attempt)
            guarded: Any = GuardedTransport(transport, self._certpin_judge)
            super().connection_made(guarded)

        def _certpin_judge(self) -> None:
            # ClientProtocol.uri (websockets >= 14; wsuri before)
            wsuri = getattr(self.protocol, "uri", None) or getattr(self.protocol, "wsuri", None)
            if wsuri is None:  # a websockets certpin does not know: fail closed
                raise PinnedRequestError("cannot tell which host this WebSocket is connected to")
            if wsuri.secure:
                return
            guard.check("ws", wsuri.host, url=f"ws://{wsuri.host}")
            seen = getattr(self, "certpin_attempt", None)
            if seen is None:  # connection_made never ran: fail closed
                raise PinnedRequestError("cannot tell where this WebSocket is connected")
            if seen.get("dial") is not None:
                guard.check("ws", str(seen["dial"]))
            proxy = seen.get("proxy")
            if proxy is not None and proxy.scheme != "https":
                guard.check("http", proxy.host, url=proxy.scheme + "://" + proxy.host)

    return PinnedClientConnection


def _proxy_of(conn: Any) -> Any:
    """The proxy websockets will use for ``conn``'s next attempt (a parsed
    ``websockets.proxy.Proxy``), resolved as websockets resolves it (``proxy=True``: from the
    environment, for this URI), or None."""
    proxy = getattr(conn, "proxy", None)
    kwargs = conn.create_connection_kwargs
    if proxy is None or kwargs.get("unix", False) or kwargs.get("sock") is not None:
        return None
    try:  # websockets >= 16
        from websockets.proxy import get_proxy, parse_proxy
    except ImportError:  # websockets 15
        from websockets.uri import get_proxy, parse_proxy  # type: ignore[attr-defined,no-redef]

    if proxy is True:
        proxy = get_proxy(conn.ws_uri)
        if proxy is None:
            return None
    return parse_proxy(proxy)


#: connect() arguments certpin refuses: the pinning context is the TLS to the server and to an
#: https proxy, for the names in the URIs; the opening handshake is websockets' own.
_REFUSED = ("ssl", "proxy_ssl", "proxy_server_hostname", "create_connection")

#: The method websockets' ``connect`` opens each attempt's connection in, from ``self.ws_uri``
#: and ``self.create_connection_kwargs``: ``open_tcp_connection`` (websockets >= 16),
#: ``create_connection`` (13 to 15).
_OPENERS = ("open_tcp_connection", "create_connection")


def _pinned_connect_class(
    base: type[_connect], ctx: ssl.SSLContext, guard: RequestGuard, attempt: dict[str, Any]
) -> type[_connect]:
    """websockets' ``connect`` whose every connection attempt is held to the pinning rules.

    websockets opens each attempt from ``self.ws_uri`` (its own parse of the first URI or of a
    redirect's ``Location``): the guard and the choice of context read that same object just
    before the attempt, so no spelling can be one thing to certpin and another to websockets.

    Raises:
        PinnedRequestError: this websockets has neither opener method (fail closed rather than
            connect without the checks).
    """
    opener = next((name for name in _OPENERS if callable(getattr(base, name, None))), None)
    if opener is None:
        raise PinnedRequestError(
            "this websockets version has no connection opener certpin knows "
            f"({', '.join(_OPENERS)}); refusing to connect without pinning"
        )

    def prepare(self: Any) -> None:
        ws_uri = self.ws_uri
        kwargs = self.create_connection_kwargs
        # Again before every attempt: create_connection_kwargs and factory are public
        # attributes websockets reads at each attempt, so what connect() refused must stay out.
        for key in ("proxy_server_hostname",):
            if key in kwargs:
                raise PinnedRequestError(
                    f"{key} is refused by certpin's websockets connect (set after connect())"
                )
        dial = kwargs.get("host")
        if dial is not None:
            # host= dials another address than the URI's: judged like a host (plain text to a
            # pinned one is refused), and, as open_connection, an IP address may be dialled
            # under the URI's name but another host name is refused.
            guard.check("wss" if ws_uri.secure else "ws", str(dial))
            if not is_ip(guard.normalize(str(dial))) and guard.normalize(
                str(dial)
            ) != guard.normalize(ws_uri.host):
                raise PinnedRequestError(
                    f"refusing host={dial!r} for {ws_uri.host}: two different host names leave "
                    "it in doubt which host is meant"
                )
        original = getattr(self, "certpin_factory", None)
        if original is not None and self.factory is not original:
            raise PinnedRequestError(
                "the connection factory was replaced after connect(): a connection class can "
                "rewrite the opening handshake after certpin checked it"
            )
        guard.check(
            "wss" if ws_uri.secure else "ws", ws_uri.host, self.additional_headers,
            server_hostname=kwargs.get("server_hostname"), url=self.uri,
        )
        if ws_uri.secure:
            kwargs["ssl"] = ctx
        else:
            kwargs.pop("ssl", None)
        proxy = _proxy_of(self)
        attempt.clear()
        attempt.update(dial=dial, proxy=proxy)
        if proxy is not None and proxy.scheme == "https":
            guard.check("https", proxy.host, url=proxy.scheme + "://" + proxy.host)
            kwargs["proxy_ssl"] = ctx
        else:
            kwargs.pop("proxy_ssl", None)
            if proxy is not None:
                # http:// and socks proxies are reached in clear text (CONNECT and
                # Proxy-Authorization, or the SOCKS handshake): refused when pinned.
                guard.check("http", proxy.host, url=proxy.scheme + "://" + proxy.host)

    async def open_pinned(self: Any) -> Any:
        prepare(self)
        proxy = attempt.get("proxy")
        if proxy is None or proxy.scheme != "http":
            return await getattr(base, opener)(self)
        # A plain http:// proxy: websockets writes CONNECT (and Proxy-Authorization) from its
        # HTTPProxyConnection.connection_made as soon as TCP is up; judge right before it.
        tunnel = _ProxyAttempt(guard)
        token = _PROXY_ATTEMPT.set(tunnel)
        try:
            connection = await getattr(base, opener)(self)
        finally:
            _PROXY_ATTEMPT.reset(token)
        if not tunnel.judged:  # websockets opened the tunnel some other way: fail closed
            connection.transport.abort()
            raise PinnedRequestError(
                "cannot judge the CONNECT line this websockets sends to an http:// proxy"
            )
        return connection

    _guard_http_proxy_connections()
    attrs = {opener: open_pinned, "certpin_prepare": prepare}
    return cast("type[_connect]", type("PinnedConnect", (base,), attrs))


class _ProxyAttempt:
    """What a connection attempt through a plain ``http://`` proxy judges its ``CONNECT`` with,
    and whether websockets' proxy protocol was judged (checked after the attempt)."""

    def __init__(self, guard: RequestGuard) -> None:
        self.guard = guard
        self.judged = False


#: The attempt through a plain http:// proxy being opened in this task (set by the opener).
_PROXY_ATTEMPT: contextvars.ContextVar[_ProxyAttempt | None] = contextvars.ContextVar(
    "certpin_websockets_proxy_attempt", default=None
)
_PATCH_LOCK = threading.Lock()


def _guard_http_proxy_connections() -> None:
    """Make websockets' ``HTTPProxyConnection`` (the protocol ``connect_http_proxy`` dials an
    ``http://`` proxy with, websockets >= 15, ``websockets/asyncio/client.py``) judge the proxy
    right before its ``connection_made`` writes ``CONNECT`` and ``Proxy-Authorization``.

    websockets offers no hook for that protocol: the module's name is replaced once by a
    subclass that does exactly what websockets' does unless the connecting task is one of
    certpin's (:data:`_PROXY_ATTEMPT` set), so other users of websockets are unaffected. The
    opener checks after each such attempt that the subclass judged it (fail closed).

    Raises:
        PinnedRequestError: this websockets dials proxies but has no ``HTTPProxyConnection``.
    """
    import websockets.asyncio.client as ws_client

    original = getattr(ws_client, "HTTPProxyConnection", None)
    if original is None:
        if hasattr(ws_client, "connect_http_proxy"):
            raise PinnedRequestError(
                "this websockets dials http:// proxies in a way certpin does not know; refusing "
                "to connect without judging the CONNECT line"
            )
        return  # websockets < 15: no proxies
    if getattr(original, "certpin_guarded", False):
        return
    with _PATCH_LOCK:
        original = ws_client.HTTPProxyConnection
        if getattr(original, "certpin_guarded", False):
            return

        class HTTPProxyConnection(original):  # type: ignore[misc,valid-type]
            certpin_guarded = True

            def connection_made(self, transport: Any) -> None:
                tunnel = _PROXY_ATTEMPT.get()
                if tunnel is None:  # not certpin's attempt: websockets' own behaviour
                    super().connection_made(transport)
                    return
                tunnel.judged = True
                proxy = self.proxy
                shown = f"http://{proxy.host}"

                def judge() -> None:
                    tunnel.guard.check("http", proxy.host, url=shown)

                try:
                    super().connection_made(GuardedTransport(transport, judge))
                except PinnedRequestError as exc:  # nothing sent; the transport is aborted
                    if not self.response.done():
                        self.response.set_exception(exc)

        HTTPProxyConnection.__qualname__ = original.__qualname__
        HTTPProxyConnection.__module__ = original.__module__
        ws_client.HTTPProxyConnection = HTTPProxyConnection  # type: ignore[misc]
