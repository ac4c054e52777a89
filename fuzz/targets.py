"""certpin's fuzz targets: one per parser, each a function of the raw input bytes.

A target calls the parser and lets through only the exceptions its docstring documents (the
``certpin`` error for bad input); anything else escapes and is a finding. Some targets also check
a property (a parsed pin prints back to itself, a loaded policy dumps and loads back equal, lint
and export never fail on a policy that loaded).

Used by ``fuzz/run.py`` (atheris or the built-in mutator) and by
``tests/test_fuzz_regressions.py`` (every corpus file, plus Hypothesis-mutated seeds).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from typing import Literal

from certpin import CertificateError, ConfigError, PinFormatError, PolicyError, ProbeError
from certpin.config import (
    EXPORT_FORMATS,
    ExportError,
    dumps_policy,
    export_policy,
    from_android,
    from_curl,
    from_hpkp,
    from_ios,
    from_okhttp,
    from_trustkit,
    loads_policy,
)
from certpin.lint import lint_policy
from certpin.pins import cert_pin, load_certificates, parse_pin, spki_pin
from certpin.policy import PinPolicy, normalize_host, normalize_pattern
from certpin.probe import parse_host_port

Target = Callable[[bytes], None]

CORPUS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")


def _text(data: bytes) -> str:
    # surrogateescape turns undecodable bytes into lone surrogates: str inputs are hostile too.
    return data.decode("utf-8", "surrogateescape")


def fuzz_pins(data: bytes) -> None:
    """parse_pin: PinFormatError only; a parsed pin prints back to an equal pin."""
    try:
        pin = parse_pin(_text(data))
    except PinFormatError:
        return
    assert parse_pin(str(pin)) == pin, (data, pin)
    assert parse_pin(pin.hex) == pin or pin.kind == "spki"


def fuzz_certificates(data: bytes) -> None:
    """load_certificates, spki_pin, cert_pin, and what ``certpin pins`` prints of a file."""
    from certpin.commands.pins import describe_data

    try:
        certs = load_certificates(data)
    except CertificateError:
        certs = []
    for cert in certs:
        cert_pin(cert)
        with contextlib.suppress(CertificateError):
            spki_pin(cert)
    with contextlib.suppress(CertificateError):
        spki_pin(data)
    with contextlib.suppress(CertificateError):
        describe_data(data, "input")


def fuzz_hosts(data: bytes) -> None:
    """normalize_host, normalize_pattern (PolicyError), parse_host_port (ProbeError)."""
    text = _text(data)
    for normalize in (normalize_host, normalize_pattern):
        try:
            out = normalize(text)
        except PolicyError:
            continue
        assert normalize(out) == out, (text, out)
    with contextlib.suppress(ProbeError):
        parse_host_port(text)


def _check_policy(policy: PinPolicy) -> None:
    """Properties of any policy that loaded: round trip, lint, export."""
    from certpin.config import MAX_INPUT_BYTES

    formats: tuple[Literal["toml", "json"], ...] = ("toml", "json")
    for fmt in formats:
        text = dumps_policy(policy, fmt)
        if len(text.encode()) <= MAX_INPUT_BYTES:  # canonical text can outgrow a dense input
            assert loads_policy(text, fmt) == policy
    lint_policy(policy)
    for target_format in EXPORT_FORMATS:
        with contextlib.suppress(ExportError, PolicyError):
            export_policy(policy, target_format, lossy=True)


def _policy_target(fmt: str) -> Target:
    def target(data: bytes) -> None:
        for doc in (data, _text(data)):
            try:
                policy = loads_policy(doc, fmt)  # type: ignore[arg-type]
            except ConfigError:
                continue
            _check_policy(policy)

    target.__name__ = f"fuzz_policy_{fmt}"
    target.__doc__ = f"loads_policy(..., {fmt!r}) on bytes and str: ConfigError only."
    return target


def _importer_target(name: str, read: Callable[[str | bytes], PinPolicy]) -> Target:
    def target(data: bytes) -> None:
        for doc in (data, _text(data)):
            try:
                policy = read(doc)
            except ConfigError:
                continue
            _check_policy(policy)

    target.__name__ = f"fuzz_{name}"
    target.__doc__ = f"the {name} importer on bytes and str: ConfigError only."
    return target


def fuzz_ios(data: bytes) -> None:
    """from_ios (XML or binary plist, a whole Info.plist or the ATS dictionary alone) on bytes
    and str, strict and ``lossy``: ConfigError only; what it reads keeps the policy
    properties."""
    for doc in (data, _text(data)):
        for lossy in (False, True):
            try:
                policy = from_ios(doc, lossy=lossy, warnings=[])
            except ConfigError:
                continue
            _check_policy(policy)


TARGETS: dict[str, Target] = {
    "pins": fuzz_pins,
    "certificates": fuzz_certificates,
    "hosts": fuzz_hosts,
    "policy_toml": _policy_target("toml"),
    "policy_json": _policy_target("json"),
    "android": _importer_target("android", from_android),
    "trustkit": _importer_target("trustkit", from_trustkit),
    "hpkp": _importer_target("hpkp", lambda d: from_hpkp(d, "a.example")),
    "curl": _importer_target("curl", lambda d: from_curl(d, "a.example")),
    "okhttp": _importer_target("okhttp", from_okhttp),
    "ios": fuzz_ios,
}

# --- scale: the largest input each parser accepts, to catch work that grows faster than it ------

_K1 = "gXQJloeiZiH04s3XzAOz2s7bP7liJVsar9Azyr6DFTA="
_K2 = "sQJTdkyLIz+zdULiNAHHtFDlpvl1HztaAU9vZ+i8mZ0="


def _b64(i: int) -> str:
    import base64
    import hashlib

    return base64.b64encode(hashlib.sha256(str(i).encode()).digest()).decode()


def _fill(head: str, item: Callable[[int], str], tail: str, limit: int) -> bytes:
    """``head + item(0) + item(1) + ... + tail``, as many items as fit in ``limit`` bytes."""
    parts, size, i = [head], len(head) + len(tail), 0
    while True:
        piece = item(i)
        if size + len(piece) > limit:
            break
        parts.append(piece)
        size += len(piece)
        i += 1
    return ("".join(parts) + tail).encode()


def _scale_inputs(limit: int) -> dict[str, bytes]:
    """Per target, one input near ``limit`` bytes of many small valid entries (nested parents
    and children, so that overlap checks have work to do)."""

    def host(i: int) -> str:
        return f"h{i // 2}.example.com" if i % 2 else f"x.h{i // 2}.example.com"

    pins = f'"sha256/{_K1}", "sha256/{_K2}"'
    return {
        "pins": ("sha256/" + "A" * (limit - 10)).encode(),
        "hosts": (".".join(["a" * 63] * (limit // 64))).encode(),
        "certificates": _fill("", lambda i: _CERT_PEM, "", limit),
        "policy_toml": _fill("", lambda i: f'[hosts."{host(i)}"]\npins = [{pins}]\n'
                             "include_subdomains = true\n", "", limit),
        "policy_json": _fill('{"hosts": {', lambda i: f'{"," if i else ""}"{host(i)}": '
                             f'{{"pins": [{pins}], "include_subdomains": true}}', "}}", limit),
        "android": _fill("<network-security-config>", lambda i: (
            f'<domain-config><domain includeSubdomains="true">{host(i)}</domain><pin-set>'
            f'<pin digest="SHA-256">{_K1}</pin><pin digest="SHA-256">{_K2}</pin></pin-set>'
            "</domain-config>"), "</network-security-config>", limit),
        "trustkit": _fill("<plist><dict><key>TSKConfiguration</key><dict>"
                          "<key>TSKPinnedDomains</key><dict>", lambda i: (
                              f"<key>{host(i)}</key><dict><key>TSKPublicKeyHashes</key><array>"
                              f"<string>{_K1}</string><string>{_K2}</string></array>"
                              "<key>TSKIncludeSubdomains</key><true/></dict>"),
                          "</dict></dict></dict></plist>", limit),
        "hpkp": _fill("max-age=1", lambda i: f'; pin-sha256="{_b64(i)}"', "", limit),
        "curl": _fill(f"sha256//{_K1}", lambda i: f";sha256//{_b64(i)}", "", limit),
        "ios": _fill("<plist><dict><key>NSAppTransportSecurity</key><dict>"
                     "<key>NSPinnedDomains</key><dict>", lambda i: (
                         f"<key>{host(i)}</key><dict><key>NSIncludesSubdomains</key><true/>"
                         f"<key>NSPinned{'CA' if i // 2 % 2 else 'Leaf'}Identities</key><array>"
                         f"<dict><key>SPKI-SHA256-BASE64</key><string>{_K1}</string></dict>"
                         f"<dict><key>SPKI-SHA256-BASE64</key><string>{_K2}</string></dict>"
                         "</array></dict>"), "</dict></dict></dict></plist>", limit),
        "okhttp": _fill("CertificatePinner.Builder()\n", lambda i: (
            f'.add("{"**." if i % 2 else ""}{host(i)}", "sha256/{_K1}", "sha256/{_K2}")\n'),
            ".build()", limit),
    }


def _cert_pem() -> str:
    import datetime

    from cryptography import x509 as _x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = _x509.Name([_x509.NameAttribute(NameOID.COMMON_NAME, "scale.example")])
    start = datetime.datetime(2025, 1, 1, tzinfo=datetime.UTC)
    cert = (_x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(1).not_valid_before(start)
            .not_valid_after(start + datetime.timedelta(days=1)).sign(key, hashes.SHA256()))
    return cert.public_bytes(serialization.Encoding.PEM).decode()


_CERT_PEM = _cert_pem()


def scale_inputs() -> dict[str, bytes]:
    """Per target, an input just under the 1 MiB cap, for ``fuzz/run.py``'s scale pass."""
    from certpin.config import MAX_INPUT_BYTES

    return _scale_inputs(MAX_INPUT_BYTES - 64)


#: Crashes known and fixed elsewhere: tolerated (and counted) so the fuzzer keeps going. Empty:
#: the IDNA UnicodeError of issue 16 item 1 is fixed (certpin.hostnames), and a regression input
#: for it is in fuzz/corpus/hosts/.
KNOWN: dict[str, tuple[type[BaseException], ...]] = {}
