"""The TrustKit rules (docs/rules/trustkit.md): TrustKit's registry rule and its snapshot, what
the importer refuses and the exporter never writes, and a differential test of the exporter
against a model of TrustKit's host lookup."""

from __future__ import annotations

import hashlib
from importlib import resources

import pytest
from hypothesis import given, seed, settings
from hypothesis import strategies as st

from certpin.cli import main
from certpin.config import (
    ConfigError,
    ExportError,
    dump_policy,
    from_trustkit,
    to_trustkit,
    to_trustkit_swift,
)
from certpin.config._trustkit_registry import domain_problem, registry_length
from certpin.pins import Pin
from certpin.policy import PinPolicy, PinSet
from support.cli import one_error_line
from support.trustkit_model import trustkit_key_for

K1 = "sha256/gXQJloeiZiH04s3XzAOz2s7bP7liJVsar9Azyr6DFTA="
K2 = "sha256/sQJTdkyLIz+zdULiNAHHtFDlpvl1HztaAU9vZ+i8mZ0="
K3 = "sha256/9XYQTuvqsJZR2DrP/HfIuMbqpLdnrqsk19qA+D9R2GU="
B1, B2 = K1[7:], K2[7:]


def plist(domains: str, extra: str = "") -> str:
    return ("<plist><dict><key>TSKConfiguration</key><dict>" + extra
            + f"<key>TSKPinnedDomains</key><dict>{domains}</dict></dict></dict></plist>")


def domain(name: str, body: str = "", hashes: tuple[str, ...] = (B1, B2)) -> str:
    arr = "".join(f"<string>{h}</string>" for h in hashes)
    return f"<key>{name}</key><dict>{body}<key>TSKPublicKeyHashes</key><array>{arr}</array></dict>"


# --- TrustKit's registry rule over its own snapshot -------------------------------------------

def test_the_vendored_snapshot_is_trustkit_s() -> None:
    """The rules file is what scripts/trustkit_registry.py decoded from TrustKit's
    registry_tables.h at commit f17d848 (it checks the trie and 43,070 names against the C
    tables); its content is pinned here so that an edit is a visible decision."""
    text = resources.files("certpin.config").joinpath("trustkit_suffixes.txt").read_text()
    rules = [line for line in text.splitlines() if line and not line.startswith("#")]
    assert "f17d8480693e0ef829ea29b057c6780fdb0acf6b" in text
    assert "Mozilla Public License, v. 2.0" in text
    assert len(rules) == 8611 and len(set(rules)) == 8611
    assert hashlib.sha256("\n".join(rules).encode()).hexdigest() == (
        "ed27a4f608bcd5908f1b244bcdb53e12384cd403be17d9bfe5d5503441863e37")


@pytest.mark.parametrize(("name", "length"), [
    # the examples of domain_registry.h lines 44-57 that still hold with the 2018 data
    ("www.google.com", 3), ("WWW.gOoGlE.cOm", 3), ("..google.com", 3), ("google.com.", 4),
    ("a.b.co.uk", 5), ("google.com..", 0), ("co.uk", 5), ("foo.\u81fa\u7063", 0),
    ("foo.xn--nnx388a", 11),
    # what the exporter must know
    ("127.0.0.1", 0), ("::1", 0), ("api.internal", 0), ("localhost", 0), ("example.test", 0),
    ("com", 3), ("appspot.com", 11), ("x.appspot.com", 11),
    # a node that only leads to longer rules ends in "no registry" (registry_search.c 187-192)
    ("amazonaws.com", 0), ("www.amazonaws.com", 0), ("s3.amazonaws.com", 16),
    ("kawasaki.jp", 0), ("x.kawasaki.jp", 13), ("city.kawasaki.jp", 11),  # *. and !city.
    ("a" * 251 + ".com", 3), ("a" * 252 + ".com", 0),  # at most 255 bytes
])
def test_registry_length_as_trustkit_computes_it(name: str, length: int) -> None:
    assert registry_length(name) == length


