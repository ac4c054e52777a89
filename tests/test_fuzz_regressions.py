"""The fuzz targets (``fuzz/targets.py``) on their corpus and on Hypothesis-mutated seeds.

Every file of ``fuzz/corpus/<target>/`` must run through its target with only documented
exceptions; ``regress-*`` files are crashes fuzzing found (issue 16), kept as regression inputs.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from certpin import ConfigError

FUZZ = Path(__file__).resolve().parent.parent / "fuzz"


def _load_targets() -> ModuleType:
    spec = importlib.util.spec_from_file_location("certpin_fuzz_targets", FUZZ / "targets.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


targets = _load_targets()

def _corpus() -> list[tuple[str, Path]]:
    return [(t, p) for t in sorted(targets.TARGETS)
            for p in sorted((FUZZ / "corpus" / t).iterdir())]


def _param(target: str, path: Path) -> object:
    return pytest.param(target, path, id=f"{target}/{path.name}")


def test_every_target_has_a_seed_corpus() -> None:
    sizes = {t: len(list((FUZZ / "corpus" / t).iterdir())) for t in targets.TARGETS}
    assert sorted(sizes) == ["android", "certificates", "curl", "hosts", "hpkp", "ios",
                             "okhttp", "pins", "policy_json", "policy_toml", "trustkit"]
    assert all(n >= 1 for n in sizes.values()), sizes
    total = sum(p.stat().st_size for _, p in _corpus())
    assert total < 400_000  # the corpus stays small in the repository


@pytest.mark.parametrize(("target", "path"), [_param(t, p) for t, p in _corpus()])
def test_corpus_input_raises_only_documented_errors(target: str, path: Path) -> None:
    targets.TARGETS[target](path.read_bytes())


def test_regression_inputs_exist_for_what_fuzzing_found() -> None:
    names = {(t, p.name) for t, p in _corpus() if p.name.startswith("regress-")}
    assert ("hosts", "regress-port-over-4300-digits") in names
    assert ("hosts", "regress-port-superscript-digit") in names
    assert ("hosts", "regress-idna-broken-xn-label") in names
    assert ("trustkit", "regress-report-uri-with-spaces") in names


_SEEDS = [(t, p.read_bytes()) for t, p in _corpus()
          if p.stat().st_size < 20_000]
_SPLICE = st.one_of(
    st.binary(max_size=32),
    st.sampled_from([b"<array>" * 70, b"[" * 2000, b"9" * 4400, b'encoding="utf-7"',
                     b"\xed\xa0\x80", b"\x00", b"\xef\xbd\x98\xef\xbd\x8e--", b":\xc2\xb2"]),
)


@settings(max_examples=300, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(st.sampled_from(_SEEDS), st.integers(min_value=0), st.integers(min_value=0, max_value=64),
       _SPLICE)
def test_mutated_seeds_raise_only_documented_errors(
    seed: tuple[str, bytes], at: int, cut: int, insert: bytes
) -> None:
    target, data = seed
    pos = at % (len(data) + 1)
    mutated = data[:pos] + insert + data[pos + cut :]
    try:
        targets.TARGETS[target](mutated)
    except targets.KNOWN.get(target, ()):
        pass


def test_scale_inputs_are_accepted_near_the_size_cap() -> None:
    from certpin.config import (
        MAX_INPUT_BYTES,
        from_android,
        from_curl,
        from_hpkp,
        from_ios,
        from_okhttp,
        from_trustkit,
        loads_policy,
    )

    inputs = targets.scale_inputs()
    assert sorted(inputs) == sorted(targets.TARGETS)
    assert all(MAX_INPUT_BYTES - 2048 < len(d) <= MAX_INPUT_BYTES for d in inputs.values())
    # valid documents of thousands of entries, so the run's scale pass measures real work
    sizes = {
        "policy_toml": len(loads_policy(inputs["policy_toml"], "toml").pin_sets),
        "policy_json": len(loads_policy(inputs["policy_json"], "json").pin_sets),
        "android": len(from_android(inputs["android"]).pin_sets),
        "trustkit": len(from_trustkit(inputs["trustkit"]).pin_sets),
        "okhttp": len(from_okhttp(inputs["okhttp"]).pin_sets),
        "ios": len(from_ios(inputs["ios"]).pin_sets),
    }
    assert all(n > 3000 for n in sizes.values()), sizes
    # one host with ~20,000 distinct pins: refused (PinSet checks duplicates pairwise)
    with pytest.raises(ConfigError, match=r"^\d{5} pins in one pin set; certpin reads at most 64"):
        from_hpkp(inputs["hpkp"], "a.example")
    with pytest.raises(ConfigError, match=r"^\d{5} pins in one pin set; certpin reads at most 64"):
        from_curl(inputs["curl"], "a.example")
