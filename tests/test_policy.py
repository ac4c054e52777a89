"""PinSet and PinPolicy: every rule with a must-fail twin (host names: test_hostnames.py)."""

from __future__ import annotations

import re
import string
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from certpin import Pin, PinFormatError, PinPolicy, PinSet, PolicyError
from certpin.hostnames import normalize_host
from support.pinsets import pin, pinset

# ---------------------------------------------------------------- PinSet


def test_pinset_fields_and_defaults() -> None:
    s = PinSet([pin(1), str(pin(2))], backup_pins=[str(pin(3, "cert"))])
    assert s.pins == (pin(1), pin(2))
    assert s.backup_pins == (pin(3, "cert"),)
    assert s.all_pins == (pin(1), pin(2), pin(3, "cert"))
    assert s.include_subdomains is False
    assert s.expires is None
    assert s.enforce is True
    assert s.report_uris == ()
    assert s.allow_single_pin is False
    assert not s.is_expired(datetime.now(UTC))


def test_pinset_parses_all_pin_notations() -> None:
    b64 = pin(7).base64
    s = PinSet([f"sha256/{b64}", f'pin-sha256="{pin(8).base64}"'])
    assert s.pins == (pin(7), pin(8))


def test_pinset_needs_a_backup_pin() -> None:
    with pytest.raises(PolicyError, match=r"RFC 7469 section 4\.3") as info:
        PinSet([pin(1)])
    assert "allow_single_pin=True" in str(info.value)
    assert str(pin(1)) in str(info.value)


def test_pinset_backup_pin_counts() -> None:
    s = PinSet([pin(1)], backup_pins=[pin(2)])
    assert s.all_pins == (pin(1), pin(2))


def test_pinset_single_pin_allowed_explicitly() -> None:
    s = PinSet([pin(1)], allow_single_pin=True)
    assert s.pins == (pin(1),)
    assert s.allow_single_pin is True


def test_pinset_zero_pins_always_refused() -> None:
    with pytest.raises(PolicyError, match="at least one pin"):
        PinSet([], allow_single_pin=True)
    with pytest.raises(PolicyError, match="at least one pin"):
        PinSet([], backup_pins=[pin(1), pin(2)])


def test_pinset_duplicate_pins_refused() -> None:
    with pytest.raises(PolicyError, match="listed twice"):
        PinSet([pin(1), pin(1)])
    with pytest.raises(PolicyError, match="listed twice"):
        PinSet([pin(1)], backup_pins=[str(pin(1))])
    # the same digest as an SPKI pin and as a certificate pin are two different pins
    assert len(PinSet([pin(1), pin(1, "cert")]).pins) == 2


def test_pinset_bad_pin_text_names_position() -> None:
    with pytest.raises(PinFormatError, match=r"pins\[1\]: invalid pin 'sha1/"):
        PinSet([pin(1), "sha1/AAAA"])
    with pytest.raises(PinFormatError, match=r"backup_pins\[0\]"):
        PinSet([pin(1)], backup_pins=["nonsense"])


def test_pinset_refuses_a_single_string_and_other_types() -> None:
    with pytest.raises(PolicyError, match="not a single str"):
        PinSet(str(pin(1)))
    with pytest.raises(PolicyError, match=r"pins\[0\] must be a Pin"):
        PinSet([b"x" * 32, pin(1)])  # type: ignore[list-item]
    with pytest.raises(PolicyError, match="list of pins"):
        PinSet(5)  # type: ignore[arg-type]


