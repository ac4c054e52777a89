"""curl's ``--pinnedpubkey`` (libcurl ``CURLOPT_PINNEDPUBLICKEY``), read exactly as curl reads it.

Every rule below is curl's, cited at two tags of github.com/curl/curl: ``curl-7_88_1`` (Debian 12's
curl, the one the differential test runs) and ``curl-8_21_0``. The table with every rule is
``docs/rules/curl.md``.

* A value is a list of hashes only if it starts with exactly ``sha256//``, in lower case
  (``lib/vtls/vtls.c``: 7.88.1 line 881, 8.21.0 line 457). Anything else, ``SHA256//...`` and
  `` sha256//...`` included, is the path of a PEM or DER public key file (7.88.1 line 952, 8.21.0
  line 517): certpin does not open files named in an import.
* curl compares the text of each entry, byte for byte, with the standard padded base64 of the
  SHA-256 of the leaf certificate's SubjectPublicKeyInfo (7.88.1 lines 932-933, 8.21.0 lines
  496-497; the key is the leaf's, ``lib/vtls/openssl.c`` 7.88.1 lines 4039-4061 and 4278, 8.21.0
  lines 4393-4415 and 4587), so imported pins get the role ``"leaf"`` and the export refuses
  role ``"ca"``. An entry that is not the canonical 44-character base64 of 32 bytes (a stray
  ``/`` from ``sha256///``, white space, URL-safe base64, no padding) never matches.
* How entries are separated changed in curl 8.18.0 (commit 9f979ea683, "vtls: pinned key check").
  Before, curl splits only at the exact text ``;sha256//`` (7.88.1 lines 923 and 944): in
  ``sha256//A; sha256//B`` the one entry is ``A; sha256//B`` and nothing matches, and a trailing
  ``;`` stays in the last entry. From 8.18.0 an entry ends at the next ``;`` and reading stops at
  the first entry that does not start with ``sha256//`` (8.21.0 lines 488-506): the same value
  then matches ``A`` and ignores ``B``.

certpin imports a value only when every curl version reads the same entries from it and every
entry can match; otherwise it refuses, saying what curl does with it.
"""

from __future__ import annotations

import base64
import binascii
import re

from ..errors import ConfigError, PolicyError, quote
from ..pins import Pin
from ..policy import PinPolicy
from ._common import ExportResult, Lossy, as_text, bounded_pin_set
from .headers import host_pattern, no_set, select_host

__all__ = ["CURL_SPLIT_CHANGED", "curl_hashes", "curl_reading_error", "from_curl", "to_curl"]

#: The first curl release that ends an entry at any ``;`` (commit 9f979ea683). Older releases
#: (7.44.0 to 8.17.0) split only at the exact text ``;sha256//``.
CURL_SPLIT_CHANGED: tuple[int, int, int] = (8, 18, 0)

_PREFIX = "sha256//"
_B64_LEN = 44  # base64 of 32 bytes, padded
_B64_RE = re.compile(r"[A-Za-z0-9+/]{43}=")
_VTLS = "curl lib/vtls/vtls.c, Curl_pin_peer_pubkey"
_LOCKED = ("curl matches no key with it: every connection fails with exit 90 "
           "(CURLE_SSL_PINNEDPUBKEYNOTMATCH)")
_SHELL_SPECIAL = set(" \t\n;&|<>()$`\\\"'*?[]#~{}!")


