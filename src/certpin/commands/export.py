"""``certpin export POLICY --format F [--host H] [--lossy] [--swizzle] [--max-age S]
[--okhttp-version 3|4]``.

Writes the policy in a platform format to stdout. Where the target cannot express a rule
exactly (report-only, expiry, one-label wildcards, overlapping OkHttp patterns,
include_subdomains for OkHttp 3, certificate pins, ``unknown_hosts = "reject"``, ...) the command
exits 2 naming the rule and host and prints nothing on stdout, unless ``--lossy``: then it prints
what was dropped on stderr. ``--okhttp-version`` (okhttp only; default 3) picks the OkHttp major
version the code is for: 4 allows ``**.`` (OkHttp >= 4.3).
Exit 0 ok, 2 bad input, usage or lossy refusal.
"""

from __future__ import annotations

import argparse
import sys

from ..errors import escape

HELP = ("export a policy as Android, TrustKit, OkHttp, HPKP, curl, iOS NSPinnedDomains or Swift "
        "delegate code")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the arguments of ``certpin export``."""
    from ..config import DEFAULT_MAX_AGE, EXPORT_FORMATS
    from ._args import okhttp_version

    parser.add_argument("policy", metavar="POLICY", help="the policy file (.toml or .json)")
    parser.add_argument("--format", required=True, choices=EXPORT_FORMATS,
                        help="the output notation")
    parser.add_argument("--host", help="export only this host pattern (hpkp and curl need one)")
    parser.add_argument("--lossy", action="store_true",
                        help="drop rules the target cannot express (listed on stderr) "
                        "instead of failing")
    parser.add_argument("--swizzle", action=argparse.BooleanOptionalAction, default=False,
                        help="TrustKit: TSKSwizzleNetworkDelegates (default: --no-swizzle)")
    parser.add_argument("--max-age", type=int, default=DEFAULT_MAX_AGE, metavar="SECONDS",
                        help=f"HPKP max-age (default {DEFAULT_MAX_AGE})")
    parser.add_argument("--okhttp-version", type=okhttp_version, default=None, metavar="3|4",
                        help="okhttp: the OkHttp major version the code is for (default 3: "
                        "exact and '*.' patterns; 4: also '**.' for include_subdomains, "
                        "which needs OkHttp >= 4.3)")


def run(args: argparse.Namespace) -> int:
    """Export; returns 0, or raises a CertpinError (the CLI prints it and exits 2)."""
    from ..config import export_policy, load_policy
    from ..errors import ConfigError

    if args.max_age < 1:
        raise ConfigError("--max-age must be a positive number of seconds")
    if args.okhttp_version is not None and args.format != "okhttp":
        raise ConfigError("--okhttp-version applies to --format okhttp only")
    policy = load_policy(args.policy)
    result = export_policy(policy, args.format, host=args.host, lossy=args.lossy,
                           swizzle=args.swizzle, max_age=args.max_age,
                           okhttp_version=args.okhttp_version or 3)
    for line in result.dropped:
        print(f"certpin export: dropped: {escape(line)}", file=sys.stderr)
    for line in result.notes:
        print(f"certpin export: note: {escape(line)}", file=sys.stderr)
    sys.stdout.write(result.text)
    return 0
