"""The public entry point for enforcing pins: :func:`create_ssl_context`.

An outer layer over :mod:`certpin.tls` (the TLS glue): it builds the pinning context and, once
violation reports exist (:mod:`certpin.report`), wires the reporter in.
"""

from __future__ import annotations

import ssl
from collections.abc import Callable

from .policy import PinPolicy
from .report import ViolationReport
from .reporter import make_reporter
from .tls import pinning_context

__all__ = ["create_ssl_context"]


def create_ssl_context(
    policy: PinPolicy,
    *,
    cafile: str | None = None,
    capath: str | None = None,
    cadata: str | bytes | None = None,
    base: ssl.SSLContext | None = None,
    on_report: Callable[[ViolationReport], None] | None = None,
) -> ssl.SSLContext:
    """Return a client :class:`ssl.SSLContext` that validates certificates and enforces pins.

    Hand the result to any client (``http.client``, ``urllib.request``, urllib3, requests,
    httpx, aiohttp, websockets, ``asyncio.open_connection``): right after every TLS handshake,
    on both the ``wrap_socket`` and the ``wrap_bio`` (asyncio) paths, the pins of every
    certificate of the chain OpenSSL **verified** are matched against the host's pin set, and
    the connection is closed before any application byte is sent if none matches.

    Trust: :func:`ssl.create_default_context`'s (the system store) unless ``cafile``, ``capath``
    or ``cadata`` is given (then those replace it), or ``base`` is given (then its trust store
    is kept and those are added).

    ``base``: a plain client :class:`ssl.SSLContext` you prepared (client certificate for mTLS
    with ``load_cert_chain``, ciphers, ``minimum_version``, ALPN, trust). Because an SSLContext
    cannot be copied, ``base`` itself is adopted and returned: it keeps every setting, gains
    ``OP_NO_RENEGOTIATION`` and becomes a :class:`certpin.tls.PinningSSLContext` in place, so
    every later connection through it enforces ``policy`` and it can no longer be weakened. Do
    not keep using it for unpinned traffic. ``load_cert_chain`` on the returned context works
    too. Note that a client certificate is sent during the handshake, before pins are checked
    (in clear text on TLS 1.2): prefer TLS 1.3 for pinned mTLS hosts.

    Args:
        policy: the :class:`certpin.PinPolicy` to enforce.
        cafile: path of a PEM file of trust anchors.
        capath: path of a hashed directory of trust anchors (``c_rehash``).
        cadata: PEM text or DER bytes of trust anchors.
        base: see above; must verify certificates (``CERT_REQUIRED``) and host names.
        on_report: called with a :class:`certpin.ViolationReport` for every pin failure,
            report-only mismatch and certificate validation failure of a pinned host, on the
            thread that ran the handshake (keep it short; exceptions it raises are logged and
            ignored). Reports are also POSTed to the pin set's ``report_uris`` in the
            background (see :mod:`certpin.report`); the connection never waits for them.

    Returns:
        The pinning :class:`ssl.SSLContext`. Setting ``verify_mode`` below ``CERT_REQUIRED``,
        ``check_hostname = False`` or clearing ``OP_NO_RENEGOTIATION`` on it raises
        :class:`certpin.PolicyError`.

    Raises:
        PolicyError: a bad ``policy`` or ``base`` (see :func:`certpin.tls.pinning_context`).
        OSError, ssl.SSLError: a CA file or directory cannot be read.

    During connections the context raises :class:`certpin.PinMismatchError` (a
    :class:`ssl.SSLCertVerificationError`) when no pin matches, and
    :class:`certpin.PinValidationError` when it fails closed for another reason (a resumed TLS
    session, no server name, a context weakened behind its back).
    """
    reporter = make_reporter(policy, on_report, cafile=cafile, capath=capath, cadata=cadata)
    return pinning_context(
        policy, cafile=cafile, capath=capath, cadata=cadata, base=base, reporter=reporter
    )
