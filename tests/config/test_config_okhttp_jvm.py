"""Differential test against the real OkHttp on the JVM (issue 11, items 9 and 12).

Debian's ``libokhttp-java`` (OkHttp 3.13.1, with okio 1.16) and a JDK, installed by ``.ci/run``,
judge what certpin writes and reads:

* the ``okhttp`` export's builder calls are compiled with ``javac`` against that jar, then a
  matrix of pattern kind (exact, ``*.``, include-subdomains) x host (the host, one label below,
  two labels below, a sibling, an unrelated host) x chain (legitimate, impostor from a second CA
  the client also trusts) is judged by ``CertificatePinner.check(host, chain)`` and by a real
  OkHttp request to local TLS servers: OkHttp's verdict equals ``certpin.check``'s in every
  cell, or the export refused (OkHttp 3 and include-subdomains), or ``--lossy`` said which
  hosts it left unpinned;
* a listed set of the importer's edge inputs goes to OkHttp's own ``CertificatePinner.Builder``:
  certpin imports exactly what OkHttp accepts, meaning the same, or refuses with a reason what
  OkHttp accepts but certpin cannot hold.

Everything runs in one ``javac`` and one ``java`` process (about 10 seconds). Without ``javac``,
``java`` or the jars (``okhttp.jar`` and ``okio.jar`` in ``$CERTPIN_OKHTTP_JAR_DIR``, default
``/usr/share/java``) the tests skip and say so. OkHttp 4 cannot be installed here: what certpin
does for it follows its source (docs/rules/okhttp.md).
"""

from __future__ import annotations

import base64
import json
import os
import random
import shutil
import ssl
import string
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import trustme

import certpin
from certpin import ConfigError
from certpin.config import ExportError, from_okhttp, to_okhttp
from certpin.config._okhttp_rules import okio_base64
from certpin.pins import Pin, spki_pin
from certpin.policy import PinPolicy, PinSet
from support.servers import RecordingTLSServer

JAVA_DIR = Path(os.environ.get("CERTPIN_OKHTTP_JAR_DIR", "/usr/share/java"))
JARS = (JAVA_DIR / "okhttp.jar", JAVA_DIR / "okio.jar")
HARNESS = Path(__file__).parent.parent / "jvm" / "OkHttpDiff.java"
INSTALL = "apt-get install default-jdk-headless libokhttp-java (.ci/run does)"


def _missing() -> str | None:
    """What this machine lacks to run OkHttp, or None."""
    tools = [t for t in ("javac", "java") if shutil.which(t) is None]
    jars = [str(j) for j in JARS if not j.is_file()]
    if tools or jars:
        return f"{', '.join(tools + jars)} not found; install: {INSTALL}"
    return None


MISSING = _missing()
pytestmark = pytest.mark.skipif(
    MISSING is not None, reason=f"OkHttp JVM differential tests skipped: {MISSING}")

BASE = "api.example.com"
HOSTS = {
    "host": BASE,
    "one-below": "one." + BASE,
    "two-below": "two.one." + BASE,
    "sibling": "www.example.com",
    "unrelated": "unrelated.test",
}
CHAINS = ("legit", "impostor")
K1 = "sha256/gXQJloeiZiH04s3XzAOz2s7bP7liJVsar9Azyr6DFTA="
K3 = "sha256/9XYQTuvqsJZR2DrP/HfIuMbqpLdnrqsk19qA+D9R2GU="
SHA1 = "sha1/" + base64.b64encode(bytes(range(20))).decode()


def _policy(kind: str, pins: list[Pin]) -> PinPolicy:
    if kind == "wild":
        return PinPolicy({"*." + BASE: PinSet(pins)})
    return PinPolicy({BASE: PinSet(pins, include_subdomains=kind == "sub")})


# --- edge inputs: (id, pattern, pin, expectation, detail) -------------------------------------
# expectation: "same" (both accept, same meaning, no warning); "warn" (same pin, a warning with
# detail); "okhttp-refuses" (OkHttp throws, certpin refuses); "cannot-hold" (OkHttp accepts,
# certpin refuses with detail in the reason); "double-star" (OkHttp 3 reads '**.' literally:
# certpin imports the OkHttp 4.3 meaning with a warning that OkHttp 3 pins nothing)

