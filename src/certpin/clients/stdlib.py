"""Pinning for the standard library clients: ``urllib.request``, ``http.client`` and asyncio.

All helpers take either a :class:`certpin.PinPolicy` (a context is built with
:func:`certpin.create_ssl_context`, ``context_kwargs`` passed on) or a pinning context made by it.
A plain :class:`ssl.SSLContext` is refused: it would not enforce anything.

::

    opener = certpin.clients.stdlib.build_opener(policy)
    with opener.open("https://pinned.example/") as resp: ...

    conn = certpin.clients.stdlib.HTTPSConnection("pinned.example", policy=policy)

    reader, writer = await certpin.clients.stdlib.open_connection("pinned.example", 443, policy)

Pin failures surface as the client's usual certificate error: ``urllib.error.URLError`` whose
``reason`` is the :class:`certpin.PinMismatchError`; :class:`certpin.PinMismatchError` itself
from ``http.client`` and asyncio.
"""

from __future__ import annotations

import asyncio
import http.client
import ssl
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from typing import Any

from ..policy import PinPolicy
from ..tls import PinningSSLContext
from ._common import PinnedRequestError, RequestGuard, resolve_context
from .urllib_guards import (
    PinnedHTTPHandler,
    PinnedProxyHandler,
    RefusePlainText,
    judge_request,
)

__all__ = [
    "HTTPSConnection",
    "PinnedHTTPSHandler",
    "build_opener",
    "open_connection",
    "pinned_context",
]


def pinned_context(policy_or_context: PinPolicy | ssl.SSLContext, **context_kwargs: Any) -> (
    PinningSSLContext
):
    """Return the pinning context for ``policy_or_context`` (the way every helper takes it:
    :func:`certpin.clients._common.resolve_context`).

    Args:
        policy_or_context: a :class:`certpin.PinPolicy`, or a context from
            :func:`certpin.create_ssl_context` (returned as is).
        **context_kwargs: ``cafile``, ``capath``, ``cadata``, ``base``, ``on_report`` for
            :func:`certpin.create_ssl_context`; only with a policy.

    Raises:
        PinnedRequestError: a plain (non-pinning) context, or keyword arguments given with a
            context (a :class:`certpin.PolicyError`).
        TypeError: an unknown keyword argument.
    """
    unknown = set(context_kwargs) - _CONTEXT_OPTIONS
    if unknown:
        raise TypeError(f"unexpected context option(s): {', '.join(sorted(unknown))}")
    ctx, _ = resolve_context(policy_or_context, **context_kwargs)
    assert isinstance(ctx, PinningSSLContext)
    return ctx


_CONTEXT_OPTIONS = frozenset({"cafile", "capath", "cadata", "base", "on_report"})


