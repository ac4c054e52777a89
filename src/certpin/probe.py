"""Probe a live TLS server: connect, handshake, send nothing, return the chains it presented.

:func:`fetch_chain` is how certpin obtains the pins of a running server. It returns two chains:

* ``served``: the certificates exactly as the server sent them, in order (may hold extra,
  unrelated or missing certificates);
* ``verified``: the chain Python's :mod:`ssl` (OpenSSL) built and validated against the trust
  store, leaf first, trust anchor last. This is the chain pinning sees at run time, so pins must be
  taken from it. It can differ from the served chain: an intermediate or a cross-signed root that
  is already in the store replaces the served one, and served certificates that are not part of the
  path are left out.

No application byte is ever written: the socket is closed right after the handshake.
"""

from __future__ import annotations

import ipaddress
import socket
import ssl
from collections.abc import Sequence
from dataclasses import dataclass

from cryptography import x509

from .errors import CertificateError, ProbeError, escape, quote
from .hostnames import is_ip_literal
from .pins import load_certificates
from .tls.chain import served_chain, verified_chain

__all__ = ["FetchedChain", "fetch_chain", "parse_host_port", "verifying_context"]

#: OpenSSL reasons seen when the peer does not answer with TLS records (e.g. an HTTP server)
_NOT_TLS_REASONS = frozenset(
    {"WRONG_VERSION_NUMBER", "RECORD_LAYER_FAILURE", "PACKET_LENGTH_TOO_LONG", "HTTP_REQUEST",
     "UNEXPECTED_EOF_WHILE_READING", "UNKNOWN_PROTOCOL"}
)


@dataclass(frozen=True)
class FetchedChain:
    """What :func:`fetch_chain` saw on one TLS connection.

    Attributes:
        host: the host connected to, without brackets (``"::1"``, ``"example.com"``).
        port: the TCP port.
        server_name: the name sent as SNI and checked against the certificate; ``None`` when the
            host is an IP address and no ``server_name`` was given (no SNI is sent for IP
            addresses, RFC 6066 section 3; the certificate is then checked against the IP).
        served: the certificates the server sent, in the order it sent them (leaf first).
        verified: the chain Python's ssl validated (leaf first, trust anchor last), or ``None``
            if the chain did not validate against the trust store for ``server_name``/host.
        verify_error: why validation failed (OpenSSL's message, escaped), or ``None``.
        tls_version: the negotiated protocol, e.g. ``"TLSv1.3"``.
    """

    host: str
    port: int
    server_name: str | None
    served: tuple[x509.Certificate, ...]
    verified: tuple[x509.Certificate, ...] | None
    verify_error: str | None
    tls_version: str | None


#: Largest accepted timeout in seconds (one day); far larger values overflow time_t in socket.
MAX_TIMEOUT = 86400


def check_name(name: str, what: str) -> None:
    """Refuse a host or server name that no DNS name or IP literal can be (ProbeError)."""
    if not isinstance(name, str):
        raise ProbeError(f"invalid {what}: expected text, got {type(name).__name__}")
    if is_ip_literal(name):
        return
    bad = not name or any(c.isspace() or not c.isprintable() or c in "/\\@" for c in name)
    if not bad:
        try:
            name.encode("idna")  # what socket and ssl do with a str host name ("a.." fails)
        except UnicodeError:
            bad = True
        bad = bad or name in (".", "")
    if bad:
        raise ProbeError(f"invalid {what} {quote(name)}: not a host name or IP address")


def _where(host: str, port: int) -> str:
    shown = escape(host)
    return f"[{shown}]:{port}" if ":" in host else f"{shown}:{port}"


def parse_host_port(text: str, default_port: int = 443) -> tuple[str, int]:
    """Split ``host``, ``host:port``, ``[v6]``, ``[v6]:port`` or a bare IPv6 literal.

    Args:
        text: the target text.
        default_port: the port when ``text`` names none.

    Returns:
        ``(host, port)`` with IPv6 brackets removed and IP literals in canonical form.

    Raises:
        ProbeError: empty host, bad brackets, or a port that is not 1-65535.
    """
    host, port_text = _split_target(text)
    if not host:
        raise ProbeError(f"invalid target {quote(text)}: no host")
    if any(c.isspace() or not c.isprintable() or c in "/\\@?#" for c in host):
        raise ProbeError(f"invalid target {quote(text)}: not a host name")
    port = default_port if port_text is None else _target_port(port_text, text)
    if is_ip_literal(host):
        host = str(ipaddress.ip_address(host))
    try:
        check_name(host, "host")
    except ProbeError:
        raise ProbeError(
            f"invalid target {quote(text)}: not a host name or IP address"
        ) from None
    return host, port


