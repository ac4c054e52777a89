"""OkHttp's own rules in certpin's OkHttp importer and exporter (issue 11, items 9 and 12).

What OkHttp does is taken from its source (docs/rules/okhttp.md cites file and line) and, for
OkHttp 3.13, checked against the real library in ``test_config_okhttp_jvm.py``. These tests run
without a JVM.
"""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path

import pytest
from hypothesis import given, seed, settings
from hypothesis import strategies as st

from certpin import ConfigError, PolicyError
from certpin.config import ExportError, export_policy, from_okhttp, import_policy, to_okhttp
from certpin.config._okhttp_rules import okio_base64, read_pattern, read_pin
from certpin.config._okhttp_source import calls
from certpin.pins import Pin
from certpin.policy import PinPolicy, PinSet

GOLDEN = Path(__file__).parent.parent / "golden"
K1 = "sha256/gXQJloeiZiH04s3XzAOz2s7bP7liJVsar9Azyr6DFTA="
K2 = "sha256/sQJTdkyLIz+zdULiNAHHtFDlpvl1HztaAU9vZ+i8mZ0="
K3 = "sha256/9XYQTuvqsJZR2DrP/HfIuMbqpLdnrqsk19qA+D9R2GU="
K4 = "sha256/pLNQTCdp/OlUf23aMQ3YsJTWMKBE1l9TJNSzcxCqtxQ="
V4_FIRST_LINE = "// certpin: for OkHttp >= 4.3"


def _import_pin(pin: str) -> tuple[PinPolicy, list[str]]:
    warnings: list[str] = []
    text = f'.add("a.test", {_java(pin)}, "{K2}")'
    return from_okhttp(text, warnings=warnings, source="p.java"), warnings


def _java(s: str) -> str:
    """A Java/Kotlin string literal of ``s`` (json.dumps is one for these texts)."""
    return json.dumps(s)


# --- okio base64 (okio-parent-1.16.0 okio/src/main/java/okio/Base64.java:29-108) --------------


@pytest.mark.parametrize(("text", "expected"), [
    ("", b""),
    ("====", b""),
    ("QQ", b"A"),
    ("QQ==", b"A"),
    ("QUI", b"AB"),
    ("QUJD", b"ABC"),
    ("Q U\nJ\tD\r", b"ABC"),
    ("-_-_", base64.b64decode("+/+/")),
    ("QR==", b"A"),  # the low bits of the last character are dropped, not checked
    ("Q", None),  # one character of a group: a truncated byte
    ("QQ=Q", None),  # '=' anywhere but at the end
    ("QQ.Q", None),
    ("QQ\u00e9Q", None),
    ("QQ\vQ", None),  # only space, tab, CR and LF are skipped
])
def test_okio_base64(text: str, expected: bytes | None) -> None:
    assert okio_base64(text) == expected


# --- pins: accept nothing OkHttp refuses -------------------------------------------------------


@pytest.mark.parametrize(("pin", "reason"), [
    ("SHA256/" + K1[7:], "lower case"),
    ("Sha256/" + K1[7:], "lower case"),
    (f'pin-sha256="{K1[7:]}"', "HPKP"),
    ("pin-sha256=" + K1[7:], "HPKP"),
    (" " + K1, "white space"),
    ("cert-sha256/" + K1[7:], "public keys"),
    ("", "must start with 'sha256/' or 'sha1/'"),
    ("sha384/" + K1[7:], "must start with 'sha256/' or 'sha1/'"),
    (K1[:20] + "=" + K1[20:], "not base64"),
    (K1[:20] + "." + K1[21:], "not base64"),
    ("sha256/A", "not base64"),
])
def test_pins_okhttp_refuses_are_refused(pin: str, reason: str) -> None:
    with pytest.raises(ConfigError, match=r"p\.java, line 1, pin 1: ") as info:
        _import_pin(pin)
    assert reason in str(info.value)
    assert "OkHttp refuses" in str(info.value)


