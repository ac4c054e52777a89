"""Mobile and HPKP formats: import of hand-written fixtures, hostile input, export rules."""

from __future__ import annotations

import base64
import os
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from hypothesis import given
from hypothesis import strategies as st

from certpin import ConfigError, PolicyError
from certpin.config import (
    ExportError,
    export_policy,
    from_android,
    from_curl,
    from_hpkp,
    from_okhttp,
    from_trustkit,
    import_policy,
    to_android,
    to_curl,
    to_hpkp,
    to_okhttp,
    to_swift_delegate,
    to_trustkit,
    to_trustkit_swift,
)
from certpin.config.swift import SPKI_HEADERS
from certpin.policy import PinPolicy, PinSet

FIX = Path(__file__).parent.parent / "fixtures" / "config"
GOLDEN = Path(__file__).parent.parent / "golden"
K1 = "sha256/gXQJloeiZiH04s3XzAOz2s7bP7liJVsar9Azyr6DFTA="
K2 = "sha256/sQJTdkyLIz+zdULiNAHHtFDlpvl1HztaAU9vZ+i8mZ0="
K3 = "sha256/9XYQTuvqsJZR2DrP/HfIuMbqpLdnrqsk19qA+D9R2GU="
K4 = "sha256/pLNQTCdp/OlUf23aMQ3YsJTWMKBE1l9TJNSzcxCqtxQ="
C1 = "cert-sha256/lEnH86k88MVaZ13fHINzLYfVYlXnCxUNnm88+GO7f8E="
JAN31 = datetime(2027, 1, 31, tzinfo=UTC)
# expiration="2027-01-31" on Android: local midnight, at the earliest (UTC+14) 2027-01-30T10:00Z
ANDROID_JAN31 = datetime(2027, 1, 30, 10, tzinfo=UTC)


def pins(ps: PinSet) -> list[str]:
    return [str(p) for p in ps.pins]


# --- Android -----------------------------------------------------------------------------------


def test_android_fixture() -> None:
    warnings: list[str] = []
    src = str(FIX / "network_security_config.xml")
    policy = from_android((FIX / "network_security_config.xml").read_bytes(), source=src,
                          warnings=warnings)
    assert sorted(policy.pin_sets) == [
        "api.example.com", "example.com", "example.net", "legacy.example.com",
        "single.example.org",
    ]
    # several <domain> share one pin-set; includeSubdomains is per domain
    com, net = policy.pin_sets["example.com"], policy.pin_sets["example.net"]
    assert pins(com) == pins(net) == [K1, K2]
    assert com.include_subdomains is True and net.include_subdomains is False
    assert com.expires == net.expires == ANDROID_JAN31
    # nested config without a pin-set inherits the parent's (and its expiration)
    legacy = policy.pin_sets["legacy.example.com"]
    assert pins(legacy) == [K1, K2] and legacy.expires == ANDROID_JAN31
    assert legacy.include_subdomains is False
    # nested config with its own pin-set (no expiration)
    api = policy.pin_sets["api.example.com"]
    assert pins(api) == [K3, K4] and api.expires is None and api.include_subdomains
    single = policy.pin_sets["single.example.org"]
    assert pins(single) == [K1] and single.allow_single_pin is True
    assert all(ps.enforce for ps in policy.pin_sets.values())
    assert com.allow_single_pin is False
    # overridePins noted twice (nested config, debug-overrides), with line numbers
    override = [w for w in warnings if "overridePins" in w]
    assert len(override) == 2
    assert f"{src}, line 20" in override[0] and "'user'" in override[0]
    assert "debug-overrides" in override[1]
    # the most specific match is kept: legacy has its own (inherited) set
    assert policy.match("x.api.example.com") == ("api.example.com", api)


def _android(body: str) -> str:
    return f'<?xml version="1.0"?>\n<network-security-config>\n{body}\n</network-security-config>\n'


def _cfg_error(fn: object, data: str | bytes, *, match: str) -> str:
    with pytest.raises(ConfigError) as info:
        fn(data, source="in.xml")  # type: ignore[operator]
    msg = str(info.value)
    assert msg.startswith("in.xml"), msg
    assert match in msg, msg
    return msg


