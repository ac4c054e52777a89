"""Android's own test configurations, and certpin's pin reading held to a model of Android's.

Fixtures: ``tests/fixtures/config/aosp/`` holds files of
aosp-mirror/platform_frameworks_base ``tests/NetworkSecurityConfigTest/res/xml/`` (Apache License
2.0; each names its commit). The outcome asserted for each is the one Android's own tests expect,
in ``tests/NetworkSecurityConfigTest/src/android/security/net/config/XmlConfigTests.java`` at
commit faa1ed4ce2d105f48ed9c88124c98e46880d00b9 (test method named next to each case).

Model: :func:`android_pin` transcribes ``android.util.Base64.Decoder.process`` (DEFAULT flags)
and ``XmlConfigSource.parsePin``; the property test checks that certpin's importer, written
another way, gives the same pin or refuses exactly where Android throws.
"""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from pathlib import Path
from xml.sax.saxutils import escape, quoteattr

import pytest
from hypothesis import given, seed, settings
from hypothesis import strategies as st

from certpin import ConfigError
from certpin.config import from_android
from certpin.pins import Pin

AOSP = Path(__file__).parent.parent / "fixtures" / "config" / "aosp"
ZCT = Pin("spki", base64.b64decode("zCTnfLwLKbS9S2sbp+uFz4KZOocFvXxkV06Ce9O5M2w="))


def _read(name: str, warnings: list[str] | None = None):  # type: ignore[no-untyped-def]
    return from_android((AOSP / name).read_bytes(), source=name, warnings=warnings)


# --- Android's own fixtures --------------------------------------------------------------------


def test_pins1_pins_android_com() -> None:
    # testBasicPinning: android.com has a non-empty pin set
    policy = _read("pins1.xml")
    ps = policy.pin_sets["android.com"]
    assert ps.all_pins == (ZCT,) and ps.allow_single_pin and ps.enforce
    assert ps.expires is None and not ps.include_subdomains
    assert list(policy.pin_sets) == ["android.com"]


def test_expired_pin_is_read_and_not_enforced_after_its_date() -> None:
    # testExpiredPin: the pins are there, yet a connection with another key succeeds (expired)
    ps = _read("expired_pin.xml").pin_sets["android.com"]
    assert ps.all_pins == (Pin("spki", base64.b64decode(
        "aaaaaaaaaaa2Y49orFOOQKurWxmmSFZhBCoQYcRhJ3Y=")),)
    assert ps.expires == datetime(2014, 12, 31, 10, 0, tzinfo=UTC)  # 2015-01-01 at UTC+14
    assert ps.is_expired(datetime(2020, 1, 1, tzinfo=UTC))


def test_bad_pin_is_a_valid_config_whose_pin_fails_to_match() -> None:
    # testBadPin: the config loads; the connection to android.com then fails
    ps = _read("bad_pin.xml").pin_sets["android.com"]
    assert ps.all_pins == (Pin("spki", base64.b64decode(
        "1HIpactkIAq2Y49orFOOQKurWxmmSFZhBCoQYcRhJ3Y=")),)


def test_override_pins_keeps_the_pins_and_warns() -> None:
    # testOverridesPins: pins non-empty; the system anchors bypass them on the device
    warnings: list[str] = []
    ps = _read("override_pins.xml", warnings).pin_sets["android.com"]
    assert len(ps.all_pins) == 1
    assert len(warnings) == 1 and "overridePins" in warnings[0] and "'system'" in warnings[0]


def test_domain_whitespace_is_trimmed() -> None:
    # testDomainWhitespaceTrimming: both domains are configured (and the padded pin is read)
    policy = _read("domain_whitespace.xml")
    assert sorted(policy.pin_sets) == ["android.com", "developer.android.com"]
    assert all(ps.all_pins == (ZCT,) for ps in policy.pin_sets.values())