@pytest.mark.parametrize(("pin", "reason"), [
    ("sha1/" + "A" * 27 + "=", "SHA-1"),
    ("sha256//" + K1[7:], "leading '/'"),
    ("sha256/", "0 bytes"),
    ("sha256/====", "0 bytes"),
    ("sha256/AAAA", "3 bytes"),
    ("sha256/" + K1[7:-1] + "AAAA", "35 bytes"),
])
def test_pins_okhttp_accepts_but_certpin_cannot_hold_are_refused_with_a_reason(
    pin: str, reason: str
) -> None:
    with pytest.raises(ConfigError) as info:
        _import_pin(pin)
    message = str(info.value)
    assert reason in message and "OkHttp accepts" in message


def test_sha1_message_keeps_saying_not_supported() -> None:
    with pytest.raises(ConfigError, match=r"line 1, pin 1: .*not supported"):
        from_okhttp('.add("a.test", "sha1/AAAAAAAAAAAAAAAAAAAAAAAAAAA=")', source="p.kt")


@pytest.mark.parametrize(("pin", "why"), [
    (K3[:23] + "_" + K3[24:], "URL-safe"),  # '/' written as '_'
    (K3.replace("+", "-"), "URL-safe"),
    (K3[:-1], "no '=' padding"),
    (K3 + "=", "extra '='"),
    (K3[:20] + " \n" + K3[20:], "white space"),
    (K3 + " ", "white space"),
    (K3[:-2] + "V=", "trailing bits"),  # 'V' = 'U' with the unused low bit set
])
def test_lenient_base64_is_the_same_pin_with_a_warning(pin: str, why: str) -> None:
    policy, warnings = _import_pin(pin)
    assert policy.pin_sets["a.test"].pins == (Pin("spki", base64.b64decode(K3[7:])),
                                               Pin("spki", base64.b64decode(K2[7:])))
    assert len(warnings) == 1
    assert why in warnings[0] and K3 in warnings[0] and "p.java: line 1" in warnings[0]


def test_canonical_pin_gives_no_warning() -> None:
    pin, warning = read_pin(K1)
    assert str(pin) == K1 and warning is None


# --- patterns ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("pattern", "expected"), [
    ("a.test", ("a.test", False)),
    ("API.Example.COM", ("api.example.com", False)),
    ("bücher.example", ("xn--bcher-kva.example", False)),
    ("*.a.test", ("*.a.test", False)),
    ("[::1]", ("::1", False)),
    ("127.0.0.1", ("127.0.0.1", False)),
])
def test_patterns_that_mean_the_same(pattern: str, expected: tuple[str, bool]) -> None:
    name, sub, warning = read_pattern(pattern)
    assert (name, sub) == expected and warning is None


def test_double_star_is_include_subdomains_with_a_warning_about_okhttp_3() -> None:
    name, sub, warning = read_pattern("**.A.test")
    assert (name, sub) == ("a.test", True)
    assert warning is not None and "OkHttp 3" in warning and "4.3" in warning
    warnings: list[str] = []
    policy = from_okhttp(f'.add("**.a.test", "{K1}", "{K2}")', warnings=warnings)
    assert policy.pin_sets["a.test"].include_subdomains
    assert len(warnings) == 1 and "pins nothing" in warnings[0]


@pytest.mark.parametrize(("pattern", "reason"), [
    ("", "empty"),
    ("*.", "empty"),
    ("a.test.", "trailing dot"),
    ("*", "'*'"),
    ("a.*.test", "'*'"),
    ("*a.test", "'*'"),
    ("*.*.test", "'*'"),
    ("**.*.a.test", "'*'"),
    ("***.a.test", "'*'"),
    ("*.localhost", "also matches 'localhost'"),
    ("a.test:443", "http://a.test:443"),
    ("a.test/x", "http://a.test/x"),
    ("u@a.test", "http://u@a.test"),
    ("a%2Etest", "http://a%2Etest"),
    (" a.test", "white space"),
    ("a.test ", "white space"),
    ("::1", "brackets"),
    ("a_b.test", "letters, digits and inner hyphens"),
    ("straße.test", "deviation"),
])
def test_patterns_refused_with_a_reason(pattern: str, reason: str) -> None:
    with pytest.raises(PolicyError) as info:
        read_pattern(pattern)
    assert reason in str(info.value)
    with pytest.raises(ConfigError, match=r"p\.kt, line 1"):
        from_okhttp(f'.add({_java(pattern)}, "{K1}", "{K2}")', source="p.kt")


