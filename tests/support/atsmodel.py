"""A small, faithful model of Apple's NSPinnedDomains pinning, for differential tests.

Written from Apple's Security project (apple-oss-distributions/Security at db15acbe, tag
Security-61901.0.87.0.1, APSL 2.0), independently of certpin's importer: it works on the plain
Python values ``plistlib`` gives and on SPKI digests.

* :func:`parse_pinned_domains`: ``parseNSPinnedDomains``, OSX/sec/Security/SecPolicy.c:1517-1587
  (parent name: ``CopyParentDomainNameFromHostName``, SecPolicy.c:1498-1515; base64:
  ``CreateCFDataFromBase64CFString``, SecPolicy.c:1466-1496, over :func:`sec_base64_decode`).
* :func:`passes`: ``SecPolicyAddATSpinningIfInfoSpecified`` (SecPolicy.c:1622-1639) adds the
  leaf and the CA checks separately; ``SecPolicyCheckLeafSPKISHA256``
  (trust/trustd/SecPolicyServer.c:875-898) and ``SecPolicyCheckCAspkiSHA256``
  (SecPolicyServer.c:838-868) must both pass.
"""

from __future__ import annotations

from collections.abc import Sequence

_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"


def sec_base64_decode(src: bytes) -> bytes:
    """``SecBase64Decode_`` with ``kSecB64_F_STOP_ON_NOTHING`` (OSX/sec/Security/SecBase64.c:
    258-391): unknown characters and whitespace skipped, stop after a group with padding."""
    out = bytearray()
    indexes = [0, 0, 0, 0]
    cur = 0
    pads = 0
    for b in src:
        ch = chr(b)
        if ch == "=":
            indexes[cur] = 0
            cur += 1
            pads += 1
        else:
            ix = _ALPHABET.find(ch) if b < 128 else -1
            if ix == -1:
                continue
            pads = 0
            indexes[cur] = ix
            cur += 1
        if cur == 4:
            cur = 0
            out.append(((indexes[0] << 2) + ((indexes[1] & 0x30) >> 4)) % 256)
            if pads != 2:
                out.append((((indexes[1] & 0xF) << 4) + ((indexes[2] & 0x3C) >> 2)) % 256)
                if pads != 1:
                    out.append((((indexes[2] & 0x3) << 6) + indexes[3]) % 256)
            if pads != 0:
                break
    return bytes(out)


def _data_from_base64(s: str) -> bytes | None:
    buf = s.encode("utf-8")
    if not buf:  # SecPolicy.c:1476
        return None
    data = sec_base64_decode(buf)
    return data or None  # SecPolicy.c:1485


def _parent(host: str) -> str | None:
    i = host.find(".")  # SecPolicy.c:1507-1508
    if i < 0 or i >= len(host) - 1:
        return None
    return host[i + 1:]


def parse_pinned_domains(pinned: dict[object, object], host: str, key: str
                         ) -> list[bytes] | None:
    """SecPolicy.c:1517-1587: the digests for ``host`` and ``key``, or None (not pinned)."""
    if host.endswith("."):  # 1523-1530
        host = host[:-1]
    found: list[bytes] = []
    host_pinned = False
    for name, value in pinned.items():
        if not isinstance(name, str) or not isinstance(value, dict):  # 1535-1536
            continue
        matched = name.lower() == host.lower()  # 1540 (ASCII names in these tests)
        if not matched:
            if value.get("NSIncludesSubdomains") is not True:  # 1544-1545: kCFBooleanTrue
                continue
            parent = _parent(host)
            if parent is None:
                continue
            matched = name.lower() == parent.lower()  # 1550
        if not matched:
            continue
        ids = value.get(key)
        if ids is None:  # 1555
            continue
        host_pinned = True  # 1556
        if not isinstance(ids, list):  # 1558
            continue
        for item in ids:
            if not isinstance(item, dict):  # 1562
                continue
            b64 = item.get("SPKI-SHA256-BASE64")
            if not isinstance(b64, str):  # 1565
                continue
            data = _data_from_base64(b64)
            if data is not None:  # 1568
                found.append(data)
    return found if host_pinned else None


def passes(ats: dict[str, object], host: str, chain_spki: Sequence[bytes]) -> bool:
    """Whether Apple's two pinning checks pass for ``host`` and a chain (SPKI digests, leaf
    first). ``ats`` is the NSAppTransportSecurity dictionary."""
    pinned = ats.get("NSPinnedDomains")
    if not isinstance(pinned, dict):  # SecPolicy.c:1604-1605
        return True
    leaf = parse_pinned_domains(pinned, host, "NSPinnedLeafIdentities")
    ca = parse_pinned_domains(pinned, host, "NSPinnedCAIdentities")
    ok = True
    if leaf is not None:  # SecPolicyServer.c:893
        ok = ok and chain_spki[0] in leaf
    if ca is not None:  # SecPolicyServer.c:843-866
        ok = ok and len(chain_spki) >= 2 and any(d in ca for d in chain_spki[1:])
    return ok