@pytest.mark.parametrize("flag", ["include_subdomains", "enforce", "allow_single_pin"])
def test_pinset_flags_must_be_bool(flag: str) -> None:
    with pytest.raises(PolicyError, match=f"{flag} must be True or False"):
        PinSet([pin(1), pin(2)], **{flag: "false"})  # type: ignore[arg-type]
    assert getattr(PinSet([pin(1), pin(2)], **{flag: True}), flag) is True  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (date(2027, 1, 31), datetime(2027, 1, 31, tzinfo=UTC)),
        ("2027-01-31", datetime(2027, 1, 31, tzinfo=UTC)),
        ("2027-01-31T12:00:00Z", datetime(2027, 1, 31, 12, tzinfo=UTC)),
        ("2027-01-31T12:00:00+02:00", datetime(2027, 1, 31, 10, tzinfo=UTC)),
        (
            datetime(2027, 1, 31, 1, tzinfo=timezone(timedelta(hours=5))),
            datetime(2027, 1, 30, 20, tzinfo=UTC),
        ),
        (None, None),
    ],
)
def test_pinset_expires(value: object, expected: datetime | None) -> None:
    s = pinset(expires=value)
    assert s.expires == expected
    if expected is not None:
        assert s.expires is not None and s.expires.utcoffset() == timedelta(0)
        assert s.expires.tzinfo is UTC


@pytest.mark.parametrize(
    ("value", "why"),
    [
        (datetime(2027, 1, 31), "naive"),
        ("2027-01-31T12:00:00", "no UTC offset"),
        ("31/01/2027", "not an ISO 8601"),
        ("2027-02-30", "not an ISO 8601"),
        ("", "not an ISO 8601"),
        (1798675200, "got int"),
    ],
)
def test_pinset_expires_refused(value: object, why: str) -> None:
    with pytest.raises(PolicyError, match=why):
        pinset(expires=value)


def test_expiry_boundary_one_second_either_side() -> None:
    s = pinset(expires="2027-01-31")
    boundary = datetime(2027, 1, 31, tzinfo=UTC)
    assert not s.is_expired(boundary - timedelta(seconds=1))
    assert s.is_expired(boundary)
    assert s.is_expired(boundary + timedelta(seconds=1))
    # the same instant in another zone
    assert s.is_expired(datetime(2027, 1, 31, 1, tzinfo=timezone(timedelta(hours=1))))
    assert not s.is_expired(
        datetime(2027, 1, 31, 0, 59, 59, tzinfo=timezone(timedelta(hours=1)))
    )


def test_is_expired_refuses_naive_now() -> None:
    with pytest.raises(ValueError, match="aware"):
        pinset(expires="2027-01-31").is_expired(datetime(2027, 1, 1))


def test_report_uris() -> None:
    s = pinset(report_uris=["https://r.example/pins", "http://127.0.0.1:8080/r"])
    assert s.report_uris == ("https://r.example/pins", "http://127.0.0.1:8080/r")
    with pytest.raises(PolicyError, match="single string"):
        pinset(report_uris="https://r.example/")
    for bad in ("ftp://r.example/", "/relative", "https://", "https://r.example/\n", " x"):
        with pytest.raises(PolicyError, match="not an absolute http"):
            pinset(report_uris=[bad])


def test_pinset_is_immutable() -> None:
    s = pinset()
    with pytest.raises(AttributeError, match="immutable"):
        s.enforce = False
    with pytest.raises(AttributeError, match="immutable"):
        del s.pins
    with pytest.raises(AttributeError):
        s.other = 1
    assert s.enforce is True


def test_copy_and_pickle_rebuild_equal_objects() -> None:
    import copy
    import pickle

    s = PinSet(
        [pin(1)],
        backup_pins=[pin(2, "cert")],
        include_subdomains=True,
        expires="2027-01-31T10:00:00+02:00",
        enforce=False,
        report_uris=["https://r.example/"],
        allow_single_pin=True,
    )
    policy = PinPolicy({"a.test": s, "*.b.test": pinset(3)}, unknown_hosts="reject",
                       expired="reject")
    def unpickle(obj: object) -> object:
        return pickle.loads(pickle.dumps(obj))

    for clone in (copy.copy, copy.deepcopy, unpickle):
        assert clone(s) == s
        other = clone(policy)
        assert isinstance(other, PinPolicy)
        assert other == policy and list(other.pin_sets) == ["a.test", "*.b.test"]
        assert (other.unknown_hosts, other.expired) == ("reject", "reject")