def test_android_malformed() -> None:
    pinset = (f'<pin-set><pin digest="SHA-256">{K1[7:]}</pin>'
              f'<pin digest="SHA-256">{K2[7:]}</pin></pin-set>')
    _cfg_error(from_android, "<network-security-config><domain-config>",
               match="line 1, column")
    _cfg_error(from_android, _android(f'<domain-config>\n<domain>a.test</domain>\n'
                                      f'<pin-set expiration="2027-13-01">'
                                      f'<pin digest="SHA-256">{K1[7:]}</pin></pin-set>'
                                      '</domain-config>'),
               match="line 5: <pin-set> expiration")
    _cfg_error(from_android, _android(f'<domain-config><domain>a.test</domain>'
                                      f'<pin-set><pin digest="SHA-1">{K1[7:]}</pin>'
                                      '</pin-set></domain-config>'),
               match="Android refuses <pin> digest 'SHA-1'")
    msg = _cfg_error(from_android, _android(
        '<domain-config>\n<domain>a.test</domain>\n<pin-set>\n'
        '<pin digest="SHA-256">AAAA</pin>\n</pin-set></domain-config>'), match="line 6")
    assert "reads 3 bytes" in msg
    _cfg_error(from_android, _android(f'<domain-config><domain includeSubdomains="yes">a.test'
                                      f'</domain>{pinset}</domain-config>'),
               match='includeSubdomains must be "true" or "false"')
    _cfg_error(from_android, _android(f'<domain-config><domain>a.test</domain>{pinset}'
                                      f'</domain-config><domain-config><domain>A.test</domain>'
                                      f'{pinset}</domain-config>'),
               match="already configured")
    _cfg_error(from_android, "<plist/>", match="expected <network-security-config>")
    _cfg_error(from_android, _android(f'<domain-config><domain>*.a.test</domain>{pinset}'
                                      '</domain-config>'), match="cannot contain '*'")


def test_android_unpinned_hole_under_include_subdomains_is_refused() -> None:
    pinset = (f'<pin-set><pin digest="SHA-256">{K1[7:]}</pin>'
              f'<pin digest="SHA-256">{K2[7:]}</pin></pin-set>')
    xml = _android(f'<domain-config><domain includeSubdomains="true">a.test</domain>{pinset}'
                   '<domain-config><domain>open.a.test</domain><pin-set/></domain-config>'
                   '</domain-config>')
    _cfg_error(from_android, xml, match="cannot express an unpinned exception")


BILLION_LAUGHS = """<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
]>
<network-security-config><domain-config><domain>&lol3;</domain></domain-config>
</network-security-config>
"""

XXE = """<?xml version="1.0"?>
<!DOCTYPE plist [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<plist version="1.0"><dict><key>TSKConfiguration</key><string>&xxe;</string></dict></plist>
"""


@pytest.mark.parametrize("fn", [from_android, from_trustkit])
@pytest.mark.parametrize("doc", [BILLION_LAUGHS, XXE])
def test_doctype_refused(fn: object, doc: str) -> None:
    _cfg_error(fn, doc, match="DOCTYPE is refused")


@pytest.mark.parametrize("fn", [from_android, from_trustkit])
def test_oversized_xml_refused(fn: object) -> None:
    doc = "<network-security-config>" + " " * (1024 * 1024) + "</network-security-config>"
    _cfg_error(fn, doc.encode(), match="larger than 1048576 bytes")


# --- TrustKit ----------------------------------------------------------------------------------


def test_trustkit_fixture_with_apple_doctype() -> None:
    policy = from_trustkit((FIX / "Info.plist").read_bytes(), source="Info.plist")
    www = policy.pin_sets["www.example.com"]
    assert pins(www) == [K1, K2]
    assert www.include_subdomains and www.enforce and www.expires == JAN31
    assert www.report_uris == ("https://reports.example.com/pins",)
    beta = policy.pin_sets["beta.example.org"]
    assert pins(beta) == [K3, K4] and beta.enforce is False and not beta.include_subdomains


def test_trustkit_malformed() -> None:
    doc = (FIX / "Info.plist").read_text()
    msg = _cfg_error(from_trustkit, doc.replace("<string>2027-01-31</string>",
                                                "<string>31.01.2027</string>"),
                     match="line 20 (TSKConfiguration.TSKPinnedDomains.")
    assert "TSKExpirationDate" in msg and "YYYY-MM-DD" in msg
    _cfg_error(from_trustkit, doc.replace("<key>TSKIncludeSubdomains</key>\n\t\t\t\t<true/>",
                                          "<key>TSKIncludeSubdomains</key>\n\t\t\t\t<string>yes"
                                          "</string>"),
               match="expected <true/> or <false/>")
    _cfg_error(from_trustkit, doc.replace("<key>TSKEnforcePinning</key>\n\t\t\t\t<false/>",
                                          "<key>TSKEnforcePining</key>\n\t\t\t\t<false/>"),
               match="unknown TrustKit key 'TSKEnforcePining'")
    msg = _cfg_error(from_trustkit, doc.replace("pLNQTCdp", "pLNQTC"),
                     match="TSKPublicKeyHashes[1]")
    assert "line 40" in msg
    _cfg_error(from_trustkit, doc.replace("TSKConfiguration", "Other"),
               match="no TSKConfiguration")
    _cfg_error(from_trustkit, b"bplist00\x00", match="binary plist")
    other_doctype = doc.replace("-//Apple//DTD PLIST 1.0//EN", "-//Evil//DTD//EN")
    _cfg_error(from_trustkit, other_doctype, match="DOCTYPE is refused")


