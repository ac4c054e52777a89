"""``certpin pins``: machine-readable output never comes with exit 0 when it is empty or unverified.

Issue 11 items 2 and 3: ``--format curl|hpkp`` printed an empty line with exit 0 when nothing
could be pinned, and ``--format curl|hpkp|json`` exited 0 on a chain that did not validate, so
``curl --pinnedpubkey "$(certpin pins --format curl HOST)"`` pinned whatever an interceptor
served. Real TLS servers on 127.0.0.1 whose chain the client does not trust.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from certpin import spki_pin
from certpin.cli import main
from support.cli import one_error_line
from support.obtain_certs import Leaf, TestPKI, pem
from support.servers import RecordingTLSServer


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> TestPKI:
    return TestPKI(str(tmp_path_factory.mktemp("exit-pki")))


@pytest.fixture(scope="module")
def leaf(pki: TestPKI) -> Leaf:
    return pki.leaf("ec256")


@pytest.fixture(scope="module")
def interceptor_pki(tmp_path_factory: pytest.TempPathFactory) -> TestPKI:
    """An interception proxy's CA: the client does not trust it."""
    return TestPKI(str(tmp_path_factory.mktemp("interceptor")), org="interceptor")


@pytest.fixture()
def server(pki: TestPKI, leaf: Leaf) -> Iterator[RecordingTLSServer]:
    with RecordingTLSServer(leaf.server_context(pki.directory, "exit")) as srv:
        yield srv


@pytest.fixture()
def interceptor(interceptor_pki: TestPKI) -> Iterator[tuple[Leaf, RecordingTLSServer]]:
    forged = interceptor_pki.leaf("ec256")
    with RecordingTLSServer(forged.server_context(interceptor_pki.directory, "mitm")) as srv:
        yield forged, srv


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["pins", *argv])
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    return code, out, err


# --- item 3: a chain that did not validate -----------------------------------------------------

@pytest.mark.parametrize("fmt", ["curl", "hpkp"])
def test_an_unverified_chain_gives_no_pin_line_and_exit_1(
    fmt: str, capsys: pytest.CaptureFixture[str], pki: TestPKI,
    interceptor: tuple[Leaf, RecordingTLSServer],
) -> None:
    _, srv = interceptor
    # the client trusts pki's root; the interceptor's chain is from another CA
    code, out, err = run(capsys, f"127.0.0.1:{srv.port}", "--cafile", pki.ca_file, "--format", fmt)
    assert (code, out) == (1, "")
    line = one_error_line(err)
    assert line.startswith(f"certpin pins: error: 127.0.0.1:{srv.port}: the chain did not "
                           "validate (")
    assert "--allow-unverified" in line
    srv.stop()
    assert srv.received == b""


def test_an_unverified_chain_in_json_is_a_failed_target_without_pins(
    capsys: pytest.CaptureFixture[str], pki: TestPKI, server: RecordingTLSServer,
    interceptor: tuple[Leaf, RecordingTLSServer],
) -> None:
    _, mitm = interceptor
    code, out, err = run(capsys, f"127.0.0.1:{server.port}", f"127.0.0.1:{mitm.port}",
                         "--cafile", pki.ca_file, "--format", "json")
    assert code == 1
    good, bad = json.loads(out)
    assert good["verified"] is True and len(good["certificates"]) == 3
    assert bad["verified"] is False and bad["certificates"] == []
    assert bad["verify_error"] and "did not validate" in bad["error"]
    assert "--allow-unverified" in bad["error"]
    assert one_error_line(err).startswith(f"certpin pins: error: 127.0.0.1:{mitm.port}: ")


def test_an_unverified_chain_in_text_is_shown_marked_and_exits_1(
    capsys: pytest.CaptureFixture[str], server: RecordingTLSServer, leaf: Leaf,
) -> None:
    code, out, err = run(capsys, f"127.0.0.1:{server.port}")  # no --cafile: the test root is
    assert code == 1                                           # not in the default store
    assert "NOT VERIFIED" in out and f"spki pin   {spki_pin(leaf.cert)}" in out
    assert "did not validate" in one_error_line(err)


@pytest.mark.parametrize("fmt", ["curl", "hpkp", "json", "text"])
def test_allow_unverified_prints_the_pins_says_so_loudly_and_exits_0(
    fmt: str, capsys: pytest.CaptureFixture[str], server: RecordingTLSServer, leaf: Leaf,
    pki: TestPKI,
) -> None:
    code, out, err = run(capsys, f"127.0.0.1:{server.port}", "--allow-unverified",
                         "--format", fmt)
    assert code == 0
    line = one_error_line(err)
    assert line.startswith(f"certpin pins: warning: 127.0.0.1:{server.port}: ")
    assert "NOT VERIFIED" in line and "--allow-unverified" in line
    pin = spki_pin(leaf.cert)
    if fmt == "curl":
        assert out == f"sha256//{pin.base64}\n"
    elif fmt == "hpkp":
        assert out == "; ".join(
            f'pin-sha256="{spki_pin(c).base64}"' for c in (leaf.cert, pki.intermediate)
        ) + "\n"
    elif fmt == "json":
        (target,) = json.loads(out)
        assert target["verified"] is False and target["verify_error"]
        assert target["certificates"][0]["spki_pin"] == str(pin)
    else:
        assert "NOT VERIFIED" in out


