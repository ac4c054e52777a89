"""Pin values: parse, format and compute SHA-256 pins of certificates and public keys.

A pin is the SHA-256 digest of either

* the DER ``SubjectPublicKeyInfo`` of a public key: an *SPKI pin*, RFC 7469 ``pin-sha256``,
  written canonically ``sha256/<base64>`` (the OkHttp and Android notation); or
* the whole DER certificate: a *certificate pin*, written ``cert-sha256/<base64>``.

Certificates and keys are read from bytes by :mod:`certpin.certload`. This module is pure: of
certpin it imports only that module and :mod:`certpin.errors`, does no I/O and reads keys and
certificates through :mod:`cryptography` only (no hand-parsed DER).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
from dataclasses import dataclass
from typing import Literal, TypeAlias

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.types import (
    PrivateKeyTypes,
    PublicKeyTypes,
)

from .certload import (
    CRYPTOGRAPHY_ERRORS,
    MAX_RSA_PRIVATE_KEY_BITS,
    load_certificates,
    load_key_source,
    quiet_cryptography,
    require_reproducible_key,
)
from .errors import CertificateError, PinFormatError, escape, quote
from .spkifield import carries_spki

__all__ = [
    "MAX_RSA_PRIVATE_KEY_BITS",
    "Pin",
    "PinKind",
    "cert_pin",
    "load_certificates",
    "parse_pin",
    "spki_der",
    "spki_pin",
]

PinKind: TypeAlias = Literal["spki", "cert"]

#: Anything :func:`spki_pin` accepts.
KeySource: TypeAlias = (
    x509.Certificate | x509.CertificateSigningRequest | PublicKeyTypes | PrivateKeyTypes | bytes
)

_DIGEST_SIZE = 32  # SHA-256
_B64_LEN = 44  # len(base64(32 bytes)), with one "=" of padding
_SPKI_PREFIX = "sha256/"
_CERT_PREFIX = "cert-sha256/"
#: curl's prefix, compared case-sensitively (curl/curl lib/vtls/vtls.c: 7.88.1 line 881,
#: commit 5c61e16869 line 454)
_CURL_PREFIX = "sha256//"
_HEX_RE = re.compile(r"(?:[0-9a-fA-F]{64}|[0-9a-fA-F]{2}(?::[0-9a-fA-F]{2}){31})")
_HPKP_RE = re.compile(r'pin-sha256\s*=\s*"([^"]*)"|pin-sha256\s*=\s*([^"\s;]*)', re.IGNORECASE)
_MAX_QUOTE = 120  # characters of a pin text shown in a message

@dataclass(frozen=True, slots=True, eq=False)
class Pin:
    """One SHA-256 pin: of a public key (``kind="spki"``) or of a whole certificate (``"cert"``).

    Pins are immutable and hashable; ``==`` compares the digests in constant time
    (:func:`hmac.compare_digest`). ``str(pin)`` gives the canonical text, which
    :func:`parse_pin` reads back to an equal pin.

    Attributes:
        kind: ``"spki"`` (RFC 7469 ``pin-sha256`` of the DER SubjectPublicKeyInfo) or ``"cert"``
            (SHA-256 of the DER certificate).
        digest: the 32-byte SHA-256 digest.

    Raises:
        PinFormatError: on construction, if ``kind`` is unknown or ``digest`` is not 32 bytes.
    """

    kind: PinKind
    digest: bytes

    def __post_init__(self) -> None:
        if self.kind not in ("spki", "cert"):
            raise PinFormatError(f"unknown pin kind {self.kind!r}: expected 'spki' or 'cert'")
        if not isinstance(self.digest, bytes) or len(self.digest) != _DIGEST_SIZE:
            size = len(self.digest) if isinstance(self.digest, bytes) else "non-bytes"
            raise PinFormatError(
                f"a SHA-256 pin digest is {_DIGEST_SIZE} bytes, got {size}"
            )

    @property
    def algorithm(self) -> str:
        """The hash algorithm: always ``"sha256"``."""
        return "sha256"

    @property
    def base64(self) -> str:
        """The digest as standard base64 (44 characters), as in HPKP ``pin-sha256``."""
        return base64.b64encode(self.digest).decode("ascii")

    @property
    def hex(self) -> str:
        """The digest as upper-case hex with colons, as ``openssl x509 -fingerprint`` prints."""
        return ":".join(f"{b:02X}" for b in self.digest)

    @property
    def hpkp(self) -> str:
        """The HPKP directive ``pin-sha256="<b64>"`` (RFC 7469 section 2.1.1); SPKI pins only.

        Raises:
            PinFormatError: for a certificate pin, which HPKP cannot express.
        """
        if self.kind != "spki":
            raise PinFormatError(f"{self} is a certificate pin; HPKP holds SPKI pins only")
        return f'pin-sha256="{self.base64}"'

    def __str__(self) -> str:
        prefix = _SPKI_PREFIX if self.kind == "spki" else _CERT_PREFIX
        return prefix + self.base64

    def __repr__(self) -> str:
        return f"Pin({str(self)!r})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Pin):
            return NotImplemented
        return self.kind == other.kind and hmac.compare_digest(self.digest, other.digest)

    def __hash__(self) -> int:
        return hash((self.kind, self.digest))


def _strict_b64(b64: str, original: str) -> bytes:
    """Decode the canonical 44-character base64 form of a 32-byte digest, or raise."""
    if len(b64) != _B64_LEN:
        raise PinFormatError(
            f"invalid pin {quote(original, _MAX_QUOTE)}: the base64 of a SHA-256 digest is "
            f"{_B64_LEN} characters, got {len(b64)}"
        )
    try:
        digest = base64.b64decode(b64.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError, ValueError):
        raise PinFormatError(
            f"invalid pin {quote(original, _MAX_QUOTE)}: not valid base64"
        ) from None
    if len(digest) != _DIGEST_SIZE or base64.b64encode(digest).decode("ascii") != b64:
        raise PinFormatError(
            f"invalid pin {quote(original, _MAX_QUOTE)}: "
            "not the canonical base64 of a 32-byte digest"
        )
    return digest


def parse_pin(text: str) -> Pin:
    """Parse one pin from any of the notations people use.

    Accepted forms (surrounding white space is ignored):

    * ``sha256/<b64>``: SPKI pin, canonical (OkHttp, Android network security config);
    * ``cert-sha256/<b64>``: certificate pin, canonical;
    * ``pin-sha256="<b64>"``: SPKI pin, HPKP directive (RFC 7469 section 2.1.1);
    * ``sha256//<b64>``: SPKI pin, curl ``--pinnedpubkey``, in lower case exactly as curl
      compares it (curl/curl ``lib/vtls/vtls.c``, 7.88.1 line 881: ``SHA256//`` never matches
      in curl and is refused here). A canonical pin whose base64 itself starts with ``/``
      looks alike; the length tells them apart (44 vs 45 characters). Any other stray ``/``
      (``sha256///``, ``cert-sha256//``) leaves base64 that is not 44 characters: refused;
    * 64 hex digits, with or without colons, any case: a certificate SHA-256 fingerprint, as
      ``openssl x509 -noout -fingerprint -sha256`` prints it (``SHA256 Fingerprint=`` prefix
      allowed). Hex is always read as a **certificate pin** (``cert-sha256/``), never an SPKI
      pin: the hex of a public key's SHA-256 gives a pin that matches no certificate. Write SPKI
      pins in base64 (``sha256/<b64>``); ``certpin lint`` names the kind of every pin.

    Base64 is decoded strictly: only the canonical 44-character form of a 32-byte digest.

    Letter case of prefixes: certpin's own prefixes (``sha256/``, ``cert-sha256/``) are read in
    any case (``SHA256/...`` is the same pin; :class:`Pin` always writes lower case), and so is
    ``pin-sha256`` (RFC 7469 section 2.1: directive names are case-insensitive). This is
    certpin's policy-file notation only: a format importer applies its platform's own rule
    (OkHttp and curl refuse an upper-case prefix; see ``docs/rules/``).

    Args:
        text: the pin text.

    Returns:
        The :class:`Pin`.

    Raises:
        PinFormatError: the text is none of the forms above (wrong length, bad base64 or hex,
            another algorithm such as ``sha1/``, empty); the message quotes the text.
    """
    if not isinstance(text, str):
        raise PinFormatError(f"a pin is text, got {type(text).__name__}")
    s = text.strip()
    if not s:
        raise PinFormatError("invalid pin '': empty")
    lower = s.lower()
    if lower.startswith(_CERT_PREFIX):
        return Pin("cert", _strict_b64(s[len(_CERT_PREFIX) :], text))
    if lower.startswith(_SPKI_PREFIX):
        rest = s[len(_SPKI_PREFIX) :]
        if len(rest) == _B64_LEN + 1 and rest.startswith("/"):
            if not s.startswith(_CURL_PREFIX):
                raise PinFormatError(
                    f"invalid pin {quote(text, _MAX_QUOTE)}: curl's prefix is 'sha256//' in lower "
                    "case (curl compares it exactly, lib/vtls/vtls.c, and never matches "
                    "another spelling); certpin's own prefix 'sha256/' takes any case"
                )
            rest = rest[1:]  # curl's sha256//<b64>
        return Pin("spki", _strict_b64(rest, text))
    if lower.startswith("pin-sha256"):
        m = _HPKP_RE.fullmatch(s)
        if m is None:
            raise PinFormatError(
                f'invalid pin {quote(text, _MAX_QUOTE)}: expected pin-sha256="<base64>" (RFC 7469)'
            )
        return Pin("spki", _strict_b64(m.group(1) if m.group(1) is not None else m.group(2), text))
    hex_text = s
    if lower.startswith("sha256 fingerprint="):
        hex_text = s[len("sha256 fingerprint=") :]
    if _HEX_RE.fullmatch(hex_text):
        return Pin("cert", bytes.fromhex(hex_text.replace(":", "")))
    algo = re.match(r"([A-Za-z0-9-]+)[/:=]", s)
    if algo and algo.group(1).lower() not in ("sha256", "cert-sha256", "pin-sha256"):
        raise PinFormatError(
            f"invalid pin {quote(text, _MAX_QUOTE)}: "
            f"algorithm {quote(algo.group(1), None)} is not supported; "
            "certpin pins are SHA-256 (sha256/<base64>)"
        )
    raise PinFormatError(
        f"invalid pin {quote(text, _MAX_QUOTE)}: expected sha256/<base64>, cert-sha256/<base64>, "
        'pin-sha256="<base64>", sha256//<base64> or a hex SHA-256 fingerprint'
    )


_SPKI_ERRORS: tuple[type[Exception], ...] = (AttributeError, *CRYPTOGRAPHY_ERRORS)


def _source_of(obj: KeySource) -> KeySource:
    """``obj``, or what its bytes hold; a key file must be encoded as cryptography writes it."""
    if not isinstance(obj, bytes | bytearray):
        return obj
    source = load_key_source(bytes(obj))
    if not isinstance(source, x509.Certificate | x509.CertificateSigningRequest):
        require_reproducible_key(bytes(obj), source)
    return source


def spki_der(obj: KeySource) -> bytes:
    """Return the DER SubjectPublicKeyInfo of a certificate, CSR, key, or PEM/DER bytes of one.

    Args:
        obj: a :class:`cryptography.x509.Certificate`, ``CertificateSigningRequest``, public key,
            private key (its public half is used), or the PEM/DER bytes of one of them.

    Returns:
        The DER-encoded SubjectPublicKeyInfo (RFC 5280 section 4.1.2.7).

    The result is the SubjectPublicKeyInfo a certificate for the key carries, byte for byte, or
    an error; never a different encoding. cryptography re-encodes what it reads: a certificate or
    CSR whose key it does not write back byte for byte, and a key file (bytes) whose encoding it
    does not write back (RSA-PSS parameters, explicit EC curve parameters, a compressed EC point:
    OpenSSL keeps them in the certificates it makes for such keys), are refused. A key *object*
    has no file encoding: it is pinned as cryptography encodes it.

    A private key given as bytes is read only for its public half: its RSA private values are not
    checked (no work on data a pin does not need), and an RSA private key over
    :data:`MAX_RSA_PRIVATE_KEY_BITS` bits is refused.

    Raises:
        CertificateError: the object cannot be read, an RSA private key is over
            :data:`MAX_RSA_PRIVATE_KEY_BITS` bits, its key algorithm is one that
            cryptography cannot decode, or (for a certificate or CSR) cryptography's encoding of
            the key is not byte for byte the SubjectPublicKeyInfo the certificate holds (RSA-PSS
            or explicit-curve keys), or (for a key file) the file is not encoded as
            cryptography writes the key back (:func:`certpin.certload.require_reproducible_key`):
            a pin of re-encoded bytes would be wrong, so none is given.
    """
    source = _source_of(obj)
    try:
        with quiet_cryptography():
            key: object = source
            if isinstance(source, x509.Certificate | x509.CertificateSigningRequest) or (
                hasattr(source, "public_key") and not hasattr(source, "public_bytes")
            ):
                key = source.public_key()  # also a private key
            der: bytes = key.public_bytes(  # type: ignore[attr-defined]
                serialization.Encoding.DER,
                serialization.PublicFormat.SubjectPublicKeyInfo,
            )
            if isinstance(source, x509.Certificate):
                signed = source.tbs_certificate_bytes
            elif isinstance(source, x509.CertificateSigningRequest):
                signed = source.tbs_certrequest_bytes
            else:
                signed = der
    except UnsupportedAlgorithm as exc:
        raise CertificateError(
            f"cannot compute the SPKI pin: cryptography does not support this key algorithm "
            f"({escape(str(exc))})"
        ) from None
    except _SPKI_ERRORS as exc:
        raise CertificateError(
            f"cannot compute an SPKI pin of {type(obj).__name__}: {escape(str(exc))}"
        ) from None
    if not carries_spki(source, der, signed):
        # cryptography re-encodes the key; for unusual encodings (RSA-PSS parameters, explicit EC
        # curve parameters, compressed EC points) that differs from the bytes in the certificate,
        # which are what RFC 7469 hashes. Refuse rather than return a pin that would never match.
        what = "certificate" if isinstance(source, x509.Certificate) else "CSR"
        raise CertificateError(
            f"cannot compute the SPKI pin: the {what} encodes its public key in a form "
            "(RSA-PSS parameters, explicit EC curve parameters or a compressed EC point) that "
            "cryptography does not reproduce byte for byte; "
            + ("use a certificate pin (cert-sha256) instead" if what == "certificate" else
               "pin the certificate issued for it (cert-sha256) instead")
        )
    return der


def spki_pin(obj: KeySource) -> Pin:
    """Compute the SPKI pin (RFC 7469 ``pin-sha256``): SHA-256 of the DER SubjectPublicKeyInfo.

    Equal to ``openssl x509 -pubkey -noout | openssl pkey -pubin -outform der |
    openssl dgst -sha256 -binary | base64``.

    Args:
        obj: a certificate, CSR, public key, private key (RSA, EC, Ed25519, Ed448, DSA, ...), or
            PEM/DER bytes of one of them.

    Returns:
        A :class:`Pin` of kind ``"spki"``.

    Raises:
        CertificateError: as :func:`spki_der`.
    """
    return Pin("spki", hashlib.sha256(spki_der(obj)).digest())


def cert_pin(obj: x509.Certificate | bytes) -> Pin:
    """Compute the certificate pin: SHA-256 of the DER certificate.

    Equal to ``openssl x509 -noout -fingerprint -sha256`` (as base64 instead of hex).

    Args:
        obj: a :class:`cryptography.x509.Certificate`, or the PEM/DER bytes of exactly one.

    Returns:
        A :class:`Pin` of kind ``"cert"``.

    Raises:
        CertificateError: the object is not a certificate (a key or CSR has no certificate pin)
            or the bytes do not hold exactly one certificate.
    """
    if isinstance(obj, bytes | bytearray):
        certs = load_certificates(bytes(obj))
        if len(certs) != 1:
            raise CertificateError(
                f"the data holds {len(certs)} certificates; pin one at a time"
            )
        obj = certs[0]
    if not isinstance(obj, x509.Certificate):
        raise CertificateError(
            f"a certificate pin needs a certificate, got {type(obj).__name__}; "
            "use spki_pin for keys and CSRs"
        )
    return Pin("cert", hashlib.sha256(obj.public_bytes(serialization.Encoding.DER)).digest())
