"""requests with pinning: :class:`PinnedSession` and the mountable :class:`PinnedAdapter`.

Needs requests >= 2.32 (``pip install 'certpin[requests]'``): since 2.32 requests chooses a
connection pool through ``build_connection_pool_key_attributes``, which this adapter overrides so
that every pool, direct or through a proxy (explicit ``proxies=`` or ``HTTPS_PROXY`` from the
environment, built by ``proxy_manager_for``), carries the pinning context and nothing else.

``verify=False`` (per request or ``session.verify``) and ``cert=`` are refused with
:class:`~certpin.clients.PinnedRequestError` (fail closed: pinning cannot be switched off per
request; a client certificate belongs in the context, ``base=``). A CA bundle path in ``verify``
(also ``REQUESTS_CA_BUNDLE``) is ignored: the trust store is the pinning context's, fixed when it is
made (``cafile=``).
"""

from __future__ import annotations

import ssl
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, cast

import requests
from requests.adapters import DEFAULT_POOLBLOCK, HTTPAdapter

from ..errors import quote
from ._common import PinnedRequestError, RequestGuard, resolve_context
from .urllib3 import PinnedPoolManager, PinnedProxyManager

if TYPE_CHECKING:
    from requests.models import PreparedRequest
    from urllib3.poolmanager import ProxyManager

    from ..policy import PinPolicy

__all__ = ["PinnedAdapter", "PinnedSession"]


def _refuse_insecure(verify: object, cert: object) -> None:
    if verify is False:
        raise PinnedRequestError(
            "verify=False is refused by a pinned requests session: it would switch certificate "
            "verification and pinning off (certpin fails closed)"
        )
    if cert is not None:
        raise PinnedRequestError(
            "cert= is refused by a pinned requests session: urllib3 would load the client "
            "certificate into the shared pinning context for every host; make the context "
            "with base= (a context with load_cert_chain done) instead"
        )