def test_a_verified_chain_is_unchanged_by_allow_unverified(
    capsys: pytest.CaptureFixture[str], server: RecordingTLSServer, pki: TestPKI, leaf: Leaf,
) -> None:
    code, out, err = run(capsys, f"127.0.0.1:{server.port}", "--cafile", pki.ca_file,
                         "--allow-unverified", "--format", "curl")
    assert (code, out, err) == (0, f"sha256//{spki_pin(leaf.cert).base64}\n", "")


@pytest.mark.skipif(shutil.which("curl") is None, reason="needs curl")
def test_the_documented_curl_recipe_stops_at_an_interceptor(
    pki: TestPKI, interceptor: tuple[Leaf, RecordingTLSServer], tmp_path: Path,
) -> None:
    """docs/cli.md: pin=$(certpin pins --format curl HOST) && curl --pinnedpubkey "$pin" ..."""
    _, srv = interceptor
    import sys

    script = (
        f'pin=$("{sys.executable}" -m certpin pins --format curl --cafile {pki.ca_file} '
        f'127.0.0.1:{srv.port}) && curl --silent --noproxy "*" --max-time 20 --insecure '
        f'--pinnedpubkey "$pin" https://127.0.0.1:{srv.port}/'
    )
    proc = subprocess.run(["sh", "-c", script], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1, proc  # certpin's exit status: curl never ran
    assert "did not validate" in proc.stderr and proc.stdout == ""
    srv.stop()
    assert srv.received == b""


def test_help_documents_the_option_and_the_exit_status(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["pins", "--help"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "--allow-unverified" in out
    assert "Exit status: 0 when every target gave its pins; 1 when a target failed" in out
    assert "its chain did not validate (unless --allow-unverified)" in out


# --- item 2: nothing could be pinned -----------------------------------------------------------

def _gost() -> Path:
    import cryptography_vectors

    return Path(cryptography_vectors.__file__).parent / "x509" / "e-trust.ru.der"


def _rsa_pss_cert() -> Path:
    import cryptography_vectors

    return Path(cryptography_vectors.__file__).parent / "x509" / "custom" / "rsa_pss_cert.pem"


@pytest.mark.parametrize("fmt", ["curl", "hpkp"])
@pytest.mark.parametrize("which", ["gost", "rsa-pss"])
def test_a_file_with_nothing_to_pin_by_key_is_an_error(
    fmt: str, which: str, capsys: pytest.CaptureFixture[str],
) -> None:
    path = _gost() if which == "gost" else _rsa_pss_cert()
    code, out, err = run(capsys, str(path), "--format", fmt)
    assert (code, out) == (1, "")
    line = one_error_line(err)
    assert line.startswith(f"certpin pins: error: {path}: no SPKI pin")
    assert "cert-sha256" in line


def test_one_unpinnable_target_does_not_hide_the_others(
    capsys: pytest.CaptureFixture[str], pki: TestPKI, tmp_path: Path,
) -> None:
    good = tmp_path / "root.pem"
    good.write_bytes(pem(pki.root))
    code, out, err = run(capsys, str(_gost()), str(good), "--format", "hpkp")
    assert code == 1
    assert out == f'pin-sha256="{spki_pin(pki.root).base64}"\n'
    assert "no SPKI pin" in one_error_line(err)


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl CLI")
def test_a_live_leaf_with_no_spki_pin_gives_no_curl_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path,
) -> None:
    """curl checks the leaf key only: an RSA-PSS leaf, whose SPKI pin certpin refuses."""
    key, crt = tmp_path / "pss.key", tmp_path / "pss.crt"
    subprocess.run(["openssl", "genpkey", "-algorithm", "RSA-PSS", "-pkeyopt",
                    "rsa_keygen_bits:2048", "-out", str(key)], check=True, capture_output=True)
    subprocess.run(["openssl", "req", "-new", "-x509", "-key", str(key), "-subj", "/CN=pss.test",
                    "-addext", "subjectAltName=IP:127.0.0.1", "-addext",
                    "basicConstraints=critical,CA:FALSE", "-addext",
                    "extendedKeyUsage=serverAuth", "-days", "2", "-out", str(crt)],
                   check=True, capture_output=True)
    import ssl

    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(str(crt), str(key))
    with RecordingTLSServer(ctx) as srv:
        code, out, err = run(capsys, f"127.0.0.1:{srv.port}", "--cafile", str(crt),
                             "--format", "curl")
    assert (code, out) == (1, "")
    line = one_error_line(err)
    assert line.startswith(f"certpin pins: error: 127.0.0.1:{srv.port}: no SPKI pin")
    assert "leaf" in line