B = K3[7:]
EDGES: list[tuple[str, str, str, str, str]] = [
    ("pin-canonical", "a.test", K3, "same", ""),
    ("pin-SHA256", "a.test", "SHA256/" + B, "okhttp-refuses", "lower case"),
    ("pin-Sha256", "a.test", "Sha256/" + B, "okhttp-refuses", "lower case"),
    ("pin-hpkp-quoted", "a.test", f'pin-sha256="{B}"', "okhttp-refuses", "HPKP"),
    ("pin-hpkp-bare", "a.test", "pin-sha256=" + B, "okhttp-refuses", "HPKP"),
    ("pin-cert-sha256", "a.test", "cert-sha256/" + B, "okhttp-refuses", "public keys"),
    ("pin-leading-space", "a.test", " " + K3, "okhttp-refuses", "white space"),
    ("pin-empty", "a.test", "", "okhttp-refuses", "must start with"),
    ("pin-inner-equals", "a.test", K3[:20] + "=" + K3[20:], "okhttp-refuses", "not base64"),
    ("pin-one-char", "a.test", "sha256/A", "okhttp-refuses", "not base64"),
    ("pin-dot", "a.test", K3[:20] + "." + K3[21:], "okhttp-refuses", "not base64"),
    ("pin-sha1", "a.test", SHA1, "cannot-hold", "SHA-1"),
    ("pin-leading-slash", "a.test", "sha256//" + B, "cannot-hold", "leading '/'"),
    ("pin-prefix-only", "a.test", "sha256/", "cannot-hold", "0 bytes"),
    ("pin-padding-only", "a.test", "sha256/====", "cannot-hold", "0 bytes"),
    ("pin-short", "a.test", "sha256/AAAA", "cannot-hold", "3 bytes"),
    ("pin-url-safe", "a.test", K3[:23] + "_" + K3[24:], "warn", "URL-safe"),
    ("pin-no-padding", "a.test", K3[:-1], "warn", "no '=' padding"),
    ("pin-extra-padding", "a.test", K3 + "=", "warn", "extra '='"),
    ("pin-inner-space", "a.test", K3[:20] + " \n\t" + K3[20:], "warn", "white space"),
    ("pin-trailing-space", "a.test", K3 + "\n", "warn", "white space"),
    ("pin-trailing-bits", "a.test", K3[:-2] + "V=", "warn", "trailing bits"),
    ("host-plain", "a.test", K3, "same", ""),
    ("host-upper", "API.Example.COM", K3, "same", ""),
    ("host-idn", "bücher.example", K3, "same", ""),
    ("host-a-label", "xn--bcher-kva.example", K3, "same", ""),
    ("host-ipv4", "127.0.0.1", K3, "same", ""),
    ("host-ipv6-brackets", "[::1]", K3, "same", ""),
    ("host-wildcard", "*.a.test", K3, "same", ""),
    ("host-wildcard-upper", "*.A.Test", K3, "same", ""),
    ("host-double-star", "**.a.test", K3, "double-star", "pins nothing"),
    ("host-star-alone", "*", K3, "cannot-hold", "'*'"),
    ("host-star-dot", "*.", K3, "okhttp-refuses", "empty"),
    ("host-empty", "", K3, "okhttp-refuses", "empty"),
    ("host-trailing-dot", "a.test.", K3, "cannot-hold", "trailing dot"),
    ("host-wildcard-trailing-dot", "*.a.test.", K3, "cannot-hold", "trailing dot"),
    ("host-wildcard-one-label", "*.localhost", K3, "cannot-hold", "also matches 'localhost'"),
    ("host-inner-star", "a.*.test", K3, "cannot-hold", "'*'"),
    ("host-star-prefix", "*a.test", K3, "cannot-hold", "'*'"),
    ("host-two-stars", "*.*.test", K3, "cannot-hold", "'*'"),
    ("host-port", "a.test:443", K3, "cannot-hold", "http://a.test:443"),
    ("host-path", "a.test/x", K3, "cannot-hold", "http://a.test/x"),
    ("host-user", "u@a.test", K3, "cannot-hold", "http://u@a.test"),
    ("host-percent", "a%2Etest", K3, "cannot-hold", "http://a%2Etest"),
    ("host-leading-space", " a.test", K3, "okhttp-refuses", "white space"),
    ("host-trailing-space", "a.test ", K3, "cannot-hold", "white space"),
    ("host-ipv6-bare", "::1", K3, "okhttp-refuses", "brackets"),
    ("host-underscore", "a_b.test", K3, "cannot-hold", "letters, digits"),
    ("host-deviation", "straße.test", K3, "cannot-hold", "deviation"),
]