def test_trustkit_k_prefixed_keys_refused() -> None:
    """TrustKit reads a plist key by the constant's string value (TSKTrustKitConfig.m lines
    17-31): it ignores ``kTSKEnforcePinning`` (and enforces), so certpin must not read it."""
    doc = (FIX / "Info.plist").read_text().replace("<key>TSK", "<key>kTSK").replace(
        "<key>kTSKConfiguration", "<key>TSKConfiguration")
    _cfg_error(from_trustkit, doc, match="TrustKit ignores 'kTSKSwizzleNetworkDelegates' in a "
                                         "plist: it reads the string value of the constant")


# --- HPKP, curl, OkHttp ------------------------------------------------------------------------


def test_hpkp_fixture() -> None:
    policy = from_hpkp((FIX / "hpkp.txt").read_text(), "Example.com")
    ps = policy.pin_sets["example.com"]
    assert pins(ps) == [K1, K2] and ps.include_subdomains and ps.enforce
    assert ps.report_uris == ("https://reports.example.com/hpkp",)
    ro = from_hpkp("Public-Key-Pins-Report-Only: " + (FIX / "hpkp.txt").read_text().split(
        ": ", 1)[1], "example.com")
    assert ro.pin_sets["example.com"].enforce is False
    spaced = from_hpkp(f' ; pin-sha256 = "{K1[7:]}";; PIN-SHA256="{K2[7:]}" ;MAX-AGE=1;',
                       "a.test")
    assert pins(spaced.pin_sets["a.test"]) == [K1, K2]
    flagged = from_hpkp(to_hpkp(policy).text, "example.com", report_only=True)
    assert flagged.pin_sets["example.com"].enforce is False