def _split_target(text: str) -> tuple[str, str | None]:
    """The host and the port text (None if none) of a target, IPv6 brackets removed."""
    s = text.strip()
    if s.startswith("["):
        close = s.find("]")
        if close < 0:
            raise ProbeError(f"invalid target {quote(text)}: '[' without ']'")
        host, rest = s[1:close], s[close + 1 :]
        if rest and not rest.startswith(":"):
            raise ProbeError(f"invalid target {quote(text)}: expected ':PORT' after ']'")
        if not is_ip_literal(host) or ":" not in host:
            raise ProbeError(f"invalid target {quote(text)}: brackets hold an IPv6 address")
        return host, rest[1:] if rest else None
    if s.count(":") > 1:  # a bare IPv6 literal: no port possible
        if not is_ip_literal(s):
            raise ProbeError(
                f"invalid target {quote(text)}: write an IPv6 address with a port as [v6]:port"
            )
        return s, None
    if ":" in s:
        host, port_text = s.split(":", 1)
        return host, port_text
    return s, None


def _target_port(port_text: str, text: str) -> int:
    """The port of a target: 1-65535 in ASCII digits."""
    # ASCII digits only ("²".isdigit() but int() refuses it; "١٢" would be port 12), and
    # at most 5 of them: int() of over 4,300 digits raises a bare ValueError.
    digits = port_text.isascii() and port_text.isdigit() and len(port_text) <= 5
    if not digits or not 0 < int(port_text) < 65536:
        raise ProbeError(f"invalid target {quote(text)}: port must be 1-65535")
    return int(port_text)


def _to_x509(ders: Sequence[bytes]) -> tuple[x509.Certificate, ...]:
    certs: list[x509.Certificate] = []
    for der in ders:
        certs.extend(load_certificates(der))
    return tuple(certs)


def _handshake(
    host: str, port: int, sni: str | None, timeout: float, context: ssl.SSLContext
) -> ssl.SSLSocket:
    """Connect and complete a TLS handshake; the caller closes the socket. Sends no data."""
    where = _where(host, port)
    try:
        raw = socket.create_connection((host, port), timeout=timeout)
    except TimeoutError:
        raise ProbeError(f"{where}: connection timed out after {timeout:g} s") from None
    except socket.gaierror as exc:
        raise ProbeError(f"{where}: cannot resolve host: {escape(str(exc.strerror))}") from None
    except OSError as exc:
        reason = exc.strerror or str(exc) or type(exc).__name__
        raise ProbeError(f"{where}: cannot connect: {escape(reason)}") from None
    try:
        raw.settimeout(timeout)
        return context.wrap_socket(raw, server_hostname=sni)
    except BaseException:
        raw.close()
        raise


def verifying_context(cafile: str | None = None) -> ssl.SSLContext:
    """The validating client context :func:`fetch_chain` uses: ``CERT_REQUIRED``, host name
    checked, ``cafile`` (PEM) instead of the system trust store when given.

    Raises:
        CertificateError: ``cafile`` cannot be read as a CA file.
    """
    try:
        verifying = ssl.create_default_context(cafile=cafile)
    except (OSError, ssl.SSLError) as exc:
        raise CertificateError(
            f"cannot load CA file {escape(str(cafile))}: {escape(str(exc))}"
        ) from None
    verifying.check_hostname = True
    verifying.verify_mode = ssl.CERT_REQUIRED
    return verifying