class PinnedAdapter(HTTPAdapter):
    """An :class:`requests.adapters.HTTPAdapter` whose every connection checks pins.

    Mount it on both prefixes, so that plain ``http://`` requests and https-to-http redirects to
    a pinned host are refused too::

        adapter = PinnedAdapter(policy)
        session.mount("https://", adapter)
        session.mount("http://", adapter)

    Args:
        policy: a :class:`certpin.PinPolicy`, or a context from :func:`certpin.create_ssl_context`.
        cafile, capath, cadata, base, on_report: how to build the context (with a policy only).
        **adapter_kwargs: :class:`~requests.adapters.HTTPAdapter` arguments (``pool_connections``,
            ``pool_maxsize``, ``max_retries``, ``pool_block``).

    Raises:
        certpin.PolicyError: from :func:`certpin.create_ssl_context`.

    ``send`` raises :class:`~certpin.clients.PinnedRequestError` (before connecting) for
    ``verify=False``, ``cert=``, a plain ``http://`` request or redirect hop to a pinned host, and a
    ``Host`` header naming another host than the URL. A failed pin check surfaces as
    :class:`requests.exceptions.SSLError` with :class:`certpin.PinMismatchError` in its cause chain.
    A SOCKS proxy is refused (not supported by certpin).
    """

    def __init__(
        self,
        policy: PinPolicy | ssl.SSLContext,
        *,
        cafile: str | None = None,
        capath: str | None = None,
        cadata: str | bytes | None = None,
        base: ssl.SSLContext | None = None,
        on_report: Callable[[Any], None] | None = None,
        **adapter_kwargs: Any,
    ) -> None:
        ctx, _ = resolve_context(
            policy, cafile=cafile, capath=capath, cadata=cadata, base=base, on_report=on_report
        )
        self.certpin_context = ctx
        self.certpin_guard = RequestGuard(ctx)
        super().__init__(**adapter_kwargs)

    def __getstate__(self) -> dict[str, Any]:
        raise TypeError("a PinnedAdapter cannot be pickled (it holds an ssl.SSLContext)")

    def init_poolmanager(
        self,
        connections: int,
        maxsize: int,
        block: bool = DEFAULT_POOLBLOCK,
        **pool_kwargs: Any,
    ) -> None:
        self._pool_connections = connections
        self._pool_maxsize = maxsize
        self._pool_block = block
        self.poolmanager = PinnedPoolManager(
            self.certpin_context,
            self.certpin_guard,
            num_pools=connections,
            maxsize=maxsize,
            block=block,
            **pool_kwargs,
        )

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> ProxyManager:
        if proxy in self.proxy_manager:
            return cast("ProxyManager", self.proxy_manager[proxy])
        if proxy.lower().startswith("socks"):
            raise PinnedRequestError(
                f"SOCKS proxy {proxy!r} is not supported by certpin's requests adapter; use an "
                "HTTP CONNECT proxy"
            )
        manager = PinnedProxyManager(
            proxy,
            self.certpin_context,
            self.certpin_guard,
            proxy_headers=self.proxy_headers(proxy),
            num_pools=self._pool_connections,
            maxsize=self._pool_maxsize,
            block=self._pool_block,
            **proxy_kwargs,
        )
        self.proxy_manager[proxy] = manager
        return manager

    def build_connection_pool_key_attributes(
        self, request: PreparedRequest, verify: bool | str | None, cert: Any = None
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        _refuse_insecure(verify, cert)
        host_params, _ = super().build_connection_pool_key_attributes(request, True, None)
        # Only the pinning context: no cert_reqs, CA bundle or client certificate that urllib3
        # would apply to (mutate) the shared context.
        return host_params, {"ssl_context": self.certpin_context}

    def cert_verify(self, conn: Any, url: str, verify: bool | str | None, cert: Any) -> None:
        # requests would set conn.cert_reqs / ca_certs / cert_file on the (shared) pool here;
        # the pool's TLS settings are the pinning context's alone.
        _refuse_insecure(verify, cert)

    def send(  # noqa: PLR0917 (the signature of HTTPAdapter.send)
        self,
        request: PreparedRequest,
        stream: bool = False,
        timeout: Any = None,
        verify: bool | str | None = True,
        cert: Any = None,
        proxies: Mapping[str, str] | None = None,
    ) -> requests.Response:
        # Session.resolve_redirects sends every redirect hop through here.
        _refuse_insecure(verify, cert)
        # requests' own reading of the URL (the function get_connection_with_tls_context calls
        # next): the scheme and host of the pool it connects with, directly or through a proxy.
        # Judged here rather than inside that function, where requests would turn the refusal
        # (a ValueError) into InvalidURL.
        host_params, _ = super().build_connection_pool_key_attributes(request, True, None)
        self.certpin_guard.check(
            str(host_params.get("scheme") or ""), host_params.get("host"), request.headers,
            url=request.url,
        )
        return super().send(
            request, stream=stream, timeout=timeout,
            verify=True if verify is None else verify, cert=cert,
            proxies=dict(proxies) if proxies is not None else None,
        )


class PinnedSession(requests.Session):
    """A :class:`requests.Session` with a :class:`PinnedAdapter` mounted on ``https://`` and
    ``http://``: every TLS connection it makes, direct or through a proxy (``proxies=`` or
    ``HTTPS_PROXY`` from the environment), checks ``policy``; every redirect hop is held to its own
    host's pins; plain ``http://`` to a pinned host is refused.

    Args:
        policy: a :class:`certpin.PinPolicy`, or a context from :func:`certpin.create_ssl_context`.
        cafile, capath, cadata, base, on_report: how to build the context (with a policy only).
        **adapter_kwargs: :class:`~requests.adapters.HTTPAdapter` arguments.

    Raises:
        certpin.PolicyError: from :func:`certpin.create_ssl_context`.

    Requests raise :class:`~certpin.clients.PinnedRequestError` for ``verify=False`` or ``cert=``
    and the refusals of :class:`PinnedAdapter`; a failed pin check raises
    :class:`requests.exceptions.SSLError` (with :class:`certpin.PinMismatchError` in its cause
    chain) and nothing of the request is sent.
    """

    def __init__(
        self,
        policy: PinPolicy | ssl.SSLContext,
        *,
        cafile: str | None = None,
        capath: str | None = None,
        cadata: str | bytes | None = None,
        base: ssl.SSLContext | None = None,
        on_report: Callable[[Any], None] | None = None,
        **adapter_kwargs: Any,
    ) -> None:
        self._certpin_mounted = False  # requests.Session.__init__ mounts plain adapters first
        super().__init__()
        self.certpin_adapter = PinnedAdapter(
            policy, cafile=cafile, capath=capath, cadata=cadata, base=base, on_report=on_report,
            **adapter_kwargs,
        )
        self.mount("https://", self.certpin_adapter)
        self.mount("http://", self.certpin_adapter)
        self._certpin_mounted = True

    def get_adapter(self, url: str) -> requests.adapters.BaseAdapter:
        """:meth:`requests.Session.get_adapter`, refusing anything but a :class:`PinnedAdapter`
        for an ``http(s)`` URL: requests sends every request (and redirect hop) through the
        adapter this returns, so the check holds however ``session.adapters`` was changed
        (``mount``, item assignment, ``clear``).

        Raises:
            PinnedRequestError: the adapter for an ``http://``/``https://`` URL is not a
                :class:`PinnedAdapter`.
        """
        adapter = super().get_adapter(url)
        if not isinstance(adapter, PinnedAdapter) and str(url).strip().lower().startswith(
            "http"
        ):
            raise PinnedRequestError(
                f"refusing to send {quote(str(url), None)} through {type(adapter).__name__}: only "
                "a PinnedAdapter carries http(s) requests of a PinnedSession (pins checked); "
                "pass max_retries and the other adapter arguments to PinnedSession, or mount a "
                "PinnedAdapter"
            )
        return adapter

    def mount(self, prefix: str, adapter: requests.adapters.BaseAdapter) -> None:
        """:meth:`requests.Session.mount`, refusing an adapter that would bypass the pins.

        requests sends a URL through the adapter with the longest prefix it starts with (case
        insensitively), so mounting a plain adapter on any prefix an ``http(s)://`` URL can
        start with (``"https://"``, ``"https://api."``, ``"http"``, ``""``) would take such URLs
        away from the pinning adapter: the common retry recipe
        ``session.mount("https://", HTTPAdapter(max_retries=3))`` would silently turn pinning
        off. Pass ``max_retries`` (and the other adapter arguments) to :class:`PinnedSession`,
        or mount a :class:`PinnedAdapter`. Other schemes (``file://``) may be mounted freely.

        Raises:
            PinnedRequestError: ``adapter`` is not a :class:`PinnedAdapter` and ``prefix``
                can match an ``http://`` or ``https://`` URL.
        """
        low = prefix.lower()
        web = ("http://", "https://")
        if getattr(self, "_certpin_mounted", True) and not isinstance(adapter, PinnedAdapter) and (
            low.startswith(web) or any(scheme.startswith(low) for scheme in web)
        ):
            raise PinnedRequestError(
                f"refusing to mount {type(adapter).__name__} on {prefix!r} in a PinnedSession: "
                "that adapter would carry https:// requests without the pinning context (no pins "
                "checked); pass max_retries and the other adapter arguments to PinnedSession, or "
                "mount a PinnedAdapter"
            )
        super().mount(prefix, adapter)
