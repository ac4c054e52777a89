"""The pin check: a policy, a host name and a verified chain in; a :class:`Verdict` out.

This module is pure (no I/O, no sockets, no :mod:`ssl`): the TLS layer (:mod:`certpin.tls`)
hands it the chain OpenSSL *verified* and acts on the verdict. Decisions, in this order:

1. no host name (None or ``''``) or one that cannot be normalised (e.g. ``127.1``, or a Unicode
   name with ß or another character that IDNA 2003 and UTS 46 encode differently, see
   :mod:`certpin.policy`): ``UNKNOWN_HOST``, **failed** whatever the policy says;
2. no pattern covers the host: ``NOT_PINNED`` (passes), or ``UNKNOWN_HOST`` (fails) when the
   policy has ``unknown_hosts="reject"``;
3. the most specific pin set has expired (``now >= expires``): ``EXPIRED``; a warning is logged
   to the ``certpin`` logger; passes when the policy has ``expired="allow"`` (the default,
   Android semantics: the host is then unpinned, with no fallback to a less specific pin set),
   fails with ``expired="reject"``;
4. the verified chain is empty (e.g. a resumed TLS session, for which OpenSSL keeps no chain):
   ``EMPTY_CHAIN``; fails for an enforced pin set; for a report-only pin set it passes (report-only
   never breaks a connection) and carries a message to report;
5. a pin of the set (``pins`` or ``backup_pins``) equals the SPKI pin or the certificate pin of
   any certificate of the chain, leaf to anchor: ``MATCHED`` (which pin, which position);
6. otherwise ``MISMATCH`` (fails) or, for a report-only pin set, ``REPORT_ONLY_MISMATCH``
   (passes, with the failure message for the report).

Pins are compared with :meth:`certpin.Pin.__eq__` (:func:`hmac.compare_digest`), never by set or
dict membership of digests.
"""

from __future__ import annotations

import enum
import functools
import hashlib
import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization

from .errors import PolicyError, escape
from .hostnames import normalize_host
from .instants import aware_now, iso_z
from .pins import Pin, _quiet_cryptography
from .policy import PinPolicy, PinSet

__all__ = [
    "Outcome",
    "Verdict",
    "chain_pins",
    "check",
    "failure_message",
]

logger = logging.getLogger("certpin")

_MAX_SHOWN = 300  # characters of an invalid host name kept in a verdict

#: Bound of the per-certificate pin cache (entries; each holds one DER certificate).
CHAIN_PINS_CACHE_SIZE = 1024


class Outcome(enum.StrEnum):
    """What :func:`check` decided; see the module docstring for the order of the decisions.

    A :class:`str` enum (``Outcome.MATCHED == "matched"``), as the interface's
    ``class Outcome(str, enum.Enum)``; :class:`enum.StrEnum` also makes ``str()`` the value.
    """

    NOT_PINNED = "not-pinned"
    MATCHED = "matched"
    EXPIRED = "expired"
    MISMATCH = "mismatch"
    REPORT_ONLY_MISMATCH = "report-only-mismatch"
    UNKNOWN_HOST = "unknown-host"
    EMPTY_CHAIN = "empty-chain"


@dataclass(frozen=True)
class Verdict:
    """The result of :func:`check`.

    Attributes:
        outcome: the :class:`Outcome`.
        hostname: the normalised host name (for a name that cannot be normalised: the escaped
            text given, ``''`` for None).
        passed: True when the connection may proceed.
        pattern: the normalised pattern that matched the host, or None.
        pin_set: its :class:`~certpin.PinSet`, or None.
        matched_pin: for ``MATCHED``, the configured pin that matched.
        matched_position: for ``MATCHED``, the position in ``chain`` of the certificate it
            matched (0 = leaf).
        chain: the verified chain, DER bytes, leaf first.
        message: why the check failed (multi-line, starts ``Certificate pinning failure for
            <host>``); also set for report-only mismatches, empty chains and expired pin sets;
            ``""`` otherwise.
    """

    outcome: Outcome
    hostname: str
    passed: bool
    pattern: str | None = None
    pin_set: PinSet | None = None
    matched_pin: Pin | None = None
    matched_position: int | None = None
    chain: tuple[bytes, ...] = field(default=(), repr=False)  # DER is long: left out of repr
    message: str = ""


# catch_warnings (inside _quiet_cryptography) swaps process-wide state: one thread at a time.
_quiet_lock = threading.Lock()


