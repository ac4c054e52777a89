"""Reading a parsed policy file (TOML or JSON data) against the schema of :mod:`.files`.

Every error names the file, the line (found textually) and the key path. Nothing here is public
API.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import UTC, date, datetime, time
from typing import Any, Literal

from ..errors import ConfigError, PolicyError, escape, quote
from ..hostnames import normalize_pattern
from ..pinroles import ROLES, Role
from ..pins import Pin
from ..policy import PinPolicy, PinSet, is_report_uri
from ._common import MAX_INT_DIGITS, bounded_pin_set, mode, pin_or_error

Format = Literal["toml", "json"]

_TOP_KEYS = ("version", "unknown_hosts", "expired", "hosts")
_HOST_KEYS = (
    "pins", "backup_pins", "include_subdomains", "expires", "enforce", "report_uris",
    "allow_single_pin", "roles",
)
_MODES = ("allow", "reject")
_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")


def _key(name: str) -> str:
    return name if _BARE_KEY.fullmatch(name) else json.dumps(name)


class Locator:
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

    def entry_error(self, message: str, path: str, *, host: str, key: str,
                    entry: str) -> ConfigError:
        """An error in the entry ``entry`` of the table ``key`` of ``host``'s table: located at
        the line holding ``"entry" =`` (TOML) or ``"entry":`` (JSON) after the host's line, which
        finds it in an inline table and in a ``[hosts."h".key]`` sub-table alike; else as
        :meth:`error` locates ``key``."""
        sep = ":" if self.fmt == "json" else "="
        quoted = [json.dumps(entry), "'" + entry + "'"]
        if _BARE_KEY.fullmatch(entry):
            quoted.append(entry)
        pat = re.compile(rf"(?:^|[\s{{,]|\.)(?:{'|'.join(map(re.escape, quoted))})\s*{sep}")
        for i in range(self._host_line(host) or 1, len(self.lines) + 1):
            if pat.search(self.lines[i - 1]):
                return ConfigError(message, path=self.source, location=f"line {i} ({path})")
        return self.error(message, path, host=host, key=key)


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
                f"(2027-01-31T12:00:00Z), got {quote(value, None)}"
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
        raise err(f"date-time {quote(dt.isoformat(), None)} is out of range in UTC") from None


def policy_from_data(data: object, loc: Locator) -> PinPolicy:
    """The policy in parsed file data; every error located by ``loc``."""
    if not isinstance(data, dict):
        raise loc.error(f"expected a table/object at the top, got {_type_name(data)}", "(top)")
    for k in data:
        if k not in _TOP_KEYS:
            raise loc.error(
                f"unknown key {quote(str(k), None)}: expected one of {', '.join(_TOP_KEYS)}",
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
                f"expected \"allow\" or \"reject\", got {quote(value, None)}", name, key=name
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
                f"host pattern {quote(host, None)} duplicates {quote(seen[pattern], None)} "
                f"(both are {quote(pattern, None)})", hpath, host=host,
            )
        seen[pattern] = host
        sets[pattern] = _pin_set_from_data(host, table, hpath, loc)
    try:
        return PinPolicy(sets, unknown_hosts=mode(modes["unknown_hosts"]),
                         expired=mode(modes["expired"]))
    except PolicyError as exc:
        raise loc.error(str(exc), "(top)") from None


def _pin_set_from_data(host: str, table: object, hpath: str, loc: Locator) -> PinSet:
    if not isinstance(table, dict):
        raise loc.error(f"expected a table for the host, got {_type_name(table)}", hpath,
                        host=host)

    def err_at(key: str, sub: str = "") -> Callable[[str], ConfigError]:
        return lambda m: loc.error(m, f"{hpath}.{key}{sub}", host=host, key=key)

    for k in table:
        if k not in _HOST_KEYS:
            raise loc.error(
                f"unknown key {quote(str(k), None)}: expected one of {', '.join(_HOST_KEYS)}",
                f"{hpath}.{_key(str(k))}", host=host, key=str(k),
            )
    if "pins" not in table:
        raise loc.error("missing key 'pins' (a list of pins)", hpath, host=host)
    pin_lists = _host_pins(table, err_at)
    flags = _host_flags(table, err_at)
    uris = _host_report_uris(table, err_at)
    expires = _parse_expires(table.get("expires"), err_at("expires"))
    roles = _host_roles(table, [*pin_lists["pins"], *pin_lists["backup_pins"]], hpath,
                        lambda m, p, e: loc.entry_error(m, p, host=host, key="roles", entry=e),
                        err_at("roles"))
    try:
        return bounded_pin_set(
            pin_lists["pins"], backup_pins=pin_lists["backup_pins"],
            include_subdomains=flags["include_subdomains"], expires=expires,
            enforce=flags["enforce"], report_uris=uris,
            allow_single_pin=flags["allow_single_pin"], roles=roles,
        )
    except PolicyError as exc:
        raise loc.error(str(exc), hpath, host=host) from None


_ErrAt = Callable[..., Callable[[str], ConfigError]]


def _host_pins(table: dict[str, Any], err_at: _ErrAt) -> dict[str, list[Pin]]:
    """The ``pins`` (at least one) and ``backup_pins`` of a host table."""
    pin_lists: dict[str, list[Pin]] = {}
    for key in ("pins", "backup_pins"):
        raw = table.get(key, [])
        if not isinstance(raw, list):
            raise err_at(key)(f"expected an array of pin strings, got {_type_name(raw)}")
        pin_lists[key] = [pin_or_error(p, err_at(key, f"[{i}]")) for i, p in enumerate(raw)]
    if not pin_lists["pins"]:
        raise err_at("pins")("expected at least one pin")
    return pin_lists


def _host_roles(
    table: dict[str, Any], pins: list[Pin], hpath: str,
    entry_err: Callable[[str, str, str], ConfigError], table_err: Callable[[str], ConfigError],
) -> dict[Pin, Role]:
    """The ``roles`` of a host table: pin text -> ``"leaf"`` or ``"ca"``, each pin one of the
    host's ``pins`` or ``backup_pins`` (:mod:`certpin.pinroles`)."""
    raw = table.get("roles", {})
    if not isinstance(raw, dict):
        raise table_err(f'expected a table from pin to "leaf" or "ca", got {_type_name(raw)}')
    out: dict[Pin, Role] = {}
    for text, role in raw.items():
        path = f"{hpath}.roles.{_key(text)}"

        def err(message: str, path: str = path, text: str = text) -> ConfigError:
            return entry_err(message, path, text)

        pin = pin_or_error(text, err)
        if pin not in pins:
            raise err(f"{pin} is not one of this host's pins or backup_pins; a role applies "
                      "to a pin of the host")
        if pin in out:
            raise err(f"{pin} is given a role twice (in two notations)")
        if not isinstance(role, str) or role not in ROLES:
            raise err(f'expected "leaf" or "ca", got {quote(role, None)}')
        out[pin] = role
    return out


