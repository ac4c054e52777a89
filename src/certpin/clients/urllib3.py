"""urllib3 2.x with pinning: :func:`pinned_pool_manager` and :func:`pinned_proxy_manager`.

Every HTTPS connection pool the managers create carries the pinning context (origin connections,
CONNECT tunnels through a proxy, and the TLS to an ``https://`` proxy itself). urllib3 mutates a
context handed to it (``verify_mode``, ``check_hostname``, ``load_verify_locations``,
``load_cert_chain``); the options that would do so are refused here with a
:class:`~certpin.clients.PinnedRequestError` when the manager is made or a pool is requested,
and the context itself raises :class:`certpin.PolicyError` if anything tries to weaken it.
Their connections judge what they write in clear text again right before every write
(:mod:`certpin.clients.urllib3_conn`), so a policy swapped in while connecting applies.

Needs ``pip install 'certpin[urllib3]'`` (urllib3 >= 2.0).
"""

from __future__ import annotations

import ssl
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import urllib3
from urllib3.util.url import parse_url

from ._common import PinnedRequestError, RequestGuard, is_pinning_context, resolve_context
from .urllib3_conn import guarded_pool_classes

if TYPE_CHECKING:
    from ..policy import PinPolicy

    _ManagerBase = urllib3.PoolManager
else:
    _ManagerBase = object

__all__ = [
    "PinnedPoolManager",
    "PinnedProxyManager",
    "pinned_pool_manager",
    "pinned_proxy_manager",
]

_REQUIRED = (None, ssl.CERT_REQUIRED, "CERT_REQUIRED", "REQUIRED")
#: pool keyword -> why it is refused (each would weaken or widen the shared pinning context).
_REFUSED = {
    "assert_hostname": "it switches the context's hostname check off (urllib3 sets "
    "check_hostname=False); pins are checked for the URL host",
    "assert_fingerprint": "it switches the context's hostname check off and pins one leaf "
    "certificate hash only; put the pins in the certpin policy",
    "ca_certs": "urllib3 would load it into the shared pinning context; pass cafile= to the helper",
    "ca_cert_dir": "urllib3 would load it into the shared pinning context; pass capath= to "
    "the helper",
    "ca_cert_data": "urllib3 would load it into the shared pinning context; pass cadata= to "
    "the helper",
    "cert_file": "urllib3 would load the client certificate into the shared pinning context for "
    "every host; make the context with base= (a context with load_cert_chain done)",
    "key_file": "see cert_file",
    "key_password": "see cert_file",
    "proxy_assert_hostname": "it switches the hostname check of the proxy's TLS off",
    "proxy_assert_fingerprint": "it switches the hostname check of the proxy's TLS off",
}


def _check_pool_kwargs(kwargs: Mapping[str, Any], ctx: ssl.SSLContext) -> None:
    """Refuse pool keyword arguments that would bypass, weaken or widen the pinning context."""
    if kwargs.get("cert_reqs") not in _REQUIRED:
        raise PinnedRequestError(
            f"cert_reqs={kwargs['cert_reqs']!r} would switch certificate verification off, "
            "and with it pinning; a pinned pool manager only verifies (CERT_REQUIRED)"
        )
    for key, why in _REFUSED.items():
        if kwargs.get(key) is not None:
            raise PinnedRequestError(f"{key} is refused by a pinned pool manager: {why}")
    given = kwargs.get("ssl_context")
    if given is not None and given is not ctx:
        raise PinnedRequestError(
            "a pinned pool manager uses its own pinning context; another ssl_context was given"
        )
    proxy_ctx = kwargs.get("proxy_ssl_context")
    if proxy_ctx is not None and proxy_ctx.verify_mode != ssl.CERT_REQUIRED:
        raise PinnedRequestError("proxy_ssl_context must verify certificates (CERT_REQUIRED)")