@pytest.mark.parametrize(("value", "match"), [
    (f'pin-sha256="{K1[7:]}"; pin-sha256="{K2[7:]}"', "missing max-age"),
    (f'pin-sha256="{K1[7:]}"; pin-sha256="{K2[7:]}"; max-age=0', "forget the pins"),
    (f'pin-sha256="{K1[7:]}"; max-age=10', "only one pin"),
    (f'pin-sha256="{K1[7:]}"; pin-sha256="{K2[7:]}"; max-age=10; max-age=5', "repeated"),
    # pin-sha1 is ignored (RFC 7469 section 2.1.1), which leaves one pin
    (f'pin-sha256="{K1[7:]}"; pin-sha1="{K2[7:]}"; max-age=10', "only one pin"),
    (f'pin-sha256="{K1[7:]}"; pin-sha256="AAAA"; max-age=10', "directive 2"),
    (f'pin-sha256={K1[7:]}; max-age=10', "needs a quoted value"),
    (f'pin-sha256="{K1[7:]}"; pin-sha256="{K2[7:]}"; max-age=ten', "number of seconds"),
])
def test_hpkp_malformed(value: str, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        from_hpkp(value, "a.test", source="h.txt")


def test_curl_import() -> None:
    policy = from_curl((FIX / "curl.txt").read_text(), "a.test")
    assert pins(policy.pin_sets["a.test"]) == [K1, K2]
    one = from_curl(f"--pinnedpubkey 'sha256//{K1[7:]}'", "a.test")
    assert one.pin_sets["a.test"].allow_single_pin is True
    with pytest.raises(ConfigError, match="not followed by 'sha256//'"):
        from_curl(f"sha256//{K1[7:]};/etc/key.pem", "a.test")


def test_okhttp_fixture_kotlin() -> None:
    warnings: list[str] = []
    policy = from_okhttp((FIX / "pinner.kt").read_text(), warnings=warnings)
    assert pins(policy.pin_sets["api.example.com"]) == [K1, K2]
    org = policy.pin_sets["example.org"]
    assert pins(org) == [K3, K4] and org.include_subdomains
    assert pins(policy.pin_sets["*.cdn.example.net"]) == [K1, K3]
    assert len(warnings) == 1 and "OkHttp 3 reads '**.'" in warnings[0]  # **.example.org
    java = from_okhttp((FIX / "Pinner.java").read_text())
    plain = from_okhttp((FIX / "pins.txt").read_text())
    assert java == plain == PinPolicy({"api.example.com": PinSet([K1, K2])})
    only = from_okhttp((FIX / "pinner.kt").read_text(), "**.example.org")
    assert list(only.pin_sets) == ["example.org"]
    bare = from_okhttp(f"{K1}\n{K2}\n", "a.test")
    assert pins(bare.pin_sets["a.test"]) == [K1, K2]


def test_okhttp_overlap_merged_like_okhttp() -> None:
    warnings: list[str] = []
    text = (f'b.add("**.a.test", "{K1}", "{K2}")\n.add("x.a.test", "{K3}", "{K4}")\n'
            f'.add("*.a.test", "{K3}", "{K1}")')
    policy = from_okhttp(text, warnings=warnings)
    # OkHttp accepts any matching pattern's pins: x.a.test accepts K1..K4
    assert pins(policy.pin_sets["x.a.test"]) == [K3, K4, K1, K2]
    assert pins(policy.pin_sets["*.a.test"]) == [K3, K1, K2]
    assert pins(policy.pin_sets["a.test"]) == [K1, K2]
    merged = [w for w in warnings if "merged" in w]  # the other: what '**.' is in OkHttp 3
    assert len(merged) == 2 and len(warnings) == 3


def test_okhttp_partial_overlap() -> None:
    # OkHttp: x.a.test matches both patterns (accepts K1..K4), y.x.a.test only the first.
    text = f'.add("**.x.a.test", "{K1}", "{K2}").add("*.a.test", "{K3}", "{K4}")'
    with pytest.raises(ConfigError, match=r"line 1: \*\*\.x\.a\.test and \*\.a\.test both match"):
        from_okhttp(text)
    policy = PinPolicy({"x.a.test": PinSet([K1, K2], include_subdomains=True),
                        "*.a.test": PinSet([K3, K4])})
    with pytest.raises(ExportError, match=r"x\.a\.test: overlaps \*\.a\.test"):
        to_okhttp(policy, okhttp_version=4)
    fine = PinPolicy({"x.a.test": PinSet([K1, K2, K3], include_subdomains=True),
                      "*.a.test": PinSet([K3], allow_single_pin=True)})
    assert from_okhttp(to_okhttp(fine, okhttp_version=4).text) == fine


def test_okhttp_malformed() -> None:
    with pytest.raises(ConfigError, match=r"line 2: expected a string literal"):
        from_okhttp('CertificatePinner.Builder()\n  .add(HOST, "x")', source="p.kt")
    with pytest.raises(ConfigError, match=r"line 1, pin 1: .*not supported"):
        from_okhttp('.add("a.test", "sha1/AAAAAAAAAAAAAAAAAAAAAAAAAAA=")', source="p.kt")
    with pytest.raises(ConfigError, match="both exactly and with"):
        from_okhttp(f'.add("a.test", "{K1}", "{K2}").add("**.a.test", "{K3}", "{K4}")')
    with pytest.raises(ConfigError, match="a pin without a host"):
        from_okhttp(f"{K1}\n")
    with pytest.raises(ConfigError, match="no pins found"):
        from_okhttp("val p = CertificatePinner.Builder().build()")


def test_import_needs_host_for_hostless_formats() -> None:
    with pytest.raises(ConfigError, match="--host"):
        import_policy((FIX / "curl.txt").read_text(), "curl")


# --- export rules ------------------------------------------------------------------------------


def _rich_policy() -> PinPolicy:
    return PinPolicy({
        "api.example.com": PinSet([K1, K2], include_subdomains=True, expires=JAN31),
        "www.example.com": PinSet([K3, K4], enforce=False,
                                  report_uris=["https://r.example.com/"]),
    })


@pytest.mark.parametrize(("fmt", "expected"), [
    ("android", ["www.example.com: report-only"]),
    ("okhttp", ["api.example.com: expires", "www.example.com: report-only",
                "every pin set was dropped, so nothing would be left to export"]),
    ("trustkit", []),
    ("trustkit-swift", []),
    ("swift-delegate", ["www.example.com: report_uris"]),
])
def test_export_refuses_what_it_cannot_say(fmt: str, expected: list[str]) -> None:
    if not expected:
        export_policy(_rich_policy(), fmt)
        return
    with pytest.raises(ExportError) as info:
        export_policy(_rich_policy(), fmt)
    assert [p.split(" (")[0] for p in info.value.problems] == expected
    if fmt == "okhttp":  # both sets are left out: an empty pinner is no export
        with pytest.raises(ExportError, match="nothing would be left"):
            export_policy(_rich_policy(), fmt, lossy=True)
        return
    result = export_policy(_rich_policy(), fmt, lossy=True)
    assert [d.split(" (")[0].split(";")[0] for d in result.dropped] == expected


def test_lossy_android_leaves_report_only_set_out() -> None:
    result = to_android(_rich_policy(), lossy=True)
    assert "www.example.com" not in result.text
    back = from_android(result.text)
    assert list(back.pin_sets) == ["api.example.com"]
    assert "pin set left out (not pinned)" in result.dropped[0]


def test_android_export_groups_shared_pin_sets() -> None:
    policy = PinPolicy({"a.test": PinSet([K1, K2], include_subdomains=True),
                        "b.test": PinSet([K1, K2]), "c.test": PinSet([K3, K4])})
    text = to_android(policy).text
    assert text.count("<domain-config>") == 2
    assert ('<domain includeSubdomains="true">a.test</domain>\n'
            '        <domain>b.test</domain>') in text
    assert from_android(text) == policy


def test_other_unsupported_rules() -> None:
    wild = PinPolicy({"*.a.test": PinSet([K1, K2])})
    for fn in (to_android, to_trustkit):
        with pytest.raises(ExportError, match=r"\*\.a\.test: one-label wildcard"):
            fn(wild)
    cert = PinPolicy({"a.test": PinSet([K1, C1])})
    for fn in (to_android, to_trustkit, to_okhttp):
        with pytest.raises(ExportError, match=r"a\.test: certificate pins"):
            fn(cert)
    reject = PinPolicy({"a.test": PinSet([K1, K2])}, unknown_hosts="reject")
    for fn in (to_android, to_trustkit, to_okhttp):
        with pytest.raises(ExportError, match='unknown_hosts = "reject"'):
            fn(reject)
    noon = PinPolicy({"a.test": PinSet([K1, K2], expires="2027-01-31T12:00:00Z")})
    # Android's date is local midnight: ending by 12:00Z everywhere takes the day before
    # (more in test_config_android_rules.py)
    assert 'expiration="2027-01-30"' in to_android(noon).text
    single = PinPolicy({"a.test": PinSet([K1], allow_single_pin=True)})
    with pytest.raises(ExportError, match="fewer than two pins"):
        to_trustkit(single)
    overlap = PinPolicy({"a.test": PinSet([K1, K2], include_subdomains=True),
                         "x.a.test": PinSet([K3, K4])})
    with pytest.raises(ExportError, match=r"x\.a\.test: overlaps \*\*\.a\.test"):
        to_okhttp(overlap, okhttp_version=4)
    superset = PinPolicy({"a.test": PinSet([K1, K2], include_subdomains=True),
                          "x.a.test": PinSet([K3, K1, K2])})
    assert from_okhttp(to_okhttp(superset, okhttp_version=4).text) == superset


def test_trustkit_nested_include_subdomains_kept_with_a_note() -> None:
    """TrustKit >= 1.6.2 applies the most specific includeSubdomains parent, as certpin does
    (configuration_utils.m lines 63-81, commit 96045ef): exported, with a note for older ones."""
    nested = PinPolicy({"a.example.com": PinSet([K1, K2], include_subdomains=True),
                        "x.a.example.com": PinSet([K3, K4], include_subdomains=True)})
    result = to_trustkit(nested)
    assert result.dropped == []
    assert result.notes == [
        "nested includeSubdomains domains with different pins (x.a.example.com under "
        "a.example.com) need TrustKit >= 1.6.2, which applies the most specific one as certpin "
        "does; older versions apply whichever parent they find first"]
    assert from_trustkit(result.text) == nested
    same = PinPolicy({"a.example.com": PinSet([K1, K2], include_subdomains=True),
                      "x.a.example.com": PinSet([K2, K1], include_subdomains=True)})
    assert to_trustkit(same).notes == []


def test_single_host_exports() -> None:
    policy = _rich_policy()
    with pytest.raises(PolicyError, match="choose one with --host"):
        to_hpkp(policy)
    with pytest.raises(PolicyError, match="not in the policy"):
        to_curl(policy, "other.test")
    result = to_hpkp(policy, "www.example.com")
    assert result.text == (f'pin-sha256="{K3[7:]}"; pin-sha256="{K4[7:]}"; max-age=5184000; '
                           'report-uri="https://r.example.com/"\n')
    assert "Public-Key-Pins-Report-Only" in result.notes[0]
    with pytest.raises(ExportError, match="report-only"):
        to_curl(policy, "www.example.com")
    with pytest.raises(ExportError, match="include_subdomains"):
        to_curl(policy, "api.example.com")
    result = to_curl(policy, "api.example.com", lossy=True)
    assert result.text == f"sha256//{K1[7:]};sha256//{K2[7:]}\n"
    assert "leaf certificate only" in result.notes[0]
    assert len(result.dropped) == 2


def test_trustkit_export_disables_default_report_uri_and_swizzle_flag() -> None:
    policy = _rich_policy()
    text = to_trustkit(policy).text
    assert text.count("<key>TSKDisableDefaultReportUri</key>\n\t\t\t\t<true/>") == 2
    assert "<key>TSKSwizzleNetworkDelegates</key>\n\t\t<false/>" in text
    assert "<key>TSKSwizzleNetworkDelegates</key>\n\t\t<true/>" in to_trustkit(
        policy, swizzle=True).text
    assert from_trustkit(text) == policy
    swift = to_trustkit_swift(policy, swizzle=True).text
    assert "kTSKSwizzleNetworkDelegates: true," in swift
    assert swift.count("kTSKDisableDefaultReportUri: true,") == 2


# --- Swift delegate: the SPKI headers ----------------------------------------------------------


@pytest.mark.parametrize("size", [2048, 3072, 4096])
def test_rsa_spki_headers_match_cryptography(size: int) -> None:
    key = rsa.generate_private_key(65537, size).public_key()
    spki = key.public_bytes(serialization.Encoding.DER,
                            serialization.PublicFormat.SubjectPublicKeyInfo)
    raw = key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.PKCS1)
    assert bytes.fromhex(SPKI_HEADERS[("rsa", len(raw))]) + raw == spki


