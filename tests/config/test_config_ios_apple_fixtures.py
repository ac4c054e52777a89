"""Apple's own NSPinnedDomains regression data (tests/fixtures/config/ios, copied from
apple-oss-distributions/Security at db15acbe, APSL 2.0): certpin's import gives each file the
outcome Apple's code gives it, or refuses where Apple's outcome fails every connection.

Apple's test: tests/TrustTests/EvaluationTests/PolicyTests.m:322 ``testParseNSPinnedDomains``
(host ``example.org``; subdomain ``subdomain.example.org.``)."""

from __future__ import annotations

import plistlib
from pathlib import Path
from typing import Any

import pytest

from certpin import ConfigError
from certpin.config import import_policy
from support.atsmodel import parse_pinned_domains

FIX = Path(__file__).parent.parent / "fixtures" / "config" / "ios"
CASES: list[dict[str, Any]] = plistlib.loads((FIX / "NSPinnedDomainsParsingTest.plist")
                                             .read_bytes())
HOST, SUB = "example.org", "subdomain.example.org."


def _names() -> list[str]:
    return [c["PlistFileName"] for c in CASES]


def _case(name: str) -> tuple[dict[str, Any], bytes]:
    case = next(c for c in CASES if c["PlistFileName"] == name)
    return case["ExpectedProperties"], (FIX / f"{name}.plist").read_bytes()


def test_all_six_of_apples_files_are_here() -> None:
    assert sorted(_names()) == sorted(p.stem for p in FIX.glob("NSPinnedDomains_*.plist"))
    assert len(CASES) == 6


@pytest.mark.parametrize("name", _names())
def test_the_model_gives_apples_expected_properties(name: str) -> None:
    """PolicyTests.m:368-377, on the model of parseNSPinnedDomains the differential uses."""
    exp, data = _case(name)
    pinned = plistlib.loads(data)["NSAppTransportSecurity"]["NSPinnedDomains"]
    leaf = parse_pinned_domains(pinned, HOST, "NSPinnedLeafIdentities")
    ca = parse_pinned_domains(pinned, HOST, "NSPinnedCAIdentities")
    assert (leaf is not None) == bool(exp.get("NSPinnedLeafIdentities"))
    assert (leaf is not None and len(leaf) != 0) == (exp.get("NSPinnedLeafIdentitiesCount", 0) != 0)
    assert (ca is not None) == bool(exp.get("NSPinnedCAIdentities"))
    assert (ca is not None and len(ca) != 0) == (exp.get("NSPinnedCAIdentitiesCount", 0) != 0)
    sub = parse_pinned_domains(pinned, SUB, "NSPinnedCAIdentities")
    assert (sub is not None) == bool(exp.get("NSIncludesSubdomains"))


@pytest.mark.parametrize("name", ["NSPinnedDomains_ca", "NSPinnedDomains_leaf"])
def test_pinned_files_import_as_apple_reads_them(name: str) -> None:
    exp, data = _case(name)
    policy = import_policy(data, "ios", source=name)
    pattern, ps = policy.match(HOST) or ("", None)
    assert pattern == HOST and ps is not None
    role = "leaf" if exp.get("NSPinnedLeafIdentities") else "ca"
    assert set(ps.roles.values()) == {role} and set(ps.roles) == set(ps.all_pins)
    pinned = plistlib.loads(data)["NSAppTransportSecurity"]["NSPinnedDomains"]
    digests = parse_pinned_domains(pinned, HOST, "NSPinnedLeafIdentities" if role == "leaf"
                                   else "NSPinnedCAIdentities") or []
    assert {p.digest for p in ps.all_pins} == set(digests)
    assert ps.allow_single_pin  # Apple needs no backup pin: one distinct digest here
    sub = policy.match(SUB)
    assert (sub is not None) == bool(exp.get("NSIncludesSubdomains"))
    if sub is not None:
        assert sub[0] == "*.example.org" and sub[1].all_pins == ps.all_pins
    assert policy.match("a.subdomain.example.org") is None  # one label only


def test_the_leaf_file_lists_one_digest_twice_imported_once_with_a_warning() -> None:
    exp, data = _case("NSPinnedDomains_leaf")
    assert exp["NSPinnedLeafIdentitiesCount"] == 2
    warns: list[str] = []
    ps = import_policy(data, "ios", warnings=warns).pin_sets[HOST]
    assert len(ps.all_pins) == 1
    assert len(warns) == 1 and "listed twice" in warns[0] and "line 19" in warns[0]


def test_leaf_and_ca_is_an_and_refused_without_lossy() -> None:
    _, data = _case("NSPinnedDomains_leaf_and_ca")
    with pytest.raises(ConfigError) as e:
        import_policy(data, "ios", source="f.plist")
    assert "leaf match AND a CA match" in str(e.value) and "--lossy" in str(e.value)


def test_leaf_and_ca_with_lossy_keeps_the_leaf_identity_and_says_so() -> None:
    _, data = _case("NSPinnedDomains_leaf_and_ca")
    warns: list[str] = []
    ps = import_policy(data, "ios", lossy=True, warnings=warns).pin_sets[HOST]
    assert [str(p) for p in ps.all_pins] == ["sha256/i9HalScvf6T/skE3/A7QOq5n5cTYs8UHNOEFCnkguSI="]
    assert dict(ps.roles).popitem()[1] == "leaf"
    assert len(warns) == 1 and "dropped NSPinnedCAIdentities" in warns[0]
    assert "r/mIkG3eEpVdm+u/ko/cwxzOMo1bk4TyHIlByibiA5E=" in warns[0]


def test_without_spki_apple_pins_nothing_so_the_import_refuses_saying_so() -> None:
    _, data = _case("NSPinnedDomains_without_spki")
    with pytest.raises(ConfigError, match="Apple pins nothing"):
        import_policy(data, "ios")


@pytest.mark.parametrize(("name", "line", "key"), [
    ("NSPinnedDomains_with_empty_spki", 12, "NSPinnedLeafIdentities"),
    ("NSPinnedDomains_with_invalid_spki", 16, "NSPinnedLeafIdentities"),
])
def test_pinned_with_no_identity_fails_every_connection_on_apple_refused(
        name: str, line: int, key: str) -> None:
    exp, data = _case(name)
    assert exp["NSPinnedLeafIdentities"] and exp["NSPinnedLeafIdentitiesCount"] == 0
    with pytest.raises(ConfigError) as e:
        import_policy(data, "ios", source=f"{name}.plist")
    msg = str(e.value)
    assert f"line {line}" in msg and f'"example.org".{key}' in msg
    assert "every connection" in msg and "Apple counts the domain as pinned" in msg


def test_invalid_spki_ca_array_of_strings_is_refused_too() -> None:
    """The CA half of NSPinnedDomains_with_invalid_spki: an identity that is a string, which
    Apple skips (SecPolicy.c:1562), leaving a pinned domain with no CA identity."""
    _, data = _case("NSPinnedDomains_with_invalid_spki")
    text = data.decode().replace(
        "<key>NSPinnedLeafIdentities</key>", "<key>Ignored</key>")
    with pytest.raises(ConfigError) as e:
        import_policy(text, "ios")
    assert "NSPinnedCAIdentities[0]" in str(e.value) and "silently skips" in str(e.value)
