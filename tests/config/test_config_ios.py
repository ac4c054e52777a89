"""iOS NSPinnedDomains: every import and export rule of docs/rules/ios.md, one test or more each."""

from __future__ import annotations

import plistlib
import struct
from datetime import UTC, datetime
from typing import Any

import pytest

from certpin import ConfigError
from certpin.config import ExportError, export_policy, from_ios, import_policy, to_ios
from certpin.pins import Pin
from certpin.policy import PinPolicy, PinSet

A, B, C, D = (Pin("spki", bytes([n]) * 32) for n in (1, 2, 3, 4))
LEAF, CA = "NSPinnedLeafIdentities", "NSPinnedCAIdentities"


def ids(*pins: Pin) -> list[dict[str, str]]:
    return [{"SPKI-SHA256-BASE64": p.base64} for p in pins]


def doc(domains: dict[str, Any], **ats: Any) -> bytes:
    return plistlib.dumps({"CFBundleName": "App",
                           "NSAppTransportSecurity": {"NSPinnedDomains": domains, **ats}})


def roles(ps: PinSet) -> dict[str, str]:
    return {str(p): r for p, r in ps.roles.items()}


# --- import ---------------------------------------------------------------------------------

def test_includes_subdomains_gives_the_exact_pattern_and_a_one_label_wildcard() -> None:
    p = from_ios(doc({"a.test": {"NSIncludesSubdomains": True, CA: ids(A, B)}}))
    assert set(p.pin_sets) == {"a.test", "*.a.test"}
    assert p.pin_sets["a.test"] == p.pin_sets["*.a.test"]
    assert roles(p.pin_sets["a.test"]) == {str(A): "ca", str(B): "ca"}
    assert not p.pin_sets["a.test"].allow_single_pin  # two pins: a backup is there
    assert p.match("x.y.a.test") is None


def test_a_child_entry_gets_its_parents_identities_too_as_apple_unions_them() -> None:
    p = from_ios(doc({"a.test": {"NSIncludesSubdomains": True, LEAF: ids(A)},
                      "x.a.test": {LEAF: ids(B)}}))
    assert set(p.pin_sets["x.a.test"].all_pins) == {A, B}
    assert set(p.pin_sets["*.a.test"].all_pins) == {A}
    assert p.pin_sets["x.a.test"].allow_single_pin is False


def test_no_union_without_includes_subdomains_nor_two_labels_down() -> None:
    p = from_ios(doc({"a.test": {LEAF: ids(A)}, "x.a.test": {LEAF: ids(B)},
                      "b.test": {"NSIncludesSubdomains": True, LEAF: ids(C)},
                      "y.x.b.test": {LEAF: ids(D)}}))
    assert p.pin_sets["x.a.test"].all_pins == (B,)
    assert p.pin_sets["y.x.b.test"].all_pins == (D,)


def test_a_union_of_leaf_and_ca_is_an_and_refused_naming_both_entries() -> None:
    data = doc({"a.test": {"NSIncludesSubdomains": True, CA: ids(A)},
                "x.a.test": {LEAF: ids(B)}})
    with pytest.raises(ConfigError) as e:
        from_ios(data)
    assert "'x.a.test'" in str(e.value) and "'a.test'" in str(e.value)
    assert "AND" in str(e.value)
    warns: list[str] = []
    ps = from_ios(data, lossy=True, warnings=warns).pin_sets["x.a.test"]
    assert ps.all_pins == (B,) and roles(ps) == {str(B): "leaf"}
    assert any("kept NSPinnedLeafIdentities only" in w for w in warns)


@pytest.mark.parametrize(("value", "why"), [
    ([], "empty array"),
    ("x", "expected an array"),
    ([["not a dict"]], "silently skips this identity"),
    ([{"SPKI-SHA256-BASE64": 5}], "silently skips this identity"),
    ([{"other": "x"}], "silently skips this identity"),
    ([{"SPKI-SHA256-BASE64": ""}], "yields nothing and silently skips"),
    ([{"SPKI-SHA256-BASE64": "!!!!"}], "yields nothing and silently skips"),
    ([{"SPKI-SHA256-BASE64": "AAAA"}], "reads 3 bytes, which never equal"),
    ([{"SPKI-SHA256-BASE64": "sha256/" + A.base64}], "never equal"),
    ([{"SPKI-SHA256-BASE64": A.base64[:10] + "!" + A.base64[10:]}],
     f"reads it as {A}"),
])
def test_identities_apple_skips_or_never_matches_are_refused_with_the_path(
        value: Any, why: str) -> None:
    with pytest.raises(ConfigError) as e:
        from_ios(doc({"a.test": {LEAF: value}}), source="Info.plist")
    msg = str(e.value)
    assert msg.startswith("Info.plist, line ") and '"a.test".NSPinnedLeafIdentities' in msg
    assert why in msg