def fetch_chain(
    host: str,
    port: int = 443,
    *,
    server_name: str | None = None,
    timeout: float = 10.0,
    cafile: str | None = None,
    context: ssl.SSLContext | None = None,
) -> FetchedChain:
    """Connect to ``host:port``, complete a TLS handshake, send nothing, and return the chains.

    First a handshake with full validation (``CERT_REQUIRED``, host name checked) against the
    trust store: on success, one connection gives both the served and the verified chain. If
    validation fails, a second handshake without validation obtains the served chain only
    (``verified=None``, ``verify_error`` set). Pins must be taken from ``verified``: that is what
    certpin matches at run time (a served chain can hold anything, DESIGN "Verified chain only").

    Args:
        host: a host name, an IPv4 address or an IPv6 address (``"::1"`` or ``"[::1]"``).
        port: the TCP port (1-65535).
        server_name: the SNI name to send and to check the certificate against; default ``host``
            (for an IP address no SNI is sent and the certificate must name that IP).
        timeout: seconds allowed for the TCP connect and, separately, for each blocking step of
            the handshake.
        cafile: a PEM file of trusted CAs used *instead of* the default trust store
            (:func:`ssl.create_default_context`).
        context: a context from :func:`verifying_context` to use instead of building one (it
            then takes the place of ``cafile``): loading the system trust store costs tens of
            milliseconds of CPU, so a check over many hosts builds it once.

    Returns:
        A :class:`FetchedChain`.

    Raises:
        ProbeError: the host cannot be resolved, the connection is refused or times out, the
            handshake fails or times out (e.g. the server does not speak TLS); the message names
            host and port. Also for arguments no connection could use (an impossible host or
            server name, a port outside 1-65535, a timeout that is not positive or is over
            :data:`MAX_TIMEOUT`), before any connection is made.
        CertificateError: ``cafile`` cannot be read as a CA file, or a certificate the server
            sent cannot be parsed by cryptography.

    Note:
        When validation fails, ``served`` comes from the second connection; a server behind a
        load balancer may present another chain there.
    """
    host, where, name, sni = _probe_target(host, port, server_name, timeout)
    verifying = _verifying(context, cafile, where)
    verify_error: str | None = None
    try:
        conn = _probe_handshake(host, port, sni, timeout, verifying)
    except ssl.SSLCertVerificationError as exc:
        verify_error = escape(str(exc.verify_message or exc.reason or exc))
    else:
        try:
            served = list(served_chain(conn))
            verified: list[bytes] | None = verified_chain(conn)
            version = conn.version()
        finally:
            conn.close()
        if not verified:  # pragma: no cover - a validated handshake always has a chain
            raise ProbeError(f"{where}: the TLS library returned no verified chain")
    if verify_error is not None:
        # Validation failed: look again without validation, only to show what the server sends.
        served, version = _served_without_validation(host, port, sni, timeout)
        verified = None
    return FetchedChain(
        host=host,
        port=port,
        server_name=None if is_ip_literal(name) else name,
        served=_to_x509(served),
        verified=None if verified is None else _to_x509(verified),
        verify_error=verify_error,
        tls_version=version,
    )


def _probe_target(host: str, port: int, server_name: str | None,
                  timeout: float) -> tuple[str, str, str, str | None]:
    """Check :func:`fetch_chain`'s arguments; the host (canonical if an IP), ``host:port`` for
    messages, the name the certificate must carry, and the SNI to send."""
    if isinstance(host, str) and host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if is_ip_literal(host):
        host = str(ipaddress.ip_address(host))
    check_name(host, "host")
    if not isinstance(port, int) or isinstance(port, bool) or not 0 < port < 65536:
        raise ProbeError(f"{escape(host)}: port must be 1-65535, got {port!r}")
    where = _where(host, port)
    if (isinstance(timeout, bool) or not isinstance(timeout, int | float)
            or not 0 < timeout <= MAX_TIMEOUT):
        raise ProbeError(f"{where}: timeout must be a positive number of seconds up to "
                         f"{MAX_TIMEOUT}, got {timeout!r}")
    name = server_name if server_name is not None else host
    if server_name is not None:
        check_name(server_name, f"server name for {where}")
    sni: str | None = name
    if is_ip_literal(name):
        sni = str(ipaddress.ip_address(name))  # Python's ssl sends no SNI for IP addresses
    return host, where, name, sni


def _verifying(context: ssl.SSLContext | None, cafile: str | None, where: str) -> ssl.SSLContext:
    """The validating context to probe with: ``context`` if it verifies, else a new one."""
    if context is None:
        return verifying_context(cafile)
    if context.verify_mode != ssl.CERT_REQUIRED or not context.check_hostname:
        raise ProbeError(
            f"{where}: the context must verify (CERT_REQUIRED, check_hostname): a chain "
            "built without validation is not a verified chain"
        )
    return context


def _served_without_validation(host: str, port: int, sni: str | None,
                               timeout: float) -> tuple[list[bytes], str | None]:
    """The chain the server sends and the TLS version, from a handshake that validates nothing."""
    looking = ssl.create_default_context()
    looking.check_hostname = False
    looking.verify_mode = ssl.CERT_NONE
    conn = _probe_handshake(host, port, sni, timeout, looking)
    try:
        return list(served_chain(conn)), conn.version()
    finally:
        conn.close()


def _probe_handshake(
    host: str, port: int, sni: str | None, timeout: float, context: ssl.SSLContext
) -> ssl.SSLSocket:
    """:func:`_handshake`, with every failure but a certificate verification error turned into
    a :class:`ProbeError` naming host and port."""
    where = _where(host, port)
    try:
        return _handshake(host, port, sni, timeout, context)
    except ssl.SSLCertVerificationError:
        raise
    except ProbeError:
        raise
    except TimeoutError:
        raise ProbeError(f"{where}: TLS handshake timed out after {timeout:g} s") from None
    except ssl.SSLError as exc:
        reason = exc.reason or str(exc)
        hint = " (not a TLS server?)" if reason in _NOT_TLS_REASONS else ""
        raise ProbeError(f"{where}: TLS handshake failed{hint}: {escape(reason)}") from None
    except OSError as exc:
        reason = exc.strerror or str(exc) or type(exc).__name__
        raise ProbeError(f"{where}: TLS handshake failed: {escape(reason)}") from None
