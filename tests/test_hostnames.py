"""Host and pattern normalisation (certpin.hostnames): every rule with a must-fail twin."""

from __future__ import annotations

import string

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from certpin import PinPolicy, PolicyError
from certpin.hostnames import normalize_host, normalize_pattern
from support.pinsets import pinset

# ---------------------------------------------------------------- normalize_host


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("example.com", "example.com"),
        ("EXAMPLE.Com", "example.com"),
        ("example.com.", "example.com"),
        ("bücher.example", "xn--bcher-kva.example"),
        ("BÜCHER.example.", "xn--bcher-kva.example"),
        ("xn--bcher-kva.example", "xn--bcher-kva.example"),
        ("XN--BCHER-KVA.example", "xn--bcher-kva.example"),
        ("\uff45\uff58\uff41\uff4d\uff50\uff4c\uff45.com", "example.com"),  # fullwidth, nameprep
        ("a\u3002b\uff0ec\uff61d", "a.b.c.d"),  # IDNA 2003 separators
        ("127.0.0.1", "127.0.0.1"),
        ("127.0.0.1.", "127.0.0.1"),
        ("::1", "::1"),
        ("0:0::1", "::1"),
        ("[::1]", "::1"),
        ("[0:0:0:0:0:0:0:1]", "::1"),
        ("2001:DB8::0:1", "2001:db8::1"),
        ("localhost", "localhost"),
        ("my_host.internal", "my_host.internal"),  # hosts accept "_"
        ("a" * 63 + ".com", "a" * 63 + ".com"),
    ],
)
def test_normalize_host(text: str, expected: str) -> None:
    assert normalize_host(text) == expected


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("", "empty"),
        (".", "empty"),
        ("example.com..", "more than one trailing dot"),
        ("a..b", "empty label"),
        (".example.com", "empty label"),
        ("a" * 64 + ".com", "longer than 63"),
        (".".join(["a" * 60] * 5), "longer than 253"),
        ("exa mple.com", "characters other than"),
        ("exa/mple.com", "characters other than"),
        ("*.example.com", "'*' cannot appear"),
        ("127.1", "ends in a number"),
        ("127.000.0.1", "ends in a number"),
        ("0x7f.0.0.1", "ends in a number"),
        ("2130706433", "ends in a number"),
        ("example.0x1", "ends in a number"),
        ("256.1.1.1", "ends in a number"),
        ("fe80::1%eth0", "zone"),
        ("[fe80::1%eth0]", "zone"),
        ("[127.0.0.1]", "IPv6"),
        ("[::1", "without a closing"),
        ("1:2:3", "not a valid IPv6"),
        ("straße.de", "deviation character ß"),
        ("STRAẞE.de", "deviation character"),  # capital sharp s folds to ß
        ("σς.gr", "deviation character ς"),
        ("a\u200db.example", "ZERO WIDTH JOINER"),
        ("a\u200cb.example", "ZERO WIDTH NON-JOINER"),
        ("x" * 2000, "longer than 1024"),
    ],
)
def test_normalize_host_refuses(text: str, why: str) -> None:
    with pytest.raises(PolicyError, match="invalid host") as info:
        normalize_host(text)
    assert why in str(info.value)


def test_capital_sharp_s() -> None:
    # U+1E9E: nameprep maps it to "ss", UTS 46 to ß. Either way it must not pass silently.
    with pytest.raises(PolicyError):
        normalize_host("STRA\u1e9ee.de")


def test_normalize_host_not_text() -> None:
    with pytest.raises(PolicyError, match="must be text"):
        normalize_host(None)  # type: ignore[arg-type]
    with pytest.raises(PolicyError, match="must be text"):
        normalize_host(b"example.com")  # type: ignore[arg-type]


def test_a_label_host_with_deviation_is_a_plain_dns_name() -> None:
    # As an A-label the name is unambiguous (it is what goes to DNS and SNI).
    assert normalize_host("xn--strae-oqa.de") == "xn--strae-oqa.de"


def test_error_message_escapes_control_characters() -> None:
    with pytest.raises(PolicyError) as info:
        normalize_host("evil\n.example")
    assert "\n" not in str(info.value)
    assert "\\n" in str(info.value)


