"""Policy health checks: do the live servers and the pins still agree?

:func:`check_policy` connects to every pinned host of a :class:`~certpin.policy.PinPolicy` (or to
the hosts given), concurrently, with :func:`certpin.probe.fetch_chain` (a TLS handshake only: no
application byte is sent), and judges the chain that Python's :mod:`ssl` **verified** at run time,
not only the chain the server sent. Each host gets a :class:`HostReport` with a :class:`Status`
and a list of :class:`Finding` objects (a level, a stable code and a message).

Finding codes (stable; tools may match on them):

======================  =======  ==============================================================
code                    level    meaning
======================  =======  ==============================================================
``pin-matched``         info     a pin of the set matched the verified chain (which, where)
``backup-pin-matched``  warn     only a backup pin matched: the server rotated onto a backup key
``no-match``            error    no pin of the set matched the verified chain
``served-only-match``   error    a pin matches a certificate the server sent that is not part of
                                 the verified chain (never accepted by certpin)
``validation-failed``   error    Python's ssl did not validate the chain (untrusted, expired,
                                 wrong host); pinning adds to validation, never replaces it
``connection-failed``   error    TCP connect or TLS handshake failed
``empty-chain``         error    no verified chain was available (fail closed)
``not-pinned``          error    a host given with ``hosts=`` that no pattern of the policy covers
``needs-host``          error    a wildcard pattern with no host given: nothing to connect to
``subdomains-unchecked`` info    an include-subdomains pattern: only its apex host was checked
``leaf-expiring``       warn     the leaf certificate expires within ``days`` (or has expired)
``pinned-cert-expiring`` warn    a certificate whose pin matched (not the leaf) expires within
                                 ``days`` (or has expired)
``pin-set-expiring``    warn     the pin set's ``expires`` is within ``days``
``pin-set-expired``     warn     the pin set has expired: its pins are no longer enforced
                        (error when the policy says ``expired = "reject"``: connections
                        to the host are refused)
``no-backup-pin``       warn     every pin of the set is in the chain: no pin for a key that is
                                 not deployed (RFC 7469 section 4.3)
``weak-pin``            warn     the only matching pins are public root CA keys, shared by many
                                 sites (any certificate from that CA passes)
``report-only``         info     the pin set is report-only (``enforce = false``)
======================  =======  ==============================================================

The :class:`Status` of a host is the most severe level among its findings: ``error`` >
``warn`` > ``ok``.
"""

from __future__ import annotations

import contextlib
import enum
import os
import ssl
import threading
from collections.abc import Callable, Collection, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from .errors import CertificateError, ProbeError, escape
from .hostnames import normalize_host
from .instants import iso_z
from .pins import Pin, cert_pin, load_certificates, spki_pin
from .policy import PinPolicy, PinSet
from .probe import FetchedChain, fetch_chain
from .probe import parse_host_port as probe_parse_host_port
from .verify import chain_pins

__all__ = [
    "ChainCertificate",
    "Finding",
    "HostReport",
    "Level",
    "PinMatch",
    "Status",
    "check_policy",
    "parse_host_port",
    "public_root_pins",
]

#: The system CA bundle on Debian and derivatives.
SYSTEM_CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"


class Level(enum.StrEnum):
    """The severity of a :class:`Finding`."""

    INFO = "info"
    WARN = "warn"
    ERROR = "error"


class Status(enum.StrEnum):
    """The overall state of one host: the most severe finding (info counts as ``ok``)."""

    OK = "ok"
    WARN = "warn"
    ERROR = "error"


_RANK = {Level.INFO: 0, Level.WARN: 1, Level.ERROR: 2}


@dataclass(frozen=True)
class Finding:
    """One observation about a host.

    Attributes:
        level: info, warn or error.
        code: a stable identifier (see the module docstring), e.g. ``"backup-pin-matched"``.
        message: a human sentence; network strings in it are escaped.
    """

    level: Level
    code: str
    message: str

    def to_json(self) -> dict[str, str]:
        """Return ``{"level": ..., "code": ..., "message": ...}`` (all strings)."""
        return {"level": self.level.value, "code": self.code, "message": self.message}


