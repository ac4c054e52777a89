"""Review 11: a binary plist with a key twice in one dictionary.

The XML reader refuses a duplicate key (``certpin/config/_plist.py``, "duplicate key"); the
binary reader hands the file to ``plistlib``, whose binary parser keeps the **last** value of a
key (``result[key] = value`` for each pair), and certpin imports that with exit 0.

Apple's CoreFoundation keeps the **first**: apple-oss-distributions/CF at dc54c6b (CF-1153.18),
``CFBinaryPList.c:1537`` builds an immutable dictionary with ``__CFDictionaryCreateTransfer``,
which adds the pairs in order with ``CFBasicHashAddValue`` (``CFDictionary.c:247-249``);
``CFBasicHashAddValue`` does nothing when the key is already there (``CFBasicHash.c:1332-1349``:
only a bag's count is bumped; the value is not replaced). The mutable path does the same with
``CFDictionaryAddValue`` (``CFBinaryPList.c:1528-1531``). So for the same file certpin pins
other keys, and other hosts (``NSIncludesSubdomains``), than the app enforces.
"""

from __future__ import annotations

import plistlib

import pytest

from certpin.config.ios import from_ios
from certpin.errors import ConfigError

FIRST = "a4ayc/80/OGda4BO/1o/V0etpOqiLx1JwB5S3beHW0s="  # sha256(b"1")
LAST = "1HNeOiZeFu7gP1lxi5tdAwGcB9i2xR+Q2jpmbuwTqzU="  # sha256(b"2")


def _duplicate_key_bplist() -> bytes:
    """NSPinnedDomains holding ``aaaa.test`` twice: first leaf FIRST without subdomains, then
    leaf LAST with NSIncludesSubdomains (written as ``bbbb.test`` and renamed in the bytes)."""
    ats = {"NSAppTransportSecurity": {"NSPinnedDomains": {
        "aaaa.test": {"NSIncludesSubdomains": False,
                      "NSPinnedLeafIdentities": [{"SPKI-SHA256-BASE64": FIRST}]},
        "bbbb.test": {"NSIncludesSubdomains": True,
                      "NSPinnedLeafIdentities": [{"SPKI-SHA256-BASE64": LAST}]},
    }}}
    data = plistlib.dumps(ats, fmt=plistlib.FMT_BINARY, sort_keys=False)
    assert data.count(b"bbbb.test") == 1
    return data.replace(b"bbbb.test", b"aaaa.test")


def test_binary_plist_duplicate_key_is_refused_or_read_as_apple_reads_it() -> None:
    data = _duplicate_key_bplist()
    try:
        policy = from_ios(data, source="Info.plist")
    except ConfigError:
        return  # refused, as the XML reader refuses a duplicate key: fine
    # Apple keeps the first aaaa.test entry: FIRST only, and no subdomain is pinned
    assert sorted(policy.pin_sets) == ["aaaa.test"], sorted(policy.pin_sets)
    assert [p.base64 for p in policy.pin_sets["aaaa.test"].pins] == [FIRST]


def test_binary_plist_duplicate_top_key_is_refused_or_first_wins() -> None:
    """The same for NSAppTransportSecurity itself: Apple reads the first, empty one, so nothing
    is pinned, which certpin refuses (exit 2) rather than write an empty policy."""
    info = {"NSAppTransportSecurity": {},
            "ZZZZZZZZZZZZZZZZZZZZZZ": {"NSPinnedDomains": {"aaaa.test": {
                "NSPinnedLeafIdentities": [{"SPKI-SHA256-BASE64": LAST}]}}}}
    data = plistlib.dumps(info, fmt=plistlib.FMT_BINARY, sort_keys=False)
    data = data.replace(b"ZZZZZZZZZZZZZZZZZZZZZZ", b"NSAppTransportSecurity")
    with pytest.raises(ConfigError):
        from_ios(data, source="Info.plist")


# A comment inside <string>: ElementTree drops it and joins the text around it, so certpin reads
# the pin a4ayc/...; Apple's XML plist parser reads a <string> (and <key>) with parseStringTag,
# which takes every "<!" inside the text for a CDATA section (CFPropertyList.c:1141-1147, CF at
# dc54c6b) and fails the whole plist on anything else: "Encountered improper CDATA opening"
# (CFPropertyList.c:962-971, parseCDSect_pl). The app has no readable Info.plist, so no pins;
# certpin imports a pinned host with exit 0.
COMMENT_IN_STRING = b"""<?xml version="1.0" encoding="UTF-8"?>
<plist version="1.0"><dict><key>NSAppTransportSecurity</key><dict>
<key>NSPinnedDomains</key><dict><key>aaaa.test</key><dict>
<key>NSPinnedLeafIdentities</key><array><dict><key>SPKI-SHA256-BASE64</key>
<string>a4ayc/80/OGda4BO/1o/V0e<!-- x -->tpOqiLx1JwB5S3beHW0s=</string>
</dict></array></dict></dict></dict></dict></plist>
"""


def test_xml_plist_comment_inside_string_is_refused() -> None:
    with pytest.raises(ConfigError):
        from_ios(COMMENT_IN_STRING, source="Info.plist")
