"""Finding the ``.add(pattern, pin, ...)`` calls of OkHttp code, or ``host pin ...`` lines.

This reads text only: what OkHttp makes of each pattern and pin is :mod:`._okhttp_rules`.
Nothing here is public API.
"""

from __future__ import annotations

import bisect
import json
import re

from ..errors import ConfigError, quote

__all__ = ["ADD", "calls", "lines"]

ADD = re.compile(r"\.add\s*\(")
_STRING = re.compile(r'\s*"((?:[^"\\\n]|\\.)*)"\s*')


class _LineIndex:
    """Line numbers of positions in ``text`` by binary search (one count per file, not per call:
    counting newlines before every ``.add`` made a 1 MiB file quadratic)."""

    def __init__(self, text: str):
        self.newlines = [m.start() for m in re.finditer("\n", text)]

    def __call__(self, pos: int) -> int:
        return bisect.bisect_left(self.newlines, pos) + 1  # newlines before pos, plus one


def _unquote(lit: str) -> str:
    try:
        return str(json.loads('"' + lit + '"'))
    except ValueError:
        return lit


def calls(text: str, source: str | None) -> list[tuple[str, list[str], int]]:
    """Every ``.add("pattern", "pin", ...)`` call: (pattern, pins, line), string literals only.

    Raises:
        ConfigError: an argument that is not a string literal, or a call without a pin.
    """
    out: list[tuple[str, list[str], int]] = []
    _line_of = _LineIndex(text)
    for m in ADD.finditer(text):
        pos = m.end()
        args: list[str] = []
        line = _line_of(m.start())
        while True:
            sm = _STRING.match(text, pos)
            if sm is None:
                raise ConfigError(
                    "expected a string literal argument in .add(...): only literal hosts and "
                    "pins can be imported", path=source, location=f"line {_line_of(pos)}",
                )
            args.append(_unquote(sm.group(1)))
            pos = sm.end()
            if text.startswith(",", pos):
                pos += 1
                ws = re.compile(r"\s*").match(text, pos)
                pos = ws.end() if ws else pos
                if text.startswith(")", pos):
                    break
                continue
            if text.startswith(")", pos):
                break
            raise ConfigError("expected ',' or ')' in .add(...)", path=source,
                              location=f"line {_line_of(pos)}")
        if len(args) < 2:
            raise ConfigError(".add(pattern, pin, ...) needs a pattern and at least one pin",
                              path=source, location=f"line {line}")
        out.append((args[0], args[1:], line))
    return out


def lines(text: str, host: str | None, source: str | None) -> list[tuple[str, list[str], int]]:
    """Every ``pattern pin [pin ...]`` line (``#`` comments); a line of pins alone is ``host``'s.

    Raises:
        ConfigError: a line of pins without ``host``, or a pattern without a pin.
    """
    out: list[tuple[str, list[str], int]] = []
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line or line.startswith("//"):
            continue
        parts = [p for p in re.split(r"[\s,]+", line) if p]
        if not parts:
            continue
        if parts[0].lower().startswith(("sha256/", "sha1/", "cert-sha256/")):
            if host is None:
                raise ConfigError("a pin without a host: give the host (--host) or write "
                                  "'host sha256/...'", path=source, location=f"line {n}")
            out.append((host, parts, n))
        else:
            if len(parts) < 2:
                raise ConfigError(f"expected 'host sha256/<base64> ...', got "
                                  f"{quote(line[:60], None)}", path=source, location=f"line {n}")
            out.append((parts[0], parts[1:], n))
    return out
