"""certpin's SPKI pins against openssl's, for every key type and encoding (issue 11).

The rule: the pin of a key, CSR or certificate file is the pin of the SubjectPublicKeyInfo that a
certificate for that key carries, byte for byte, or a clear error; never a different pin.

All the material is made by the ``openssl`` CLI, in one shell script run once for the module
(key generation in parallel): RSA, RSA-PSS (with and without parameters), P-256/384/521 (PKCS#8,
and SEC1 with its ``EC PARAMETERS`` block), EC with explicit curve parameters, EC with a
compressed point, DSA, Ed25519, Ed448, X25519, X448; each as a private key (PEM as generated,
PKCS#8 DER, the traditional format where there is one), a public key (PEM, DER; PKCS#1 for RSA),
a certificate (PEM, DER; self-signed, or issued by an Ed25519 CA with ``-force_pubkey`` for the
X25519/X448 keys, which cannot sign) and a CSR (PEM, DER; keys that can sign). The oracle is
openssl's pipeline for each file (``openssl pkey [-pubin] -pubout -outform der``, ``openssl x509
-pubkey -noout``, ``openssl req -pubkey -noout``, each written to a file), then ``openssl dgst
-sha256`` of all of them in one process; the test only turns the hex digests into base64.
certpin is asked through :func:`certpin.spki_pin` and through
``certpin pins FILE... --format json`` (one process for every file).

openssl keeps an RSA-PSS key's parameters, explicit curve parameters and a compressed point in
the certificates it makes; cryptography does not write them back, so certpin refuses every file
whose pin cryptography's re-encoding would get wrong (only files of those key types), and pins
every other file exactly as openssl does.
"""

from __future__ import annotations

import base64
import hashlib
import json
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from certpin import CertificateError, spki_pin

pytestmark = pytest.mark.skipif(
    shutil.which("openssl") is None,
    reason="the openssl CLI is not installed: the differential test against openssl cannot run",
)

#: key type -> the openssl command line writing ``key.pem`` (run in the type's folder).
KEYGEN = {
    "rsa": "openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out key.pem",
    "rsa-pss": "openssl genpkey -algorithm RSA-PSS -pkeyopt rsa_keygen_bits:1024 -out key.pem",
    "rsa-pss-params": (
        "openssl genpkey -algorithm RSA-PSS -pkeyopt rsa_keygen_bits:1024 "
        "-pkeyopt rsa_pss_keygen_md:sha256 -pkeyopt rsa_pss_keygen_mgf1_md:sha256 "
        "-pkeyopt rsa_pss_keygen_saltlen:32 -out key.pem"
    ),
    "p256": "openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out key.pem",
    "p384": "openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-384 -out key.pem",
    "p521": "openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-521 -out key.pem",
    # SEC1 "EC PRIVATE KEY" after an "EC PARAMETERS" block, as `openssl ecparam -genkey` writes
    "p256-sec1": "openssl ecparam -name prime256v1 -genkey -out key.pem",
    "ec-explicit": (
        "openssl ecparam -name prime256v1 -genkey -noout -param_enc explicit -out key.pem"
    ),
    "ec-compressed": (
        "openssl ecparam -name prime256v1 -genkey -noout -out named.pem && "
        "openssl ec -in named.pem -conv_form compressed -out key.pem 2>/dev/null"
    ),
    "dsa": (
        "openssl genpkey -genparam -algorithm DSA -pkeyopt dsa_paramgen_bits:2048 "
        "-out params.pem && openssl genpkey -paramfile params.pem -out key.pem"
    ),
    "ed25519": "openssl genpkey -algorithm ED25519 -out key.pem",
    "ed448": "openssl genpkey -algorithm ED448 -out key.pem",
    "x25519": "openssl genpkey -algorithm X25519 -out key.pem",
    "x448": "openssl genpkey -algorithm X448 -out key.pem",
}

#: Key types whose SubjectPublicKeyInfo cryptography does not write back byte for byte.
REFUSED = {"rsa-pss", "rsa-pss-params", "ec-explicit", "ec-compressed"}
#: Key types that cannot sign: no self-signed certificate, no CSR.
NO_SIGNING = {"x25519", "x448"}
#: Key types with a traditional (pre-PKCS#8) private key format.
TRADITIONAL = {"rsa", "p256", "p384", "p521", "p256-sec1", "ec-explicit", "ec-compressed", "dsa"}


@dataclass(frozen=True)
class Material:
    key_type: str
    path: Path
    kind: str  # "private", "public", "cert", "csr"
    openssl_pin: str


