"""Real mitmproxy (reverse-proxy mode) in front of the legitimate server, its CA trusted by the
client: every stdlib/asyncio client path must refuse it, and the legitimate server behind it must
receive zero application bytes. A plain (unpinned) context is the control: it goes through, so
mitmproxy really intercepts.

mitmproxy lives in its own environment, ``.venv-mitm`` (installed by ``scripts/mitm-setup.sh``
from the clients branch, or by hand: ``python3.12 -m venv .venv-mitm && .venv-mitm/bin/pip
install 'mitmproxy>=12,<13'``); the tests are skipped when it is missing.
"""

from __future__ import annotations

import contextlib
import os
import socket
import ssl
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme
from test_tls_attacks import BODY, CLIENTS, Client, expect_refused, settle

from certpin import PinMismatchError
from certpin.context import create_ssl_context
from certpin.policy import PinPolicy
from support.enforce import RecordingTLSServer, intermediate, leaf_context, legit_leaf, policy

__all__ = ["intermediate", "legit_leaf", "policy"]

ROOT = Path(__file__).resolve().parents[2]
MITMDUMP = ROOT / ".venv-mitm" / "bin" / "mitmdump"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class Mitm:
    def __init__(self, port: int, ca_pem: str, log: Path) -> None:
        self.port, self.ca_pem, self.log = port, ca_pem, log


@pytest.fixture(scope="module")
def legit_behind_mitm(legit_leaf: trustme.LeafCert) -> Iterator[RecordingTLSServer]:
    with RecordingTLSServer(leaf_context(legit_leaf)) as srv:
        yield srv


@pytest.fixture(scope="module")
def mitm(legit_behind_mitm: RecordingTLSServer) -> Iterator[Mitm]:
    if not os.access(MITMDUMP, os.X_OK):
        pytest.skip(f"mitmproxy is not installed in {MITMDUMP.parent.parent}")
    with tempfile.TemporaryDirectory(prefix="certpin-mitm-") as confdir:
        port = _free_port()
        log = Path(confdir) / "mitmdump.log"
        with log.open("wb") as out:
            proc = subprocess.Popen(
                [str(MITMDUMP), "--mode", f"reverse:https://127.0.0.1:{legit_behind_mitm.port}",
                 "--listen-host", "127.0.0.1", "--listen-port", str(port),
                 "--set", f"confdir={confdir}", "--set", "ssl_insecure=true"],
                stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            )
        try:
            ca_file = Path(confdir) / "mitmproxy-ca-cert.pem"
            deadline = time.monotonic() + 60
            while True:
                if proc.poll() is not None:
                    pytest.fail("mitmdump exited: " + log.read_text(errors="replace")[-2000:])
                if ca_file.exists():
                    with contextlib.suppress(OSError), socket.create_connection(
                        ("127.0.0.1", port), 1
                    ):
                        break
                if time.monotonic() > deadline:
                    pytest.fail("mitmdump did not start within 60 s")
                time.sleep(0.1)
            yield Mitm(port, ca_file.read_text(), log)
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)


@pytest.fixture(params=sorted(CLIENTS))
def client(request: pytest.FixtureRequest) -> Client:
    return CLIENTS[request.param]


def test_plain_context_goes_through_mitmproxy(mitm: Mitm, ca: trustme.CA,
                                              legit_behind_mitm: RecordingTLSServer) -> None:
    """Control: validation alone accepts mitmproxy's certificate (its CA is trusted)."""
    from test_tls_attacks import socket_client

    plain = ssl.create_default_context(cadata=ca.cert_pem.bytes().decode() + mitm.ca_pem)
    before = len(legit_behind_mitm.received)
    assert socket_client(plain, mitm.port).endswith(BODY)
    assert len(legit_behind_mitm.received) > before  # mitmproxy relayed (and read) it
    time.sleep(0.3)
    assert "hunter2" in mitm.log.read_text(errors="replace")  # ... and logged the URL


def test_pinning_context_refuses_mitmproxy(client: Client, mitm: Mitm, ca: trustme.CA,
                                           policy: PinPolicy,
                                           legit_behind_mitm: RecordingTLSServer) -> None:
    ctx = create_ssl_context(policy, cadata=ca.cert_pem.bytes().decode() + mitm.ca_pem)
    before = legit_behind_mitm.received
    seen = mitm.log.read_text(errors="replace").count("hunter2")
    err = expect_refused(client, ctx, mitm.port, PinMismatchError)
    assert "mitmproxy" in str(err)  # the verified chain shown ends at mitmproxy's CA
    settle(legit_behind_mitm)
    assert legit_behind_mitm.received == before  # nothing reached the server behind it
    assert mitm.log.read_text(errors="replace").count("hunter2") == seen  # nor mitmproxy
