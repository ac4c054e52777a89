"""Android network security config: certpin reads what Android reads and means what it means.

Each rule is cited from aosp-mirror/platform_frameworks_base (``docs/rules/android.md``):
XmlConfigSource.java@0172a23b, Pin.java@0cb8f014, NetworkSecurityTrustManager.java@3c096b3a,
core/java/android/util/Base64.java@8d312f32. Issue 11, items 6, 7 and 8.
"""

from __future__ import annotations

import base64
import hashlib
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import given, seed, settings
from hypothesis import strategies as st

from certpin import ConfigError
from certpin.cli import main
from certpin.config import dump_policy, from_android, to_android
from certpin.pins import Pin
from certpin.policy import PinPolicy, PinSet

D1 = hashlib.sha256(b"one").digest()
D2 = hashlib.sha256(b"two").digest()
B1, B2 = base64.b64encode(D1).decode(), base64.b64encode(D2).decode()
P1, P2 = Pin("spki", D1), Pin("spki", D2)
PINS = f'<pin digest="SHA-256">{B1}</pin><pin digest="SHA-256">{B2}</pin>'


def _doc(pins: str, *, pin_set_attrs: str = "", domain: str = "a.test") -> str:
    return ('<?xml version="1.0" encoding="utf-8"?>\n<network-security-config>\n'
            f"<domain-config>\n<domain>{domain}</domain>\n<pin-set{pin_set_attrs}>\n"
            f"{pins}\n</pin-set>\n</domain-config>\n</network-security-config>\n")


def _pins(text: str, **kw: str) -> tuple[Pin, ...]:
    return from_android(_doc(text, **kw)).pin_sets["a.test"].all_pins


def _refused(text: str, match: str, **kw: str) -> str:
    with pytest.raises(ConfigError) as info:
        from_android(_doc(text, **kw), source="nsc.xml")
    msg = str(info.value)
    assert msg.startswith("nsc.xml, line "), msg
    assert match in msg, msg
    return msg


# --- item 6: digest names --------------------------------------------------------------------


@pytest.mark.parametrize("digest", ["SHA-256", "sha-256", "Sha-256", "sHa-256", "\u017fha-256"])
def test_digest_is_compared_ignoring_case(digest: str) -> None:
    # Pin.java@0cb8f014:40: "SHA-256".equalsIgnoreCase(algorithm); Java upper-cases the long s
    # (U+017F) to S, and MessageDigest.getInstance finds it too (checked on OpenJDK 17).
    assert _pins(f'<pin digest="{digest}">{B1}</pin><pin digest="SHA-256">{B2}</pin>') == (P1, P2)


@pytest.mark.parametrize("digest", ["SHA-1", "SHA256", "sha-512", " SHA-256", "SHA-256 ",
                                    "SHA\u2010256", "\u0130HA-256", ""])
def test_other_digest_names_are_refused_as_android_does(digest: str) -> None:
    # XmlConfigSource.java@0172a23b:96-100: any other name makes the parser throw, so the app's
    # whole configuration fails to load.
    msg = _refused(f'<pin digest="{digest}">{B1}</pin>', "Android refuses")
    assert "SHA-256" in msg


def test_missing_digest_is_refused() -> None:
    _refused(f"<pin>{B1}</pin>", "digest")


# --- item 6: base64 as android.util.Base64.decode(text, DEFAULT) reads it ---------------------


def test_pin_wrapped_over_two_lines_is_the_pin_its_characters_spell() -> None:
    wrapped = f"\n      {B1[:20]}\n      {B1[20:]}\n    "
    assert _pins(f'<pin digest="SHA-256">{wrapped}</pin><pin digest="SHA-256">{B2}</pin>') == (
        P1, P2)