# What OkHttp 3.13 makes of some inputs it accepts, which is why certpin refuses them:
# the canonical host it compares literally, or the length of the hash it keeps.
OKHTTP_MADE = {
    "host-double-star": "**.a.test",
    "host-star-alone": "*",
    "host-trailing-dot": "a.test.",
    "host-wildcard-trailing-dot": "a.test.",
    "host-wildcard-one-label": "localhost",
    "host-port": "a.test",
    "host-path": "a.test",
    "host-user": "a.test",
    "host-percent": "a.test",
    "host-trailing-space": "a.test",
    "host-deviation": "strasse.test",
    "pin-leading-slash": 33,
    "pin-prefix-only": 0,
    "pin-padding-only": 0,
    "pin-short": 3,
    "pin-sha1": 20,
}



def _base64_texts(count: int, seed: int) -> list[str]:
    """Texts for okio's decoder: near-base64 (both alphabets, '=', white space, a stray
    character), every length 0 to 48; a fixed seed, so every run asks the same questions."""
    rng = random.Random(seed)
    alphabet = string.ascii_letters + string.digits + "+/-_" * 4 + "=" * 3 + " \t\r\n\v.\u00e9"
    texts = [base64.b64encode(rng.randbytes(n)).decode() for n in range(0, 40)]
    texts += ["".join(rng.choice(alphabet) for _ in range(rng.randrange(49)))
              for _ in range(count)]
    return texts


BASE64_TEXTS = _base64_texts(600, seed=11)


# --- the one JVM run ---------------------------------------------------------------------------


@dataclass
class Run:
    """Everything the JVM and certpin said, for the tests to compare."""

    cells: dict[str, dict[str, str]] = field(default_factory=dict)  # id -> {check, request}
    certpin: dict[str, bool] = field(default_factory=dict)  # id -> certpin.check passed
    edges: dict[str, list[str]] = field(default_factory=dict)
    okio: dict[int, bytes | None] = field(default_factory=dict)  # BASE64_TEXTS index -> bytes
    refused_exports: dict[str, str] = field(default_factory=dict)
    lossy_rows: list[str] = field(default_factory=list)
    v4_first_lines: dict[str, str] = field(default_factory=dict)
    impostor_requests: int = 0
    seconds: dict[str, float] = field(default_factory=dict)


def _b64(text: str) -> str:
    return base64.b64encode(text.encode("utf-8")).decode()


def _pinners(pins: list[Pin], run: Run) -> dict[str, tuple[str, PinPolicy]]:
    """Export each pattern kind for OkHttp 3 and 4: pinner name -> (Java statement, policy)."""
    out: dict[str, tuple[str, PinPolicy]] = {}
    for kind in ("exact", "wild", "sub"):
        policy = _policy(kind, pins)
        try:
            out[f"{kind}_v3"] = (to_okhttp(policy).text, policy)
        except ExportError as exc:
            run.refused_exports[kind] = str(exc)
            lossy = to_okhttp(policy, lossy=True)
            run.lossy_rows += lossy.dropped
            out[f"{kind}_v3_lossy"] = (lossy.text, policy)
        v4 = to_okhttp(policy, okhttp_version=4).text
        run.v4_first_lines[kind] = v4.splitlines()[0]
        out[f"{kind}_v4"] = (v4, policy)
    return out