def test_pinset_equality_and_repr() -> None:
    a = PinSet([pin(1), pin(2)], include_subdomains=True, expires="2027-01-31")
    b = PinSet([str(pin(1)), str(pin(2))], include_subdomains=True, expires=date(2027, 1, 31))
    assert a == b and hash(a) == hash(b)
    assert a != PinSet([pin(1), pin(2)])
    r = repr(a)
    assert r.startswith("PinSet([") and str(pin(1)) in r
    assert "include_subdomains=True" in r and "expires='2027-01-31T00:00:00Z'" in r
    assert "enforce" not in r  # defaults are left out


# ---------------------------------------------------------------- PinPolicy construction


def test_policy_normalises_patterns_and_is_read_only() -> None:
    s = pinset()
    policy = PinPolicy({"API.Example.com.": s, "[::1]": pinset(2)})
    assert list(policy.pin_sets) == ["api.example.com", "::1"]
    assert policy.pin_sets["api.example.com"] is s
    with pytest.raises(TypeError):
        policy.pin_sets["x.test"] = s  # type: ignore[index]
    with pytest.raises(AttributeError, match="immutable"):
        policy.unknown_hosts = "reject"
    assert policy.unknown_hosts == "allow" and policy.expired == "allow"


def test_policy_copies_the_mapping() -> None:
    source = {"a.test": pinset()}
    policy = PinPolicy(source)
    source["b.test"] = pinset(2)
    assert policy.pin_set_for("b.test") is None


def test_policy_duplicate_patterns_after_normalisation() -> None:
    with pytest.raises(PolicyError, match=r"same host pattern 'example\.com'"):
        PinPolicy({"example.com": pinset(), "EXAMPLE.com.": pinset(2)})
    with pytest.raises(PolicyError, match=r"same host pattern '::1'"):
        PinPolicy({"::1": pinset(), "[0:0::1]": pinset(2)})
    with pytest.raises(PolicyError, match="same host pattern"):
        PinPolicy({"bücher.example": pinset(), "xn--bcher-kva.example": pinset(2)})


def test_policy_bad_pattern_is_named() -> None:
    with pytest.raises(PolicyError, match=r"invalid pattern 'a\.\*\.test'"):
        PinPolicy({"a.*.test": pinset()})


def test_include_subdomains_with_wildcard_refused() -> None:
    with pytest.raises(PolicyError, match="cannot be combined") as info:
        PinPolicy({"*.example.com": pinset(include_subdomains=True)})
    assert "'example.com' with include_subdomains=True" in str(info.value)
    assert PinPolicy({"*.example.com": pinset()}).pin_set_for("a.example.com") is not None


def test_include_subdomains_with_ip_refused() -> None:
    with pytest.raises(PolicyError, match="no subdomains"):
        PinPolicy({"127.0.0.1": pinset(include_subdomains=True)})


@pytest.mark.parametrize("option", ["unknown_hosts", "expired"])
def test_policy_options_validated(option: str) -> None:
    with pytest.raises(PolicyError, match=f"{option} must be 'allow' or 'reject'"):
        PinPolicy({}, **{option: "deny"})  # type: ignore[arg-type]
    assert getattr(PinPolicy({}, **{option: "reject"}), option) == "reject"  # type: ignore[arg-type]


def test_policy_values_must_be_pinsets() -> None:
    with pytest.raises(PolicyError, match="must be a PinSet"):
        PinPolicy({"a.test": [str(pin(1)), str(pin(2))]})  # type: ignore[dict-item]
    with pytest.raises(PolicyError, match="must be a mapping"):
        PinPolicy([("a.test", pinset())])  # type: ignore[arg-type]


def test_policy_repr_and_equality() -> None:
    p = PinPolicy({"a.test": pinset()}, unknown_hosts="reject")
    assert repr(p).startswith("PinPolicy({'a.test': PinSet([")
    assert "unknown_hosts='reject'" in repr(p)
    assert p == PinPolicy({"A.test.": pinset()}, unknown_hosts="reject")
    assert p != PinPolicy({"a.test": pinset()})


