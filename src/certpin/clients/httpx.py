"""httpx with pinning: :func:`pinned_client` (:class:`httpx.Client`) and
:func:`pinned_async_client` (:class:`httpx.AsyncClient`), HTTP/1.1 and HTTP/2.

The pinning context is the ``ssl_context`` of every transport the client builds: the origin's
(``verify=``) and every proxy transport, whether the proxy came from ``proxy=`` or from
``HTTPS_PROXY``/``ALL_PROXY`` in the environment (``trust_env``). For an ``https://`` proxy the TLS
to the proxy itself uses the pinning context too (httpx would otherwise give it a default context,
no pins), and the origin's TLS inside the tunnel is checked for the origin. httpcore pools
connections by origin (scheme, host, port) and never coalesces HTTP/2 connections across host
names, so a connection checked for ``a.test`` is never used for ``b.test``.

Every transport is wrapped in a guard that checks each request (and each redirect hop) as httpx
hands it over, with the URL as httpx parsed it (``request.url.raw_host``, the host httpcore
connects to): plain ``http://`` to a pinned host, a ``Host`` header naming another host, and an
``sni_hostname`` request extension naming another host than the URL (httpcore would handshake,
and so look up pins, for that name while sending the request for the URL's host) are refused with
:class:`~certpin.clients.PinnedRequestError`. The guard sits in the transport, where httpx's
documented API does not reach: ``client.event_hooks`` (assigned or mutated) runs beside it and
cannot remove it. A clear-text connection judges again right before every write
(:mod:`certpin.clients.httpx_backend`), so a policy swapped in while it connected applies.

Needs ``pip install 'certpin[httpx]'`` (httpx >= 0.27, h2 for HTTP/2).
"""

from __future__ import annotations

import ssl
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import httpx

from ._common import PinnedRequestError, RequestGuard, resolve_context
from .httpx_backend import CURRENT_REQUEST, guard_async_transport, guard_transport

if TYPE_CHECKING:
    from ..policy import PinPolicy

__all__ = ["PinnedAsyncClient", "PinnedClient", "pinned_async_client", "pinned_client"]

_REFUSED = {
    "verify": "the client's verify= is the pinning context",
    "cert": "a client certificate belongs in the pinning context: make it with base=",
    "transport": "a custom transport would not use the pinning context",
    "mounts": "mounted transports would not use the pinning context",
}


def _pinned_proxy(proxy: httpx.Proxy, ctx: ssl.SSLContext) -> httpx.Proxy:
    """``proxy`` whose TLS (for an ``https://`` proxy) is the pinning context.

    Raises:
        PinnedRequestError: the proxy already carries another ``ssl_context``.
    """
    given = proxy.ssl_context
    if given is not None and given is not ctx:
        raise PinnedRequestError(
            "a proxy with its own ssl_context is refused by a pinned httpx client: the TLS to "
            "an https:// proxy uses the pinning context"
        )
    if proxy.url.scheme != "https":
        return proxy
    return httpx.Proxy(proxy.url, ssl_context=ctx, auth=proxy.auth, headers=proxy.headers)


def _prepare(
    policy: PinPolicy | ssl.SSLContext,
    context_kwargs: dict[str, Any],
    client_kwargs: dict[str, Any],
) -> tuple[ssl.SSLContext, RequestGuard]:
    for key, why in _REFUSED.items():
        if key in client_kwargs:
            raise PinnedRequestError(f"{key}= is refused by a pinned httpx client: {why}")
    ctx, _ = resolve_context(policy, **context_kwargs)
    proxy = client_kwargs.get("proxy")
    if isinstance(proxy, str | httpx.URL):
        client_kwargs["proxy"] = httpx.Proxy(proxy)
    client_kwargs["verify"] = ctx
    return ctx, RequestGuard(ctx)


def _sni_of(request: httpx.Request) -> str | None:
    """httpcore's ``sni_hostname`` request extension: a TLS name override (the handshake, and
    so the pin lookup, uses it instead of the URL host), checked like ``server_hostname``."""
    sni = request.extensions.get("sni_hostname")
    if sni is None:
        return None
    if isinstance(sni, bytes | bytearray):
        return bytes(sni).decode("ascii", "replace")
    return str(sni)


