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

Pins take any notation :func:`certpin.parse_pin` reads; they are written back canonically.
Unknown keys anywhere are errors. Every error is a :class:`certpin.ConfigError` naming the file,
the line and the key path, e.g. ``hosts."api.example.com".pins[1]``.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable
from datetime import UTC, date, datetime, time
from typing import Any, Literal

from ..errors import ConfigError, PolicyError, escape
from ..hostnames import normalize_pattern
from ..pins import Pin
from ..policy import PinPolicy, PinSet, is_report_uri
from ._common import (
    MAX_INT_DIGITS,
    as_text,
    atomic_write,
    bounded_pin_set,
    date_only,
    mode,
    pin_or_error,
    read_input,
    require,
)

__all__ = ["dump_policy", "dumps_policy", "load_policy", "loads_policy"]

Format = Literal["toml", "json"]

_TOP_KEYS = ("version", "unknown_hosts", "expired", "hosts")
_HOST_KEYS = (
    "pins", "backup_pins", "include_subdomains", "expires", "enforce", "report_uris",
    "allow_single_pin",
)
_MODES = ("allow", "reject")
_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")


def _fmt_for(path: str) -> Format:
    ext = os.path.splitext(path)[1].lower()
    if ext == ".toml":
        return "toml"
    if ext == ".json":
        return "json"
    raise ConfigError(
        f"unknown policy file type {escape(ext or '(none)')!r}: expected .toml or .json", path=path
    )


def _key(name: str) -> str:
    return name if _BARE_KEY.fullmatch(name) else json.dumps(name)


class _Locator:
    """Turns a key path into ``line N (path)`` by scanning the text for the host and key.

    The parsers do not keep positions of values, so the line is found textually: the host's
    table header (TOML) or key (JSON), then the first ``key =`` / ``"key":`` after it. When a
    line cannot be found (unusual layouts), the key path alone locates the error.
    """

    def __init__(self, text: str, fmt: Format, source: str | None):
        self.lines = text.splitlines()
        self.fmt = fmt
        self.source = source

    def _host_line(self, host: str) -> int | None:
        if self.fmt == "json":
            key = re.compile(re.escape(json.dumps(host)) + r"\s*:")
            for i, line in enumerate(self.lines, 1):
                if key.search(line):
                    return i
            return None
        variants = {re.escape(json.dumps(host)), re.escape("'" + host + "'")}
        if _BARE_KEY.fullmatch(host):
            variants.add(re.escape(host))
        alt = "|".join(sorted(variants))
        header = re.compile(rf"^\s*\[\s*hosts\s*\.\s*(?:{alt})\s*\]")
        inline = re.compile(rf"^\s*(?:hosts\s*\.\s*)?(?:{alt})\s*[.=]")
        for i, line in enumerate(self.lines, 1):
            if header.match(line):
                return i
        for i, line in enumerate(self.lines, 1):
            if inline.match(line):
                return i
        return None

    def _key_line(self, start: int | None, key: str) -> int | None:
        if self.fmt == "json":
            pat = re.compile(re.escape(json.dumps(key)) + r"\s*:")
            for i in range(start or 1, len(self.lines) + 1):
                if pat.search(self.lines[i - 1]):
                    return i
            return None
        pat = re.compile(rf"^\s*(?:{re.escape(key)}|\"{re.escape(key)}\")\s*=")
        begin = start or 1
        for i in range(begin, len(self.lines) + 1):
            line = self.lines[i - 1]
            if i > begin and line.lstrip().startswith("["):
                break
            if pat.match(line):
                return i
            if start is not None and i == start and re.search(rf"\b{re.escape(key)}\s*=", line):
                return i
        return None

    def error(self, message: str, path: str, *, host: str | None = None,
              key: str | None = None) -> ConfigError:
        line: int | None = None
        if host is not None:
            hl = self._host_line(host)
            line = self._key_line(hl, key) if key else hl
            line = line or hl
        elif key is not None:
            line = self._key_line(None, key)
        location = f"line {line} ({path})" if line else path
        return ConfigError(message, path=self.source, location=location)


def _type_name(value: object) -> str:
    return {
        str: "a string", bool: "a boolean", int: "an integer", float: "a number",
        list: "an array", dict: "a table", type(None): "null",
    }.get(type(value), type(value).__name__)


def _parse_expires(value: object, err: Callable[[str], ConfigError]) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        dt = value
    elif isinstance(value, date):
        return datetime.combine(value, time(0), UTC)
    elif isinstance(value, str):
        text = value.strip()
        try:
            if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
                return datetime.combine(date.fromisoformat(text), time(0), UTC)
            dt = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
        except ValueError:
            raise err(
                f"expected an ISO date (2027-01-31) or date-time with offset "
                f"(2027-01-31T12:00:00Z), got {escape(value)!r}"
            ) from None
    else:
        raise err(f"expected a date or date-time, got {_type_name(value)}")
    if dt.tzinfo is None or dt.utcoffset() is None:
        raise err(
            "a date-time needs a UTC offset (e.g. 2027-01-31T12:00:00Z); "
            "local times are ambiguous"
        )
    try:
        return dt.astimezone(UTC)
    except OverflowError:
        # e.g. 0001-01-01T00:00:00+01:00 lies before datetime.min once converted to UTC.
        raise err(f"date-time {escape(dt.isoformat())!r} is out of range in UTC") from None


