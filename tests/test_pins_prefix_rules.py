"""Issue 11, item 3 of the siblings review: which prefixes :func:`certpin.parse_pin` (policy
files, some importers) takes, and that a stray ``/`` never becomes a pin."""

from __future__ import annotations

import pytest

from certpin import PinFormatError, parse_pin

B64 = "gXQJloeiZiH04s3XzAOz2s7bP7liJVsar9Azyr6DFTA="
CANON = "sha256/" + B64


@pytest.mark.parametrize("text", [
    "sha256/" + B64, "SHA256/" + B64, "Sha256/" + B64,  # certpin's own prefix: any case
    "sha256//" + B64,  # curl's notation, exactly as curl spells it (vtls.c:454)
    'pin-sha256="' + B64 + '"', 'PIN-SHA256="' + B64 + '"',  # RFC 7469 2.1: any case
])
def test_accepted_notations_mean_the_same_pin(text: str) -> None:
    assert str(parse_pin(text)) == CANON


@pytest.mark.parametrize("text", [
    "SHA256//" + B64, "Sha256//" + B64,  # curl compares "sha256//" with strncmp: no match
    "sha256///" + B64,  # two stray slashes
    "sha256//" + B64[:-1],  # curl's prefix on a digest that is not 32 bytes
    "cert-sha256//" + B64,  # curl has no certificate pins: the '/' is stray
])
def test_stray_slash_or_curl_prefix_in_another_case_is_refused(text: str) -> None:
    with pytest.raises(PinFormatError) as info:
        parse_pin(text)
    assert "invalid pin '" in str(info.value)


def test_upper_case_curl_prefix_says_why() -> None:
    with pytest.raises(PinFormatError, match=r"curl's prefix is 'sha256//' in lower case"):
        parse_pin("SHA256//" + B64)
