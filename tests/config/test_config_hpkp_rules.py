"""HPKP import and export follow RFC 7469 (docs/rules/hpkp.md): published examples, forward
compatibility, max-age, quoted strings, stray slashes, and a round trip through the export."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
from hypothesis import given, seed, settings
from hypothesis import strategies as st

from certpin import Pin, PinPolicy, PinSet
from certpin.cli import main
from certpin.config import ExportError, from_hpkp, to_hpkp
from certpin.errors import ConfigError, PolicyError

FIX = Path(__file__).parent.parent / "fixtures" / "config" / "hpkp"

D6 = "d6qzRu9zOECb90Uez27xWltNsj0e1Md7GkYYkVoZWmM="
E9 = "E9CZ9INDbd+2eRQozYqqbQ2yXLVKB9+xcprMF+44U1g="
LP = "LPJNul+wow4m6DsqxbninhsWHlwfp0JecwQzYpOLmCQ="
CU = "cUPcTAZWKaASuYWhhneDttWpY3oBAkE3h2+soZS7sWs="
M8 = "M8HztCzM3elUxkcjR2S5P4hhyBNf6lHkmjAHKhpGPWE="


def b64s(ps: PinSet) -> list[str]:
    return [p.base64 for p in ps.all_pins]


def one(value: str, *, report_only: bool = False,
        warnings: list[str] | None = None) -> PinSet:
    return from_hpkp(value, "example.com", report_only=report_only,
                     warnings=warnings).pin_sets["example.com"]


# --- published examples, with the outcome their source gives ----------------------------------

@pytest.mark.parametrize(("name", "pins", "enforce", "subdomains", "uris"), [
    ("rfc7469-2.1.5-a.txt", [D6, E9], True, False, ()),
    ("rfc7469-2.1.5-b.txt", [E9, LP], True, False, ()),
    ("rfc7469-2.1.5-c.txt", [E9, LP], True, False, ("http://example.com/pkp-report",)),
    ("rfc7469-2.1.5-d.txt", [E9, LP], False, False, ("https://other.example.net/pkp-report",)),
    ("rfc7469-2.1.5-e.txt", [D6, LP], True, False, ()),
    ("rfc7469-2.1.5-f.txt", [D6, E9, LP], True, True, ()),
    ("mdn-public-key-pins.txt", [CU, M8], True, True, ("https://www.example.org/hpkp-report",)),
    # no max-age: Public-Key-Pins-Report-Only does not need one (RFC 7469 section 2.1.2)
    ("mdn-report-only.txt", [CU, M8], False, True, ("https://www.example.org/hpkp-report",)),
])
def test_published_examples_import_as_their_source_says(
        name: str, pins: list[str], enforce: bool, subdomains: bool, uris: tuple[str, ...]
) -> None:
    warnings: list[str] = []
    ps = one((FIX / name).read_text(), warnings=warnings)
    assert b64s(ps) == pins
    assert ps.enforce is enforce
    assert ps.include_subdomains is subdomains
    assert ps.report_uris == uris
    assert warnings == []


# Chromium's parser tests (youtube/cobalt net/http/http_security_headers_unittest.cc, commit
# 1b32683da5174ded0ae5e8bc3779be5867c70c7e, TestValidPKPHeaders and TestBogusPinsHeaders;
# BSD-3-Clause, The Chromium Authors): a pin there is 32 bytes all equal to a label.
GOOD = base64.b64encode(bytes([2]) * 32).decode()
BACKUP = base64.b64encode(bytes([4]) * 32).decode()
G, B = f'pin-sha256="{GOOD}"', f'pin-sha256="{BACKUP}"'


@pytest.mark.parametrize(("value", "subdomains", "uris", "warned"), [
    (f"max-age=243; {G};{B}", False, (), []),
    (f'   {G}; {B}  ; Max-agE    = 567; repOrT-URi = "http://example.test/foo"', False,
     ("http://example.test/foo",), []),
    (f"includeSubDOMAINS;{G};{B}  ; mAx-aGe    = 890      ", True, (), []),
    (f"{G};{B}; max-age=123;IGNORED;", False, (), ["unknown directive 'IGNORED'"]),
    (f"max-age=39408038  ;    cybers=39408038  ;  includeSubdomains; {G};{B};   ", True, (),
     ["is read as 5184000 (60 days)", "unknown directive 'cybers'"]),
    (f"  max-age=999999999999999999999999999999999999999999999  ;  {B};{G};   ", False, (),
     ["is read as 5184000 (60 days)"]),
    (f'max-age=999; {B}; {G}; report-uri="http://foo.com/?;bar"', False,
     ("http://foo.com/?;bar",), []),
])
def test_chromium_valid_headers_import(value: str, subdomains: bool, uris: tuple[str, ...],
                                       warned: list[str]) -> None:
    warnings: list[str] = []
    ps = one(value, warnings=warnings)
    assert set(b64s(ps)) == {GOOD, BACKUP}
    assert ps.include_subdomains is subdomains and ps.report_uris == uris
    assert len(warnings) == len(warned)
    for w, part in zip(warnings, warned, strict=True):
        assert part in w


@pytest.mark.parametrize(("value", "match"), [
    (f"max-age=243; pin-sha256={GOOD};{B}", "needs a quoted value"),
    (f"max-age=243; {G};{B};report-uri=;", "report-uri needs a quoted"),
    (f"max-age=243; {G};{B};report-uri=http://foo.com;", "report-uri needs a quoted"),
    (f"max-age=243; {G};{B};report-uri=''", "report-uri needs a quoted"),
    (f"max-age=999; {B}; {G}; report-uri=\"http://foo;bar'", "cannot parse"),
    ("max-age=3488923;", "no pin-sha256"),
    (f"max-age=-3488923; {G};{B}", "number of seconds"),
    (f"max-age=34889.23; {G};{B}", "number of seconds"),
    (f"max-age=3488923     e; {G};{B}", "cannot parse"),
    # Chromium read single quotes as quotes; RFC 7230 section 3.2.6 does not: refused
    (f"max-age='999'; {B}; {G}", "number of seconds"),
])
def test_chromium_bogus_headers_are_refused(value: str, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        one(value)


# --- item 13: forward compatibility, report-only, max-age ---------------------------------------

def test_unknown_directives_are_ignored_with_a_warning() -> None:
    warnings: list[str] = []
    ps = one(f'{G}; {B}; max-age=10; preload; x-future="a;b"; x-future=1; pin-sha512="AAAA"',
             warnings=warnings)
    assert set(b64s(ps)) == {GOOD, BACKUP}
    assert [w.split(": ", 1)[1].split(" ", 3)[:3] for w in warnings] == [
        ["unknown", "directive", "'preload'"], ["unknown", "directive", "'x-future'"],
        ["unknown", "directive", "'x-future'"], ["pin-sha512", "ignored:", "certpin"]]
    with pytest.raises(ConfigError, match="neither a token nor a quoted string"):
        one(f"{G}; {B}; max-age=10; x-future=a/b")


def test_only_http_white_space_separates_directives() -> None:
    # folded over lines, as RFC 7469 prints its examples: read
    assert set(b64s(one(f"{G};\n\t{B};\r\n max-age=1"))) == {GOOD, BACKUP}
    # a no-break space is not white space in HTTP (RFC 7230 section 3.2.3): a browser would
    # not read this header
    with pytest.raises(ConfigError, match="cannot parse"):
        one(f"{G};\u00a0{B}; max-age=1")


def test_report_only_needs_no_max_age_but_public_key_pins_does() -> None:
    ro = one(f"{G}; {B}", report_only=True)
    assert ro.enforce is False
    assert one(f"Public-Key-Pins-Report-Only: {G}; {B}").enforce is False
    # max-age=0 only means something to a pinned host (RFC 7469 section 2.3.1)
    assert one(f"{G}; {B}; max-age=0", report_only=True).enforce is False
    with pytest.raises(ConfigError, match=r"missing max-age .*section 2\.1\.2"):
        one(f"Public-Key-Pins: {G}; {B}")
    with pytest.raises(ConfigError, match="forget the pins"):
        one(f"{G}; {B}; max-age=0")


@pytest.mark.parametrize(("max_age", "warned"), [
    ("5184000", False), ("5184001", True), ("00000000000000000000000000000000010", False),
    ("9" * 5000, True),
])
def test_a_large_max_age_is_capped_not_refused(max_age: str, warned: bool) -> None:
    warnings: list[str] = []
    ps = one(f"{G}; {B}; max-age={max_age}", warnings=warnings)
    assert ps.enforce is True
    assert bool(warnings) is warned
    if warned:
        assert "read as 5184000 (60 days)" in warnings[0] and "section" in warnings[0]


def test_repeated_directives_other_than_pins_are_refused() -> None:
    for directive in ("max-age=5", "includeSubDomains", 'report-uri="https://r.test/"'):
        with pytest.raises(ConfigError, match="repeated"):
            one(f"{G}; {B}; max-age=1; includeSubDomains; report-uri=\"https://r.test/\"; "
                f"{directive}")


def test_a_pin_listed_twice_is_imported_once_with_a_warning() -> None:
    warnings: list[str] = []
    ps = one(f"{G}; {B}; {G}; max-age=1", warnings=warnings)
    assert b64s(ps) == [GOOD, BACKUP]
    assert "listed twice" in warnings[0]
    with pytest.raises(ConfigError, match="only one pin"):
        one(f"{G}; {G}; max-age=1")


# --- item 8: a stray leading "/" is not the right pin ------------------------------------------

@pytest.mark.parametrize(("pin", "why"), [
    (f"/{GOOD}", "starts with '/'"),
    (f"//{GOOD}", "46 characters"),
    (GOOD[:-1], "43 characters"),
    (GOOD.replace("=", "A"), "not standard padded base64"),
    ("*" + GOOD[1:], "not standard padded base64"),
    (GOOD[:42] + "D=", "not the canonical base64"),  # "A" carries no extra bits, "D" does
    (f"sha256/{GOOD}", "51 characters"),
])
def test_a_pin_that_is_not_44_canonical_characters_is_refused(pin: str, why: str) -> None:
    with pytest.raises(ConfigError, match=f"is not the base64 of a SHA-256 digest: it (is )?{why}"):
        one(f'pin-sha256="{pin}"; {B}; max-age=1')


# --- quoted strings: escapes read and written -------------------------------------------------

def test_quoted_pairs_in_report_uri_are_read_and_written() -> None:
    uri = 'https://r.test/a"b\\c'
    ps = one(f'{G}; {B}; max-age=1; report-uri="https://r.test/a\\"b\\\\c"')
    assert ps.report_uris == (uri,)
    policy = PinPolicy({"example.com": PinSet([GOOD_PIN, BACKUP_PIN], report_uris=[uri])})
    text = to_hpkp(policy).text
    assert text.endswith('report-uri="https://r.test/a\\"b\\\\c"\n')
    assert from_hpkp(text, "example.com") == policy
    # a quoted-pair in a pin stands for the character itself (RFC 7230 section 3.2.6)
    assert b64s(one(f'pin-sha256="\\{GOOD}"; {B}; max-age=1')) == [GOOD, BACKUP]


GOOD_PIN, BACKUP_PIN = Pin("spki", bytes([2]) * 32), Pin("spki", bytes([4]) * 32)

_URI_TAIL = st.text(
    alphabet=st.sampled_from([chr(c) for c in range(0x21, 0x7F)] + ['"', "\\", ";", "="]),
    max_size=30)


@seed(7469)
@settings(max_examples=200, deadline=None, derandomize=True)
@given(
    digests=st.lists(st.binary(min_size=32, max_size=32), min_size=2, max_size=6, unique=True),
    tail=_URI_TAIL,
    with_uri=st.booleans(),
    include=st.booleans(),
    enforce=st.booleans(),
)
def test_export_then_import_round_trips(digests: list[bytes], tail: str, with_uri: bool,
                                        include: bool, enforce: bool) -> None:
    uris = [f"https://reports.test/{tail}"] if with_uri else []
    policy = PinPolicy({"example.com": PinSet([Pin("spki", d) for d in digests],
                                              include_subdomains=include, enforce=enforce,
                                              report_uris=uris)})
    text = to_hpkp(policy).text
    assert text.strip()
    assert from_hpkp(text, "example.com", report_only=not enforce) == policy


# --- export: max-age, report URIs, never nothing ------------------------------------------------

@pytest.mark.parametrize("max_age", [0, -1, True, 2**31 + 1, 1.5, "60"])
def test_export_refuses_a_max_age_out_of_range(max_age: object) -> None:
    policy = PinPolicy({"example.com": PinSet([GOOD_PIN, BACKUP_PIN])})
    with pytest.raises(PolicyError, match="max_age must be a whole number of seconds"):
        to_hpkp(policy, max_age=max_age)  # type: ignore[arg-type]


def test_export_notes_a_max_age_browsers_cap() -> None:
    policy = PinPolicy({"example.com": PinSet([GOOD_PIN, BACKUP_PIN])})
    result = to_hpkp(policy, max_age=2**31)
    assert "max-age=2147483648" in result.text
    assert any("60 days at most" in n for n in result.notes)
    assert not any("60 days" in n for n in to_hpkp(policy).notes)


def test_export_of_a_non_ascii_report_uri_is_lossy() -> None:
    policy = PinPolicy({"example.com": PinSet([GOOD_PIN, BACKUP_PIN],
                                              report_uris=["https://exämple.test/r"])})
    with pytest.raises(ExportError, match="not ASCII"):
        to_hpkp(policy)
    result = to_hpkp(policy, lossy=True)
    assert "report-uri" not in result.text and "not ASCII" in result.dropped[0]


def test_cli_export_never_prints_nothing_with_exit_0(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    empty = tmp_path / "empty.toml"
    empty.write_text("version = 1\n")
    for fmt in ("hpkp", "curl"):
        code = main(["export", str(empty), "--format", fmt])
        out, err = capsys.readouterr()
        assert (code, out) == (2, "")
        assert "patterns: none" in err


def test_cli_import_prints_the_warnings(tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    src = tmp_path / "h.txt"
    src.write_text(f"Public-Key-Pins: {G}; {B}; max-age=99999999; preload\n")
    code = main(["import", str(src), "--from", "hpkp", "--host", "example.com"])
    out, err = capsys.readouterr()
    assert code == 0 and GOOD in out
    assert err.count("certpin import: warning: ") == 2
    assert "unknown directive 'preload' ignored" in err and "read as 5184000" in err
