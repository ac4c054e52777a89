"""Pin roles in policy files (TOML, JSON: read, located errors, dump, round trip) and the one
central export gate: a format outside ROLE_FORMATS cannot say a role, so its export refuses
or drops them."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, seed, settings
from hypothesis import strategies as st

from certpin import ConfigError
from certpin.config import (
    EXPORT_FORMATS,
    ROLE_FORMATS,
    ExportError,
    dumps_policy,
    export_policy,
    loads_policy,
)
from certpin.policy import PinPolicy, PinSet

K1 = "sha256/gXQJloeiZiH04s3XzAOz2s7bP7liJVsar9Azyr6DFTA="
K2 = "sha256/sQJTdkyLIz+zdULiNAHHtFDlpvl1HztaAU9vZ+i8mZ0="
K3 = "sha256/9XYQTuvqsJZR2DrP/HfIuMbqpLdnrqsk19qA+D9R2GU="
K9 = "sha256/47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="

TOML = f"""\
version = 1

[hosts."a.test"]
pins = ["{K1}", "{K2}"]
backup_pins = ["{K3}"]
roles = {{ "{K1}" = "leaf", "{K2}" = "ca" }}

[hosts."b.test"]
pins = ["{K1}", "{K2}"]
"""


def test_toml_roles_are_read_and_pins_without_a_role_have_none() -> None:
    policy = loads_policy(TOML, "toml")
    a = policy.pin_sets["a.test"]
    assert {str(p): r for p, r in a.roles.items()} == {K1: "leaf", K2: "ca"}
    assert a.role_of(a.backup_pins[0]) is None
    assert dict(policy.pin_sets["b.test"].roles) == {}


def test_json_roles_are_read_in_any_pin_notation() -> None:
    doc = {"hosts": {"a.test": {"pins": [K1, K2],
                                "roles": {"sha256//" + K2.split("/", 1)[1]: "ca"}}}}
    ps = loads_policy(json.dumps(doc), "json").pin_sets["a.test"]
    assert {str(p): r for p, r in ps.roles.items()} == {K2: "ca"}


@pytest.mark.parametrize("fmt", ["toml", "json"])
def test_dump_writes_roles_sorted_and_only_when_present(fmt: str) -> None:
    policy = loads_policy(TOML, "toml")
    text = dumps_policy(policy, fmt)  # type: ignore[arg-type]
    assert loads_policy(text, fmt) == policy  # type: ignore[arg-type]
    assert text.count("roles") == 1  # b.test has none: no empty table
    if fmt == "json":
        roles = json.loads(text)["hosts"]["a.test"]["roles"]
        assert list(roles.items()) == sorted({K1: "leaf", K2: "ca"}.items())
    else:
        assert '[hosts."a.test".roles]' in text
        assert K1 < K2  # sorted by pin text
        assert text.index(f'"{K1}" = "leaf"') < text.index(f'"{K2}" = "ca"')


ROLE_SETS = st.dictionaries(st.sampled_from([K1, K2, K3]), st.sampled_from(["leaf", "ca"]))


@seed(12)
@settings(max_examples=40, deadline=None)
@given(ROLE_SETS, st.sampled_from(["toml", "json"]))
def test_roles_round_trip(roles: dict[str, str], fmt: str) -> None:
    policy = PinPolicy({"a.test": PinSet([K1, K2], backup_pins=[K3], roles=roles)})  # type: ignore[arg-type]
    back = loads_policy(dumps_policy(policy, fmt), fmt)  # type: ignore[arg-type]
    assert back == policy
    assert {str(p): r for p, r in back.pin_sets["a.test"].roles.items()} == roles


@pytest.mark.parametrize(
    ("roles_toml", "line", "path", "message"),
    [
        (f'roles = {{ "{K9}" = "leaf" }}', 5,
         f'hosts."a.test".roles."{K9}"', "not one of this host's pins or backup_pins"),
        (f'roles = {{ "{K1}" = "root" }}', 5,
         f'hosts."a.test".roles."{K1}"', "expected \"leaf\" or \"ca\", got 'root'"),
        (f'roles = {{ "{K1}" = 1 }}', 5, f'hosts."a.test".roles."{K1}"', "got 1"),
        ('roles = { "sha256/nope" = "leaf" }', 5, 'hosts."a.test".roles."sha256/nope"', "nope"),
        ('roles = ["leaf"]', 5, 'hosts."a.test".roles', "expected a table from pin"),
        (f'\n[hosts."a.test".roles]\n"{K2}" = "ca"\n"{K1}" = "CA"', 8,
         f'hosts."a.test".roles."{K1}"', "expected \"leaf\" or \"ca\""),
    ],
)
def test_toml_role_errors_name_file_line_and_key_path(
    roles_toml: str, line: int, path: str, message: str
) -> None:
    text = f'version = 1\n\n[hosts."a.test"]\npins = ["{K1}", "{K2}"]\n{roles_toml}\n'
    with pytest.raises(ConfigError) as info:
        loads_policy(text, "toml", source="p.toml")
    shown = str(info.value)
    assert shown.startswith(f"p.toml, line {line} ({path}): "), shown
    assert message in shown


def test_json_role_errors_name_file_line_and_key_path() -> None:
    text = json.dumps({"hosts": {"a.test": {"pins": [K1, K2], "roles": {K9: "leaf"}}}},
                      indent=2)
    with pytest.raises(ConfigError) as info:
        loads_policy(text, "json", source="p.json")
    line = next(i for i, t in enumerate(text.splitlines(), 1) if f'"{K9}":' in t)
    assert str(info.value).startswith(f'p.json, line {line} (hosts."a.test".roles."{K9}"): ')


def test_one_pin_given_a_role_twice_is_refused() -> None:
    doc = {"hosts": {"a.test": {"pins": [K1, K2],
                                "roles": {K1: "leaf", "sha256//" + K1.split("/", 1)[1]: "ca"}}}}
    with pytest.raises(ConfigError, match="given a role twice"):
        loads_policy(json.dumps(doc), "json", source="p.json")


# --------------------------------------------------------------------------- export gate


def _with_roles(a: str = "a.test", b: str = "b.test") -> PinPolicy:
    return PinPolicy({
        a: PinSet([K1, K2], roles={K1: "leaf"}),
        b: PinSet([K2, K3]),
    })


def _names(fmt: str) -> tuple[str, str]:
    """Two host names the format can hold (TrustKit throws at start-up for a name with no public
    suffix in its snapshot, such as anything under .test: docs/rules/trustkit.md)."""
    if fmt.startswith("trustkit"):
        return ("a.example.com", "b.example.com")
    return ("a.test", "b.test")


def test_only_formats_that_say_roles_are_role_formats() -> None:
    # curl: every curl pin is a leaf pin (tests/config/test_config_curl_rules.py); ios: leaf and
    # CA identities; swift-delegate: each pin's role in its tables, applied by PinSet.admits
    # (tests/config/test_config_swift_roles.py)
    assert {"ios", "curl", "swift-delegate"} == ROLE_FORMATS


ROLELESS = [f for f in EXPORT_FORMATS if f not in ROLE_FORMATS]


@pytest.mark.parametrize("fmt", ROLELESS)
def test_every_format_refuses_roles_naming_host_and_pin(fmt: str) -> None:
    host = "a.test" if fmt in ("hpkp", "curl") else None
    with pytest.raises(ExportError) as info:
        export_policy(_with_roles(), fmt, host=host)
    assert f"a.test: pin {K1} has role 'leaf'" in str(info.value)
    assert "b.test" not in str(info.value)


@pytest.mark.parametrize("fmt", ROLELESS)
def test_lossy_drops_roles_with_a_row_per_host(fmt: str) -> None:
    a, b = _names(fmt)
    host = a if fmt in ("hpkp", "curl") else None
    result = export_policy(_with_roles(a, b), fmt, host=host, lossy=True)
    rows = [r for r in result.dropped if "roles" in r]
    assert len(rows) == 1
    assert rows[0].startswith(f"{a}: roles ({K1} leaf); dropped")
    plain = PinPolicy({a: PinSet([K1, K2]), b: PinSet([K2, K3])})
    assert result.text == export_policy(plain, fmt, host=host, lossy=True).text


def test_a_host_without_roles_exports_as_before() -> None:
    result = export_policy(_with_roles(), "curl", host="b.test")
    assert result.dropped == []
