"""certpin policy files: TOML and JSON, one schema.

Schema (TOML shown; JSON has the same keys, dates as strings)::

    version = 1                 # optional; 1 is the only version
    unknown_hosts = "allow"     # "allow" (default) or "reject": hosts matching no pattern
    expired = "allow"           # "allow" (default): an expired pin set is not enforced
                                # (Android rule); "reject": fail closed instead

    [hosts."api.example.com"]   # one table per host pattern: "host", "*.host" (one label)
    pins = ["sha256/<base64>", "sha256/<base64>"]   # required, non-empty
    backup_pins = ["sha256/<base64>"]   # keys not yet deployed; accepted like pins (default [])
    include_subdomains = false  # the pattern also covers every subdomain, any depth
    expires = 2027-01-01        # TOML date or offset datetime, or ISO string; a date means
                                # 00:00 UTC; naive datetimes are refused (default: never)
    enforce = true              # false = report-only (default true)
    report_uris = ["https://reports.example.com/pins"]   # default []
    allow_single_pin = false    # permit fewer than two pins (RFC 7469 section 4.3; default false)
    roles = { "sha256/<base64>" = "leaf" }   # where a pin may match (default {}): "leaf" =
                                # the end-entity certificate only, "ca" = an intermediate or
                                # the root; a pin without a role matches anywhere in the chain

Pins take any notation :func:`certpin.parse_pin` reads; they are written back canonically.
Unknown keys anywhere are errors. Every error is a :class:`certpin.ConfigError` naming the file,
the line and the key path, e.g. ``hosts."api.example.com".pins[1]``.
"""

from __future__ import annotations

import json
import os
import re
from datetime import UTC, date, datetime
from typing import Any

from ..errors import ConfigError, escape, quote
from ..policy import PinPolicy
from ._common import as_text, atomic_write, date_only, read_input, require
from ._schema import Format, Locator, bounded_int, no_duplicate_keys, policy_from_data

__all__ = ["dump_policy", "dumps_policy", "load_policy", "loads_policy"]


def _fmt_for(path: str) -> Format:
    ext = os.path.splitext(path)[1].lower()
    if ext == ".toml":
        return "toml"
    if ext == ".json":
        return "json"
    raise ConfigError(
        f"unknown policy file type {quote(ext or '(none)', None)}: expected .toml or .json",
        path=path,
    )


def loads_policy(text: str | bytes, format: Format, *, source: str | None = None) -> PinPolicy:
    """Parse a policy from TOML or JSON text.

    Args:
        text: the document (str, or UTF-8 bytes; at most 1 MiB).
        format: ``"toml"`` or ``"json"``.
        source: a file name to put in error messages, or None.

    Returns:
        The :class:`certpin.PinPolicy`.

    Raises:
        ConfigError: syntax error (with line), unknown key, wrong type, bad date, bad pin, or a
            policy rule broken (e.g. one pin without ``allow_single_pin``); the message names
            the source, the line and key path, and what was expected. Also for hostile input:
            over 1 MiB, nested too deeply, an integer literal longer than
            :data:`certpin.config.MAX_INT_DIGITS` digits (JSON) or Python's 4,300-digit
            limit (TOML), a ``str`` holding a lone surrogate.
    """
    if format not in ("toml", "json"):
        raise ConfigError(f"unknown policy format {quote(str(format), None)}: expected toml or "
                          "json", path=source)
    doc = as_text(text, source)
    loc = Locator(doc, format, source)
    if format == "toml":
        import tomllib

        try:
            data: object = tomllib.loads(doc)
        except tomllib.TOMLDecodeError as exc:
            # Python 3.14 sets .lineno and .msg; earlier versions only format them into str().
            lineno = getattr(exc, "lineno", None)
            msg = re.sub(r"\s*\(at [^)]*\)$", "", str(exc))
            if lineno is None:
                m = re.search(r"\(at line (\d+), column \d+\)", str(exc))
                if m:
                    lineno = int(m.group(1))
                elif "end of document" in str(exc):
                    lineno = max(1, len(doc.splitlines()))
            raise ConfigError(
                f"not valid TOML: {escape(msg)}", path=source,
                location=f"line {lineno}" if lineno else None,
            ) from None
        except RecursionError:
            # tomllib recurses once per nested array or inline table.
            raise ConfigError("not valid TOML: nested too deeply", path=source) from None
        except ValueError as exc:
            # tomllib converts integer literals with int(): one over Python's 4,300-digit limit
            # raises a bare ValueError (not a TOMLDecodeError), whatever key holds it.
            raise ConfigError(
                f"not valid TOML: an integer literal is too long ({escape(str(exc)[:80])})",
                path=source,
            ) from None
    else:
        try:
            data = json.loads(doc, object_pairs_hook=no_duplicate_keys(loc),
                              parse_int=bounded_int(source))
        except json.JSONDecodeError as exc:
            raise ConfigError(
                f"not valid JSON: {escape(exc.msg)}", path=source,
                location=f"line {exc.lineno}, column {exc.colno}",
            ) from None
        except RecursionError:
            raise ConfigError("not valid JSON: nested too deeply", path=source) from None
    return policy_from_data(data, loc)


