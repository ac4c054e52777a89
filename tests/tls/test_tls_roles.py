"""Pin roles enforced inside the TLS layer, against a real server on 127.0.0.1 (root ->
intermediate -> leaf): a role is where in the *verified* chain a pin may match."""

from __future__ import annotations

import hashlib
import socket
import ssl

import pytest
import trustme

from certpin import Pin, PinMismatchError, PinPolicy, PinSet
from certpin.context import create_ssl_context
from certpin.events import PinEvent
from certpin.tls import pinning_context, verified_chain
from certpin.verify import Outcome
from support.enforce import (
    HOST,
    RecordingTLSServer,
    intermediate,
    legit_leaf,
    legit_server,
    pem_pin,
)

__all__ = ["intermediate", "legit_leaf", "legit_server"]  # fixtures imported for pytest

#: A key in no chain: the second pin every pin set needs.
SPARE = Pin("spki", hashlib.sha256(b"offline backup key").digest())


def _policy(pinned: Pin, role: str | None, *, enforce: bool = True) -> PinPolicy:
    roles = {pinned: role} if role else None
    return PinPolicy({HOST: PinSet([pinned, SPARE], roles=roles, enforce=enforce)})  # type: ignore[arg-type]


def get(ctx: ssl.SSLContext, port: int) -> tuple[bytes, list[bytes]]:
    """One request to ``HOST`` on 127.0.0.1:``port``: the response and the verified chain."""
    raw = socket.create_connection(("127.0.0.1", port), timeout=10)
    with ctx.wrap_socket(raw, server_hostname=HOST) as tls:
        chain = verified_chain(tls)
        tls.sendall(b"GET / HTTP/1.1\r\nHost: pinned.test\r\n\r\n")
        data = b""
        while not data.endswith(b"server"):
            chunk = tls.recv(65536)
            if not chunk:
                break
            data += chunk
    return data, chain


@pytest.mark.parametrize(
    ("which", "role", "passes"),
    [
        ("intermediate", "leaf", False),
        ("intermediate", "ca", True),
        ("intermediate", None, True),
        ("leaf", "ca", False),
        ("leaf", "leaf", True),
        ("root", "ca", True),
        ("root", "leaf", False),
    ],
)
def test_roles_decide_where_a_pin_matches(
    which: str, role: str | None, passes: bool, ca: trustme.CA, intermediate: trustme.CA,
    legit_leaf: trustme.LeafCert, legit_server: RecordingTLSServer,
) -> None:
    pem = {"leaf": legit_leaf.cert_chain_pems[0].bytes(),
           "intermediate": intermediate.cert_pem.bytes(), "root": ca.cert_pem.bytes()}[which]
    ctx = create_ssl_context(_policy(pem_pin(pem), role), cadata=ca.cert_pem.bytes().decode())
    if passes:
        data, chain = get(ctx, legit_server.port)
        assert data.endswith(b"server")
        assert len(chain) == 3
        return
    with pytest.raises(PinMismatchError) as caught:
        get(ctx, legit_server.port)
    position = {"leaf": 0, "intermediate": 1, "root": 2}[which]
    assert f"has role {role}: it is in the verified chain at position {position}" in str(
        caught.value)
    assert legit_server.received == b""


def test_report_only_with_a_misplaced_pin_reports_and_proceeds(
    ca: trustme.CA, intermediate: trustme.CA, legit_server: RecordingTLSServer,
) -> None:
    events: list[PinEvent] = []
    policy = _policy(pem_pin(intermediate.cert_pem.bytes()), "leaf", enforce=False)
    ctx = pinning_context(policy, cadata=ca.cert_pem.bytes().decode(), reporter=events.append)
    data, _ = get(ctx, legit_server.port)
    assert data.endswith(b"server")
    assert [e.kind for e in events] == ["report-only-mismatch"]
    verdict = events[0].verdict
    assert verdict is not None and verdict.outcome == Outcome.REPORT_ONLY_MISMATCH
    assert verdict.misplaced == ((pem_pin(intermediate.cert_pem.bytes()), 1),)
