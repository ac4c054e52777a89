"""What every client helper shares: building the pinning context and the request guard.

The pinning itself happens inside the TLS layer (:func:`certpin.create_ssl_context`): every
handshake made with the context is checked against the policy before a byte is sent. The helpers
add what a TLS context cannot see, at the HTTP layer, before a request is sent (issue 3, item 4):

* a plain ``http://`` (or ``ws://``) request to a pinned host is refused, including a redirect
  hop from ``https://`` to ``http://``;
* a ``Host`` header (HTTP/2 ``:authority``) that names another host than the URL, whose name is
  the TLS name the pins were checked for, is refused;
* a TLS name override (``server_hostname``) that differs from the URL host is refused.

A refusal raises :class:`PinnedRequestError` (a :class:`certpin.PolicyError`, so a
``ValueError``) before any connection is opened.
"""

from __future__ import annotations

import re
import ssl
import urllib.parse
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..errors import PolicyError, escape, quote

if TYPE_CHECKING:
    from ..policy import PinPolicy

__all__ = ["GuardedTransport", "PinnedRequestError", "RequestGuard", "resolve_context"]


class PinnedRequestError(PolicyError):
    """A request that a certpin client helper refuses before anything is sent.

    Raised for a plain ``http://``/``ws://`` request (or redirect hop) to a pinned host, a
    ``Host`` header that differs from the URL's host, a TLS name override that differs from the
    URL's host, and client options that would bypass or weaken the pinning context
    (``verify=False``, ``ssl=False``, another ``SSLContext``, ``assert_fingerprint`` ...).
    """


def resolve_context(
    policy_or_context: PinPolicy | ssl.SSLContext,
    *,
    cafile: str | None = None,
    capath: str | None = None,
    cadata: str | bytes | None = None,
    base: ssl.SSLContext | None = None,
    on_report: Callable[[Any], None] | None = None,
) -> tuple[ssl.SSLContext, PinPolicy]:
    """Return ``(pinning context, policy)`` for a helper.

    Args:
        policy_or_context: a :class:`certpin.PinPolicy` (a context is made with
            :func:`certpin.create_ssl_context` and the keyword arguments), or a context already
            made by :func:`certpin.create_ssl_context` (the keyword arguments must then be unset).
        cafile, capath, cadata, base, on_report: passed to :func:`certpin.create_ssl_context`.

    Returns:
        The context and the policy it enforces.

    Raises:
        PinnedRequestError: a context that is not a certpin pinning context, or a context
            together with context keyword arguments.
        certpin.PolicyError: from :func:`certpin.create_ssl_context` (bad policy or base).
    """
    if isinstance(policy_or_context, ssl.SSLContext):
        given = [
            name for name, value in (("cafile", cafile), ("capath", capath), ("cadata", cadata),
                                     ("base", base), ("on_report", on_report))
            if value is not None
        ]
        if given:
            raise PinnedRequestError(
                f"context options ({', '.join(given)}) can only be given with a PinPolicy, not "
                "with a ready-made context: they apply only when a policy is given"
            )
        ctx = policy_or_context
        policy = context_policy(ctx)
        if policy is None:
            raise PinnedRequestError(
                f"this {type(ctx).__name__} does not enforce pins: it is not a certpin pinning "
                "context; make it with certpin.create_ssl_context(policy, ...) or pass the "
                "policy itself"
            )
        return ctx, policy
    from ..context import create_ssl_context

    ctx = create_ssl_context(
        policy_or_context, cafile=cafile, capath=capath, cadata=cadata, base=base,
        on_report=on_report,
    )
    return ctx, policy_or_context


def context_policy(ctx: ssl.SSLContext) -> PinPolicy | None:
    """The policy a certpin pinning context enforces, or None for any other context."""
    from ..tls import PinningSSLContext

    return ctx.policy if isinstance(ctx, PinningSSLContext) else None


def is_pinning_context(ctx: ssl.SSLContext) -> bool:
    """True when ``ctx`` checks pins at every handshake (made by certpin)."""
    return context_policy(ctx) is not None


def _host_of_authority(authority: str) -> str:
    """``"a.test:443"`` -> ``"a.test"``; ``"[::1]:8443"`` -> ``"::1"``."""
    authority = authority.strip()
    if authority.startswith("["):
        end = authority.find("]")
        return authority[1:end] if end > 0 else authority
    if authority.count(":") == 1:
        return authority.split(":", 1)[0]
    return authority


#: RFC 9110 section 5.1: a field name is a token (5.6.2: tchar = "!" / "#" / "$" / "%" / "&" /
#: "'" / "*" / "+" / "-" / "." / "^" / "_" / "`" / "|" / "~" / DIGIT / ALPHA).
#: A request target that starts with a URI scheme (RFC 3986 section 3.1): absolute-form.
_ABSOLUTE = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:")
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")