def load_policy(path: str | os.PathLike[str]) -> PinPolicy:
    """Load a policy file; the format comes from the extension (``.toml`` or ``.json``).

    Args:
        path: the file (at most 1 MiB).

    Returns:
        The :class:`certpin.PinPolicy`.

    Raises:
        ConfigError: a directory, unknown extension, unreadable file, or anything
            :func:`loads_policy` raises; the message names the file.
    """
    name = os.fspath(path)
    if not isinstance(name, str):
        raise ConfigError(f"a policy file name is text, got {type(name).__name__}")
    if os.path.isdir(name):
        raise ConfigError("is a directory: expected a policy file (.toml or .json)", path=name)
    fmt = _fmt_for(name)
    return loads_policy(read_input(name), fmt, source=name)


def _expires_value(expires: datetime, fmt: Format) -> object:
    day = date_only(expires)
    if fmt == "toml":
        return date.fromisoformat(day) if day else expires.astimezone(UTC)
    return day or expires.astimezone(UTC).isoformat().replace("+00:00", "Z")


def policy_to_data(policy: PinPolicy, fmt: Format) -> dict[str, Any]:
    """The policy as plain data following the schema (what :func:`dumps_policy` writes)."""
    hosts: dict[str, Any] = {}
    for pattern, ps in sorted(policy.pin_sets.items()):
        table: dict[str, Any] = {"pins": [str(p) for p in ps.pins]}
        if ps.backup_pins:
            table["backup_pins"] = [str(p) for p in ps.backup_pins]
        table["include_subdomains"] = ps.include_subdomains
        if ps.expires is not None:
            table["expires"] = _expires_value(ps.expires, fmt)
        table["enforce"] = ps.enforce
        if ps.report_uris:
            table["report_uris"] = list(ps.report_uris)
        if ps.allow_single_pin:
            table["allow_single_pin"] = True
        if ps.roles:
            table["roles"] = dict(sorted((str(p), r) for p, r in ps.roles.items()))
        hosts[pattern] = table
    return {
        "version": 1,
        "unknown_hosts": policy.unknown_hosts,
        "expired": policy.expired,
        "hosts": hosts,
    }


def dumps_policy(policy: PinPolicy, format: Format) -> str:
    """Serialise a policy to TOML or JSON text that :func:`loads_policy` reads back equal.

    Args:
        policy: the policy.
        format: ``"toml"`` or ``"json"``.

    Returns:
        The document, ending with a newline. Pins are canonical; an expiry at 00:00 UTC is
        written as a date, any other as an RFC 3339 date-time in UTC.

    Raises:
        ConfigError: unknown format, or tomli-w missing for TOML.
    """
    if format == "toml":
        tomli_w = require("tomli_w")
        return str(tomli_w.dumps(policy_to_data(policy, "toml")))
    if format == "json":
        return json.dumps(policy_to_data(policy, "json"), indent=2, ensure_ascii=False) + "\n"
    raise ConfigError(f"unknown policy format {quote(str(format), None)}: expected toml or json")


def dump_policy(policy: PinPolicy, path: str | os.PathLike[str], *,
                overwrite: bool = True) -> None:
    """Write a policy file atomically; the format comes from the extension.

    The file is written to a temporary file in the same folder, fsync-ed and moved over
    ``path`` (:func:`os.replace`); an existing file keeps its mode, a new one gets
    ``0666 & ~umask``. On failure the old file is intact and no temporary file remains.

    Args:
        policy: the policy.
        path: the file; ``.toml`` or ``.json``.
        overwrite: False to refuse an existing file (atomically: no check-then-write race).

    Raises:
        ConfigError: unknown extension, or the file exists and ``overwrite`` is False.
        OSError: the write or the replace failed.
    """
    name = os.fspath(path)
    data = dumps_policy(policy, _fmt_for(name)).encode("utf-8")
    try:
        atomic_write(name, data, overwrite=overwrite)
    except FileExistsError:
        raise ConfigError("exists; refusing to replace it (use --force)", path=name) from None

