"""certpin: TLS certificate and public-key pinning for Python clients.

Obtain pins (:func:`spki_pin`, :func:`cert_pin`, :func:`load_certificates`, :func:`fetch_chain`),
enforce them inside the TLS layer (:func:`create_ssl_context`) and manage them over their life
(policy files, mobile formats, health checks, violation reports).
"""

from .clients import PinnedRequestError
from .context import create_ssl_context
from .errors import (
    CertificateError,
    CertpinError,
    ConfigError,
    PinFormatError,
    PinMismatchError,
    PinValidationError,
    PolicyError,
    ProbeError,
)
from .pins import Pin, cert_pin, load_certificates, parse_pin, spki_pin
from .policy import PinPolicy, PinSet
from .probe import FetchedChain, fetch_chain
from .verify import Outcome, PinEvent, Verdict, check

__version__ = "0.1.0"

__all__ = [
    "CertificateError",
    "CertpinError",
    "ConfigError",
    "FetchedChain",
    "Outcome",
    "Pin",
    "PinEvent",
    "PinFormatError",
    "PinMismatchError",
    "PinPolicy",
    "PinSet",
    "PinValidationError",
    "PinnedRequestError",
    "PolicyError",
    "ProbeError",
    "Verdict",
    "__version__",
    "cert_pin",
    "check",
    "create_ssl_context",
    "fetch_chain",
    "load_certificates",
    "parse_pin",
    "spki_pin",
]
