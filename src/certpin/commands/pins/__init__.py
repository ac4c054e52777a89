"""``certpin pins TARGET...``: print the pins of every certificate of live servers and files.

A TARGET is ``host``, ``host:port``, ``[v6]:port`` (or a bare IPv6 address), an ``https://`` URL,
a file (PEM, DER or PKCS#7 certificates, a public or private key, a CSR), or ``-`` for stdin. An
existing path is always a file; text with a slash or a certificate/key file extension that does not
exist is reported as a missing file rather than looked up as a host.

For a live target the certificates shown are the chain Python's ssl *verified* (what pinning
matches at run time), followed by certificates the server sent that are not part of it, marked
"served only". If the chain does not validate, its pins are whatever the server, or an
interceptor, sent: the target fails (exit status 1, an error on stderr; the text format still
shows the served chain, marked NOT VERIFIED; ``json``, ``hpkp`` and ``curl`` print no pin of it)
unless ``--allow-unverified`` is given, which prints them with a warning on stderr (``"verified":
false`` in JSON).

Formats: ``text`` (a block per certificate), ``json`` (a list of targets), ``hpkp`` (one line per
target: ``pin-sha256="..."; ...`` for the chain pinning sees, RFC 7469 section 2.1), ``curl`` (one
line per target for ``curl --pinnedpubkey``: the leaf's ``sha256//<b64>`` for a live target, since
curl checks the leaf key only; every certificate or key of a file, joined with ``;``).

Each certificate has a ``role``: ``leaf`` (position 0 of a live chain, or a certificate of a file
that is not a CA) or ``ca`` (an intermediate or root of a live chain, or a certificate of a file
with basicConstraints CA=true); a key or CSR has none (``null``).

Subjects and issuers are RFC 4514 text as cryptography gives it (one backslash before a special
character), with control characters escaped (:func:`certpin.chainpins.name_text`).

Exit status: 0 every target succeeded, 1 at least one failed (the others are still printed): it
could not be reached or read, its chain did not validate (unless ``--allow-unverified``), or
``hpkp``/``curl`` found no SPKI pin in it; 2 usage errors (bad option, malformed target,
unreadable ``--cafile``).
"""

from __future__ import annotations

import argparse
import json
import os
import ssl
import sys
import urllib.parse
from dataclasses import dataclass
from typing import Any, Literal

from cryptography.hazmat.primitives import serialization

from ...errors import CertificateError, CertpinError, ProbeError, escape
from ...probe import FetchedChain, fetch_chain, parse_host_port
from .._args import seconds
from .._connect import add_servername, checked_servername
from .describe import describe_certificate, describe_data, describe_key, position_in_file
from .render import curl_line, hpkp_line, pinned_certs, text_block, unpinnable_reason

__all__ = [
    "HELP", "add_arguments", "describe_certificate", "describe_data", "describe_key", "run",
]

HELP = "print the SPKI and certificate pins of live servers and certificate/key files"

EPILOG = (
    "Exit status: 0 when every target gave its pins; 1 when a target failed (the others are "
    "still printed): it cannot be reached or read, its chain did not validate (unless "
    "--allow-unverified), or --format hpkp|curl has no SPKI pin for it; 2 on usage errors."
)

MAX_INPUT = 16 * 1024 * 1024  # bytes read from one file or stdin
_FILE_SUFFIXES = (
    ".pem", ".crt", ".cer", ".der", ".p7b", ".p7c", ".key", ".pub", ".csr", ".req", ".cert",
)


