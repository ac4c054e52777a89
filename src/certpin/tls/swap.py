"""Swapping the policy of a pinning context: only for the holder of the context's swap right.

A :class:`certpin.tls.PinningSSLContext` enforces one immutable :class:`certpin.PinPolicy`;
``ctx.policy`` is a read-only property and there is no public setter. A context made with a
:class:`SwapRight` (``pinning_context(..., swap_right=right)``; :mod:`certpin.updates` does that
for the contexts of a policy updater) can have its policy replaced by :func:`swap_policy`, and only
by whoever holds that very object. A context made without one (every context of
:func:`certpin.create_ssl_context`) can never be swapped: the right is fixed when the context is
created, so no code can later make an existing context swappable.

Why a swap is atomic for each connection: :func:`swap_policy` first sets the new policy, then
gives the context a new, empty remembered-pass cache. :func:`certpin.tls.checks.postcheck` reads
the cache, then the policy, judges the connection with that one policy and remembers a pass in
the cache it read first. A pass judged under the old policy can therefore only land in the old
cache, which is no longer read: no connection made after the swap is judged by the old policy
or by a mix of the two. (A handshake that started before the swap may finish under the old
policy: it is judged wholly by it.)

Connections already open at the swap: each remembers the cache it passed under, and its next read
or write after a swap judges it again under the new policy (:func:`certpin.tls.hooks.rejudge`),
closing it first if the new policy refuses it. A kept-alive connection therefore never carries a
request past a swap that revoked its key.
"""

from __future__ import annotations

import ssl
from typing import Any

from ..errors import PolicyError
from ..policy import PinPolicy
from .base import PinningContextBase
from .passes import RememberedPasses

__all__ = ["KEEP", "SwapRight", "swap_policy"]


class SwapRight:
    """An opaque capability: the right to swap the policy of the contexts made with it."""

    __slots__ = ("__weakref__",)

    def __repr__(self) -> str:
        return "<certpin.tls.SwapRight>"

    def __reduce__(self) -> str:  # not picklable, not copyable into another right
        raise TypeError("a SwapRight cannot be pickled or copied")

    def __copy__(self) -> SwapRight:
        raise TypeError("a SwapRight cannot be copied")

    def __deepcopy__(self, memo: object) -> SwapRight:
        raise TypeError("a SwapRight cannot be copied")


#: ``swap_policy(..., reporter=KEEP)``: the context keeps its reporter.
KEEP: Any = object()


def swap_policy(
    ctx: ssl.SSLContext, policy: PinPolicy, right: SwapRight, *, reporter: Any = KEEP
) -> None:
    """Make ``ctx`` enforce ``policy`` for every connection from now on.

    Drops the context's remembered passes (a new, empty cache; see the module docstring for why
    the order matters). ``reporter``: the context's new reporter (built for ``policy``, so that
    reports go to its report URIs), or :data:`KEEP`; it is set before the policy.

    Raises:
        PolicyError: ``ctx`` is not a pinning context, was not made with ``right``, or
            ``policy`` is not a :class:`certpin.PinPolicy`.
    """
    if not isinstance(policy, PinPolicy):
        raise PolicyError(f"policy must be a certpin.PinPolicy, not {type(policy).__name__}")
    if not isinstance(ctx, PinningContextBase):
        raise PolicyError("only a pinning context has a policy to swap")
    owner = getattr(ctx, "_certpin_right", None)
    if owner is None or owner is not right:
        raise PolicyError("this pinning context was not made with this swap right")
    if reporter is not KEEP:
        ctx._certpin_reporter = reporter
    ctx._certpin_policy = policy  # first the policy,
    ctx._certpin_passes = RememberedPasses()  # then a new cache: see postcheck