def _pinners_java(pinners: dict[str, tuple[str, PinPolicy]]) -> str:
    methods = []
    cases = []
    for name, (text, _) in pinners.items():
        body = "\n".join("    " + line for line in text.splitlines())
        methods.append(f"  static CertificatePinner {name}() {{\n{body}\n"
                       "    return certificatePinner;\n  }\n")
        cases.append(f'    if (name.equals("{name}")) return {name}();')
    return ("import okhttp3.CertificatePinner;\n\n"
            "final class Pinners {\n"
            "  static CertificatePinner get(String name) {\n" + "\n".join(cases) + "\n"
            '    throw new IllegalArgumentException(name);\n  }\n\n' + "\n".join(methods) + "}\n")


def _server(ca: trustme.CA) -> tuple[RecordingTLSServer, trustme.LeafCert]:
    leaf = ca.issue_cert(*HOSTS.values())
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.num_tickets = 0  # no TLS 1.3 tickets: their separate write meets Nagle, 40 ms a request
    leaf.configure_cert(ctx)
    return RecordingTLSServer(ctx), leaf


def _der_chain(leaf: trustme.LeafCert, ca: trustme.CA) -> list[bytes]:
    return [ssl.PEM_cert_to_DER_cert(leaf.cert_chain_pems[0].bytes().decode()),
            ssl.PEM_cert_to_DER_cert(ca.cert_pem.bytes().decode())]


def _spec_and_expectations(
    tmp: Path, pinners: dict[str, tuple[str, PinPolicy]], servers: dict[str, tuple[
        RecordingTLSServer, trustme.LeafCert, trustme.CA]], run: Run,
) -> str:
    lines = []
    for _, (_, _, ca) in servers.items():
        path = tmp / f"ca{len(lines)}.pem"
        ca.cert_pem.write_to_path(str(path))
        lines.append(f"trust\t{path}")
    chains: dict[str, list[bytes]] = {}
    for name, (server, leaf, ca) in servers.items():
        path = tmp / f"{name}-chain.pem"
        path.write_bytes(leaf.cert_chain_pems[0].bytes() + ca.cert_pem.bytes())
        lines.append(f"chain\t{name}\t{path}\t{server.port}")
        chains[name] = _der_chain(leaf, ca)
    for pinner, (_, policy) in pinners.items():
        for host_kind, host in HOSTS.items():
            for chain in CHAINS:
                cell = f"{pinner}/{host_kind}/{chain}"
                lines.append(f"cell\t{cell}\t{pinner}\t{host}\t{chain}")
                run.certpin[cell] = certpin.check(policy, host, chains[chain]).passed
    for edge_id, pattern, pin, _, _ in EDGES:
        lines.append(f"edge\t{edge_id}\t{_b64(pattern)}\t{_b64(pin)}")
    for i, text in enumerate(BASE64_TEXTS):
        lines.append(f"base64\t{i}\t{_b64(text)}")
    return "\n".join(lines) + "\n"


def _jvm(tmp: Path, spec: str, pinners_java: str, run: Run) -> str:
    (tmp / "Pinners.java").write_text(pinners_java)
    (tmp / "spec.tsv").write_text(spec)
    classes = tmp / "classes"
    cp = os.pathsep.join(str(j) for j in JARS)
    start = time.monotonic()
    subprocess.run(["javac", "-nowarn", "-encoding", "UTF-8", "-cp", cp, "-d", str(classes),
                    str(HARNESS), str(tmp / "Pinners.java")],
                   check=True, capture_output=True, text=True, timeout=300)
    run.seconds["javac"] = time.monotonic() - start
    start = time.monotonic()
    done = subprocess.run(["java", "-cp", os.pathsep.join([cp, str(classes)]), "OkHttpDiff",
                           str(tmp / "spec.tsv")],
                          check=True, capture_output=True, text=True, timeout=300)
    run.seconds["java"] = time.monotonic() - start
    return done.stdout


