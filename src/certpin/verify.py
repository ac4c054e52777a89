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
   a certificate of the chain, leaf to anchor, at a position its role allows
   (:mod:`certpin.pinroles`): a ``leaf`` pin only position 0, a ``ca`` pin only positions 1 and
   up, a pin without a role any position: ``MATCHED`` (which pin, which position);
6. otherwise ``MISMATCH`` (fails) or, for a report-only pin set, ``REPORT_ONLY_MISMATCH``
   (passes, with the failure message for the report). A pin found in the chain at a position
   its role excludes does not match; the verdict lists it (``misplaced``) and the message says
   so.

Pins are compared with :meth:`certpin.Pin.__eq__` (:func:`hmac.compare_digest`), never by set or
dict membership of digests.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from .chainpins import chain_pins
from .errors import PolicyError, escape
from .hostnames import normalize_host
from .instants import aware_now, iso_z
from .messages import failure_message, headline, pins_block
from .pinroles import role_admits
from .pins import Pin
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
        misplaced: for ``MISMATCH`` and ``REPORT_ONLY_MISMATCH``, ``(pin, position)`` of each
            pin of the set that is in the chain at a position its role excludes (a ``leaf`` pin
            on a CA certificate, a ``ca`` pin on the leaf), leaf to anchor; ``()`` otherwise.
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
    misplaced: tuple[tuple[Pin, int], ...] = ()


def _match(
    pin_set: PinSet, chain: Sequence[bytes]
) -> tuple[tuple[Pin, int] | None, tuple[tuple[Pin, int], ...]]:
    """The first (configured pin, chain position) that match where the pin's role allows,
    scanning leaf to anchor; else None and the (pin, position) pairs its role excluded."""
    configured = pin_set.all_pins
    misplaced: list[tuple[Pin, int]] = []
    for position, der in enumerate(chain):
        spki, cert, _ = chain_pins(der)
        for pin in configured:
            # Pin.__eq__ compares kinds, then digests with hmac.compare_digest.
            if (spki is not None and pin == spki) or pin == cert:
                if role_admits(pin_set.role_of(pin), position):
                    return (pin, position), ()
                misplaced.append((pin, position))
    return None, tuple(misplaced)


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
    chain = _chain_of(chain_der)
    if hostname is None or hostname == "":
        return Verdict(
            Outcome.UNKNOWN_HOST, "", False, chain=chain,
            message=(
                "Certificate pinning failure for a connection without a server host name\n"
                "  Pins are looked up by host name; without one (server_hostname None or '') "
                "the connection is refused."
            ),
        )
    try:
        host = normalize_host(hostname)
        found = policy.match(host)
    except PolicyError as exc:
        return _unreadable_host(hostname, chain, exc)
    if found is None:
        return _uncovered_host(policy, host, chain)
    pattern, pin_set = found
    if pin_set.is_expired(moment):
        return _expired(policy, host, pattern, pin_set, chain)
    if not chain:
        return _empty_chain(host, pattern, pin_set)
    hit, misplaced = _match(pin_set, chain)
    if hit is not None:
        return Verdict(
            Outcome.MATCHED, host, True, pattern=pattern, pin_set=pin_set, matched_pin=hit[0],
            matched_position=hit[1], chain=chain,
        )
    return _mismatch(host, pattern, pin_set, chain, misplaced)


def _chain_of(chain_der: Sequence[bytes]) -> tuple[bytes, ...]:
    if isinstance(chain_der, bytes | bytearray | memoryview | str):
        raise TypeError(
            "chain_der must be a sequence of DER certificates (leaf first), not one "
            f"{type(chain_der).__name__} object"
        )
    return tuple(der if isinstance(der, bytes) else _as_bytes(der) for der in chain_der)


def _unreadable_host(hostname: object, chain: tuple[bytes, ...], exc: PolicyError) -> Verdict:
    """Decision 1: a host name that cannot be normalised fails, whatever the policy says."""
    shown = escape(hostname) if isinstance(hostname, str) else repr(hostname)
    if len(shown) > _MAX_SHOWN:
        shown = shown[:_MAX_SHOWN] + "..."
    return Verdict(
        Outcome.UNKNOWN_HOST, shown, False, chain=chain,
        message=f"Certificate pinning failure for {shown}\n  {exc}; the connection is refused.",
    )


def _uncovered_host(policy: PinPolicy, host: str, chain: tuple[bytes, ...]) -> Verdict:
    """Decision 2: no pattern covers the host."""
    # The same predicate the client helpers' plain-text guards use (one answer to "is this
    # host pinned"); here, with the name normalised and no pattern covering it, it is True
    # only under unknown_hosts="reject".
    if policy.is_pinned(host):
        return Verdict(
            Outcome.UNKNOWN_HOST, host, False, chain=chain,
            message=(
                f"Certificate pinning failure for {host}\n"
                f"  No pattern of the pin policy covers {host} and the policy has "
                "unknown_hosts='reject'."
            ),
        )
    return Verdict(Outcome.NOT_PINNED, host, True, chain=chain)


def _expired(
    policy: PinPolicy, host: str, pattern: str, pin_set: PinSet, chain: tuple[bytes, ...]
) -> Verdict:
    """Decision 3: the pin set has expired (logged; passes under expired="allow")."""
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
        Outcome.EXPIRED, host, allowed, pattern=pattern, pin_set=pin_set, chain=chain,
        message=(
            f"{headline(host, pattern)}\n"
            f"  The pin set for {pattern} expired at {expired_at}; {detail}. Renew it "
            "with current pins and a new expiry."
        ),
    )


def _empty_chain(host: str, pattern: str, pin_set: PinSet) -> Verdict:
    """Decision 4: no verified chain (fails unless report-only)."""
    return Verdict(
        Outcome.EMPTY_CHAIN, host, not pin_set.enforce, pattern=pattern, pin_set=pin_set,
        chain=(),
        message="\n".join(
            [
                headline(host, pattern),
                "  No verified certificate chain is available (OpenSSL keeps none for a "
                "resumed TLS session), so the pins cannot be checked."
                + ("" if pin_set.enforce else " Report-only: the connection proceeds."),
                *pins_block(pattern, pin_set),
            ]
        ),
    )


def _mismatch(
    host: str, pattern: str, pin_set: PinSet, chain: tuple[bytes, ...],
    misplaced: tuple[tuple[Pin, int], ...],
) -> Verdict:
    """Decision 6: no pin matched (fails, or passes with a message when report-only)."""
    if pin_set.enforce:
        return Verdict(
            Outcome.MISMATCH, host, False, pattern=pattern, pin_set=pin_set, chain=chain,
            message=failure_message(host, pattern, pin_set, chain, misplaced=misplaced),
            misplaced=misplaced,
        )
    hint = (
        "  Report-only pin set: the connection proceeds. Add one of the verified "
        f"chain's pins above to the pin set for {pattern} if this chain is legitimate."
    )
    return Verdict(
        Outcome.REPORT_ONLY_MISMATCH, host, True, pattern=pattern, pin_set=pin_set, chain=chain,
        message=failure_message(host, pattern, pin_set, chain, hint=hint, misplaced=misplaced),
        misplaced=misplaced,
    )


def _as_bytes(der: object) -> bytes:
    if isinstance(der, bytearray | memoryview):
        return bytes(der)
    raise TypeError(f"chain_der must hold DER bytes, got {type(der).__name__}")