def _files(key_type: str) -> list[tuple[str, str, str]]:
    """(file, kind, openssl commands that write it) for one key type, in its folder."""
    out = [
        ("key.pem", "private", ""),
        ("key.der", "private", "openssl pkey -in key.pem -outform der -out key.der"),
        ("pub.pem", "public", "openssl pkey -in key.pem -pubout -out pub.pem"),
        ("pub.der", "public", "openssl pkey -in key.pem -pubout -outform der -out pub.der"),
    ]
    if key_type in TRADITIONAL:
        out.append(("key-traditional.pem", "private",
                    "openssl pkey -in key.pem -traditional -out key-traditional.pem"))
    if key_type == "rsa":
        out.append(("pub-pkcs1.pem", "public",
                    "openssl rsa -in key.pem -RSAPublicKey_out -out pub-pkcs1.pem 2>/dev/null"))
    if key_type in NO_SIGNING:
        make_cert = ("openssl x509 -req -in ../ca/csr.pem -force_pubkey pub.pem -CA ../ca/cert.pem "
                     "-CAkey ../ca/key.pem -days 2 -out cert.pem 2>/dev/null")
    else:
        make_cert = (f"openssl req -new -x509 -key key.pem -subj /CN={key_type}.test -days 2 "
                     "-out cert.pem")
        out += [
            ("csr.pem", "csr", f"openssl req -new -key key.pem -subj /CN={key_type}.test "
                               "-out csr.pem"),
            ("csr.der", "csr", "openssl req -in csr.pem -outform der -out csr.der"),
        ]
    out += [
        ("cert.pem", "cert", make_cert),
        ("cert.der", "cert", "openssl x509 -in cert.pem -outform der -out cert.der"),
    ]
    return out


def _oracle(name: str, kind: str) -> str:
    """openssl's pipeline writing the DER SubjectPublicKeyInfo of one file to ``name.spki``."""
    der = "-inform der " if name.endswith(".der") else ""
    return {
        "private": f"openssl pkey {der}-in {name} -pubout -outform der -out {name}.spki",
        "public": f"openssl pkey -pubin {der}-in {name} -outform der -out {name}.spki",
        "cert": f"openssl x509 {der}-in {name} -pubkey -noout | "
                f"openssl pkey -pubin -outform der -out {name}.spki",
        "csr": f"openssl req {der}-in {name} -pubkey -noout | "
               f"openssl pkey -pubin -outform der -out {name}.spki",
    }[kind]