def curl_hashes(value: str,
                version: tuple[int, ...] = CURL_SPLIT_CHANGED) -> tuple[str, ...] | None:
    """The entries curl ``version`` compares with a server key's hash, for ``value``.

    A model of ``Curl_pin_peer_pubkey`` (``lib/vtls/vtls.c``: curl-7_88_1 lines 881-947,
    curl-8_21_0 lines 457-509), used by the importer and checked against the real curl by
    ``tests/config/test_config_curl_differential.py``.

    Args:
        value: the ``--pinnedpubkey`` argument exactly as curl receives it.
        version: the curl version, e.g. ``(7, 88, 1)``; the reading changed at
            :data:`CURL_SPLIT_CHANGED`.

    Returns:
        The entry texts in order (each is compared whole with the 44-character base64 of the
        SHA-256 of the leaf's SubjectPublicKeyInfo; the key matches if one is equal), or None
        when curl reads ``value`` as the path of a key file.
    """
    if not value.startswith(_PREFIX):
        return None
    if tuple(version) < CURL_SPLIT_CHANGED:
        return tuple(value[len(_PREFIX):].split(";" + _PREFIX))
    entries: list[str] = []
    pos = 0
    while value.startswith(_PREFIX, pos):
        pos += len(_PREFIX)
        end = value.find(";", pos)
        entries.append(value[pos:] if end < 0 else value[pos:end])
        if end < 0:
            break
        pos = end + 1
    return tuple(entries)


def _can_match(entry: str) -> bool:
    """Whether ``entry`` is the canonical base64 of a 32-byte digest, the only text curl's
    encoder produces (curl-7_88_1 ``lib/base64.c`` lines 46-47 and 264-267; curl-8_21_0
    ``lib/curlx/base64.c`` lines 32-33 and 241-244)."""
    if not _B64_RE.fullmatch(entry):
        return False
    try:
        return base64.b64encode(base64.b64decode(entry, validate=True)).decode() == entry
    except (binascii.Error, ValueError):  # pragma: no cover - the pattern rules these out
        return False


def _why_dead(entry: str) -> str:
    """Why ``entry`` can never equal curl's base64 hash."""
    if not entry:
        return "it is empty"
    if entry.startswith("/") and _can_match(entry[1:]):
        return ("it starts with '/': 'sha256///' has one '/' too many, so curl compares "
                "45 characters with the 44-character hash")
    if any(ch.isspace() for ch in entry):
        return "it holds white space, which curl compares too"
    if len(entry) != _B64_LEN:
        return f"it is {len(entry)} characters, and the hash is {_B64_LEN}"
    if not _B64_RE.fullmatch(entry):
        return ("it is not standard padded base64 (A-Z a-z 0-9 + / and a final '='); "
                "curl compares text, so another spelling of the same bytes never matches")
    return ("it is not the canonical base64 of 32 bytes (its last character carries bits "
            "curl's encoder never sets)")


def _file_error(value: str) -> str:
    """Why ``value`` (not starting with ``sha256//``) is a key file name to curl."""
    as_file = (f"curl reads {quote(value, 80)} as the name of a public key file (PEM or DER), "
               f"not as "
               f"hashes: only a value starting with exactly 'sha256//' is a list of hashes "
               f"({_VTLS}: curl-7_88_1 line 881, curl-8_21_0 line 457)")
    if value[:len(_PREFIX)].lower() == _PREFIX:
        return (f"{as_file}, and 'sha256//' must be lower case; with no file of that name "
                f"{_LOCKED}")
    if value.lstrip().startswith(_PREFIX):
        return f"{as_file}; remove the white space before 'sha256//'"
    if value.lower().startswith(("sha256/", "pin-sha256")):
        return f"{as_file}; curl's hashes are written sha256//<base64>, with two slashes"
    return (f"{as_file}; certpin does not open files named in an import: print "
            "the key's pin with 'certpin pins FILE' and import sha256//<base64>")


def _split_error(value: str, old: tuple[str, ...], new: tuple[str, ...]) -> str:
    """Why curl before and since 8.18.0 read different entries from ``value``."""
    at = next(i for i in range(len(_PREFIX), len(value))
              if value[i] == ";" and not value.startswith(_PREFIX, i + 1))
    old_entry = old[len(new) - 1]
    since = ".".join(map(str, CURL_SPLIT_CHANGED))
    if at == len(value) - 1:
        return (f"the value ends with ';': curl before {since} compares "
                f"{quote(old_entry, 60)} (with the ';') as the last pin, which never matches, "
                f"while curl {since} and later ignore the ';' ({_VTLS}: curl-7_88_1 line 923, "
                f"curl-8_21_0 line 491); remove the trailing ';'")
    tail = value[at + 1:]
    fix = ("remove the white space after ';'" if tail.lstrip().startswith(_PREFIX)
           else "join pins as sha256//<base64>;sha256//<base64>")
    return (f"';' at character {at + 1} is not followed by 'sha256//': curl before {since} "
            f"splits pins only at the exact text ';sha256//' and reads {quote(old_entry, 60)} "
            f"as one pin, which never matches, while curl {since} and later stop reading at "
            f"that ';' and ignore {quote(tail, 60)} ({_VTLS}: curl-7_88_1 lines 923 and 944, "
            f"curl-8_21_0 lines 488-506); {fix}")