@dataclass(frozen=True)
class ChainCertificate:
    """One certificate of a chain, as the report shows it.

    Attributes:
        position: 0 for the leaf, then towards the root.
        subject: the RFC 4514 subject, escaped.
        spki_pin: the SPKI pin (``sha256/<b64>``), or None when cryptography cannot decode the
            key (the certificate pin still works).
        cert_pin: the certificate pin (``cert-sha256/<b64>``).
        not_after: the end of validity, an aware UTC datetime.
    """

    position: int
    subject: str
    spki_pin: Pin | None
    cert_pin: Pin
    not_after: datetime

    @property
    def pins(self) -> tuple[Pin, ...]:
        """The certificate's pins: SPKI (when decodable) and certificate."""
        return (self.cert_pin,) if self.spki_pin is None else (self.spki_pin, self.cert_pin)

    def to_json(self) -> dict[str, Any]:
        """Return the fields as JSON-ready values (pins as canonical strings, ISO 8601 time)."""
        return {
            "position": self.position,
            "subject": self.subject,
            "spki_pin": str(self.spki_pin) if self.spki_pin is not None else None,
            "cert_pin": str(self.cert_pin),
            "not_after": _iso(self.not_after),
        }


@dataclass(frozen=True)
class PinMatch:
    """A pin of the set that matched a certificate of the verified chain.

    Attributes:
        pin: the pin of the policy that matched.
        position: the certificate's position in the verified chain (0 = leaf).
        subject: that certificate's subject, escaped.
        backup: True if the pin is one of the set's ``backup_pins``.
        public_root: True if the pin is the key (or certificate) of a public root CA.
    """

    pin: Pin
    position: int
    subject: str
    backup: bool
    public_root: bool

    def to_json(self) -> dict[str, Any]:
        """Return the fields as JSON-ready values."""
        return {
            "pin": str(self.pin),
            "position": self.position,
            "subject": self.subject,
            "backup": self.backup,
            "public_root": self.public_root,
        }


@dataclass(frozen=True)
class HostReport:
    """The health of one host against its pin set.

    Attributes:
        host: the host name connected to (normalised), or the pattern when nothing was connected.
        port: the TCP port.
        pattern: the policy pattern whose pin set applies, or None (not pinned).
        status: ok, warn or error (the most severe finding).
        findings: every observation, most severe first.
        matched_pin: the pin reported as matching (a primary pin before a backup pin, then the
            certificate nearest the leaf), or None.
        matched_position: its certificate's position in the verified chain (0 = leaf), or None.
        matched_subject: its certificate's subject (escaped), or None.
        matches: every (pin, certificate) match in the verified chain.
        verified_chain: the chain Python's ssl verified, leaf first (empty if it did not verify).
        served_chain: the chain the server sent, in its order.
        leaf_not_after: the leaf's end of validity (UTC), or None when no certificate was seen.
        pin_set_expires: the pin set's expiry (UTC), or None.
        tls_version: e.g. ``"TLSv1.3"``, or None.
    """

    host: str
    port: int
    pattern: str | None
    status: Status
    findings: tuple[Finding, ...]
    matched_pin: Pin | None = None
    matched_position: int | None = None
    matched_subject: str | None = None
    matches: tuple[PinMatch, ...] = ()
    verified_chain: tuple[ChainCertificate, ...] = ()
    served_chain: tuple[ChainCertificate, ...] = ()
    leaf_not_after: datetime | None = None
    pin_set_expires: datetime | None = None
    tls_version: str | None = None

    @property
    def codes(self) -> tuple[str, ...]:
        """The codes of the findings, in order."""
        return tuple(f.code for f in self.findings)

    def to_json(self) -> dict[str, Any]:
        """Return a JSON-ready dict: every attribute, pins as strings, times as ISO 8601 UTC."""
        return {
            "status": self.status.value,
            "host": self.host,
            "port": self.port,
            "pattern": self.pattern,
            "matched_pin": str(self.matched_pin) if self.matched_pin is not None else None,
            "matched_position": self.matched_position,
            "matched_subject": self.matched_subject,
            "matched_backup": (
                self.matches[0].backup if self.matches and self.matched_pin is not None else None
            ),
            "findings": [f.to_json() for f in self.findings],
            "matches": [m.to_json() for m in self.matches],
            "leaf_not_after": _iso(self.leaf_not_after),
            "pin_set_expires": _iso(self.pin_set_expires),
            "tls_version": self.tls_version,
            "verified_chain": [c.to_json() for c in self.verified_chain],
            "served_chain": [c.to_json() for c in self.served_chain],
        }