def test_lines_format_uses_the_same_pin_rules() -> None:
    with pytest.raises(ConfigError, match="lower case"):
        from_okhttp(f"a.test SHA256/{K1[7:]} {K2}\n")
    warnings: list[str] = []
    policy = import_policy(f"a.test {K1[:-1]} {K2}\n", "okhttp", warnings=warnings)
    assert str(policy.pin_sets["a.test"].pins[0]) == K1 and len(warnings) == 1


# --- export: --okhttp-version 3 (default) and 4 -----------------------------------------------


def _sub_policy() -> PinPolicy:
    return PinPolicy({
        "api.example.com": PinSet([K1, K2], include_subdomains=True),
        "*.cdn.example.com": PinSet([K3, K4]),
        "plain.example.net": PinSet([K3], backup_pins=[K4]),
    })


def _v3_policy() -> PinPolicy:
    return PinPolicy({
        "api.example.com": PinSet([K1, K2]),
        "*.cdn.example.com": PinSet([K3, K4]),
        "plain.example.net": PinSet([K3], backup_pins=[K4]),
    })


def test_v3_is_the_default_and_refuses_include_subdomains() -> None:
    for call in (lambda: to_okhttp(_sub_policy()),
                 lambda: export_policy(_sub_policy(), "okhttp"),
                 lambda: to_okhttp(_sub_policy(), okhttp_version=3)):
        with pytest.raises(ExportError) as info:
            call()
        assert [p.split(" (")[0] for p in info.value.problems] == [
            "api.example.com: include_subdomains"]
        assert "OkHttp 3" in info.value.problems[0] and "'**.'" in info.value.problems[0]


def test_v3_lossy_pins_the_host_and_one_label_and_says_what_is_left_out() -> None:
    result = to_okhttp(_sub_policy(), lossy=True)
    assert "**." not in result.text
    assert '.add("api.example.com",' in result.text
    assert '.add("*.api.example.com",' in result.text
    assert len(result.dropped) == 1
    row = result.dropped[0]
    assert row.startswith("api.example.com: include_subdomains")
    assert "two or more labels below api.example.com are not pinned" in row
    back = from_okhttp(result.text)
    assert back.pin_sets["api.example.com"] == PinSet([K1, K2])
    assert back.pin_sets["*.api.example.com"] == PinSet([K1, K2])


def test_v3_lossy_keeps_an_existing_one_label_wildcard() -> None:
    policy = PinPolicy({"a.test": PinSet([K1, K2], include_subdomains=True),
                        "*.a.test": PinSet([K3, K4])})
    result = to_okhttp(policy, lossy=True)
    assert result.text.count('.add("*.a.test",') == 1
    assert from_okhttp(result.text).pin_sets["*.a.test"] == PinSet([K3, K4])


def test_v3_refuses_a_one_label_wildcard_over_a_single_label_name() -> None:
    policy = PinPolicy({"*.localhost": PinSet([K1, K2]), "a.test": PinSet([K3, K4])})
    with pytest.raises(ExportError, match=r"\*\.localhost: .*also matches 'localhost'"):
        to_okhttp(policy)
    lossy = to_okhttp(policy, lossy=True)
    assert "localhost" not in lossy.text and len(lossy.dropped) == 1
    assert '.add("*.localhost",' in to_okhttp(policy, okhttp_version=4).text


