"""The certpin exception tree.

::

    CertpinError
    ├── PinFormatError (ValueError)         a pin string that cannot be parsed
    ├── PolicyError (ValueError)            a policy that breaks a rule (pattern, backup pin, ...)
    │   └── ConfigError                     a file that cannot be loaded; names file, line or key
    ├── CertificateError (ValueError)       certificate/key bytes that cannot be read
    ├── PinValidationError (ssl.SSLCertVerificationError)   raised inside the TLS layer
    │   └── PinMismatchError                .hostname .expected .chain
    └── ProbeError (OSError)                a server could not be reached or handshaken

Every message names what was wrong and where (the text, the file and line, the host and port).
Strings that come from the network or from files are escaped with :func:`escape` before they
reach a message, so control characters cannot rewrite a terminal or forge log lines.
"""

from __future__ import annotations

import ssl
from collections.abc import Sequence

__all__ = [
    "CertificateError",
    "CertpinError",
    "ConfigError",
    "PinFormatError",
    "PinMismatchError",
    "PinValidationError",
    "PolicyError",
    "ProbeError",
    "escape",
    "quote",
]

# OpenSSL's X509_V_ERR_APPLICATION_VERIFICATION: "application verification failure".
X509_V_ERR_APPLICATION_VERIFICATION = 50


def escape(text: str, *, backslashes: bool = True) -> str:
    """Return ``text`` with control and other non-printable characters escaped.

    Args:
        text: any string, typically from the network (a certificate subject) or a file.

    Returns:
        A string of printable characters only: ``\\n`` becomes the two characters ``\\n``,
        other non-printables become ``\\xNN``/``\\uNNNN``/``\\UNNNNNNNN`` escapes. Printable
        non-ASCII (e.g. ``é``) is kept. A backslash is doubled, so the escaping is unambiguous,
        unless ``backslashes`` is False: use that for text that was escaped once already (a
        certpin error message), so that a second pass only catches stray control characters.
    """
    if text.isprintable() and (not backslashes or "\\" not in text):
        return text
    out: list[str] = []
    for ch in text:
        if ch == "\\" and backslashes:
            out.append("\\\\")
        elif ch.isprintable():
            out.append(ch)
        else:
            out.append(ch.encode("unicode_escape").decode("ascii"))
    return "".join(out)


#: Characters of a quoted value kept in a message (:func:`quote`).
QUOTE_MAX = 80


def quote(text: object, limit: int | None = QUOTE_MAX) -> str:
    """``text`` for a message: cut to ``limit`` characters (``...`` appended), escaped once
    (:func:`escape`), in single quotes. The one way untrusted text is quoted into a message:
    a backslash shows as two, a tab as ``\\t``, and nothing is escaped twice (no
    :func:`repr` on top of :func:`escape`, whose backslashes repr would double again).

    Args:
        text: the value to show (a host, a pin, a file's text). A non-string is shown as its
            :func:`repr`, which is escaped already (only stray non-printables are escaped).
        limit: characters kept before ``...``; None keeps them all.

    Returns:
        ``"'api.example.com'"``; ``"'a\\tb'"`` for a tab; never a raw control character.
    """
    if not isinstance(text, str):
        return escape(repr(text), backslashes=False)
    shown = text if limit is None or len(text) <= limit else text[:limit] + "..."
    return f"'{escape(shown)}'"


def message_of(exc: BaseException) -> str:
    """The text of ``exc`` for a line of output, escaped exactly once.

    A :class:`CertpinError` escaped what it quotes when it was built: only stray control
    characters are escaped here (its backslashes are left as they are); any other exception's
    text is untrusted and escaped in full (:func:`escape`).

    Returns:
        Printable text, never a raw control character.
    """
    return escape(str(exc), backslashes=not isinstance(exc, CertpinError))


class CertpinError(Exception):
    """Base class of every error certpin raises on purpose."""


class PinFormatError(CertpinError, ValueError):
    """A pin string that cannot be parsed; the message quotes the (escaped) text."""


class PolicyError(CertpinError, ValueError):
    """A pin policy or pin set that breaks a rule (bad pattern, no backup pin, weakened context)."""


class ConfigError(PolicyError):
    """A policy or configuration file that cannot be loaded.

    Attributes:
        path: the file, or None for in-memory input.
        location: ``"line 12"`` or a key path such as ``"hosts.'api.example.com'.pins[1]"``,
            or None.
    """

    def __init__(self, message: str, *, path: str | None = None, location: str | None = None):
        self.path = path
        self.location = location
        where = ", ".join(p for p in (path, location) if p)
        super().__init__(f"{where}: {message}" if where else message)


class CertificateError(CertpinError, ValueError):
    """Bytes or objects that cannot be read as certificates, keys or CSRs."""


class PinValidationError(CertpinError, ssl.SSLCertVerificationError):
    """Raised inside the TLS layer when pin validation fails closed.

    A subclass of :class:`ssl.SSLCertVerificationError`, so every client reports it as a
    certificate verification error. It is built with ``(errno, message)`` and sets
    ``verify_code``, ``verify_message``, ``reason`` and ``library`` so that its text survives
    clients that wrap it (urllib3, requests, httpx, aiohttp).
    """

    def __init__(self, message: str):
        super().__init__(X509_V_ERR_APPLICATION_VERIFICATION, message)
        self.verify_code = X509_V_ERR_APPLICATION_VERIFICATION
        self.verify_message = message
        self.reason = "CERTIFICATE_PIN_MISMATCH"
        self.library = "CERTPIN"
        self.message = message

    def __str__(self) -> str:
        return self.message


class PinMismatchError(PinValidationError):
    """No pin of the host's pin set matched the verified chain.

    Attributes:
        hostname: the normalised host name the connection was for.
        expected: the pins configured for the host (a tuple of :class:`certpin.Pin`).
        chain: the verified chain as DER bytes, leaf first.
    """

    def __init__(
        self,
        message: str,
        *,
        hostname: str,
        expected: Sequence[object] = (),
        chain: Sequence[bytes] = (),
    ):
        super().__init__(message)
        self.hostname = hostname
        self.expected = tuple(expected)
        self.chain = tuple(chain)


class ProbeError(CertpinError, OSError):
    """A server could not be reached, or the TLS handshake with it failed.

    The message names the host and port.
    """