def _iso(when: datetime | None) -> str | None:
    if when is None:
        return None
    return iso_z(when)


# --------------------------------------------------------------------------- public roots

_ROOTS_LOCK = threading.Lock()
_ROOTS_CACHE: dict[str, frozenset[Pin]] = {}


def _bundle_paths() -> list[str]:
    paths: list[str] = []
    try:
        import certifi

        paths.append(str(certifi.where()))
    except ImportError:  # certifi is optional
        pass
    paths.append(SYSTEM_CA_BUNDLE)
    return paths


def public_root_pins(paths: Iterable[str] | None = None) -> frozenset[Pin]:
    """The SPKI and certificate pins of the public root CAs on this machine.

    The roots are read from certifi's bundle (if certifi is installed) and the system store
    ``/etc/ssl/certs/ca-certificates.crt`` (if present). A pin on one of these keys is weak:
    every certificate that CA issues, for any site, carries it. The default set is read once
    and cached.

    Args:
        paths: PEM bundle files to read instead of the defaults (not cached); files that do not
            exist or hold no certificate are skipped.

    Returns:
        A frozenset of :class:`~certpin.pins.Pin` (both ``spki`` and ``cert`` kinds).
    """
    if paths is None:
        with _ROOTS_LOCK:
            if "default" not in _ROOTS_CACHE:
                _ROOTS_CACHE["default"] = _read_roots(_bundle_paths())
            return _ROOTS_CACHE["default"]
    return _read_roots(paths)


def _read_roots(paths: Iterable[str]) -> frozenset[Pin]:
    out: set[Pin] = set()
    for path in paths:
        if not os.path.isfile(path):
            continue
        try:
            with open(path, "rb") as fh:
                certs = load_certificates(fh.read())
        except (OSError, CertificateError):
            continue
        for cert in certs:
            out.add(cert_pin(cert))
            with contextlib.suppress(CertificateError):  # a key cryptography cannot decode
                out.add(spki_pin(cert))
    return frozenset(out)


# --------------------------------------------------------------------------- hosts


def parse_host_port(text: str, default_port: int = 443) -> tuple[str, int]:
    """Split ``host``, ``host:port``, ``[v6]:port`` or a bare IPv6 literal, and normalise the host.

    Args:
        text: the host as typed on the command line.
        default_port: the port when none is given.

    Returns:
        ``(normalised host, port)``: split by :func:`certpin.probe.parse_host_port`, the host
        normalised by :func:`certpin.policy.normalize_host` (lower case, IDNA A-labels,
        canonical IP), as policy lookups need it.

    Raises:
        ProbeError: an empty host, bad brackets or a port outside 1..65535.
        PolicyError: a host name that :func:`~certpin.policy.normalize_host` refuses.
    """
    host, port = probe_parse_host_port(text, default_port)
    return normalize_host(host), port


@dataclass(frozen=True)
class _Target:
    host: str
    port: int
    pattern: str | None
    pin_set: PinSet | None
    pre: tuple[Finding, ...] = field(default=())
    connect: bool = True


