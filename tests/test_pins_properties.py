"""Property tests (hypothesis) of the pin parser and the certificate loader."""

from __future__ import annotations

import base64

from hypothesis import example, given, settings
from hypothesis import strategies as st

from certpin import CertificateError, Pin, PinFormatError, load_certificates, parse_pin, spki_pin

digests = st.binary(min_size=32, max_size=32)
#: digests whose base64 starts with "/" (first six bits all ones): canonical pins that look like
#: curl's "sha256//" prefix
slash_digests = st.builds(lambda first, rest: bytes([first]) + rest,
                          st.integers(0xFC, 0xFF), st.binary(min_size=31, max_size=31))
kinds = st.sampled_from(["spki", "cert"])


@given(kinds, digests | slash_digests)
@example("spki", b"\xff" * 32)
@example("spki", b"\xfc" + b"\x00" * 31)
def test_str_round_trips(kind: str, digest: bytes) -> None:
    pin = Pin(kind, digest)  # type: ignore[arg-type]
    assert parse_pin(str(pin)) == pin
    assert parse_pin(f"  {pin}\n") == pin
    assert parse_pin(pin.hex) == Pin("cert", digest)  # a hex fingerprint is a certificate pin
    assert parse_pin(pin.hex.lower().replace(":", "")) == Pin("cert", digest)


@given(digests | slash_digests)
def test_curl_and_hpkp_forms_parse_to_the_spki_pin(digest: bytes) -> None:
    b64 = base64.b64encode(digest).decode()
    pin = Pin("spki", digest)
    assert parse_pin(f"sha256//{b64}") == pin
    assert parse_pin(f'pin-sha256="{b64}"') == pin
    assert parse_pin(pin.hpkp) == pin
    if b64.startswith("/"):
        # the canonical text "sha256//..." of this pin is 44 characters after "sha256/"
        assert str(pin).startswith("sha256//")
        assert parse_pin(str(pin)) == pin


@given(st.text(max_size=200))
@settings(max_examples=500)
@example("sha256/")
@example("sha256//")
@example("sha1/" + "A" * 28)
@example('pin-sha256="')
@example("cert-sha256/" + "A" * 43 + "B")  # non-zero padding bits
def test_random_text_raises_only_pin_format_error(text: str) -> None:
    try:
        pin = parse_pin(text)
    except PinFormatError as exc:
        assert str(exc)
    else:
        assert isinstance(pin, Pin) and len(pin.digest) == 32


@given(st.binary(max_size=2000))
@settings(max_examples=300)
@example(b"")
@example(b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")
@example(b"-----BEGIN CERTIFICATE-----\n")
@example(b"0\x82\x01\x00")
@example(b"\x30\x80\x06\x09\x2a\x86\x48\x86\xf7\x0d\x01\x07\x02\xa0\x80")
def test_random_bytes_raise_only_certificate_error(data: bytes) -> None:
    try:
        certs = load_certificates(data)
    except CertificateError as exc:
        assert str(exc)
    else:  # pragma: no cover - random bytes that happen to be a certificate
        assert certs
    try:
        spki_pin(data)
    except CertificateError as exc:
        assert str(exc)


@given(st.binary(max_size=300), st.sampled_from(["CERTIFICATE", "PKCS7", "X509 CERTIFICATE",
                                                  "PUBLIC KEY", "PRIVATE KEY",
                                                  "CERTIFICATE REQUEST"]))
def test_random_pem_bodies_raise_only_certificate_error(body: bytes, label: str) -> None:
    data = (f"-----BEGIN {label}-----\n".encode() + base64.encodebytes(body)
            + f"-----END {label}-----\n".encode())
    for function in (load_certificates, spki_pin):
        try:
            function(data)  # type: ignore[operator]
        except CertificateError as exc:
            assert str(exc)
