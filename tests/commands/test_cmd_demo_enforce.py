"""The enforcement step of ``certpin demo``, run in-process."""

from __future__ import annotations

import io

import trustme

from certpin.commands.demo.enforce import run_enforcement_demo
from certpin.commands.demo.server import DemoServer, server_context


def test_enforcement_demo_refuses_the_impostor() -> None:
    ca = trustme.CA()
    lines: list[str] = []
    with DemoServer(server_context(ca, "localhost", "127.0.0.1")) as server:
        ok = run_enforcement_demo(ca=ca, port=server.port, host="localhost", say=lines.append)
        assert b"Bearer demo-secret-token" in server.received  # the pinned request went out
    text = "\n".join(lines)
    assert ok is True
    assert "pins matched" in text
    assert "Certificate pinning failure for localhost" in text
    assert "application bytes the impostor received: 0" in text


def test_demo_command_includes_the_enforcement_step() -> None:
    out = io.StringIO()
    from certpin.commands import demo

    assert any(step is demo.step_enforce for _, step in demo.STEPS)
    assert demo.run(None, out=out) == 0  # type: ignore[arg-type]
    text = out.getvalue()
    assert "refused before the request was sent" in text
    assert "application bytes the impostor received: 0" in text
