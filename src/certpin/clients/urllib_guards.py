"""The urllib side of :mod:`certpin.clients.stdlib`: the handlers ``build_opener`` installs to
judge every request as urllib reads it (plain text to a pinned host, ``Host`` headers, proxies,
``ftp://``), at request processing and again when a request is opened.
"""

from __future__ import annotations

import http.client
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

from ..errors import quote
from ..tls import PinningSSLContext
from ._common import PinnedRequestError, RequestGuard

__all__ = [
    "PinnedHTTPHandler",
    "PinnedProxyHandler",
    "RefusePlainText",
    "connect_host",
    "judge_plain_send",
    "judge_request",
]

def connect_host(host: str) -> str:
    """The host :mod:`http.client` connects to (and, for HTTPS, sends as the TLS name) for the
    ``host`` it is given: its own host/port split (``HTTPConnection._get_hostport``), which
    strips the port and IPv6 brackets.

    Raises:
        PinnedRequestError: http.client refuses the port (``http.client.InvalidURL``).
    """
    try:
        return str(http.client.HTTPConnection(host).host)  # makes no socket
    except (http.client.InvalidURL, ValueError) as exc:
        raise PinnedRequestError(f"invalid host {quote(host, None)}: {exc}") from exc


def judge_request(guard: RequestGuard, req: urllib.request.Request) -> None:
    """Judge ``req`` as urllib will send it: the URL as urllib reads it (``Request``'s own parse:
    _splittype, _splithost, percent-decoded, whatever ``set_proxy`` did to ``req.host`` and
    ``req.type`` since), its headers for plain ``http``, and a proxy set on it.

    Raises:
        urllib.error.URLError: whose ``reason`` is the :class:`PinnedRequestError`.
    """
    origin = urllib.request.Request(req.full_url)  # noqa: S310 (parsed, never opened)
    try:
        if origin.type == "https":
            guard.check("https", connect_host(origin.host), url=req.full_url)
        else:
            headers = list(req.header_items())
            guard.check(origin.type, connect_host(origin.host), headers, url=req.full_url)
        if req.has_proxy():
            # A proxy set on the request: reached in clear text unless it speaks TLS.
            guard.check(req.type, connect_host(req.host), url=req.full_url)
    except PinnedRequestError as refused:
        raise urllib.error.URLError(refused) from refused


class PinnedHTTPHandler(urllib.request.HTTPHandler):
    """urllib's ``HTTPHandler``, judging the request once more when it opens it: after every
    request processor ran, so a processor that changed the URL or the ``Host`` header after
    certpin's (``handler_order`` over 100) cannot send plain text to a pinned host; and again
    right before every write on the connection (:class:`_JudgedConnection`), so a policy swapped
    in while the TCP connection was being made applies (review 10n)."""

    def __init__(self, context: PinningSSLContext) -> None:
        super().__init__()
        self._guard = RequestGuard(context)

    def http_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        judge_request(self._guard, req)
        judge_plain_send(self._guard, req)

        class _Judged(_JudgedConnection):
            certpin_guard = self._guard
            certpin_proxied = req.has_proxy()

        try:
            return super().do_open(_Judged, req)
        except PinnedRequestError as refused:
            raise urllib.error.URLError(refused) from refused


class _JudgedConnection(http.client.HTTPConnection):
    """A clear-text connection that judges right before every write (the request line and
    headers, each body chunk), after connecting (:mod:`http.client` connects inside ``send``,
    ``auto_open``): the host connected to and, through a proxy, the host the request target
    names (the proxy forwards it there in clear text) are refused when the policy in force
    then pins them. On a refusal the connection is closed and :class:`PinnedRequestError`
    raised. What no policy swap changes (headers, the target's form) was judged before."""

    certpin_guard: RequestGuard = RequestGuard(None)  # unknown policy: everything pinned
    certpin_proxied: bool = False
    _certpin_named: str | None = None

    def putrequest(self, method: str, url: str, *args: Any, **kwargs: Any) -> None:
        if self.certpin_proxied:  # the origin the proxy forwards to, read once
            self._certpin_named = connect_host(
                urllib.parse.urlsplit(url).netloc.rpartition("@")[2]
            )
        super().putrequest(method, url, *args, **kwargs)

    def send(self, data: Any) -> None:
        if self.sock is None and self.auto_open:
            self.connect()
        try:
            self.certpin_guard.check_plain(self.host)
            if self.certpin_proxied:
                self.certpin_guard.check_plain(self._certpin_named)
        except BaseException:
            self.close()
            raise
        super().send(data)


