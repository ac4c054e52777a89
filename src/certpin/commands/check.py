"""``certpin check POLICY``: do the live servers and the pins still agree?

``--servername NAME`` (with ``--host``) and ``--resolve NAME:PORT:ADDRESS`` check a name at an
address it does not resolve to (a staging server, 127.0.0.1); they share their parsing with
``certpin pins`` (:mod:`certpin.commands._connect`).

Exit codes: 0 every host healthy, 1 warnings only, 2 an error on any host, or bad usage/input.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, TextIO

from ..errors import PolicyError, escape
from ._args import days, positive_int, seconds
from ._connect import add_resolve, add_servername, checked_servername, parse_resolve

if TYPE_CHECKING:
    from ..health import HostReport

HELP = "check a policy against the live servers: which pin matched, expiries, weak pins"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the options of ``certpin check``."""
    parser.add_argument("policy", metavar="POLICY", help="the policy file (TOML or JSON)")
    parser.add_argument(
        "--host",
        action="append",
        dest="hosts",
        metavar="H",
        help="a host to check instead of every exact pattern: NAME, NAME:PORT or [IPv6]:PORT "
        "(repeatable; needed for wildcard patterns)",
    )
    parser.add_argument(
        "--days",
        type=days,
        default=30,
        metavar="N",
        help="warn about certificates and pin sets expiring within N days (default 30)",
    )
    parser.add_argument(
        "--format", choices=("table", "json", "openmetrics"), default="table",
        help="table, json, or openmetrics (OpenMetrics 1.0 gauges for Prometheus and node "
        "exporter's textfile collector; needs certpin[metrics])",
    )
    parser.add_argument(
        "--timeout", type=seconds, default=10.0, metavar="S",
        help="seconds per host (default 10)",
    )
    parser.add_argument(
        "--cafile", metavar="F", help="PEM CA bundle to validate against instead of the system's"
    )
    parser.add_argument(
        "--concurrency", type=positive_int, default=None, metavar="N",
        help="hosts checked at once (default: one per host, up to 256; a check is a "
        "handshake, which waits on the network)",
    )
    add_servername(parser, "and to look up in the policy, for every --host, which is then "
                   "only the address to connect to (needs --host)")
    add_resolve(parser)


def run(args: argparse.Namespace) -> int:
    """Run ``certpin check``; return 0 healthy, 1 warnings, 2 errors."""
    from ..config import load_policy
    from ..health import Status, check_policy, parse_host_port
    from ..instants import aware_now

    policy = load_policy(args.policy)
    if not policy.pin_sets:
        # Nothing to check: an empty report must not come out with exit 0 (review 11d).
        raise PolicyError(f"{escape(args.policy)}: the policy has no pin set: nothing to check")
    hosts: list[str] = list(args.hosts or [])
    for h in hosts:
        parse_host_port(h)  # bad usage: exit 2 before connecting anywhere
    server_name = checked_servername(args.servername)
    resolve = parse_resolve(args.resolve)
    now = aware_now(None)
    progress, advance = _progress(len(hosts) or len(policy.pin_sets))
    try:
        reports = check_policy(
            policy,
            hosts=hosts or None,
            days=args.days,
            now=now,
            timeout=args.timeout,
            cafile=args.cafile,
            concurrency=args.concurrency,
            on_report=advance,
            server_name=server_name,
            resolve=resolve,
        )
    finally:
        if progress is not None:
            progress.stop()

    if args.format == "openmetrics":
        from ..health.metrics import openmetrics_text

        sys.stdout.write(openmetrics_text(reports, now))
    elif args.format == "json":
        json.dump([r.to_json() for r in reports], sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        _print_table(reports, sys.stdout)
    statuses = {r.status for r in reports}
    if Status.ERROR in statuses:
        return 2
    if Status.WARN in statuses:
        return 1
    return 0


def _progress(total: int) -> tuple[Any, Callable[[HostReport], None] | None]:
    """A rich progress bar on stderr when stderr is a terminal and rich is installed."""
    if not sys.stderr.isatty():
        return None, None
    try:
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
    except ImportError:
        return None, None
    progress = Progress(
        TextColumn("checking"),
        BarColumn(),
        MofNCompleteColumn(),
        console=Console(file=sys.stderr),
        transient=True,
    )
    task = progress.add_task("check", total=total)
    progress.start()

    def advance(_report: HostReport) -> None:
        progress.advance(task)

    return progress, advance


def _rows(reports: Sequence[HostReport]) -> list[tuple[str, str, str, str, str]]:
    rows = []
    for r in reports:
        target = f"[{r.host}]:{r.port}" if ":" in r.host else f"{r.host}:{r.port}"
        if r.address is not None:
            target += f"\nvia {r.address}"
        if r.matched_pin is not None:
            backup = " (backup)" if r.matches and r.matches[0].backup else ""
            matched = f"{r.matched_pin}{backup}\n#{r.matched_position} {r.matched_subject}"
        else:
            matched = "-"
        notes = "\n".join(
            f"{f.level.value.upper()} {f.code}: {f.message}"
            for f in r.findings
            if f.code != "pin-matched"
        )
        rows.append(
            (r.status.value.upper(), escape(target), escape(r.pattern or "-"), matched, notes)
        )
    return rows


def _print_table(reports: Sequence[HostReport], out: TextIO) -> None:
    headers = ("STATUS", "HOST", "PATTERN", "MATCHED PIN", "FINDINGS")
    rows = _rows(reports)
    try:
        from rich.console import Console
        from rich.table import Table
        from rich.text import Text
    except ImportError:
        for row in (headers, *rows):
            print(" | ".join(cell.replace("\n", " ") for cell in row), file=out)
        return
    styles = {"OK": "green", "WARN": "yellow", "ERROR": "bold red"}
    table = Table(show_lines=True)
    for header in headers:
        # never cut a pin short with an ellipsis: people paste them into policies
        min_width = 51 if header == "MATCHED PIN" else None  # len("sha256/") + 44
        table.add_column(header, overflow="fold", min_width=min_width)
    for row in rows:
        table.add_row(
            Text(row[0], style=styles.get(row[0], "")), *(Text(cell) for cell in row[1:])
        )
    console = Console(file=out, width=None if out.isatty() else 200)
    console.print(table)
    counts = {s: sum(1 for r in rows if r[0] == s) for s in ("OK", "WARN", "ERROR")}
    console.print(
        Text(f"{counts['OK']} ok, {counts['WARN']} warning, {counts['ERROR']} error")
    )
