"""The pinning context: a client :class:`ssl.SSLContext` that enforces a :class:`certpin.PinPolicy`
and cannot be weakened, and :func:`pinning_context` that makes one."""

from __future__ import annotations

import contextlib
import socket
import ssl

from ..errors import PinValidationError, PolicyError
from ..policy import PinPolicy
from .base import (
    C_BASE,
    PinningContextBase,
    Reporter,
    check_strength,
    failure,
    get_check_hostname,
    is_strong,
    real_options,
    real_verify_mode,
)
from .hooks import FAILED, PinnedSSLObject, PinnedSSLSocket
from .passes import RememberedPasses
from .swap import SwapRight

__all__ = ["PinningSSLContext", "pinning_context"]


class PinningSSLContext(PinningContextBase):
    """A client :class:`ssl.SSLContext` that enforces a :class:`certpin.PinPolicy`.

    Build it with :func:`pinning_context` (or :func:`certpin.create_ssl_context`), not directly.
    It behaves like any client context (load a client certificate, set ALPN, ciphers, minimum
    version) except that it refuses to be weakened:

    * ``verify_mode`` can only be ``CERT_REQUIRED`` and ``check_hostname`` only ``True``
      (assigning the same value again is allowed: urllib3 does that);
    * ``options`` must keep ``OP_NO_RENEGOTIATION``;
    * ``sslsocket_class``/``sslobject_class`` are fixed.

    Each of these raises :class:`certpin.PolicyError`.

    Attributes:
        policy: the :class:`certpin.PinPolicy` enforced.
        reporter: the injected ``Callable[[PinEvent], None]`` or None.
    """

    @property
    def sslsocket_class(self) -> type[ssl.SSLSocket]:
        """:class:`PinnedSSLSocket`; cannot be replaced.

        ``ssl.SSLContext.wrap_socket`` reads it right before it creates a connection, when OpenSSL
        copies the context's settings into the connection, so a connection created by calling
        ``ssl.SSLContext.wrap_socket(ctx, ...)`` directly (past :meth:`wrap_socket`) also gets
        the strength check at creation: a context weakened through the C-level descriptors and
        restored before the handshake cannot leave a weak connection behind.

        Raises:
            PinValidationError: the context was weakened through the C-level descriptors.
        """
        check_strength(self, None)
        return PinnedSSLSocket

    @sslsocket_class.setter
    def sslsocket_class(self, value: type[ssl.SSLSocket]) -> None:
        raise PolicyError("the socket class of a pinning context cannot be replaced")

    @property
    def sslobject_class(self) -> type[ssl.SSLObject]:
        """:class:`PinnedSSLObject`; cannot be replaced. Checks the context like
        :attr:`sslsocket_class` (``ssl.SSLContext.wrap_bio`` reads it at creation).

        Raises:
            PinValidationError: the context was weakened through the C-level descriptors.
        """
        check_strength(self, None)
        return PinnedSSLObject

    @sslobject_class.setter
    def sslobject_class(self, value: type[ssl.SSLObject]) -> None:
        raise PolicyError("the SSLObject class of a pinning context cannot be replaced")

    @property
    def verify_mode(self) -> ssl.VerifyMode:
        return ssl.VerifyMode(real_verify_mode(self))

    @verify_mode.setter
    def verify_mode(self, value: int) -> None:
        if value != ssl.CERT_REQUIRED:
            raise PolicyError(
                f"cannot set verify_mode to {value!r} on a pinning context: pins are only "
                "matched on a chain OpenSSL verified, so it stays CERT_REQUIRED"
            )
        C_BASE.verify_mode.__set__(self, value)

    def _certpin_set_check_hostname(self, value: bool) -> None:
        if not value:
            raise PolicyError(
                "cannot turn check_hostname off on a pinning context: pins are only matched "
                "after OpenSSL verified the host name"
            )
        C_BASE.check_hostname.__set__(self, True)

    # The getter is the C-level descriptor itself, no Python frame: ssl.SSLSocket._create reads
    # check_hostname for every connection.
    check_hostname = property(
        get_check_hostname,
        _certpin_set_check_hostname,
        doc="Always True; assigning False raises PolicyError (pins need a verified host name).",
    )

    @property
    def options(self) -> ssl.Options:
        return ssl.Options(real_options(self))

    @options.setter
    def options(self, value: int) -> None:
        if not value & ssl.OP_NO_RENEGOTIATION:
            raise PolicyError(
                "cannot clear OP_NO_RENEGOTIATION on a pinning context: a renegotiation "
                "would present a certificate that no pin check sees"
            )
        C_BASE.options.__set__(self, value)

    def wrap_socket(  # noqa: PLR0917 (the signature of ssl.SSLContext.wrap_socket)
        self,
        sock: socket.socket,
        server_side: bool = False,
        do_handshake_on_connect: bool = True,
        suppress_ragged_eofs: bool = True,
        server_hostname: str | bytes | None = None,
        session: ssl.SSLSession | None = None,
    ) -> ssl.SSLSocket:
        """:meth:`ssl.SSLContext.wrap_socket`, refusing weak settings before the handshake.

        Raises:
            PinValidationError: ``server_side`` is true, ``server_hostname`` is None or empty,
                or the context was weakened through the C-level descriptors; ``sock`` is
                closed first (as the stdlib does when a handshake fails).
            PinMismatchError: (during the handshake, when ``do_handshake_on_connect``).
        """
        # With do_handshake_on_connect, PinnedSSLSocket.do_handshake re-checks the context's
        # strength right after the connection is created, inside _create: not done twice here.
        if (
            server_side
            or not server_hostname
            or (not do_handshake_on_connect and not is_strong(self))
        ):
            try:
                self._certpin_precheck(server_side, server_hostname)
            except PinValidationError:
                with contextlib.suppress(OSError):
                    sock.close()
                raise
        # What ssl.SSLContext.wrap_socket does (3.11 to 3.13), without its frame and the
        # sslsocket_class lookup: this runs for every connection.
        return PinnedSSLSocket._create(  # type: ignore[attr-defined,no-any-return]
            sock=sock,
            server_side=server_side,
            do_handshake_on_connect=do_handshake_on_connect,
            suppress_ragged_eofs=suppress_ragged_eofs,
            server_hostname=server_hostname,
            context=self,
            session=session,
        )

    def wrap_bio(
        self,
        incoming: ssl.MemoryBIO,
        outgoing: ssl.MemoryBIO,
        server_side: bool = False,
        server_hostname: str | bytes | None = None,
        session: ssl.SSLSession | None = None,
    ) -> ssl.SSLObject:
        """:meth:`ssl.SSLContext.wrap_bio`, refusing weak settings; pins checked at handshake.

        A context weakened behind its back does not raise here but makes the returned object
        fail its first ``do_handshake``/``read``/``write``: asyncio creates the object while
        setting up the transport, where an exception would leak the socket, and it reports a
        handshake error cleanly.

        Raises:
            PinValidationError: ``server_side`` is true or ``server_hostname`` is None or empty.
        """
        self._certpin_precheck(server_side, server_hostname, strength=False)
        name = as_text(server_hostname)
        weak: PinValidationError | None = None
        try:
            check_strength(self, name)
        except PinValidationError as exc:
            weak = exc
        # What ssl.SSLContext.wrap_bio does (3.11 to 3.13), past the sslobject_class getter,
        # which raises on a weakened context: here the object is marked failed instead.
        obj: PinnedSSLObject = PinnedSSLObject._create(  # type: ignore[attr-defined]
            incoming,
            outgoing,
            server_side=server_side,
            server_hostname=self._encode_hostname(server_hostname),  # type: ignore[attr-defined]
            session=session,
            context=self,
        )
        if weak is not None:
            obj._certpin_state = FAILED
            obj._certpin_error = weak
        return obj

    def _certpin_precheck(
        self, server_side: bool, server_hostname: str | bytes | None, *, strength: bool = True
    ) -> None:
        name = as_text(server_hostname)
        if server_side:
            raise failure(name, "a pinning context cannot be used on the server side")
        if not name:
            raise failure(name, "no server_hostname was given, so there is no host to check")
        if strength:
            check_strength(self, name)