def _check(guard: RequestGuard, request: httpx.Request, proxy: httpx.Proxy | None) -> None:
    """The guard, on the request as httpx parsed it (``raw_host`` is what httpcore dials), and
    on the proxy of the transport: an ``https://`` proxy gets the pinning context; any other
    (``http://``, ``socks5://``) is reached in clear text (``CONNECT`` and
    ``Proxy-Authorization``, or the SOCKS handshake), so it is refused when its host is pinned.
    """
    url = request.url
    guard.check(
        url.scheme, url.raw_host.decode("ascii", "replace"), request.headers.raw,
        server_hostname=_sni_of(request), url=url,
    )
    if proxy is not None:
        scheme = "https" if proxy.url.scheme == "https" else "http"
        guard.check(scheme, proxy.url.raw_host.decode("ascii", "replace"), url=proxy.url)
    target = request.extensions.get("target")
    if target is not None:
        # httpcore's request-target override: an absolute URL there names the host the server
        # is asked for, which must be the one the connection's pins were checked for.
        text = bytes(target).decode("latin-1") if isinstance(target, bytes | bytearray) else str(
            target
        )
        guard.check_target(url.scheme, url.raw_host.decode("ascii", "replace"), text)


class _GuardTransport(httpx.BaseTransport):
    """Checks every request with the guard, then hands it to the real transport, whose clear-text
    streams check it again right before every write (:mod:`certpin.clients.httpx_backend`)."""

    def __init__(
        self, inner: httpx.BaseTransport, guard: RequestGuard, proxy: httpx.Proxy | None = None
    ) -> None:
        guard_transport(inner, guard)
        self.inner = inner
        self.guard = guard
        self.proxy = proxy

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        _check(self.guard, request, self.proxy)
        token = CURRENT_REQUEST.set((request, self.proxy))
        try:
            return self.inner.handle_request(request)
        finally:
            CURRENT_REQUEST.reset(token)

    def __enter__(self) -> _GuardTransport:
        self.inner.__enter__()
        return self

    def __exit__(self, *args: Any) -> None:
        self.inner.__exit__(*args)

    def close(self) -> None:
        self.inner.close()


class _AsyncGuardTransport(httpx.AsyncBaseTransport):
    """:class:`_GuardTransport` for :class:`httpx.AsyncClient`."""

    def __init__(
        self, inner: httpx.AsyncBaseTransport, guard: RequestGuard, proxy: httpx.Proxy | None = None
    ) -> None:
        guard_async_transport(inner, guard)
        self.inner = inner
        self.guard = guard
        self.proxy = proxy

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        _check(self.guard, request, self.proxy)
        token = CURRENT_REQUEST.set((request, self.proxy))
        try:
            return await self.inner.handle_async_request(request)
        finally:
            CURRENT_REQUEST.reset(token)

    async def __aenter__(self) -> _AsyncGuardTransport:
        await self.inner.__aenter__()
        return self

    async def __aexit__(self, *args: Any) -> None:
        await self.inner.__aexit__(*args)

    async def aclose(self) -> None:
        await self.inner.aclose()


class PinnedClient(httpx.Client):
    """An :class:`httpx.Client` that checks pins (made by :func:`pinned_client`).

    Its transports (origin and proxies) are built by httpx through ``_init_transport`` and
    ``_init_proxy_transport``, overridden here so that each one has the pinning context (the
    proxy's TLS too) and the request guard.
    """

    def __init__(self, *, certpin_guard: RequestGuard, certpin_context: ssl.SSLContext,
                 **kwargs: Any) -> None:
        self.certpin_guard = certpin_guard
        self.certpin_context = certpin_context
        super().__init__(**kwargs)

    def _init_transport(self, *args: Any, **kwargs: Any) -> httpx.BaseTransport:
        return _GuardTransport(super()._init_transport(*args, **kwargs), self.certpin_guard)

    def _init_proxy_transport(
        self, proxy: httpx.Proxy, *args: Any, **kwargs: Any
    ) -> httpx.BaseTransport:
        proxy = _pinned_proxy(proxy, self.certpin_context)
        inner = super()._init_proxy_transport(proxy, *args, **kwargs)
        return _GuardTransport(inner, self.certpin_guard, proxy)