class _PinnedMixin(_ManagerBase):
    """Checks shared by :class:`PinnedPoolManager` and :class:`PinnedProxyManager`."""

    certpin_context: ssl.SSLContext
    certpin_guard: RequestGuard
    _certpin_pool_classes: dict[str, type[urllib3.HTTPConnectionPool]]
    #: the proxy settings the manager was made with (_proxy, _proxy_config, _proxy_headers)
    _certpin_proxy_settings: dict[str, Any]

    def _certpin_remember_proxy(self) -> None:
        self._certpin_proxy_settings = {
            "_proxy": getattr(self, "proxy", None),
            "_proxy_config": getattr(self, "proxy_config", None),
            "_proxy_headers": getattr(self, "proxy_headers", None) if hasattr(self, "proxy")
            else None,
        }

    def connection_from_host(
        self,
        host: str | None,
        port: int | None = None,
        scheme: str | None = "http",
        pool_kwargs: dict[str, Any] | None = None,
    ) -> urllib3.HTTPConnectionPool:
        # Every pool urllib3 makes for an origin comes through here, with the host and scheme as
        # urllib3's own parse_url read them (urlopen, connection_from_url, request, redirects):
        # the guard judges exactly the host urllib3 connects to.
        self.certpin_guard.check(scheme or "http", host)
        self._certpin_check_proxy()
        return super().connection_from_host(host, port, scheme, pool_kwargs)

    def connection_from_pool_key(
        self, pool_key: Any, request_context: dict[str, Any]
    ) -> urllib3.HTTPConnectionPool:
        # Public, and reachable without connection_from_host/_context (a caller's own pool
        # key and request context): judged here too, and the pool made by _new_pool below.
        scheme = str(request_context.get("scheme") or "http")
        host = request_context.get("host")
        self.certpin_guard.check(scheme, host)
        pool = super().connection_from_pool_key(pool_key, request_context)
        # Whatever was done to the manager's public attributes (pool_classes_by_scheme,
        # key_fn_by_scheme, pools), the pool handed out must be a guarded one made for exactly
        # this scheme, host and port: never another host's pool, never an unguarded class.
        guarded = tuple(self._certpin_pool_classes.values())
        port = request_context.get("port")
        if (
            not isinstance(pool, guarded)
            or pool.scheme != scheme
            or self.certpin_guard.normalize(str(pool.host)) != self.certpin_guard.normalize(
                str(host)
            )
            or (port is not None and pool.port != port)
        ):
            raise PinnedRequestError(
                f"refusing the connection pool urllib3 found for {scheme}://{host}: it is not a "
                "pool this pinned manager made for that host (were the manager's "
                "pool_classes_by_scheme, key_fn_by_scheme or pools changed?)"
            )
        return pool

    def _new_pool(
        self,
        scheme: str,
        host: str,
        port: int,
        request_context: dict[str, Any] | None = None,
    ) -> urllib3.HTTPConnectionPool:
        # Where urllib3 makes every pool, whatever public method led here (urllib3 documents
        # _new_pool as the method to override for that): an https pool always
        # gets the pinning context (never urllib3's default one), and a proxy can come only
        # from this manager (a "_proxy" in the context is refused otherwise).
        context = dict(
            request_context if request_context is not None else self.connection_pool_kw
        )
        hostname = context.get("server_hostname")
        self.certpin_guard.check(
            scheme, host, server_hostname=None if hostname is None else str(hostname)
        )
        self._certpin_own_proxy(context)
        if scheme == "https":
            _check_pool_kwargs(context, self.certpin_context)
            context["ssl_context"] = self.certpin_context
        return super()._new_pool(scheme, host, port, request_context=context)

    def _certpin_own_proxy(self, context: dict[str, Any]) -> None:
        """A pool's proxy settings can only be this manager's: a proxy manager's own proxy,
        proxy configuration (its TLS context, no forwarding of https) and headers are put back;
        a plain manager's pools get none. Anything else given through pool keyword arguments
        (``_proxy``, ``_proxy_config``, ``_proxy_headers``) is refused."""
        own = self._certpin_proxy_settings
        current = {
            "_proxy": getattr(self, "proxy", None),
            "_proxy_config": getattr(self, "proxy_config", None),
            "_proxy_headers": getattr(self, "proxy_headers", None) if hasattr(self, "proxy")
            else None,
        }
        if current != own:
            # proxy, proxy_config or proxy_headers reassigned after the manager was made
            raise PinnedRequestError(
                "this pinned manager's proxy settings were changed after it was made: make a "
                "new manager with pinned_proxy_manager, which judges the proxy"
            )
        for key, mine in own.items():
            given = context.get(key)
            if given is not None and given != mine:
                raise PinnedRequestError(
                    f"proxy settings given through pool keyword arguments ({key}) are refused: "
                    "pass the proxy to pinned_proxy_manager, which judges it"
                )
            if mine is not None:
                context[key] = mine

    def _certpin_check_proxy(self) -> None:
        """A proxy is judged like a host: an ``http://`` proxy is reached in clear text
        (``CONNECT``, ``Proxy-Authorization``, whole requests when forwarding), so it is
        refused when its host is pinned; an ``https://`` proxy gets the pinning context."""
        proxy = getattr(self, "proxy", None)
        if proxy is not None:
            self.certpin_guard.check(proxy.scheme or "http", proxy.host, url=str(proxy))

    def connection_from_context(
        self, request_context: dict[str, Any]
    ) -> urllib3.HTTPConnectionPool:
        if str(request_context.get("scheme", "")).lower() == "https":
            _check_pool_kwargs(request_context, self.certpin_context)
            request_context["ssl_context"] = self.certpin_context
            hostname = request_context.get("server_hostname")
            if hostname is not None:
                self.certpin_guard.check(
                    "https", request_context.get("host"), server_hostname=str(hostname)
                )
        return super().connection_from_context(request_context)

    def urlopen(  # type: ignore[override]  # as urllib3.PoolManager.urlopen
        self, method: str, url: str, redirect: bool = True, **kw: Any
    ) -> urllib3.BaseHTTPResponse:
        # Called again by urllib3 for each redirect hop: every hop is checked here (its Host
        # header), and its connection carries the pinning context, so each hop's host is held
        # to its own pins. The URL is read with urllib3's own parse_url, as urlopen reads it.
        headers = kw.get("headers")
        headers = headers if headers is not None else self.headers
        target = parse_url(url)
        self.certpin_guard.check(target.scheme or "http", target.host, headers, url=url)
        self._certpin_check_proxy()
        return super().urlopen(method, url, redirect=redirect, **kw)