@pytest.mark.parametrize("curve", [ec.SECP256R1(), ec.SECP384R1(), ec.SECP521R1()])
def test_ec_spki_headers_match_cryptography(curve: ec.EllipticCurve) -> None:
    key = ec.generate_private_key(curve).public_key()
    spki = key.public_bytes(serialization.Encoding.DER,
                            serialization.PublicFormat.SubjectPublicKeyInfo)
    raw = key.public_bytes(serialization.Encoding.X962,
                           serialization.PublicFormat.UncompressedPoint)
    assert bytes.fromhex(SPKI_HEADERS[("ec", len(raw))]) + raw == spki


# --- golden files ------------------------------------------------------------------------------


def _golden_policy() -> PinPolicy:
    """With roles (the Swift delegate says them; TrustKit's lossy export drops them)."""
    return PinPolicy({
        "api.example.com": PinSet([K1, K2], include_subdomains=True, expires=JAN31,
                                  roles={K1: "leaf", K2: "ca"}),
        "www.example.com": PinSet([K3], backup_pins=[K4], enforce=False,
                                  report_uris=["https://reports.example.com/pins"],
                                  roles={K4: "leaf"}),
        "*.cdn.example.com": PinSet([K1, C1], expires="2027-06-01T12:00:00Z",
                                    roles={C1: "ca"}),
        "plain.example.net": PinSet([K3, K4]),
    }, unknown_hosts="reject")