@functools.lru_cache(maxsize=CHAIN_PINS_CACHE_SIZE)
def _chain_pins(der: bytes) -> tuple[Pin | None, Pin, str]:
    cert_pin = Pin("cert", hashlib.sha256(der).digest())
    # cryptography warns about real-world quirks (a root with serial number 0 in certifi's
    # bundle); under ``python -W error`` the warning would be raised and the SPKI pin lost.
    # This runs once per distinct certificate (the result is cached).
    with _quiet_lock, _quiet_cryptography():
        try:
            cert = x509.load_der_x509_certificate(der)
        except (ValueError, UnsupportedAlgorithm):
            return None, cert_pin, "<certificate that cannot be parsed>"
        try:
            subject = escape(cert.subject.rfc4514_string()) or "<empty subject>"
        except (ValueError, UnsupportedAlgorithm):
            subject = "<subject that cannot be decoded>"
        try:
            spki = cert.public_key().public_bytes(
                serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        except (ValueError, UnsupportedAlgorithm, TypeError):
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
        :mod:`cryptography` cannot decode the certificate or its key algorithm (such a
        certificate can still match by its certificate pin); the certificate pin (SHA-256 of
        ``der``); the subject as an RFC 4514 string with control characters escaped
        (:func:`certpin.errors.escape`).

    Raises:
        TypeError: ``der`` is not bytes-like.
    """
    if not isinstance(der, bytes):
        if not isinstance(der, bytearray | memoryview):
            raise TypeError(f"a DER certificate must be bytes, got {type(der).__name__}")
        der = bytes(der)
    return _chain_pins(der)


def _headline(host: str, pattern: str | None) -> str:
    line = f"Certificate pinning failure for {host}"
    if pattern is not None and pattern != host:
        line += f" (pattern {pattern})"
    return line


def _pins_block(pattern: str, pin_set: PinSet) -> list[str]:
    lines = [f"  Pinned for {pattern}:"]
    lines.extend(f"    {pin}" for pin in pin_set.pins)
    if pin_set.backup_pins:
        lines.append(f"  Backup pins for {pattern}:")
        lines.extend(f"    {pin}" for pin in pin_set.backup_pins)
    return lines


def _chain_block(chain: Sequence[bytes]) -> list[str]:
    lines = ["  Verified chain:"]
    for der in chain:
        spki, cert, subject = chain_pins(der)
        lines.append(f"    {spki if spki is not None else cert}  {subject}")
    return lines


def failure_message(
    host: str, pattern: str, pin_set: PinSet, chain: Sequence[bytes], *, hint: str | None = None
) -> str:
    """The text of a pin mismatch, ready to paste pins from.

    Args:
        host: the normalised host name.
        pattern: the pattern whose pin set applied.
        pin_set: that pin set.
        chain: the verified chain, DER, leaf first.
        hint: the last line; a default explaining what to do when None.

    Returns:
        Lines joined by ``\\n``::

            Certificate pinning failure for www.example.com (pattern *.example.com)
              Verified chain:
                sha256/<b64>  CN=www.example.com
                sha256/<b64>  CN=Example Intermediate,O=Example
              Pinned for *.example.com:
                sha256/<b64>
              Backup pins for *.example.com:        (only when there are backup pins)
                sha256/<b64>
              Hint: ...

        A certificate whose key cannot be decoded is listed by its ``cert-sha256/`` pin.
    """
    lines = [_headline(host, pattern), *_chain_block(chain), *_pins_block(pattern, pin_set)]
    if hint is None:
        hint = (
            "  Hint: no certificate of the verified chain has a pinned key or certificate. If "
            "the server's key or CA changed legitimately, add one of the verified chain's pins "
            f"above to the pin set for {pattern}; otherwise the connection may be intercepted."
        )
    lines.append(hint)
    return "\n".join(lines)


def _match(pin_set: PinSet, chain: Sequence[bytes]) -> tuple[Pin, int] | None:
    """The first (configured pin, chain position) that match, scanning leaf to anchor."""
    configured = pin_set.all_pins
    for position, der in enumerate(chain):
        spki, cert, _ = chain_pins(der)
        for pin in configured:
            # Pin.__eq__ compares kinds, then digests with hmac.compare_digest.
            if (spki is not None and pin == spki) or pin == cert:
                return pin, position
    return None


def check(
    policy: PinPolicy,
    hostname: str,
    chain_der: Sequence[bytes],
    *,
    now: datetime | None = None,
) -> Verdict:
    """Check a verified chain against the pin set that applies to ``hostname``.

    Pure and thread-safe; the order of the decisions is in the module docstring.

    Args:
        policy: the :class:`~certpin.PinPolicy`.
        hostname: the name the connection was made for (``server_hostname``). None or ``''``
            fails: pinning needs a name.
        chain_der: the chain that the TLS library **verified**, DER bytes, leaf first (never the
            chain the server sent, which an attacker can pad with the pinned certificate).
        now: the current time, aware (converted to UTC); default ``datetime.now(UTC)``. Inject
            it to test expiry boundaries.

    Returns:
        A :class:`Verdict`; ``verdict.passed`` says whether the connection may proceed.

    Raises:
        ValueError: ``now`` is naive.
        TypeError: ``now`` is not a datetime, ``policy`` is not a PinPolicy, ``chain_der`` is
            a single bytes object, or an element of it is not bytes-like.
    """
    if not isinstance(policy, PinPolicy):
        raise TypeError(f"policy must be a PinPolicy, got {type(policy).__name__}")
    moment = aware_now(now)
    if isinstance(chain_der, bytes | bytearray | memoryview | str):
        raise TypeError(
            "chain_der must be a sequence of DER certificates (leaf first), not one "
            f"{type(chain_der).__name__} object"
        )
    chain = tuple(der if isinstance(der, bytes) else _as_bytes(der) for der in chain_der)

    if hostname is None or hostname == "":
        return Verdict(
            Outcome.UNKNOWN_HOST,
            "",
            False,
            chain=chain,
            message=(
                "Certificate pinning failure for a connection without a server host name\n"
                "  Pins are looked up by host name; without one (server_hostname None or '') "
                "the connection is refused."
            ),
        )
    try:
        host = normalize_host(hostname)
        found = policy._lookup(host)
    except PolicyError as exc:
        shown = escape(hostname) if isinstance(hostname, str) else repr(hostname)
        if len(shown) > _MAX_SHOWN:
            shown = shown[:_MAX_SHOWN] + "..."
        return Verdict(
            Outcome.UNKNOWN_HOST,
            shown,
            False,
            chain=chain,
            message=f"Certificate pinning failure for {shown}\n  {exc}; the connection is refused.",
        )

    if found is None:
        # The same predicate the client helpers' plain-text guards use (one answer to "is this
        # host pinned"); here, with the name normalised and no pattern covering it, it is
        # True only under unknown_hosts="reject".
        if policy.is_pinned(host):
            return Verdict(
                Outcome.UNKNOWN_HOST,
                host,
                False,
                chain=chain,
                message=(
                    f"Certificate pinning failure for {host}\n"
                    f"  No pattern of the pin policy covers {host} and the policy has "
                    "unknown_hosts='reject'."
                ),
            )
        return Verdict(Outcome.NOT_PINNED, host, True, chain=chain)

    pattern, pin_set = found
    if pin_set.is_expired(moment):
        assert pin_set.expires is not None  # is_expired is False without an expiry
        expired_at = iso_z(pin_set.expires)
        allowed = policy.expired == "allow"
        logger.warning(
            "certpin: the pin set for %s expired at %s; %s",
            pattern,
            expired_at,
            f"pins are not enforced for {host}"
            if allowed
            else f"connections to {host} are refused (expired='reject')",
        )
        detail = (
            "its pins are no longer enforced (the policy has expired='allow')"
            if allowed
            else "the policy has expired='reject', so the connection is refused"
        )
        return Verdict(
            Outcome.EXPIRED,
            host,
            allowed,
            pattern=pattern,
            pin_set=pin_set,
            chain=chain,
            message=(
                f"{_headline(host, pattern)}\n"
                f"  The pin set for {pattern} expired at {expired_at}; {detail}. Renew it "
                "with current pins and a new expiry."
            ),
        )

    if not chain:
        return Verdict(
            Outcome.EMPTY_CHAIN,
            host,
            not pin_set.enforce,
            pattern=pattern,
            pin_set=pin_set,
            chain=chain,
            message="\n".join(
                [
                    _headline(host, pattern),
                    "  No verified certificate chain is available (OpenSSL keeps none for a "
                    "resumed TLS session), so the pins cannot be checked."
                    + ("" if pin_set.enforce else " Report-only: the connection proceeds."),
                    *_pins_block(pattern, pin_set),
                ]
            ),
        )

    hit = _match(pin_set, chain)
    if hit is not None:
        return Verdict(
            Outcome.MATCHED,
            host,
            True,
            pattern=pattern,
            pin_set=pin_set,
            matched_pin=hit[0],
            matched_position=hit[1],
            chain=chain,
        )
    if pin_set.enforce:
        return Verdict(
            Outcome.MISMATCH,
            host,
            False,
            pattern=pattern,
            pin_set=pin_set,
            chain=chain,
            message=failure_message(host, pattern, pin_set, chain),
        )
    return Verdict(
        Outcome.REPORT_ONLY_MISMATCH,
        host,
        True,
        pattern=pattern,
        pin_set=pin_set,
        chain=chain,
        message=failure_message(
            host,
            pattern,
            pin_set,
            chain,
            hint=(
                "  Report-only pin set: the connection proceeds. Add one of the verified "
                f"chain's pins above to the pin set for {pattern} if this chain is legitimate."
            ),
        ),
    )


def _as_bytes(der: object) -> bytes:
    if isinstance(der, bytearray | memoryview):
        return bytes(der)
    raise TypeError(f"chain_der must hold DER bytes, got {type(der).__name__}")