def _targets(policy: PinPolicy, hosts: Sequence[str] | None) -> list[_Target]:
    targets: list[_Target] = []
    if hosts:
        for text in hosts:
            host, port = parse_host_port(text)
            found = policy.match(host)
            if found is None:
                targets.append(
                    _Target(
                        host,
                        port,
                        None,
                        None,
                        (
                            Finding(
                                Level.ERROR,
                                "not-pinned",
                                f"{host} is not covered by any pattern of the policy",
                            ),
                        ),
                        connect=False,
                    )
                )
            else:
                targets.append(_Target(host, port, found[0], found[1]))
        return targets
    for pattern, pin_set in policy.pin_sets.items():
        if pattern.startswith("*."):
            targets.append(
                _Target(
                    pattern,
                    443,
                    pattern,
                    pin_set,
                    (
                        Finding(
                            Level.ERROR,
                            "needs-host",
                            f"{pattern} is a wildcard pattern and names no host to connect to: "
                            "use --host NAME[:PORT] to check its hosts",
                        ),
                    ),
                    connect=False,
                )
            )
            continue
        pre: tuple[Finding, ...] = ()
        if pin_set.include_subdomains:
            pre = (
                Finding(
                    Level.INFO,
                    "subdomains-unchecked",
                    f"{pattern} includes subdomains; only {pattern} itself was checked: "
                    "use --host NAME[:PORT] to check its subdomains",
                ),
            )
        targets.append(_Target(pattern, 443, pattern, pin_set, pre))
    return targets


# --------------------------------------------------------------------------- judging


def _describe(certs: Iterable[x509.Certificate]) -> tuple[ChainCertificate, ...]:
    out: list[ChainCertificate] = []
    for position, cert in enumerate(certs):
        spki, cert_p, subject = chain_pins(cert.public_bytes(Encoding.DER))
        out.append(ChainCertificate(position, subject, spki, cert_p, cert.not_valid_after_utc))
    return tuple(out)


def _in_days(when: datetime, now: datetime) -> str:
    delta = when - now
    if delta <= timedelta(0):
        return f"expired on {_iso(when)}"
    return f"expires on {_iso(when)} (in {delta.days} days)"


