"""What a health check connects to: the hosts of a policy (or those given), and their pin sets."""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

from ..errors import ProbeError, quote
from ..findings import Finding, Level
from ..hostnames import is_ip_literal, normalize_host
from ..policy import PinPolicy, PinSet
from ..probe import check_name
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
    connecting, whether to connect at all, and where.

    ``host`` is the name sent as SNI, checked against the certificate and looked up in the
    policy; ``address`` is where to connect instead of resolving ``host`` (``--resolve``, or a
    ``--host`` given with ``--servername``), or None.
    """

    host: str
    port: int
    pattern: str | None
    pin_set: PinSet | None
    pre: tuple[Finding, ...] = field(default=())
    connect: bool = True
    address: str | None = None


def targets_of(
    policy: PinPolicy,
    hosts: Sequence[str] | None,
    *,
    server_name: str | None = None,
    resolve: Mapping[tuple[str, int], str] | None = None,
) -> list[Target]:
    """The targets of a health check: each of ``hosts`` (a ``not-pinned`` error when no pattern
    covers it), else every pattern of ``policy`` (wildcards need a host: ``needs-host``).

    Args:
        policy: the policy.
        hosts: host texts (``NAME``, ``NAME:PORT``, ``[v6]:PORT``), or None for the patterns.
        server_name: with ``hosts``: the name to send, check and look up for every host, which
            is then only where to connect.
        resolve: ``(host, port) -> IP address`` to connect to instead of resolving the host
            connected to (the ``hosts`` entry or the pattern), as curl's ``--resolve``.

    Raises:
        ProbeError: a host cannot be parsed; ``server_name`` without ``hosts`` or not a name;
            a ``resolve`` entry that is not an IP address or matches no target (it would
            silently check the server the name resolves to).
        PolicyError: a host or ``server_name`` cannot be normalised.
    """
    if server_name is not None:
        if not hosts:
            raise ProbeError(f"server name {quote(server_name)} needs hosts to connect to "
                             "(--host ADDRESS[:PORT])")
        check_name(server_name, "server name")
        server_name = normalize_host(server_name)
    if hosts:
        targets = [_host_target(policy, text, server_name) for text in hosts]
    else:
        targets = [_pattern_target(pattern, ps) for pattern, ps in policy.pin_sets.items()]
    return _resolved(targets, resolve or {})


def _host_target(policy: PinPolicy, text: str, server_name: str | None) -> Target:
    """The target of one ``hosts`` entry; ``server_name`` makes it only the address."""
    host, port = parse_host_port(text)
    address = None
    if server_name is not None and server_name != host:
        host, address = server_name, host
    found = policy.match(host)
    if found is None:
        missing = Finding(Level.ERROR, "not-pinned",
                          f"{host} is not covered by any pattern of the policy")
        return Target(host, port, None, None, (missing,), connect=False, address=address)
    return Target(host, port, found[0], found[1], address=address)


def _pattern_target(pattern: str, pin_set: PinSet) -> Target:
    """The target of one pattern of the policy (port 443)."""
    if pattern.startswith("*."):
        needs = Finding(Level.ERROR, "needs-host",
                        f"{pattern} is a wildcard pattern and names no host to connect to: "
                        "use --host NAME[:PORT] to check its hosts")
        return Target(pattern, 443, pattern, pin_set, (needs,), connect=False)
    pre: tuple[Finding, ...] = ()
    if pin_set.include_subdomains:
        pre = (Finding(Level.INFO, "subdomains-unchecked",
                       f"{pattern} includes subdomains; only {pattern} itself was checked: "
                       "use --host NAME[:PORT] to check its subdomains"),)
    return Target(pattern, 443, pattern, pin_set, pre)


def _resolved(targets: list[Target], resolve: Mapping[tuple[str, int], str]) -> list[Target]:
    """``targets`` with the ``resolve`` addresses applied; every entry must be used."""
    table: dict[tuple[str, int], str] = {}
    for (name, port), address in resolve.items():
        if not is_ip_literal(address):
            raise ProbeError(f"resolve {quote(name)}:{port}: {quote(address)} is not an "
                             "IP address")
        table[(normalize_host(name), port)] = str(ipaddress.ip_address(address))
    used: set[tuple[str, int]] = set()
    out: list[Target] = []
    for t in targets:
        key = (t.address or t.host, t.port)
        if key in table and not t.host.startswith("*."):
            used.add(key)
            out.append(replace(t, address=table[key]))
        else:
            out.append(t)
    unused = [k for k in table if k not in used]
    if unused:
        checked = ", ".join(sorted({_where(t.address or t.host, t.port) for t in targets}))
        raise ProbeError(f"resolve entry {_where(*unused[0])} matches no host checked "
                         f"({checked or 'none'}): it would never be used")
    return out


def _where(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
