"""Adversarial review 11c: an Android import that means another host than Android does (each
test fails on main as of 2cbb4b2).

Android compares ``<domain>`` names as text. ``XmlConfigSource.parseDomain`` only trims and
lower-cases the text (aosp-mirror/platform_frameworks_base
``core/java/android/security/net/config/XmlConfigSource.java`` at 0172a23b, lines 158-164), and
so does ``Domain``'s constructor (``Domain.java`` at 6156e449, line 39: ``toLowerCase`` and
nothing else). At connection time ``ApplicationConfig.getConfigForHostname`` lower-cases the
host and strips *its* trailing dot ("all Domain hostnames are absolute", ``ApplicationConfig.java``
at 4850a8b1, lines 83-89), then looks for a domain that ``equals`` it (line 98), else the longest
``includeSubdomains`` domain it ends with (lines 103-112).

So ``<domain>api.example.com.</domain>`` (a trailing dot), ``api\\u3002example.com``
(an ideographic full stop) or ``\\uff41pi.example.com`` (a full-width letter) never
equals any host Android looks up: that entry pins nothing, and a host under a pinned
``includeSubdomains`` parent keeps the parent's pins. certpin's importer runs the name through
its own host normalisation (trailing dot dropped, IDNA 2003 mapping), imports it as
``api.example.com`` with the entry's pins, exit 0 and no warning, and :func:`certpin.check`
then accepts for ``api.example.com`` a key the app refuses (the parent's pins are the only
ones Android applies there). The iOS importer refuses the same trailing-dot key for this very
reason (``ios_import._domain_name``, Apple's SecPolicy.c:1523-1540).

The fix is the importer's to choose (refuse such a ``<domain>``, or leave it unpinned as
Android does, with a warning); the tests accept either, and fail only when certpin applies
pins to ``api.example.com`` other than those Android applies.
"""

from __future__ import annotations

import base64

import pytest

from certpin import ConfigError, parse_pin
from certpin.config import from_android

PARENT = base64.b64encode(b"\x01" * 32).decode()  # example.com, includeSubdomains
CHILD = base64.b64encode(b"\x02" * 32).decode()  # the entry Android never matches


def _config(child_domain: str) -> str:
    return f"""<?xml version="1.0" encoding="utf-8"?>
<network-security-config>
    <domain-config>
        <domain includeSubdomains="true">example.com</domain>
        <pin-set><pin digest="SHA-256">{PARENT}</pin></pin-set>
    </domain-config>
    <domain-config>
        <domain>{child_domain}</domain>
        <pin-set><pin digest="SHA-256">{CHILD}</pin></pin-set>
    </domain-config>
</network-security-config>
"""


@pytest.mark.parametrize("child_domain", [
    "api.example.com.",  # trailing dot: Domain keeps it, the host loses it (lines 83-89)
    "api\u3002example.com",  # IDEOGRAPHIC FULL STOP: not '.' to String.equals
    "\uff41pi.example.com",  # FULLWIDTH LATIN SMALL LETTER A: not 'a' to String.equals
])
def test_android_domain_android_never_matches_is_not_imported_as_that_host(
        child_domain: str) -> None:
    try:
        policy = from_android(_config(child_domain), source="network_security_config.xml")
    except ConfigError:
        return  # refusing the entry Android can never match is fine
    found = policy.match("api.example.com")
    # Android: no domain equals "api.example.com" (ApplicationConfig.java:98), so the longest
    # includeSubdomains domain, example.com, applies (lines 103-112): its pins only.
    assert found is not None
    assert set(found[1].all_pins) == {parse_pin("sha256/" + PARENT)}, (
        f"<domain>{child_domain!r}</domain> never matches on Android, but certpin applies "
        f"{found[1].all_pins} (pattern {found[0]!r}) to api.example.com")


def test_android_trailing_dot_domain_alone_is_not_pinned() -> None:
    """Alone, the trailing-dot entry pins nothing on Android (ApplicationConfig.java:98 never
    holds, no includeSubdomains parent): certpin must not import a pinned ``example.com``."""
    text = f"""<network-security-config>
    <domain-config>
        <domain>example.com.</domain>
        <pin-set><pin digest="SHA-256">{CHILD}</pin></pin-set>
    </domain-config>
</network-security-config>"""
    try:
        policy = from_android(text)
    except ConfigError:
        return
    assert policy.match("example.com") is None, (
        "Android never applies <domain>example.com.</domain> to the host example.com")
