"""What OkHttp's ``CertificatePinner`` makes of one pattern and one pin, for the OkHttp importer.

The rule: accept nothing OkHttp refuses; refuse, with the reason, what OkHttp accepts but means
something certpin cannot hold (a SHA-1 pin, a hash that can never match, a pattern whose meaning
differs between OkHttp 3 and 4); accept a lenient spelling that OkHttp reads as the same pin,
with a warning naming the canonical form. Sources (docs/rules/okhttp.md has the whole table):

* OkHttp 3.13.1 (Debian's ``libokhttp-java``), square/okhttp tag ``parent-3.13.1``,
  ``okhttp/src/main/java/okhttp3/CertificatePinner.java``: the pattern is the host of the URL
  ``"http://" + pattern`` (lines 270-272); a pin must start with ``sha1/`` or ``sha256/``, case
  sensitive (273-281), and its rest must decode as base64 (283-285), of any length; ``*.``
  matches the one label before the name, and for a one-label name the name itself too (288-294);
  anything else is compared literally (296).
* OkHttp 4.3.0 (tag ``parent-4.3.0``, ``okhttp/src/main/java/okhttp3/CertificatePinner.kt``):
  ``*`` only as ``*.`` or ``**.`` in front (324-328), the pattern canonicalised as a host name
  (329-330), ``**.`` the name and every subdomain (260-266), ``*.`` exactly one label (267-273).
  The latest tag, ``parent-5.4.0``, keeps these rules
  (``okhttp/src/commonJvmAndroid/kotlin/okhttp3/CertificatePinner.kt`` 265-289, 293-314).
* okio's base64 decoder (square/okio ``okio-parent-1.16.0``, ``okio/src/main/java/okio/Base64.java``
  29-108; the same in ``parent-3.17.0`` ``okio/src/commonMain/kotlin/okio/Base64.kt`` 32-114):
  trailing ``=`` and white space dropped, white space skipped, ``-``/``_`` read as ``+``/``/``,
  the unused low bits of the last character ignored, null (OkHttp throws) for anything else.

Nothing here is public API.
"""

from __future__ import annotations

import base64
import ipaddress

from ..errors import PinFormatError, PolicyError, quote
from ..hostnames import normalize_pattern
from ..pins import Pin

__all__ = ["okio_base64", "read_pattern", "read_pin"]

_WS = " \t\r\n"  # the white space okio skips (Base64.java:34, 68)
_DIGEST_SIZE = 32
_URL_CHARS = "/?#@%\\:"  # what HttpUrl parses as URL syntax around the host


def _sextet(c: str) -> int | None:
    """The 6 bits of one base64 character as okio reads it (Base64.java:49-72), or None."""
    if "A" <= c <= "Z":
        return ord(c) - 65
    if "a" <= c <= "z":
        return ord(c) - 71
    if "0" <= c <= "9":
        return ord(c) + 4
    return {"+": 62, "-": 62, "/": 63, "_": 63}.get(c)


def okio_base64(text: str) -> bytes | None:
    """Decode base64 exactly as okio's ``ByteString.decodeBase64`` does (OkHttp's pin decoder).

    Args:
        text: the base64 text after ``sha256/`` or ``sha1/``.

    Returns:
        The bytes (any length, empty for ``""``), or None where okio returns null and OkHttp
        throws: a character outside both alphabets and white space, ``=`` before the end, or
        one character left over in the last group. Source: okio ``okio-parent-1.16.0``
        ``okio/src/main/java/okio/Base64.java`` lines 29-108.
    """
    limit = len(text)
    while limit > 0 and (text[limit - 1] == "=" or text[limit - 1] in _WS):
        limit -= 1  # Base64.java:30-37
    out = bytearray()
    word = count = 0
    for c in text[:limit]:
        if c in _WS:
            continue  # Base64.java:68-69
        bits = _sextet(c)
        if bits is None:
            return None  # Base64.java:70-71
        word = ((word << 6) | bits) & 0xFFFFFF
        count += 1
        if count % 4 == 0:
            out += word.to_bytes(3, "big")
    rest = count % 4
    if rest == 1:
        return None  # Base64.java:87-89
    if rest == 2:
        out.append((word << 12 >> 16) & 0xFF)  # Base64.java:90-93
    elif rest == 3:
        out += ((word << 6 >> 8) & 0xFFFF).to_bytes(2, "big")  # Base64.java:94-98
    return bytes(out)


