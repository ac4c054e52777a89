"""The pins of the public root CAs on this machine, for the ``weak-pin`` finding."""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterable

from ..errors import CertificateError
from ..pins import Pin, cert_pin, load_certificates, spki_pin

__all__ = ["SYSTEM_CA_BUNDLE", "public_root_pins"]

#: The system CA bundle on Debian and derivatives.
SYSTEM_CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"


_ROOTS_LOCK = threading.Lock()

_ROOTS_CACHE: dict[str, frozenset[Pin]] = {}


def _bundle_paths() -> list[str]:
    paths: list[str] = []
    try:
        import certifi

        paths.append(str(certifi.where()))
    except ImportError:  # certifi is optional
        pass
    paths.append(SYSTEM_CA_BUNDLE)
    return paths


def public_root_pins(paths: Iterable[str] | None = None) -> frozenset[Pin]:
    """The SPKI and certificate pins of the public root CAs on this machine.

    The roots are read from certifi's bundle (if certifi is installed) and the system store
    ``/etc/ssl/certs/ca-certificates.crt`` (if present). A pin on one of these keys is weak:
    every certificate that CA issues, for any site, carries it. The default set is read once
    and cached.

    Args:
        paths: PEM bundle files to read instead of the defaults (not cached); files that do not
            exist or hold no certificate are skipped.

    Returns:
        A frozenset of :class:`~certpin.pins.Pin` (both ``spki`` and ``cert`` kinds).
    """
    if paths is None:
        with _ROOTS_LOCK:
            if "default" not in _ROOTS_CACHE:
                _ROOTS_CACHE["default"] = _read_roots(_bundle_paths())
            return _ROOTS_CACHE["default"]
    return _read_roots(paths)


def _read_roots(paths: Iterable[str]) -> frozenset[Pin]:
    out: set[Pin] = set()
    for path in paths:
        if not os.path.isfile(path):
            continue
        try:
            with open(path, "rb") as fh:
                certs = load_certificates(fh.read())
        except (OSError, CertificateError):
            continue
        for cert in certs:
            out.add(cert_pin(cert))
            with contextlib.suppress(CertificateError):  # a key cryptography cannot decode
                out.add(spki_pin(cert))
    return frozenset(out)