def _judge(
    target: _Target,
    fetched: FetchedChain | None,
    error: str | None,
    *,
    days: int,
    now: datetime,
    public_roots: Collection[Pin],
    expired_mode: str,
) -> HostReport:
    findings: list[Finding] = list(target.pre)
    pin_set = target.pin_set
    expires = pin_set.expires if pin_set is not None else None
    horizon = now + timedelta(days=days)

    if pin_set is not None:
        if not pin_set.enforce:
            findings.append(
                Finding(
                    Level.INFO, "report-only", f"{target.pattern} is report-only (enforce = false)"
                )
            )
        if expires is not None:
            if pin_set.is_expired(now) and expired_mode == "reject":
                findings.append(
                    Finding(
                        Level.ERROR,
                        "pin-set-expired",
                        f"the pin set for {target.pattern} expired on {_iso(expires)} and the "
                        "policy says expired = 'reject': every connection to it is refused",
                    )
                )
            elif pin_set.is_expired(now):
                findings.append(
                    Finding(
                        Level.WARN,
                        "pin-set-expired",
                        f"the pin set for {target.pattern} expired on {_iso(expires)}: "
                        "its pins are no longer enforced",
                    )
                )
            elif expires <= horizon:
                findings.append(
                    Finding(
                        Level.WARN,
                        "pin-set-expiring",
                        f"the pin set for {target.pattern} {_in_days(expires, now)}",
                    )
                )

    served = _describe(fetched.served) if fetched is not None else ()
    verified = (
        _describe(fetched.verified) if fetched is not None and fetched.verified is not None else ()
    )
    leaf = verified[0] if verified else (served[0] if served else None)

    def report(matches: Sequence[PinMatch] = ()) -> HostReport:
        first = matches[0] if matches else None
        findings.sort(key=lambda f: -_RANK[f.level])
        worst = max((_RANK[f.level] for f in findings), default=0)
        status = (Status.OK, Status.WARN, Status.ERROR)[worst]
        return HostReport(
            host=target.host,
            port=target.port,
            pattern=target.pattern,
            status=status,
            findings=tuple(findings),
            matched_pin=first.pin if first else None,
            matched_position=first.position if first else None,
            matched_subject=first.subject if first else None,
            matches=tuple(matches),
            verified_chain=verified,
            served_chain=served,
            leaf_not_after=leaf.not_after if leaf else None,
            pin_set_expires=expires,
            tls_version=fetched.tls_version if fetched is not None else None,
        )

    if not target.connect or pin_set is None:
        return report()
    if error is not None:
        findings.append(Finding(Level.ERROR, "connection-failed", error))
        return report()
    assert fetched is not None

    if leaf is not None and leaf.not_after <= horizon:
        findings.append(
            Finding(
                Level.WARN,
                "leaf-expiring",
                f"the leaf certificate {leaf.subject} {_in_days(leaf.not_after, now)}",
            )
        )

    primary = set(pin_set.pins)
    backup = set(pin_set.backup_pins)
    all_pins = primary | backup

    if fetched.verified is None:
        reason = escape(fetched.verify_error or "unknown reason")
        findings.append(
            Finding(
                Level.ERROR,
                "validation-failed",
                f"certificate validation failed for {target.host}:{target.port}: {reason}",
            )
        )
        return report()
    if not verified:
        findings.append(
            Finding(Level.ERROR, "empty-chain", "no verified chain was available (fail closed)")
        )
        return report()

    matches: list[PinMatch] = []
    for cert in verified:
        for pin in cert.pins:
            if pin in all_pins:
                backup_only = pin not in primary
                matches.append(
                    PinMatch(pin, cert.position, cert.subject, backup_only, pin in public_roots)
                )
    matches.sort(key=lambda m: (m.backup, m.position))

    if not matches:
        verified_pins = {p for c in verified for p in c.pins}
        served_only = [
            c for c in served if set(c.pins) & all_pins and not set(c.pins) & verified_pins
        ]
        if served_only:
            c = served_only[0]
            findings.append(
                Finding(
                    Level.ERROR,
                    "served-only-match",
                    f"a pin matches {c.subject} (served at position {c.position}), but that "
                    "certificate is not part of the verified chain, so it is never accepted",
                )
            )
        chain_text = "; ".join(f"{c.position}: {c.pins[0]} {c.subject}" for c in verified)
        findings.append(
            Finding(
                Level.ERROR,
                "no-match",
                f"no pin of {target.pattern} matches the verified chain of "
                f"{target.host}:{target.port} ({chain_text})",
            )
        )
        return report()

    best = matches[0]
    kind = "backup pin" if best.backup else "pin"
    findings.append(
        Finding(
            Level.INFO,
            "pin-matched",
            f"{kind} {best.pin} matched certificate {best.position} ({best.subject})",
        )
    )
    if all(m.backup for m in matches):
        findings.append(
            Finding(
                Level.WARN,
                "backup-pin-matched",
                f"only backup pin {best.pin} matched: {target.host} has rotated onto a backup "
                "key; move it to pins and add a new backup pin",
            )
        )
    if all(m.public_root for m in matches):
        findings.append(
            Finding(
                Level.WARN,
                "weak-pin",
                f"the only matching pin {best.pin} is the key of a public root CA "
                f"({best.subject}): weak pin, shared by many sites (any certificate that CA "
                "issues passes)",
            )
        )
    warned: set[int] = set()
    for m in matches:
        if m.position == 0 or m.position in warned:
            continue
        cert = verified[m.position]
        if cert.not_after <= horizon:
            warned.add(m.position)
            findings.append(
                Finding(
                    Level.WARN,
                    "pinned-cert-expiring",
                    f"pinned certificate {m.position} ({cert.subject}) "
                    f"{_in_days(cert.not_after, now)}",
                )
            )
    chain_pin_set = {p for c in (*verified, *served) for p in c.pins}
    if all_pins <= chain_pin_set:
        findings.append(
            Finding(
                Level.WARN,
                "no-backup-pin",
                f"every pin of {target.pattern} is in the chain {target.host} serves: pin a "
                "backup key that is not deployed (RFC 7469 section 4.3)",
            )
        )
    return report(matches)