def as_text(name: str | bytes | None) -> str:
    if isinstance(name, bytes):
        return name.decode("ascii", "replace")
    return name or ""


def validate_base(ctx: ssl.SSLContext) -> None:
    if isinstance(ctx, PinningSSLContext):
        raise PolicyError("base is already a pinning context; build a new ssl.SSLContext")
    if type(ctx) is not ssl.SSLContext:
        raise PolicyError(
            f"base must be a plain ssl.SSLContext (e.g. from ssl.create_default_context()), "
            f"not {type(ctx).__module__}.{type(ctx).__qualname__}"
        )
    if ctx.protocol == ssl.PROTOCOL_TLS_SERVER:
        raise PolicyError("base is a server context (PROTOCOL_TLS_SERVER); pins need a client one")
    if ctx.verify_mode != ssl.CERT_REQUIRED or not ctx.check_hostname:
        raise PolicyError(
            "base must verify certificates and host names (verify_mode CERT_REQUIRED and "
            f"check_hostname True), got verify_mode={ctx.verify_mode!r}, "
            f"check_hostname={ctx.check_hostname!r}: pinning adds to validation, never "
            "replaces it"
        )


def adopt(
    ctx: ssl.SSLContext,
    policy: PinPolicy,
    reporter: Reporter | None,
    swap_right: SwapRight | None = None,
) -> PinningSSLContext:
    validate_base(ctx)
    ctx.options |= ssl.OP_NO_RENEGOTIATION
    ctx.__class__ = PinningSSLContext
    pinning: PinningSSLContext = ctx  # type: ignore[assignment]
    pinning._certpin_policy = policy
    pinning._certpin_reporter = reporter
    pinning._certpin_passes = RememberedPasses()
    pinning._certpin_right = swap_right
    return pinning