@pytest.mark.parametrize("spelling", [
    B1[:10] + " " + B1[10:30] + "\t" + B1[30:],   # white space inside
    B1[:-1],                                        # padding left out
    B1[:5] + "." + B1[5:] + "-_!",                  # other characters are skipped
    B1[:-1] + "\n=",                                # skipped characters before the padding
    B1 + "  \u00e9\u2003",                          # non-ASCII characters are skipped too
])
def test_lenient_spellings_mean_the_same_pin(spelling: str) -> None:
    from xml.sax.saxutils import escape

    assert _pins(f'<pin digest="SHA-256">{escape(spelling)}</pin>'
                 f'<pin digest="SHA-256">{B2}</pin>') == (P1, P2)


def test_unused_low_bits_of_the_last_character_are_dropped() -> None:
    # Base64.java@8d312f32:368-369: the bits of the 43rd character that do not fill a byte are
    # shifted out, not checked, so four spellings decode to the same digest.
    last = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".index(B1[42])
    other = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"[last | 3]
    assert other != B1[42]
    assert _pins(f'<pin digest="SHA-256">{B1[:42]}{other}=</pin>'
                 f'<pin digest="SHA-256">{B2}</pin>') == (P1, P2)


@pytest.mark.parametrize(("spelling", "why"), [
    (B1 + "=", "padding"),                  # one '=' too many
    (B1[:-1] + "==", "padding"),
    (B1[:20] + "=" + B1[20:], "after the '=' padding"),
    (B1[:-2], "31 bytes"),                  # too short
    (B1[:-1] + "AAAA", "35 bytes"),         # too long
    ("", "0 bytes"),
    ("A", "not whole base64"),
    # URL-safe characters are skipped, not read (Base64.java@8d312f32:61, 184-201)
    (B1.replace("/", "_"), "padding"),
    (B2.replace("+", "-").replace("/", "_")[:-1], "30 bytes"),
])
def test_what_android_throws_on_is_refused(spelling: str, why: str) -> None:
    msg = _refused(f'<pin digest="SHA-256">{spelling}</pin>', why)
    assert "android.util.Base64" in msg


def test_pin_with_child_elements_is_refused() -> None:
    # XmlConfigSource.java@0172a23b:101-103 and 117-119
    _refused(f'<pin digest="SHA-256">{B1}<x/></pin>', "child element")


def test_same_pin_twice_is_one_pin_as_in_android_set() -> None:
    # XmlConfigSource.java@0172a23b:142-146: the pins are an ArraySet
    warnings: list[str] = []
    policy = from_android(_doc(f'<pin digest="SHA-256">{B1}</pin>'
                               f'<pin digest="sha-256">{B1[:30]}\n{B1[30:]}</pin>'
                               f'<pin digest="SHA-256">{B2}</pin>'), warnings=warnings)
    assert policy.pin_sets["a.test"].all_pins == (P1, P2)
    assert any("listed twice" in w for w in warnings)


def test_non_canonical_spellings_are_read_with_a_warning_about_trustkit_android() -> None:
    # TrustKit-Android (API < 24) compares the pin text with the canonical base64
    # (PublicKeyPin.java@230582dc:32-44) and requires digest="SHA-256" exactly
    # (TrustKitConfigurationParser.java@230582dc:163-166).
    warnings: list[str] = []
    from_android(_doc(f'<pin digest="sha-256">{B1}</pin>\n'
                      f'<pin digest="SHA-256">{B2[:9]}\n{B2[9:]}</pin>'), warnings=warnings)
    assert len(warnings) == 2, warnings
    assert "line 6" in warnings[0] and "TrustKit-Android" in warnings[0]
    assert f"sha256/{B2}" in warnings[1] and "TrustKit-Android" in warnings[1]


# --- item 8: a stray '/' left from curl's sha256//<b64> ---------------------------------------


def test_stray_leading_slash_is_refused() -> None:
    # '/' is in the alphabet (Base64.java@8d312f32:187), so "/" + 44 characters is 44 data
    # characters then '=': bad padding, Android throws "Invalid pin digest".
    msg = _refused(f'<pin digest="SHA-256">/{B1}</pin>', "padding")
    assert "android.util.Base64" in msg
    assert "left over from curl's sha256//" in msg
    msg = _refused(f'<pin digest="SHA-256">/{B1[:-1]}</pin>', "33 bytes")
    assert "left over from curl's sha256//" in msg
    _refused(f'<pin digest="SHA-256">sha256//{B1}</pin>', "bytes")