def _header_names(headers: object) -> list[str]:
    """Every header name in a mapping, a multidict or a list of pairs (repeats included)."""
    if headers is None:
        return []
    raw_items = getattr(headers, "raw_items", None)
    if callable(raw_items):  # websockets.datastructures.Headers
        return [_text(k) for k, _ in raw_items()]
    if isinstance(headers, Mapping):
        getall = getattr(headers, "getall", None) or getattr(headers, "get_list", None)
        if getall is not None:
            return [str(k) for k in headers for _ in getall(k)]
        return [_text(k) for k in headers]
    return [_text(k) for k, _ in headers]  # type: ignore[attr-defined]


def _header_values(headers: object, name: str) -> list[str]:
    """All values of header ``name`` (case-insensitive) in a mapping or a list of pairs."""
    if headers is None:
        return []
    wanted = name.lower()
    items: Iterable[Any]
    raw_items = getattr(headers, "raw_items", None)
    if callable(raw_items):  # websockets.datastructures.Headers: items() raises on repeats
        return [_text(v) for k, v in raw_items() if _text(k).lower() == wanted]
    if isinstance(headers, Mapping):
        getall = getattr(headers, "getall", None) or getattr(headers, "get_list", None)
        if getall is not None:  # multidicts (aiohttp, httpx): every value of the name
            values: list[str] = []
            for key in {str(k) for k in headers}:
                if key.lower() == wanted:
                    values.extend(_text(v) for v in getall(key))
            return values
        items = headers.items()
    else:
        items = headers  # type: ignore[assignment]
    return [_text(v) for k, v in items if _text(k).lower() == wanted]


def _text(value: object) -> str:
    if isinstance(value, bytes | bytearray):
        return bytes(value).decode("latin-1")
    return str(value)


