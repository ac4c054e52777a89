"""TrustKit's own configuration tests as fixtures (tests/fixtures/trustkit/trustkit_tests.toml):
what TrustKit throws on, certpin's importer refuses; what TrustKit parses, certpin imports with
the same pins and the same host lookups, or refuses with the reason it cannot express it."""

from __future__ import annotations

import base64
import tomllib
from datetime import datetime
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

import pytest

from certpin.config import ConfigError, from_trustkit
from support.trustkit_model import trustkit_key_for

FIXTURES = Path(__file__).parent.parent / "fixtures" / "trustkit" / "trustkit_tests.toml"
CASES: list[dict[str, Any]] = tomllib.loads(FIXTURES.read_text())["case"]


def plist_value(value: object) -> str:
    """A TOML value as the XML plist element an Info.plist would hold."""
    if isinstance(value, bool):
        return "<true/>" if value else "<false/>"
    if isinstance(value, str):
        return f"<string>{escape(value)}</string>"
    if isinstance(value, list):
        return "<array>" + "".join(plist_value(v) for v in value) + "</array>"
    assert isinstance(value, dict), value
    return "<dict>" + "".join(f"<key>{escape(k)}</key>{plist_value(v)}"
                              for k, v in value.items()) + "</dict>"


def info_plist(config: dict[str, Any]) -> str:
    return ('<?xml version="1.0" encoding="UTF-8"?>\n<plist version="1.0">'
            f"{plist_value({'TSKConfiguration': config})}</plist>\n")


def test_the_fixtures_hold_every_case_once() -> None:
    names = [c["name"] for c in CASES]
    assert len(names) == len(set(names)) == 23
    assert sum(c["trustkit"] == "throws" for c in CASES) == 6


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_certpin_imports_what_trustkit_parses_and_refuses_what_it_throws_on(
    case: dict[str, Any],
) -> None:
    doc = info_plist(case["config"])
    if case["certpin"] != "same":
        with pytest.raises(ConfigError) as info:
            from_trustkit(doc, source="Info.plist")
        assert case["certpin"] in str(info.value)
        assert str(info.value).startswith("Info.plist, line 2 (TSKConfiguration")
        return
    assert case["trustkit"] == "parses"  # certpin never accepts what TrustKit throws on
    policy = from_trustkit(doc, source="Info.plist")
    domains = case["config"]["TSKPinnedDomains"]
    assert sorted(policy.pin_sets) == sorted(domains)
    for domain, entry in domains.items():
        ps = policy.pin_sets[domain]
        # TrustKit keeps the decoded hashes as a set (parse_configuration.m lines 191-215)
        assert {p.digest for p in ps.all_pins} == {
            base64.b64decode(h) for h in entry["TSKPublicKeyHashes"]}
        assert ps.include_subdomains is entry.get("TSKIncludeSubdomains", False)
        assert ps.enforce is entry.get("TSKEnforcePinning", True)
    for host, key in case["lookups"].items():
        found = policy.match(host)
        assert (found[0] if found else "") == key, host


@pytest.mark.parametrize("case", [c for c in CASES if "expires" in c],
                         ids=[c["name"] for c in CASES if "expires" in c])
def test_expiration_is_midnight_utc_as_trustkit_reads_it(case: dict[str, Any]) -> None:
    """parse_configuration.m lines 135-140: yyyy-MM-dd with timeZoneForSecondsFromGMT:0."""
    policy = from_trustkit(info_plist(case["config"]))
    [ps] = policy.pin_sets.values()
    expected: datetime = case["expires"]
    assert ps.expires == expected
    assert ps.expires is not None and ps.expires.utcoffset() is not None


@pytest.mark.parametrize("case", [c for c in CASES if c["trustkit"] == "parses"],
                         ids=[c["name"] for c in CASES if c["trustkit"] == "parses"])
def test_the_trustkit_model_gives_trustkit_s_own_answers(case: dict[str, Any]) -> None:
    """The model used by the differential tests returns what TrustKit's tests assert."""
    domains = {d: bool(e.get("TSKIncludeSubdomains", False))
               for d, e in case["config"]["TSKPinnedDomains"].items()}
    for host, key in case["lookups"].items():
        assert (trustkit_key_for(host, domains) or "") == key, host


def test_a_non_canonical_hash_is_the_digest_trustkit_decodes() -> None:
    """``BBB...B=`` (TSKPinningValidatorTests.m line 384): Apple's decoder drops the unused
    bits; certpin imports the same digest and says it was not canonical."""
    case = next(c for c in CASES if c["name"] == "testVerifyAgainstBadPublicKeyPinningNotEnforced")
    warnings: list[str] = []
    policy = from_trustkit(info_plist(case["config"]), source="Info.plist", warnings=warnings)
    assert sorted(str(p) for p in policy.pin_sets["www.good.com"].all_pins) == [
        "sha256/" + "A" * 43 + "=", "sha256/" + "B" * 42 + "A="]
    assert warnings == [
        'Info.plist, line 2: TSKConfiguration.TSKPinnedDomains."www.good.com".'
        "TSKPublicKeyHashes[1]: '" + "B" * 43 + "=' is not canonical base64 (its last "
        "character carries unused bits); TrustKit reads it as '" + "B" * 42 + "A='"]
