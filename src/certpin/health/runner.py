"""The health check runner: probe every host of a policy concurrently and judge each one."""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta

from ..errors import ProbeError, message_of
from ..instants import aware_now
from ..pins import Pin
from ..policy import PinPolicy
from ..probe import FetchedChain, fetch_chain, verifying_context
from .judge import judge
from .model import HostReport
from .roots import public_root_pins
from .targets import Target, targets_of

__all__ = ["MAX_DEFAULT_CONCURRENCY", "check_policy"]

#: The default concurrency of :func:`check_policy`: one thread per host up to this many.
MAX_DEFAULT_CONCURRENCY = 256


def check_policy(
    policy: PinPolicy,
    *,
    hosts: Sequence[str] | None = None,
    days: int = 30,
    now: datetime | None = None,
    timeout: float = 10.0,
    cafile: str | None = None,
    concurrency: int | None = None,
    public_roots: Collection[Pin] | None = None,
    on_report: Callable[[HostReport], None] | None = None,
    server_name: str | None = None,
    resolve: Mapping[tuple[str, int], str] | None = None,
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
        concurrency: how many hosts are checked at once (>= 1); default one per host, up to
            :data:`MAX_DEFAULT_CONCURRENCY`: a check is a TLS handshake, which waits on the
            network far more than it computes, so the round trips overlap.
        public_roots: pins of public root CAs, for the ``weak-pin`` warning; default
            :func:`public_root_pins` (certifi and the system store).
        on_report: called with each :class:`HostReport` as soon as it is ready (from worker
            threads), e.g. to advance a progress bar.
        server_name: with ``hosts`` only: the name to send as SNI, to check the certificate
            against and to look up in the policy, for every host of ``hosts``, which are then
            only where to connect (as ``certpin pins --servername``).
        resolve: ``{(host, port): ip_address}``: connect to the address instead of resolving
            that host (curl's ``--resolve``), keeping the host as SNI, certificate name and
            policy lookup; a key is the host connected to (an entry of ``hosts`` or an exact
            pattern on port 443). Every entry must match a host checked.

    Returns:
        One :class:`HostReport` per host, in the order of ``hosts`` (or of the policy's
        patterns).

    Raises:
        ProbeError: a host in ``hosts`` cannot be parsed (bad brackets, bad port);
            ``server_name`` without ``hosts`` or not a host name; a ``resolve`` address that is
            not an IP address, or an entry that matches no host checked (it would silently
            check the server the name resolves to).
        PolicyError: a host name in ``hosts``, ``server_name`` or a ``resolve`` host is refused
            by normalisation.
        CertificateError: ``cafile`` cannot be loaded as a CA file.
        ValueError: ``days`` < 0 or past year 9999, ``concurrency`` < 1 or ``now`` is naive.
        TypeError: ``now`` is not a datetime.
    """
    if days < 0:
        raise ValueError(f"days must be >= 0, got {days}")
    if concurrency is not None and concurrency < 1:
        raise ValueError(f"concurrency must be >= 1, got {concurrency}")
    now = aware_now(now)
    try:
        now + timedelta(days=days)
    except OverflowError:
        raise ValueError(f"days={days} puts the expiry horizon past year 9999") from None
    # one trust store for every host: loading the system's costs tens of ms of CPU per context
    verifying = verifying_context(cafile)
    roots = public_root_pins() if public_roots is None else public_roots
    targets = targets_of(policy, hosts, server_name=server_name, resolve=resolve)

    def one(target: Target) -> HostReport:
        fetched: FetchedChain | None = None
        error: str | None = None
        if target.connect and target.pin_set is not None:
            try:
                fetched = fetch_chain(
                    target.address or target.host, target.port, timeout=timeout,
                    context=verifying, server_name=target.host if target.address else None,
                )
            except (ProbeError, OSError) as exc:
                where = target.address or target.host
                error = message_of(exc) or f"cannot connect to {where}:{target.port}"
        result = judge(
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
    workers = min(concurrency or MAX_DEFAULT_CONCURRENCY, len(targets))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(one, targets))
