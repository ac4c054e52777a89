"""websockets with pinning: :func:`connect` wraps :func:`websockets.asyncio.client.connect`.

The opening handshake's TLS connection uses the pinning context (``ssl=context``), directly or
through an HTTP CONNECT proxy (websockets >= 15 reads ``HTTPS_PROXY``; the TLS inside the tunnel is
the origin's). Every redirect hop websockets follows is checked like the first URI (a ``ws://``
hop to a pinned host, a ``server_hostname`` naming another host than the hop's are refused) and a
``wss://`` hop uses the pinning context, also after a ``ws://`` start (websockets would otherwise
use a default context, without pins, for it); websockets itself refuses a ``wss://`` to ``ws://``
redirect (:class:`websockets.exceptions.SecurityError`).

Needs ``pip install 'certpin[websockets]'`` (websockets >= 13).
"""

from __future__ import annotations

import ssl
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, cast

from ._common import PinnedRequestError, RequestGuard, resolve_context

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
        **kwargs: :func:`websockets.asyncio.client.connect` arguments. ``ssl`` is refused (it is
            the pinning context); ``server_hostname`` must name the URI's host; an
            ``additional_headers`` ``Host`` must name the URI's host. An explicit ``https://``
            ``proxy`` gets ``proxy_ssl`` = the pinning context unless given.

    Returns:
        websockets' ``connect`` object (awaitable, async context manager, async iterator).
        A failed pin check raises :class:`certpin.PinMismatchError` itself (websockets does not
        wrap TLS errors); nothing of the opening handshake is sent.

    Raises:
        certpin.clients.PinnedRequestError: the refusals above, or ``ws://`` to a pinned host.
        certpin.PolicyError: from :func:`certpin.create_ssl_context`.
    """
    from websockets.asyncio.client import connect as ws_connect

    if "ssl" in kwargs:
        raise PinnedRequestError("ssl= is refused by certpin's websockets connect: the TLS "
                                 "context is the pinning context")
    ctx, pol = resolve_context(
        policy, cafile=cafile, capath=capath, cadata=cadata, base=base, on_report=on_report
    )
    guard = RequestGuard(pol)
    guard.check(
        uri, kwargs.get("additional_headers"), server_hostname=kwargs.get("server_hostname")
    )
    proxy = kwargs.get("proxy")
    if isinstance(proxy, str) and proxy.lower().startswith("https://"):
        kwargs.setdefault("proxy_ssl", ctx)
    if uri.lower().startswith("wss://"):
        kwargs["ssl"] = ctx
    return _pinned_connect_class(ws_connect, ctx, guard)(uri, **kwargs)


def _pinned_connect_class(
    base: type[_connect], ctx: ssl.SSLContext, guard: RequestGuard
) -> type[_connect]:
    """websockets' ``connect`` whose redirect hops are held to the same rules as the first URI.

    A ``ws://`` start carries no ``ssl`` (websockets refuses one for ``ws://``), and on a redirect
    to ``wss://`` websockets fills in ``ssl=True``, a default context without pins: a MITM on the
    plain connection could send the client to an impostor of a pinned host. So each hop is
    checked by ``guard`` and a ``wss://`` hop gets the pinning context.
    """

    class PinnedConnect(base):  # type: ignore[misc,valid-type]
        def process_redirect(self, exc: Exception) -> Exception | str:
            new_uri: Exception | str = super().process_redirect(exc)
            if isinstance(new_uri, Exception):
                return new_uri
            kwargs = self.create_connection_kwargs
            try:
                guard.check(
                    new_uri, self.additional_headers,
                    server_hostname=kwargs.get("server_hostname"),
                )
            except PinnedRequestError as refused:
                return refused
            if str(new_uri).lower().startswith("wss://"):
                kwargs["ssl"] = ctx
            return new_uri

    return cast("type[_connect]", PinnedConnect)
