"""The exception of pin updates."""

from __future__ import annotations

from ..errors import CertpinError

__all__ = ["UpdateError"]


class UpdateError(CertpinError):
    """A pin-update repository or key folder cannot be used as asked (the message says why)."""