# ---------------------------------------------------------------- matching


def test_exact_match_only_without_subdomains() -> None:
    policy = PinPolicy({"example.com": pinset()})
    assert policy.match("EXAMPLE.com.") == ("example.com", policy.pin_sets["example.com"])
    assert policy.pin_set_for("www.example.com") is None
    assert policy.pin_set_for("example.org") is None


def test_include_subdomains_covers_host_and_every_depth() -> None:
    s = pinset(include_subdomains=True)
    policy = PinPolicy({"example.com": s})
    for host in ("example.com", "www.example.com", "a.b.c.example.com"):
        assert policy.pin_set_for(host) is s, host
    for host in ("test-example.com", "example.com.evil.test", "com", "xexample.com"):
        assert policy.pin_set_for(host) is None, host


def test_wildcard_is_exactly_one_label() -> None:
    s = pinset()
    policy = PinPolicy({"*.example.com": s})
    assert policy.pin_set_for("www.example.com") is s
    assert policy.pin_set_for("WWW.Example.COM.") is s
    assert policy.pin_set_for("my_host.example.com") is s
    for host in ("example.com", "a.b.example.com", "a.example.com.evil.test", "wwwexample.com"):
        assert policy.pin_set_for(host) is None, host


def test_label_boundary() -> None:
    policy = PinPolicy({"domain.com": pinset(include_subdomains=True)})
    assert policy.pin_set_for("test-domain.com") is None
    assert policy.pin_set_for("test.domain.com") is not None


def test_scoping_a_pin_for_one_host_never_covers_another() -> None:
    policy = PinPolicy({"a.test": pinset(1), "b.test": pinset(2)})
    assert policy.pin_set_for("a.test") == pinset(1)
    assert policy.pin_set_for("b.test") == pinset(2)
    assert policy.pin_set_for("c.test") is None


def test_ip_patterns() -> None:
    v6, v4 = pinset(1), pinset(2)
    policy = PinPolicy({"::1": v6, "127.0.0.1": v4})
    assert policy.pin_set_for("[::1]") is v6
    assert policy.pin_set_for("0:0::1") is v6
    assert policy.pin_set_for("127.0.0.1") is v4
    with pytest.raises(PolicyError):
        policy.pin_set_for("127.1")
    assert policy.pin_set_for("::2") is None
    assert policy.pin_set_for("127.0.0.2") is None


def test_ip_host_never_matches_name_patterns() -> None:
    policy = PinPolicy({"com": pinset(include_subdomains=True)})
    assert policy.pin_set_for("127.0.0.1") is None
    with pytest.raises(PolicyError):
        PinPolicy({"*.0.0.1": pinset()})  # "0.0.1" ends in a number: not a canonical IPv4


def test_idna_lookup() -> None:
    s = pinset()
    policy = PinPolicy({"bücher.example": s})
    assert list(policy.pin_sets) == ["xn--bcher-kva.example"]
    assert policy.pin_set_for("BÜCHER.example") is s
    assert policy.pin_set_for("xn--bcher-kva.example") is s
    assert policy.pin_set_for("bucher.example") is None


def test_lookup_with_deviation_character_raises_never_unpinned() -> None:
    policy = PinPolicy({"strasse.de": pinset()})
    with pytest.raises(PolicyError, match="deviation"):
        policy.pin_set_for("straße.de")
    with pytest.raises(PolicyError, match="deviation"):
        policy.match("straße.de")