class _HostGuard(http.client.HTTPSConnection):
    """Refuses a ``Host`` header naming another host than the connection's TLS name."""

    certpin_guard: RequestGuard = RequestGuard(None)

    def _tls_host(self) -> str:
        tunnel = getattr(self, "_tunnel_host", None)
        return str(tunnel or self.host)

    def connect(self) -> None:
        """Judge the connection before making it: the TLS name (the tunnel's origin through a
        proxy; a host certpin cannot normalise is refused here, before even its ClientHello is
        sent) and, through a proxy (``set_tunnel``, or urllib's ``Request.set_proxy``), the
        proxy host, which is reached in clear text (``CONNECT`` and ``Proxy-Authorization``):
        refused when it is pinned."""
        if getattr(self, "_tunnel_host", None):
            self.certpin_guard.check("http", self.host)
        self.certpin_guard.check("https", self._tls_host())
        super().connect()

    def send(self, data: Any) -> None:
        """Through a proxy, judge the proxy host again right before every write (after
        connecting: :mod:`http.client` connects inside ``send``): the ``CONNECT`` line and
        ``Proxy-Authorization`` reach it in clear text, and a policy swapped in while the TCP
        connection was being made may pin it (review 10n). On a refusal the connection is
        closed and nothing written."""
        if self.sock is None and self.auto_open:
            self.connect()
        if getattr(self, "_tunnel_host", None):
            try:
                self.certpin_guard.check("http", self.host)
            except BaseException:
                self.close()
                raise
        super().send(data)

    def putrequest(self, method: str, url: str, *args: Any, **kwargs: Any) -> None:
        """Refuse an absolute request URL (``GET https://other/...``) naming another host than
        the connection's TLS name: the pins were checked for that name only."""
        self.certpin_guard.check_target("https", self._tls_host(), str(url))
        super().putrequest(method, url, *args, **kwargs)

    def putheader(self, header: str | bytes, *values: Any) -> None:
        name = header.decode("latin-1") if isinstance(header, bytes) else header
        if name.strip().lower() != "host":
            # Every header name must be an RFC 9110 token ("Host\x00" passed http.client).
            self.certpin_guard.check("https", self._tls_host(), [(name, "")])
        if name.strip().lower() == "host" and values:
            # Every value: http.client folds several into one header (continuation lines).
            texts = [v.decode("latin-1") if isinstance(v, bytes) else str(v) for v in values]
            self.certpin_guard.check("https", self._tls_host(), [("Host", t) for t in texts])
        super().putheader(header, *values)


class HTTPSConnection(_HostGuard):
    """:class:`http.client.HTTPSConnection` over a pinning context.

    Args:
        host, port, timeout, source_address, blocksize: as for
            :class:`http.client.HTTPSConnection`.
        policy: a :class:`certpin.PinPolicy` or a pinning context (keyword only).
        **context_kwargs: for :func:`certpin.create_ssl_context` when ``policy`` is a policy.

    Through ``set_tunnel`` (an HTTP CONNECT proxy) the TLS name, hence the pin set checked, is
    the origin's. A ``Host`` header naming another host than the TLS name is refused with
    :class:`certpin.PolicyError` (a pinned connection serves only the host it was pinned for).

    Raises:
        PinMismatchError: from ``connect``/``request`` when no pin matches (socket closed, no
            byte of the request sent).
    """

    def __init__(
        self,
        host: str,
        port: int | None = None,
        *,
        policy: PinPolicy | ssl.SSLContext,
        **kwargs: Any,
    ) -> None:
        conn_keys = {"timeout", "source_address", "blocksize"}
        conn_kwargs = {k: v for k, v in kwargs.items() if k in conn_keys}
        context_kwargs = {k: v for k, v in kwargs.items() if k not in conn_keys}
        self.certpin_context = pinned_context(policy, **context_kwargs)
        self.certpin_guard = RequestGuard(self.certpin_context)
        super().__init__(host, port, context=self.certpin_context, **conn_kwargs)


class PinnedHTTPSHandler(urllib.request.HTTPSHandler):
    """:class:`urllib.request.HTTPSHandler` whose connections use a pinning context.

    A request whose ``Host`` header names another host than the URL's raises
    :class:`certpin.PolicyError` before anything is sent.

    Args:
        policy_or_context: a :class:`certpin.PinPolicy` or a pinning context.
        **context_kwargs: for :func:`certpin.create_ssl_context`.
    """

    def __init__(
        self, policy_or_context: PinPolicy | ssl.SSLContext, **context_kwargs: Any
    ) -> None:
        self.certpin_context = pinned_context(policy_or_context, **context_kwargs)
        super().__init__(context=self.certpin_context)

    def https_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        """Open ``req`` on a connection that also refuses a foreign ``Host`` header; a request
        a later processor turned into something else (its origin no longer ``https``, a proxy
        set on it) is judged again first."""
        guard = RequestGuard(self.certpin_context)
        origin = urllib.request.Request(req.full_url)  # noqa: S310 (parsed, never opened)
        if origin.type != "https" or req.has_proxy():
            judge_request(guard, req)

        class _PinnedHostGuard(_HostGuard):
            certpin_guard = guard

        return self.do_open(_PinnedHostGuard, req, context=self.certpin_context)


