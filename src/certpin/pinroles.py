"""Pin roles: where in the verified chain a pin may match. Pure.

A pin set may give each of its pins a *role* (:data:`Role`):

* ``"leaf"``: the pin matches only the end-entity certificate, position 0 of the verified chain;
* ``"ca"``: the pin matches only a CA certificate, an intermediate or the trust anchor: any
  position ``>= 1`` of the verified chain;
* no role: the pin matches any certificate of the verified chain (certpin's rule without roles).

Per pin, this is the meaning of Apple's App Transport Security keys: ``NSPinnedLeafIdentities``
(ATS blocks the connection unless the SPKI digest of the leaf certificate presented by the
server is in the array) and ``NSPinnedCAIdentities`` (unless the SPKI digest of at least one CA
or sub-CA certificate in the chain is), per Apple's documentation of each key
(https://developer.apple.com/documentation/bundleresources/information-property-list/nspinnedleafidentities
and .../nspinnedcaidentities, "Discussion"). Unlike ATS, which requires *both* arrays to match
when a domain has both, a certpin pin set passes when any one of its pins matches where its role
allows (any-of); and a role applies to certificate pins too (ATS has SPKI digests only).

:class:`certpin.PinSet` validates roles with :func:`parse_roles`; :func:`certpin.check` and
the health judge decide with :func:`role_admits`.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from types import MappingProxyType
from typing import Literal

from .errors import PinFormatError, PolicyError, quote
from .pins import Pin, parse_pin

__all__ = ["ROLES", "Role", "parse_roles", "role_admits", "role_scope"]

#: Where a pin may match: ``"leaf"`` (chain position 0) or ``"ca"`` (positions 1 and up).
Role = Literal["leaf", "ca"]

#: The roles, in the order they are documented.
ROLES: tuple[Role, ...] = ("leaf", "ca")


def role_admits(role: Role | None, position: int) -> bool:
    """Whether a pin with ``role`` may match the certificate at ``position`` of the verified
    chain (0 = leaf): ``"leaf"`` only position 0, ``"ca"`` only positions ``>= 1``, None any."""
    if role is None:
        return True
    return position == 0 if role == "leaf" else position >= 1


def role_scope(role: Role) -> str:
    """Where a pin of ``role`` matches, in words (for messages)."""
    if role == "leaf":
        return "the leaf certificate only (chain position 0)"
    return "a CA certificate only (an intermediate or the root, chain position 1 or more)"


def parse_roles(roles: object, pins: Collection[Pin]) -> Mapping[Pin, Role]:
    """Check a ``{pin: role}`` mapping against the pins of a pin set.

    Args:
        roles: a mapping from :class:`~certpin.Pin` or pin text (any notation
            :func:`~certpin.parse_pin` reads) to ``"leaf"`` or ``"ca"``; None for no roles.
        pins: the pin set's pins and backup pins.

    Returns:
        A read-only mapping :class:`~certpin.Pin` -> role, holding only pins that have a role,
        in the order given.

    Raises:
        PolicyError: ``roles`` is not a mapping; a key is not one of ``pins`` (named); a key is
            given twice in different notations; a value other than ``"leaf"``/``"ca"``.
        PinFormatError: a key that cannot be parsed as a pin (named).
    """
    if roles is None:
        return MappingProxyType({})
    if not isinstance(roles, Mapping):
        raise PolicyError(f"roles must be a mapping of pin to role, got {type(roles).__name__}")
    out: dict[Pin, Role] = {}
    for key, value in roles.items():
        pin = _role_key(key)
        if pin not in pins:
            raise PolicyError(
                f"roles: {pin} is not one of the pin set's pins or backup pins; a role applies "
                "to a pin of the set"
            )
        if pin in out:
            raise PolicyError(f"roles: {pin} is given twice")
        if value not in ROLES:
            raise PolicyError(
                f"roles: the role of {pin} must be 'leaf' or 'ca', got {quote(value)}"
            )
        out[pin] = value
    return MappingProxyType(out)


def _role_key(key: object) -> Pin:
    if isinstance(key, Pin):
        return key
    if isinstance(key, str):
        try:
            return parse_pin(key)
        except PinFormatError as exc:
            raise PinFormatError(f"roles: {exc}") from None
    raise PolicyError(f"roles: a key must be a Pin or pin text, got {type(key).__name__}")