def _okhttp_policy() -> PinPolicy:
    return PinPolicy({
        "api.example.com": PinSet([K1, K2], include_subdomains=True),
        "*.cdn.example.com": PinSet([K3, K4]),
        "plain.example.net": PinSet([K3], backup_pins=[K4]),
    })


@pytest.mark.parametrize(("name", "make"), [
    ("CertpinPinningDelegate.swift", lambda: to_swift_delegate(_golden_policy(), lossy=True)),
    ("TrustKitConfig.swift", lambda: to_trustkit_swift(_golden_policy(), lossy=True)),
])
def test_golden(name: str, make: object) -> None:
    text = make().text  # type: ignore[operator]
    path = GOLDEN / name
    if os.environ.get("CERTPIN_UPDATE_GOLDEN"):
        path.write_text(text)
    assert text == path.read_text()


def test_pin_base64_in_outputs_is_canonical() -> None:
    text = to_android(_okhttp_policy(), lossy=True).text
    for line in text.splitlines():
        if "<pin " in line:
            b64 = line.split(">")[1].split("<")[0]
            assert len(base64.b64decode(b64, validate=True)) == 32


# --- hostile XML (issue 16): encodings, depth, surrogates --------------------------------------

_XML_READERS = {"android": "network-security-config", "trustkit": "plist"}


def _xml_reader(name: str):  # type: ignore[no-untyped-def]
    from certpin.config import from_android, from_trustkit

    return from_android if name == "android" else from_trustkit


@pytest.mark.parametrize("reader", sorted(_XML_READERS))
@pytest.mark.parametrize("encoding", ["utf-4", "rot13", "hex", "utf-7", "utf-32", "cp037", "x"])
def test_xml_declaring_an_unsupported_encoding_is_refused(reader: str, encoding: str) -> None:
    doc = f'<?xml version="1.0" encoding="{encoding}"?>\n<{_XML_READERS[reader]}/>'.encode()
    with pytest.raises(ConfigError) as info:
        _xml_reader(reader)(doc, source="in.xml")
    assert str(info.value) == (
        f"in.xml, line 1: unsupported XML encoding '{encoding}': "
        "expected UTF-8 (or UTF-16, ISO-8859-1, US-ASCII)"
    )


def test_xml_in_latin1_as_declared_is_still_read() -> None:
    from certpin.config import from_android

    doc = ('<?xml version="1.0" encoding="ISO-8859-1"?>\n<network-security-config>'
           "<domain-config><domain>a.test</domain><pin-set>"
           '<pin digest="SHA-256">gXQJloeiZiH04s3XzAOz2s7bP7liJVsar9Azyr6DFTA=</pin>'
           '<pin digest="SHA-256">sQJTdkyLIz+zdULiNAHHtFDlpvl1HztaAU9vZ+i8mZ0=</pin>'
           "</pin-set></domain-config></network-security-config>").encode("latin-1")
    assert sorted(from_android(doc).pin_sets) == ["a.test"]


