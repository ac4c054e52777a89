"""Apple's reading of ``NSPinnedDomains``, shared by the iOS importer and exporter. Pure.

Nothing here is public API. Sources (Apple's Security project, apple-oss-distributions/Security
at db15acbe, tag Security-61901.0.87.0.1; APSL 2.0), cited by file and line:

* ``OSX/sec/Security/SecPolicy.c:1517`` ``parseNSPinnedDomains``: for one host and one key
  (``NSPinnedLeafIdentities`` or ``NSPinnedCAIdentities``) it strips the host's trailing dot
  (1523-1530), then walks **every** domain entry: an entry matches when its key equals the
  host ignoring case (1540), or when its ``NSIncludesSubdomains`` is exactly ``true``
  (``kCFBooleanTrue``, 1545) and its key equals the host's parent, the host minus its first
  label (:func:`parent_domain`, ``CopyParentDomainNameFromHostName`` at 1498). The identities of
  **all** matching entries are appended to one array (1570); a matching entry holding the key
  makes the host pinned even if none of its identities can be read (1555-1556).
* ``OSX/sec/Security/SecPolicy.c:1622`` ``SecPolicyAddATSpinningIfInfoSpecified``: the leaf
  array and the CA array become two separate checks, both of which must pass (an AND).
* ``trust/trustd/SecPolicyServer.c:875`` ``SecPolicyCheckLeafSPKISHA256``: the leaf (position 0)
  SPKI digest must be in the leaf array (an empty array matches nothing);
  ``SecPolicyServer.c:838`` ``SecPolicyCheckCAspkiSHA256``: some certificate at positions
  ``1..count-1`` must have its SPKI digest in the CA array (a one-certificate chain fails).
* ``OSX/sec/Security/SecBase64.c:258`` ``SecBase64Decode_`` (called with
  ``kSecB64_F_STOP_ON_NOTHING`` at 460 by ``CreateCFDataFromBase64CFString``,
  ``SecPolicy.c:1466``): characters outside the alphabet are skipped, decoding stops after a
  padded group, a trailing partial group is dropped; an empty result skips the entry (1485).

Apple's documentation of the keys ("Discussion" of each page under
https://developer.apple.com/documentation/bundleresources/information-property-list/):
``nsapptransportsecurity/nspinneddomains`` (a dictionary of domain names; "If you specify both,
App Transport Security (ATS) requires a match in each category"), ``nsincludessubdomains``
(subdomains "that have one additional path component"), ``nspinnedcaidentities`` and
``nspinnedleafidentities`` (arrays of dictionaries holding ``SPKI-SHA256-BASE64``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from ..pins import Pin

DOCS = "https://developer.apple.com/documentation/bundleresources/information-property-list/"
LEAF_KEY = "NSPinnedLeafIdentities"
CA_KEY = "NSPinnedCAIdentities"
SUBDOMAINS_KEY = "NSIncludesSubdomains"
SPKI_KEY = "SPKI-SHA256-BASE64"

#: the two keys of a domain entry that hold identities, with the certpin role each gives
ROLE_OF_KEY = {LEAF_KEY: "leaf", CA_KEY: "ca"}


@dataclass(frozen=True)
class AtsDomain:
    """One ``NSPinnedDomains`` entry as Apple reads it.

    Attributes:
        name: the domain key, lower case (Apple compares ignoring case, SecPolicy.c:1540).
        includes_subdomains: ``NSIncludesSubdomains`` is exactly true (SecPolicy.c:1545).
        leaf: the leaf identities, or None when the key is absent.
        ca: the CA identities, or None when the key is absent.
    """

    name: str
    includes_subdomains: bool
    leaf: tuple[Pin, ...] | None
    ca: tuple[Pin, ...] | None


@dataclass(frozen=True)
class Applied:
    """What Apple enforces for one host: the two arrays (None: that check is not added; each
    in the order Apple appends them, without repeats) and the names of the entries they came
    from."""

    leaf: tuple[Pin, ...] | None
    ca: tuple[Pin, ...] | None
    sources: tuple[str, ...]

    def key(self) -> tuple[frozenset[Pin] | None, frozenset[Pin] | None]:
        """The two arrays as sets, for comparing what is enforced."""
        return (None if self.leaf is None else frozenset(self.leaf),
                None if self.ca is None else frozenset(self.ca))

    @property
    def pinned(self) -> bool:
        """Whether either check applies (SecPolicy.c:1583-1586 returns NULL otherwise)."""
        return self.leaf is not None or self.ca is not None


def parent_domain(host: str) -> str | None:
    """The host minus its first label, as ``CopyParentDomainNameFromHostName``
    (SecPolicy.c:1498-1515): None when there is no dot or the only dot is the last character."""
    dot = host.find(".")
    if dot < 0 or dot >= len(host) - 1:
        return None
    return host[dot + 1:]


def entries_by_name(domains: Iterable[AtsDomain]) -> dict[str, list[AtsDomain]]:
    """The entries by name, each list in the order given: what :func:`applied` looks a host
    up in (built once, so that the applied arrays of every host cost linear time, not the
    entries times the hosts)."""
    out: dict[str, list[AtsDomain]] = {}
    for d in domains:
        out.setdefault(d.name, []).append(d)
    return out


def applied(domains: Mapping[str, Sequence[AtsDomain]], host: str) -> Applied:
    """Apple's two arrays for ``host`` (SecPolicy.c:1517-1587, once per key).

    Args:
        domains: the entries by name (names in lower case), as :func:`entries_by_name` makes
            them.
        host: a host name; lower-cased here, one trailing dot stripped (SecPolicy.c:1523).
    """
    host = host.lower()
    if host.endswith("."):
        host = host[:-1]
    parent = parent_domain(host)
    leaf: dict[Pin, None] | None = None  # ordered sets
    ca: dict[Pin, None] | None = None
    sources: list[str] = []
    mine = list(domains.get(host, ()))  # the host's own entry first
    above = [] if parent is None else [d for d in domains.get(parent, ())
                                       if d.includes_subdomains]
    for d in mine + above:
        if d.leaf is not None:
            leaf = {**(leaf or {}), **dict.fromkeys(d.leaf)}
        if d.ca is not None:
            ca = {**(ca or {}), **dict.fromkeys(d.ca)}
        if d.leaf is not None or d.ca is not None:
            sources.append(d.name)
    return Applied(None if leaf is None else tuple(leaf), None if ca is None else tuple(ca),
                   tuple(sources))


def by_name(domains: Iterable[AtsDomain]) -> Mapping[str, AtsDomain]:
    """The entries keyed by name."""
    return {d.name: d for d in domains}


_B64 = {c: i for i, c in enumerate(
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")}


def apple_base64(text: str) -> bytes | None:
    """What ``CreateCFDataFromBase64CFString`` (SecPolicy.c:1466) makes of ``text``: the bytes
    ``SecBase64Decode`` yields (SecBase64.c:258-391, nothing stops it), or None when Apple
    skips the entry (empty string or no byte decoded, SecPolicy.c:1476-1485)."""
    raw = text.encode("utf-8", "surrogatepass")
    if not raw:
        return None
    out = bytearray()
    idx: list[int] = []
    pads = 0
    for byte in raw:
        ch = chr(byte)
        if ch == "=":
            idx.append(0)
            pads += 1
        elif ch in _B64:
            pads = 0
            idx.append(_B64[ch])
        else:
            continue  # whitespace and unknown characters are skipped (SecBase64.c:319-348)
        if len(idx) == 4:
            out.append(((idx[0] << 2) + ((idx[1] & 0x30) >> 4)) & 0xFF)
            if pads != 2:
                out.append((((idx[1] & 0xF) << 4) + ((idx[2] & 0x3C) >> 2)) & 0xFF)
                if pads != 1:
                    out.append((((idx[2] & 0x3) << 6) + idx[3]) & 0xFF)
            idx = []
            if pads:
                break
    return bytes(out) or None