def _script() -> str:
    """One shell script: a block per key type, all in parallel (key, encodings, their SPKIs),
    then ``openssl dgst -sha256`` of every SPKI in one process."""
    lines = ["set -eu", "mkdir ca", "(cd ca && openssl genpkey -algorithm ED25519 -out key.pem "
             "&& openssl req -new -x509 -key key.pem -subj /CN=ca -days 2 -out cert.pem "
             "&& openssl req -new -key key.pem -subj /CN=x -out csr.pem)"]
    waits = []
    for number, (key_type, command) in enumerate(KEYGEN.items()):
        block = [command]
        for name, kind, make in _files(key_type):
            block += [make] if make else []
            block += [_oracle(name, kind), f"echo {key_type} {name} {kind}"]
        lines += [f"mkdir {key_type}",
                  f"(set -e; cd {key_type}; {'; '.join(block)}) >{key_type}.txt 2>{key_type}.err &",
                  f"pid{number}=$!"]
        waits.append(f"wait $pid{number} || {{ cat {key_type}.err >&2; exit 1; }}")
    lines += waits
    lines.append(f"cat {' '.join(f'{t}.txt' for t in KEYGEN)} > manifest.txt")
    lines.append("openssl dgst -sha256 -r */*.spki > digests.txt")
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="module")
def materials(tmp_path_factory: pytest.TempPathFactory) -> list[Material]:
    root = tmp_path_factory.mktemp("openssl-material")
    proc = subprocess.run(["sh", "-c", _script()], cwd=root, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr
    digests = {}
    for line in (root / "digests.txt").read_text().splitlines():
        hex_digest, name = line.split(" *", 1)
        digests[name.removesuffix(".spki")] = base64.b64encode(bytes.fromhex(hex_digest)).decode()
    out = []
    for line in (root / "manifest.txt").read_text().splitlines():
        key_type, name, kind = line.split(" ")
        out.append(Material(key_type, root / key_type / name, kind, digests[f"{key_type}/{name}"]))
    return out


@pytest.fixture(scope="module")
def cli_json(materials: list[Material]) -> dict[str, dict[str, object]]:
    """``certpin pins --format json`` over every file, in one process: target -> result."""
    proc = subprocess.run(
        [sys.executable, "-m", "certpin", "pins", "--format", "json",
         *(str(m.path) for m in materials)],
        capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 1, proc.stderr  # the refused key files are failed targets
    assert "Traceback" not in proc.stderr
    results = json.loads(proc.stdout)
    assert len(results) == len(materials)
    return {r["target"]: r for r in results}


def of_type(materials: list[Material], key_type: str) -> list[Material]:
    found = [m for m in materials if m.key_type == key_type]
    assert found, key_type
    return found


def reencoded_pin(m: Material) -> str:
    """The pin of cryptography's re-encoding of the file's key: what certpin must refuse to
    give when it differs from openssl's."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    from certpin.certload import load_key_source

    source = load_key_source(m.path.read_bytes())
    key = source.public_key() if not hasattr(source, "public_bytes") or isinstance(
        source, x509.Certificate | x509.CertificateSigningRequest) else source
    der = key.public_bytes(  # type: ignore[union-attr]
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return base64.b64encode(hashlib.sha256(der).digest()).decode()


#: Files whose encoding openssl itself changes from the key it was made from: ``openssl pkey
#: -traditional`` writes a compressed EC point uncompressed (so a certificate made from that file
#: carries the uncompressed point, and its pin is an ordinary one).
OPENSSL_REENCODES = {("ec-compressed", "key-traditional.pem")}


def test_openssl_made_every_file(materials: list[Material]) -> None:
    expected = sum(len(_files(t)) for t in KEYGEN)
    assert len(materials) == expected
    for m in materials:
        assert len(m.openssl_pin) == 44 and m.openssl_pin.endswith("="), m


@pytest.mark.parametrize("key_type", list(KEYGEN))
def test_openssl_keeps_a_keys_encoding_in_its_certificate(
    key_type: str, materials: list[Material],
) -> None:
    """The oracle itself: every file made from key.pem carries the certificate's SPKI."""
    files = of_type(materials, key_type)
    (cert,) = [m for m in files if m.path.name == "cert.pem"]
    for m in files:
        changed = (key_type, m.path.name) in OPENSSL_REENCODES
        assert (m.openssl_pin != cert.openssl_pin) == changed, m


@pytest.mark.parametrize("key_type", list(KEYGEN))
def test_spki_pin_equals_openssl_or_refuses(key_type: str, materials: list[Material]) -> None:
    for m in of_type(materials, key_type):
        data = m.path.read_bytes()
        if reencoded_pin(m) == m.openssl_pin:
            assert spki_pin(data).base64 == m.openssl_pin, m
            continue
        assert key_type in REFUSED, m  # only the odd encodings differ
        with pytest.raises(CertificateError) as info:
            spki_pin(data)
        message = str(info.value)
        assert "byte for byte" in message and "cert-sha256" in message, (m, message)
        assert message.isprintable(), message


@pytest.mark.parametrize("key_type", sorted(REFUSED))
def test_every_file_with_an_odd_encoding_is_refused(
    key_type: str, materials: list[Material],
) -> None:
    for m in of_type(materials, key_type):
        if (key_type, m.path.name) in OPENSSL_REENCODES:
            assert spki_pin(m.path.read_bytes()).base64 == m.openssl_pin
            continue
        assert reencoded_pin(m) != m.openssl_pin, m
        with pytest.raises(CertificateError, match="byte for byte"):
            spki_pin(m.path.read_bytes())


@pytest.mark.parametrize("key_type", list(KEYGEN))
def test_the_cli_json_equals_openssl_or_refuses(
    key_type: str, materials: list[Material], cli_json: dict[str, dict[str, object]],
) -> None:
    for m in of_type(materials, key_type):
        result = cli_json[str(m.path)]
        certs = result["certificates"]
        assert isinstance(certs, list)
        if reencoded_pin(m) == m.openssl_pin:
            assert "error" not in result, (m, result)
            (info,) = certs
            assert info["spki_pin"] == f"sha256/{m.openssl_pin}", m
            # `openssl req -x509` marks its self-signed certificates CA:TRUE; the X25519/X448
            # ones, issued with `openssl x509 -req`, have no basicConstraints: leaves
            role = ("leaf" if key_type in NO_SIGNING else "ca") if m.kind == "cert" else None
            assert info["role"] == role, m
        elif m.kind == "cert":  # the certificate is described, with its certificate pin
            (info,) = certs
            assert info["spki_pin"] is None and "byte for byte" in info["spki_error"], m
            assert info["cert_pin"].startswith("cert-sha256/")
        else:  # a key file or CSR: a failed target with one clear error
            assert certs == [] and "byte for byte" in str(result["error"]), (m, result)


@pytest.mark.parametrize("key_type", sorted(set(KEYGEN) - REFUSED))
def test_a_key_files_pin_is_its_certificates_pin(key_type: str, materials: list[Material]) -> None:
    files = of_type(materials, key_type)
    (cert,) = [m for m in files if m.path.name == "cert.der"]
    expected = spki_pin(cert.path.read_bytes())
    assert expected.base64 == cert.openssl_pin
    for m in files:
        assert spki_pin(m.path.read_bytes()) == expected, m
