"""Differential test against the real curl: what certpin exports for ``--pinnedpubkey`` and what it
imports from it mean what curl makes of them, judged on a legitimate and an impostor TLS server on
127.0.0.1 (the impostor's certificate comes from a second CA that curl also trusts).

* ``certpin export --format curl`` passed to ``curl --pinnedpubkey``: exit 0 on the legitimate
  server, 90 (CURLE_SSL_PINNEDPUBKEYNOTMATCH) on the impostor.
* Every edge input below goes to curl and to ``certpin import --from curl``. If certpin imports
  pins, ``certpin.check`` passes each server's chain exactly when curl passes the server (the
  imported pins have the role ``leaf``, as curl compares the leaf's key only). If certpin
  refuses, its message says what curl does, and certpin's model of curl (``curl_hashes``, which
  the refusal is based on) predicts what this curl did.

One server pair for the module and one curl process per case and server. Skipped only when curl is
missing.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
import shutil
import ssl
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import trustme
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from certpin import check
from certpin.cli import main
from certpin.config import loads_policy
from certpin.config.curl import curl_hashes
from support.servers import RecordingTLSServer

CURL = shutil.which("curl")
pytestmark = pytest.mark.skipif(CURL is None, reason="curl is not installed: the differential "
                                "test of the curl format needs the real curl")
HOST = "pinned.test"
BACKUP = base64.b64encode(hashlib.sha256(b"certpin backup key").digest()).decode()


def spki_b64(cert_pem: bytes) -> str:
    cert = x509.load_pem_x509_certificate(cert_pem)
    der = cert.public_key().public_bytes(serialization.Encoding.DER,
                                         serialization.PublicFormat.SubjectPublicKeyInfo)
    return base64.b64encode(hashlib.sha256(der).digest()).decode()


@dataclass
class Lab:
    """The servers, what curl trusts, and the pins at stake."""

    legit: RecordingTLSServer
    impostor: RecordingTLSServer
    bundle: Path
    key_file: Path
    legit_pin: str      # base64 of the legitimate leaf's SPKI hash
    impostor_pin: str
    ca_pin: str         # the legitimate CA's key: curl never matches it (leaf only)
    version: tuple[int, int, int]
    chains: dict[str, list[bytes]]  # each server's verified chain, DER, leaf first

    def curl(self, arg: str, server: RecordingTLSServer) -> int:
        """curl's exit status for ``--pinnedpubkey arg`` against ``server``."""
        assert CURL is not None
        env = {k: v for k, v in os.environ.items()
               if "proxy" not in k.lower() and not k.startswith(("CURL", "SSL_CERT"))}
        done = subprocess.run(
            [CURL, "-q", "--silent", "--output", os.devnull, "--max-time", "20",
             "--noproxy", "*", "--cacert", str(self.bundle),
             "--resolve", f"{HOST}:{server.port}:127.0.0.1",
             "--pinnedpubkey", arg, f"https://{HOST}:{server.port}/"],
            env=env, capture_output=True, timeout=60, check=False)
        return done.returncode


def libcurl_version() -> tuple[int, int, int]:
    assert CURL is not None
    first = subprocess.run([CURL, "--version"], capture_output=True, text=True, check=True,
                           timeout=30).stdout.splitlines()[0]
    m = re.search(r"libcurl/(\d+)\.(\d+)\.(\d+)", first)
    assert m, first
    return int(m.group(1)), int(m.group(2)), int(m.group(3))


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory, ca: trustme.CA,
        attacker_ca: trustme.CA) -> Iterator[Lab]:
    tmp = tmp_path_factory.mktemp("curl-lab")
    bundle = tmp / "both-cas.pem"
    bundle.write_bytes(ca.cert_pem.bytes() + attacker_ca.cert_pem.bytes())
    good = ca.issue_cert(HOST)
    evil = attacker_ca.issue_cert(HOST)
    key_file = tmp / "legit-key.pem"
    leaf = x509.load_pem_x509_certificate(good.cert_chain_pems[0].bytes())
    key_file.write_bytes(leaf.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))

    def context(cert: trustme.LeafCert) -> ssl.SSLContext:
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        cert.configure_cert(ctx)
        return ctx

    with RecordingTLSServer(context(good)) as legit, \
            RecordingTLSServer(context(evil)) as impostor:
        yield Lab(legit, impostor, bundle, key_file,
                  legit_pin=spki_b64(good.cert_chain_pems[0].bytes()),
                  impostor_pin=spki_b64(evil.cert_chain_pems[0].bytes()),
                  ca_pin=spki_b64(ca.cert_pem.bytes()),
                  version=libcurl_version(),
                  chains={"legit": [_der(good.cert_chain_pems[0].bytes()),
                                    _der(ca.cert_pem.bytes())],
                          "impostor": [_der(evil.cert_chain_pems[0].bytes()),
                                       _der(attacker_ca.cert_pem.bytes())]})


