"""iOS NSPinnedDomains against a model of Apple's code (tests/support/atsmodel.py), round trips,
the golden file and the CLI.

Differential: for generated ATS dictionaries, hosts and chains, ``certpin.check`` on the
imported policy gives the verdict Apple's checks give, or the import refused; for generated
certpin policies, Apple's verdict on the export equals ``certpin.check`` on the policy, or the
export refused."""

from __future__ import annotations

import plistlib
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st

from certpin import ConfigError, check
from certpin.cli import main
from certpin.config import (
    ExportError,
    export_policy,
    from_ios,
    import_policy,
    loads_policy,
    to_ios,
)
from certpin.pins import Pin, spki_pin
from certpin.policy import PinPolicy, PinSet
from support.atsmodel import passes

GOLDEN = Path(__file__).parent.parent / "golden"
LEAF, CA = "NSPinnedLeafIdentities", "NSPinnedCAIdentities"


def _cert(n: int) -> bytes:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"c{n}")])
    now = datetime(2025, 1, 1, tzinfo=UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(n + 1)
            .not_valid_before(now).not_valid_after(now + timedelta(days=1))
            .sign(key, hashes.SHA256()))
    return cert.public_bytes(serialization.Encoding.DER)


CERTS = [_cert(n) for n in range(4)]
PINS = [spki_pin(x509.load_der_x509_certificate(c)) for c in CERTS]
CHAINS = ([[i] for i in range(4)] + [[i, j] for i in range(4) for j in range(4) if i != j]
          + [[0, 1, 2], [1, 2, 3], [3, 0, 1], [2, 3, 0]])
HOSTS = ["a.test", "x.a.test", "y.x.a.test", "z.y.x.a.test", "b.test", "q.b.test", "test",
         "A.TEST", "x.a.test.", "other.example"]


def canon(policy: PinPolicy) -> dict[str, object]:
    """A policy with each pin set's pins as a set (an import orders a union as Apple appends
    it: the host's own identities, then its parent's)."""
    return {p: (frozenset(ps.all_pins), frozenset(ps.roles.items()), ps.allow_single_pin)
            for p, ps in policy.pin_sets.items()}


def same_verdicts(policy: PinPolicy, ats: dict[str, Any]) -> None:
    for host in HOSTS:
        for chain in CHAINS:
            apple = passes(ats, host, [PINS[i].digest for i in chain])
            mine = check(policy, host, [CERTS[i] for i in chain]).passed
            assert mine == apple, (host, chain, ats, policy)


# --- import differential --------------------------------------------------------------------

_GOOD = [{"SPKI-SHA256-BASE64": p.base64} for p in PINS]
_BAD_IDENTITY = [{"SPKI-SHA256-BASE64": "AAAA"}, "not a dict", {"x": 1}]


def _rarely(good: st.SearchStrategy[Any], bad: list[Any]) -> st.SearchStrategy[Any]:
    """Mostly ``good``, now and then one of ``bad`` (what Apple skips or never matches); bad
    is a middle value, since Hypothesis favours the ends of a range."""
    return st.integers(0, 31).flatmap(lambda n: st.sampled_from(bad) if n == 13 else good)


_ids = _rarely(st.lists(_rarely(st.sampled_from(_GOOD), _BAD_IDENTITY), min_size=1, max_size=3),
               [[], "x"])


@st.composite
def _entry(draw: st.DrawFn) -> dict[str, Any]:
    out: dict[str, Any] = {}
    sub = draw(_rarely(st.sampled_from([None, True, False]), [1]))
    if sub is not None:
        out["NSIncludesSubdomains"] = sub
    kind = draw(st.sampled_from(["leaf", "ca", "leaf", "ca", "both", "none"]))
    if kind in ("leaf", "both"):
        out[LEAF] = draw(_ids)
    if kind in ("ca", "both"):
        out[CA] = draw(_ids)
    return out


_ats = st.dictionaries(
    _rarely(st.sampled_from(["a.test", "x.a.test", "y.x.a.test", "b.test", "q.b.test", "test"]),
            ["A.test", "a.test."]),
    _entry(), min_size=1, max_size=4,
).map(lambda d: {"NSPinnedDomains": d})


