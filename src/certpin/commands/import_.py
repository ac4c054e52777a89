"""``certpin import FILE --from FORMAT [-o POLICY] [--host H] [--force] [--report-only]
[--lossy]``.

Reads pins in a platform format (Android network security config, TrustKit Info.plist, HPKP
header, curl ``--pinnedpubkey``, OkHttp pin list, Apple's ``NSPinnedDomains``)
and writes a certpin policy: to ``-o`` (TOML
or JSON by extension, written atomically) or to stdout as TOML. An existing ``-o`` file is
refused unless ``--force``: an import never silently replaces a hand-edited policy. Warnings
(e.g. Android ``overridePins``) go to stderr. Exit 0 ok, 2 bad input or usage; on error no
output file is created or changed.
"""

from __future__ import annotations

import argparse
import os
import sys

from ..errors import ConfigError, escape, quote

HELP = ("import pins from Android, TrustKit, HPKP, curl, OkHttp or iOS NSPinnedDomains notation "
        "into a policy file")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the arguments of ``certpin import``."""
    from ..config import IMPORT_FORMATS

    parser.add_argument("file", metavar="FILE", help="the input file ('-' for stdin)")
    parser.add_argument("--from", dest="format", required=True, choices=IMPORT_FORMATS,
                        help="the input notation")
    parser.add_argument("-o", "--output", metavar="POLICY",
                        help="write the policy here (.toml or .json); default: TOML on stdout")
    parser.add_argument("--host", help="host pattern: required for hpkp and curl; for the "
                        "others, import only this pattern")
    parser.add_argument("--force", action="store_true", help="replace an existing -o file")
    parser.add_argument("--report-only", action="store_true",
                        help="hpkp: the value came from Public-Key-Pins-Report-Only")
    parser.add_argument("--lossy", action="store_true",
                        help="ios: a host with both leaf and CA identities (an AND) keeps its "
                        "leaf identities, with a warning, instead of failing")


def run(args: argparse.Namespace) -> int:
    """Import; returns 0, or raises a CertpinError (the CLI prints it and exits 2)."""
    from ..config import dump_policy, dumps_policy, import_policy, read_input

    out = args.output
    if out is not None:
        ext = os.path.splitext(out)[1].lower()
        if ext not in (".toml", ".json"):
            raise ConfigError(f"unknown policy file type {quote(ext or '(none)', None)}: "
                              "expected .toml or .json", path=out)
        if os.path.lexists(out) and not args.force:
            raise ConfigError("exists; refusing to replace it (use --force)", path=out)
    if args.format in ("hpkp", "curl") and args.host is None:
        raise ConfigError(f"--from {args.format} carries no host name: give it with --host",
                          path=args.file)
    data = read_input(args.file)
    warnings: list[str] = []
    policy = import_policy(data, args.format, host=args.host, source=args.file,
                           report_only=args.report_only, warnings=warnings,
                           lossy=args.lossy)
    # each warning escapes what it quotes already: only stray control characters are left here
    for w in warnings:
        print(f"certpin import: warning: {escape(w, backslashes=False)}", file=sys.stderr)
    if out is None:
        sys.stdout.write(dumps_policy(policy, "toml"))
    else:
        try:
            dump_policy(policy, out, overwrite=args.force)
        except OSError as exc:
            # The raw error names the temporary file next to ``out``; name the file asked for.
            raise ConfigError(f"cannot write: {escape(exc.strerror or str(exc))}",
                              path=out) from None
        print(f"certpin import: wrote {len(policy.pin_sets)} pin set(s) to {escape(out)}",
              file=sys.stderr)
    return 0