def _der(pem: bytes) -> bytes:
    return x509.load_pem_x509_certificate(pem).public_bytes(serialization.Encoding.DER)


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


# --- the export, as curl reads it --------------------------------------------------------------

def test_curl_export_passes_the_legitimate_server_and_stops_the_impostor(
        lab: Lab, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    policy = tmp_path / "p.toml"
    policy.write_text(f'[hosts."{HOST}"]\npins = ["sha256/{lab.legit_pin}", '
                      f'"sha256/{BACKUP}"]\n')
    code, out, err = run_cli(capsys, "export", str(policy), "--format", "curl", "--host", HOST)
    assert code == 0 and out.endswith("\n")
    value = out[:-1]
    assert value == f"sha256//{lab.legit_pin};sha256//{BACKUP}"
    assert "leaf certificate only" in err
    assert lab.curl(value, lab.legit) == 0
    assert lab.curl(value, lab.impostor) == 90          # CURLE_SSL_PINNEDPUBKEYNOTMATCH
    assert lab.impostor.received == b""                 # curl sent the impostor nothing


def test_the_exports_note_holds_curl_never_matches_a_ca_key(lab: Lab, tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str]
                                                          ) -> None:
    policy = tmp_path / "p.toml"
    pins = f'pins = ["sha256/{lab.ca_pin}", "sha256/{BACKUP}"]\n'
    policy.write_text(f'[hosts."{HOST}"]\n{pins}')
    code, out, err = run_cli(capsys, "export", str(policy), "--format", "curl")
    assert code == 0 and "intermediate or root CAs never match in curl" in err
    assert lab.curl(out[:-1], lab.legit) == 90
    # said with a role, the CA pin is refused: curl would never match it
    policy.write_text(f'[hosts."{HOST}"]\n{pins}roles = {{"sha256/{lab.ca_pin}" = "ca"}}\n')
    code, out, err = run_cli(capsys, "export", str(policy), "--format", "curl")
    assert (code, out) == (2, "") and "role 'ca'" in err


# --- the importer's edge inputs, fed to curl and to certpin import -------------------------------

@dataclass(frozen=True)
class Case:
    """An input: the text certpin imports, and the argument curl gets (what the shell passes)."""

    name: str
    text: Callable[[Lab], str]
    arg: Callable[[Lab], str] | None = None   # None: the same text

    def curl_arg(self, lab: Lab) -> str:
        return (self.arg or self.text)(lab)


def _c(name: str, text: Callable[[Lab], str], arg: Callable[[Lab], str] | None = None) -> Case:
    return Case(name, text, arg)