def build_opener(
    policy_or_context: PinPolicy | ssl.SSLContext,
    *handlers: urllib.request.BaseHandler,
    **context_kwargs: Any,
) -> urllib.request.OpenerDirector:
    """An :func:`urllib.request.build_opener` whose HTTPS goes through a pinning context.

    Every redirect hop is checked against its own host's pin set (the context checks each
    connection's host); ``http://`` URLs of pinned hosts, including https-to-http redirects, are
    refused with ``urllib.error.URLError`` (reason: :class:`certpin.PolicyError`).
    Proxies (from the environment, or a :class:`urllib.request.ProxyHandler` among
    ``handlers``) are used as urllib does (CONNECT for HTTPS, pins checked on the origin's chain),
    except an ``https://`` proxy (urllib would reach it in clear text, credentials included) and
    a proxy whose host is pinned (plain text to a pinned host), both refused with
    ``urllib.error.URLError`` (reason: :class:`~certpin.clients.PinnedRequestError`).

    Args:
        policy_or_context: a :class:`certpin.PinPolicy` or a pinning context.
        *handlers: more handlers for :func:`urllib.request.build_opener`.
        **context_kwargs: for :func:`certpin.create_ssl_context`.

    Returns:
        An :class:`urllib.request.OpenerDirector`. On a pin failure ``open`` raises
        ``urllib.error.URLError`` whose ``reason`` is the :class:`certpin.PinMismatchError`.
    """
    https = PinnedHTTPSHandler(policy_or_context, **context_kwargs)
    refuse = RefusePlainText(https.certpin_context)
    # urllib adds a ProxyHandler (environment proxies) unless one is given: ours judges every
    # proxy, from the environment or from a ProxyHandler the caller passes (its mapping is kept).
    for handler in handlers:
        _refuse_plain_handler(handler)
    # A handler class is instantiated, as urllib's build_opener does.
    handlers = tuple(h() if isinstance(h, type) else h for h in handlers)
    given = [h for h in handlers if isinstance(h, urllib.request.ProxyHandler)]
    if len(given) > 1:
        raise PinnedRequestError("more than one ProxyHandler given to build_opener")
    proxies: dict[str, str] | None = getattr(given[0], "proxies", None) if given else None
    rest = [h for h in handlers if not isinstance(h, urllib.request.ProxyHandler)]
    proxy = PinnedProxyHandler(proxies, RequestGuard(https.certpin_context))
    plain = PinnedHTTPHandler(https.certpin_context)
    opener = urllib.request.build_opener(https, plain, refuse, proxy, *rest)
    opener.__class__ = _PinnedOpenerDirector  # its add_handler keeps the same refusals
    return opener


def _refuse_plain_handler(handler: object) -> None:
    """Refuse an http(s) handler (class or instance) other than certpin's: it would open
    ``http(s)://`` URLs without certpin's checks (https with its own context, without pins)."""
    kind = handler if isinstance(handler, type) else type(handler)  # urllib takes classes too
    if (
        issubclass(kind, urllib.request.HTTPSHandler)
        and not issubclass(kind, PinnedHTTPSHandler)
    ) or (
        issubclass(kind, urllib.request.HTTPHandler)
        and not issubclass(kind, PinnedHTTPHandler)
    ):
        raise PinnedRequestError(
            f"refusing {kind.__name__} in a pinned opener: it would open http(s):// URLs "
            "without certpin's checks (https with its own context, without pins); pass the "
            "context options to build_opener instead"
        )


