"""``certpin publish``: keep a TUF repository whose target is the pin policy (signed updates).

Sub-commands: ``init REPO --keys KEYDIR``, ``policy REPO POLICY --keys KEYDIR``,
``timestamp REPO --keys KEYDIR``, ``rotate REPO --role ROLE --keys KEYDIR``. ``--keys`` may be
given more than once (the offline root/targets keys apart from the online snapshot/timestamp
keys); a rotated key's successor goes to the folder of the key it replaces (the first folder
when that key is lost). Key material is never printed. A key folder must be outside REPO (which
is served as it is) and, when it exists, yours with mode 0700. Every key is looked up before
anything is written: a missing key leaves the repository as it was.

Exit codes: 0 done, 2 errors (a missing key, a policy with lint errors, not a repository).
"""

from __future__ import annotations

import argparse
import sys

HELP = "publish signed, versioned, expiring pin policies as a TUF repository (init, policy, ...)"


def _threshold(text: str) -> tuple[str, int]:
    role, sep, count = text.partition("=")
    if not sep or not count.isdigit() or int(count) < 1:
        raise argparse.ArgumentTypeError(f"expected ROLE=N (N >= 1), got {text!r}")
    return role, int(count)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the sub-commands of ``certpin publish``."""
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True,
                                parser_class=type(parser))

    def with_repo(name: str, help: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help, description=help)
        p.add_argument("repo", metavar="REPO", help="the repository folder")
        p.add_argument("--keys", metavar="KEYDIR", action="append", required=True,
                       help="a key folder (repeat for offline and online keys)")
        return p

    init = with_repo("init", "create the keys (Ed25519) and the first, empty repository")
    init.add_argument("--threshold", metavar="ROLE=N", type=_threshold, action="append",
                      default=[], help="N keys for ROLE, all of which sign (default 1)")
    policy = with_repo("policy", "publish a new version of the policy file (linted first)")
    policy.add_argument("policy", metavar="POLICY", help="the policy file (TOML or JSON)")
    with_repo("timestamp", "renew the timestamp (run from cron well before it expires)")
    rotate = with_repo("rotate", "replace the keys of a role (a new root version)")
    rotate.add_argument("--role", required=True,
                        choices=("root", "targets", "snapshot", "timestamp"))


def run(args: argparse.Namespace) -> int:
    """Run ``certpin publish ACTION``; 0 done, 2 errors."""
    from ..updates import publish

    if args.action == "init":
        if len(args.keys) != 1:
            print("certpin publish init: error: give exactly one --keys folder for the new keys",
                  file=sys.stderr)
            return 2
        root = publish.init_repository(args.repo, args.keys[0],
                                       thresholds=dict(args.threshold))
        print(f"initialised {args.repo}; ship {root} with the application as its trusted root")
    elif args.action == "policy":
        version = publish.publish_policy(args.repo, args.policy, args.keys)
        print(f"published {args.policy} as targets version {version}")
    elif args.action == "timestamp":
        expires = publish.renew_timestamp(args.repo, args.keys)
        print(f"timestamp renewed; expires {expires.isoformat()}")
    else:
        version = publish.rotate_key(args.repo, args.role, args.keys)
        print(f"rotated the {args.role} keys; root version {version}")
    return 0
