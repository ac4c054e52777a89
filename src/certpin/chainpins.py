"""The pins and subject of a certificate of a verified chain, computed once and cached.

What :func:`certpin.check` matches a chain with, and what every failure message, report and
health check shows of a certificate. Pure.
"""

from __future__ import annotations

import functools
import hashlib
import threading

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization

from .certload import quiet_cryptography
from .errors import escape
from .pins import Pin
from .spkifield import carries_spki

__all__ = ["CHAIN_PINS_CACHE_SIZE", "chain_pins", "name_text"]

#: Bound of the per-certificate pin cache (entries; each holds one DER certificate).
CHAIN_PINS_CACHE_SIZE = 1024


def name_text(name: x509.Name) -> str:
    """A subject or issuer as RFC 4514 text, safe for a terminal, a log or JSON.

    The text is cryptography's :meth:`~cryptography.x509.Name.rfc4514_string`, which already
    escapes the RFC 4514 specials with one backslash (``O=Go Daddy\\, Inc.``, RFC 4514 section
    2.4), with control and other non-printable characters escaped by
    :func:`certpin.errors.escape` (``\\x1b``, ``\\n``). Its backslashes are not doubled: they
    are RFC 4514's own, and stay unambiguous, since cryptography never writes a backslash before
    ``x``, ``n``, ``u`` or the other letters of those escapes.

    Raises:
        ValueError: an attribute cryptography cannot render (a subject that is not valid UTF-8).
    """
    return escape(name.rfc4514_string(), backslashes=False)


# catch_warnings (inside quiet_cryptography) swaps process-wide state: one thread at a time.
_quiet_lock = threading.Lock()


@functools.lru_cache(maxsize=CHAIN_PINS_CACHE_SIZE)
def _chain_pins(der: bytes) -> tuple[Pin | None, Pin, str]:
    cert_pin = Pin("cert", hashlib.sha256(der).digest())
    # cryptography warns about real-world quirks (a root with serial number 0 in certifi's
    # bundle); under ``python -W error`` the warning would be raised and the SPKI pin lost.
    # This runs once per distinct certificate (the result is cached).
    with _quiet_lock, quiet_cryptography():
        try:
            cert = x509.load_der_x509_certificate(der)
        except (ValueError, UnsupportedAlgorithm):
            return None, cert_pin, "<certificate that cannot be parsed>"
        try:
            subject = name_text(cert.subject) or "<empty subject>"
        except (ValueError, UnsupportedAlgorithm):
            subject = "<subject that cannot be decoded>"
        try:
            spki = cert.public_key().public_bytes(
                serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
            )
            signed = cert.tbs_certificate_bytes
        except (ValueError, UnsupportedAlgorithm, TypeError):
            return None, cert_pin, subject
    if not carries_spki(cert, spki, signed):
        # cryptography re-encoded the key (RSA-PSS parameters, explicit EC curve parameters, a
        # compressed point): that is not the SubjectPublicKeyInfo the certificate carries, so its
        # pin is not this certificate's SPKI pin (certpin.spki_pin refuses it the same way).
        return None, cert_pin, subject
    return Pin("spki", hashlib.sha256(spki).digest()), cert_pin, subject


def chain_pins(der: bytes | bytearray | memoryview) -> tuple[Pin | None, Pin, str]:
    """The pins and subject of one DER certificate, cached.

    Results are kept in an LRU cache keyed by the DER bytes (at most
    :data:`CHAIN_PINS_CACHE_SIZE` entries), so checking a chain seen before costs microseconds.

    Args:
        der: one certificate, DER bytes (``bytearray``/``memoryview`` are copied to bytes).

    Returns:
        ``(spki_pin, cert_pin, subject)``: the SPKI pin (RFC 7469 ``pin-sha256``), or None when
        :mod:`cryptography` cannot decode the certificate or its key algorithm, or does not
        reproduce the certificate's SubjectPublicKeyInfo byte for byte (RSA-PSS parameters,
        explicit EC curve parameters, a compressed point: the pin of its re-encoding would not be
        this certificate's); such a certificate can still match by its certificate pin; the
        certificate pin (SHA-256 of ``der``); the subject as RFC 4514 text, control characters
        escaped (:func:`name_text`).

    Raises:
        TypeError: ``der`` is not bytes-like.
    """
    if not isinstance(der, bytes):
        if not isinstance(der, bytearray | memoryview):
            raise TypeError(f"a DER certificate must be bytes, got {type(der).__name__}")
        der = bytes(der)
    return _chain_pins(der)