def test_trustkit_s_rule_differs_from_the_public_suffix_list_certpin_lint_uses() -> None:
    """Why the exporter cannot use ``publicsuffixlist``: for these names it would write what
    TrustKit throws on, or refuse what TrustKit accepts."""
    psl_mod = pytest.importorskip("publicsuffixlist")
    psl = psl_mod.PublicSuffixList(only_icann=False)
    # registrable for the Public Suffix List (a suffix that is not the whole name) ...
    for name in ("amazonaws.com", "www.amazonaws.com", "api.internal", "kawasaki.jp"):
        assert psl.publicsuffix(name) != name or name == "kawasaki.jp", name
        # ... but TrustKit finds no registry and throws at start-up
        assert registry_length(name) == 0, name
        assert "parse_configuration.m line 72" in str(domain_problem(name, False))
    # public suffixes today, added to the list after TrustKit's July 2018 snapshot: TrustKit
    # accepts includeSubdomains on them (they are registrable under .dev / .app there)
    for name in ("pages.dev", "web.app"):
        assert psl.publicsuffix(name) == name
        assert registry_length(name) == 3
        assert domain_problem(name, True) is None


@pytest.mark.parametrize(("name", "subs", "line"), [
    ("127.0.0.1", False, "line 72"), ("api.internal", False, "line 72"),
    ("localhost", True, "line 72"), ("com", True, "lines 116-124"),
    ("co.uk", True, "lines 116-124"), ("appspot.com", True, "lines 116-124"),
])
def test_domain_problem_names_trustkit_s_line(name: str, subs: bool, line: str) -> None:
    assert f"(parse_configuration.m {line})" in str(domain_problem(name, subs))


@pytest.mark.parametrize("name", ["com", "co.uk", "appspot.com", "example.com", "pages.dev"])
def test_a_public_suffix_may_be_pinned_exactly(name: str) -> None:
    assert domain_problem(name, False) is None


# --- export ------------------------------------------------------------------------------------

def test_a_report_only_domain_may_have_one_pin() -> None:
    """parse_configuration.m line 207: two pins only when enforcing."""
    policy = PinPolicy({"api.example.com": PinSet([K1], enforce=False, allow_single_pin=True)})
    result = to_trustkit(policy)
    assert result.dropped == []
    assert from_trustkit(result.text) == policy
    assert f'"{B1}",' in to_trustkit_swift(policy).text


def test_an_enforcing_domain_with_one_pin_is_refused_with_trustkit_s_reason() -> None:
    one = PinSet([K1], allow_single_pin=True)
    policy = PinPolicy({"api.example.com": one, "www.example.com": PinSet([K1, K2])})
    with pytest.raises(ExportError) as info:
        to_trustkit(policy)
    assert info.value.problems == [
        "api.example.com: fewer than two pins while enforcing (TrustKit throws at start-up: "
        "parse_configuration.m lines 207-212, a report-only domain needs one)"]
    result = to_trustkit(policy, lossy=True)
    assert result.dropped == [info.value.problems[0] + "; pin set left out (not pinned)"]
    assert list(from_trustkit(result.text).pin_sets) == ["www.example.com"]


@pytest.mark.parametrize(("pattern", "subs"), [
    ("127.0.0.1", False), ("::1", False), ("api.internal", False), ("api.internal", True),
    ("amazonaws.com", True), ("co.uk", True), ("appspot.com", True), ("localhost", False),
])
@pytest.mark.parametrize("export", [to_trustkit, to_trustkit_swift])
def test_what_trustkit_throws_on_is_never_written(pattern: str, subs: bool, export) -> None:  # type: ignore[no-untyped-def]
    bad = PinSet([K1, K2], include_subdomains=subs)
    policy = PinPolicy({pattern: bad, "www.example.com": PinSet([K2, K3])})
    with pytest.raises(ExportError) as info:
        export(policy)
    assert info.value.problems == [f"{pattern}: {domain_problem(pattern, subs)}"]
    result = export(policy, lossy=True)  # the set is left out, and said so
    assert result.dropped == [f"{pattern}: {domain_problem(pattern, subs)}; "
                              "pin set left out (not pinned)"]
    assert f'"{pattern}"' not in result.text and f">{pattern}<" not in result.text
    assert "www.example.com" in result.text