def test_nested_domains_child_pins_parent_does_not() -> None:
    # testNestedDomainConfigs: parent android.com has no pins, developer.android.com has
    warnings: list[str] = []
    policy = _read("nested_domains.xml", warnings)
    assert list(policy.pin_sets) == ["developer.android.com"]
    assert policy.pin_sets["developer.android.com"].all_pins == (ZCT,)
    assert policy.match("x.android.com") is None
    assert any("'android.com' has no pins" in w for w in warnings)


def test_subdomains_config_without_pins_pins_nothing() -> None:
    # testIncludeSubdomains: a valid config (trust anchors only)
    warnings: list[str] = []
    assert _read("subdomains.xml", warnings).pin_sets == {}
    assert any("'android.com' has no pins" in w for w in warnings)


@pytest.mark.parametrize(("name", "match"), [
    ("bad_config0.xml", "line 11: Android refuses <pin> digest 'I am probably not an algorithm'"),
    ("bad_config1.xml", "line 11: Android refuses a <pin> without a digest"),
    ("bad_config2.xml", "line 11: android.util.Base64 reads 0 bytes"),
    ("bad_config3.xml", "line 12: domain 'android.com' is already configured at line 8"),
    ("bad_config4.xml", "line 9: <domain> is not allowed in <base-config>"),
    ("bad_config5.xml", "line 9: <pin-set> is not allowed in <base-config>"),
])
def test_bad_configs_are_refused(name: str, match: str) -> None:
    # testBadConfig0 .. testBadConfig4 (testBadConfig5 loads bad_config4 again; bad_config5 is
    # refused by XmlConfigSource.java@0172a23b:266-270 all the same)
    with pytest.raises(ConfigError) as info:
        _read(name)
    assert str(info.value).startswith(f"{name}, {match}"), str(info.value)


# --- a model of Android's pin reading ------------------------------------------------------------

ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
SKIP, EQUALS = -1, -2


def _decode_table(b: int) -> int:
    """``Decoder.DECODE[b]`` (Base64.java@8d312f32:184-201; SKIP and EQUALS, 227-228)."""
    if b == ord("="):
        return EQUALS
    return ALPHABET.index(chr(b)) if b < 128 and chr(b) in ALPHABET else SKIP


def android_base64(text: str) -> bytes | None:
    """``Base64.decode(text, DEFAULT)``, None where it throws (Base64.java@8d312f32:120-166 and
    the state machine, 265-441; the fast path, 290-311, gives the same output)."""
    out, state, value = bytearray(), 0, 0
    for d in map(_decode_table, text.encode("utf-8")):  # String.getBytes(), line 121
        if d == SKIP:  # skipped in every state (lines 325, 335, 350, 372, 381, 388)
            continue
        if d >= 0 and state <= 3:  # lines 321-324, 331-334, 342-344, 357-364
            value = (value << 6 | d) if state else d
            if state == 3:
                out += (value & 0xFFFFFF).to_bytes(3, "big")
            state = (state + 1) % 4
        elif d == EQUALS and state == 2:  # lines 345-349
            out.append(value >> 4 & 0xFF)
            state = 4
        elif d == EQUALS and state == 3:  # lines 365-371
            out += (value >> 2 & 0xFFFF).to_bytes(2, "big")
            state = 5
        elif d == EQUALS and state == 4:  # lines 379-380
            state = 5
        else:  # state 6 (lines 326-327, 336-337, 351-352, 373-374, 382-383, 389-390)
            return None
    if state in (1, 4):  # lines 412-416, 428-431
        return None
    if state == 2:  # lines 417-421
        out.append(value >> 4 & 0xFF)
    elif state == 3:  # lines 422-427
        out += (value >> 2 & 0xFFFF).to_bytes(2, "big")
    return bytes(out)


#: Pin.java@0cb8f014:40, "SHA-256".equalsIgnoreCase(algorithm), worked out by hand from the
#: Java SE rule for each character: which characters upper-case (then lower-case) alike.
DIGEST_SPELLINGS = {a + b + c + "-256" for a in "Ss\u017f" for b in "Hh" for c in "Aa"}