def judge_plain_send(guard: RequestGuard, req: urllib.request.Request) -> None:
    """Judge a plain-text request by what urllib sends, not by its URL: ``http.client`` connects
    to ``req.host`` (the proxy's, for a proxied request) and sends ``req.selector`` as the
    request target; ``req.type``, ``req.host`` and ``req.selector`` are public and may have been
    changed after the URL was judged (by the application or a later request processor).

    Raises:
        urllib.error.URLError: whose ``reason`` is the :class:`PinnedRequestError`: the host
            connected to is pinned (plain text to it), an absolute request target names a
            pinned host, or, without a proxy, names another host than the one connected to.
    """
    try:
        dial = connect_host(req.host)
        guard.check("http", dial, list(req.header_items()) if not req.has_proxy() else None)
        # Without a proxy an absolute target must name the host connected to; through a proxy
        # it is the origin the proxy forwards to in clear text: refused when pinned.
        if not req.has_proxy():
            guard.check_target("http", dial, req.selector)
        else:
            named = connect_host(urllib.parse.urlsplit(req.selector).netloc.rpartition("@")[2])
            guard.check_target("http", named, req.selector)
            guard.check("http", named, url=req.selector)
    except PinnedRequestError as refused:
        raise urllib.error.URLError(refused) from refused


class RefusePlainText(urllib.request.BaseHandler):
    """Refuse ``http://`` requests (first or after a redirect) to pinned hosts.

    The host judged is the one urllib connects to: ``Request.host`` (urllib's own reading of
    the URL: ``_splittype``/``_splithost``, then percent-decoded) split by :mod:`http.client`
    as it will be when the connection is made; a host that cannot be normalised counts as
    pinned (:meth:`certpin.PinPolicy.is_pinned`).
    """

    handler_order = 100  # before the default handlers

    def __init__(self, context: PinningSSLContext) -> None:
        self._guard = RequestGuard(context)

    def http_request(self, req: urllib.request.Request) -> urllib.request.Request:
        """Judge an ``http://`` request: the origin (plain text: refused when pinned), its
        ``Host`` header, and a proxy set on it (``Request.set_proxy``)."""
        self._judge(req)
        return req

    def https_request(self, req: urllib.request.Request) -> urllib.request.Request:
        """Judge an ``https`` request for what its connection cannot see: an origin that is
        ``http://`` (``Request.set_proxy(..., "https")`` on an ``http://`` URL: the proxy then
        forwards it in clear text) and a proxy set on the request. The origin's name and
        ``Host`` header are judged by the connection (:class:`certpin.PolicyError`, as
        documented)."""
        origin = urllib.request.Request(req.full_url)  # noqa: S310 (parsed, never opened)
        if origin.type != "https" or req.has_proxy():
            self._judge(req)
        return req

    def _judge(self, req: urllib.request.Request) -> None:
        judge_request(self._guard, req)

    def ftp_request(self, req: urllib.request.Request) -> urllib.request.Request:
        """FTP is refused, to every host, first or as a redirect hop (urllib's redirect handler
        follows ``https`` to ``ftp``). It is clear text (user, password, commands), and
        urllib's ``FTPHandler`` connects and logs in in one call, so a policy swapped in while
        it connects (pinning the host) could not be judged before the login is sent (review
        10r); judging only when the request is processed is not enough."""
        refused = PinnedRequestError(
            f"refusing ftp:// URL for {quote(req.host or '')}: "
            "certpin's opener does not speak FTP, which is clear text (user, password, "
            "commands) that pins cannot protect; use https://"
        )
        raise urllib.error.URLError(refused) from refused


class PinnedProxyHandler(urllib.request.ProxyHandler):
    """urllib's proxy handler, refusing the proxies urllib would reach in clear text wrongly.

    urllib cannot speak TLS to a proxy: for an ``https://`` proxy (``https_proxy`` in the
    environment, or given) it connects in clear text and sends ``CONNECT`` and
    ``Proxy-Authorization`` unencrypted; so an ``https://`` proxy is refused. A proxy whose host is
    pinned (:meth:`certpin.PinPolicy.is_pinned`) is refused too: the connection to it is plain
    text. Proxies bypassed by ``no_proxy`` are not judged. The proxy URL is read with urllib's own
    parser (``urllib.request._parse_proxy``), the host split as :mod:`http.client` splits it.
    """

    def __init__(self, proxies: dict[str, str] | None, guard: RequestGuard) -> None:
        super().__init__(proxies)
        self.certpin_guard = guard

    def proxy_open(
        self, req: urllib.request.Request, proxy: str, type: str
    ) -> http.client.HTTPResponse | None:
        if req.host and urllib.request.proxy_bypass(req.host):
            return None  # as ProxyHandler.proxy_open: no proxy for this host
        parse_proxy = urllib.request._parse_proxy  # type: ignore[attr-defined]
        scheme, _user, _password, hostport = parse_proxy(proxy)
        try:
            if (scheme or "").lower() == "https":
                raise PinnedRequestError(
                    f"refusing the https:// proxy {quote(hostport, None)}: urllib cannot speak TLS "
                    "to a proxy and would send CONNECT and Proxy-Authorization to it in clear "
                    "text; use an http:// proxy, or another certpin helper (httpx, urllib3, "
                    "requests, aiohttp) that pins the TLS to an https:// proxy"
                )
            self.certpin_guard.check("http", connect_host(hostport), url=proxy)
        except PinnedRequestError as refused:
            raise urllib.error.URLError(refused) from refused
        return super().proxy_open(req, proxy, type)