def test_v3_overlap_through_the_expansion_is_flagged() -> None:
    policy = PinPolicy({"a.test": PinSet([K1, K2], include_subdomains=True),
                        "x.a.test": PinSet([K3, K4])})
    result = to_okhttp(policy, lossy=True)
    assert [d.split(";")[0] for d in result.dropped] == [
        "a.test: include_subdomains (OkHttp 3 has no '**.': it would read '**.a.test' as a "
        "literal name and pin nothing)",
        "x.a.test: overlaps *.a.test whose other pins OkHttp would also accept",
    ]


def test_v4_first_line_and_double_star() -> None:
    text = to_okhttp(_sub_policy(), okhttp_version=4).text
    assert text.splitlines()[0] == V4_FIRST_LINE
    assert '.add("**.api.example.com",' in text
    assert export_policy(_sub_policy(), "okhttp", okhttp_version=4).text == text
    assert text.startswith(V4_FIRST_LINE + "\n")
    v3 = to_okhttp(_v3_policy()).text
    assert V4_FIRST_LINE not in v3


def test_v4_round_trips() -> None:
    warnings: list[str] = []
    back = from_okhttp(to_okhttp(_sub_policy(), okhttp_version=4).text, warnings=warnings)
    assert back == PinPolicy({
        "api.example.com": PinSet([K1, K2], include_subdomains=True),
        "*.cdn.example.com": PinSet([K3, K4]),
        "plain.example.net": PinSet([K3, K4]),
    })
    assert warnings == []  # the first line says OkHttp >= 4.3: '**.' means what it says
    without_line = to_okhttp(_sub_policy(), okhttp_version=4).text.split("\n", 1)[1]
    assert from_okhttp(without_line, warnings=warnings) == back
    assert len(warnings) == 1 and "OkHttp 3" in warnings[0]


@pytest.mark.parametrize("version", [0, 2, 5, "3", True, None])
def test_unknown_version_is_refused(version: object) -> None:
    with pytest.raises(PolicyError, match="okhttp_version"):
        to_okhttp(_v3_policy(), okhttp_version=version)  # type: ignore[arg-type]


def test_nothing_left_is_an_error_even_when_lossy() -> None:
    policy = PinPolicy({"a.test": PinSet([K1, K2], enforce=False)})
    with pytest.raises(ExportError, match="nothing would be left"):
        to_okhttp(policy, lossy=True)


def test_output_is_java_with_no_trailing_commas() -> None:
    text = to_okhttp(_v3_policy()).text
    assert "CertificatePinner certificatePinner = new CertificatePinner.Builder()" in text
    assert text.rstrip().endswith(".build();")
    assert ",\n    )" not in text and ",)" not in text and "val " not in text.split("\n", 3)[3]


# --- golden files -----------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "make"), [
    ("CertificatePinner.java", lambda: to_okhttp(_v3_policy())),
    ("CertificatePinner4.java", lambda: to_okhttp(_sub_policy(), okhttp_version=4)),
])
def test_golden_okhttp(name: str, make: object) -> None:
    text = make().text  # type: ignore[operator]
    path = GOLDEN / name
    if os.environ.get("CERTPIN_UPDATE_GOLDEN"):
        path.write_text(text)
    assert text == path.read_text()


def test_golden_okhttp_reads_back() -> None:
    expected = PinPolicy({
        "api.example.com": PinSet([K1, K2]),
        "*.cdn.example.com": PinSet([K3, K4]),
        "plain.example.net": PinSet([K3, K4]),
    })
    assert from_okhttp((GOLDEN / "CertificatePinner.java").read_text()) == expected


# --- export never changes what is enforced: a model of OkHttp's matching, from its source -----

_LABELS = ["a", "b", "x"]
_HOSTS = sorted({".".join([*labels, "test"]) for labels in (
    [[]] + [[a] for a in _LABELS] + [[a, b] for a in _LABELS for b in _LABELS]
    + [[a, b, c] for a in _LABELS for b in _LABELS for c in _LABELS[:2]])})
_PINS = [Pin("spki", bytes([i]) * 32) for i in range(4)]