def curl_reading_error(value: str) -> str | None:
    """Why certpin cannot import ``value`` as what curl means, or None if it can.

    None means every curl version (7.44.0 and later) reads the same entries from ``value`` and
    each can match a key. The message says what curl does with the value instead.
    """
    if not value:
        return "the value is empty: curl has no pin to compare (nothing to import)"
    new = curl_hashes(value)
    if new is None:
        return _file_error(value)
    old = curl_hashes(value, (8, 17, 0))
    assert old is not None  # the same prefix test
    if old != new:
        return _split_error(value, old, new)
    dead = [(i, e) for i, e in enumerate(new) if not _can_match(e)]
    if not dead:
        return None
    i, entry = dead[0]
    rest = (_LOCKED if len(dead) == len(new)
            else "curl would accept only the keys of the other pins")
    return (f"pin {i + 1} {quote(entry, 60)} can never match in curl: {_why_dead(entry)} "
            f"({_VTLS}: curl-7_88_1 lines 932-933, curl-8_21_0 lines 496-497); {rest}")


def _unwrap(text: str, source: str | None) -> str:
    """The argument curl receives, from the text of an import file.

    One final line break is the file's, not the value's. ``--pinnedpubkey VALUE`` and a value
    in single or double shell quotes are unwrapped when the shell would pass the quoted text
    unchanged; anything the shell would split or expand is refused.
    """
    if text.endswith("\r\n"):
        text = text[:-2]
    elif text.endswith("\n"):
        text = text[:-1]
    option = re.match(r"--pinnedpubkey(?=[\s=]|$)", text)
    if option is None:
        return _unquote(text, text, source, option=False)
    rest = text[option.end():]
    if rest.startswith("="):
        raise ConfigError("curl's command line has no --pinnedpubkey=VALUE form (curl exits 2: "
                          "option is unknown): write --pinnedpubkey VALUE", path=source)
    return _unquote(rest.lstrip(" \t"), text, source, option=True)


def _unquote(word: str, text: str, source: str | None, *, option: bool) -> str:
    """``word`` as one shell word would pass it, or a ConfigError if the shell would change it."""
    if len(word) >= 2 and word[0] == word[-1] and word[0] in "'\"":
        inner = word[1:-1]
        banned = "'" if word[0] == "'" else "\"\\$`"
        if not any(ch in banned for ch in inner):
            return inner
        raise ConfigError(f"cannot tell what the shell passes to curl from {quote(text, 80)}: "
                          "quoting inside the quotes", path=source)
    if option and any(ch in _SHELL_SPECIAL for ch in word):
        raise ConfigError(f"unquoted, the shell would split or expand {quote(word, 80)} "
                          "before curl sees it: put the value in single quotes", path=source)
    return word


