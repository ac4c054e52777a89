"""`certpin collect` as a real subprocess: reports in over HTTP, one JSON line each out."""

from __future__ import annotations

import http.client
import json
import socket
import subprocess
import sys
from collections.abc import Iterator

import pytest

from certpin.cli import main
from support.cli import one_error_line
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


# ------------------------------------------------------------ regressions
# Moved here from the files that grouped them by who found them (red team, reviews).


# regression: collect on a busy port: a one-line error naming the address (found by the review of
#   hostile input)
def test_collect_address_in_use_names_the_address(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        assert main(["collect", "--port", str(port)]) == 2
    _, err = capsys.readouterr()
    line = one_error_line(err)
    assert f"127.0.0.1:{port}" in line


# regression: collect --host that does not resolve: a one-line error naming it (found by the review
#   of hostile input)
def test_collect_unresolvable_host_names_it(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["collect", "--port", "0", "--host", "no-such-host.invalid"]) == 2
    _, err = capsys.readouterr()
    assert "no-such-host.invalid" in one_error_line(err)


# regression: collect --host [::1] (the URL form it prints itself) failed to resolve (found by the
#   review of hostile input)
def test_collect_accepts_a_bracketed_ipv6_host(capsys: pytest.CaptureFixture[str]) -> None:
    # '--host [::1]' (the URL form the collector itself prints) failed to resolve; a busy
    # port makes the command return at once and shows the address it tried.
    with socket.socket(socket.AF_INET6) as busy:
        busy.bind(("::1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        assert main(["collect", "--port", str(port), "--host", "[::1]"]) == 2
    _, err = capsys.readouterr()
    line = one_error_line(err)
    assert f"cannot listen on [::1]:{port}:" in line
    assert "[[" not in line
