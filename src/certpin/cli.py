"""The ``certpin`` command line: ``main(argv=None) -> int``.

Each sub-command lives in its own module under :mod:`certpin.commands` and exposes

* ``HELP``: one line for ``certpin --help``;
* ``add_arguments(parser: argparse.ArgumentParser) -> None``;
* ``run(args: argparse.Namespace) -> int``: the exit code.

Exit codes, common to every command: 0 success, 1 a target failed or the result is a warning
(as each command documents), 2 usage errors and bad input, 70 (``EX_SOFTWARE``) an unexpected
error inside certpin: a bug, reported in one line that names the command and asks for a bug
report; ``certpin --debug COMMAND ...`` shows its traceback. Errors go to stderr, one line each,
never a traceback (unless ``--debug``).
"""

from __future__ import annotations

import argparse
import importlib
import sys
import traceback
from collections.abc import Sequence

from .errors import CertpinError, escape, message_of

__all__ = ["main"]

#: command name -> module under certpin.commands
COMMANDS: dict[str, str] = {
    "collect": "collect",
    "demo": "demo",
    "pins": "pins",
    "check": "check",
    "lint": "lint",
    "plan": "plan",
    "backup-key": "backup_key",
    "export": "export",
    "import": "import_",
    "publish": "publish",
}

#: Exit code for an unexpected exception inside a command (``EX_SOFTWARE`` of sysexits.h).
EX_SOFTWARE = 70


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        print(f"certpin: error: {message}", file=sys.stderr)
        raise SystemExit(2)


def build_parser() -> argparse.ArgumentParser:
    """Build the argument parser with every sub-command registered."""
    from .version import __version__

    parser = _Parser(
        prog="certpin",
        description="Obtain, enforce and manage TLS certificate and public-key (SPKI) pins.",
    )
    parser.add_argument("--version", action="version", version=f"certpin {__version__}")
    parser.add_argument(
        "--debug",
        action="store_true",
        help="on an unexpected error (exit 70), print the Python traceback too",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name, module_name in COMMANDS.items():
        module = importlib.import_module(f"certpin.commands.{module_name}")
        p = sub.add_parser(name, help=module.HELP, description=module.HELP)
        module.add_arguments(p)
        p.set_defaults(_run=module.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``certpin`` command line.

    Args:
        argv: the arguments without the program name; ``None`` reads ``sys.argv[1:]``.

    Returns:
        The exit code (0 success, 1 failure or warnings as the command documents, 2 usage or
        input errors, 70 an unexpected exception: a certpin bug). Never raises (but
        ``SystemExit`` from ``--help``/``--version`` is turned into its code): every error is
        printed to stderr in one line, with the traceback added under ``--debug``.
    """
    parser = build_parser()
    try:
        args = parser.parse_args(list(argv) if argv is not None else None)
    except SystemExit as exc:
        return int(exc.code) if isinstance(exc.code, int) else 2
    if args.command is None:
        parser.print_help(sys.stderr)
        return 2
    try:
        return int(args._run(args))
    except CertpinError as exc:
        # certpin's messages escape what they quote already; only stray controls are left here.
        print(
            f"certpin {args.command}: error: {message_of(exc)}",
            file=sys.stderr,
        )
        return 2
    except KeyboardInterrupt:
        print(f"certpin {args.command}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 1
    except OSError as exc:
        print(f"certpin {args.command}: error: {escape(str(exc))}", file=sys.stderr)
        return 2
    except Exception as exc:
        # Not bad input (that is a CertpinError): a bug. One line, and the traceback on request.
        if args.debug:
            traceback.print_exc(file=sys.stderr)
        detail = escape(f"{type(exc).__name__}: {exc}")
        if len(detail) > 200:
            detail = detail[:200] + "..."
        how = (
            "the traceback above" if args.debug
            else f"the traceback that 'certpin --debug {args.command} ...' prints"
        )
        print(
            f"certpin {args.command}: internal error ({detail}): this is a bug in certpin; "
            f"please report it with {how}",
            file=sys.stderr,
        )
        return EX_SOFTWARE


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