def _policy_from_data(data: object, loc: _Locator) -> PinPolicy:
    if not isinstance(data, dict):
        raise loc.error(f"expected a table/object at the top, got {_type_name(data)}", "(top)")
    for k in data:
        if k not in _TOP_KEYS:
            raise loc.error(
                f"unknown key {escape(str(k))!r}: expected one of {', '.join(_TOP_KEYS)}",
                _key(str(k)), key=str(k),
            )
    version = data.get("version", 1)
    if type(version) is not int or version != 1:
        shown = repr(version) if len(repr(version)) <= 40 else repr(version)[:40] + "..."
        raise loc.error(f"unsupported version {escape(shown)}: expected 1", "version",
                        key="version")
    modes: dict[str, str] = {}
    for name in ("unknown_hosts", "expired"):
        value = data.get(name, "allow")
        if value not in _MODES:
            raise loc.error(
                f"expected \"allow\" or \"reject\", got {escape(repr(value))}", name, key=name
            )
        modes[name] = value
    hosts = data.get("hosts", {})
    if not isinstance(hosts, dict):
        raise loc.error(f"expected a table of host patterns, got {_type_name(hosts)}", "hosts",
                        key="hosts")
    sets: dict[str, PinSet] = {}
    seen: dict[str, str] = {}
    for host, table in hosts.items():
        hpath = f"hosts.{_key(host)}"
        try:
            pattern = normalize_pattern(host)
        except PolicyError as exc:
            raise loc.error(f"bad host pattern: {exc}", hpath, host=host) from None
        if pattern in seen:
            raise loc.error(
                f"host pattern {escape(host)!r} duplicates {escape(seen[pattern])!r} "
                f"(both are {escape(pattern)!r})", hpath, host=host,
            )
        seen[pattern] = host
        sets[pattern] = _pin_set_from_data(host, table, hpath, loc)
    try:
        return PinPolicy(sets, unknown_hosts=mode(modes["unknown_hosts"]),
                         expired=mode(modes["expired"]))
    except PolicyError as exc:
        raise loc.error(str(exc), "(top)") from None


def _pin_set_from_data(host: str, table: object, hpath: str, loc: _Locator) -> PinSet:
    if not isinstance(table, dict):
        raise loc.error(f"expected a table for the host, got {_type_name(table)}", hpath,
                        host=host)

    def err_at(key: str, sub: str = "") -> Callable[[str], ConfigError]:
        return lambda m: loc.error(m, f"{hpath}.{key}{sub}", host=host, key=key)

    for k in table:
        if k not in _HOST_KEYS:
            raise loc.error(
                f"unknown key {escape(str(k))!r}: expected one of {', '.join(_HOST_KEYS)}",
                f"{hpath}.{_key(str(k))}", host=host, key=str(k),
            )
    if "pins" not in table:
        raise loc.error("missing key 'pins' (a list of pins)", hpath, host=host)
    pin_lists: dict[str, list[Pin]] = {}
    for key in ("pins", "backup_pins"):
        raw = table.get(key, [])
        if not isinstance(raw, list):
            raise err_at(key)(f"expected an array of pin strings, got {_type_name(raw)}")
        pin_lists[key] = [pin_or_error(p, err_at(key, f"[{i}]")) for i, p in enumerate(raw)]
    if not pin_lists["pins"]:
        raise err_at("pins")("expected at least one pin")
    flags: dict[str, bool] = {}
    for key, default in (("include_subdomains", False), ("enforce", True),
                         ("allow_single_pin", False)):
        value = table.get(key, default)
        if not isinstance(value, bool):
            raise err_at(key)(f"expected true or false, got {_type_name(value)}")
        flags[key] = value
    uris = table.get("report_uris", [])
    if not isinstance(uris, list):
        raise err_at("report_uris")(f"expected an array of URIs, got {_type_name(uris)}")
    for i, uri in enumerate(uris):
        if not is_report_uri(uri):
            raise err_at("report_uris", f"[{i}]")(
                f"expected an http(s) URI, got {escape(repr(uri))}"
            )
    expires = _parse_expires(table.get("expires"), err_at("expires"))
    try:
        return bounded_pin_set(
            pin_lists["pins"], backup_pins=pin_lists["backup_pins"],
            include_subdomains=flags["include_subdomains"], expires=expires,
            enforce=flags["enforce"], report_uris=uris,
            allow_single_pin=flags["allow_single_pin"],
        )
    except PolicyError as exc:
        raise loc.error(str(exc), hpath, host=host) from None


def _no_duplicate_keys(loc: _Locator) -> Callable[[list[tuple[str, Any]]], dict[str, Any]]:
    def hook(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for k, v in pairs:
            if k in out:
                raise loc.error(f"duplicate key {escape(k)!r} in one JSON object", _key(k))
            out[k] = v
        return out

    return hook


def _bounded_int(source: str | None) -> Callable[[str], int]:
    def parse_int(literal: str) -> int:
        if len(literal.lstrip("-")) > MAX_INT_DIGITS:
            raise ConfigError(
                f"not valid JSON: an integer literal of {len(literal.lstrip('-'))} digits "
                f"(at most {MAX_INT_DIGITS})", path=source,
            )
        return int(literal)

    return parse_int


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
        raise ConfigError(f"unknown policy format {escape(str(format))!r}: expected toml or json",
                          path=source)
    doc = as_text(text, source)
    loc = _Locator(doc, format, source)
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
            data = json.loads(doc, object_pairs_hook=_no_duplicate_keys(loc),
                              parse_int=_bounded_int(source))
        except json.JSONDecodeError as exc:
            raise ConfigError(
                f"not valid JSON: {escape(exc.msg)}", path=source,
                location=f"line {exc.lineno}, column {exc.colno}",
            ) from None
        except RecursionError:
            raise ConfigError("not valid JSON: nested too deeply", path=source) from None
    return _policy_from_data(data, loc)


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
    raise ConfigError(f"unknown policy format {escape(str(format))!r}: expected toml or json")


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

