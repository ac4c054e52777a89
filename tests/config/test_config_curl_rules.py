"""The curl importer reads ``--pinnedpubkey`` as every curl version reads it, or refuses saying
what curl does (docs/rules/curl.md); the export is read alike by every version. The model
(``curl_hashes``) is held against the real curl in test_config_curl_differential.py."""

from __future__ import annotations

import base64
import re

import pytest
from hypothesis import given, seed, settings
from hypothesis import strategies as st

from certpin import Pin, PinPolicy, PinSet
from certpin.config import ExportError, export_policy, from_curl, to_curl
from certpin.config.curl import CURL_SPLIT_CHANGED, curl_hashes, curl_reading_error
from certpin.errors import ConfigError

A = "gXQJloeiZiH04s3XzAOz2s7bP7liJVsar9Azyr6DFTA="
B = "sQJTdkyLIz+zdULiNAHHtFDlpvl1HztaAU9vZ+i8mZ0="
OLD = (7, 88, 1)


def imported(text: str, warnings: list[str] | None = None) -> list[str]:
    return [p.base64 for p in from_curl(text, "a.test", warnings=warnings).pin_sets["a.test"].pins]


@pytest.mark.parametrize(("text", "pins"), [
    (f"sha256//{A}", [A]),
    (f"sha256//{A};sha256//{B}", [A, B]),
    (f"sha256//{A};sha256//{B}\n", [A, B]),          # the file's line break, not the value's
    (f"sha256//{A};sha256//{B}\r\n", [A, B]),
    (f"'sha256//{A};sha256//{B}'", [A, B]),
    (f'"sha256//{A}"', [A]),
    (f"--pinnedpubkey 'sha256//{A};sha256//{B}'\n", [A, B]),
    (f"--pinnedpubkey sha256//{A}", [A]),
])
def test_values_every_curl_reads_alike_are_imported(text: str, pins: list[str]) -> None:
    assert imported(text) == pins


def test_a_pin_listed_twice_is_imported_once_with_a_warning() -> None:
    warnings: list[str] = []
    assert imported(f"sha256//{A};sha256//{B};sha256//{A}", warnings) == [A, B]
    assert warnings == [f"a.test: pin sha256//{A} is listed twice; imported once"]
    policy = from_curl(f"sha256//{A};sha256//{A}", "a.test")
    assert policy.pin_sets["a.test"].allow_single_pin is True


@pytest.mark.parametrize(("text", "says"), [
    # item 10: curl < 8.18 splits only at ";sha256//"; 8.18+ stops at the first bad entry
    (f"sha256//{A}; sha256//{B}", ["splits pins only at the exact text ';sha256//'",
                                   f"ignore ' sha256//{B[:20]}", "remove the white space"]),
    (f"sha256//{A};", ["ends with ';'", "never matches", "remove the trailing ';'"]),
    (f"sha256//{A};sha256//{B};", ["ends with ';'"]),
    (f"sha256//{A};;sha256//{B}", ["';' at character 53 is not followed by 'sha256//'"]),
    (f"sha256//{A};/etc/key.pem", ["ignore '/etc/key.pem'"]),
    # item 8: a stray "/" never matches in curl
    (f"sha256///{A}", ["pin 1", "starts with '/'", "every connection fails with exit 90"]),
    (f"sha256//{A};sha256///{B}", ["pin 2", "accept only the keys of the other pins"]),
    # read as a key file name
    (f"SHA256//{A}", ["name of a public key file", "must be lower case", "exit 90"]),
    (f" sha256//{A}", ["name of a public key file", "white space before 'sha256//'"]),
    (f"sha256/{A}", ["name of a public key file", "two slashes"]),
    (f'pin-sha256="{A}"', ["name of a public key file", "two slashes"]),
    ("/etc/ssl/pinned.pem", ["name of a public key file", "certpin pins FILE"]),
    # entries that can never equal curl's base64
    (f"sha256//{A} ", ["holds white space"]),
    (f"sha256//{A}\nsha256//{B}", ["holds white space"]),
    (f"sha256//{A[:-1]}", ["43 characters"]),
    (f"sha256//{A}=", ["45 characters"]),
    (f"sha256//{B.replace('+', '-').replace('/', '_')}", ["not standard padded base64"]),
    (f"sha256//{A[:42]}B=", ["not the canonical base64"]),
    (f"sha256//{A.lower()}", ["not the canonical base64"]),
    (f"sha256//{A};sha256//", ["pin 2", "it is empty"]),
    ("", ["empty"]),
    ("\n", ["empty"]),
    # what the shell would change before curl sees it
    (f"--pinnedpubkey=sha256//{A}", ["no --pinnedpubkey=VALUE form"]),
    (f"--pinnedpubkey sha256//{A};sha256//{B}", ["the shell would split"]),
    (f"'sha256//{A}'x'", ["quoting inside the quotes"]),
    (f'"sha256//{A}$X"', ["quoting inside the quotes"]),
])
def test_values_curl_reads_otherwise_are_refused_saying_what_curl_does(
        text: str, says: list[str]) -> None:
    with pytest.raises(ConfigError) as info:
        from_curl(text, "a.test", source="pins.txt")
    message = str(info.value)
    assert message.startswith("pins.txt: ")
    assert "\n" not in message
    for part in says:
        assert part in message