@pytest.fixture(scope="module")
def jvm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    run = Run()
    tmp = tmp_path_factory.mktemp("okhttp-jvm")
    legit_ca, impostor_ca = trustme.CA(), trustme.CA()
    pins = [spki_pin(legit_ca.cert_pem.bytes()), Pin("spki", bytes(range(32)))]  # + a backup
    pinners = _pinners(pins, run)
    legit, legit_leaf = _server(legit_ca)
    impostor, impostor_leaf = _server(impostor_ca)
    with legit, impostor:
        servers = {"legit": (legit, legit_leaf, legit_ca),
                   "impostor": (impostor, impostor_leaf, impostor_ca)}
        spec = _spec_and_expectations(tmp, pinners, servers, run)
        try:
            out = _jvm(tmp, spec, _pinners_java(pinners), run)
        except subprocess.CalledProcessError as exc:
            pytest.fail(f"{exc.cmd[0]} failed:\n{exc.stdout}\n{exc.stderr}")
        run.impostor_requests = impostor.received.count(b"GET / HTTP/1.1\r\n")
    for line in out.splitlines():
        kind, ident, *rest = line.split("\t")
        if kind == "base64":
            run.okio[int(ident)] = bytes.fromhex(rest[1]) if rest[0] == "bytes" else None
        elif kind == "cell":
            verdict = rest[1] if rest[1] != "error" else "error: " + base64.b64decode(
                rest[2]).decode()
            run.cells.setdefault(ident, {})[rest[0]] = verdict
        else:
            run.edges[ident] = rest
    yield run


# --- the export matrix -------------------------------------------------------------------------


def _verdict(passed: bool) -> str:
    return "pass" if passed else "fail"


@pytest.mark.parametrize("pinner", ["exact_v3", "wild_v3", "exact_v4", "wild_v4"])
def test_okhttp_agrees_with_certpin_in_every_cell(jvm: Run, pinner: str) -> None:
    cells = {c: v for c, v in jvm.cells.items() if c.startswith(pinner + "/")}
    assert len(cells) == len(HOSTS) * len(CHAINS)
    for cell, verdicts in cells.items():
        expected = _verdict(jvm.certpin[cell])
        assert verdicts == {"check": expected, "request": expected}, cell


def test_the_matrix_is_not_trivial(jvm: Run) -> None:
    """Each kind pins some hosts (an impostor fails there) and not others."""
    for pinner, failing in (("exact_v3", {"host"}), ("wild_v3", {"one-below"}),
                            ("sub_v3_lossy", {"host", "one-below"})):
        failed = {c.split("/")[1] for c, v in jvm.cells.items()
                  if c.startswith(pinner + "/") and v["request"] == "fail"}
        assert failed == failing, pinner
        assert all(v["check"] == "pass" and v["request"] == "pass" for c, v in jvm.cells.items()
                   if c.startswith(pinner + "/") and c.endswith("/legit"))


def test_okhttp_3_export_refuses_include_subdomains(jvm: Run) -> None:
    assert sorted(jvm.refused_exports) == ["sub"]
    assert f"{BASE}: include_subdomains (OkHttp 3 has no '**.'" in jvm.refused_exports["sub"]


def test_okhttp_3_lossy_differs_only_where_its_row_says(jvm: Run) -> None:
    assert len(jvm.lossy_rows) == 1
    assert f"hosts two or more labels below {BASE} are not pinned" in jvm.lossy_rows[0]
    differ = {c: v for c, v in jvm.cells.items() if c.startswith("sub_v3_lossy/")
              and v != {"check": _verdict(jvm.certpin[c]), "request": _verdict(jvm.certpin[c])}}
    assert differ == {"sub_v3_lossy/two-below/impostor": {"check": "pass", "request": "pass"}}
    assert jvm.certpin["sub_v3_lossy/two-below/impostor"] is False


