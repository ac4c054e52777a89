"""The base of a pinning context: what the hooks read from it, and whether it is still strong.

A context is *strong* when it verifies certificates (``CERT_REQUIRED``), verifies host names
(``check_hostname``) and refuses renegotiation (``OP_NO_RENEGOTIATION``). :func:`is_strong` is
the one predicate; :func:`check_strength` raises with the reason. One copy is inlined in the hot
path, :meth:`certpin.tls.hooks.PinnedSSLSocket.do_handshake`, where a call costs microseconds
right after a handshake (measured by ``bench/handshake.py``); ``tests/tls/test_tls.py`` and
``tests/tls/test_tls_attacks.py`` weaken a context through every path.
"""

from __future__ import annotations

import ssl
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Final

from ..errors import PinValidationError, escape
from ..events import PinEvent

if TYPE_CHECKING:
    from ..policy import PinPolicy
    from .passes import RememberedPasses
    from .swap import SwapRight

__all__ = [
    "C_BASE",
    "PinningContextBase",
    "Reporter",
    "check_strength",
    "failure",
    "is_strong",
]

#: What the TLS layer hands a pin event to (see :mod:`certpin.report`).
Reporter = Callable[[PinEvent], None]

# The C-level descriptors under ssl.SSLContext's Python properties: reading through them cannot
# be fooled by an override further down the class hierarchy.
C_BASE: Any = ssl.SSLContext.__mro__[1]


get_verify_mode: Any = C_BASE.verify_mode.__get__


get_check_hostname: Any = C_BASE.check_hostname.__get__


get_options: Any = C_BASE.options.__get__


# Plain ints: comparing with the IntEnum/IntFlag members runs Python-level enum code, and this
# runs on every handshake.
CERT_REQUIRED_INT: Final = int(ssl.CERT_REQUIRED)


OP_NO_RENEGOTIATION_INT: Final = int(ssl.OP_NO_RENEGOTIATION)


def real_verify_mode(ctx: ssl.SSLContext) -> int:
    return int(get_verify_mode(ctx))


def real_options(ctx: ssl.SSLContext) -> int:
    return int(get_options(ctx))


def is_strong(ctx: ssl.SSLContext) -> bool:
    """True when ``ctx`` verifies certificates and host names and refuses renegotiation, read
    through the C-level descriptors (an override in a subclass cannot fool it)."""
    return (
        get_verify_mode(ctx) == CERT_REQUIRED_INT
        and bool(get_check_hostname(ctx))
        and bool(get_options(ctx) & OP_NO_RENEGOTIATION_INT)
    )


def failure(hostname: str | None, reason: str) -> PinValidationError:
    """The error for a failure other than a pin mismatch; ``hostname`` None: not known yet."""
    shown = "a new connection" if hostname is None else escape(hostname or "<no server name>")
    return PinValidationError(f"Certificate pinning failure for {shown}: {reason}")


def check_strength(ctx: ssl.SSLContext, hostname: str | None) -> None:
    """Fail closed unless ``ctx`` is strong (:func:`is_strong`).

    Raises:
        PinValidationError: saying which of the three settings was weakened.
    """
    if is_strong(ctx):
        return
    if get_verify_mode(ctx) != CERT_REQUIRED_INT:
        raise failure(
            hostname,
            "the pinning context's verify_mode was lowered below CERT_REQUIRED; "
            "pins are only matched on a chain OpenSSL verified",
        )
    if not get_check_hostname(ctx):
        raise failure(
            hostname,
            "check_hostname was turned off on the pinning context; "
            "pins are only matched after the host name was verified",
        )
    if not get_options(ctx) & OP_NO_RENEGOTIATION_INT:
        raise failure(hostname, "OP_NO_RENEGOTIATION was cleared on the pinning context")


class PinningContextBase(ssl.SSLContext):
    """What the socket and object hooks read from a pinning context.

    :class:`certpin.tls.context.PinningSSLContext` is the only subclass; the hooks test
    ``isinstance(ctx, PinningContextBase)`` so that they need not import the context module,
    which imports them.

    Attributes:
        policy: the :class:`certpin.PinPolicy` enforced.
        reporter: the injected ``Callable[[PinEvent], None]`` or None.
    """

    _certpin_policy: PinPolicy
    _certpin_reporter: Reporter | None
    _certpin_passes: RememberedPasses
    _certpin_right: SwapRight | None

    @property
    def policy(self) -> PinPolicy:
        """The :class:`certpin.PinPolicy` this context enforces."""
        return self._certpin_policy

    @property
    def reporter(self) -> Reporter | None:
        """The injected reporter, or None."""
        return self._certpin_reporter