def test_nothing_left_is_refused_even_with_lossy() -> None:
    """TrustKit throws on an empty TSKPinnedDomains (parse_configuration.m lines 62-66): a
    lossy export that leaves nothing would crash the app at start-up."""
    policy = PinPolicy({"127.0.0.1": PinSet([K1, K2]), "*.example.com": PinSet([K1, K2])})
    for lossy in (False, True):
        with pytest.raises(ExportError) as info:
            to_trustkit_swift(policy, lossy=lossy)
        assert info.value.lossy_helps is False
        assert info.value.problems[-1] == (
            "every pin set was dropped, so nothing would be left to export (TrustKit throws "
            "at start-up when TSKPinnedDomains is empty: parse_configuration.m lines 62-66)")
        assert str(info.value).endswith("(refused even with --lossy / lossy=True)")
        assert "*.example.com: one-label wildcard" in str(info.value)


def test_cli_export_refuses_a_crashing_config_in_one_line(tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "policy.toml"
    dump_policy(PinPolicy({"api.internal": PinSet([K1, K2])}), path)
    assert main(["export", str(path), "--format", "trustkit", "--lossy"]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    line = one_error_line(err)
    assert line.startswith("certpin export: error: trustkit cannot express this policy exactly: "
                           "api.internal: TrustKit finds no public suffix in it")
    assert line.endswith("(refused even with --lossy / lossy=True)")


def test_export_writes_user_anchors_off_for_macos() -> None:
    """On macOS TrustKit's default lets a user-installed root bypass the pins
    (parse_configuration.m lines 47-59); certpin never does, so the export says false."""
    policy = PinPolicy({"api.example.com": PinSet([K1, K2])})
    text = to_trustkit(policy).text
    assert "<key>TSKIgnorePinningForUserDefinedTrustAnchors</key>\n\t\t<false/>" in text
    warnings: list[str] = []
    assert from_trustkit(text, warnings=warnings) == policy and warnings == []
    assert '"TSKIgnorePinningForUserDefinedTrustAnchors": false,' in to_trustkit_swift(policy).text


# --- import ------------------------------------------------------------------------------------

def _refusal(doc: str) -> str:
    with pytest.raises(ConfigError) as info:
        from_trustkit(doc, source="Info.plist")
    return str(info.value)


@pytest.mark.parametrize(("doc", "expected"), [
    (plist(domain("api.example.com", hashes=(B1,))),
     "fewer than two distinct pins while enforcing: TrustKit throws at start-up "
     "(parse_configuration.m lines 207-212)"),
    (plist(domain("api.example.com", hashes=(B1, B1))),
     "fewer than two distinct pins while enforcing"),
    (plist(domain("api.example.com", "<key>TSKEnforcePinning</key><false/>", hashes=())),
     "no pin: TrustKit throws at start-up (parse_configuration.m lines 207-212)"),
    (plist(domain("127.0.0.1")), "domain '127.0.0.1': TrustKit finds no public suffix in it"),
    (plist(domain("api.internal")), "(parse_configuration.m line 72)"),
    (plist(domain("b\u00fccher.de")), "(parse_configuration.m line 72)"),
    (plist(domain("co.uk", "<key>TSKIncludeSubdomains</key><true/>")),
     "domain 'co.uk': it is a public suffix in TrustKit's snapshot"),
    (plist(domain("API.example.com")), "domain 'API.example.com': TrustKit matches domains "
                                       "exactly as written (configuration_utils.m lines 36-61); "
                                       "write 'api.example.com'"),
    (plist(domain("example.com.")), "write 'example.com'"),
    (plist(domain("*.example.com")), "TrustKit has no wildcards"),
    (plist(""), "no pinned domain (TrustKit throws at start-up: parse_configuration.m lines "
                "62-66)"),
    (plist(domain("api.example.com", "<key>TSKExcludeSubdomainFromParentPolicy</key><true/>")),
     "TrustKit ignores 'TSKExcludeSubdomainFromParentPolicy': the constant "
     "kTSKExcludeSubdomainFromParentPolicy is the string 'kSKExcludeSubdomainFromParentPolicy' "
     "(TSKTrustKitConfig.m line 25)"),
    (plist(domain("api.example.com", "<key>kTSKEnforcePinning</key><false/>")),
     "TrustKit ignores 'kTSKEnforcePinning' in a plist: it reads the string value of the "
     "constant, 'TSKEnforcePinning'"),
    ("<plist><dict><key>kTSKPinnedDomains</key><dict/></dict></plist>",
     "TrustKit ignores 'kTSKPinnedDomains' in a plist"),
    (plist(domain("api.example.com", hashes=(" " + B1, B2))),
     "spaces around the hash: TrustKit cannot decode it"),
])
def test_import_refuses_what_trustkit_refuses_or_reads_otherwise(doc: str, expected: str) -> None:
    message = _refusal(doc)
    assert message.startswith("Info.plist, line 1")
    assert expected in message


def test_import_of_a_report_only_domain_with_one_pin() -> None:
    warnings: list[str] = []
    doc = plist(domain("api.example.com", "<key>TSKEnforcePinning</key><false/>",
                       hashes=(B1, B1)))
    policy = from_trustkit(doc, source="Info.plist", warnings=warnings)
    assert policy == PinPolicy({"api.example.com": PinSet([K1], enforce=False,
                                                           allow_single_pin=True)})
    assert warnings == ['Info.plist, line 1: TSKConfiguration.TSKPinnedDomains."api.example.com"'
                        ".TSKPublicKeyHashes lists a hash twice (TrustKit keeps each once)"]


def test_import_keeps_an_exact_public_suffix() -> None:
    """Only includeSubdomains on a public suffix throws (parse_configuration.m line 120)."""
    assert list(from_trustkit(plist(domain("co.uk"))).pin_sets) == ["co.uk"]


# --- differential: the exporter against TrustKit's lookup ------------------------------------

_LABELS = ["a", "api", "www", "x"]
_BASES = ["example.com", "example.co.uk", "city.kawasaki.jp", "co.uk", "api.internal",
          "amazonaws.com", "com"]
_PINS = [Pin("spki", bytes([i]) * 32) for i in range(1, 5)]


@st.composite
def _policies(draw: st.DrawFn) -> PinPolicy:
    sets = {}
    for _ in range(draw(st.integers(1, 4))):
        labels = draw(st.lists(st.sampled_from(_LABELS), max_size=2))
        name = ".".join([*labels, draw(st.sampled_from(_BASES))])
        pins = draw(st.lists(st.sampled_from(_PINS), min_size=1, max_size=3, unique=True))
        sets[name] = PinSet(pins, include_subdomains=draw(st.booleans()),
                            enforce=draw(st.booleans()), allow_single_pin=len(pins) < 2)
    return PinPolicy(sets)


def _hosts(policy: PinPolicy) -> set[str]:
    hosts = set()
    for pattern in policy.pin_sets:
        hosts.update({pattern, "z." + pattern, "z.y." + pattern, "zz" + pattern})
        hosts.update(pattern.split(".", 1)[1:])
    return hosts


@seed(20261111)
@settings(max_examples=300, deadline=None)
@given(_policies())
def test_trustkit_picks_certpin_s_pin_set_for_every_host_or_the_export_refuses(
    policy: PinPolicy,
) -> None:
    """For every exported policy and host, TrustKit's lookup (configuration_utils.m, modelled
    in tests/support/trustkit_model.py) lands on the pattern certpin's most-specific match
    picks; and the import of the export is the policy (backup pins become hashes)."""
    try:
        result = to_trustkit(policy)
    except ExportError as exc:
        # refused exactly when some domain breaks a TrustKit rule
        assert any(domain_problem(p, ps.include_subdomains) or (ps.enforce and len(ps.pins) < 2)
                   for p, ps in policy.pin_sets.items()), exc
        return
    assert from_trustkit(result.text) == policy
    subs = {p: ps.include_subdomains for p, ps in policy.pin_sets.items()}
    for host in _hosts(policy):
        found = policy.match(host)
        assert trustkit_key_for(host, subs) == (found[0] if found else None), host