@seed(20261203)
@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ats=_ats, binary=st.booleans())
def test_import_gives_apples_verdict_or_refuses(ats: dict[str, Any], binary: bool) -> None:
    data = plistlib.dumps({"NSAppTransportSecurity": ats},
                          fmt=plistlib.FMT_BINARY if binary else plistlib.FMT_XML)
    try:
        policy = from_ios(data)
    except ConfigError:
        return
    same_verdicts(policy, ats)


@seed(20261206)
@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ats=_ats)
def test_a_lossy_import_is_never_stricter_than_apple(ats: dict[str, Any]) -> None:
    """--lossy keeps the leaf half of an AND: what Apple admits, certpin still admits."""
    try:
        policy = from_ios(plistlib.dumps({"NSAppTransportSecurity": ats}), lossy=True)
    except ConfigError:
        return
    for host in HOSTS:
        for chain in CHAINS:
            if passes(ats, host, [PINS[i].digest for i in chain]):
                assert check(policy, host, [CERTS[i] for i in chain]).passed, (host, chain)


def test_the_import_differential_is_not_vacuous() -> None:
    """Documents with nested includes import and still agree (the generated cases can refuse)."""
    ats = {"NSPinnedDomains": {
        "a.test": {"NSIncludesSubdomains": True, CA: [{"SPKI-SHA256-BASE64": PINS[1].base64}]},
        "x.a.test": {"NSIncludesSubdomains": True,
                     CA: [{"SPKI-SHA256-BASE64": PINS[2].base64}]},
        "b.test": {LEAF: [{"SPKI-SHA256-BASE64": PINS[0].base64}]},
        "q.b.test": {"NSIncludesSubdomains": False},
    }}
    policy = from_ios(plistlib.dumps({"NSAppTransportSecurity": ats}))
    assert len(policy.pin_sets) == 5
    same_verdicts(policy, ats)


# --- export differential and round trips ----------------------------------------------------

@st.composite
def _policies(draw: st.DrawFn) -> PinPolicy:
    patterns = draw(st.lists(st.sampled_from(
        ["a.test", "*.a.test", "x.a.test", "*.x.a.test", "y.x.a.test", "b.test", "*.b.test"]),
        min_size=1, max_size=5, unique=True))
    sets = {}
    for p in patterns:
        pins = draw(st.lists(st.sampled_from(PINS), min_size=1, max_size=3, unique=True))
        role = draw(st.sampled_from(["leaf", "ca"]))
        sets[p] = PinSet(sorted(pins, key=str), roles=dict.fromkeys(pins, role),
                         allow_single_pin=len(pins) < 2)
    return PinPolicy(sets)


@seed(20261204)
@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(policy=_policies())
def test_export_gives_certpins_verdict_on_apple_and_reads_back(policy: PinPolicy) -> None:
    try:
        text = to_ios(policy).text
    except ExportError:
        return
    same_verdicts(policy, plistlib.loads(text.encode())["NSAppTransportSecurity"])
    assert canon(from_ios(text)) == canon(policy)  # certpin -> ios -> certpin


@seed(20261205)
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ats=_ats)
def test_ios_to_certpin_to_ios_keeps_what_apple_enforces(ats: dict[str, Any]) -> None:
    try:
        policy = from_ios(plistlib.dumps({"NSAppTransportSecurity": ats}))
    except ConfigError:
        return
    text = to_ios(policy).text  # what certpin imported, Apple can always say back
    again = plistlib.loads(text.encode())["NSAppTransportSecurity"]
    for host in HOSTS:
        for chain in CHAINS:
            digests = [PINS[i].digest for i in chain]
            assert passes(again, host, digests) == passes(ats, host, digests)
    assert canon(from_ios(text)) == canon(policy)