def test_base64_with_surrounding_whitespace_is_what_apple_decodes() -> None:
    p = from_ios(doc({"a.test": {LEAF: [{"SPKI-SHA256-BASE64": f"\n  {A.base64}\t"}]}}))
    assert p.pin_sets["a.test"].all_pins == (A,)


@pytest.mark.parametrize(("key", "why"), [
    ("a.test.", "ends with a dot"),
    ("*.a.test", "a wildcard matches no host"),
    ("192.0.2.1", "is an IP address"),
    ("::1", "is an IP address"),
    ("bücher.test", "punycode"),
    (" a.test", "not an ASCII host name"),
    ("a..test", "bad domain"),
])
def test_domain_keys_apple_never_matches_or_certpin_cannot_place_are_refused(
        key: str, why: str) -> None:
    with pytest.raises(ConfigError, match="NSPinnedDomains") as e:
        from_ios(doc({key: {LEAF: ids(A)}}))
    assert why in str(e.value)


def test_keys_differing_in_case_only_are_refused_and_case_is_ignored() -> None:
    with pytest.raises(ConfigError, match="given twice"):
        from_ios(doc({"A.test": {LEAF: ids(A)}, "a.TEST": {LEAF: ids(B)}}))
    assert set(from_ios(doc({"A.Test": {LEAF: ids(A)}})).pin_sets) == {"a.test"}


def test_a_non_dictionary_domain_and_a_non_boolean_includes_subdomains_are_refused() -> None:
    with pytest.raises(ConfigError, match=r"silently skips this entry \(SecPolicy.c:1536\)"):
        from_ios(doc({"a.test": [1]}))
    with pytest.raises(ConfigError, match="reads only the boolean true"):
        from_ios(doc({"a.test": {"NSIncludesSubdomains": 1, LEAF: ids(A)}}))


def test_unknown_domain_keys_are_warned_about_and_ignored_as_apple_does() -> None:
    warns: list[str] = []
    p = from_ios(doc({"a.test": {"NSIncludeSubdomains": True, LEAF: ids(A)}}), warnings=warns)
    assert set(p.pin_sets) == {"a.test"}
    assert len(warns) == 1 and "'NSIncludeSubdomains'" in warns[0] and "ignores" in warns[0]


def test_an_entry_without_identities_is_not_pinned_with_a_warning() -> None:
    warns: list[str] = []
    p = from_ios(doc({"a.test": {LEAF: ids(A)}, "b.test": {}}), warnings=warns)
    assert set(p.pin_sets) == {"a.test"}
    assert any("'b.test'" in w and "does not pin it" in w for w in warns)


def test_binary_plist_and_the_ats_dictionary_alone_are_read() -> None:
    ats = {"NSPinnedDomains": {"a.test": {LEAF: ids(A, B)}}}
    for data in (plistlib.dumps(ats, fmt=plistlib.FMT_BINARY), plistlib.dumps(ats),
                 doc(ats["NSPinnedDomains"]).replace(b"\n", b"\r\n")):
        assert from_ios(data).pin_sets["a.test"].all_pins == (A, B)


def test_binary_plist_errors_name_the_key_path_and_hostile_ones_are_refused() -> None:
    bad = plistlib.dumps({"NSAppTransportSecurity": {"NSPinnedDomains": {"a.test": {LEAF: []}}}},
                         fmt=plistlib.FMT_BINARY)
    with pytest.raises(ConfigError, match=r'f.plist, NSAppTransportSecurity\.NSPinnedDomains'):
        from_ios(bad, source="f.plist")
    with pytest.raises(ConfigError, match="not a readable binary plist"):
        from_ios(b"bplist00" + b"\xff" * 40)
    selfref = b"bplist00\xa1\x00\x08" + struct.pack(">6xBBQQQ", 1, 1, 1, 0, 10)
    with pytest.raises(ConfigError, match="nested deeper"):  # an array holding itself
        from_ios(selfref)
    deep: Any = ids(A)
    for _ in range(80):
        deep = [deep]
    with pytest.raises(ConfigError, match="nested deeper"):
        from_ios(plistlib.dumps({"NSPinnedDomains": {"a.test": {LEAF: deep}}},
                                fmt=plistlib.FMT_BINARY))


def test_xml_keeps_the_doctype_rule_and_the_size_cap() -> None:
    evil = b'<?xml version="1.0"?><!DOCTYPE plist [<!ENTITY x "y">]><plist><dict/></plist>'
    with pytest.raises(ConfigError, match="DOCTYPE"):
        from_ios(evil)
    with pytest.raises(ConfigError, match="larger than"):
        from_ios(b"<plist>" + b" " * (1 << 20) + b"</plist>")
    with pytest.raises(ConfigError, match="no NSAppTransportSecurity"):
        from_ios(plistlib.dumps({"CFBundleName": "x"}))


