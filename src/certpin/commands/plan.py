"""``certpin plan POLICY... --host HOST (--chain|--key|--csr|--live)``: the pre-deploy gate.

Each POLICY is a policy file that shipped (a version still in users' hands), optionally with a
``<name>.meta.toml`` sidecar (:mod:`certpin.config.meta`). For each, says whether its clients
would accept what is about to be deployed for HOST at ``--at`` (default now), judged by
:func:`certpin.plan.plan` (the same :func:`certpin.check` the TLS layer runs).

Exit codes: 0 every supported policy accepts, 1 warnings only (e.g. accepted only through a
backup pin or an expired pin set), 2 any supported policy would refuse, a chain that does not
validate against ``--cafile``, or bad usage/input.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from ..errors import escape
from ._args import seconds
from ._connect import add_servername

if TYPE_CHECKING:
    from ..pins import Pin
    from ..plan import PlanResult, ShippedPolicy

HELP = "pre-deploy gate: would the clients of each shipped policy accept a new key or chain?"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the options of ``certpin plan``."""
    parser.add_argument(
        "policies", nargs="+", metavar="POLICY",
        help="a shipped policy file (TOML or JSON); sidecar NAME.meta.toml for its support dates",
    )
    parser.add_argument("--host", required=True, metavar="HOST", help="the host to deploy for")
    new = parser.add_mutually_exclusive_group(required=True)
    new.add_argument("--chain", metavar="CHAIN.pem", help="the new chain, leaf first (PEM/DER)")
    new.add_argument("--key", metavar="KEY", help="the new leaf's key (private or public, PEM/DER)")
    new.add_argument("--csr", metavar="CSR", help="the new leaf's CSR (PEM/DER)")
    new.add_argument("--live", metavar="HOST:PORT", help="take the chain from a staging server")
    parser.add_argument(
        "--at", type=_instant, metavar="DATE",
        help="when the deploy happens: 2027-01-31 (00:00 UTC) or 2027-01-31T12:00:00Z "
        "(default now)",
    )
    parser.add_argument("--format", choices=("table", "json"), default="table")
    parser.add_argument(
        "--cafile", metavar="F",
        help="PEM trust store: the chain must validate against it at DATE (for --live: the "
        "handshake's trust store)",
    )
    add_servername(parser, "with --live (default: HOST)")
    parser.add_argument(
        "--ca-cert", action="append", default=[], metavar="PEM",
        help="with --key/--csr: certificates of the CAs that may issue the new leaf; a pin set "
        "pinning one of them cannot be judged from a key alone (a warning, not an error)",
    )
    parser.add_argument(
        "--timeout", type=seconds, default=10.0, metavar="S",
        help="--live: seconds (default 10)",
    )


def _instant(text: str) -> datetime:
    from ..errors import PolicyError
    from ..instants import parse_expires

    try:
        value = parse_expires(text)
    except PolicyError as exc:
        raise argparse.ArgumentTypeError(str(exc).replace("expires", "date", 1)) from None
    assert value is not None
    return value


def _shipped(paths: Sequence[str]) -> list[ShippedPolicy]:
    import os

    from ..config import load_policy
    from ..config.meta import load_policy_meta
    from ..plan import PolicyMeta, ShippedPolicy

    out = []
    for path in paths:
        shipped, until = load_policy_meta(path)
        meta = PolicyMeta(shipped, until)
        out.append(ShippedPolicy(os.path.basename(path), load_policy(path), meta))
    return out


def _read(path: str) -> bytes:
    from ..config import read_input

    return read_input(path)


def _ca_pins(args: argparse.Namespace) -> set[Pin]:
    from ..health import public_root_pins
    from ..pins import load_certificates, spki_pin

    pins = set(public_root_pins())
    for path in [*args.ca_cert, *([args.cafile] if args.cafile else [])]:
        pins.update(spki_pin(c) for c in load_certificates(_read(path)))
    return pins


def _new_chain(args: argparse.Namespace, at: datetime) -> tuple[dict[str, Any], list[str]]:
    """The plan's input (``chain_der`` or ``leaf_spki``) and chain errors (``chain-invalid``)."""
    from cryptography.hazmat.primitives.serialization import Encoding

    from ..pins import load_certificates, spki_der
    from ..plan import validate_chain

    if args.key or args.csr:
        return {"leaf_spki": spki_der(_read(args.key or args.csr)), "ca_pins": _ca_pins(args)}, []
    errors: list[str] = []
    if args.live:
        from ..probe import fetch_chain, parse_host_port

        host, port = parse_host_port(args.live)
        fetched = fetch_chain(
            host, port, server_name=args.servername or args.host, timeout=args.timeout,
            cafile=args.cafile,
        )
        if fetched.verified is None:
            errors.append(f"the chain of {escape(args.live)} does not validate: "
                          f"{fetched.verify_error}")
        certs = fetched.verified or fetched.served
        return {"chain_der": [c.public_bytes(Encoding.DER) for c in certs]}, errors
    chain = [c.public_bytes(Encoding.DER) for c in load_certificates(_read(args.chain))]
    if args.cafile:
        why = validate_chain(chain, args.host, _read(args.cafile), at)
        if why is not None:
            errors.append(f"the chain in {escape(args.chain)} does not validate against "
                          f"{escape(args.cafile)} at the deploy instant: {why}")
    return {"chain_der": chain}, errors


def run(args: argparse.Namespace) -> int:
    """Run ``certpin plan``; return 0 accepted, 1 warnings, 2 refused or bad input."""
    from ..findings import Status
    from ..hostnames import normalize_host
    from ..instants import aware_now, iso_z
    from ..plan import plan

    at = aware_now(args.at)
    host = normalize_host(args.host)
    policies = _shipped(args.policies)
    given, errors = _new_chain(args, at)
    results = plan(policies, host, at=at, **given)
    if args.format == "json":
        doc = {
            "host": host, "at": iso_z(at), "chain_errors": errors,
            "policies": [r.to_json() for r in results],
        }
        json.dump(doc, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        _print_table(results, errors, host, iso_z(at))
    statuses = {r.status for r in results}
    if errors or Status.ERROR in statuses:
        return 2
    return 1 if Status.WARN in statuses else 0


def _print_table(results: Sequence[PlanResult], errors: Sequence[str], host: str, at: str) -> None:
    words = {"ok": "ACCEPT", "warn": "WARN", "error": "REFUSE"}
    for error in errors:
        print(f"ERROR chain-invalid: {error}")
    for r in results:
        word = words[r.status.value] if r.supported else "UNSUPPORTED"
        print(f"{word} {escape(r.policy)}")
        for f in r.findings:
            print(f"  {f.level.value.upper()} {f.code}: {f.message}")
    refused = sum(1 for r in results if r.supported and r.status.value == "error")
    warned = sum(1 for r in results if r.supported and r.status.value == "warn")
    unsupported = sum(1 for r in results if not r.supported)
    accepted = len(results) - refused - warned - unsupported
    print(
        f"{host} at {at}: {accepted} accept, {warned} warning, {refused} refuse, "
        f"{unsupported} unsupported" + (", the chain does not validate" if errors else "")
    )
