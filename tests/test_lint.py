"""certpin.lint: offline policy checks, one test per finding (pure, no network)."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from certpin.health import Level
from certpin.lint import BUILTIN_PUBLIC_SUFFIXES, is_public_suffix, lint_policy
from certpin.pins import Pin
from certpin.policy import PinPolicy, PinSet
from support.health import fresh_pin

NOW = datetime(2030, 6, 1, 12, 0, tzinfo=UTC)
K = "sha256/gXQJloeiZiH04s3XzAOz2s7bP7liJVsar9Azyr6DFTA="
K2 = "sha256/sQJTdkyLIz+zdULiNAHHtFDlpvl1HztaAU9vZ+i8mZ0="


def good(**kw: object) -> PinSet:
    kw.setdefault("expires", NOW + timedelta(days=365))
    kw.setdefault("backup_pins", [fresh_pin()])
    return PinSet([fresh_pin()], **kw)  # type: ignore[arg-type]


def codes(policy: PinPolicy, **kw: object) -> list[tuple[str, str | None]]:
    return [(f.code, f.pattern) for f in lint_policy(policy, now=NOW, **kw)]  # type: ignore[arg-type]


def test_clean_policy_has_no_finding():
    assert lint_policy(PinPolicy({"api.example.com": good()}), now=NOW) == []


def test_public_suffix_wildcard_is_an_error():
    findings = lint_policy(PinPolicy({"*.github.io": good()}), now=NOW)
    assert [(f.level, f.code, f.pattern) for f in findings] == [
        (Level.ERROR, "public-suffix", "*.github.io")
    ]
    assert "github.io" in findings[0].message


def test_public_suffix_with_subdomains_is_an_error():
    assert codes(PinPolicy({"co.uk": good(include_subdomains=True)})) == [
        ("public-suffix", "co.uk")
    ]


def test_public_suffix_as_exact_host_is_a_warning():
    [f] = lint_policy(PinPolicy({"co.uk": good()}), now=NOW)
    assert (f.level, f.code) == (Level.WARN, "public-suffix-host")


def test_registrable_domains_are_not_public_suffixes():
    assert not is_public_suffix("example.co.uk")
    assert not is_public_suffix("mysite.github.io")
    assert is_public_suffix("github.io") and is_public_suffix("com")
    assert codes(PinPolicy({"*.example.co.uk": good()})) == []


def test_builtin_suffix_list_is_used_when_injected():
    policy = PinPolicy({"*.herokuapp.com": good(), "*.example.com": good()})
    found = codes(policy, public_suffix=BUILTIN_PUBLIC_SUFFIXES.__contains__)
    assert found == [("public-suffix", "*.herokuapp.com")]


def test_ip_pattern_is_never_a_public_suffix():
    assert codes(PinPolicy({"127.0.0.1": good()}), public_suffix=lambda d: True) == []


def test_single_pin_warns():
    single = PinSet([fresh_pin()], allow_single_pin=True, expires=NOW + timedelta(days=90))
    policy = PinPolicy({"a.example.com": single})
    found = lint_policy(policy, now=NOW)
    assert ("no-backup-pin", Level.WARN) in [(f.code, f.level) for f in found]
    assert "RFC 7469 section 4.3" in next(f.message for f in found if f.code == "no-backup-pin")


def test_certificate_pins_warn():
    pin_set = PinSet(
        [fresh_pin()],
        backup_pins=[Pin("cert", b"\x01" * 32)],
        expires=NOW + timedelta(days=90),
    )
    [f] = lint_policy(PinPolicy({"a.example.com": pin_set}), now=NOW)
    assert (f.level, f.code) == (Level.WARN, "certificate-pin")
    assert "renewal" in f.message


def test_expiry_boundaries():
    def at(expires: datetime) -> list[str]:
        return [c for c, _ in codes(PinPolicy({"a.example.com": good(expires=expires)}))]

    assert at(NOW + timedelta(days=30)) == ["pin-set-expiring"]
    assert at(NOW + timedelta(days=30, seconds=1)) == []
    assert at(NOW + timedelta(seconds=1)) == ["pin-set-expiring"]
    assert at(NOW) == ["pin-set-expired"]
    assert at(NOW - timedelta(days=400)) == ["pin-set-expired"]
    ten_days = PinPolicy({"a.example.com": good(expires=NOW + timedelta(days=10))})
    assert codes(ten_days, days=5) == []


def test_no_expiry_and_no_declared_backup_and_report_only_are_notes():
    pin_set = PinSet([fresh_pin(), fresh_pin()], enforce=False)
    found = lint_policy(PinPolicy({"a.example.com": pin_set}), now=NOW)
    assert {(f.code, f.level) for f in found} == {
        ("no-expiry", Level.INFO),
        ("no-declared-backup", Level.INFO),
        ("report-only", Level.INFO),
    }


@pytest.mark.parametrize(
    ("a", "a_sub", "b", "b_sub", "overlap"),
    [
        ("*.a.example", False, "x.a.example", False, True),
        ("*.a.example", False, "x.y.a.example", False, False),
        ("*.a.example", False, "a.example", False, False),
        ("a.example", True, "x.y.a.example", False, True),
        ("a.example", True, "*.x.a.example", False, True),
        ("a.example", True, "b.example", True, False),
        ("x.a.example", True, "*.a.example", False, True),
        ("a.example", False, "ba.example", False, False),
    ],
)
def test_overlapping_patterns(a, a_sub, b, b_sub, overlap):
    policy = PinPolicy({a: good(include_subdomains=a_sub), b: good(include_subdomains=b_sub)})
    found = [f for f in lint_policy(policy, now=NOW) if f.code == "overlapping-pattern"]
    assert bool(found) is overlap
    if overlap:
        assert found[0].level is Level.WARN
        assert a in found[0].message and b in found[0].message


def test_findings_sorted_by_level_and_json():
    policy = PinPolicy(
        {
            "a.example.com": PinSet([fresh_pin(), fresh_pin()], enforce=False, expires=NOW),
            "*.github.io": good(),
        }
    )
    found = lint_policy(policy, now=NOW)
    levels = [f.level for f in found]
    assert levels == sorted(levels, key=[Level.ERROR, Level.WARN, Level.INFO].index)
    assert found[0].to_json() == {
        "level": "error",
        "code": "public-suffix",
        "pattern": "*.github.io",
        "message": found[0].message,
    }


def test_bad_arguments():
    policy = PinPolicy({"a.example.com": good()})
    with pytest.raises(ValueError, match="days"):
        lint_policy(policy, days=-1)
    with pytest.raises(ValueError, match="aware"):
        lint_policy(policy, now=datetime(2030, 1, 1))


# The overlap rule, checked against the policy's own matcher on every host of a small universe.
_LABELS = ("a", "b")
_BASES = ("example", "a.example", "b.example", "a.a.example", "b.a.example")
_HOSTS = [
    ".".join((*parts, "example"))
    for depth in range(4)
    for parts in itertools.product(_LABELS, repeat=depth)
]
_pattern = st.tuples(st.sampled_from(_BASES), st.booleans(), st.booleans()).map(
    lambda t: (("*." + t[0]) if t[1] else t[0], t[2] and not t[1])
)


@given(_pattern, _pattern)
def test_overlap_agrees_with_policy_matching(a, b):
    (pa, sub_a), (pb, sub_b) = a, b
    assume(pa != pb)
    set_a, set_b = good(include_subdomains=sub_a), good(include_subdomains=sub_b)
    only_a, only_b = PinPolicy({pa: set_a}), PinPolicy({pb: set_b})
    common = [h for h in _HOSTS if only_a.match(h) and only_b.match(h)]
    found = [
        f for f in lint_policy(PinPolicy({pa: set_a, pb: set_b}), now=NOW)
        if f.code == "overlapping-pattern"
    ]
    assert bool(found) == bool(common), (pa, sub_a, pb, sub_b, common)


# ------------------------------------------------------ backup key held vs backup pin (issue 13)


def test_backup_key_written_by_backup_key_must_be_the_backup_pin(tmp_path, capsys):
    from certpin.backup import generate_backup_key
    from certpin.cli import main
    from certpin.config import dump_policy
    from certpin.rotation import read_backup_keys

    held = generate_backup_key(tmp_path, "api.example.com")
    right = PinPolicy({"api.example.com": good(backup_pins=[held.pin])})
    wrong = PinPolicy({"api.example.com": good()})  # a backup pin of some other key
    for source in (str(held.csr_path), str(held.key_path)):
        keys = read_backup_keys([source])
        assert lint_policy(right, now=NOW, backup_keys=keys) == []
        [f] = lint_policy(wrong, now=NOW, backup_keys=keys)
        assert (f.level, f.code, f.pattern) == (Level.WARN, "backup-key-not-pinned",
                                                "api.example.com")
        assert str(held.pin) in f.message and "lock users out" in f.message
    other_host = PinPolicy({"other.example.com": good()})
    [f] = lint_policy(other_host, now=NOW, backup_keys=read_backup_keys([str(held.csr_path)]))
    assert f.code == "backup-key-unmatched"
    path = tmp_path / "p.toml"
    dump_policy(wrong, path)
    assert main(["lint", str(path), "--backup-key", str(held.csr_path)]) == 1
    assert "backup-key-not-pinned" in capsys.readouterr().out


# --- overlap detection stays near-linear (issue 16: no input takes more than about a second) ---

_LINT_LABELS = st.sampled_from(["a", "b", "example", "com", "1", "2"])
_LINT_NAMES = st.lists(_LINT_LABELS, min_size=1, max_size=4).map(".".join)


@given(st.lists(st.tuples(st.one_of(_LINT_NAMES, _LINT_NAMES.map(lambda n: "*." + n)),
                          st.booleans()), min_size=1, max_size=10, unique_by=lambda t: t[0]))
def test_candidate_pairs_hold_every_overlapping_pair(specs: list[tuple[str, bool]]) -> None:
    from certpin.lint import _candidate_pairs, _overlap, _scope

    items = [(p, PinSet([K, K2], include_subdomains=sub)) for p, sub in specs]
    brute = [(i, j) for i in range(len(items)) for j in range(i + 1, len(items))
             if _overlap(_scope(*items[i]), _scope(*items[j]))]
    found = [(i, j) for i, j in _candidate_pairs(items)
             if _overlap(_scope(*items[i]), _scope(*items[j]))]
    assert found == brute


def test_thousands_of_patterns_are_not_compared_pairwise(monkeypatch: pytest.MonkeyPatch) -> None:
    from certpin import lint

    calls = []
    real = lint._overlap
    monkeypatch.setattr(lint, "_overlap", lambda a, b: calls.append(1) or real(a, b))
    sets = {f"h{i}.example.com": PinSet([K, K2], include_subdomains=True) for i in range(3000)}
    sets["example.com"] = PinSet([K, K2], include_subdomains=True)
    findings = lint_policy(PinPolicy(sets), now=NOW, public_suffix=lambda name: False)
    overlaps = [f for f in findings if f.code == "overlapping-pattern"]
    assert len(overlaps) == 3000  # each hN.example.com with example.com
    assert len(calls) <= 2 * 3000  # _overlap may call itself once; not 3001 * 3000 / 2


# ------------------------------------------------------------ regressions
# Moved here from the files that grouped them by who found them (red team, reviews).


# regression: lint_policy/check_policy leaked OverflowError for days past year 9999 (found by the
#   review of hostile input)
def test_library_days_past_year_9999_is_a_value_error() -> None:
    # lint_policy and check_policy documented ValueError for bad days but leaked
    # OverflowError from now + timedelta(days=days).
    from certpin import check_policy, lint_policy
    from certpin.policy import PinPolicy

    empty = PinPolicy({})
    for days in (10**7, 10**12):
        with pytest.raises(ValueError, match="days"):
            lint_policy(empty, days=days)
        with pytest.raises(ValueError, match="days"):
            check_policy(empty, days=days)