def pinning_context(
    policy: PinPolicy,
    *,
    cafile: str | None = None,
    capath: str | None = None,
    cadata: str | bytes | None = None,
    base: ssl.SSLContext | None = None,
    reporter: Reporter | None = None,
    swap_right: SwapRight | None = None,
) -> ssl.SSLContext:
    """Return a client :class:`ssl.SSLContext` that validates certificates and enforces ``policy``.

    Without ``base`` the context is :func:`ssl.create_default_context` (``cafile``, ``capath``,
    ``cadata`` are handed to it, replacing the default trust store when given): the stdlib's
    protocol floor, ciphers and (3.13+) strict verification flags, plus
    ``OP_NO_RENEGOTIATION``.

    With ``base``, that very object is **adopted**: an :class:`ssl.SSLContext` cannot be copied
    (a loaded client certificate, TLS 1.3 cipher suites, ALPN are not readable back), so
    ``base`` keeps all its settings and trust, gets ``OP_NO_RENEGOTIATION``, and its class is
    changed to :class:`PinningSSLContext` in place. The returned object *is* ``base``: from now
    on every connection made through it, anywhere, enforces ``policy`` and it can no longer be
    weakened. ``cafile``/``capath``/``cadata`` are then loaded in addition to its trust store.
    Client certificates may also be loaded later with ``load_cert_chain`` on the result.

    Args:
        policy: the :class:`certpin.PinPolicy` to enforce.
        cafile, capath, cadata: trust anchors, as for :meth:`ssl.SSLContext.load_verify_locations`.
        base: a plain client :class:`ssl.SSLContext` (not a subclass) with ``verify_mode``
            ``CERT_REQUIRED`` and ``check_hostname`` on.
        reporter: called with a :class:`certpin.verify.PinEvent` for each pin mismatch,
            report-only mismatch, and certificate rejected by OpenSSL for a pinned host. It runs
            in the handshaking thread; exceptions it raises are logged and ignored.
        swap_right: a :class:`certpin.tls.swap.SwapRight`: its holder (and only it) may swap
            the context's policy with :func:`certpin.tls.swap.swap_policy` (signed policy
            updates, :mod:`certpin.updates`). None (the default): the policy is fixed for the
            context's life.

    Returns:
        A :class:`PinningSSLContext` (an :class:`ssl.SSLContext`).

    Raises:
        PolicyError: ``policy`` is not a :class:`certpin.PinPolicy`; ``base`` is a subclass,
            a server context, or does not verify certificates and host names; ``base`` is
            already a pinning context.
        OSError, ssl.SSLError: a CA file or directory cannot be read.
    """
    if not isinstance(policy, PinPolicy):
        raise PolicyError(f"policy must be a certpin.PinPolicy, not {type(policy).__name__}")
    if swap_right is not None and not isinstance(swap_right, SwapRight):
        raise PolicyError("swap_right must be a certpin.tls.swap.SwapRight")
    if base is None:
        ctx = ssl.create_default_context(cafile=cafile, capath=capath, cadata=cadata)
    else:
        validate_base(base)  # before touching it: nothing half-done on error
        ctx = base
        if cafile is not None or capath is not None or cadata is not None:
            ctx.load_verify_locations(cafile=cafile, capath=capath, cadata=cadata)
    return adopt(ctx, policy, reporter, swap_right)