def test_with_trustkit_and_android_roles_are_never_guessed() -> None:
    # a registrable name: TrustKit throws at start-up for .test (docs/rules/trustkit.md)
    ios = plistlib.dumps({"NSPinnedDomains": {"a.example.com": {LEAF: [
        {"SPKI-SHA256-BASE64": PINS[0].base64}, {"SPKI-SHA256-BASE64": PINS[1].base64}]}}})
    policy = import_policy(ios, "ios")
    for fmt in ("trustkit", "android"):
        with pytest.raises(ExportError, match="has role 'leaf'"):
            export_policy(policy, fmt)
        back = import_policy(export_policy(policy, fmt, lossy=True).text, fmt)
        assert set(back.pin_sets["a.example.com"].all_pins) == set(PINS[:2])
        with pytest.raises(ExportError, match="has no role"):
            export_policy(back, "ios")  # a role-less import is not guessed to be a leaf


# --- golden file and CLI --------------------------------------------------------------------

def _golden_policy() -> PinPolicy:
    K = [Pin("spki", bytes([n]) * 32) for n in range(1, 6)]
    return PinPolicy({
        "api.example.net": PinSet([K[0]], backup_pins=[K[1]], roles=dict.fromkeys(K[:2], "leaf")),
        "example.com": PinSet(K[2:4], roles=dict.fromkeys(K[2:4], "ca")),
        "*.example.com": PinSet(K[2:4], roles=dict.fromkeys(K[2:4], "ca")),
        "cdn.example.net": PinSet([K[4]], roles={K[4]: "ca"}, allow_single_pin=True),
    })


def test_golden() -> None:
    text = export_policy(_golden_policy(), "ios").text
    assert text == (GOLDEN / "ios-pinned-domains.plist").read_text()
    api = _golden_policy().pin_sets["api.example.net"]  # a backup pin reads back as a pin
    assert from_ios(text) == PinPolicy({**_golden_policy().pin_sets, "api.example.net": PinSet(
        api.all_pins, roles=api.roles)})


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


POLICY = f"""version = 1
[hosts."a.test"]
pins = ["{PINS[0]}", "{PINS[1]}"]
roles = {{ "{PINS[0]}" = "leaf", "{PINS[1]}" = "leaf" }}
[hosts."b.test"]
pins = ["{PINS[2]}", "{PINS[3]}"]
"""


def test_cli_export_exit_0_2_and_lossy(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "p.toml"
    path.write_text(POLICY)
    code, out, err = _run(capsys, "export", str(path), "--format", "ios")
    assert (code, out) == (2, "") and err.count("\n") == 1
    assert f"b.test: pin {PINS[2]} has no role" in err
    code, out, err = _run(capsys, "export", str(path), "--format", "ios", "--lossy")
    assert code == 0 and "<key>a.test</key>" in out and "b.test" not in out
    assert "certpin export: dropped: b.test: pin" in err and "note: NSPinnedDomains" in err
    one = tmp_path / "one.toml"
    one.write_text(POLICY.split('[hosts."b.test"]', maxsplit=1)[0])
    code, out, err = _run(capsys, "export", str(one), "--format", "ios")
    assert code == 0 and from_ios(out) == loads_policy(one.read_text(), "toml")


def test_cli_import_exit_0_2_and_lossy(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f = tmp_path / "Info.plist"
    f.write_bytes(plistlib.dumps({"NSAppTransportSecurity": {"NSPinnedDomains": {"a.test": {
        LEAF: [{"SPKI-SHA256-BASE64": PINS[0].base64}],
        CA: [{"SPKI-SHA256-BASE64": PINS[1].base64}]}}}}, fmt=plistlib.FMT_BINARY))
    out_file = tmp_path / "p.toml"
    code, out, err = _run(capsys, "import", str(f), "--from", "ios", "-o", str(out_file))
    assert code == 2 and out == "" and not out_file.exists()
    assert err.count("\n") == 1 and "AND" in err and "Traceback" not in err
    code, out, err = _run(capsys, "import", str(f), "--from", "ios", "-o", str(out_file),
                          "--lossy")
    assert code == 0 and "warning:" in err and "kept NSPinnedLeafIdentities only" in err
    ps = loads_policy(out_file.read_text(), "toml").pin_sets["a.test"]
    assert ps.all_pins == (PINS[0],) and ps.role_of(PINS[0]) == "leaf"
