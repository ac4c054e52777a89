"""OP_NO_RENEGOTIATION, against an independent server: ``openssl s_server`` on TLS 1.2.

The server asks for a renegotiation (its ``r`` command sends a HelloRequest) and then sends a
line. A plain client renegotiates inside ``read()`` (a second ClientHello: a new certificate
could be presented there, which no pin check would see); the pinning context's client refuses
(no second ClientHello) and still reads the line.
"""

from __future__ import annotations

import shutil
import socket
import ssl
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme

from support.enforce import HOST, intermediate, legit_leaf, pinned_ctx, policy, trust_pem

__all__ = ["intermediate", "legit_leaf", "pinned_ctx", "policy", "trust_pem"]

OPENSSL = shutil.which("openssl")
pytestmark = pytest.mark.skipif(OPENSSL is None, reason="openssl command not installed")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class SServer:
    def __init__(self, proc: subprocess.Popen[bytes], port: int, log: Path) -> None:
        self.proc, self.port, self.log = proc, port, log

    def command(self, line: bytes) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(line)
        self.proc.stdin.flush()

    def output(self) -> str:
        return self.log.read_text(errors="replace")


@pytest.fixture()
def s_server(legit_leaf: trustme.LeafCert, tmp_path: Path) -> Iterator[SServer]:
    key, cert, chain = tmp_path / "key.pem", tmp_path / "cert.pem", tmp_path / "chain.pem"
    legit_leaf.private_key_pem.write_to_path(str(key))
    legit_leaf.cert_chain_pems[0].write_to_path(str(cert))
    chain.write_bytes(b"".join(p.bytes() for p in legit_leaf.cert_chain_pems[1:]))
    port = _free_port()
    log = tmp_path / "s_server.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [str(OPENSSL), "s_server", "-accept", f"127.0.0.1:{port}", "-naccept", "1",
             "-tls1_2", "-msg", "-cert", str(cert), "-key", str(key), "-cert_chain", str(chain)],
            stdin=subprocess.PIPE, stdout=out, stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 10
        while "ACCEPT" not in log.read_text(errors="replace"):
            if time.monotonic() > deadline or proc.poll() is not None:
                pytest.fail("openssl s_server did not start:\n" + log.read_text())
            time.sleep(0.05)
        yield SServer(proc, port, log)
    finally:
        if proc.stdin is not None:
            proc.stdin.close()
        proc.terminate()
        proc.wait(timeout=10)


def _renegotiation_round(ctx: ssl.SSLContext, server: SServer) -> bytes:
    raw = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    with ctx.wrap_socket(raw, server_hostname=HOST) as tls:
        assert tls.version() == "TLSv1.2"
        server.command(b"r\n")  # s_server: SSL_renegotiate, sends HelloRequest
        time.sleep(0.3)
        server.command(b"after-renegotiation\n")
        data = b""
        while b"after-renegotiation" not in data:
            chunk = tls.recv(4096)
            if not chunk:
                break
            data += chunk
        return data


def _client_hellos(text: str) -> int:
    return sum(1 for line in text.splitlines() if "<<<" in line and "ClientHello" in line)


def test_plain_client_renegotiates(s_server: SServer, trust_pem: str) -> None:
    """Control: without OP_NO_RENEGOTIATION the client answers with a second ClientHello."""
    plain = ssl.create_default_context(cadata=trust_pem)
    assert not plain.options & ssl.OP_NO_RENEGOTIATION
    assert b"after-renegotiation" in _renegotiation_round(plain, s_server)
    time.sleep(0.2)
    assert _client_hellos(s_server.output()) == 2, s_server.output()


def test_pinning_client_refuses_renegotiation(s_server: SServer,
                                              pinned_ctx: ssl.SSLContext) -> None:
    data = _renegotiation_round(pinned_ctx, s_server)
    assert b"after-renegotiation" in data
    time.sleep(0.2)
    out = s_server.output()
    assert _client_hellos(out) == 1, out
    assert "no_renegotiation" in out or "no renegotiation" in out, out
