"""The iOS importer and exporter at the input size cap (found by the ``ios`` fuzz target's
scale pass: Apple's applied arrays walked every entry for every host, so a 1 MiB Info.plist of
~3,000 domains took 5 s to import and 5 s to export, and the target 46 s)."""

from __future__ import annotations

import importlib.util
import plistlib
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

from certpin.config import export_policy, from_ios
from certpin.config.ios_ats import AtsDomain, applied, entries_by_name
from certpin.pins import parse_pin

K1 = parse_pin("sha256/gXQJloeiZiH04s3XzAOz2s7bP7liJVsar9Azyr6DFTA=")
K2 = parse_pin("sha256/sQJTdkyLIz+zdULiNAHHtFDlpvl1HztaAU9vZ+i8mZ0=")


class _Recording(Mapping[str, Sequence[AtsDomain]]):
    """An index that records the names looked up and refuses to be walked."""

    def __init__(self, index: dict[str, list[AtsDomain]]) -> None:
        self.index = index
        self.asked: list[str] = []

    def __getitem__(self, key: str) -> Sequence[AtsDomain]:
        self.asked.append(key)
        return self.index[key]

    def __iter__(self) -> Iterator[str]:
        raise AssertionError("applied walked every entry")

    def __len__(self) -> int:
        raise AssertionError("applied walked every entry")


def test_applied_looks_up_the_host_and_its_parent_only() -> None:
    domains = [AtsDomain("a.test", True, (K1,), None), AtsDomain("x.a.test", False, (K2,), None),
               *(AtsDomain(f"h{i}.test", True, (K1,), None) for i in range(100))]
    index = _Recording(entries_by_name(domains))
    got = applied(index, "X.A.test.")
    assert (got.leaf, got.ca, got.sources) == ((K2, K1), None, ("x.a.test", "a.test"))
    assert index.asked == ["x.a.test", "a.test"]


def test_entries_by_name_keeps_the_order_of_entries_of_one_name() -> None:
    one, two = AtsDomain("a.test", False, (K1,), None), AtsDomain("a.test", True, None, (K2,))
    assert entries_by_name([one, two]) == {"a.test": [one, two]}
    assert applied(entries_by_name([one, two]), "b.a.test").ca == (K2,)


def _scale_input() -> bytes:
    path = Path(__file__).resolve().parent.parent.parent / "fuzz" / "targets.py"
    spec = importlib.util.spec_from_file_location("certpin_fuzz_targets_scale", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    data: bytes = module.scale_inputs()["ios"]
    return data


def test_a_plist_at_the_size_cap_imports_and_exports_back() -> None:
    data = _scale_input()
    policy = from_ios(data)
    domains = plistlib.loads(data)["NSAppTransportSecurity"]["NSPinnedDomains"]
    assert len(policy.pin_sets) == 2 * len(domains) > 6000  # each domain and its *. pattern
    out = plistlib.loads(export_policy(policy, "ios").text.encode())
    assert out["NSAppTransportSecurity"]["NSPinnedDomains"] == domains