def test_ats_keys_that_weaken_tls_for_a_pinned_domain_are_named_in_warnings() -> None:
    exc = {"api.a.test": {"NSExceptionAllowsInsecureHTTPLoads": True},
           "a.test": {"NSExceptionMinimumTLSVersion": "TLSv1.0"},
           "other.test": {"NSExceptionAllowsInsecureHTTPLoads": True},
           "b.a.test": {"NSExceptionMinimumTLSVersion": "TLSv1.2"}}
    warns: list[str] = []
    from_ios(doc({"a.test": {"NSIncludesSubdomains": True, LEAF: ids(A)}},
                 NSAllowsArbitraryLoads=True, NSAllowsArbitraryLoadsInWebContent=True,
                 NSExceptionDomains=exc), warnings=warns)
    text = "\n".join(warns)
    assert len(warns) == 4, text
    for name in ("NSAllowsArbitraryLoads is true", "NSAllowsArbitraryLoadsInWebContent is true",
                 '"api.a.test".NSExceptionAllowsInsecureHTTPLoads',
                 "NSExceptionMinimumTLSVersion = 'TLSv1.0'"):
        assert name in text
    assert "other.test" not in text and "TLSv1.2" not in text


def test_import_policy_dispatches_and_keeps_one_host() -> None:
    data = doc({"a.test": {LEAF: ids(A)}, "b.test": {CA: ids(B)}})
    assert set(import_policy(data, "ios", host="b.test").pin_sets) == {"b.test"}
    with pytest.raises(ConfigError, match="not in the input"):
        import_policy(data, "ios", host="c.test")


# --- export ---------------------------------------------------------------------------------

def _set(pins: list[Pin], role: str | None, **kw: Any) -> PinSet:
    r = None if role is None else dict.fromkeys(pins, role)
    return PinSet(pins, roles=r, allow_single_pin=len(pins) < 2, **kw)  # type: ignore[arg-type]


def _ats(text: str) -> dict[str, Any]:
    out: dict[str, Any] = plistlib.loads(text.encode())["NSAppTransportSecurity"]
    return out["NSPinnedDomains"]  # type: ignore[no-any-return]


def test_leaf_and_ca_sets_become_the_two_arrays_backups_included() -> None:
    policy = PinPolicy({
        "a.test": PinSet([A], backup_pins=[B], roles={A: "leaf", B: "leaf"}),
        "b.test": _set([C, D], "ca"),
    })
    result = export_policy(policy, "ios")
    assert _ats(result.text) == {
        "a.test": {"NSIncludesSubdomains": False, LEAF: ids(A, B)},
        "b.test": {"NSIncludesSubdomains": False, CA: ids(C, D)},
    }
    assert result.dropped == [] and "iOS/iPadOS 14" in result.notes[0]
    assert result.text.startswith('<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE plist')


@pytest.mark.parametrize(("ps", "rule", "pin"), [
    (_set([A, B], None), "has no role", A),
    (PinSet([A, B], roles={A: "leaf", B: "ca"}), "roles mixed", B),
    (PinSet([A, B], roles={A: "leaf"}), "has no role", B),
])
def test_a_pin_without_role_or_mixed_roles_exit_2_naming_the_pin(
        ps: PinSet, rule: str, pin: Pin) -> None:
    policy = PinPolicy({"a.test": ps, "b.test": _set([C], "ca")})
    with pytest.raises(ExportError) as e:
        export_policy(policy, "ios")
    assert rule in str(e.value) and str(pin) in str(e.value) and "a.test" in str(e.value)
    result = export_policy(policy, "ios", lossy=True)
    assert set(_ats(result.text)) == {"b.test"}
    assert len(result.dropped) == 1 and "left out (not pinned)" in result.dropped[0]


@pytest.mark.parametrize(("kw", "rule"), [
    ({"expires": datetime(2030, 1, 1, tzinfo=UTC)}, "expires"),
    ({"enforce": False}, "report-only"),
])
def test_expiry_and_report_only_leave_the_set_out(kw: dict[str, Any], rule: str) -> None:
    policy = PinPolicy({"a.test": _set([A], "leaf", **kw), "b.test": _set([B], "leaf")})
    with pytest.raises(ExportError, match=rule):
        to_ios(policy)
    assert set(_ats(to_ios(policy, lossy=True).text)) == {"b.test"}


