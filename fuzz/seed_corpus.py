"""Rebuild the seed corpus under ``fuzz/corpus/<target>/`` from real files.

Sources: certifi's root bundle (MPL-2.0), ``cryptography-vectors`` (Apache-2.0 / BSD), the
project's test fixtures (``tests/fixtures``), and small hand-written samples. Files named
``regress-*`` are regression inputs (crashes found by fuzzing) and are never removed.

Usage: ``python fuzz/seed_corpus.py`` (needs the ``test`` extra: certifi, cryptography-vectors).
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil

import certifi
import cryptography_vectors

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
CORPUS = os.path.join(HERE, "corpus")
VECTORS = os.path.dirname(cryptography_vectors.__file__)
FIXTURES = os.path.join(ROOT, "tests", "fixtures")

K1 = "gXQJloeiZiH04s3XzAOz2s7bP7liJVsar9Azyr6DFTA="
K2 = "sQJTdkyLIz+zdULiNAHHtFDlpvl1HztaAU9vZ+i8mZ0="

#: cryptography-vectors files (relative to the package): certificates, CSRs, keys, PKCS#7.
VECTOR_FILES = [
    "x509/custom/invalid_utf8_common_name.pem",
    "x509/custom/two_basic_constraints.pem",
    "x509/custom/all_supported_names.pem",
    "x509/custom/san_dirname.pem",
    "x509/custom/rsa_pss_cert.pem",
    "x509/custom/ec_no_named_curve.pem",
    "x509/custom/dsa_selfsigned_ca.pem",
    "x509/custom/negative_serial.pem",
    "x509/custom/malformed-san.pem",
    "x509/custom/long-form-name-attribute.pem",
    "x509/custom/invalid_version.pem",
    "x509/custom/unsupported_subject_name.pem",
    "x509/requests/two_basic_constraints.pem",
    "x509/requests/rsa_sha256.pem",
    "x509/requests/ec_sha256.der",
    "x509/requests/san_rsa_sha1.pem",
    "x509/cryptography.io.pem",
    "x509/cryptography.io.precert.pem",
    "x509/ecdsa_root.pem",
    "x509/letsencryptx3.pem",
    "x509/v1_cert.pem",
    "x509/ed25519/root-ed25519.pem",
    "x509/ed448/root-ed448.pem",
    "pkcs7/amazon-roots.p7b",
    "pkcs7/isrg.pem",
    "asymmetric/PKCS8/unenc-rsa-pkcs8.pem",
    "asymmetric/PKCS8/ec_private_key.pem",
    "asymmetric/PKCS8/enc-rsa-pkcs8.pem",
    "asymmetric/PEM_Serialization/ec_public_key.pem",
    "asymmetric/PEM_Serialization/rsa_public_key.pem",
    "asymmetric/PEM_Serialization/dsa_4096.pem",
    "asymmetric/DER_Serialization/enc-rsa-pkcs8.der",
    "asymmetric/DER_Serialization/unenc-rsa-pkcs8.der",
    "asymmetric/DER_Serialization/ec_public_key.der",
    "asymmetric/Ed25519/ed25519-pkcs8.pem",
    "asymmetric/X25519/x25519-pkcs8.pem",
]

TEXT_SEEDS: dict[str, list[str]] = {
    "pins": [
        f"sha256/{K1}", f"cert-sha256/{K2}", f'pin-sha256="{K1}"', f"sha256//{K1}",
        "SHA256 Fingerprint=" + ":".join(["AB"] * 32), "ab" * 32, "sha1/" + K1[:28],
        "  sha256/" + K1 + "  ", "pin-sha256=" + K1, "",
    ],
    "hosts": [
        "api.example.com", "API.Example.COM.", "*.example.com", "bücher.example",
        "xn--bcher-kva.example", "[::1]:8443", "127.0.0.1", "::ffff:127.0.0.1", "127.1",
        "a_b.example", "faß.de", "\uff45\uff58\uff41\uff4d\uff50\uff4c\uff45\u3002com",
        "*.xn--n3h.example", "host:443",
        "[fe80::1%eth0]", "a" * 64 + ".example",
    ],
    "hpkp": [
        f'pin-sha256="{K1}"; pin-sha256="{K2}"; max-age=5184000; includeSubDomains; '
        'report-uri="https://r.example/"',
        f'max-age=0; pin-sha256="{K1}"',
    ],
    "curl": [f"sha256//{K1};sha256//{K2}", f"sha256//{K1}"],
    "okhttp": [
        f'CertificatePinner.Builder()\n  .add("a.example", "sha256/{K1}")\n'
        f'  .add("*.b.example", "sha256/{K1}", "sha256/{K2}")\n  .build()',
        f"a.example sha256/{K1} sha256/{K2}\n",
    ],
    "policy_toml": [
        f'version = 1\nunknown_hosts = "reject"\n\n[hosts."api.example.com"]\n'
        f'pins = ["sha256/{K1}", "sha256/{K2}"]\ninclude_subdomains = true\n'
        'expires = 2027-01-31\nenforce = false\nreport_uris = ["https://r.example/p"]\n',
        f'[hosts."*.cdn.example"]\npins = ["cert-sha256/{K1}"]\nallow_single_pin = true\n'
        "expires = 2027-01-31T12:30:00+02:00\n",
    ],
    "policy_json": [
        '{"version": 1, "expired": "reject", "hosts": {"a.example": {"pins": '
        f'["sha256/{K1}", "sha256/{K2}"], "backup_pins": [], "expires": "2027-01-31"}}}}',
        '{"hosts": {"[::1]": {"pins": ["sha256/' + K1 + '"], "allow_single_pin": true, '
        '"expires": "2027-01-31T00:00:00Z"}}}',
    ],
}

FIXTURE_FILES: dict[str, list[str]] = {
    "android": ["config/network_security_config.xml"],
    "trustkit": ["config/Info.plist"],
    "hpkp": ["config/hpkp.txt"],
    "curl": ["config/curl.txt"],
    "okhttp": ["config/Pinner.java", "config/pinner.kt", "config/pins.txt"],
    "certificates": ["godaddy-class2-root.pem"],
    # Apple's NSPinnedDomains regression data (tests/fixtures/config/ios/README.md: APSL 2.0)
    "ios": [f"config/ios/NSPinnedDomains{n}.plist" for n in (
        "ParsingTest", "_ca", "_leaf", "_leaf_and_ca", "_with_empty_spki",
        "_with_invalid_spki", "_without_spki")],
}


def ios_seeds() -> None:
    """Binary plists (``bplist00``) and an ATS dictionary alone, which ``from_ios`` reads too:
    the leaf-and-CA fixture as a binary Info.plist, and its ATS dictionary alone in XML and
    binary."""
    import plistlib

    with open(os.path.join(FIXTURES, "config", "ios", "NSPinnedDomains_leaf_and_ca.plist"),
              "rb") as f:
        info = plistlib.loads(f.read())
    ats = info["NSAppTransportSecurity"]
    _put("ios", plistlib.dumps(info, fmt=plistlib.FMT_BINARY), "seed-binary-info-plist")
    _put("ios", plistlib.dumps(ats, fmt=plistlib.FMT_BINARY), "seed-binary-ats-alone")
    _put("ios", plistlib.dumps(ats), "seed-xml-ats-alone")


def _put(target: str, data: bytes, name: str | None = None) -> None:
    folder = os.path.join(CORPUS, target)
    os.makedirs(folder, exist_ok=True)
    name = name or "seed-" + hashlib.sha256(data).hexdigest()[:16]
    with open(os.path.join(folder, name), "wb") as f:
        f.write(data)


def main() -> None:
    for target in os.listdir(CORPUS) if os.path.isdir(CORPUS) else []:
        for name in os.listdir(os.path.join(CORPUS, target)):
            if name.startswith("seed-"):
                os.remove(os.path.join(CORPUS, target, name))
    for target, texts in TEXT_SEEDS.items():
        for text in texts:
            _put(target, text.encode())
    for target, files in FIXTURE_FILES.items():
        for rel in files:
            with open(os.path.join(FIXTURES, rel), "rb") as f:
                _put(target, f.read())
    for rel in VECTOR_FILES:
        path = os.path.join(VECTORS, rel)
        if os.path.exists(path):
            with open(path, "rb") as f:
                _put("certificates", f.read())
    ios_seeds()
    # certifi: a handful of roots (RSA, EC, Ed-less) and a 3-root bundle.
    with open(certifi.where(), "rb") as f:
        bundle = f.read()
    blocks = re.findall(rb"-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----\n", bundle,
                        re.S)
    for block in blocks[:: max(1, len(blocks) // 6)][:6]:
        _put("certificates", block)
    _put("certificates", b"".join(blocks[:3]))
    # the certificates are hosts' subjects too: seed the importers with each other's documents
    shutil.copy(os.path.join(FIXTURES, "config", "Info.plist"),
                os.path.join(CORPUS, "android", "seed-plist-as-android"))


if __name__ == "__main__":
    main()
