"""certpin: TLS certificate and public-key pinning for Python clients.

Obtain pins (:func:`spki_pin`, :func:`cert_pin`, :func:`load_certificates`, :func:`fetch_chain`),
enforce them inside the TLS layer (:func:`create_ssl_context`) and manage them over their life
(policy files, mobile formats, health checks, violation reports).
"""

from .backup import BackupKey, generate_backup_key
from .clients import PinnedRequestError
from .config import dump_policy, dumps_policy, load_policy, loads_policy
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
from .events import PinEvent
from .health import HostReport, check_policy
from .lint import lint_policy
from .pins import Pin, cert_pin, load_certificates, parse_pin, spki_pin
from .policy import PinPolicy, PinSet, Role
from .probe import FetchedChain, fetch_chain
from .report import ViolationReport
from .reporter import make_reporter
from .verify import Outcome, Verdict, check
from .version import __version__

__all__ = [
    "BackupKey",
    "CertificateError",
    "CertpinError",
    "ConfigError",
    "FetchedChain",
    "HostReport",
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
    "Role",
    "Verdict",
    "ViolationReport",
    "__version__",
    "cert_pin",
    "check",
    "check_policy",
    "create_ssl_context",
    "dump_policy",
    "dumps_policy",
    "fetch_chain",
    "generate_backup_key",
    "lint_policy",
    "load_certificates",
    "load_policy",
    "loads_policy",
    "make_reporter",
    "parse_pin",
    "spki_pin",
]
