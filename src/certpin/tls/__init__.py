"""The TLS glue: a pinning :class:`ssl.SSLContext` and access to the verified chain.

A package, one responsibility a module: :mod:`~certpin.tls.chain` (what is read off a
connection), :mod:`~certpin.tls.base` (what the hooks read from a context; whether it is still
strong), :mod:`~certpin.tls.passes` (the remembered-pass cache), :mod:`~certpin.tls.checks` (the
checks around a handshake, pin events), :mod:`~certpin.tls.hooks` (the socket and memory-BIO
classes), :mod:`~certpin.tls.context` (the context and :func:`pinning_context`).

This is the only module of certpin that touches :mod:`ssl` internals. It builds on the pure core
(:mod:`certpin.policy`, :mod:`certpin.verify`) and takes its reporter as an injected callable.

How pins are enforced
---------------------
:func:`pinning_context` returns an :class:`ssl.SSLContext` (a :class:`PinningSSLContext`) whose
sockets (:class:`PinnedSSLSocket`, the ``wrap_socket`` path used by ``http.client``, urllib3,
requests, httpx, websockets' sync client) and memory-BIO objects (:class:`PinnedSSLObject`, the
``wrap_bio`` path used by asyncio, anyio, aiohttp, httpx's async client) run, in
``do_handshake``:

1. right before OpenSSL's handshake (the connection already exists, and OpenSSL copied the
   context's settings into it when it was created): a re-check that the context is still
   ``CERT_REQUIRED`` with ``check_hostname`` on and ``OP_NO_RENEGOTIATION`` set (fail closed
   otherwise: under ``CERT_NONE`` OpenSSL still builds a chain, and a forged leaf that names the
   pinned intermediate as its issuer would "match"), that it is a client connection and that a
   server name was given;
2. right after the handshake and certificate validation succeed, before any application byte
   is sent or read: a check that the session was not resumed, then :func:`certpin.verify.check`
   on the chain OpenSSL **verified** (:func:`verified_chain`), never on the chain the server
   sent (an attacker can append the pinned certificate to what it sends, CVE-2016-2402 in
   another library).

A pass is remembered per context and host name, as the OpenSSL certificate object that matched
and its position in the verified chain (a host that no pattern covers: the name alone). The next
handshake to that host passes without converting the chain to DER or looking at pins when the
verified chain has an equal certificate (OpenSSL's ``X509_cmp``: same SHA-1 of the whole
certificate and same TBSCertificate, so the same SubjectPublicKeyInfo) at that position, the
session is fresh and the pin set has not expired; anything else gets the full check. Failures,
report-only mismatches and expired pin sets are never remembered.

On failure, in this order: the socket is shut down and closed (an :class:`ssl.SSLObject` is
marked failed: every later ``do_handshake``/``read``/``write`` raises, and asyncio closes the
transport); the injected reporter, if any, gets a :class:`certpin.verify.PinEvent`
(``pin-mismatch``; ``report-only-mismatch`` for report-only pin sets, which pass;
``certificate-invalid`` when OpenSSL itself rejected the certificate of a pinned host); then
:class:`certpin.PinMismatchError` is raised (a :class:`ssl.SSLCertVerificationError`, so every
client reports it as a certificate error). For a context that was weakened, a resumed session or
a missing server name, its base class :class:`certpin.PinValidationError` is raised instead.

The context's strength is checked when a connection is created (``wrap_socket`` with
``do_handshake_on_connect=False``, ``wrap_bio``, ``connect``/``connect_ex`` of a socket wrapped
before it was connected: OpenSSL copies ``verify_mode`` and the host to verify into the
connection at that moment) and at every handshake (step 1), which also catches connections
created by calling ``ssl.SSLContext.wrap_socket`` on it directly.

A client that skips ``do_handshake()`` (``do_handshake_on_connect=False``, then ``sendall``) does
not escape: ``read``, ``write``, ``recv``, ``recv_into``, ``send`` and ``sendall`` run the handshake
and the check first, so OpenSSL never handshakes implicitly inside ``SSL_write``; on a socket
that has no TLS connection yet they raise :class:`certpin.PinValidationError` rather than send
or read in clear text.

Known limits (by design, fail closed)
-------------------------------------
* **Session resumption.** OpenSSL keeps no verified chain for a resumed session (the chain is
  not stored with the session), so a resumed connection (``session=`` passed to ``wrap_socket``
  or ``wrap_bio``, ``session_reused`` true) always fails with :class:`PinValidationError`,
  whatever the host. The clients certpin supports never resume automatically.
* **Client certificates (mTLS)** are sent during the handshake, before any pin check can run;
  on TLS 1.2 the client certificate travels in clear text. Prefer TLS 1.3
  (``ctx.minimum_version = ssl.TLSVersion.TLSv1_3``) for pinned mTLS hosts.
* **Python 3.13's VERIFY_X509_PARTIAL_CHAIN.** ``ssl.create_default_context()`` on 3.13+ sets
  ``VERIFY_X509_PARTIAL_CHAIN``: when an intermediate certificate is itself in the trust store,
  OpenSSL stops the verified chain at that intermediate, so the root does not appear in the
  verified chain and a pin of the root alone does not match. Pin the leaf or intermediate key
  as well (a backup pin), or clear the flag on a ``base`` context if you must pin roots only.
* Code running in the same process can always defeat pinning (for instance by swapping
  ``ssl.SSLContext`` methods); the hook only guarantees that the documented ways of weakening a
  context (``verify_mode``, ``check_hostname``, ``options``, ``sslsocket_class``) raise, and that
  a context weakened behind its back through the C-level descriptors fails closed: at the
  creation of every connection (also through ``ssl.SSLContext.wrap_socket``/``wrap_bio`` called
  directly, which read ``sslsocket_class``/``sslobject_class``) and at every handshake. Another
  thread weakening the context between those checks and OpenSSL's copy of its settings is such
  in-process code.
"""

from __future__ import annotations

from .base import Reporter
from .chain import verified_chain
from .context import PinningSSLContext, pinning_context
from .hooks import PinnedSSLObject, PinnedSSLSocket
from .passes import MATCHED_CERTS_PER_HOST, VERDICT_CACHE_SIZE

__all__ = [
    "MATCHED_CERTS_PER_HOST",
    "VERDICT_CACHE_SIZE",
    "PinnedSSLObject",
    "PinnedSSLSocket",
    "PinningSSLContext",
    "Reporter",
    "pinning_context",
    "verified_chain",
]
