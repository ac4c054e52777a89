"""`certpin collect` as a real subprocess: reports in over HTTP, one JSON line each out."""

from __future__ import annotations

import http.client
import json
import subprocess
import sys
from collections.abc import Iterator

import pytest

from support.collect_cli import Collector


@pytest.fixture()
def collector() -> Iterator[Collector]:
    c = Collector()
    try:
        yield c
    finally:
        if c.proc.poll() is None:
            c.proc.kill()
            c.proc.communicate()


def test_collect_prints_each_report_as_one_json_line(collector: Collector) -> None:
    report = {"hostname": "pinned.test", "port": 443, "known-pins": ['pin-sha256="x"'],
              "validation-result": "pin-mismatch", "odd": "line\nbreak\x1b[31m"}
    assert collector.post(json.dumps(report).encode()) == 204
    assert collector.post(json.dumps({"second": True}).encode()) == 204
    rc, out, err = collector.stop()
    assert rc == 0
    lines = out.splitlines()
    assert len(lines) == 2
    assert json.loads(lines[0]) == report
    assert json.loads(lines[1]) == {"second": True}
    assert "\x1b" not in out  # control characters stay JSON-escaped on the terminal
    assert "Traceback" not in err


def test_collect_invalid_json_goes_to_stderr(collector: Collector) -> None:
    assert collector.post(b"{not json") == 400
    assert collector.post(b"\xff\xfe") == 400
    rc, out, err = collector.stop()
    assert rc == 0
    assert out == ""
    bad = [ln for ln in err.splitlines() if "invalid JSON" in ln]
    assert len(bad) == 2
    assert "(9 bytes)" in bad[0]


def test_collect_caps_bodies() -> None:
    c = Collector("--max-body", "100")
    try:
        assert c.post(json.dumps({"a": "x" * 200}).encode()) == 413
        assert c.post(json.dumps({"a": "x" * 50}).encode()) == 204
        rc, out, err = c.stop()
    finally:
        if c.proc.poll() is None:
            c.proc.kill()
    assert rc == 0
    assert [json.loads(ln) for ln in out.splitlines()] == [{"a": "x" * 50}]
    assert "refused (over 100)" in err


def test_collect_refuses_other_methods(collector: Collector) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", collector.port, timeout=10)
    conn.request("GET", "/")
    assert conn.getresponse().status == 405
    conn.close()
    rc, out, _ = collector.stop()
    assert (rc, out) == (0, "")


def test_collect_bad_arguments_exit_2() -> None:
    proc = subprocess.run([sys.executable, "-m", "certpin", "collect", "--port", "70000"],
                          capture_output=True, text=True, timeout=30)
    assert proc.returncode == 2
    assert proc.stderr.strip() == "certpin collect: error: --port must be 0..65535"
