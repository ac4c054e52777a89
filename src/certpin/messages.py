"""The failure message of a pin check: the host, the verified chain's pins and the pins expected,
ready to paste into a policy (the OkHttp ``CertificatePinner`` habit). Pure."""

from __future__ import annotations

from collections.abc import Sequence

from .chainpins import chain_pins
from .policy import PinSet

__all__ = ["failure_message", "headline", "pins_block"]

def headline(host: str, pattern: str | None) -> str:
    line = f"Certificate pinning failure for {host}"
    if pattern is not None and pattern != host:
        line += f" (pattern {pattern})"
    return line


def pins_block(pattern: str, pin_set: PinSet) -> list[str]:
    lines = [f"  Pinned for {pattern}:"]
    lines.extend(f"    {pin}" for pin in pin_set.pins)
    if pin_set.backup_pins:
        lines.append(f"  Backup pins for {pattern}:")
        lines.extend(f"    {pin}" for pin in pin_set.backup_pins)
    return lines


def _chain_block(chain: Sequence[bytes]) -> list[str]:
    lines = ["  Verified chain:"]
    for der in chain:
        spki, cert, subject = chain_pins(der)
        lines.append(f"    {spki if spki is not None else cert}  {subject}")
    return lines


def failure_message(
    host: str, pattern: str, pin_set: PinSet, chain: Sequence[bytes], *, hint: str | None = None
) -> str:
    """The text of a pin mismatch, ready to paste pins from.

    Args:
        host: the normalised host name.
        pattern: the pattern whose pin set applied.
        pin_set: that pin set.
        chain: the verified chain, DER, leaf first.
        hint: the last line; a default explaining what to do when None.

    Returns:
        Lines joined by ``\\n``::

            Certificate pinning failure for www.example.com (pattern *.example.com)
              Verified chain:
                sha256/<b64>  CN=www.example.com
                sha256/<b64>  CN=Example Intermediate,O=Example
              Pinned for *.example.com:
                sha256/<b64>
              Backup pins for *.example.com:        (only when there are backup pins)
                sha256/<b64>
              Hint: ...

        A certificate whose key cannot be decoded is listed by its ``cert-sha256/`` pin.
    """
    lines = [headline(host, pattern), *_chain_block(chain), *pins_block(pattern, pin_set)]
    if hint is None:
        hint = (
            "  Hint: no certificate of the verified chain has a pinned key or certificate. If "
            "the server's key or CA changed legitimately, add one of the verified chain's pins "
            f"above to the pin set for {pattern}; otherwise the connection may be intercepted."
        )
    lines.append(hint)
    return "\n".join(lines)