# The most-specific table: (patterns with include_subdomains flag, host, expected pattern).
MOST_SPECIFIC = [
    ({"a.com": True, "*.a.com": False}, "x.a.com", "*.a.com"),
    ({"a.com": True, "*.a.com": False}, "a.com", "a.com"),
    ({"a.com": True, "*.a.com": False}, "y.x.a.com", "a.com"),
    ({"*.a.com": False, "b.a.com": True}, "x.b.a.com", "b.a.com"),
    ({"*.a.com": False, "b.a.com": True}, "b.a.com", "b.a.com"),
    ({"*.a.com": False, "b.a.com": False}, "b.a.com", "b.a.com"),
    ({"*.a.com": False, "b.a.com": False}, "c.a.com", "*.a.com"),
    ({"*.a.com": False, "b.a.com": False}, "x.b.a.com", None),
    ({"a.com": True, "b.a.com": True}, "x.b.a.com", "b.a.com"),
    ({"a.com": True, "b.a.com": True}, "x.c.a.com", "a.com"),
    ({"a.com": True, "b.a.com": False}, "x.b.a.com", "a.com"),
    ({"com": True, "*.a.com": False, "x.b.a.com": False}, "x.b.a.com", "x.b.a.com"),
    ({"com": True, "*.a.com": False, "x.b.a.com": False}, "y.b.a.com", "com"),
    ({"*.com": False, "a.com": True}, "a.com", "a.com"),
    ({"*.com": False, "a.com": True}, "b.com", "*.com"),
    ({"*.com": False, "a.com": True}, "x.a.com", "a.com"),
    ({"a.com": False}, "x.a.com", None),
]


@pytest.mark.parametrize(("patterns", "host", "expected"), MOST_SPECIFIC)
def test_most_specific_match_in_every_insertion_order(
    patterns: dict[str, bool], host: str, expected: str | None
) -> None:
    import itertools

    sets = {p: pinset(i + 1, include_subdomains=sub) for i, (p, sub) in enumerate(patterns.items())}
    for order in itertools.permutations(sets):
        policy = PinPolicy({p: sets[p] for p in order})
        found = policy.match(host)
        if expected is None:
            assert found is None, order
        else:
            assert found == (expected, sets[expected]), order


def test_expired_pin_set_is_still_the_match() -> None:
    # no fallback to the parent: the most specific set is returned, expired or not
    child = pinset(1, expires="2020-01-01")
    parent = pinset(2, include_subdomains=True)
    policy = PinPolicy({"a.example.com": child, "example.com": parent})
    assert policy.pin_set_for("a.example.com") is child


# ---------------------------------------------------------------- hypothesis: label boundary

_label = st.text(alphabet=string.ascii_lowercase + string.digits, min_size=1, max_size=8).filter(
    lambda s: re.fullmatch(r"[0-9]+|0x[0-9a-f]*", s) is None  # numeric: IPv4-like, refused
)
_name = st.lists(_label, min_size=1, max_size=4).map(".".join)


@given(_name, _name, st.text(alphabet=string.ascii_lowercase + "-", min_size=1, max_size=5))
@settings(max_examples=500)
def test_suffix_without_label_boundary_never_matches(base: str, front: str, glue: str) -> None:
    # host = <front><glue><base> where <glue> does not end in a dot: base is not a label suffix
    host = f"{front}{glue}{base}"
    if host.endswith("." + base) or host == base:
        return
    if host.startswith("-") or "-." in host or ".-" in host:
        return
    sets = {
        base: pinset(1, include_subdomains=True),
        "*." + base: pinset(2),
    }
    for pattern, s in sets.items():
        assert PinPolicy({pattern: s}).match(host) is None, (pattern, host)


@given(_name, st.lists(_label, min_size=1, max_size=3))
@settings(max_examples=300)
def test_label_suffix_always_matches_with_subdomains(base: str, front: list[str]) -> None:
    host = ".".join([*front, base])
    s = pinset(include_subdomains=True)
    assert PinPolicy({base: s}).match(host) == (base, s)
    wildcard = PinPolicy({"*." + base: pinset(2)}).match(host)
    assert (wildcard is not None) == (len(front) == 1)


# ---------------------------------------------------------------- hypothesis: most specific


def _reference_match(patterns: dict[str, bool], host: str) -> str | None:
    """Brute force: score every matching pattern by (labels it fixes, exact > * > subdomains)."""
    labels = host.split(".")
    best: tuple[int, int] | None = None
    winner = None
    for pattern, subdomains in patterns.items():
        score = None
        if pattern == host:
            score = (len(labels), 2)
        elif pattern.startswith("*.") and len(labels) >= 2 and ".".join(labels[1:]) == pattern[2:]:
            score = (len(labels) - 1, 1)
        elif subdomains and host.endswith("." + pattern):
            score = (pattern.count(".") + 1, 0)
        if score is not None and (best is None or score > best):
            best, winner = score, pattern
    return winner