def _okhttp_matches(version: int, pattern: str, host: str) -> bool:
    """OkHttp's Pin.matches: parent-3.13.1 CertificatePinner.java:288-297 (3), parent-4.3.0
    CertificatePinner.kt:258-276 (4)."""
    if version == 4 and pattern.startswith("**."):
        return host == pattern[3:] or host.endswith(pattern[2:])
    if pattern.startswith("*."):
        rest = host.partition(".")[2] if "." in host else host  # OkHttp 3: indexOf('.') == -1
        if version == 4 and "." not in host:
            return False
        return rest == pattern[2:]
    return host == pattern


@st.composite
def _policies(draw: st.DrawFn) -> PinPolicy:
    sets = {}
    for _ in range(draw(st.integers(1, 4))):
        labels = draw(st.lists(st.sampled_from(_LABELS), max_size=2))
        name = ".".join([*labels, "test"])
        kind = draw(st.sampled_from(["exact", "wild", "sub"]))
        pins = draw(st.lists(st.sampled_from(_PINS), min_size=2, max_size=3, unique=True))
        pattern = "*." + name if kind == "wild" else name
        sets[pattern] = PinSet(pins, include_subdomains=kind == "sub")
    return PinPolicy(sets)


@seed(20241)
@settings(max_examples=200, deadline=None)
@given(_policies(), st.sampled_from([3, 4]), st.booleans())
def test_okhttp_enforces_what_certpin_enforces(policy: PinPolicy, version: int,
                                               lossy: bool) -> None:
    """Where the export succeeds, every host accepts under OkHttp exactly the pins it accepts
    under certpin, except the hosts a lossy row names (left out, two or more labels below an
    include-subdomains name for OkHttp 3, or overlapping); without lossy it reads back."""
    try:
        result = to_okhttp(policy, okhttp_version=version, lossy=lossy)
    except ExportError as exc:
        assert not lossy or "nothing would be left" in str(exc)
        return
    if not lossy:  # and what it wrote reads back as the policy
        assert from_okhttp(result.text) == policy
    added = [(pattern, [Pin("spki", base64.b64decode(p[7:])) for p in pins])
             for pattern, pins, _ in calls(result.text, None)]
    rows = [(d.split(": ")[0], d) for d in result.dropped]
    overlapping = {n for n, d in rows if "overlaps" in d}
    left_out = {n for n, d in rows if "pin set left out" in d}
    shallow = {n for n, d in rows if "two or more labels below" in d}
    for host in _HOSTS:
        okhttp = {p for pattern, pins in added if _okhttp_matches(version, pattern, host)
                  for p in pins}
        found = policy.match(host)
        certpin_pins = set(found[1].all_pins) if found else set()
        if okhttp == certpin_pins:
            continue
        assert lossy and found is not None, (host, result.text)
        pattern = found[0]
        if not okhttp:  # unpinned, as a row says
            assert pattern in left_out or (pattern in shallow and host.count(".")
                                           >= pattern.count(".") + 2), (host, result.dropped)
        else:  # wider, as a row says
            assert okhttp > certpin_pins and pattern in overlapping, (host, result.dropped)


def test_the_okhttp_4_line_makes_the_import_read_okhttp_4() -> None:
    v4 = (f'{V4_FIRST_LINE}\n.add("*.localhost", "{K1}", "{K2}")\n'
          f'.add("**.a.test", "{K3}", "{K4}")\n')
    warnings: list[str] = []
    policy = from_okhttp(v4, warnings=warnings)
    assert policy == PinPolicy({"*.localhost": PinSet([K1, K2]),
                                "a.test": PinSet([K3, K4], include_subdomains=True)})
    assert warnings == []
    for text in (v4.split("\n", 1)[1], "// note\n" + v4, v4.replace(">= 4.3", ">= 4")):
        with pytest.raises(ConfigError, match="also matches 'localhost' itself"):
            from_okhttp(text)
    assert from_okhttp("\ufeff" + v4.replace("\n", "\r\n")) == policy
