"""What certpin reads off a TLS connection: the verified chain, the served chain, the host name
and the port.

Part of :mod:`certpin.tls` (the only place that touches :mod:`ssl` internals): the chain
OpenSSL **verified** is the only chain pins are matched against; the chain the server sent is
read for violation reports only.
"""

from __future__ import annotations

import _ssl
import contextlib
import socket
import ssl
from typing import Any, Final

__all__ = [
    "der_list",
    "hostname_of",
    "port_of",
    "served_chain",
    "verified_certificates",
    "verified_chain",
]

# Used to turn 3.11/3.12 ``_ssl.Certificate`` objects into DER bytes.
ENCODING_DER: Final[int] = int(getattr(_ssl, "ENCODING_DER", 2))


def der_list(chain: Any) -> list[bytes]:
    if not chain:
        return []
    out: list[bytes] = []
    for cert in chain:
        if isinstance(cert, bytes | bytearray):
            out.append(bytes(cert))
        else:  # _ssl.Certificate (3.10-3.12)
            out.append(bytes(cert.public_bytes(ENCODING_DER)))
    return out


def verified_certificates(conn: ssl.SSLSocket | ssl.SSLObject) -> tuple[Any, ...]:
    """The chain OpenSSL verified for ``conn`` as OpenSSL's own objects, leaf first; ``()`` if none.

    These are ``_ssl.Certificate`` objects (from the C method ``conn._sslobj.get_verified_chain()``
    that 3.10+ have; 3.13's public ``get_verified_chain()`` wraps it and converts to DER), or
    DER bytes from the public method should a future Python drop the private one. Two
    ``_ssl.Certificate`` objects compare equal through OpenSSL's ``X509_cmp``: same SHA-1 of the
    whole certificate and same TBSCertificate encoding, hence the same SubjectPublicKeyInfo.
    """
    inner = getattr(conn, "_sslobj", None)
    if inner is None:  # not connected, closed, or unwrapped
        return ()
    try:
        getter = inner.get_verified_chain
    except AttributeError:  # pragma: no cover - a future Python without the private method
        getter = getattr(conn, "get_verified_chain", None)
        if getter is None:
            return ()
    try:
        return tuple(getter() or ())
    except (ValueError, OSError):
        return ()


def verified_chain(conn: ssl.SSLSocket | ssl.SSLObject) -> list[bytes]:
    """Return the chain OpenSSL verified for ``conn``, as DER certificates, leaf first.

    Python 3.13 added a public ``get_verified_chain()`` returning DER bytes; it wraps the C
    method ``conn._sslobj.get_verified_chain()`` that 3.10-3.12 already have, which returns
    ``_ssl.Certificate`` objects (or None). That C method is called directly on every version
    and its certificates turned into DER here; the public method is the fallback should a
    future Python drop the private one.

    Args:
        conn: a handshaken :class:`ssl.SSLSocket` or :class:`ssl.SSLObject` (client side).

    Returns:
        ``list[bytes]``: DER certificates from the leaf to the trust anchor (or to the trusted
        certificate where OpenSSL stopped, see ``VERIFY_X509_PARTIAL_CHAIN`` in the module
        docstring). ``[]`` when there is none: no handshake yet, a closed socket, a resumed
        session, or a handshake made without verification. Callers must treat ``[]`` as a
        failure, never as "nothing to check".
    """
    try:
        return der_list(verified_certificates(conn))
    except (ValueError, OSError):  # pragma: no cover - OpenSSL could not encode a certificate
        return []


def served_chain(conn: ssl.SSLSocket | ssl.SSLObject) -> tuple[bytes, ...]:
    """The chain the server sent (for violation reports only: never matched against pins)."""
    inner = getattr(conn, "_sslobj", None)
    if inner is None:
        return ()
    getter = getattr(conn, "get_unverified_chain", None) or getattr(
        inner, "get_unverified_chain", None
    )
    if getter is None:  # pragma: no cover
        return ()
    try:
        return tuple(der_list(getter()))
    except (ValueError, OSError):
        return ()


def hostname_of(conn: ssl.SSLSocket | ssl.SSLObject) -> str:
    """The host name OpenSSL checks the certificate against (and sent as SNI).

    Read from the C-level connection once there is one: ``SSLSocket.server_hostname`` is a plain
    Python attribute that code could reassign after the handshake, which would move the pin
    lookup to another name than the one OpenSSL verified. Before the connection exists (a socket
    not yet connected) the attribute is all there is.
    """
    inner = getattr(conn, "_sslobj", None)
    name = inner.server_hostname if inner is not None else conn.server_hostname
    if isinstance(name, bytes):  # pragma: no cover - ssl always stores str
        name = name.decode("ascii", "replace")
    return name or ""


def port_of(conn: ssl.SSLSocket | ssl.SSLObject) -> int | None:
    if isinstance(conn, socket.socket):
        with contextlib.suppress(OSError, IndexError, TypeError):
            return int(conn.getpeername()[1])
    return None