@pytest.mark.parametrize("reader", sorted(_XML_READERS))
def test_xml_nested_past_the_depth_cap_is_refused(reader: str) -> None:
    from certpin.config import MAX_XML_DEPTH

    inner = "<array>" * 1000 + "</array>" * 1000
    if reader == "android":
        inner = "".join(f"<domain-config><domain>d{i}.test</domain>" for i in range(1000))
        inner += "</domain-config>" * 1000
    doc = f"<{_XML_READERS[reader]}>\n{inner}</{_XML_READERS[reader]}>"
    with pytest.raises(ConfigError) as info:
        _xml_reader(reader)(doc, source="deep.xml")
    assert str(info.value) == (
        f"deep.xml, line 2: XML nested deeper than {MAX_XML_DEPTH} elements; refusing to parse it"
    )


@pytest.mark.parametrize("reader", sorted(_XML_READERS))
def test_xml_str_with_a_lone_surrogate_is_refused(reader: str) -> None:
    doc = f"<{_XML_READERS[reader]}>\n <x>\udc80</x></{_XML_READERS[reader]}>"
    with pytest.raises(ConfigError, match=r"line 2, column 5: text holds a lone surrogate"):
        _xml_reader(reader)(doc)


# --- OkHttp import stays linear (issue 16: no input takes more than about a second) ------------

_LABELS = st.sampled_from(["a", "b", "c", "example", "com", "1", "2"])
_NAMES = st.lists(_LABELS, min_size=1, max_size=4).map(".".join)
_KEYS = st.tuples(st.one_of(_NAMES, _NAMES.map(lambda n: "*." + n)), st.booleans())


@given(st.lists(_KEYS, min_size=1, max_size=12, unique=True))
def test_okhttp_candidates_include_every_related_pattern(keys: list[tuple[str, bool]]) -> None:
    from certpin.config.okhttp import _candidates, _relation

    order = {k: i for i, k in enumerate(keys)}
    for key in keys:
        related = [o for o in keys if _relation(key, o) is not None]
        assert [o for o in _candidates(key, order) if _relation(key, o) is not None] == related


@given(st.text(alphabet="ab\n", max_size=40), st.integers(min_value=0, max_value=45))
def test_okhttp_line_index_counts_lines(text: str, pos: int) -> None:
    from certpin.config._okhttp_source import _LineIndex

    assert _LineIndex(text)(pos) == text.count("\n", 0, pos) + 1