def _host_flags(table: dict[str, Any], err_at: _ErrAt) -> dict[str, bool]:
    """The boolean keys of a host table, with their defaults."""
    flags: dict[str, bool] = {}
    for key, default in (("include_subdomains", False), ("enforce", True),
                         ("allow_single_pin", False)):
        value = table.get(key, default)
        if not isinstance(value, bool):
            raise err_at(key)(f"expected true or false, got {_type_name(value)}")
        flags[key] = value
    return flags


def _host_report_uris(table: dict[str, Any], err_at: _ErrAt) -> list[str]:
    """The ``report_uris`` of a host table (http(s) URIs)."""
    uris = table.get("report_uris", [])
    if not isinstance(uris, list):
        raise err_at("report_uris")(f"expected an array of URIs, got {_type_name(uris)}")
    for i, uri in enumerate(uris):
        if not is_report_uri(uri):
            raise err_at("report_uris", f"[{i}]")(
                f"expected an http(s) URI, got {quote(uri, None)}"
            )
    return uris


def no_duplicate_keys(loc: Locator) -> Callable[[list[tuple[str, Any]]], dict[str, Any]]:
    """A json ``object_pairs_hook`` refusing a key given twice in one object."""
    def hook(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for k, v in pairs:
            if k in out:
                raise loc.error(f"duplicate key {quote(k, None)} in one JSON object", _key(k))
            out[k] = v
        return out

    return hook


def bounded_int(source: str | None) -> Callable[[str], int]:
    """A json ``parse_int`` refusing literals of more than MAX_INT_DIGITS digits."""
    def parse_int(literal: str) -> int:
        if len(literal.lstrip("-")) > MAX_INT_DIGITS:
            raise ConfigError(
                f"not valid JSON: an integer literal of {len(literal.lstrip('-'))} digits "
                f"(at most {MAX_INT_DIGITS})", path=source,
            )
        return int(literal)

    return parse_int