def from_curl(value: str | bytes, host: str, *, source: str | None = None,
              warnings: list[str] | None = None) -> PinPolicy:
    """Import a curl ``--pinnedpubkey`` argument (``sha256//<b64>;sha256//<b64>``) for ``host``.

    The text is the argument as curl receives it; one final line break, a leading
    ``--pinnedpubkey`` and single or double shell quotes around the value are allowed. Only what
    every curl version reads the same way is imported (see the module docstring, and
    ``docs/rules/curl.md`` for each rule's source line).

    Args:
        value: the argument (at most 1 MiB).
        host: the host pattern curl connects to.
        source: a file name for messages.
        warnings: receives a warning for each pin listed twice (imported once).

    Returns:
        A policy with one enforced pin set; every pin has the role ``"leaf"`` (curl compares
        them with the leaf certificate's key only: ``lib/vtls/openssl.c``, curl-7_88_1 lines
        4039-4061 and 4278, curl-8_21_0 lines 4393-4415 and 4587); ``allow_single_pin`` is set
        exactly when there is one distinct pin (curl accepts one).

    Raises:
        ConfigError: a value curl reads as a key file name (``SHA256//``, leading white space,
            a path), an entry that can never match (a stray ``/``, white space, wrong length,
            not canonical base64), a separator that curl before and since 8.18.0 read
            differently (``; sha256//``, a trailing ``;``), shell text the shell would change,
            a bad host, more than 64 pins. The message says what curl does with the value.
    """
    text = as_text(value, source)
    arg = _unwrap(text, source)
    pattern = host_pattern(host, source)
    problem = curl_reading_error(arg)
    if problem is not None:
        raise ConfigError(problem, path=source)
    entries = curl_hashes(arg)
    assert entries is not None
    pins: dict[Pin, None] = {}  # ordered, and linear in the number of entries
    for entry in entries:
        pin = Pin("spki", base64.b64decode(entry))
        if pin in pins and warnings is not None:
            warnings.append(f"{pattern}: pin sha256//{entry} is listed twice; imported once")
        pins[pin] = None
    try:
        pin_set = bounded_pin_set(list(pins), allow_single_pin=len(pins) < 2,
                                  roles=dict.fromkeys(pins, "leaf"))
        return PinPolicy({pattern: pin_set})
    except PolicyError as exc:
        raise ConfigError(str(exc), path=source) from None


def to_curl(policy: PinPolicy, host: str | None = None, *, lossy: bool = False) -> ExportResult:
    """Export one pin set as a curl ``--pinnedpubkey`` argument: ``sha256//<b64>`` entries
    joined by ``;`` with nothing else, which every curl version reads alike (see the module
    docstring).

    curl checks the public key of the leaf certificate only: a pin with the role ``"leaf"`` is
    exported exactly; a pin without a role is exported with a note (curl never matches it if it
    is an intermediate's or a root's key). Not expressible: report-only, certificate pins and
    pins with the role ``"ca"`` (always an error: curl would never match them, and without them
    curl would refuse chains certpin passes), include_subdomains, expiry and report URIs
    (``lossy`` drops them).

    Returns:
        The :class:`ExportResult`; its text is never empty.

    Raises:
        PolicyError: no host chosen / unknown host.
        ExportError: a rule cannot be expressed, or no pin would be left.
    """
    pattern, ps = select_host(policy, host, "curl")
    lx = Lossy("curl", lossy)
    if not ps.enforce:
        raise no_set("curl", pattern, "report-only (curl always enforces)")
    if any(p.kind != "spki" for p in ps.all_pins):
        raise no_set("curl", pattern, "certificate pins (curl pins public keys only)")
    ca = [str(p) for p in ps.all_pins if ps.role_of(p) == "ca"]
    if ca:
        raise no_set("curl", pattern, f"pins with role 'ca' ({', '.join(ca)}): curl compares "
                     "the leaf certificate's key only, so they would never match")
    if ps.include_subdomains:
        lx.add(pattern, "include_subdomains (curl pins one connection)",
               "use the argument for each host yourself")
    if ps.expires is not None:
        lx.add(pattern, "expires (curl always enforces)", "expiry dropped")
    if ps.report_uris:
        lx.add(pattern, "report_uris (curl sends no reports)", "report URIs dropped")
    text = ";".join(f"{_PREFIX}{p.base64}" for p in ps.all_pins)
    if text and curl_reading_error(text) is not None:  # pragma: no cover - canonical base64
        raise no_set("curl", pattern, "a pin curl would read differently")
    notes = [] if all(ps.role_of(p) == "leaf" for p in ps.all_pins) else [
        "curl checks the public key of the leaf certificate only: pins of intermediate or "
        "root CAs never match in curl",
    ]
    return lx.finish(text + "\n", notes, pinned=[pattern] if text else [])