def test_cli_import_shows_each_escape_once(tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    # warnings are escaped where they are written; the CLI must not double the backslashes
    src = tmp_path / "nsc.xml"
    src.write_text(_doc(f'<pin digest="SHA-256">{B1[:9]}\n{B1[9:]}</pin>'
                        f'<pin digest="SHA-256">{B2}</pin>'))
    assert main(["import", str(src), "--from", "android", "-o", str(tmp_path / "p.toml")]) == 0
    err = capsys.readouterr().err
    assert f"pin text '{B1[:9]}\\n{B1[9:]}' is not canonical" in err, err


# --- structure: what Android throws on, and what it skips -------------------------------------


@pytest.mark.parametrize(("body", "match"), [
    ("<base-config><domain>a.test</domain></base-config>", "not allowed in <base-config>"),
    ("<base-config/><base-config/>", "only one <base-config>"),
    ("<debug-overrides/><debug-overrides/>", "only one <debug-overrides>"),
    ('<domain-config><domain>a.test</domain><trust-anchors/><trust-anchors/></domain-config>',
     "more than one <trust-anchors>"),
    ('<domain-config><domain>a.test</domain><trust-anchors><certificates/></trust-anchors>'
     "</domain-config>", "src"),
    ('<domain-config><domain>a.test</domain><trust-anchors><certificates src="nope"/>'
     "</trust-anchors></domain-config>", "src"),
    ("<domain-config><domain>a.test<b/></domain></domain-config>", "child element"),
])
def test_structures_android_refuses(body: str, match: str) -> None:
    doc = f"<network-security-config>{body}</network-security-config>"
    with pytest.raises(ConfigError, match=match):
        from_android(doc)


def test_what_android_skips_is_skipped_with_a_warning() -> None:
    # XmlConfigSource.java@0172a23b:125 reads only "expiration"; 148 and 212 skip other tags
    warnings: list[str] = []
    doc = _doc(f'<pin digest="SHA-256">{B1}</pin><extra/><pin digest="SHA-256">{B2}</pin>',
               pin_set_attrs=' note="x"')
    doc = doc.replace("</domain>", '</domain><trust-anchors><other/>'
                                   '<certificates src="@raw/ca"/></trust-anchors>', 1)
    assert from_android(doc, warnings=warnings).pin_sets["a.test"].all_pins == (P1, P2)
    assert len(warnings) == 3, warnings


def test_debug_override_anchors_bypass_pins_by_default() -> None:
    # XmlConfigSource.java@0172a23b:228 and 177-178: in <debug-overrides> overridePins defaults
    # to true
    warnings: list[str] = []
    doc = _doc(PINS).replace("</network-security-config>", (
        '<debug-overrides><trust-anchors><certificates src="@raw/debug_ca"/>'
        '<certificates src="user" overridePins="false"/></trust-anchors></debug-overrides>'
        "</network-security-config>"))
    from_android(doc, warnings=warnings)
    assert len(warnings) == 1 and "'@raw/debug_ca'" in warnings[0], warnings
    assert "overridePins" in warnings[0] and "debuggable" in warnings[0]


def test_domain_is_trimmed_as_java_trims() -> None:
    # XmlConfigSource.java@0172a23b:161: String.trim() strips U+0000-U+0020 only; a no-break
    # space stays part of the name (which then matches no host, and certpin refuses it).
    pins = f'<pin digest="SHA-256">{B1}</pin><pin digest="SHA-256">{B2}</pin>'
    assert list(from_android(_doc(pins, domain="\n  a.test \t")).pin_sets) == ["a.test"]
    with pytest.raises(ConfigError, match="bad <domain>"):
        from_android(_doc(pins, domain="\u00a0a.test"))


# --- item 7: expiration is local midnight on the device -----------------------------------------


def test_import_takes_the_earliest_instant_the_date_can_mean() -> None:
    # XmlConfigSource.java@0172a23b:129-135: SimpleDateFormat in the device's zone; UTC+14 is
    # the first zone to reach midnight, 2027-01-30T10:00Z.
    ps = from_android(_doc(PINS, pin_set_attrs=' expiration="2027-01-31"')).pin_sets["a.test"]
    assert ps.expires == datetime(2027, 1, 30, 10, 0, tzinfo=UTC)
    kiritimati = timezone(timedelta(hours=14))
    assert ps.expires == datetime(2027, 1, 31, tzinfo=kiritimati)


@pytest.mark.parametrize("text", ["2027-1-31", "2027-01-31T00:00Z", "27-01-31", "2027-02-30",
                                  "\u0662\u0660\u0662\u0667-01-31", "1582-10-20",
                                  "&#10;2027-01-31"])
def test_other_date_forms_are_refused(text: str) -> None:
    _refused(PINS, "expiration", pin_set_attrs=f' expiration="{text}"')


def _latest_end(day: str) -> datetime:
    """When the last device (UTC-12) stops pinning for expiration=day: the first millisecond
    with currentTimeMillis() > day 00:00 at UTC-12 (NetworkSecurityTrustManager.java@3c096b3a
    lines 100-104)."""
    d = datetime.fromisoformat(day)
    return d.replace(tzinfo=timezone(timedelta(hours=-12))) + timedelta(milliseconds=1)


@pytest.mark.parametrize(("expires", "day", "moved"), [
    ("2027-01-31T00:00:00Z", "2027-01-30", True),
    ("2027-01-31T12:00:00Z", "2027-01-30", True),
    ("2027-01-31T12:00:00.001Z", "2027-01-31", False),
    ("2027-01-31T23:59:59Z", "2027-01-31", False),
])
def test_export_picks_a_date_that_ends_pinning_in_time_everywhere(
        expires: str, day: str, moved: bool) -> None:
    policy = PinPolicy({"a.test": PinSet([P1, P2], expires=expires)})
    result = to_android(policy)
    assert f'expiration="{day}"' in result.text
    assert not result.dropped
    assert len(result.notes) == 1
    note = result.notes[0]
    assert "a.test" in note and "local midnight" in note
    assert ("moved back" in note) is moved, note
    assert _latest_end(day) <= policy.pin_sets["a.test"].expires  # type: ignore[operator]


@seed(11)
@settings(max_examples=300, deadline=None)
@given(st.datetimes(min_value=datetime(1600, 1, 1), max_value=datetime(9990, 1, 1),
                    timezones=st.just(UTC)))
def test_exported_date_is_the_latest_that_ends_pinning_in_time(expires: datetime) -> None:
    text = to_android(PinPolicy({"a.test": PinSet([P1, P2], expires=expires)})).text
    day = text.split('expiration="')[1][:10]
    assert _latest_end(day) <= expires
    following = (datetime.fromisoformat(day) + timedelta(days=1)).date().isoformat()
    assert _latest_end(following) > expires


def test_round_trip_moves_the_date_back_and_never_later() -> None:
    policy = PinPolicy({"a.test": PinSet([P1, P2], expires="2027-01-31")})
    back = from_android(to_android(policy).text).pin_sets["a.test"].expires
    assert back == datetime(2027, 1, 29, 10, 0, tzinfo=UTC)


def test_expiry_before_1583_cannot_be_written() -> None:
    policy = PinPolicy({"a.test": PinSet([P1, P2], expires="1500-01-01"),
                        "b.test": PinSet([P1, P2])})
    from certpin.config import ExportError

    with pytest.raises(ExportError, match="before 1583"):
        to_android(policy)
    text = to_android(policy, lossy=True).text
    assert "a.test" not in text and "<domain>b.test</domain>" in text


def test_cli_export_says_so_on_stderr(tmp_path: Path,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "p.toml"
    dump_policy(PinPolicy({"a.test": PinSet([P1, P2], expires="2027-01-31")}), path)
    assert main(["export", str(path), "--format", "android"]) == 0
    out, err = capsys.readouterr()
    assert 'expiration="2027-01-30"' in out
    assert "certpin export: note: " in err and "moved back" in err and "UTC+14" in err
