"""Adversarial review 11b: exports that the platform reads differently from what certpin
enforces, written with exit 0 (each test fails on main as of d2daa15).

1. ``trustkit-swift`` writes a non-ASCII report URI as ``"\\u00e4"`` (``json.dumps``), which
   is not a Swift escape: Swift's lexer wants ``\\u{...}`` and stops the build with "expected
   hexadecimal code in braces after unicode escape" (swiftlang/swift ``lib/Parse/Lexer.cpp``,
   ``Lexer::lexCharacter``, ``case 'u'``: ``if (*CurPtr != '{')`` ->
   ``diag::lex_unicode_escape_braces``). The same URI in the ``trustkit`` plist is one that
   ``[NSURL URLWithString:]`` returns nil for (apps linked before iOS 17; TrustKit supports
   iOS 12, ``TrustKit.podspec`` line 11), and TrustKit then throws at start-up
   (datatheorem/TrustKit ``TrustKit/parse_configuration.m`` lines 174-181).
2. ``export --host P`` for a multi-host format writes only ``P``'s pin set. When ``P`` has
   include_subdomains and the policy holds a more specific pattern under it, the platform then
   applies ``P``'s pins to that subdomain, while :func:`certpin.check` on the same policy
   applies the subdomain's own pins: TrustKit (``TrustKit/configuration_utils.m`` lines 61-88)
   and Android (aosp-mirror/platform_frameworks_base
   ``core/java/android/security/net/config/ApplicationConfig.java``,
   ``getConfigForHostname``: exact domain, else the longest includeSubdomains domain) both
   pin ``api.example.com`` with ``example.com``'s pins, so the real ``api.example.com``
   server is locked out. No error, no note, exit 0.
"""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from certpin import PinPolicy, PinSet
from certpin.cli import main
from certpin.config import ExportError, dump_policy, export_policy

tree_sitter = pytest.importorskip("tree_sitter")
tree_sitter_swift = pytest.importorskip("tree_sitter_swift")


def _pin(i: int) -> str:
    return "sha256/" + base64.b64encode(bytes([i]) * 32).decode()


def _swift_has_error(source: str) -> bool:
    parser = tree_sitter.Parser(tree_sitter.Language(tree_sitter_swift.language()))
    return bool(parser.parse(source.encode()).root_node.has_error)


def test_trustkit_swift_non_ascii_report_uri_is_valid_swift_or_refused() -> None:
    """Swift has no ``\\uXXXX`` escape (only ``\\u{X}``): the literal json.dumps writes does
    not compile (Lexer.cpp lexCharacter, diag::lex_unicode_escape_braces)."""
    policy = PinPolicy({"example.com": PinSet(
        [_pin(1), _pin(2)], report_uris=["https://report.example.com/caf\u00e9"])})
    try:
        result = export_policy(policy, "trustkit-swift")
    except ExportError:
        return  # refusing is fine
    assert not _swift_has_error(result.text), (
        "trustkit-swift export is not valid Swift (\\u00e9 needs braces):\n" + result.text)


def test_trustkit_plist_report_uri_nsurl_refuses_is_not_written() -> None:
    """``[NSURL URLWithString:]`` returns nil for characters not allowed in a URL (before
    iOS 17 linkage), and TrustKit throws at start-up (parse_configuration.m lines 174-181):
    the export must refuse the URI or percent-encode it, not write it as is."""
    uri = "https://report.example.com/caf\u00e9|{x}"
    policy = PinPolicy({"example.com": PinSet([_pin(1), _pin(2)], report_uris=[uri])})
    try:
        result = export_policy(policy, "trustkit")
    except ExportError:
        return
    assert uri not in result.text


def _nested() -> PinPolicy:
    return PinPolicy({
        "example.com": PinSet([_pin(1), _pin(2)], include_subdomains=True),
        "api.example.com": PinSet([_pin(3), _pin(4)]),
    })


@pytest.mark.parametrize("fmt", ["trustkit", "trustkit-swift", "android", "swift-delegate"])
def test_host_export_of_parent_does_not_repin_nested_pattern(fmt: str) -> None:
    """certpin.check gives api.example.com its own pins; the --host example.com export makes
    the platform apply example.com's pins to it (TrustKit configuration_utils.m 61-88: the
    includeSubdomains parent is the only candidate). Exit 0 with no note: a silent lock-out."""
    policy = _nested()
    # what certpin enforces for api.example.com: its own pin set (pins 3 and 4)
    matched = policy.match("api.example.com")
    assert matched is not None and matched[0] == "api.example.com"
    try:
        result = export_policy(policy, fmt, host="example.com")
    except ExportError:
        return  # refusing (naming api.example.com) is fine
    text = result.text + "\n".join(result.notes) + "\n".join(result.dropped)
    assert "api.example.com" in text, (
        f"{fmt} --host example.com pins api.example.com with example.com's pins "
        "(certpin enforces api.example.com's own pins) and says nothing")


def test_host_export_cli_exit_code(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The same through the CLI: exit 0 and a TrustKit file that locks api.example.com out."""
    src = tmp_path / "p.toml"
    dump_policy(_nested(), src)
    code = main(["export", str(src), "--format", "trustkit", "--host", "example.com"])
    captured = capsys.readouterr()
    assert code != 0 or "api.example.com" in captured.err, (
        "export --host example.com wrote a TrustKit config that enforces example.com's pins "
        "on api.example.com, exit 0, nothing on stderr")