class _PinnedOpenerDirector(urllib.request.OpenerDirector):
    """The opener :func:`build_opener` returns: ``add_handler`` refuses what ``build_opener``
    refuses, so a plain ``HTTPSHandler`` added afterwards cannot take requests past the pins;
    ``open`` checks the opener's public handler tables too (``handle_open``), which code could
    fill without ``add_handler``."""

    def open(self, fullurl: Any, *args: Any, **kwargs: Any) -> Any:
        allowed = (PinnedHTTPSHandler, PinnedHTTPHandler, PinnedProxyHandler)
        tables: dict[str, list[Any]] = getattr(self, "handle_open", {})
        for protocol in ("http", "https"):
            for handler in tables.get(protocol, []):
                if not isinstance(handler, allowed):
                    raise PinnedRequestError(
                        f"refusing to open with {type(handler).__name__} among the opener's "
                        f"{protocol} handlers: only certpin's handlers may open http(s) URLs "
                        "in a pinned opener"
                    )
        return super().open(fullurl, *args, **kwargs)

    def add_handler(self, handler: urllib.request.BaseHandler) -> None:
        _refuse_plain_handler(handler)
        if isinstance(handler, urllib.request.ProxyHandler) and not isinstance(
            handler, PinnedProxyHandler
        ):
            raise PinnedRequestError(
                "refusing a ProxyHandler added to a pinned opener: pass it to build_opener, "
                "which judges its proxies"
            )
        super().add_handler(handler)


async def open_connection(
    host: str,
    port: int,
    policy_or_context: PinPolicy | ssl.SSLContext,
    *,
    server_hostname: str | None = None,
    cafile: str | None = None,
    capath: str | None = None,
    cadata: str | bytes | None = None,
    base: ssl.SSLContext | None = None,
    on_report: Callable[[Any], None] | None = None,
    **kwargs: Any,
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """:func:`asyncio.open_connection` over TLS with a pinning context.

    Args:
        host: the host to connect to (also the TLS name unless ``server_hostname`` is given).
        port: the TCP port.
        policy_or_context: a :class:`certpin.PinPolicy` or a pinning context.
        server_hostname: the TLS name (SNI, certificate and pin set), default ``host``. With
            ``host`` an IP address it names the identity the address is dialled for
            (``open_connection("10.0.0.5", 443, policy, server_hostname="api.example")``: pins
            of ``api.example``). With ``host`` a host name it must name that same host: two
            different names leave it in doubt which host is meant, so that is refused.
        cafile, capath, cadata, base, on_report: how to build the context
            (:func:`certpin.create_ssl_context`); only with a policy, as for
            :func:`build_opener`.
        **kwargs: passed to :func:`asyncio.open_connection` (``limit``,
            ``ssl_handshake_timeout`` in seconds, ...); ``ssl`` is not accepted.

    Building a context loads the trust store (milliseconds): to open many connections, pass
    one context from :func:`certpin.create_ssl_context` rather than the policy.

    Returns:
        ``(reader, writer)`` after the handshake and the pin check passed.

    Raises:
        PinnedRequestError: ``host`` is a host name and ``server_hostname`` names another
            host, or either cannot be normalised.
        PinMismatchError: no pin matched; the transport is closed and nothing was written.
        PinValidationError, ssl.SSLCertVerificationError, OSError: as for any TLS connection.
    """
    if "ssl" in kwargs:
        raise TypeError("open_connection() takes the context as policy_or_context, not ssl=")
    context_kwargs = {
        name: value
        for name, value in (
            ("cafile", cafile), ("capath", capath), ("cadata", cadata), ("base", base),
            ("on_report", on_report),
        )
        if value is not None
    }
    ctx = pinned_context(policy_or_context, **context_kwargs)
    _check_server_hostname(RequestGuard(ctx), host, server_hostname)
    return await asyncio.open_connection(
        host, port, ssl=ctx, server_hostname=server_hostname or host, **kwargs
    )


def _check_server_hostname(guard: RequestGuard, host: str, server_hostname: str | None) -> None:
    """:func:`open_connection`'s rule for a TLS name override (see there)."""
    from ..hostnames import is_ip

    target = server_hostname if server_hostname is not None else host
    guard.check("https", target)  # a name certpin cannot read is refused before connecting
    if server_hostname is None or is_ip(guard.normalize(host)):
        return
    guard.check("https", host, server_hostname=server_hostname)
