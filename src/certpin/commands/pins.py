"""``certpin pins TARGET...``: print the pins of every certificate of live servers and files.

A TARGET is ``host``, ``host:port``, ``[v6]:port`` (or a bare IPv6 address), an ``https://`` URL,
a file (PEM, DER or PKCS#7 certificates, a public or private key, a CSR), or ``-`` for stdin. An
existing path is always a file; text with a slash or a certificate/key file extension that does not
exist is reported as a missing file rather than looked up as a host.

For a live target the certificates shown are the chain Python's ssl *verified* (what pinning
matches at run time), followed by certificates the server sent that are not part of it, marked
"served only". If the chain does not validate, the served chain is shown, marked not verified, and
a warning goes to stderr: pins taken from an unvalidated chain may be an attacker's.

Formats: ``text`` (a block per certificate), ``json`` (a list of targets), ``hpkp`` (one line per
target: ``pin-sha256="..."; ...`` for the chain pinning sees, RFC 7469 section 2.1), ``curl`` (one
line per target for ``curl --pinnedpubkey``: the leaf's ``sha256//<b64>`` for a live target, since
curl checks the leaf key only; every certificate or key of a file, joined with ``;``).

Exit status: 0 every target succeeded, 1 at least one failed (the others are still printed),
2 usage errors (bad option, malformed target, unreadable ``--cafile``).
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

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa, x448, x25519

from ..errors import CertificateError, CertpinError, ProbeError, escape
from ..pins import (
    CRYPTOGRAPHY_ERRORS,
    cert_pin,
    load_certificates,
    load_key_source,
    quiet_cryptography,
    spki_pin,
)
from ..probe import FetchedChain, check_name, fetch_chain, parse_host_port
from ._args import seconds

__all__ = [
    "HELP", "add_arguments", "describe_certificate", "describe_data", "describe_key", "run",
]

HELP = "print the SPKI and certificate pins of live servers and certificate/key files"

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
    parser.add_argument(
        "--servername",
        metavar="NAME",
        help="SNI name to send and check the certificate against (default: the target's host)",
    )
    parser.add_argument(
        "--timeout",
        type=seconds,
        default=10.0,
        metavar="SECONDS",
        help="connect and handshake timeout in seconds (default: 10)",
    )
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


def _name(name: x509.Name) -> str:
    try:
        return escape(name.rfc4514_string())
    except ValueError:  # pragma: no cover - attributes cryptography cannot render
        return escape(repr(name))


_KEY_ERRORS: tuple[type[Exception], ...] = (CertificateError, *CRYPTOGRAPHY_ERRORS)


def _field(what: str, read: Any, of: str = "certificate") -> Any:
    """Read one lazily parsed field of an untrusted certificate or CSR, or raise CertificateError.

    cryptography parses subjects, extensions and keys on first access and raises several types
    for bytes it cannot decode (see :data:`certpin.pins.CRYPTOGRAPHY_ERRORS`); here each becomes
    a CertificateError naming the field, so the target fails with one line instead of a traceback.
    """
    try:
        with quiet_cryptography():
            return read()
    except CRYPTOGRAPHY_ERRORS as exc:
        raise CertificateError(
            f"cannot describe the {of}: its {what} cannot be decoded "
            f"({escape(str(exc) or type(exc).__name__)})"
        ) from None


def describe_key(key: object) -> tuple[str, int | None]:
    """Return ``(key_type, key_bits)`` of a public key, e.g. ``("EC P-256", 256)``."""
    if isinstance(key, rsa.RSAPublicKey):
        return "RSA", key.key_size
    if isinstance(key, ec.EllipticCurvePublicKey):
        curves = {"secp256r1": "P-256", "secp384r1": "P-384", "secp521r1": "P-521"}
        return f"EC {curves.get(key.curve.name, key.curve.name)}", key.curve.key_size
    if isinstance(key, ed25519.Ed25519PublicKey):
        return "Ed25519", 256
    if isinstance(key, ed448.Ed448PublicKey):
        return "Ed448", 456
    if isinstance(key, dsa.DSAPublicKey):
        return "DSA", key.key_size
    if isinstance(key, x25519.X25519PublicKey):
        return "X25519", 256
    if isinstance(key, x448.X448PublicKey):
        return "X448", 448
    return type(key).__name__, None


def _position_in_file(cert: x509.Certificate) -> str:
    """``leaf``, ``intermediate`` or ``root``.

    Raises:
        CertificateError: the extensions, subject or issuer cannot be decoded.
    """
    extensions = _field("extensions", lambda: cert.extensions)
    try:
        is_ca = extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    except x509.ExtensionNotFound:
        is_ca = False
    if is_ca:
        same = _field("subject", lambda: cert.subject) == _field("issuer", lambda: cert.issuer)
        return "root" if same else "intermediate"
    return "leaf"


def describe_certificate(cert: x509.Certificate, position: str) -> dict[str, Any]:
    """Describe one certificate as the JSON object ``certpin pins`` prints.

    Args:
        cert: the certificate.
        position: ``"leaf"``, ``"intermediate"`` or ``"root"``.

    Returns:
        A dict with ``position``, ``subject``, ``issuer`` (RFC 4514, control characters escaped),
        ``serial`` (hex), ``not_before``/``not_after`` (ISO 8601, UTC), ``key_type``, ``key_bits``
        (``None`` if unknown), ``spki_pin`` (``None`` when cryptography cannot decode the key
        algorithm, with ``spki_error`` saying so), ``cert_pin`` and ``sha256_fingerprint`` (hex).

    Raises:
        CertificateError: a field cryptography parses lazily (subject, issuer, serial, validity)
            cannot be decoded; the message names the field.
    """
    info: dict[str, Any] = {
        "position": position,
        "subject": _name(_field("subject", lambda: cert.subject)),
        "issuer": _name(_field("issuer", lambda: cert.issuer)),
        "serial": format(_field("serial number", lambda: cert.serial_number), "x"),
        "not_before": _field("validity", lambda: cert.not_valid_before_utc).isoformat().replace(
            "+00:00", "Z"),
        "not_after": _field("validity", lambda: cert.not_valid_after_utc).isoformat().replace(
            "+00:00", "Z"),
    }
    try:
        key_type, key_bits = describe_key(cert.public_key())
        pin: str | None = str(spki_pin(cert))
        spki_error = None
    except _KEY_ERRORS as exc:  # cryptography raises several types for odd keys
        try:
            oid = cert.public_key_algorithm_oid.dotted_string
        except CRYPTOGRAPHY_ERRORS:
            oid = "unknown"
        key_type, key_bits, pin = f"unsupported ({oid})", None, None
        spki_error = escape(f"cryptography cannot decode this key algorithm: {exc}")
    info.update(key_type=key_type, key_bits=key_bits, spki_pin=pin)
    if spki_error:
        info["spki_error"] = spki_error
    cpin = cert_pin(cert)
    info.update(cert_pin=str(cpin), sha256_fingerprint=cpin.hex)
    return info


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
                info = describe_certificate(cert, _position_in_file(cert))
                info.update(in_verified_chain=False, served=True)
                certs.append(info)
    else:
        for i, cert in enumerate(fetched.served):
            position = "leaf" if i == 0 else _position_in_file(cert)
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


def describe_data(data: bytes, where: str) -> list[dict[str, Any]]:
    """Describe every certificate, or the one CSR or key, in the bytes of a file.

    Args:
        data: PEM, DER or PKCS#7 certificates, or a public key, private key or CSR.
        where: the file name for messages (escaped already).

    Returns:
        One dict per certificate (as :func:`describe_certificate`) or one for the key or CSR.

    Raises:
        CertificateError: the bytes hold nothing certpin can read, or a certificate, CSR or key
            that cannot be described or pinned; the message starts with ``where``.
    """
    certs: list[dict[str, Any]] = []
    try:
        loaded = load_certificates(data)
    except CertificateError:
        try:
            source = load_key_source(data)
        except CertificateError as exc:
            raise CertificateError(f"{where}: {exc}") from None
        if isinstance(source, x509.Certificate):  # pragma: no cover - handled above
            certs.append(describe_certificate(source, _position_in_file(source)))
        else:
            is_csr = isinstance(source, x509.CertificateSigningRequest)
            try:
                of = "CSR" if is_csr else "key file"
                key = _field("key", lambda: source.public_key() if hasattr(source, "public_key")
                             else source, of)
                key_type, key_bits = describe_key(key)
                pin = str(spki_pin(source))
                subject = (
                    _name(_field("subject", lambda: source.subject, of))  # type: ignore[union-attr]
                    if is_csr else None
                )
            except CertificateError as exc:
                raise CertificateError(f"{where}: {exc}") from None
            info: dict[str, Any] = {
                "position": "csr" if is_csr else "key",
                "subject": subject,
                "issuer": None,
                "not_after": None,
                "key_type": key_type,
                "key_bits": key_bits,
                "spki_pin": pin,
                "cert_pin": None,
            }
            certs.append(info)
    else:
        for number, cert in enumerate(loaded, 1):
            try:
                certs.append(describe_certificate(cert, _position_in_file(cert)))
            except CertificateError as exc:
                which = f"certificate {number}: " if len(loaded) > 1 else ""
                raise CertificateError(f"{where}: {which}{exc}") from None
    return certs


def _text_block(result: dict[str, Any]) -> str:
    lines: list[str] = []
    if "host" in result:
        where = f"[{result['host']}]" if ":" in result["host"] else result["host"]
        sni = result["server_name"] or "(none: IP address)"
        address = f"{where}:{result['port']}"
        head = result["target"] if result["target"] == address else (
            f"{result['target']}  ->  {address}"
        )
        lines.append(f"{head}  server name {sni}  {result['tls_version'] or ''}".rstrip())
        if result["verified"]:
            lines.append("  chain verified against the trust store; pinning sees the chain below")
        else:
            lines.append(
                f"  NOT VERIFIED ({result['verify_error']}): the certificates the server sent, "
                "which nothing vouches for"
            )
    else:
        lines.append(f"{result['target']}  (file {result['file']})")
    for i, c in enumerate(result["certificates"]):
        mark = ""
        if result.get("verified") and not c.get("in_verified_chain", True):
            mark = "  (served only: not in the verified chain, pinning never sees it)"
        elif c.get("in_verified_chain") and not c.get("served", True):
            mark = "  (from the trust store, not sent by the server)"
        lines.append(f"  [{i}] {c['position']}{mark}")
        if c.get("subject") is not None:
            lines.append(f"      subject    {c['subject']}")
        if c.get("issuer") is not None:
            lines.append(f"      issuer     {c['issuer']}")
        if c.get("not_after") is not None:
            lines.append(f"      not after  {c['not_after']}")
        bits = f" ({c['key_bits']} bits)" if c.get("key_bits") else ""
        lines.append(f"      key        {c['key_type']}{bits}")
        lines.append(f"      spki pin   {c['spki_pin'] or '(none: ' + c['spki_error'] + ')'}")
        if c.get("cert_pin") is not None:
            lines.append(f"      cert pin   {c['cert_pin']}")
    return "\n".join(lines)


def _pinned_certs(result: dict[str, Any]) -> list[dict[str, Any]]:
    """The certificates pinning can see: drop served-only ones of a verified live chain."""
    certs = result["certificates"]
    if result.get("verified"):
        certs = [c for c in certs if c.get("in_verified_chain")]
    return [c for c in certs if c.get("spki_pin")]


def _hpkp_line(result: dict[str, Any]) -> str:
    pins = [c["spki_pin"].split("/", 1)[1] for c in _pinned_certs(result)]
    return "; ".join(f'pin-sha256="{b64}"' for b64 in pins)


def _curl_line(result: dict[str, Any]) -> str:
    certs = _pinned_certs(result)
    if "host" in result:
        certs = [c for c in certs if c["position"] == "leaf"][:1]
    return ";".join("sha256//" + c["spki_pin"].split("/", 1)[1] for c in certs)


def _printable(message: str) -> str:
    """Messages of certpin errors already hold escaped parts; escape only if still needed."""
    return message if message.isprintable() else escape(message)


def run(args: argparse.Namespace) -> int:
    """Print the pins of every target; return 0, or 1 if any target failed (2: usage error)."""
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
            _report_failure(target, exc, args.format, results)
            continue
        if args.format == "json":
            results.append(result)
        else:
            _print_result(result, args.format, first=first)
        first = False
    if args.format == "json":
        print(json.dumps(results, indent=2, ensure_ascii=False))
    return status


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
            check_name(args.servername, "--servername")
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
    """Describe one target: a live server (warning when its chain did not validate) or a file."""
    if target.kind != "host":
        return _file_result(target)
    fetched = fetch_chain(
        target.host,
        target.port,
        server_name=args.servername,
        timeout=args.timeout,
        cafile=args.cafile,
    )
    result = _live_result(target, fetched)
    if not result["verified"]:
        print(
            f"certpin pins: warning: {result['target']}: the chain did not validate "
            f"({result['verify_error']}); showing the served certificates",
            file=sys.stderr,
        )
    return result


def _report_failure(target: _Target, exc: CertpinError, fmt: str,
                    results: list[dict[str, Any]]) -> None:
    """Print a failed target's error; in JSON output, also record it among the results."""
    message = _printable(str(exc))
    shown = escape(target.text)
    line = message if message.startswith(shown) else f"{shown}: {message}"
    print(f"certpin pins: error: {line}", file=sys.stderr)
    if fmt == "json":
        results.append({"target": escape(target.text), "error": message, "certificates": []})


def _print_result(result: dict[str, Any], fmt: str, *, first: bool) -> None:
    """Print one target's result as text (blank line between targets), HPKP or curl."""
    if fmt == "text":
        if not first:
            print()
        print(_text_block(result), flush=True)
    elif fmt == "hpkp":
        print(_hpkp_line(result), flush=True)
    else:
        print(_curl_line(result), flush=True)