@pytest.mark.parametrize("text", ["a\ud800b.example", "\udfff", "x.\x1b[31m"])
def test_error_message_is_printable(text: str) -> None:
    for normalize in (normalize_host, normalize_pattern):
        with pytest.raises(PolicyError) as info:
            normalize(text)
        message = str(info.value)
        assert message.isprintable()
        message.encode("utf-8")  # no lone surrogate


# ---------------------------------------------------------------- normalize_pattern


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("API.Example.com.", "api.example.com"),
        ("*.example.com", "*.example.com"),
        ("*.Bücher.example", "*.xn--bcher-kva.example"),
        ("*\u3002example.com", "*.example.com"),
        ("*.com", "*.com"),
        ("[::1]", "::1"),
        ("0:0::1", "::1"),
        ("127.0.0.1", "127.0.0.1"),
        ("a-b.example", "a-b.example"),
    ],
)
def test_normalize_pattern(text: str, expected: str) -> None:
    assert normalize_pattern(text) == expected


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("*", "'*' alone"),
        ("*.", "must be followed"),
        ("**.example.com", "'**' is not supported"),
        ("a.*.example.com", "whole first label"),
        ("*a.example.com", "whole first label"),
        ("a*.example.com", "whole first label"),
        ("*.*.example.com", "whole first label"),
        ("*.127.0.0.1", "IP address"),
        ("*.::1", "IP address"),
        ("my_host.example", "letters, digits and inner hyphens"),
        ("-a.example", "letters, digits and inner hyphens"),
        ("a-.example", "letters, digits and inner hyphens"),
        ("straße.de", "IDNA 2003"),
        ("*.straße.de", "UTS 46"),
        ("xn--strae-oqa.de", "deviation character ß"),  # the UTS 46 A-label of straße.de
        ("xn--99999999.example", "punycode"),
        ("127.1", "ends in a number"),
        ("example.com..", "more than one trailing dot"),
        ("", "empty"),
    ],
)
def test_normalize_pattern_refuses(text: str, why: str) -> None:
    with pytest.raises(PolicyError, match="invalid pattern") as info:
        normalize_pattern(text)
    assert why in str(info.value)
    assert repr(text) in str(info.value)  # the message names the pattern as written


# ---------------------------------------------------------------- hypothesis: normalisation

_host_alphabet = st.sampled_from(
    list(string.ascii_letters + string.digits + "-_.*:[]%ßς\u200d\u200cü\u3002\uff21 ")
)


@given(st.text())
@settings(max_examples=500)
def test_normalize_host_only_raises_policy_error(text: str) -> None:
    try:
        out = normalize_host(text)
    except PolicyError as exc:
        assert str(exc).isprintable()  # escaped: safe for a terminal or a log line
        return
    assert normalize_host(out) == out  # idempotent
    assert out.isascii() and out == out.lower()


@given(st.text(_host_alphabet, max_size=40))
@settings(max_examples=1000)
def test_normalize_host_idempotent_on_host_like_text(text: str) -> None:
    try:
        out = normalize_host(text)
    except PolicyError:
        return
    assert normalize_host(out) == out
    if ":" not in out:  # an IPv6 literal takes no trailing dot
        assert normalize_host(out + ".") == out


@given(st.text(_host_alphabet, max_size=40))
@settings(max_examples=500)
def test_normalize_pattern_only_raises_policy_error(text: str) -> None:
    try:
        out = normalize_pattern(text)
    except PolicyError:
        return
    assert normalize_pattern(out) == out


# ---------------------------------------------------------------- IDNA 2003 vs UTS 46


def _uts46(text: str) -> str | None:
    """What requests/httpx would send (the idna package, UTS 46 non-transitional), or None."""
    idna = pytest.importorskip("idna")
    try:
        return str(idna.encode(text, uts46=True).decode("ascii"))
    except idna.IDNAError:
        return None
    except UnicodeError:
        return None


