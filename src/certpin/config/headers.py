"""What the single-host notations share: curl's ``--pinnedpubkey`` and the HPKP header.

Both carry the pins of one host and no host name: import takes the host pattern as an argument,
export needs a policy with one pin set or a chosen host. ``unknown_hosts`` is about other hosts
and is not part of either notation. The notations themselves live in :mod:`certpin.config.curl`
and :mod:`certpin.config.hpkp`.
"""

from __future__ import annotations

from ..errors import ConfigError, PolicyError, escape, quote
from ..hostnames import normalize_pattern
from ..policy import PinPolicy, PinSet
from ._common import ExportError, nothing_pinned

__all__ = ["host_pattern", "no_set", "select_host"]


def host_pattern(host: str, source: str | None) -> str:
    """``host`` as a normalised pattern, or a :class:`ConfigError` naming it.

    Raises:
        ConfigError: ``host`` is not a valid host pattern.
    """
    try:
        return normalize_pattern(host)
    except PolicyError as exc:
        raise ConfigError(f"bad host {quote(host, None)}: {exc}", path=source) from None


def select_host(policy: PinPolicy, host: str | None, target: str) -> tuple[str, PinSet]:
    """The one pin set a single-host format exports: ``host``'s, or the only one.

    Args:
        policy: the policy.
        host: the pattern to export, or None to take the policy's only pin set.
        target: the format's name, for messages.

    Returns:
        ``(pattern, pin_set)``.

    Raises:
        PolicyError: ``host`` is not a pattern of the policy, or it is None and the policy does
            not hold exactly one pin set.
    """
    pin_sets = policy.pin_sets
    if host is None:
        if len(pin_sets) != 1:
            names = ", ".join(sorted(pin_sets)) or "none"
            raise PolicyError(f"{target} holds the pins of one host: choose one with --host "
                              f"(patterns: {names})")
        return next(iter(pin_sets.items()))
    pattern = normalize_pattern(host)
    if pattern not in pin_sets:
        names = ", ".join(sorted(pin_sets)) or "none"
        raise PolicyError(f"host pattern {quote(pattern, None)} is not in the policy "
                          f"(patterns: {names})")
    return pattern, pin_sets[pattern]


def no_set(target: str, pattern: str, why: str) -> ExportError:
    """The error for the one pin set that ``target`` cannot hold at all: nothing would be left
    (:func:`~certpin.config._common.nothing_pinned`; ``lossy`` cannot help)."""
    return nothing_pinned(target, [f"{escape(pattern)}: {why}"])