def _refused(text: str, why: str) -> PinFormatError:
    return PinFormatError(f"OkHttp refuses the pin {quote(text, 80)}: {why}")


def _prefix_hint(text: str) -> str:
    """Why a pin that does not start with ``sha256/`` or ``sha1/`` is refused (a hint)."""
    lower = text.lower()
    base = "a pin must start with 'sha256/' or 'sha1/' (OkHttp throws IllegalArgumentException)"
    if lower.startswith(("sha256/", "sha1/")):
        return base + "; write the prefix in lower case"
    if lower.startswith("pin-sha256"):
        return base + "; pin-sha256=\"...\" is the HPKP form: write sha256/<base64>"
    if lower.startswith("cert-sha256/"):
        return base + "; OkHttp pins public keys only, a certificate pin cannot be written for it"
    if text[:1].isspace() and text.strip().lower().startswith(("sha256/", "sha1/")):
        return base + "; OkHttp does not strip white space in front of it"
    return base


def _lenient_reasons(body: str, digest: bytes) -> list[str]:
    """How ``body`` differs from the canonical base64 of ``digest`` (all okio reads alike)."""
    reasons = []
    if any(c in body for c in "-_"):
        reasons.append("URL-safe '-' or '_'")
    if any(c in body for c in _WS):
        reasons.append("white space")
    bare = "".join(c for c in body if c not in _WS)
    if not bare.endswith("="):
        reasons.append("no '=' padding")
    elif bare.endswith("=="):
        reasons.append("extra '='")
    plain = bare.rstrip("=").replace("-", "+").replace("_", "/") + "="
    if plain != base64.b64encode(digest).decode("ascii"):
        reasons.append("non-zero trailing bits, which okio ignores")
    return reasons


def read_pin(text: str) -> tuple[Pin, str | None]:
    """Read one pin of an ``.add(pattern, pin, ...)`` call as OkHttp does.

    Args:
        text: the pin text, exactly as the string literal holds it.

    Returns:
        The SPKI :class:`~certpin.Pin` and None, or, for a spelling OkHttp reads as the same
        32 bytes but that is not the canonical 44-character base64 (URL-safe characters, no or
        extra padding, white space, non-zero trailing bits), the pin and a warning naming the
        canonical form.

    Raises:
        PinFormatError: OkHttp refuses the pin (no case-sensitive ``sha256/`` or ``sha1/``
            prefix; not base64 as okio reads it), or OkHttp accepts it but certpin cannot hold
            it: a ``sha1/`` pin, or a ``sha256/`` hash that is not 32 bytes (OkHttp keeps it and
            it never matches; a stray leading ``/`` from curl's ``sha256//`` is one of these).
    """
    if text.startswith("sha256/"):
        algorithm, body = "sha256", text[len("sha256/"):]
    elif text.startswith("sha1/"):
        algorithm, body = "sha1", text[len("sha1/"):]
    else:
        raise _refused(text, _prefix_hint(text))
    digest = okio_base64(body)
    if digest is None:
        raise _refused(text, "not base64 as okio decodes it (OkHttp throws 'pins must be "
                             "base64')")
    shown = quote(text, 80)
    if algorithm == "sha1":
        raise PinFormatError(
            f"{shown} is a SHA-1 pin: OkHttp accepts it, but SHA-1 pins are not supported by "
            "certpin (SHA-256 only); use the sha256/ pin of the same key"
        )
    if len(digest) != _DIGEST_SIZE:
        why = (f"{shown} decodes to {len(digest)} bytes, not {_DIGEST_SIZE}: OkHttp accepts it, "
               "but a SHA-256 hash is 32 bytes, so it never matches any key")
        if body.startswith("/") and len(digest) == _DIGEST_SIZE + 1:
            why += ("; a stray leading '/' (curl writes sha256//): OkHttp reads the '/' as "
                    "base64 data; write sha256/<base64>")
        raise PinFormatError(why)
    pin = Pin("spki", digest)
    reasons = _lenient_reasons(body, digest)
    if not reasons:
        return pin, None
    return pin, (f"{shown} is not the canonical base64 ({', '.join(reasons)}): OkHttp (okio) "
                 f"reads it as {pin}; imported as that pin")


def _pattern_error(text: str, why: str) -> PolicyError:
    return PolicyError(f"OkHttp pattern {quote(text, 80)}: {why}")


