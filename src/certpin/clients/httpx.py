"""httpx with pinning: :func:`pinned_client` (:class:`httpx.Client`) and
:func:`pinned_async_client` (:class:`httpx.AsyncClient`), HTTP/1.1 and HTTP/2.

The pinning context is the client's ``verify=``, so httpcore makes every origin TLS connection
with it: direct, through an HTTP CONNECT tunnel (``proxy=`` or ``HTTPS_PROXY`` from the environment
with ``trust_env``), over HTTP/1.1 or HTTP/2. httpcore pools connections by origin
(scheme, host, port) and never coalesces HTTP/2 connections across host names, so a connection
checked for ``a.test`` is never used for ``b.test``.

A request event hook, run by httpx before every request and every redirect hop, refuses plain
``http://`` to a pinned host, a ``Host`` header naming another host, and an ``sni_hostname``
request extension naming another host than the URL (httpcore would handshake, and so look up
pins, for that name while sending the request for the URL's host). It cannot be removed
through ``client.event_hooks`` (the setter keeps it first).

Needs ``pip install 'certpin[httpx]'`` (httpx >= 0.27, h2 for HTTP/2).
"""

from __future__ import annotations

import ssl
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import httpx

from ._common import PinnedRequestError, RequestGuard, resolve_context

if TYPE_CHECKING:
    from ..policy import PinPolicy

__all__ = ["PinnedAsyncClient", "PinnedClient", "pinned_async_client", "pinned_client"]

_REFUSED = {
    "verify": "the client's verify= is the pinning context",
    "cert": "a client certificate belongs in the pinning context: make it with base=",
    "transport": "a custom transport would not use the pinning context",
    "mounts": "mounted transports would not use the pinning context",
}


def _prepare(
    policy: PinPolicy | ssl.SSLContext,
    context_kwargs: dict[str, Any],
    client_kwargs: dict[str, Any],
) -> tuple[ssl.SSLContext, RequestGuard]:
    for key, why in _REFUSED.items():
        if key in client_kwargs:
            raise PinnedRequestError(f"{key}= is refused by a pinned httpx client: {why}")
    ctx, pol = resolve_context(policy, **context_kwargs)
    proxy = client_kwargs.get("proxy")
    if isinstance(proxy, str | httpx.URL):
        url = httpx.URL(proxy)
        # The TLS to an https:// proxy uses the pinning context too (pins apply if the proxy's
        # host is pinned, else ordinary verification against the context's trust store).
        proxy_ctx = ctx if url.scheme == "https" else None
        client_kwargs["proxy"] = httpx.Proxy(url, ssl_context=proxy_ctx)
    client_kwargs["verify"] = ctx
    return ctx, RequestGuard(pol)


def _sni_of(request: httpx.Request) -> str | None:
    """httpcore's ``sni_hostname`` request extension: a TLS name override (the handshake, and
    so the pin lookup, uses it instead of the URL host), checked like ``server_hostname``."""
    sni = request.extensions.get("sni_hostname")
    if sni is None:
        return None
    if isinstance(sni, bytes | bytearray):
        return bytes(sni).decode("ascii", "replace")
    return str(sni)


class _GuardFirst:
    """Keeps the certpin request hook first in ``event_hooks``, whatever the user assigns.

    Mixed in before :class:`httpx.Client` / :class:`httpx.AsyncClient`; the subclass provides
    ``_certpin_hook`` (a plain function for the sync client, a coroutine for the async one).
    """

    _event_hooks: dict[str, list[Callable[..., Any]]]
    _certpin_hook: Callable[[httpx.Request], Any]

    def __init__(self, *, certpin_guard: RequestGuard, **kwargs: Any) -> None:
        self.certpin_guard = certpin_guard
        super().__init__(**kwargs)
        self.event_hooks = self.event_hooks  # puts the guard hook first

    def _certpin_check(self, request: httpx.Request) -> None:
        self.certpin_guard.check(
            str(request.url), request.headers.raw, server_hostname=_sni_of(request)
        )

    @property
    def event_hooks(self) -> dict[str, list[Callable[..., Any]]]:
        return self._event_hooks

    @event_hooks.setter
    def event_hooks(self, event_hooks: dict[str, list[Callable[..., Any]]]) -> None:
        hooks = [h for h in event_hooks.get("request", []) if h != self._certpin_hook]
        self._event_hooks = {
            "request": [self._certpin_hook, *hooks],
            "response": list(event_hooks.get("response", [])),
        }


class PinnedClient(_GuardFirst, httpx.Client):
    """An :class:`httpx.Client` that checks pins (made by :func:`pinned_client`)."""

    def _certpin_hook(self, request: httpx.Request) -> None:
        self._certpin_check(request)


class PinnedAsyncClient(_GuardFirst, httpx.AsyncClient):
    """An :class:`httpx.AsyncClient` that checks pins (made by :func:`pinned_async_client`)."""

    async def _certpin_hook(self, request: httpx.Request) -> None:
        self._certpin_check(request)


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
    _, guard = _prepare(policy, ctx_kw, client_kwargs)
    return PinnedClient(certpin_guard=guard, **client_kwargs)


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
    _, guard = _prepare(policy, ctx_kw, client_kwargs)
    return PinnedAsyncClient(certpin_guard=guard, **client_kwargs)
