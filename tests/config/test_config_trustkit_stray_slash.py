"""A TrustKit hash with a stray leading '/' is refused: TrustKit decodes each hash with
``-[NSData initWithBase64EncodedString:options:0]`` (strict), gets nil for the 45 characters and
throws at start-up (datatheorem/TrustKit TrustKit/parse_configuration.m lines 194-201)."""

from __future__ import annotations

import pytest

from certpin import ConfigError
from certpin.config import from_trustkit

B64 = "gXQJloeiZiH04s3XzAOz2s7bP7liJVsar9Azyr6DFTA="
B64_2 = "sQJTdkyLIz+zdULiNAHHtFDlpvl1HztaAU9vZ+i8mZ0="


def _plist(first: str) -> bytes:
    return (
        '<?xml version="1.0"?><plist version="1.0"><dict><key>TSKConfiguration</key><dict>'
        "<key>TSKPinnedDomains</key><dict><key>example.com</key><dict>"
        f"<key>TSKPublicKeyHashes</key><array><string>{first}</string>"
        f"<string>{B64_2}</string></array></dict></dict></dict></dict></plist>"
    ).encode()


@pytest.mark.parametrize("first", ["/" + B64, "sha256/" + B64, "SHA256/" + B64,
                                   B64[:-1], B64 + "="])
def test_hash_that_trustkit_cannot_decode_is_refused(first: str) -> None:
    with pytest.raises(ConfigError) as info:
        from_trustkit(_plist(first))
    text = str(info.value)
    assert "TSKPublicKeyHashes[0]" in text
    assert f"'{first}' is not the base64 of a SHA-256 digest" in text
    assert "parse_configuration.m lines 194-201" in text


def test_the_hash_itself_is_read() -> None:
    policy = from_trustkit(_plist(B64))
    assert [str(p) for p in policy.pin_sets["example.com"].pins] == ["sha256/" + B64,
                                                                    "sha256/" + B64_2]
