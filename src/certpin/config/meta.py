"""Per-policy metadata for ``certpin plan``: when a shipped policy reached users, until when it is
supported.

Kept in a sidecar file beside the policy, not in the policy itself: a policy file is what shipped
inside the app, and the loader of every shipped version refuses unknown keys, so a new table in
the policy would break the very clients it describes. For ``v12.toml`` (or ``v12.json``) the
sidecar is ``v12.meta.toml``::

    shipped = 2026-01-01           # optional: when the version carrying v12 shipped
    supported_until = 2027-01-01   # optional: after this instant v12 is listed, not counted

Dates mean 00:00 UTC; date-times need an offset. Unknown keys are errors.
"""

from __future__ import annotations

import os
import tomllib
from datetime import datetime

from ..errors import ConfigError, PolicyError, escape, quote
from ..instants import parse_expires
from ._common import read_input

__all__ = ["load_policy_meta", "meta_path"]

_KEYS = ("shipped", "supported_until")


def meta_path(policy_path: str | os.PathLike[str]) -> str:
    """The sidecar of a policy file: ``v12.toml`` -> ``v12.meta.toml``."""
    return os.path.splitext(os.fspath(policy_path))[0] + ".meta.toml"


def load_policy_meta(
    policy_path: str | os.PathLike[str],
) -> tuple[datetime | None, datetime | None]:
    """``(shipped, supported_until)`` from the sidecar of ``policy_path``; ``(None, None)``
    when there is no sidecar.

    Raises:
        ConfigError: the sidecar is not valid TOML, has an unknown key or a bad date.
    """
    path = meta_path(policy_path)
    if not os.path.exists(path):
        return None, None
    text = read_input(path).decode("utf-8", errors="replace")
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"not valid TOML: {escape(str(exc))}", path=path) from None
    for key in data:
        if key not in _KEYS:
            raise ConfigError(
                f"unknown key {quote(str(key), None)}: expected one of {', '.join(_KEYS)}",
                path=path,
            )
    out: list[datetime | None] = []
    for key in _KEYS:
        try:
            out.append(parse_expires(data.get(key)))
        except PolicyError as exc:
            raise ConfigError(f"{key}: {exc}", path=path) from None
    return out[0], out[1]