@dataclass(frozen=True)
class _Target:
    text: str
    kind: Literal["host", "file", "stdin"]
    host: str = ""
    port: int = 443
    path: str = ""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the ``pins`` options on ``parser``."""
    parser.add_argument(
        "targets",
        nargs="+",
        metavar="TARGET",
        help="host[:port], [v6]:port, https:// URL, a certificate/key file, or - for stdin",
    )
    parser.add_argument(
        "--format",
        choices=("text", "json", "hpkp", "curl"),
        default="text",
        help="output format (default: text)",
    )
    add_servername(parser, "(default: the target's host)")
    parser.add_argument(
        "--timeout",
        type=seconds,
        default=10.0,
        metavar="SECONDS",
        help="connect and handshake timeout in seconds (default: 10)",
    )
    parser.add_argument(
        "--allow-unverified",
        action="store_true",
        help="print the pins of a live chain that did not validate, with exit status 0 and a "
        "warning on stderr (JSON says \"verified\": false); without it such a target fails: "
        "its pins are whatever the server, or an interceptor, sent",
    )
    parser.epilog = EPILOG
    parser.add_argument(
        "--cafile",
        metavar="PEM",
        help="validate live chains against these CAs instead of the default trust store",
    )


def _parse_target(text: str) -> _Target:
    """Classify one TARGET; raises ProbeError (a usage error) when it is malformed."""
    if text == "-":
        return _Target(text, "stdin")
    lower = text.lower()
    if lower.startswith("https://"):
        try:
            parts = urllib.parse.urlsplit(text)
        except ValueError as exc:  # "Invalid IPv6 URL" (an unclosed bracket)
            raise ProbeError(f"invalid target '{escape(text)}': {exc}") from None
        netloc = parts.netloc.rpartition("@")[2]
        host, port = parse_host_port(netloc)
        return _Target(text, "host", host=host, port=port)
    if "://" in text:
        raise ProbeError(f"invalid target '{escape(text)}': only https:// URLs are supported")
    if os.path.exists(text):
        return _Target(text, "file", path=text)
    if "/" in text or os.sep in text or lower.endswith(_FILE_SUFFIXES):
        return _Target(text, "file", path=text)
    host, port = parse_host_port(text)
    return _Target(text, "host", host=host, port=port)


def _live_result(target: _Target, fetched: FetchedChain) -> dict[str, Any]:
    served_der = [c.public_bytes(serialization.Encoding.DER) for c in fetched.served]
    certs: list[dict[str, Any]] = []
    if fetched.verified is not None:
        verified_der = [c.public_bytes(serialization.Encoding.DER) for c in fetched.verified]
        last = len(fetched.verified) - 1
        for i, cert in enumerate(fetched.verified):
            # the last certificate is the trust anchor: a root, unless the store trusts an
            # intermediate directly (partial chains, the default on Python 3.13)
            position = "leaf" if i == 0 else "intermediate"
            if i == last and i > 0 and cert.subject == cert.issuer:
                position = "root"
            info = describe_certificate(cert, position)
            info.update(in_verified_chain=True, served=verified_der[i] in served_der)
            certs.append(info)
        for der, cert in zip(served_der, fetched.served, strict=True):
            if der not in verified_der:
                info = describe_certificate(cert, position_in_file(cert))
                info.update(in_verified_chain=False, served=True)
                certs.append(info)
    else:
        for i, cert in enumerate(fetched.served):
            position = "leaf" if i == 0 else position_in_file(cert)
            if position == "leaf" and i > 0:
                position = "intermediate"
            info = describe_certificate(cert, position)
            info.update(in_verified_chain=False, served=True)
            certs.append(info)
    return {
        "target": escape(target.text),
        "host": escape(fetched.host),
        "port": fetched.port,
        "server_name": None if fetched.server_name is None else escape(fetched.server_name),
        "tls_version": fetched.tls_version,
        "verified": fetched.verified is not None,
        "verify_error": fetched.verify_error,
        "certificates": certs,
    }


def _read_input(target: _Target) -> bytes:
    if target.kind == "stdin":
        data = sys.stdin.buffer.read(MAX_INPUT + 1)
        where = "stdin"
    else:
        where = escape(target.path)
        try:
            with open(target.path, "rb") as f:
                data = f.read(MAX_INPUT + 1)
        except IsADirectoryError:
            raise CertificateError(f"{where}: is a directory") from None
        except OSError as exc:
            reason = escape(exc.strerror or str(exc))
            raise CertificateError(f"{where}: cannot read: {reason}") from None
    if len(data) > MAX_INPUT:
        raise CertificateError(f"{where}: larger than {MAX_INPUT} bytes")
    return data


def _file_result(target: _Target) -> dict[str, Any]:
    data = _read_input(target)
    where = "stdin" if target.kind == "stdin" else escape(target.path)
    return {"target": escape(target.text), "file": where,
            "certificates": describe_data(data, where)}


def _printable(message: str) -> str:
    """Messages of certpin errors already hold escaped parts; escape only if still needed."""
    return message if message.isprintable() else escape(message)


def run(args: argparse.Namespace) -> int:
    """Print the pins of every target; return 0, or 1 if any target failed (2: usage error).

    A live target whose chain did not validate is a failed target unless ``--allow-unverified``
    is given, and so is a target with no SPKI pin for ``--format hpkp|curl``: machine-readable
    pins never come with exit status 0 when they are empty or unverified.
    """
    try:
        targets = _checked_targets(args)
    except _UsageError as exc:
        print(f"certpin pins: error: {exc}", file=sys.stderr)
        return 2
    results: list[dict[str, Any]] = []
    status = 0
    first = True
    for target in targets:
        try:
            result = _target_result(target, args)
        except CertpinError as exc:
            status = 1
            _report_failure(target, _printable(str(exc)), args.format, results)
            continue
        refusal = _refusal(result, args)
        if refusal is None or args.format == "text":
            if args.format == "json":
                results.append(result)
            else:
                _print_result(result, args.format, first=first)
            first = False
        if refusal is not None:
            status = 1
            extra = {} if "host" not in result else {
                "verified": result["verified"], "verify_error": result["verify_error"],
            }
            _report_failure(target, refusal, args.format, results, extra)
    if args.format == "json":
        print(json.dumps(results, indent=2, ensure_ascii=False))
    return status


def _refusal(result: dict[str, Any], args: argparse.Namespace) -> str | None:
    """Why ``result`` must not come out with exit status 0, or None; warns on stderr when
    ``--allow-unverified`` lets an unverified chain through."""
    fmt = args.format
    if "host" in result and not result["verified"]:
        reason = f"the chain did not validate ({result['verify_error']})"
        if not args.allow_unverified:
            shown = ("shown above marked NOT VERIFIED" if fmt == "text"
                     else "so they are not printed")
            return (f"{reason}: its pins are whatever the server (or an interceptor) sent, "
                    f"{shown}; --allow-unverified prints them with exit status 0")
        print(
            f"certpin pins: warning: {result['target']}: {reason}; printing its pins NOT "
            "VERIFIED (--allow-unverified): they are whatever the server, or an interceptor, "
            "sent",
            file=sys.stderr,
        )
    if fmt in ("hpkp", "curl") and not pinned_certs(result, fmt):
        return unpinnable_reason(result, fmt)
    return None


class _UsageError(Exception):
    """A command line that cannot run (exit status 2); the message is ready to print."""


def _checked_targets(args: argparse.Namespace) -> list[_Target]:
    """The targets, once the options that apply to all of them are known to be usable."""
    try:
        targets = [_parse_target(t) for t in args.targets]
    except ProbeError as exc:
        raise _UsageError(_printable(str(exc))) from None
    if args.servername is not None:
        try:
            checked_servername(args.servername)
        except ProbeError as exc:
            raise _UsageError(str(exc)) from None
    if sum(t.kind == "stdin" for t in targets) > 1:
        raise _UsageError("'-' (stdin) may be given once")
    if args.cafile is not None:
        try:
            ssl.create_default_context(cafile=args.cafile)
        except (OSError, ssl.SSLError) as exc:
            raise _UsageError(f"--cafile {escape(args.cafile)}: {escape(str(exc))}") from None
    return targets


def _target_result(target: _Target, args: argparse.Namespace) -> dict[str, Any]:
    """Describe one target: a live server or a file."""
    if target.kind != "host":
        return _file_result(target)
    fetched = fetch_chain(
        target.host,
        target.port,
        server_name=args.servername,
        timeout=args.timeout,
        cafile=args.cafile,
    )
    return _live_result(target, fetched)


def _report_failure(target: _Target, message: str, fmt: str, results: list[dict[str, Any]],
                    extra: dict[str, Any] | None = None) -> None:
    """Print a failed target's error (escaped already); in JSON output, also record it among the
    results, with ``extra`` fields."""
    shown = escape(target.text)
    line = message if message.startswith(shown) else f"{shown}: {message}"
    print(f"certpin pins: error: {line}", file=sys.stderr)
    if fmt == "json":
        results.append({"target": escape(target.text), "error": message, **(extra or {}),
                        "certificates": []})


def _print_result(result: dict[str, Any], fmt: str, *, first: bool) -> None:
    """Print one target's result as text (blank line between targets), HPKP or curl."""
    if fmt == "text":
        if not first:
            print()
        print(text_block(result), flush=True)
    elif fmt == "hpkp":
        print(hpkp_line(result), flush=True)
    else:
        print(curl_line(result), flush=True)