def android_pin(digest: str | None, text: str) -> bytes | None:
    """What XmlConfigSource.parsePin makes of a ``<pin>`` (XmlConfigSource.java@0172a23b:94-121):
    the 32-byte digest, or None where it throws."""
    if digest not in DIGEST_SPELLINGS:  # lines 96-100
        return None
    decoded = android_base64(text.strip(" \t\n\r"))  # lines 104-110 (trim: nothing it cuts
    return decoded if decoded is not None and len(decoded) == 32 else None  # is data), 111-116


JUNK = " \t\n\r.-_!:;*\"'&<>\u00e9\u2003\u017f"
_GOOD = st.sampled_from(sorted(DIGEST_SPELLINGS))
_BAD = st.one_of(st.sampled_from(["SHA-1", "SHA256", "sha-512", "SHA-256 ", "", "s\u0130a-256"]),
                 st.text(alphabet="SHAsha-2561 \u017f\u0131", max_size=8))
digests = st.integers(0, 9).flatmap(lambda k: _GOOD if k < 7 else _BAD)


@st.composite
def pin_texts(draw: st.DrawFn) -> str:
    """A pin's base64, spelt as people and tools spell it, right or wrong."""
    size = draw(st.one_of(st.just(32), st.integers(30, 34)))
    b64 = base64.b64encode(draw(st.binary(min_size=size, max_size=size))).decode()
    chars = list(b64)
    for _ in range(draw(st.integers(0, 4))):
        op = draw(st.sampled_from(["insert"] * 4 + ["delete", "replace", "urlsafe", "pad",
                                                   "slash"]))
        at = draw(st.integers(0, len(chars)))
        if op == "insert":
            chars.insert(at, draw(st.sampled_from(list(JUNK))))
        elif op == "delete" and chars:
            del chars[min(at, len(chars) - 1)]
        elif op == "replace" and chars:
            chars[min(at, len(chars) - 1)] = draw(st.sampled_from(list(ALPHABET + "=")))
        elif op == "urlsafe":
            chars = [{"+": "-", "/": "_"}.get(c, c) for c in chars]
        elif op == "pad":
            chars.append("=")
        elif op == "slash":
            chars.insert(0, "/")
    return "".join(chars)


@seed(7)
@settings(max_examples=600, deadline=None)
@given(digests, pin_texts())
def test_importer_reads_pins_as_android_does(digest: str, text: str) -> None:
    expected = android_pin(digest, text)
    attr = f" digest={quoteattr(digest)}"
    doc = (f"<network-security-config><domain-config><domain>a.test</domain><pin-set>"
           f"<pin{attr}>{escape(text)}</pin></pin-set></domain-config>"
           "</network-security-config>")
    try:
        policy = from_android(doc)
    except ConfigError:
        assert expected is None, (digest, text)
        return
    assert expected is not None, (digest, text)
    assert policy.pin_sets["a.test"].all_pins == (Pin("spki", expected),)


@pytest.mark.parametrize("text", ["QQ==", "QR==", "QUI=", "QUJ=", "QUJD", "Q", "QQ=", "QUJD=",
                                  "QQ==\n", "Q Q = =", "QUJDRA", "=", "", "QQ==QQ=="])
def test_the_model_agrees_with_known_answers(text: str) -> None:
    # known answers from the same reading of Base64.java (the model must not merely echo
    # Python's decoder): lenient low bits, optional but exact padding, skipped white space
    expected = {"QQ==": b"A", "QR==": b"A", "QUI=": b"AB", "QUJ=": b"AB", "QUJD": b"ABC",
                "QQ==\n": b"A", "Q Q = =": b"A", "QUJDRA": b"ABCD", "": b""}
    assert android_base64(text) == expected.get(text)
