"""Options that say which name a command sends and checks, and where it connects:
``--servername`` (``certpin pins``, ``certpin check``) and ``--resolve`` (``certpin check``).

Bad values raise :class:`~certpin.errors.ProbeError` (the CLI prints one line and exits 2)
rather than argparse errors (a usage line and an error line). Nothing here is public API.
"""

from __future__ import annotations

import argparse
import ipaddress
from collections.abc import Sequence

from ..errors import ProbeError, quote
from ..hostnames import is_ip_literal
from ..probe import check_name

#: What ``--servername`` does wherever it is accepted.
SERVERNAME_HELP = "the name to send as SNI and check the certificate against"


def add_servername(parser: argparse.ArgumentParser, more: str) -> None:
    """Register ``--servername NAME``; ``more`` ends the help with what else it does here."""
    parser.add_argument("--servername", metavar="NAME", help=f"{SERVERNAME_HELP} {more}")


def checked_servername(name: str | None) -> str | None:
    """``name`` if it can be a host name or IP address, else ProbeError (None passes).

    Raises:
        ProbeError: ``name`` is empty, has spaces or controls, ``/``, ``\\`` or ``@``, or no
            IDNA encoding (what no DNS name can be).
    """
    if name is not None:
        check_name(name, "--servername")
    return name


def add_resolve(parser: argparse.ArgumentParser) -> None:
    """Register ``--resolve NAME:PORT:ADDRESS`` (repeatable), as curl has it."""
    parser.add_argument(
        "--resolve", action="append", metavar="NAME:PORT:ADDRESS", default=[],
        help="connect to the IP ADDRESS for NAME:PORT instead of resolving NAME, keeping NAME "
        "for SNI, certificate verification and the pin lookup (repeatable; curl's --resolve; "
        "an IPv6 address may be in brackets)",
    )


def parse_resolve(entries: Sequence[str]) -> dict[tuple[str, int], str]:
    """The ``--resolve`` entries as ``{(name, port): address}``.

    Raises:
        ProbeError: an entry that is not ``NAME:PORT:ADDRESS`` with a host name, a port
            1-65535 and one IP address; the same NAME:PORT twice with different addresses.
    """
    out: dict[tuple[str, int], str] = {}
    for text in entries:
        name, port, address = _resolve_entry(text)
        if out.get((name, port), address) != address:
            raise ProbeError(f"--resolve {quote(text)}: {name}:{port} is given two "
                             "different addresses")
        out[(name, port)] = address
    return out


def _resolve_entry(text: str) -> tuple[str, int, str]:
    """One ``NAME:PORT:ADDRESS``."""
    def bad(why: str) -> ProbeError:
        return ProbeError(f"--resolve {quote(text)}: {why}")

    name, _, rest = text.partition(":")
    port_text, _, address = rest.partition(":")
    if not name or not port_text or not address:
        raise bad("expected NAME:PORT:ADDRESS (e.g. api.example.com:443:127.0.0.1)")
    if name.startswith(("+", "-")) or name == "*":
        raise bad("curl's '+', '-' and '*' forms are not supported: give NAME:PORT:ADDRESS")
    check_name(name, "--resolve name")
    digits = port_text.isascii() and port_text.isdigit() and len(port_text) <= 5
    if not digits or not 0 < int(port_text) < 65536:
        raise bad("the port must be 1-65535")
    if "," in address:
        raise bad("give one address (certpin connects to one)")
    if address.startswith("[") and address.endswith("]"):
        address = address[1:-1]
    if not is_ip_literal(address):
        raise bad(f"{quote(address)} is not an IP address")
    return name, int(port_text), str(ipaddress.ip_address(address))
