"""Issue 11, item 2's sibling: an export or import that pins no host at all is an error, in
every format, even with ``lossy`` (machine-readable output never comes empty with exit 0)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from certpin.cli import main
from certpin.config import (
    EXPORT_FORMATS,
    ExportError,
    dump_policy,
    export_policy,
    import_policy,
)
from certpin.errors import ConfigError
from certpin.pins import parse_pin
from certpin.policy import PinPolicy, PinSet

K1 = parse_pin("sha256/gXQJloeiZiH04s3XzAOz2s7bP7liJVsar9Azyr6DFTA=")
K2 = parse_pin("sha256/sQJTdkyLIz+zdULiNAHHtFDlpvl1HztaAU9vZ+i8mZ0=")
C1 = parse_pin("cert-sha256/lEnH86k88MVaZ13fHINzLYfVYlXnCxUNnm88+GO7f8E=")

TAIL = "every pin set was dropped, so nothing would be left to export"
EMPTY = "the policy has no pin set, so there is nothing to export"

#: per format, a policy whose every pin set that format drops (lossy) or cannot hold
DROPPED_ALL: dict[str, PinPolicy] = {
    "android": PinPolicy({"a.example.com": PinSet([K1, K2], enforce=False),
                          "*.example.org": PinSet([K1, K2])}),
    "okhttp": PinPolicy({"a.example.com": PinSet([K1, K2], enforce=False)}),
    "trustkit": PinPolicy({"a.example.com": PinSet([C1, K1])}),
    "trustkit-swift": PinPolicy({"127.0.0.1": PinSet([K1, K2])}),
    # swift-delegate can hold every pin set certpin can build (PinSet refuses '*.' with
    # include_subdomains): only a policy with no pin set pins nothing
    "swift-delegate": PinPolicy({}),
    "ios": PinPolicy({"a.example.com": PinSet([C1, K1])}),
    "hpkp": PinPolicy({"a.example.com": PinSet([C1, K1])}),
    "curl": PinPolicy({"a.example.com": PinSet([K1, K2], enforce=False)}),
}


def test_every_format_has_a_case() -> None:
    assert sorted(DROPPED_ALL) == sorted(EXPORT_FORMATS)


@pytest.mark.parametrize("lossy", [False, True])
@pytest.mark.parametrize("fmt", EXPORT_FORMATS)
def test_export_that_pins_nothing_is_refused(fmt: str, lossy: bool) -> None:
    with pytest.raises(ExportError) as info:
        export_policy(DROPPED_ALL[fmt], fmt, lossy=lossy)
    exc = info.value
    assert exc.lossy_helps is False
    tail = EMPTY if not DROPPED_ALL[fmt].pin_sets else TAIL
    assert exc.problems[-1].startswith(tail), exc.problems
    assert str(exc).endswith("(refused even with --lossy / lossy=True)")
    assert str(exc).startswith(f"{fmt} cannot express this policy exactly: ")
    # the reasons name every host that was dropped
    for pattern in DROPPED_ALL[fmt].pin_sets:
        assert any(p.startswith(f"{pattern}: ") for p in exc.problems[:-1]), exc.problems


@pytest.mark.parametrize("fmt", [f for f in EXPORT_FORMATS if f not in ("hpkp", "curl")])
def test_export_of_a_policy_with_no_pin_set_is_refused(fmt: str) -> None:
    with pytest.raises(ExportError) as info:
        export_policy(PinPolicy({}), fmt, lossy=True)
    assert info.value.problems == [EMPTY] or info.value.problems[-1].startswith(EMPTY)


def test_one_set_left_is_an_export() -> None:
    policy = PinPolicy({"a.example.com": PinSet([K1, K2], enforce=False),
                        "b.example.com": PinSet([K1, K2])})
    result = export_policy(policy, "android", lossy=True)
    assert result.pinned == ["b.example.com"]
    assert "b.example.com" in result.text and "a.example.com" not in result.text


@pytest.mark.parametrize("fmt", ["android", "okhttp", "swift-delegate", "ios"])
def test_cli_export_exits_2_and_writes_nothing(fmt: str, tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "policy.toml"
    dump_policy(DROPPED_ALL[fmt], path)
    assert main(["export", str(path), "--format", fmt, "--lossy"]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert (TAIL if fmt != "swift-delegate" else EMPTY) in err and err.count("\n") == 1


def test_import_of_android_config_that_pins_nothing_is_refused() -> None:
    doc = (b'<?xml version="1.0"?><network-security-config><domain-config>'
           b"<domain>a.example.com</domain></domain-config></network-security-config>")
    with pytest.raises(ConfigError) as info:
        import_policy(doc, "android", source="nsc.xml")
    text = str(info.value)
    assert text.startswith("nsc.xml: the android input pins no host, so there is nothing "
                           "to import")
    assert "domain 'a.example.com' has no pins" in text


def test_cli_import_that_pins_nothing_exits_2(tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    src = tmp_path / "nsc.xml"
    src.write_bytes(b"<network-security-config></network-security-config>")
    out_file = tmp_path / "p.toml"
    assert main(["import", str(src), "--from", "android", "-o", str(out_file)]) == 2
    _, err = capsys.readouterr()
    assert "pins no host" in err and not out_file.exists()


def test_expired_set_still_counts_as_pinned() -> None:
    """A set that the format holds (with its expiry) is pinned: not this rule's business."""
    policy = PinPolicy({"a.example.com": PinSet([K1, K2],
                                                expires=datetime(2030, 1, 1, tzinfo=UTC))})
    assert export_policy(policy, "android").pinned == ["a.example.com"]
