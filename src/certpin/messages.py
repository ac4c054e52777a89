"""The failure message of a pin check: the host, the verified chain's pins and the pins expected,
ready to paste into a policy (the OkHttp ``CertificatePinner`` habit). Pure."""

from __future__ import annotations

from collections.abc import Sequence

from .chainpins import chain_pins
from .pinroles import role_scope
from .pins import Pin
from .policy import PinSet

__all__ = ["failure_message", "headline", "misplaced_lines", "pins_block"]

def headline(host: str, pattern: str | None) -> str:
    line = f"Certificate pinning failure for {host}"
    if pattern is not None and pattern != host:
        line += f" (pattern {pattern})"
    return line


def _pin_line(pin_set: PinSet, pin: Pin) -> str:
    role = pin_set.role_of(pin)
    return f"    {pin}" if role is None else f"    {pin}  (role {role})"


def pins_block(pattern: str, pin_set: PinSet) -> list[str]:
    lines = [f"  Pinned for {pattern}:"]
    lines.extend(_pin_line(pin_set, pin) for pin in pin_set.pins)
    if pin_set.backup_pins:
        lines.append(f"  Backup pins for {pattern}:")
        lines.extend(_pin_line(pin_set, pin) for pin in pin_set.backup_pins)
    return lines


def misplaced_lines(
    pin_set: PinSet, chain: Sequence[bytes], misplaced: Sequence[tuple[Pin, int]]
) -> list[str]:
    """One line per pin of ``pin_set`` found in ``chain`` at a position its role excludes."""
    lines: list[str] = []
    for pin, position in misplaced:
        role = pin_set.role_of(pin)
        if role is None:  # cannot happen: a pin without a role matches anywhere
            continue
        subject = chain_pins(chain[position])[2]
        lines.append(
            f"  Pin {pin} has role {role}: it is in the verified chain at position {position} "
            f"({subject}), but role {role} matches {role_scope(role)}; it is not accepted there."
        )
    return lines


def _chain_block(chain: Sequence[bytes]) -> list[str]:
    lines = ["  Verified chain:"]
    for der in chain:
        spki, cert, subject = chain_pins(der)
        lines.append(f"    {spki if spki is not None else cert}  {subject}")
    return lines


def failure_message(
    host: str, pattern: str, pin_set: PinSet, chain: Sequence[bytes], *, hint: str | None = None,
    misplaced: Sequence[tuple[Pin, int]] = (),
) -> str:
    """The text of a pin mismatch, ready to paste pins from.

    Args:
        host: the normalised host name.
        pattern: the pattern whose pin set applied.
        pin_set: that pin set.
        chain: the verified chain, DER, leaf first.
        hint: the last line; a default explaining what to do when None.
        misplaced: ``(pin, position)`` for each pin of the set that is in ``chain`` at a
            position its role excludes (:mod:`certpin.pinroles`); each gets a line saying so.

    Returns:
        Lines joined by ``\\n``::

            Certificate pinning failure for www.example.com (pattern *.example.com)
              Verified chain:
                sha256/<b64>  CN=www.example.com
                sha256/<b64>  CN=Example Intermediate,O=Example
              Pinned for *.example.com:
                sha256/<b64>
                sha256/<b64>  (role leaf)           (a pin with a role)
              Backup pins for *.example.com:        (only when there are backup pins)
                sha256/<b64>
              Pin sha256/<b64> has role leaf: it is in the verified chain at position 1
              (CN=...), but ...                     (one line per misplaced pin)
              Hint: ...

        A certificate whose key cannot be decoded is listed by its ``cert-sha256/`` pin.
    """
    lines = [
        headline(host, pattern), *_chain_block(chain), *pins_block(pattern, pin_set),
        *misplaced_lines(pin_set, chain, misplaced),
    ]
    if hint is None and misplaced:
        hint = (
            "  Hint: a pinned key or certificate is in the verified chain, but not where its "
            f"role allows. If the role is wrong, correct it in the roles of {pattern}; a "
            "leaf pin on a CA certificate (or a CA pin on the leaf) may mean the chain is "
            "not the one the pin was made for."
        )
    if hint is None:
        hint = (
            "  Hint: no certificate of the verified chain has a pinned key or certificate. If "
            "the server's key or CA changed legitimately, add one of the verified chain's pins "
            f"above to the pin set for {pattern}; otherwise the connection may be intercepted."
        )
    lines.append(hint)
    return "\n".join(lines)