def _ssl_encoding(text: str) -> str | None:
    """What Python's ssl sends as server_hostname (SSLContext._encode_hostname), lower-cased."""
    try:
        return text.encode("idna").decode("ascii").lower()
    except UnicodeError:
        return None


def test_every_code_point_is_refused_or_encoded_alike() -> None:
    """No accepted pattern has two spellings: IDNA 2003 and UTS 46 agree wherever both work.

    Exhaustive over one character in an upper-case context (case mapping differs between
    Unicode 3.2 and today for some scripts). 787 code points differ between the two encodings
    in this position; every one of them must be refused.
    """
    _uts46("a")  # skip without idna
    disagreements = []
    refused = 0
    # Large blocks of letters with identical properties are sampled, everything else is not.
    uniform = [(0x3400, 0x4DB5), (0x4E00, 0x9FA5), (0xAC00, 0xD7A3), (0x20000, 0x2A6D6)]
    for cp in range(0x80, 0x30000):
        if 0xD800 <= cp < 0xE000:
            continue
        if any(lo < cp < hi for lo, hi in uniform) and cp % 61:
            continue
        text = f"A{chr(cp)}b.example"
        try:
            ours = normalize_pattern(text)
        except PolicyError:
            refused += 1
            continue
        assert ours == _ssl_encoding(text), hex(cp)
        theirs = _uts46(text)
        if theirs is not None and theirs != ours:
            disagreements.append(hex(cp))
    assert disagreements == []
    assert refused > 787


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("stra\u1e9ee.de", "U\\+1E9E"),  # capital sharp s: ss vs ß
        ("\u13a0bc.example", "Unicode 3.2"),  # Cherokee: case changed
        ("a\u1160b.example", "changed after Unicode 3.2"),  # Hangul filler: ignored by UTS 46
        ("a\u17b4b.example", "changed after Unicode 3.2"),  # Khmer: ignored by UTS 46
        ("a\U0002f868b.example", "NFKC"),  # CJK compatibility ideograph, corrected mapping
        ("a\u0558b.example", "does not assign"),  # added in Unicode 11
    ],
)
def test_characters_encoded_differently_are_refused(text: str, expected: str) -> None:
    ssl_form, uts46_form = _ssl_encoding(text), _uts46(text)
    assert ssl_form is not None and uts46_form is not None and ssl_form != uts46_form
    with pytest.raises(PolicyError, match=expected):
        normalize_pattern(text)
    with pytest.raises(PolicyError, match=expected):
        normalize_host(text)


def test_uts46_a_label_of_changed_character_refused_as_pattern() -> None:
    # UTS 46 folds Cherokee to the upper-case letters, whose case changed after Unicode 3.2
    uts46_form = _uts46("\uab70bc.example")
    assert uts46_form is not None and uts46_form.startswith("xn--")
    with pytest.raises(PolicyError, match=r"changed after Unicode 3\.2"):
        normalize_pattern(uts46_form)


@given(st.text(min_size=1, max_size=20))
@settings(max_examples=1000)
def test_accepted_unicode_names_have_one_spelling(text: str) -> None:
    try:
        ours = normalize_pattern(text)
    except PolicyError:
        return
    if not text.startswith("*.") and ":" not in ours and not text.startswith("["):
        dotted = text.translate({0x3002: ".", 0xFF0E: ".", 0xFF61: "."})
        assert ours == _ssl_encoding(dotted[:-1] if dotted.endswith(".") else dotted)
    theirs = _uts46(text)
    if theirs is not None:
        assert theirs.lower().rstrip(".") == ours


# ------------------------------------------------ IPv4 inside IPv6 (issue 10, item 2)
# A connection to any of these reaches the IPv4 host (a dual-stack socket for the mapped form,
# the translator for NAT64), so they must be looked up as that host: compared as addresses,
# never as text (3.11 prints ::ffff:127.0.0.1 as ::ffff:7f00:1, 3.13 differently).
_SAME_AS_IPV4 = [
    "::ffff:127.0.0.1", "[::ffff:127.0.0.1]", "::FFFF:7F00:1", "0:0:0:0:0:ffff:7f00:1",
    "[::ffff:7f00:0001]", "64:ff9b::127.0.0.1", "64:ff9b::7f00:1", "::127.0.0.1", "::7f00:1",
]