class PinnedPoolManager(_PinnedMixin, urllib3.PoolManager):
    """A :class:`urllib3.PoolManager` whose HTTPS pools all use one pinning context.

    Made by :func:`pinned_pool_manager`; see there.
    """

    def __init__(
        self,
        certpin_context: ssl.SSLContext,
        certpin_guard: RequestGuard,
        num_pools: int = 10,
        headers: Mapping[str, str] | None = None,
        **connection_pool_kw: Any,
    ) -> None:
        _check_pool_kwargs(connection_pool_kw, certpin_context)
        self.certpin_context = certpin_context
        self.certpin_guard = certpin_guard
        connection_pool_kw["ssl_context"] = certpin_context
        super().__init__(num_pools, headers, **connection_pool_kw)
        self._certpin_pool_classes = guarded_pool_classes(certpin_guard)
        self.pool_classes_by_scheme = dict(self._certpin_pool_classes)
        self._certpin_remember_proxy()


class PinnedProxyManager(_PinnedMixin, urllib3.ProxyManager):
    """A :class:`urllib3.ProxyManager` whose origin TLS (inside CONNECT tunnels) and proxy TLS
    (for an ``https://`` proxy) use the pinning context. Made by :func:`pinned_proxy_manager`."""

    def __init__(
        self,
        proxy_url: str,
        certpin_context: ssl.SSLContext,
        certpin_guard: RequestGuard,
        *,
        num_pools: int = 10,
        headers: Mapping[str, str] | None = None,
        proxy_headers: Mapping[str, str] | None = None,
        proxy_ssl_context: ssl.SSLContext | None = None,
        **connection_pool_kw: Any,
    ) -> None:
        _check_pool_kwargs(connection_pool_kw, certpin_context)
        self.certpin_context = certpin_context
        self.certpin_guard = certpin_guard
        connection_pool_kw["ssl_context"] = certpin_context
        if connection_pool_kw.get("use_forwarding_for_https"):
            raise PinnedRequestError(
                "use_forwarding_for_https=True lets the proxy make the origin's TLS connection, "
                "so the origin's pins could not be checked; a pinned proxy manager tunnels "
                "(HTTP CONNECT)"
            )
        if parse_url(proxy_url).scheme == "https" and proxy_ssl_context is None:
            proxy_ssl_context = certpin_context
        if proxy_ssl_context is not None and not is_pinning_context(proxy_ssl_context):
            raise PinnedRequestError(
                "proxy_ssl_context must be a certpin pinning context (a plain context would "
                "reach a pinned proxy host without its pins): leave it unset to use the "
                "pinning context, or make one with certpin.create_ssl_context"
            )
        _check_pool_kwargs({"proxy_ssl_context": proxy_ssl_context}, certpin_context)
        super().__init__(
            proxy_url,
            num_pools,
            headers,
            proxy_headers=proxy_headers,
            proxy_ssl_context=proxy_ssl_context,
            **connection_pool_kw,
        )
        self._certpin_pool_classes = guarded_pool_classes(certpin_guard)
        self.pool_classes_by_scheme = dict(self._certpin_pool_classes)
        self._certpin_remember_proxy()