class PinnedAsyncClient(httpx.AsyncClient):
    """An :class:`httpx.AsyncClient` that checks pins (made by :func:`pinned_async_client`);
    see :class:`PinnedClient`."""

    def __init__(self, *, certpin_guard: RequestGuard, certpin_context: ssl.SSLContext,
                 **kwargs: Any) -> None:
        self.certpin_guard = certpin_guard
        self.certpin_context = certpin_context
        super().__init__(**kwargs)

    def _init_transport(self, *args: Any, **kwargs: Any) -> httpx.AsyncBaseTransport:
        inner = super()._init_transport(*args, **kwargs)
        return _AsyncGuardTransport(inner, self.certpin_guard)

    def _init_proxy_transport(
        self, proxy: httpx.Proxy, *args: Any, **kwargs: Any
    ) -> httpx.AsyncBaseTransport:
        proxy = _pinned_proxy(proxy, self.certpin_context)
        inner = super()._init_proxy_transport(proxy, *args, **kwargs)
        return _AsyncGuardTransport(inner, self.certpin_guard, proxy)


def pinned_client(
    policy: PinPolicy | ssl.SSLContext,
    *,
    cafile: str | None = None,
    capath: str | None = None,
    cadata: str | bytes | None = None,
    base: ssl.SSLContext | None = None,
    on_report: Callable[[Any], None] | None = None,
    **client_kwargs: Any,
) -> PinnedClient:
    """An :class:`httpx.Client` whose every TLS connection checks ``policy``.

    Args:
        policy: a :class:`certpin.PinPolicy`, or a context from :func:`certpin.create_ssl_context`.
        cafile, capath, cadata, base, on_report: how to build the context (with a policy only).
        **client_kwargs: :class:`httpx.Client` arguments (``http2=True``, ``proxy=``,
            ``trust_env``, ``follow_redirects``, ``timeout``, ``event_hooks`` ...). A ``proxy``
            given as a URL string is tunnelled with HTTP CONNECT; the TLS to an ``https://``
            proxy also uses the pinning context.

    Returns:
        A :class:`PinnedClient`. A failed pin check raises :class:`httpx.ConnectError` with
        :class:`certpin.PinMismatchError` in its cause chain; nothing of the request is sent.
        Requests raise :class:`~certpin.clients.PinnedRequestError` for plain ``http://`` (or a
        redirect hop) to a pinned host and a ``Host`` header naming another host.

    Raises:
        certpin.clients.PinnedRequestError: ``verify=``, ``cert=``, ``transport=`` or ``mounts=``
            given (each would bypass the pinning context).
        certpin.PolicyError: from :func:`certpin.create_ssl_context`.
    """
    ctx_kw = {"cafile": cafile, "capath": capath, "cadata": cadata, "base": base,
              "on_report": on_report}
    ctx, guard = _prepare(policy, ctx_kw, client_kwargs)
    return PinnedClient(certpin_guard=guard, certpin_context=ctx, **client_kwargs)


def pinned_async_client(
    policy: PinPolicy | ssl.SSLContext,
    *,
    cafile: str | None = None,
    capath: str | None = None,
    cadata: str | bytes | None = None,
    base: ssl.SSLContext | None = None,
    on_report: Callable[[Any], None] | None = None,
    **client_kwargs: Any,
) -> PinnedAsyncClient:
    """An :class:`httpx.AsyncClient` whose every TLS connection checks ``policy``.

    Same arguments, refusals and errors as :func:`pinned_client` (with ``await``); the pin check
    runs on asyncio's ``SSLObject`` path inside the same context.
    """
    ctx_kw = {"cafile": cafile, "capath": capath, "cadata": cadata, "base": base,
              "on_report": on_report}
    ctx, guard = _prepare(policy, ctx_kw, client_kwargs)
    return PinnedAsyncClient(certpin_guard=guard, certpin_context=ctx, **client_kwargs)