def test_certificate_pins_ip_addresses_and_unknown_hosts_are_lossy_rows() -> None:
    cert = Pin("cert", b"\x09" * 32)
    policy = PinPolicy({"a.test": _set([cert], "leaf"), "192.0.2.1": _set([A], "leaf"),
                        "b.test": _set([B], "leaf", report_uris=["https://r.test/"])},
                       unknown_hosts="reject")
    with pytest.raises(ExportError) as e:
        to_ios(policy)
    for rule in ("certificate pins", "an IP address", "report_uris", 'unknown_hosts = "reject"'):
        assert rule in str(e.value)
    result = to_ios(policy, lossy=True)
    assert set(_ats(result.text)) == {"b.test"} and len(result.dropped) == 4


def test_any_depth_include_subdomains_is_one_label_on_apple_lossy_only() -> None:
    policy = PinPolicy({"a.test": _set([A], "ca", include_subdomains=True)})
    with pytest.raises(ExportError, match="any depth"):
        to_ios(policy)
    result = to_ios(policy, lossy=True)
    assert _ats(result.text)["a.test"]["NSIncludesSubdomains"] is True
    assert "two or more labels below are not pinned" in result.dropped[0]


def test_a_wildcard_merges_into_an_equal_exact_set_else_refused() -> None:
    same = PinPolicy({"a.test": _set([A, B], "leaf"), "*.a.test": _set([A, B], "leaf")})
    assert _ats(to_ios(same).text) == {"a.test": {"NSIncludesSubdomains": True,
                                                  LEAF: ids(A, B)}}
    alone = PinPolicy({"*.a.test": _set([A], "leaf"), "b.test": _set([B], "leaf")})
    with pytest.raises(ExportError, match=r"\*\.a\.test: one-label wildcard without a pin"):
        to_ios(alone)
    assert set(_ats(to_ios(alone, lossy=True).text)) == {"b.test"}
    differ = PinPolicy({"a.test": _set([A], "leaf"), "*.a.test": _set([B], "leaf")})
    with pytest.raises(ExportError, match=r"^ios cannot express this policy exactly: a\.test: "
                       r"Apple would enforce leaf in \[sha256/AgIC"):
        to_ios(differ)
    result = to_ios(differ, lossy=True)
    assert _ats(result.text) == {"a.test": {"NSIncludesSubdomains": False, LEAF: ids(A)}}
    assert "pin set(s) *.a.test left out" in result.dropped[0]


def test_nested_subdomain_entries_export_their_own_pins_apple_adds_the_parents() -> None:
    policy = PinPolicy({"a.test": _set([A], "ca"), "*.a.test": _set([A], "ca"),
                        "x.a.test": _set([B, A], "ca"), "*.x.a.test": _set([B], "ca")})
    assert _ats(to_ios(policy).text)["x.a.test"] == {"NSIncludesSubdomains": True, CA: ids(B)}
    assert from_ios(to_ios(policy).text) == policy  # own identities first, as Apple appends


def test_a_host_where_apples_union_differs_from_certpins_set_is_refused() -> None:
    policy = PinPolicy({"a.test": _set([A], "leaf"), "*.a.test": _set([A], "leaf"),
                        "x.a.test": _set([B], "leaf")})
    with pytest.raises(ExportError) as e:
        to_ios(policy)
    msg = str(e.value)
    assert msg.count("x.a.test: Apple would enforce leaf in [") == 1
    assert "together: x.a.test, a.test" in msg and "certpin leaf in [" in msg
    result = to_ios(policy, lossy=True)
    assert set(_ats(result.text)) == {"a.test"}  # x.a.test falls back to *.a.test: equal
    assert result.dropped == [
        next(d for d in result.dropped if d.startswith("x.a.test: Apple would enforce"))]


def test_a_superset_child_is_still_a_difference_only_equal_sets_pass() -> None:
    ok = PinPolicy({"a.test": _set([A], "ca"), "*.a.test": _set([A], "ca"),
                    "x.a.test": _set([A, B], "ca")})
    assert set(_ats(to_ios(ok).text)) == {"a.test", "x.a.test"}
    nested = PinPolicy({"a.test": _set([A], "ca"), "*.a.test": _set([A], "ca"),
                        "x.a.test": _set([B], "ca"), "*.x.a.test": _set([B], "ca")})
    with pytest.raises(ExportError, match=r"x\.a\.test: Apple would enforce CA in"):
        to_ios(nested)
    result = to_ios(nested, lossy=True)  # x.a.test can never get B alone under a.test
    assert set(_ats(result.text)) == {"a.test"} and len(result.dropped) == 2


def test_nothing_left_is_an_error_not_an_empty_plist() -> None:
    policy = PinPolicy({"a.test": _set([A], None)})
    with pytest.raises(ExportError, match="every pin set was dropped, so nothing would be left"):
        to_ios(policy, lossy=True)
    with pytest.raises(ExportError, match="the policy has no pin set, so there is nothing"):
        to_ios(PinPolicy({}))