@pytest.mark.parametrize("spelling", _SAME_AS_IPV4)
def test_ipv4_embedded_in_ipv6_is_the_ipv4_host(spelling: str) -> None:
    # regression: ::ffff:127.0.0.1 was looked up as an unpinned IPv6 host.
    assert normalize_host(spelling) == "127.0.0.1"
    policy = PinPolicy({"127.0.0.1": pinset()})
    assert policy.pin_set_for(spelling) is policy.pin_sets["127.0.0.1"]
    assert policy.is_pinned(spelling) is True


@pytest.mark.parametrize(
    ("spelling", "kind"),
    [("2002:7f00:1::1", "6to4"), ("[2002:7f00:1::]", "6to4"), ("2001:0:4136:e378::1", "Teredo"),
     ("64:ff9b:1::7f00:1", "NAT64 local-use")],
)
def test_ipv6_forms_whose_ipv4_is_not_the_host_are_refused(spelling: str, kind: str) -> None:
    with pytest.raises(PolicyError, match=kind):
        normalize_host(spelling)
    with pytest.raises(PolicyError, match=kind):
        normalize_pattern(spelling)
    # Refused, never "not pinned": every helper refuses plain text to it, check() fails.
    assert PinPolicy({"a.test": pinset()}).is_pinned(spelling) is True


@pytest.mark.parametrize("spelling", ["::1", "::ff:1", "fe80::1", "2001:db8::1"])
def test_other_ipv6_addresses_stay_ipv6(spelling: str) -> None:
    assert ":" in normalize_host(spelling)


def test_a_pattern_in_mapped_form_is_the_ipv4_pattern() -> None:
    policy = PinPolicy({"::ffff:10.0.0.1": pinset()})
    assert list(policy.pin_sets) == ["10.0.0.1"]
    with pytest.raises(PolicyError, match="same host pattern"):
        PinPolicy({"10.0.0.1": pinset(), "64:ff9b::a00:1": pinset()})


@given(st.integers(min_value=1, max_value=2**32 - 1))  # 0.0.0.0 is refused (see below)
def test_every_ipv4_address_is_the_same_host_in_every_embedding(value: int) -> None:
    import ipaddress

    v4 = ipaddress.IPv4Address(value)
    want = str(v4)
    assert normalize_host(f"::ffff:{v4}") == want
    assert normalize_host(str(ipaddress.IPv6Address((0xFFFF << 32) | value))) == want
    assert normalize_host(f"64:ff9b::{v4}") == want
    if value >= 1 << 24:  # ::/104 holds :: and ::1, not IPv4-compatible addresses
        assert normalize_host(f"::{v4}") == want


@settings(max_examples=300)
@given(st.text(max_size=40))
def test_normalize_host_raises_only_policy_error(text: str) -> None:
    # regression (issue 16, item 1): nameprep turned a soft hyphen + "xn--_" into a broken
    # A-label that was decoded outside the try, raising UnicodeError.
    try:
        out = normalize_host(text)
    except PolicyError:
        assert PinPolicy({}).is_pinned(text) is True  # never raises; doubt means pinned
        return
    assert normalize_host(out) == out


@pytest.mark.parametrize("text", ["\u00adxn--_", "a.\u00adxn--_.test"])
def test_nameprep_into_a_broken_a_label_is_a_policy_error(text: str) -> None:
    for call in (normalize_host, normalize_pattern):
        with pytest.raises(PolicyError):
            call(text)


@pytest.mark.parametrize("spelling", ["0.0.0.0", "::", "[::]", "::ffff:0.0.0.0", "0:0::0"])
def test_the_unspecified_address_is_refused(spelling: str) -> None:
    # regression (third review of the helpers): 0.0.0.0 counted as an unpinned host while
    # 127.0.0.1 was pinned, yet connecting to it reaches this machine (127.0.0.1 included).
    with pytest.raises(PolicyError, match="unspecified address"):
        normalize_host(spelling)
    assert PinPolicy({"127.0.0.1": pinset()}).is_pinned(spelling) is True
