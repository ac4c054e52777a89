"""What a health check connects to: the hosts of a policy (or those given), and their pin sets."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from ..findings import Finding, Level
from ..hostnames import normalize_host
from ..policy import PinPolicy, PinSet
from ..probe import parse_host_port as probe_parse_host_port

__all__ = ["Target", "parse_host_port", "targets_of"]


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
class Target:
    """One host to check: its port, the pattern and pin set that apply, findings known before
    connecting, and whether to connect at all."""

    host: str
    port: int
    pattern: str | None
    pin_set: PinSet | None
    pre: tuple[Finding, ...] = field(default=())
    connect: bool = True


def targets_of(policy: PinPolicy, hosts: Sequence[str] | None) -> list[Target]:
    """The targets of a health check: each of ``hosts`` (a ``not-pinned`` error when no pattern
    covers it), else every pattern of ``policy`` (wildcards need a host: ``needs-host``).

    Raises:
        ProbeError, PolicyError: a host of ``hosts`` cannot be parsed or normalised.
    """
    targets: list[Target] = []
    if hosts:
        for text in hosts:
            host, port = parse_host_port(text)
            found = policy.match(host)
            if found is None:
                targets.append(
                    Target(
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
                targets.append(Target(host, port, found[0], found[1]))
        return targets
    for pattern, pin_set in policy.pin_sets.items():
        if pattern.startswith("*."):
            targets.append(
                Target(
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
        targets.append(Target(pattern, 443, pattern, pin_set, pre))
    return targets