def pinned_pool_manager(
    policy: PinPolicy | ssl.SSLContext,
    *,
    cafile: str | None = None,
    capath: str | None = None,
    cadata: str | bytes | None = None,
    base: ssl.SSLContext | None = None,
    on_report: Callable[[Any], None] | None = None,
    **pool_kwargs: Any,
) -> PinnedPoolManager:
    """A :class:`urllib3.PoolManager` that checks ``policy`` at every TLS handshake.

    Args:
        policy: a :class:`certpin.PinPolicy`, or a context from :func:`certpin.create_ssl_context`.
        cafile, capath, cadata, base, on_report: how to build the context
            (:func:`certpin.create_ssl_context`; only with a policy).
        **pool_kwargs: :class:`urllib3.PoolManager` arguments (``num_pools``, ``headers``,
            ``retries``, ``timeout``, ``maxsize`` ...).

    Returns:
        A :class:`PinnedPoolManager`. Its ``urlopen``/``request`` refuse, with
        :class:`~certpin.clients.PinnedRequestError` and before connecting, a plain ``http://``
        request or redirect hop to a pinned host and a ``Host`` header naming another host.
        A failed pin check surfaces as :class:`urllib3.exceptions.MaxRetryError` whose
        ``reason`` is an :class:`urllib3.exceptions.SSLError` caused by
        :class:`certpin.PinMismatchError` (or the SSLError itself with ``retries=False``).

    Raises:
        certpin.clients.PinnedRequestError: a pool argument that would bypass or weaken the
            context (``cert_reqs`` other than CERT_REQUIRED, ``assert_hostname``,
            ``assert_fingerprint``, ``ssl_context``, ``ca_certs``, ``cert_file`` ...).
        certpin.PolicyError: from :func:`certpin.create_ssl_context`.
    """
    ctx, _ = resolve_context(
        policy, cafile=cafile, capath=capath, cadata=cadata, base=base, on_report=on_report
    )
    return PinnedPoolManager(ctx, RequestGuard(ctx), **pool_kwargs)


def pinned_proxy_manager(
    proxy_url: str,
    policy: PinPolicy | ssl.SSLContext,
    *,
    cafile: str | None = None,
    capath: str | None = None,
    cadata: str | bytes | None = None,
    base: ssl.SSLContext | None = None,
    on_report: Callable[[Any], None] | None = None,
    **proxy_kwargs: Any,
) -> PinnedProxyManager:
    """A :class:`urllib3.ProxyManager` through ``proxy_url`` that checks ``policy``.

    HTTPS requests go through an HTTP CONNECT tunnel; the TLS inside it is made with the pinning
    context, so the pins are checked on the origin's verified chain, never the proxy's. For an
    ``https://`` proxy the TLS to the proxy also uses the pinning context (pass
    ``proxy_ssl_context=`` to use another verifying context for the proxy).

    Args:
        proxy_url: ``http://host:port`` or ``https://host:port`` of the proxy.
        policy, cafile, capath, cadata, base, on_report: as for :func:`pinned_pool_manager`.
        **proxy_kwargs: :class:`urllib3.ProxyManager` arguments (``proxy_headers``,
            ``proxy_ssl_context``, ``num_pools``, ``retries`` ...).

    Returns:
        A :class:`PinnedProxyManager` (same refusals and errors as :func:`pinned_pool_manager`).

    Raises:
        certpin.clients.PinnedRequestError: as :func:`pinned_pool_manager`, and
            ``use_forwarding_for_https=True`` (the proxy would make the origin's TLS connection).
    """
    ctx, _ = resolve_context(
        policy, cafile=cafile, capath=capath, cadata=cadata, base=base, on_report=on_report
    )
    return PinnedProxyManager(proxy_url, ctx, RequestGuard(ctx), **proxy_kwargs)
