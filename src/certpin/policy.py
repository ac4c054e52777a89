"""Pin policies: which pins apply to which host.

Longer than 400 lines because it holds the two types of the policy model, :class:`PinSet` and
:class:`PinPolicy`, together with the rules users rely on (patterns, most-specific match, backup
pins, expiry), documented where they are enforced. Pin roles are checked by
:mod:`certpin.pinroles`. Host normalisation is :mod:`certpin.hostnames`;
expiry parsing :mod:`certpin.instants`.

A :class:`PinSet` holds the pins of one host pattern and its rules (subdomains, expiry, enforce
or report-only, and each pin's role: where in the chain it may match, :mod:`certpin.pinroles`).
A :class:`PinPolicy` maps host patterns to pin sets and finds the one that applies to a host
name: the *most specific* match, whatever the order of the patterns.

Host names and patterns are normalised before they are compared, by
:func:`certpin.hostnames.normalize_host` and :func:`certpin.hostnames.normalize_pattern` (lower
case, one trailing dot dropped, IDNA 2003 A-labels, canonical IP literals; see
:mod:`certpin.hostnames`).

Patterns (RFC 7469 section 2.1.3 for include-subdomains; OkHttp and Android for the rest):

* ``api.example.com``: that host only, unless the pin set has ``include_subdomains=True``, in
  which case it covers the host and every subdomain at any depth (``a.b.api.example.com``);
* ``*.example.com``: exactly one label in front of ``example.com``; never ``example.com``
  itself and never ``a.b.example.com``. ``*`` is allowed only as the whole first label;
  ``include_subdomains`` with a ``*.`` pattern is refused (write ``example.com`` with
  ``include_subdomains=True`` instead);
* an IP literal: that address only.

Matching is on whole labels: ``example.com`` with subdomains covers ``www.example.com`` but never
``test-example.com``, and ``a.example.com.evil.test`` never matches ``*.example.com``.

**Most specific match.** Of the patterns that match host ``h``, the one that fixes the most
labels of ``h`` wins, as follows (a total order: two patterns can never tie):

1. the exact pattern ``h`` (with or without ``include_subdomains``);
2. the wildcard ``*.<h without its first label>``;
3. the include-subdomains pattern with the longest suffix of ``h`` (most labels).

A wildcard that matches ``h`` fixes every label but the first, so it is always at least as
specific as any include-subdomains parent: for ``x.a.com``, ``*.a.com`` beats ``a.com`` with
subdomains. ``*.a.com`` never matches ``x.b.a.com`` (two labels), so there ``b.a.com`` with
subdomains applies. The order of the patterns in the mapping plays no part. An expired pin set
is still the match: there is no fallback to a less specific pin set (see :func:`certpin.check`).

This module is pure: no I/O, no sockets, no :mod:`ssl`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date, datetime
from types import MappingProxyType
from typing import Any, Literal
from urllib.parse import urlsplit

from .errors import PinFormatError, PolicyError, quote
from .hostnames import is_ip, normalize_host, normalize_pattern
from .instants import parse_expires
from .pinroles import Role, parse_roles
from .pins import Pin, parse_pin

__all__ = ["PinPolicy", "PinSet", "Role", "is_report_uri"]


def is_report_uri(uri: object) -> bool:
    """Whether ``uri`` is a report URI certpin accepts: text, an absolute ``http://`` or
    ``https://`` URI with a host, no white space and no control characters anywhere. One rule
    for :class:`PinSet`, the policy loader and every importer, so what one accepts the others
    load back (RFC 7469 section 2.1.4 for ``report-uri``)."""
    if not isinstance(uri, str) or not uri.isprintable() or any(ch.isspace() for ch in uri):
        return False
    try:
        parts = urlsplit(uri)
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.netloc)


def _parse_pins(values: object, name: str) -> tuple[Pin, ...]:
    if isinstance(values, str | bytes | Pin):
        raise PolicyError(
            f"{name} must be a list of pins, not a single {type(values).__name__} "
            f"(write [{values!r}])"
        )
    if not isinstance(values, Iterable):
        raise PolicyError(f"{name} must be a list of pins, got {type(values).__name__}")
    pins: list[Pin] = []
    for index, value in enumerate(values):
        if isinstance(value, Pin):
            pins.append(value)
        elif isinstance(value, str):
            try:
                pins.append(parse_pin(value))
            except PinFormatError as exc:
                raise PinFormatError(f"{name}[{index}]: {exc}") from None
        else:
            raise PolicyError(
                f"{name}[{index}] must be a Pin or pin text, got {type(value).__name__}"
            )
    return tuple(pins)


def _check_bool(name: str, value: object) -> bool:
    if not isinstance(value, bool):
        raise PolicyError(f"{name} must be True or False, got {quote(value)}")
    return value


class PinSet:
    """The pins of one host pattern, and how to apply them. Immutable.

    Args:
        pins: the pins of keys or certificates in service: :class:`~certpin.Pin` objects or pin
            text in any form :func:`~certpin.parse_pin` reads (``"sha256/<b64>"``, ...).
        include_subdomains: the pattern also covers every subdomain at any depth (RFC 7469
            section 2.1.3). Not allowed with a ``*.`` pattern or an IP literal (checked by
            :class:`PinPolicy`).
        expires: when the pins stop being enforced (as in Android's network security config,
            pins are not enforced after it): an aware :class:`~datetime.datetime` (converted to
            UTC), a :class:`~datetime.date` ``D`` or the string ``"YYYY-MM-DD"`` meaning ``D``
            00:00:00 UTC in certpin's policies (Android's own ``expiration`` date is local
            midnight on the device: see :mod:`certpin.config.android`), or an ISO 8601 string
            with an offset (``"2027-01-31T12:00:00+02:00"``). ``None``: never.
        enforce: True to refuse connections whose verified chain holds no pin; False for
            report-only (a mismatch is reported, the connection proceeds).
        report_uris: where violation reports go (absolute ``http``/``https`` URIs, RFC 7469
            section 2.1.4).
        allow_single_pin: accept fewer than two distinct pins (no backup pin).
        backup_pins: pins of keys not yet deployed (RFC 7469 section 4.3). They are accepted
            exactly as ``pins`` are when enforcing; they are kept apart so that tools can tell
            which keys should be in service.
        roles: where each pin may match in the verified chain (:mod:`certpin.pinroles`): a
            mapping from a pin of ``pins``/``backup_pins`` (a :class:`~certpin.Pin` or pin
            text) to ``"leaf"`` (the end-entity certificate only, chain position 0) or ``"ca"``
            (an intermediate or the root: any position >= 1). A pin without a role matches
            any certificate of the verified chain. Per pin this is the meaning of Apple's
            ``NSPinnedLeafIdentities`` / ``NSPinnedCAIdentities``; unlike ATS (which requires
            both arrays to match when both are given) the pin set still passes when any one
            pin matches where its role allows.

    Attributes:
        pins, backup_pins: tuples of :class:`~certpin.Pin`.
        all_pins: ``pins + backup_pins``.
        include_subdomains, enforce, allow_single_pin: bools.
        expires: an aware UTC :class:`~datetime.datetime`, or None.
        report_uris: a tuple of str.
        roles: a read-only mapping :class:`~certpin.Pin` -> :data:`Role`, holding only the
            pins that have a role (see :meth:`role_of`).

    Raises:
        PolicyError: no pin at all; fewer than two distinct pins without
            ``allow_single_pin=True``; a pin listed twice; a naive datetime or malformed string
            for ``expires``; a non-bool flag; a report URI that is not an absolute http(s) URI;
            ``pins`` given as a single string; a ``roles`` key that is not one of the set's
            pins (named) or a role other than ``"leaf"``/``"ca"``.
        PinFormatError: a pin string that cannot be parsed (the message names its position,
            e.g. ``pins[1]``, or ``roles``).
    """

    __slots__ = (
        "allow_single_pin",
        "backup_pins",
        "enforce",
        "expires",
        "include_subdomains",
        "pins",
        "report_uris",
        "roles",
    )

    pins: tuple[Pin, ...]
    backup_pins: tuple[Pin, ...]
    include_subdomains: bool
    expires: datetime | None
    enforce: bool
    report_uris: tuple[str, ...]
    allow_single_pin: bool
    roles: Mapping[Pin, Role]

    def __init__(
        self,
        pins: Iterable[Pin | str],
        *,
        include_subdomains: bool = False,
        expires: datetime | date | str | None = None,
        enforce: bool = True,
        report_uris: Iterable[str] = (),
        allow_single_pin: bool = False,
        backup_pins: Iterable[Pin | str] = (),
        roles: Mapping[Pin | str, Role] | None = None,
    ) -> None:
        main = _parse_pins(pins, "pins")
        backup = _parse_pins(backup_pins, "backup_pins")
        seen: set[Pin] = set()  # hashed on (kind, digest); equal pins compare in constant time
        for pin in main + backup:
            if pin in seen:
                raise PolicyError(
                    f"pin {pin} is listed twice; a pin set needs distinct pins (was one of them "
                    "meant to be a backup pin?)"
                )
            seen.add(pin)
        if not main:
            raise PolicyError(
                "a pin set needs at least one pin in service (pins is empty); backup pins "
                "alone would refuse every connection"
            )
        allow_single = _check_bool("allow_single_pin", allow_single_pin)
        if len(seen) < 2 and not allow_single:
            raise PolicyError(
                f"a pin set with only one pin ({main[0]}) locks clients out when that key or "
                "certificate is replaced or lost: add a backup pin, the SPKI pin of a spare key "
                "kept offline or of another CA in the chain (RFC 7469 section 4.3), or pass "
                "allow_single_pin=True if you accept that risk"
            )
        if isinstance(report_uris, str | bytes):
            raise PolicyError(
                f"report_uris must be a list of URIs, not a single string (write [{report_uris!r}])"
            )
        uris: list[str] = []
        for index, uri in enumerate(report_uris):
            if not isinstance(uri, str):
                raise PolicyError(f"report_uris[{index}] must be text, got {type(uri).__name__}")
            if not is_report_uri(uri):
                raise PolicyError(
                    f"report_uris[{index}] {quote(uri)} is not an absolute http:// or https:// "
                    "URI without white space"
                )
            uris.append(uri)
        set_ = object.__setattr__
        set_(self, "pins", main)
        set_(self, "backup_pins", backup)
        set_(self, "include_subdomains", _check_bool("include_subdomains", include_subdomains))
        set_(self, "expires", parse_expires(expires))
        set_(self, "enforce", _check_bool("enforce", enforce))
        set_(self, "report_uris", tuple(uris))
        set_(self, "allow_single_pin", allow_single)
        set_(self, "roles", parse_roles(roles, main + backup))

    @property
    def all_pins(self) -> tuple[Pin, ...]:
        """``pins + backup_pins``: every pin that is accepted when enforcing."""
        return self.pins + self.backup_pins

    def role_of(self, pin: Pin) -> Role | None:
        """The role of ``pin`` in this set: ``"leaf"``, ``"ca"``, or None (matches anywhere in
        the verified chain, and for a pin not in the set)."""
        return self.roles.get(pin)

    def is_expired(self, now: datetime) -> bool:
        """Whether the pin set has expired at ``now``: ``now >= expires`` (never if no expiry).

        Args:
            now: an aware datetime (any time zone).

        Returns:
            True from the instant ``expires`` on; pins are enforced while ``now < expires``.

        Raises:
            ValueError: ``now`` is naive (it would be ambiguous).
        """
        if not isinstance(now, datetime):
            raise TypeError(f"now must be a datetime, got {type(now).__name__}")
        if now.tzinfo is None or now.utcoffset() is None:
            raise ValueError("now must be an aware datetime (e.g. datetime.now(datetime.UTC))")
        return self.expires is not None and now >= self.expires

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"PinSet is immutable: cannot set {name!r}")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"PinSet is immutable: cannot delete {name!r}")

    def __reduce__(self) -> tuple[Any, ...]:
        # copy, deepcopy and pickle rebuild through __init__ (attributes cannot be set).
        options = {
            "backup_pins": self.backup_pins,
            "include_subdomains": self.include_subdomains,
            "expires": self.expires,
            "enforce": self.enforce,
            "report_uris": self.report_uris,
            "allow_single_pin": self.allow_single_pin,
            "roles": dict(self.roles),
        }
        return (_rebuild_pin_set, (self.pins, options))

    def _key(self) -> tuple[object, ...]:
        return (
            self.pins,
            self.backup_pins,
            self.include_subdomains,
            self.expires,
            self.enforce,
            self.report_uris,
            self.allow_single_pin,
            frozenset(self.roles.items()),
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, PinSet):
            return NotImplemented
        return self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __repr__(self) -> str:
        parts = [repr([str(p) for p in self.pins])]
        if self.backup_pins:
            parts.append(f"backup_pins={[str(p) for p in self.backup_pins]!r}")
        if self.include_subdomains:
            parts.append("include_subdomains=True")
        if self.expires is not None:
            parts.append(f"expires={self.expires.isoformat().replace('+00:00', 'Z')!r}")
        if not self.enforce:
            parts.append("enforce=False")
        if self.report_uris:
            parts.append(f"report_uris={list(self.report_uris)!r}")
        if self.allow_single_pin:
            parts.append("allow_single_pin=True")
        if self.roles:
            parts.append(f"roles={ {str(p): r for p, r in self.roles.items()}!r}")
        return f"PinSet({', '.join(parts)})"


_CHOICES = ("allow", "reject")


class PinPolicy:
    """Host patterns mapped to pin sets, with the most-specific-match lookup. Immutable.

    Args:
        pin_sets: ``{pattern: PinSet}``; patterns as described in the module docstring
            (normalised with :func:`normalize_pattern`).
        unknown_hosts: ``"allow"`` (default): hosts no pattern covers connect normally;
            ``"reject"``: they are refused (a closed world).
        expired: ``"allow"`` (default): when the matching pin set has expired the host is
            treated as unpinned and a warning is logged (Android semantics; there is no fallback
            to a less specific pin set); ``"reject"``: connections to it fail closed.

    Attributes:
        pin_sets: a read-only mapping, normalised pattern -> :class:`PinSet`, in the given order.
        unknown_hosts, expired: ``"allow"`` or ``"reject"``.

    Raises:
        PolicyError: ``pin_sets`` is not a mapping; a pattern is invalid (the message quotes
            it); two patterns are the same after normalisation; a value is not a
            :class:`PinSet`; ``include_subdomains`` on a ``*.`` pattern or an IP literal;
            ``unknown_hosts`` or ``expired`` is not ``"allow"``/``"reject"``.
    """

    __slots__ = ("expired", "pin_sets", "unknown_hosts")

    pin_sets: Mapping[str, PinSet]
    unknown_hosts: str
    expired: str

    def __init__(
        self,
        pin_sets: Mapping[str, PinSet],
        *,
        unknown_hosts: Literal["allow", "reject"] = "allow",
        expired: Literal["allow", "reject"] = "allow",
    ) -> None:
        if not isinstance(pin_sets, Mapping):
            raise PolicyError(
                f"pin_sets must be a mapping of pattern to PinSet, got {type(pin_sets).__name__}"
            )
        for name, value in (("unknown_hosts", unknown_hosts), ("expired", expired)):
            if value not in _CHOICES:
                raise PolicyError(f"{name} must be 'allow' or 'reject', got {quote(value)}")
        table: dict[str, PinSet] = {}
        original: dict[str, str] = {}
        for raw, pin_set in pin_sets.items():
            pattern = normalize_pattern(raw)
            if not isinstance(pin_set, PinSet):
                raise PolicyError(
                    f"the value for pattern {quote(raw)} must be a PinSet, "
                    f"got {type(pin_set).__name__}"
                )
            if pattern in table:
                raise PolicyError(
                    f"patterns {quote(original[pattern])} and {quote(raw)} are the same "
                    f"host pattern {pattern!r} after normalisation; merge their pins"
                )
            if pin_set.include_subdomains and pattern.startswith("*."):
                raise PolicyError(
                    f"pattern {quote(raw)}: include_subdomains cannot be combined with a '*.' "
                    f"pattern; write {pattern[2:]!r} with include_subdomains=True to cover it "
                    "and every subdomain"
                )
            if pin_set.include_subdomains and is_ip(pattern):
                raise PolicyError(
                    f"pattern {quote(raw)}: an IP address has no subdomains; "
                    "drop include_subdomains"
                )
            table[pattern] = pin_set
            original[pattern] = raw
        set_ = object.__setattr__
        set_(self, "pin_sets", MappingProxyType(table))
        set_(self, "unknown_hosts", unknown_hosts)
        set_(self, "expired", expired)

    def match(self, hostname: str) -> tuple[str, PinSet] | None:
        """Find the most specific pattern covering ``hostname`` (module docstring, in order:
        exact, ``*.`` one label, include-subdomains by longest suffix).

        Args:
            hostname: a host name or IP literal; normalised with :func:`normalize_host`.

        Returns:
            ``(normalised pattern, pin set)``, expired or not, or None when no pattern covers
            the host.

        Raises:
            PolicyError: ``hostname`` cannot be normalised (see :func:`normalize_host`).
        """
        return self._lookup(normalize_host(hostname))

    def _lookup(self, host: str) -> tuple[str, PinSet] | None:
        """:meth:`match` for a host name that :func:`normalize_host` returned."""
        table = self.pin_sets
        exact = table.get(host)
        if exact is not None:
            return host, exact
        if is_ip(host):
            return None
        labels = host.split(".")
        if len(labels) > 1:
            wildcard = "*." + ".".join(labels[1:])
            found = table.get(wildcard)
            if found is not None:
                return wildcard, found
        for start in range(1, len(labels)):
            parent = ".".join(labels[start:])
            found = table.get(parent)
            if found is not None and found.include_subdomains:
                return parent, found
        return None

    def pin_set_for(self, hostname: str) -> PinSet | None:
        """The pin set of the most specific pattern covering ``hostname``, expired or not.

        Args:
            hostname: a host name or IP literal; normalised with :func:`normalize_host`.

        Returns:
            The :class:`PinSet`, or None when no pattern covers the host.

        Raises:
            PolicyError: ``hostname`` cannot be normalised (see :func:`normalize_host`).
        """
        found = self.match(hostname)
        return None if found is None else found[1]

    def is_pinned(self, hostname: object) -> bool:
        """Whether a connection to ``hostname`` must pass a pin check: the one answer every
        client helper and :func:`certpin.check` (so the TLS layer) give to "is this host pinned".

        Any doubt answers True (refuse plain text, check pins): certpin never lets a spelling
        it cannot read fall through to "not pinned".

        Args:
            hostname: a host name or IP literal as the client library will connect to it and
                send it as the TLS name (any spelling; not normalised yet).

        Returns:
            True when a pattern covers the host (its pin set expired or not), when the policy
            has ``unknown_hosts="reject"`` (every TLS connection must match a pin set), or when
            ``hostname`` cannot be normalised (:func:`normalize_host` raises: ``127.1``, an
            IDNA-ambiguous name, a 6to4 address, not text ...). False only for a host that
            normalises and that no pattern covers, under ``unknown_hosts="allow"``. Never raises.
        """
        if self.unknown_hosts == "reject":
            return True
        try:
            return self._lookup(normalize_host(hostname)) is not None  # type: ignore[arg-type]
        except (PolicyError, ValueError, TypeError):
            return True

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"PinPolicy is immutable: cannot set {name!r}")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"PinPolicy is immutable: cannot delete {name!r}")

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, PinPolicy):
            return NotImplemented
        return (
            dict(self.pin_sets) == dict(other.pin_sets)
            and self.unknown_hosts == other.unknown_hosts
            and self.expired == other.expired
        )

    __hash__ = None  # type: ignore[assignment]

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild_policy, (dict(self.pin_sets), self.unknown_hosts, self.expired))

    def __repr__(self) -> str:
        options = ""
        if self.unknown_hosts != "allow":
            options += f", unknown_hosts={self.unknown_hosts!r}"
        if self.expired != "allow":
            options += f", expired={self.expired!r}"
        return f"PinPolicy({dict(self.pin_sets)!r}{options})"


def _rebuild_pin_set(pins: tuple[Pin, ...], options: dict[str, Any]) -> PinSet:
    """Unpickle a :class:`PinSet`."""
    return PinSet(pins, **options)


def _rebuild_policy(
    pin_sets: dict[str, PinSet],
    unknown_hosts: Literal["allow", "reject"],
    expired: Literal["allow", "reject"],
) -> PinPolicy:
    """Unpickle a :class:`PinPolicy`."""
    return PinPolicy(pin_sets, unknown_hosts=unknown_hosts, expired=expired)