_small_label = st.sampled_from(["a", "b", "c"])
_small_name = st.lists(_small_label, min_size=1, max_size=4).map(".".join)


@st.composite
def _policies(draw: st.DrawFn) -> dict[str, bool]:
    names = draw(st.lists(_small_name, min_size=1, max_size=6, unique=True))
    patterns: dict[str, bool] = {}
    for name in names:
        if draw(st.booleans()):
            patterns["*." + name] = False
        else:
            patterns[name] = draw(st.booleans())
    return patterns


@given(_policies(), _small_name, st.randoms())
@settings(max_examples=300)
def test_most_specific_match_equals_brute_force(
    patterns: dict[str, bool], host: str, rnd: Any
) -> None:
    order = list(patterns)
    rnd.shuffle(order)
    sets = {p: pinset(i + 1, include_subdomains=patterns[p]) for i, p in enumerate(order)}
    policy = PinPolicy(sets)
    expected = _reference_match(patterns, host)
    found = policy.match(host)
    assert (found[0] if found else None) == expected
    if found is not None:
        assert found[1] is sets[found[0]]


# ------------------------------------------------ one answer to "is this host pinned"
_SPELLINGS_CERTPIN_CANNOT_READ = [
    "127.1", "2130706433", "0x7f.1", "0177.0.0.1", "127.000.0.1", "straße.de", "a..b",
    "exa mple.com", "ex\tample.com", "", "a" * 2000, "\ud800.test", "\u00adxn--_.test",
]


@pytest.mark.parametrize("spelling", _SPELLINGS_CERTPIN_CANNOT_READ)
def test_is_pinned_answers_yes_on_any_doubt(spelling: str) -> None:
    # regression: the urllib guard counted such spellings as "not pinned" while http.client
    # resolved them to the pinned host.
    policy = PinPolicy({"unrelated.test": pinset()})
    with pytest.raises(PolicyError):
        normalize_host(spelling)
    assert policy.is_pinned(spelling) is True


def test_is_pinned_with_reject_and_expired() -> None:
    expired = pinset(expires="2000-01-01")
    policy = PinPolicy({"old.test": expired})
    assert policy.is_pinned("old.test") is True  # an expired pin set still matches
    assert policy.is_pinned("other.test") is False
    assert PinPolicy({}, unknown_hosts="reject").is_pinned("other.test") is True
    assert policy.is_pinned(None) is True
    assert policy.is_pinned(b"old.test") is True


# ------------------------------------------------ PinSet: found by the issue 16 fuzzing work
def test_duplicate_detection_is_not_pairwise() -> None:
    # regression: PinSet compared every pin with every other (20,000 HPKP pins took 53 s); a
    # set lookup now: 5,000 distinct pins build at once, and a duplicate among them is found.
    many = [Pin("spki", i.to_bytes(32, "big")) for i in range(5000)]
    assert len(PinSet(many).all_pins) == 5000
    with pytest.raises(PolicyError, match="listed twice"):
        PinSet([*many, many[1234]])


@pytest.mark.parametrize(
    "uri", ["https://r.test/a b", "https://r.test/\tx", " https://r.test/", "https:///path",
            "ftp://r.test/", "https://r.test/\x00"],
)
def test_report_uris_follow_the_one_rule_of_every_format(uri: str) -> None:
    # regression: PinSet accepted a report URI with a space that the policy loader refuses, so
    # dumps_policy wrote a file that would not load back.
    from certpin.policy import is_report_uri

    assert is_report_uri(uri) is False
    with pytest.raises(PolicyError, match="report_uris"):
        pinset(report_uris=[uri])
    assert is_report_uri("https://r.test/report?key=1") is True