@dataclass(frozen=True)
class RequestGuard:
    """Checks each request (and each redirect hop) before a helper sends it.

    Every helper calls :meth:`check` with the scheme and host **as its client library parsed
    the URL** (websockets' ``parse_uri``, urllib3's ``parse_url``, httpx's ``URL``, yarl,
    ``urllib.request.Request.host``), never a second parse of the URL text: two parsers disagree
    on whitespace, control characters, backslashes, userinfo and percent-encoding, and the
    guard must judge the host the library really connects to (issue 10).

    Attributes:
        source: the pinning context whose policy is in force (read at every check, so a policy
            swapped into the context by a signed update applies to the next request too), a
            :class:`certpin.PinPolicy`, or None when unknown (then every host counts as pinned).
    """

    source: PinPolicy | ssl.SSLContext | None

    @property
    def policy(self) -> PinPolicy | None:
        """The policy in force now (the context's, read at each call)."""
        source = self.source
        if source is None or isinstance(source, ssl.SSLContext):
            return None if source is None else context_policy(source)
        return source

    def check_target(self, scheme: str, host: str, target: str) -> None:
        """Refuse an absolute request target (``GET https://other/...``) that names another
        host than ``host``, the one connected to (whose pins were checked), or whose host
        cannot be told: a backslash or a character outside RFC 3986 (parsers disagree there:
        ``https://a\\@b/`` is ``b`` to ``urlsplit`` and ``a`` to urllib3 and browsers).

        Args:
            scheme: the connection's scheme; host: the host connected to; target: the request
                target as it will be sent.

        Raises:
            PinnedRequestError: as above.
        """
        if not _ABSOLUTE.match(target):
            return  # origin-form ("/path"), "*", or no scheme: names no host
        parts = urllib.parse.urlsplit(target)
        if (
            "\\" in target
            or not target.isprintable()
            or any(c.isspace() for c in target)
            or not target[len(parts.scheme) + 1 :].startswith("//")
            or not parts.netloc.rpartition("@")[2]
        ):
            # "https:pinned/", "https:/pinned/", "https:///pinned/", "https://a\@b/": browsers
            # (WHATWG) and urlsplit read different hosts, or none, in these.
            raise PinnedRequestError(
                f"refusing the absolute request target {quote(target, None)}: which host it names "
                "cannot be told (URL parsers disagree on it)"
            )
        named = parts.netloc.rpartition("@")[2]
        self.check(scheme, host, [("Host", named)], url=target)

    def normalize(self, host: str) -> str:
        """The host in the policy's normal form (certpin.policy.normalize_host).

        Raises:
            PinnedRequestError: a host that cannot be normalised.
        """
        from ..hostnames import normalize_host

        try:
            return normalize_host(host)
        except (PolicyError, ValueError, TypeError) as exc:
            raise PinnedRequestError(f"invalid host {quote(str(host), None)}: {exc}") from exc

    def is_pinned(self, host: str) -> bool:
        """:meth:`certpin.PinPolicy.is_pinned` of the policy in force (any doubt is True); True
        when the policy is unknown."""
        policy = self.policy
        return True if policy is None else policy.is_pinned(host)

    def check_plain(self, host: str | None, *, url: object = None) -> None:
        """Refuse clear text to ``host`` when the policy in force pins it: the part of
        :meth:`check` a policy swap can change, at the cost of one lookup (the helpers call it
        right before every write of a plain connection).

        Raises:
            PinnedRequestError: as :meth:`check` with ``scheme="http"`` (no host, a pinned
                host, or one that cannot be normalised).
        """
        if not host or self.is_pinned(str(host)):
            self.check("http", host, url=url)

    def check(
        self,
        scheme: str,
        host: str | None,
        headers: object = None,
        *,
        server_hostname: str | None = None,
        url: object = None,
    ) -> None:
        """Refuse a request to ``scheme://host`` if the helpers must.

        Args:
            scheme: the URL scheme as the client library parsed it (``http``, ``https``,
                ``ws``, ``wss``; any case).
            host: the host the client library connects to and sends as the TLS name (brackets
                around IPv6 allowed), as it parsed it; None or empty is refused.
            headers: the request headers (a mapping, a multidict or a list of pairs), or None.
            server_hostname: a TLS name override given by the caller, or None.
            url: the URL as given, for messages only.

        Raises:
            PinnedRequestError: no host; another scheme; plain ``http``/``ws`` to a pinned host
                (:meth:`is_pinned`, so also a host that cannot be normalised); a host that
                cannot be normalised; a header name that is not an RFC 9110 token; a ``Host``
                header or a ``server_hostname`` naming another host than ``host``.
        """
        scheme = str(scheme).lower()
        shown = escape(str(url if url is not None else f"{scheme}://{host}"))
        if not host:
            raise PinnedRequestError(f"no host in URL {shown!r}")
        host = str(host)
        if scheme in ("http", "ws") and self.is_pinned(host):
            raise PinnedRequestError(
                f"refusing plain {scheme}:// request to pinned host {escape(host)}: pins can only "
                f"be checked over TLS; use {scheme}s://{escape(host)}/ (an https-to-http redirect "
                "to a pinned host is refused the same way)"
            )
        if scheme not in ("http", "https", "ws", "wss"):
            raise PinnedRequestError(f"unsupported URL scheme {quote(scheme, None)} in {shown!r}")
        want = self.normalize(host)
        for header in _header_names(headers):
            if not _TOKEN.fullmatch(header):
                # "Host " or "X: y\r\nHost" would reach the server as another Host header,
                # or as another request, past the comparison below.
                raise PinnedRequestError(
                    f"refusing header name {quote(header, None)}: not an RFC 9110 token (white "
                    "space, ':' or control characters could smuggle a Host header or a request)"
                )
        for value in _header_values(headers, "host"):
            named = _host_of_authority(value)
            if self.normalize(named) != want:
                raise PinnedRequestError(
                    f"refusing request to {escape(host)} with Host header {quote(value, None)}: "
                    "the "
                    f"connection's pins are checked for the TLS name {escape(host)}, not for "
                    f"{escape(named)}; request https://{escape(named)}/ instead"
                )
        if server_hostname is not None and self.normalize(server_hostname) != want:
            raise PinnedRequestError(
                f"refusing TLS name override {quote(server_hostname, None)} for a request to "
                f"{escape(host)}: pins would be checked for another host than the one addressed"
            )


class GuardedTransport:
    """An asyncio transport of a plain (clear-text) connection that judges before every write.

    A plain connection has no TLS to judge again after a policy swap (:mod:`certpin.tls.swap`):
    a WebSocket opened to a host the old policy did not pin would keep writing frames, closing
    frames and heartbeats in clear text to a host the new policy pins (reviews 10l and 10m).
    Every ``write``/``writelines``/``write_eof`` first calls ``judge`` (which raises
    :class:`PinnedRequestError` when the current policy refuses the host); on a refusal the real
    transport is aborted (no closing handshake, nothing buffered is flushed) and the error
    raised. Every other attribute is the real transport's.
    """

    __slots__ = ("_certpin_judge", "_certpin_transport")

    def __init__(self, transport: Any, judge: Callable[[], None]) -> None:
        self._certpin_transport = transport
        self._certpin_judge = judge

    def _certpin_check(self) -> None:
        try:
            self._certpin_judge()
        except BaseException:
            self._certpin_transport.abort()
            raise

    def write(self, data: Any) -> None:
        self._certpin_check()
        self._certpin_transport.write(data)

    def writelines(self, list_of_data: Any) -> None:
        self._certpin_check()
        self._certpin_transport.writelines(list_of_data)

    def write_eof(self) -> None:
        self._certpin_check()
        self._certpin_transport.write_eof()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._certpin_transport, name)
