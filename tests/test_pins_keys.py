"""Every key type: the SPKI pin from every source, a live handshake, openssl and curl agree."""

from __future__ import annotations

import base64
import hashlib
import subprocess
from collections.abc import Iterator

import pytest
from cryptography.hazmat.primitives import serialization

import certpin
from certpin import CertificateError, Pin, fetch_chain, spki_pin
from support.obtain_certs import (
    KEY_TYPES,
    Leaf,
    TestPKI,
    der,
    key_pem,
    openssl_pin,
    pem,
)
from support.servers import RecordingTLSServer

#: Python's ssl cannot negotiate DSA: TLS 1.3 has no DSA signature scheme and the default cipher
#: string of TLS 1.2 has no DHE-DSS suites.
NOT_NEGOTIABLE = {
    "dsa2048": "DSA cannot be negotiated by Python's ssl (no DSA in TLS 1.3, no DHE-DSS suites "
    "in its default TLS 1.2 ciphers); test_dsa_cannot_be_negotiated_and_says_so shows it"
}


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> TestPKI:
    return TestPKI(str(tmp_path_factory.mktemp("pki")))


@pytest.fixture(scope="module")
def leaves(pki: TestPKI) -> dict[str, Leaf]:
    return {kind: pki.leaf(kind) for kind in KEY_TYPES}


@pytest.fixture()
def live(request: pytest.FixtureRequest, pki: TestPKI, leaves: dict[str, Leaf]) -> Iterator[
    tuple[Leaf, RecordingTLSServer]
]:
    kind = request.param
    if kind in NOT_NEGOTIABLE:
        pytest.skip(NOT_NEGOTIABLE[kind])
    leaf = leaves[kind]
    with RecordingTLSServer(leaf.server_context(pki.directory, kind)) as srv:
        yield leaf, srv