def test_the_okhttp_4_export_pins_nothing_on_okhttp_3(jvm: Run) -> None:
    """Item 12: '**.' is a literal name to OkHttp 3, so every chain passes there; this is why
    version 3 (the default) refuses include-subdomains and version 4 says it needs 4.3."""
    cells = {c: v for c, v in jvm.cells.items() if c.startswith("sub_v4/")}
    assert all(v == {"check": "pass", "request": "pass"} for v in cells.values())
    assert jvm.certpin["sub_v4/host/impostor"] is False
    assert set(jvm.v4_first_lines.values()) == {"// certpin: for OkHttp >= 4.3"}


def test_no_request_byte_reaches_the_impostor_when_okhttp_fails(jvm: Run) -> None:
    passed = sum(1 for c, v in jvm.cells.items() if c.endswith("/impostor")
                 and v["request"] == "pass")
    assert 0 < jvm.impostor_requests == passed


# --- the importer's edge inputs ----------------------------------------------------------------


def _certpin_import(pattern: str, pin: str) -> tuple[PinPolicy | None, str, list[str]]:
    warnings: list[str] = []
    try:
        policy = from_okhttp(f".add({json.dumps(pattern)}, {json.dumps(pin)})",
                             warnings=warnings)
    except ConfigError as exc:
        return None, str(exc), warnings
    return policy, "", warnings


@pytest.mark.parametrize(("edge_id", "pattern", "pin", "expect", "detail"), EDGES,
                         ids=[e[0] for e in EDGES])
def test_import_accepts_exactly_what_okhttp_accepts(
    jvm: Run, edge_id: str, pattern: str, pin: str, expect: str, detail: str
) -> None:
    okhttp = jvm.edges[edge_id]
    policy, error, warnings = _certpin_import(pattern, pin)
    if okhttp[0] == "refused":
        assert expect == "okhttp-refuses", base64.b64decode(okhttp[1]).decode()
        assert policy is None and detail in error and "OkHttp" in error
        return
    okhttp_pattern, canonical = (base64.b64decode(x).decode() for x in okhttp[1:3])
    algorithm, digest = okhttp[3], base64.b64decode(okhttp[4])
    assert expect != "okhttp-refuses", (edge_id, canonical)
    if edge_id in OKHTTP_MADE:
        made = OKHTTP_MADE[edge_id]
        assert (len(digest) if isinstance(made, int) else canonical) == made
    if expect == "cannot-hold":
        assert policy is None and detail in error and "OkHttp" in error, error
        return
    assert policy is not None, error
    [(name, pin_set)] = policy.pin_sets.items()
    assert algorithm == "sha256/" and pin_set.pins == (Pin("spki", digest),)
    if expect == "double-star":
        assert canonical == okhttp_pattern == pattern  # a literal name: matches no host
        assert (name, pin_set.include_subdomains) == (canonical[3:], True)
    else:
        wild = okhttp_pattern.startswith("*.")
        assert (name, pin_set.include_subdomains) == (("*." if wild else "") + canonical, False)
    if expect == "same":
        assert warnings == []
    else:
        assert len(warnings) == 1 and detail in warnings[0]
        if expect == "warn":
            assert str(Pin("spki", digest)) in warnings[0]


def test_okio_base64_is_okio_s(jvm: Run) -> None:
    """certpin's reading of a pin's base64 is okio's, byte for byte, null for null."""
    assert len(jvm.okio) == len(BASE64_TEXTS)
    nulls = 0
    for i, text in enumerate(BASE64_TEXTS):
        assert okio_base64(text) == jvm.okio[i], repr(text)
        nulls += jvm.okio[i] is None
    assert 0 < nulls < len(BASE64_TEXTS) - 100  # both answers are well represented


def test_timing(jvm: Run) -> None:
    """One compile and one run for the whole matrix: seconds, not minutes (reported with -s)."""
    print(f"\nOkHttp JVM differential: javac {jvm.seconds['javac']:.1f} s, "
          f"java {jvm.seconds['java']:.1f} s for {len(jvm.cells)} cells and "
          f"{len(jvm.edges)} edge inputs")
    assert jvm.seconds["javac"] + jvm.seconds["java"] < 120
