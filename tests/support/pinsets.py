"""Distinct pins and pin sets for the policy and host-name tests."""

from __future__ import annotations

from certpin import Pin, PinSet


def pin(n: int, kind: str = "spki") -> Pin:
    return Pin(kind, bytes([n]) * 32)  # type: ignore[arg-type]


def pinset(first: int = 1, **kwargs: object) -> PinSet:
    return PinSet([pin(first), pin(first + 100)], **kwargs)  # type: ignore[arg-type]
