"""Signed pin updates over The Update Framework (TUF): publishing and the client updater.

An optional extra (``pip install certpin[updates]``): ``tuf`` and ``securesystemslib``.
Importing :mod:`certpin` never imports this package, and importing this package imports TUF only
when one of its names is first used.

* :mod:`certpin.updates.publish`: the repository (``certpin publish init|policy|timestamp|rotate``).
* :mod:`certpin.updates.client`: :class:`PolicyUpdater`, which refreshes the policy from the
  repository, verifies it with TUF and swaps it into the pinning contexts it made.

See ``docs/updates.md`` for the operator's runbook and the client's lines.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .client import OnExpiry, PolicyUpdater
    from .errors import UpdateError

__all__ = ["OnExpiry", "PolicyUpdater", "UpdateError"]

_WHERE = {"OnExpiry": "client", "PolicyUpdater": "client", "UpdateError": "errors"}


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'certpin.updates' has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)