def _check_characters(text: str) -> None:
    """Refuse white space and URL syntax, which OkHttp 3 and 4 read differently."""
    if any(c.isspace() or ord(c) < 0x20 or c == "\x7f" for c in text):
        raise _pattern_error(text, "white space or a control character: OkHttp 4 refuses it, "
                                   "OkHttp 3 refuses it in front and drops it at the end; "
                                   "write the bare host name")
    if text.startswith("[") and text.endswith("]"):
        return  # an IPv6 literal in brackets: both read it (normalize_pattern checks it)
    if ":" in text:
        try:
            ipaddress.IPv6Address(text)
        except ValueError:
            pass
        else:
            raise _pattern_error(text, "an IPv6 address without brackets: OkHttp 3 reads "
                                       f"'http://{text}' as a host and a port and throws; "
                                       f"write [{text}]")
    if any(c in text for c in _URL_CHARS):
        raise _pattern_error(
            text, f"OkHttp 3 reads it as the URL 'http://{text}' and pins only the host in it, "
                  "OkHttp 4 refuses it; write the bare host name")


def read_pattern(text: str, *, okhttp4: bool = False) -> tuple[str, bool, str | None]:
    """Read the pattern of an ``.add(pattern, ...)`` call as OkHttp does.

    Args:
        text: the pattern, exactly as the string literal holds it.
        okhttp4: the code is for OkHttp 4.3 or later (it starts with certpin's line ``//
            certpin: for OkHttp >= 4.3``): ``*.`` over a one-label name is then read as
            OkHttp 4 reads it, and ``**.`` needs no warning.

    Returns:
        ``(name, include_subdomains, warning)``: the certpin pattern (``"a.test"``,
        ``"*.a.test"``; lower case, A-labels) and, for ``**.a.test``, ``include_subdomains``
        True with (unless ``okhttp4``) a warning that OkHttp 3 reads ``**.`` literally and
        pins nothing there.

    Raises:
        PolicyError: OkHttp refuses the pattern, or reads it in a way certpin cannot hold or
            that differs between OkHttp 3 and 4: empty; white space; URL syntax (a port, path,
            user, ``%``); an unbracketed IPv6 address; ``*`` anywhere but a leading ``*.`` or
            ``**.``; a trailing dot (OkHttp keeps it, so only the dotted spelling is pinned);
            ``*.`` over a one-label name (OkHttp 3 also matches the name itself; unless
            ``okhttp4``); and whatever
            :func:`certpin.hostnames.normalize_pattern` refuses (non-LDH labels, IDNA
            deviation characters).
    """
    if not isinstance(text, str):
        raise PolicyError(f"a pattern must be text, got {type(text).__name__}")
    _check_characters(text)
    star = "**." if text.startswith("**.") else "*." if text.startswith("*.") else ""
    name = text[len(star):]
    if not name:
        raise _pattern_error(text, "an empty host name: OkHttp throws 'Invalid URL host'")
    if "*" in name:
        raise _pattern_error(
            text, "'*' is allowed only as '*.' or '**.' in front: OkHttp 3 reads any other '*' "
                  "as a literal character (the pattern matches no host) and OkHttp 4 throws "
                  "'Unexpected pattern'")
    if name.endswith("."):
        raise _pattern_error(
            text, "a trailing dot: OkHttp keeps it (java.net.IDN), so the pattern pins only URLs "
                  f"spelled with the dot and never '{name[:-1]}'; write it without the dot")
    try:
        certpin_name = normalize_pattern(text if star == "*." else name)
    except PolicyError as exc:
        raise _pattern_error(text, str(exc)) from None
    if star == "*.":
        wild = certpin_name
        if "." not in wild[2:] and not okhttp4:
            raise _pattern_error(
                text, f"OkHttp 3's '*.' also matches '{wild[2:]}' itself, OkHttp 4's does not "
                      "(one meaning cannot be given); write the hosts you mean as exact names, "
                      "or start code for OkHttp >= 4.3 with the line '// certpin: for OkHttp "
                      ">= 4.3'")
        return wild, False, None
    exact = certpin_name
    if not star or okhttp4:
        return exact, bool(star), None
    return exact, True, (
        f"'**.{exact}' means {exact} and every subdomain in OkHttp >= 4.3; OkHttp 3 reads "
        "'**.' as a literal name and pins nothing there (imported with the OkHttp 4.3 meaning)"
    )
