"""The pool and connection classes of certpin's urllib3 managers: each pool judges every
``urlopen`` (a pool used directly included), and each connection judges what it is about to
write in clear text under the policy in force at that moment, right before every write.

The pools' ``urlopen`` judges a request before it connects (:mod:`certpin.clients.urllib3`); a
policy swapped into the context while the TCP connection is being made (a signed update,
:mod:`certpin.tls.swap`) could pin the host after that and before the first byte is written
(review 10n). A plain connection has no TLS handshake to judge it again, so its ``send`` (the
one method through which urllib3 2.x and :mod:`http.client` write: the request line and headers
from ``endheaders``, every body chunk from ``request``, the ``CONNECT`` of a tunnel) connects if
needed, judges, and only then writes. On a refusal the connection is closed, nothing is written,
and :class:`~certpin.clients.PinnedRequestError` is raised.
"""

from __future__ import annotations

from typing import Any

import urllib3
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.util.proxy import connection_requires_http_tunnel
from urllib3.util.url import Url, parse_url

from ._common import PinnedRequestError, RequestGuard

__all__ = ["GuardedConnection", "guarded_connection_classes", "guarded_pool_classes"]


class GuardedConnection(HTTPConnection):
    """The checks shared by both classes :func:`guarded_connection_classes` makes (the guard is
    set on each subclass)."""

    certpin_guard: RequestGuard = RequestGuard(None)  # unknown policy: everything pinned
    #: True for the clear-text class: its host (and tunnel origin) receive bytes in clear text
    certpin_plain: bool = True
    #: the request target as urllib3 reads it: the origin's URL when a proxy forwards
    _certpin_target: Url | None = None

    def putrequest(self, method: str, url: str, *args: Any, **kwargs: Any) -> None:
        # parsed once, and only for a forwarding proxy (the pool's urlopen parsed it the same)
        self._certpin_target = parse_url(url) if self.proxy_is_forwarding else None
        super().putrequest(method, url, *args, **kwargs)

    def send(self, data: Any) -> None:
        if self.sock is None:
            # http.client's auto_open connects inside send: connect first, then judge, so that
            # a policy swapped in during the connect is the one judged.
            self.connect()
        try:
            self.certpin_judge()
        except BaseException:
            self.close()
            raise
        super().send(data)

    def certpin_judge(self) -> None:
        """Judge every host this connection's bytes reach in clear text, under the current
        policy: the host dialled and a tunnel's origin (clear-text class), an ``http://`` proxy,
        and, when a proxy forwards the request (an absolute request target), the URL's host.

        Raises:
            PinnedRequestError: one of them is pinned, or cannot be normalised.
        """
        guard = self.certpin_guard
        if self.certpin_plain:
            guard.check_plain(self.host)
            tunnel = getattr(self, "_tunnel_host", None)
            if tunnel:
                guard.check_plain(str(tunnel))
        proxy = self.proxy
        if proxy is None:
            return
        if proxy.scheme != "https":
            guard.check_plain(proxy.host, url=str(proxy))
        target = self._certpin_target
        if target is not None and target.scheme != "https":
            guard.check_plain(target.host, url=target.url)


def guarded_connection_classes(
    guard: RequestGuard,
) -> tuple[type[GuardedConnection], type[HTTPSConnection]]:
    """``(plain, TLS)`` connection classes for the pools of one pinned manager, judging with
    ``guard`` (see the module)."""

    class GuardedHTTPConnection(GuardedConnection):
        certpin_guard = guard

    class GuardedHTTPSConnection(GuardedConnection, HTTPSConnection):
        """TLS to the host: its bytes are judged by the pinning context; a proxy's (``CONNECT``
        and ``Proxy-Authorization`` to an ``http://`` proxy) and a forwarded request's are
        judged here."""

        certpin_guard = guard
        certpin_plain = False

    return GuardedHTTPConnection, GuardedHTTPSConnection


def guarded_pool_classes(guard: RequestGuard) -> dict[str, type[urllib3.HTTPConnectionPool]]:
    """Connection pools whose own ``urlopen`` (a pool from ``connection_from_url`` used
    directly) checks the request like the manager's: a ``Host`` header, or an absolute URL
    (``assert_same_host=False``), naming another host than the pool's (whose pins were
    checked) is refused; a proxy's forwarding pool judges the URL's own host (plain ``http``
    to a pinned host is refused). Their connections judge again right before every write
    (:mod:`certpin.clients.urllib3_conn`): a policy swapped in while connecting applies."""
    plain_conn, tls_conn = guarded_connection_classes(guard)

    def check(pool: urllib3.HTTPConnectionPool, url: str, headers: Any) -> None:
        want = tls_conn if isinstance(pool, urllib3.HTTPSConnectionPool) else plain_conn
        if not (isinstance(pool.ConnectionCls, type) and issubclass(pool.ConnectionCls, want)):
            raise PinnedRequestError(
                f"the connection pool for {pool.host} had its ConnectionCls replaced: its "
                "connections would not be judged right before they write"
            )
        if _settings(pool) != getattr(pool, "_certpin_settings", None):
            raise PinnedRequestError(
                f"the connection pool for {pool.host} had its proxy or TLS name settings "
                "changed after it was made: ask the pinned manager for a new pool"
            )
        if headers is None:  # urlopen sends the pool's own headers then (pool_kwargs headers)
            headers = pool.headers
        target = parse_url(url)
        proxy = pool.proxy
        if proxy is not None:
            # The proxy is judged at every request, like the manager's: a policy swapped in
            # since the pool was made may pin its host (review 10l).
            guard.check(proxy.scheme or "http", proxy.host, url=str(proxy))
        if proxy is not None and not connection_requires_http_tunnel(
            proxy, pool.proxy_config, target.scheme
        ):
            # Forwarding (urllib3's own test, as urlopen makes it): the pool is the proxy's,
            # and the request for the URL's host goes out in clear text: judged as that host.
            guard.check(target.scheme or "http", target.host, headers, url=url)
            return
        guard.check(pool.scheme, pool.host, headers)
        if target.host:
            guard.check(pool.scheme, pool.host, [("Host", target.host)])

    class Guarded(urllib3.HTTPConnectionPool):
        """The checks, for both pool classes below (remembers what the pool was made with;
        judges every ``urlopen``)."""

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self._certpin_settings = _settings(self)

        def urlopen(self, method: str, url: str, *args: Any, **kw: Any) -> Any:
            check(self, url, kw.get("headers") if "headers" in kw else _arg(args, 1))
            return super().urlopen(method, url, *args, **kw)

    class GuardedHTTPConnectionPool(Guarded):
        ConnectionCls = plain_conn

    class GuardedHTTPSConnectionPool(Guarded, urllib3.HTTPSConnectionPool):
        ConnectionCls = tls_conn

    return {"http": GuardedHTTPConnectionPool, "https": GuardedHTTPSConnectionPool}


def _settings(pool: urllib3.HTTPConnectionPool) -> tuple[Any, ...]:
    """What a pool was judged with when it was made: its proxy, proxy configuration and TLS name
    (``conn_kw``); compared again at every ``urlopen``."""
    conn_kw = getattr(pool, "conn_kw", {})
    return (
        pool.proxy, pool.proxy_config, conn_kw.get("server_hostname"),
        conn_kw.get("ssl_context"), getattr(pool, "ssl_context", None),
    )


def _arg(args: tuple[Any, ...], index: int) -> Any:
    """``args[index]`` or None (``urlopen(method, url, body, headers, ...)`` positionally)."""
    return args[index] if len(args) > index else None