def test_the_model_reads_as_each_curl_version() -> None:
    value = f"sha256//{B};;sha256//{A}"
    assert curl_hashes(value, OLD) == (B + ";", A)             # 7.88.1: A still matches
    assert curl_hashes(value) == (B, )                         # 8.18.0+: stops at ";;"
    assert curl_hashes(f"sha256//{A}; sha256//{B}", OLD) == (f"{A}; sha256//{B}",)
    assert curl_hashes(f"sha256//{A}; sha256//{B}", CURL_SPLIT_CHANGED) == (A,)
    assert curl_hashes(f"sha256//{A};", OLD) == (A + ";",)
    assert curl_hashes(f"sha256//{A};", (8, 21, 0)) == (A,)
    assert curl_hashes(f"SHA256//{A}", OLD) is None
    assert curl_hashes("", (8, 21, 0)) is None


_PIECES = st.sampled_from([
    "sha256//", "sha256//", ";", ";", " ", "/", "SHA256//", A, A, B, B, A[:-1], "=", "\n", "x",
])


def canonical(entry: str) -> bool:
    return bool(re.fullmatch(r"[A-Za-z0-9+/]{43}=", entry)) and base64.b64encode(
        base64.b64decode(entry)).decode() == entry


@seed(90)
@settings(max_examples=400, deadline=None, derandomize=True)
@given(st.lists(_PIECES, max_size=8).map("".join))
def test_an_import_is_what_every_curl_version_reads(value: str) -> None:
    """Accepted: old and new curl read exactly the imported pins, and each can match.
    Refused: they read different entries, or an entry can never match, or a file name."""
    arg = value.removesuffix("\n")  # one final line break belongs to the file
    old, new = curl_hashes(arg, OLD), curl_hashes(arg)
    try:
        pins = imported(value)
    except ConfigError:
        assert new is None or old != new or not all(canonical(e) for e in new), value
        return
    assert old == new and new is not None and all(canonical(e) for e in new)
    assert list(dict.fromkeys(new)) == pins


# --- export ---------------------------------------------------------------------------------

@seed(18)
@settings(max_examples=100, deadline=None, derandomize=True)
@given(st.lists(st.binary(min_size=32, max_size=32), min_size=1, max_size=6, unique=True))
def test_the_export_is_read_alike_by_every_curl_and_imports_back(digests: list[bytes]) -> None:
    pins = [Pin("spki", d) for d in digests]
    policy = PinPolicy({"a.test": PinSet(pins, allow_single_pin=len(pins) < 2,
                                         roles=dict.fromkeys(pins, "leaf"))})
    text = to_curl(policy).text
    assert text.endswith("\n") and text.strip()
    value = text[:-1]
    assert curl_reading_error(value) is None
    assert curl_hashes(value, OLD) == curl_hashes(value) == tuple(p.base64 for p in pins)
    assert from_curl(text, "a.test") == policy


def test_imported_pins_have_the_role_leaf() -> None:
    ps = from_curl(f"sha256//{A};sha256//{B}", "a.test").pin_sets["a.test"]
    assert dict(ps.roles) == {Pin("spki", base64.b64decode(A)): "leaf",
                              Pin("spki", base64.b64decode(B)): "leaf"}


def test_export_by_role() -> None:
    a, b = f"sha256/{A}", f"sha256/{B}"
    leaf = export_policy(PinPolicy({"a.test": PinSet([a, b], roles={a: "leaf", b: "leaf"})}),
                         "curl")
    assert leaf.text == f"sha256//{A};sha256//{B}\n"
    assert leaf.notes == [] and leaf.dropped == []
    unroled = export_policy(PinPolicy({"a.test": PinSet([a, b], roles={a: "leaf"})}), "curl")
    assert unroled.text == leaf.text
    assert "pins of intermediate or root CAs never match in curl" in unroled.notes[0]
    for lossy in (False, True):
        with pytest.raises(ExportError, match=f"pins with role 'ca' \\(sha256/{re.escape(B)}\\)"):
            export_policy(PinPolicy({"a.test": PinSet([a, b], roles={b: "ca"})}), "curl",
                          lossy=lossy)
