"""The setup of the adversarial reviews of the client helpers (review10, review10b).

An IMPOSTOR on 127.0.0.1 (support.recording.RecordingServer, or a minimal FTP impostor): its
certificate comes from a CA the client trusts and names ``localhost``, ``127.0.0.1``, ``::1`` and
``unpinned.test``, but its key is not pinned. The policy pins ``localhost``, ``127.0.0.1`` and
``::1``; ``unpinned.test`` (also 127.0.0.1) is allowed. A test drives a helper through its
library's documented API and asserts that the impostor received ZERO application bytes (request
line, CONNECT line, Proxy-Authorization, FTP command).

The ``review`` fixture is module-scoped and, while it lives, points the "system" trust store
(SSL_CERT_FILE) at both CAs, clears the proxy variables and resolves names to loopback only: a
module that imports it keeps the tests using it last.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import tempfile
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import trustme

import certpin
from support.clientkit import ca_pin, served
from support.recording import RecordingServer, loopback_only

PINNED = ("localhost", "127.0.0.1", "::1")
TIMEOUT = 2.0
PROXY_AUTH = "Basic cHVzZXI6cHNlY3JldA=="  # puser:psecret


@dataclass
class Review:
    impostor: RecordingServer
    legit: RecordingServer
    redirector: RecordingServer
    policy: certpin.PinPolicy
    cadata: str
    bundle: str


@pytest.fixture(scope="module")
def review(ca: trustme.CA, attacker_ca: trustme.CA) -> Iterator[Review]:
    legit = served(ca.issue_cert("localhost", "127.0.0.1", "::1"))
    impostor = served(attacker_ca.issue_cert("localhost", "127.0.0.1", "::1", "unpinned.test"))
    pins = certpin.PinSet([legit.pin, ca_pin(ca)])
    policy = certpin.PinPolicy({h: pins for h in PINNED}, unknown_hosts="allow")
    cadata = ca.cert_pem.bytes().decode() + attacker_ca.cert_pem.bytes().decode()
    with contextlib.ExitStack() as stack, tempfile.TemporaryDirectory() as tmp:
        bundle = Path(tmp, "system-roots.pem")
        bundle.write_text(cadata)
        mp = stack.enter_context(pytest.MonkeyPatch.context())
        mp.setenv("SSL_CERT_FILE", str(bundle))
        mp.setenv("SSL_CERT_DIR", tmp)
        for var in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY",
                    "all_proxy", "WS_PROXY", "ws_proxy", "WSS_PROXY", "wss_proxy", "NO_PROXY",
                    "no_proxy", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
            mp.delenv(var, raising=False)
        stack.enter_context(loopback_only({"localhost": "127.0.0.1",
                                           "unpinned.test": "127.0.0.1"}))
        imp = stack.enter_context(RecordingServer(impostor.context()))
        good = stack.enter_context(RecordingServer(legit.context()))
        redirector = stack.enter_context(RecordingServer(legit.context()))
        yield Review(imp, good, redirector, policy, cadata, str(bundle))


def attempt(fn: Callable[[], Any]) -> object:
    try:
        out = fn()
        if asyncio.iscoroutine(out):
            out = asyncio.run(out)
        return out
    except Exception as exc:  # any refusal or failure is fine: the recorder is the judge
        return exc


def assert_zero_bytes(server: RecordingServer, mark: int, what: str, outcome: object) -> None:
    leaked = [r for r in server.since(mark) if r.data]
    assert not leaked, (
        f"{what}: the impostor received application bytes: "
        + "; ".join(r.describe() for r in leaked) + f". The helper returned {outcome!r}"
    )


class FtpImpostor:
    """Clear-text TCP on 127.0.0.1 that greets like an FTP server and records what it gets."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        self.data = b""
        self.lock = threading.Lock()
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.thread.start()

    def _loop(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                conn.settimeout(TIMEOUT)
                with contextlib.suppress(OSError):
                    conn.sendall(b"220 ready\r\n")
                    while chunk := conn.recv(4096):
                        with self.lock:
                            self.data += chunk
                        verb = chunk.split(b" ")[0].strip().upper()
                        conn.sendall({b"USER": b"331 password\r\n",
                                      b"PASS": b"230 in\r\n"}.get(verb, b"500 no\r\n"))

    def close(self) -> None:
        self.sock.close()
