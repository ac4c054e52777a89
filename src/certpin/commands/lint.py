"""``certpin lint POLICY``: check a policy file offline.

The findings go to stdout. A file that cannot be loaded is an error, not a finding about the
policy: its message goes to stderr in one line (``certpin lint: error: FILE, line N: ...``);
with ``--format json`` stdout still gets the ``load-error`` finding, in text mode nothing.

Exit codes: 0 no warning (notes allowed), 1 warnings only, 2 errors (including a file that
cannot be loaded) or bad usage.
"""

from __future__ import annotations

import argparse
import json
import sys

from ..errors import escape
from ._args import days

HELP = "check a policy file offline: backup pins, expiry, overlapping and public-suffix patterns"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the options of ``certpin lint``."""
    parser.add_argument("policy", metavar="POLICY", help="the policy file (TOML or JSON)")
    parser.add_argument(
        "--days",
        type=days,
        default=30,
        metavar="N",
        help="warn about pin sets expiring within N days (default 30)",
    )
    parser.add_argument("--format", choices=("text", "json"), default="text")
    parser.add_argument(
        "--backup-key", action="append", default=[], metavar="FILE", dest="backup_keys",
        help="the key or CSR that `certpin backup-key` wrote: warn unless its pin is a backup "
        "pin of the pin sets it is for (repeatable)",
    )


def run(args: argparse.Namespace) -> int:
    """Run ``certpin lint``; return 0 clean, 1 warnings, 2 errors."""
    from ..health import Level
    from ..lint import lint_file
    from ..rotation import read_backup_keys

    findings = lint_file(
        args.policy, days=args.days, backup_keys=read_backup_keys(args.backup_keys),
        pin_kinds=True,
    )
    load_errors = [f for f in findings if f.code == "load-error"]
    for f in load_errors:
        print(f"certpin lint: error: {f.message}", file=sys.stderr)
    if args.format == "json":
        json.dump([f.to_json() for f in findings], sys.stdout, indent=2)
        sys.stdout.write("\n")
    elif not load_errors:
        for f in findings:
            where = f" {escape(f.pattern)}" if f.pattern else ""
            print(f"{f.level.value.upper()} {f.code}{where}: {f.message}")
        counts = {lv: sum(1 for f in findings if f.level is lv) for lv in Level}
        print(
            f"{counts[Level.ERROR]} error, {counts[Level.WARN]} warning, "
            f"{counts[Level.INFO]} note"
        )
    levels = {f.level for f in findings}
    if Level.ERROR in levels:
        return 2
    if Level.WARN in levels:
        return 1
    return 0