def check_policy(
    policy: PinPolicy,
    *,
    hosts: Sequence[str] | None = None,
    days: int = 30,
    now: datetime | None = None,
    timeout: float = 10.0,
    cafile: str | None = None,
    concurrency: int = 8,
    public_roots: Collection[Pin] | None = None,
    on_report: Callable[[HostReport], None] | None = None,
) -> list[HostReport]:
    """Check a policy against the live servers it pins.

    Connects to every exact pattern of ``policy`` on port 443 (or to ``hosts``), concurrently,
    with :func:`certpin.probe.fetch_chain`: a TLS handshake under ``CERT_REQUIRED`` with the host
    name checked, and no application data sent. Pins are matched against the chain that
    Python's ssl verified (leaf to trust anchor), never the served chain alone.

    Args:
        policy: the :class:`~certpin.policy.PinPolicy` to check.
        hosts: host names to check instead of the policy's patterns, each ``host``,
            ``host:port``, ``[v6]:port`` or a bare IPv6 literal; each must be covered by a
            pattern of the policy (else a ``not-pinned`` error). Needed for wildcard patterns
            (``*.example.com``) and for the subdomains of include-subdomains patterns.
        days: warn about certificates and pin sets that expire within this many days (>= 0).
        now: the current time (aware datetime), for expiry judgements; default: the clock.
            TLS validation itself always uses the real clock.
        timeout: seconds for connect and handshake, per host.
        cafile: a PEM CA bundle to validate against instead of the system's trust store.
        concurrency: how many hosts are checked at once (>= 1).
        public_roots: pins of public root CAs, for the ``weak-pin`` warning; default
            :func:`public_root_pins` (certifi and the system store).
        on_report: called with each :class:`HostReport` as soon as it is ready (from worker
            threads), e.g. to advance a progress bar.

    Returns:
        One :class:`HostReport` per host, in the order of ``hosts`` (or of the policy's
        patterns).

    Raises:
        ProbeError: a host in ``hosts`` cannot be parsed (bad brackets, bad port).
        PolicyError: a host name in ``hosts`` is refused by normalisation.
        CertificateError: ``cafile`` cannot be loaded as a CA file.
        ValueError: ``days`` < 0 or past year 9999, ``concurrency`` < 1 or ``now`` is naive.
    """
    if days < 0:
        raise ValueError(f"days must be >= 0, got {days}")
    if concurrency < 1:
        raise ValueError(f"concurrency must be >= 1, got {concurrency}")
    if now is None:
        now = datetime.now(UTC)
    elif now.tzinfo is None:
        raise ValueError("now must be an aware datetime (e.g. with tzinfo=UTC)")
    try:
        now + timedelta(days=days)
    except OverflowError:
        raise ValueError(f"days={days} puts the expiry horizon past year 9999") from None
    if cafile is not None:
        try:
            ssl.create_default_context(cafile=cafile)
        except (OSError, ssl.SSLError) as exc:
            raise CertificateError(
                f"cannot load CA file {escape(cafile)}: {escape(str(exc))}"
            ) from None
    roots = public_root_pins() if public_roots is None else public_roots
    targets = _targets(policy, hosts)

    def one(target: _Target) -> HostReport:
        fetched: FetchedChain | None = None
        error: str | None = None
        if target.connect and target.pin_set is not None:
            try:
                fetched = fetch_chain(target.host, target.port, timeout=timeout, cafile=cafile)
            except (ProbeError, OSError) as exc:
                error = escape(str(exc)) or f"cannot connect to {target.host}:{target.port}"
        result = _judge(
            target,
            fetched,
            error,
            days=days,
            now=now,
            public_roots=roots,
            expired_mode=policy.expired,
        )
        if on_report is not None:
            on_report(result)
        return result

    if not targets:
        return []
    with ThreadPoolExecutor(max_workers=min(concurrency, len(targets))) as pool:
        return list(pool.map(one, targets))