def _expected(leaf: Leaf) -> Pin:
    spki = leaf.key.public_key().public_bytes(  # type: ignore[union-attr]
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return Pin("spki", hashlib.sha256(spki).digest())


@pytest.mark.parametrize("kind", KEY_TYPES)
def test_pin_is_equal_from_every_source_and_to_openssl(kind: str, leaves: dict[str, Leaf]) -> None:
    leaf = leaves[kind]
    expected = _expected(leaf)
    public_pem = leaf.key.public_key().public_bytes(  # type: ignore[union-attr]
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    public_der = leaf.key.public_key().public_bytes(  # type: ignore[union-attr]
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    sources = {
        "certificate object": leaf.cert,
        "certificate PEM": pem(leaf.cert),
        "certificate DER": der(leaf.cert),
        "public key PEM": public_pem,
        "public key DER": public_der,
        "public key object": leaf.key.public_key(),
        "private key PEM": key_pem(leaf.key),
        "private key object": leaf.key,
    }
    for name, source in sources.items():
        assert spki_pin(source) == expected, name  # type: ignore[arg-type]
    assert spki_pin(pem(leaf.cert)).base64 == openssl_pin(pem(leaf.cert))
    # the pin names this key: another leaf's pin differs
    assert spki_pin(leaves["ec384" if kind == "ec256" else "ec256"].cert) != expected


@pytest.mark.parametrize("kind", KEY_TYPES)
def test_cert_pin_equals_openssl_fingerprint(kind: str, leaves: dict[str, Leaf]) -> None:
    leaf = leaves[kind]
    out = subprocess.run(
        ["openssl", "x509", "-noout", "-fingerprint", "-sha256"],
        input=pem(leaf.cert), capture_output=True, check=True,
    ).stdout.decode()
    fingerprint = out.strip().split("=", 1)[1]
    assert certpin.cert_pin(leaf.cert).hex == fingerprint
    assert certpin.cert_pin(der(leaf.cert)) == certpin.parse_pin(fingerprint)


@pytest.mark.parametrize("live", KEY_TYPES, indirect=True)
def test_live_handshake_gives_the_same_pin(
    live: tuple[Leaf, RecordingTLSServer], pki: TestPKI
) -> None:
    leaf, srv = live
    chain = fetch_chain("127.0.0.1", srv.port, cafile=pki.ca_file, timeout=10)
    assert chain.verify_error is None
    assert chain.verified is not None
    assert spki_pin(chain.verified[0]) == _expected(leaf)
    assert spki_pin(chain.served[0]) == _expected(leaf)
    assert chain.verified[-1] == pki.root
    srv.stop()
    assert srv.received == b""


def test_dsa_cannot_be_negotiated_and_says_so(pki: TestPKI, leaves: dict[str, Leaf]) -> None:
    """Why DSA is skipped above: the handshake fails, as a ProbeError naming host and port."""
    context = leaves["dsa2048"].server_context(pki.directory, "dsa")
    with RecordingTLSServer(context) as srv:
        expected = f"127.0.0.1:{srv.port}: TLS handshake failed"
        with pytest.raises(certpin.ProbeError, match=expected):
            fetch_chain("127.0.0.1", srv.port, cafile=pki.ca_file, timeout=10)


def _curl(port: int, ca_file: str, pin_b64: str) -> int:
    return subprocess.run(
        [
            "curl", "--silent", "--show-error", "--max-time", "20", "--noproxy", "*",
            "--cacert", ca_file,
            "--pinnedpubkey", f"sha256//{pin_b64}",
            "--resolve", f"pinned.test:{port}:127.0.0.1",
            f"https://pinned.test:{port}/",
        ],
        capture_output=True,
    ).returncode


@pytest.mark.parametrize("live", KEY_TYPES, indirect=True)
def test_curl_accepts_our_pin_and_rejects_another(
    live: tuple[Leaf, RecordingTLSServer], pki: TestPKI
) -> None:
    leaf, srv = live
    ours = spki_pin(pem(leaf.cert)).base64
    other = base64.b64encode(hashlib.sha256(b"another key").digest()).decode()
    assert _curl(srv.port, pki.ca_file, ours) == 0
    assert _curl(srv.port, pki.ca_file, other) == 90  # CURLE_SSL_PINNEDPUBKEYNOTMATCH


def test_private_key_encrypted_is_a_clear_error(leaves: dict[str, Leaf]) -> None:
    encrypted = leaves["ec256"].key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"secret"),
    )
    with pytest.raises(CertificateError, match="encrypted"):
        spki_pin(encrypted)


@pytest.mark.parametrize("kind", [k for k in KEY_TYPES if k not in NOT_NEGOTIABLE])
def test_live_handshake_with_openssl_s_server(
    kind: str, pki: TestPKI, leaves: dict[str, Leaf], tmp_path
) -> None:  # type: ignore[no-untyped-def]
    """An independent TLS server (openssl s_server) sending leaf + intermediate."""
    import socket
    import time

    leaf = leaves[kind]
    cert_file = tmp_path / "leaf.pem"
    cert_file.write_bytes(pem(leaf.cert))
    chain_file = tmp_path / "chain.pem"
    chain_file.write_bytes(pem(pki.intermediate))
    key_file = tmp_path / "key.pem"
    key_file.write_bytes(key_pem(leaf.key))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(
        ["openssl", "s_server", "-quiet", "-www", "-accept", f"127.0.0.1:{port}",
         "-cert", str(cert_file), "-key", str(key_file), "-cert_chain", str(chain_file)],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    pytest.fail(f"openssl s_server did not start: {proc.stderr.read()!r}")  # type: ignore[union-attr]
                time.sleep(0.05)
        chain = fetch_chain("127.0.0.1", port, cafile=pki.ca_file, timeout=10)
    finally:
        proc.terminate()
        proc.wait(10)
        proc.stderr.close()  # type: ignore[union-attr]
    assert chain.verified is not None
    assert [spki_pin(c) for c in chain.verified] == [
        _expected(leaf), spki_pin(pki.intermediate), spki_pin(pki.root)
    ]
    assert [spki_pin(c) for c in chain.served] == [_expected(leaf), spki_pin(pki.intermediate)]


# --- private keys are read for their public half only (issue 16 item 8) ------------------------

def _inconsistent_rsa_key_pem(bits: int) -> tuple[bytes, Pin]:
    """An RSA private key whose n = p*q but p, q are not primes: only the public half is sound."""
    import secrets

    from cryptography.hazmat.primitives.asymmetric import rsa

    half = bits // 2
    top = 3 << (half - 2)  # the two top bits set: p * q has exactly `bits` bits
    p = secrets.randbits(half) | 1 | top
    q = secrets.randbits(half) | 1 | top
    assert (p * q).bit_length() == bits
    public = rsa.RSAPublicNumbers(65537, p * q)
    key = rsa.RSAPrivateNumbers(p, q, 3, 5, 7, 11, public).private_key(
        unsafe_skip_rsa_key_validation=True
    )
    spki = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return pem, Pin("spki", hashlib.sha256(spki).digest())


@pytest.mark.parametrize("encoding", ["pem", "der"])
def test_private_key_with_an_inconsistent_private_half_gives_its_public_pin(
    encoding: str,
) -> None:
    pem, expected = _inconsistent_rsa_key_pem(2048)
    # cryptography's own checks refuse this key: the pin never looks at the private half.
    with pytest.raises(ValueError):
        serialization.load_pem_private_key(pem, password=None)
    data = pem if encoding == "pem" else serialization.load_pem_private_key(
        pem, password=None, unsafe_skip_rsa_key_validation=True
    ).private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                    serialization.NoEncryption())
    assert spki_pin(data) == expected


def test_private_key_loading_skips_rsa_validation(monkeypatch: pytest.MonkeyPatch) -> None:
    from certpin import pins

    seen: list[object] = []
    real = serialization.load_pem_private_key

    def spy(data: bytes, password: object, **kwargs: object) -> object:
        seen.append(kwargs.get("unsafe_skip_rsa_key_validation"))
        return real(data, password, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(pins.serialization, "load_pem_private_key", spy)
    pem, expected = _inconsistent_rsa_key_pem(1024)
    assert spki_pin(pem) == expected
    assert seen == [True]


def test_rsa_private_key_over_the_cap_is_refused_without_checking_it() -> None:
    from certpin.pins import MAX_RSA_PRIVATE_KEY_BITS

    pem, _ = _inconsistent_rsa_key_pem(40_000)
    with pytest.raises(CertificateError) as info:
        spki_pin(pem)
    assert str(info.value) == (
        f"the RSA private key has a 40000-bit modulus; certpin reads RSA keys of at most "
        f"{MAX_RSA_PRIVATE_KEY_BITS} bits (OpenSSL's limit for a usable key)"
    )
    at_cap, expected = _inconsistent_rsa_key_pem(MAX_RSA_PRIVATE_KEY_BITS)
    assert spki_pin(at_cap) == expected