def test_a_one_mib_okhttp_file_imports_without_comparing_every_pair(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from certpin.config import MAX_INPUT_BYTES, from_okhttp, okhttp

    calls = []
    real = okhttp._relation
    monkeypatch.setattr(okhttp, "_relation", lambda a, b: calls.append(1) or real(a, b))
    k1 = "sha256/gXQJloeiZiH04s3XzAOz2s7bP7liJVsar9Azyr6DFTA="
    lines = [f'.add("**.h{i}.example.com", "{k1}")' for i in range(2000)]
    lines += [f'.add("x.h{i}.example.com", "{k1}")' for i in range(2000)]
    text = "CertificatePinner.Builder()\n" + "\n".join(lines) + "\n.build()"
    assert len(text) < MAX_INPUT_BYTES
    policy = from_okhttp(text)
    assert len(policy.pin_sets) == 4000
    assert len(calls) == 2000  # each x.hN meets its parent **.hN only, not 4000 x 4000 pairs


def test_exports_of_thousands_of_patterns_do_not_compare_every_pair(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from certpin.config import _trustkit_export, okhttp, to_okhttp, to_trustkit
    from certpin.policy import PinPolicy, PinSet

    k1 = "sha256/gXQJloeiZiH04s3XzAOz2s7bP7liJVsar9Azyr6DFTA="
    k2 = "sha256/sQJTdkyLIz+zdULiNAHHtFDlpvl1HztaAU9vZ+i8mZ0="
    sets = {f"h{i}.example.com": PinSet([k1, k2], include_subdomains=True) for i in range(2000)}
    sets["example.com"] = PinSet([k1, k2, "sha256/" + "A" * 43 + "="], include_subdomains=True)
    policy = PinPolicy(sets)
    relation_calls, rules_calls = [], []
    real_relation, real_rules = okhttp._relation, _trustkit_export._rules
    monkeypatch.setattr(okhttp, "_relation",
                        lambda a, b: relation_calls.append(1) or real_relation(a, b))
    monkeypatch.setattr(_trustkit_export, "_rules",
                        lambda ps: rules_calls.append(1) or real_rules(ps))
    ok = to_okhttp(policy, lossy=True, okhttp_version=4)
    assert len(ok.dropped) == 2000  # every hN.example.com overlaps example.com's third pin
    assert ok.dropped[0] == ("h0.example.com: overlaps **.example.com whose other pins OkHttp "
                             "would also accept; kept; the hosts of the narrower pattern accept "
                             "both sets")
    assert len(relation_calls) <= 2 * 2001
    tk = to_trustkit(policy)  # nested parents are fine for TrustKit >= 1.6.2: a note
    assert tk.dropped == [] and len(tk.notes) == 1
    assert "(h0.example.com under example.com, h1.example.com under" in tk.notes[0]
    assert len(rules_calls) == 2 * 2000


@pytest.mark.parametrize("fmt", ["hpkp", "curl", "okhttp", "android", "trustkit"])
def test_importers_refuse_more_pins_per_set_than_the_cap(fmt: str) -> None:
    import base64
    import hashlib

    from certpin.config import MAX_PINS_PER_SET, import_policy

    b64 = [base64.b64encode(hashlib.sha256(str(i).encode()).digest()).decode()
           for i in range(MAX_PINS_PER_SET + 1)]
    doc = {
        "hpkp": "max-age=1; " + "; ".join(f'pin-sha256="{b}"' for b in b64),
        "curl": ";".join(f"sha256//{b}" for b in b64),
        "okhttp": "a.example " + " ".join(f"sha256/{b}" for b in b64),
        "android": "<network-security-config><domain-config><domain>a.example</domain><pin-set>"
                   + "".join(f'<pin digest="SHA-256">{b}</pin>' for b in b64)
                   + "</pin-set></domain-config></network-security-config>",
        "trustkit": "<plist><dict><key>TSKPinnedDomains</key><dict><key>a.example</key><dict>"
                    "<key>TSKPublicKeyHashes</key><array>"
                    + "".join(f"<string>{b}</string>" for b in b64)
                    + "</array></dict></dict></dict></plist>",
    }[fmt]
    with pytest.raises(ConfigError, match=r"(65 pins in one pin set|more than 64 pins for "
                                          r"'a\.example'); certpin reads at most 64"):
        import_policy(doc, fmt, host="a.example")


@pytest.mark.parametrize("uri", ["https://r.example/a b", 'https://re//EN" "http://x', "ftp://r"])
def test_trustkit_report_uris_follow_the_policy_file_rule(uri: str) -> None:
    """Found by fuzzing: TrustKit import took a URI with spaces that the written policy file
    could not load back."""
    from xml.sax.saxutils import escape as xml_escape

    from certpin.config import from_trustkit

    doc = ("<plist><dict><key>TSKPinnedDomains</key><dict><key>a.example</key><dict>\n"
           "<key>TSKPublicKeyHashes</key><array><string>gXQJloeiZiH04s3XzAOz2s7bP7liJVsar9Azyr6"
           "DFTA=</string><string>sQJTdkyLIz+zdULiNAHHtFDlpvl1HztaAU9vZ+i8mZ0=</string></array>\n"
           f"<key>TSKReportUris</key><array>\n<string>{xml_escape(uri)}</string></array>"
           "</dict></dict></dict></plist>")
    with pytest.raises(ConfigError) as info:
        from_trustkit(doc, source="Info.plist")
    assert str(info.value).startswith(
        'Info.plist, line 4 ((plist).TSKPinnedDomains."a.example".TSKReportUris[0]): expected an '
        "http(s) URI without spaces, got "
    )


# ------------------------------------------------------------ regressions
# Moved here from the files that grouped them by who found them (red team, reviews).


# regression: an Android includeSubdomains error named its file and line twice (found by the review
#   of hostile input)
def test_android_bad_include_subdomains_names_the_location_once() -> None:
    # The attribute's ConfigError (already located) was caught as a PolicyError and wrapped
    # again: "a.xml, line 2: domain 'a.test': a.xml, line 2: <domain> includeSubdomains ...".
    from certpin.config import from_android

    xml = ('<?xml version="1.0" encoding="utf-8"?>\n<network-security-config><domain-config>'
           '<domain includeSubdomains="yes">a.test</domain><pin-set>'
           '<pin digest="SHA-256">gXQJloeiZiH04s3XzAOz2s7bP7liJVsar9Azyr6DFTA=</pin>'
           '<pin digest="SHA-256">sQJTdkyLIz+zdULiNAHHtFDlpvl1HztaAU9vZ+i8mZ0=</pin>'
           '</pin-set></domain-config></network-security-config>')
    with pytest.raises(ConfigError) as info:
        from_android(xml, source="a.xml")
    message = str(info.value)
    assert message.count("a.xml") == 1, message
    assert 'includeSubdomains must be "true" or "false"' in message