CASES = [
    _c("one pin", lambda x: f"sha256//{x.legit_pin}"),
    _c("backup then live", lambda x: f"sha256//{BACKUP};sha256//{x.legit_pin}"),
    _c("live then backup", lambda x: f"sha256//{x.legit_pin};sha256//{BACKUP}"),
    _c("both servers' pins", lambda x: f"sha256//{x.impostor_pin};sha256//{x.legit_pin}"),
    _c("a pin twice", lambda x: f"sha256//{x.legit_pin};sha256//{x.legit_pin}"),
    _c("file line break", lambda x: f"sha256//{BACKUP};sha256//{x.legit_pin}\n",
       lambda x: f"sha256//{BACKUP};sha256//{x.legit_pin}"),
    _c("shell quotes", lambda x: f"--pinnedpubkey 'sha256//{BACKUP};sha256//{x.legit_pin}'",
       lambda x: f"sha256//{BACKUP};sha256//{x.legit_pin}"),
    _c("space after ;", lambda x: f"sha256//{x.legit_pin}; sha256//{BACKUP}"),
    _c("space after ; (live second)", lambda x: f"sha256//{BACKUP}; sha256//{x.legit_pin}"),
    _c("space before ;", lambda x: f"sha256//{BACKUP} ;sha256//{x.legit_pin}"),
    _c("trailing ;", lambda x: f"sha256//{x.legit_pin};"),
    _c("trailing ; after two", lambda x: f"sha256//{BACKUP};sha256//{x.legit_pin};"),
    _c("double ;", lambda x: f"sha256//{BACKUP};;sha256//{x.legit_pin}"),
    _c("junk between", lambda x: f"sha256//{BACKUP};junk;sha256//{x.legit_pin}"),
    _c("stray / (sha256///)", lambda x: f"sha256///{x.legit_pin}"),
    _c("stray / on the second", lambda x: f"sha256//{x.legit_pin};sha256///{BACKUP}"),
    _c("upper-case SHA256//", lambda x: f"SHA256//{x.legit_pin}"),
    _c("one slash (sha256/)", lambda x: f"sha256/{x.legit_pin}"),
    _c("leading space", lambda x: f" sha256//{x.legit_pin}"),
    _c("trailing space", lambda x: f"sha256//{x.legit_pin} "),
    _c("line break between pins", lambda x: f"sha256//{BACKUP}\nsha256//{x.legit_pin}"),
    _c("no padding", lambda x: f"sha256//{x.legit_pin[:-1]}"),
    _c("extra =", lambda x: f"sha256//{x.legit_pin}="),
    _c("not base64", lambda x: f"sha256//*{x.legit_pin[1:]}"),
    _c("non-canonical spelling of the same bytes",
       lambda x: f"sha256//{x.legit_pin[:42]}{chr(ord(x.legit_pin[42]) ^ 1)}="),
    _c("empty entry", lambda x: f"sha256//{x.legit_pin};sha256//"),
    _c("key file path", lambda x: str(x.key_file)),
    _c("missing file", lambda x: str(x.key_file) + ".missing"),
    _c("HPKP spelling", lambda x: f'pin-sha256="{x.legit_pin}"'),
    _c("the CA's key", lambda x: f"sha256//{x.ca_pin};sha256//{BACKUP}"),
]


def _curl_model(lab: Lab, arg: str, pin: str) -> bool:
    """Whether certpin's model says this curl matches ``pin`` for ``arg``."""
    entries = curl_hashes(arg, lab.version)
    if entries is None:  # a key file: only the real one holds a key
        return arg == str(lab.key_file) and pin == lab.legit_pin
    return pin in entries


def test_certpin_import_agrees_with_curl_on_every_edge_input(
        lab: Lab, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    seen: list[str] = []
    for i, case in enumerate(CASES):
        arg = case.curl_arg(lab)
        passes = {name: lab.curl(arg, server) == 0
                  for name, server in (("legit", lab.legit), ("impostor", lab.impostor))}
        src = tmp_path / f"case{i}.txt"
        src.write_text(case.text(lab))
        code, out, err = run_cli(capsys, "import", str(src), "--from", "curl", "--host", HOST)
        if code == 0:
            policy = loads_policy(out, "toml")
            verdict = {name: check(policy, HOST, chain).passed
                       for name, chain in lab.chains.items()}
            assert verdict == passes, (case.name, arg, policy, passes)
            seen.append(f"{case.name}: imported")
            continue
        assert (code, out) == (2, ""), case.name
        assert err.count("\n") == 1 and "curl" in err, (case.name, err)
        model = {"legit": _curl_model(lab, arg, lab.legit_pin),
                 "impostor": _curl_model(lab, arg, lab.impostor_pin)}
        assert model == passes, (case.name, arg, err, passes)
        seen.append(f"{case.name}: refused")
    # the accepted inputs are exactly those every curl version reads alike
    assert [s for s in seen if s.endswith("imported")] == [
        f"{c.name}: imported" for c in CASES[:7] + CASES[-1:]]
