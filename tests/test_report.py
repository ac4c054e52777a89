"""Violation reports end to end: real TLS servers (trustme CAs), real clients, real collectors.

Every test runs a plain HTTP collector on 127.0.0.1 (``support.report_collector``) or an HTTPS one
(``RecordingTLSServer``) and checks what arrived there, field by field.
"""

from __future__ import annotations

import asyncio
import http.client
import json
import logging
import os
import socket
import ssl
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import trustme
from hypothesis import given
from hypothesis import strategies as st

import certpin
import certpin.reporter
from certpin import Pin, PinMismatchError, PinPolicy, PinSet, spki_pin
from certpin.context import create_ssl_context
from certpin.pins import load_certificates
from certpin.report import ViolationReport
from certpin.report_delivery import Delivery, Sender, flush, redact_uri
from certpin.report_throttle import RATE_BURST
from certpin.reporter import make_reporter
from certpin.tls import pinning_context
from conftest import server_context
from support.report_collector import ReportCollector, closed_port
from support.servers import RecordingTLSServer, local_names

KEYS = {
    "date-time", "hostname", "port", "effective-expiration-date", "include-subdomains",
    "noted-hostname", "served-certificate-chain", "validated-certificate-chain", "known-pins",
    "certpin-version", "validation-result",
}


def ca_pin(ca: trustme.CA) -> Pin:
    return spki_pin(load_certificates(ca.cert_pem.bytes())[0])


def backup_pin() -> Pin:
    return Pin("spki", b"\x42" * 32)


def pin_set(ca: trustme.CA, **kwargs: object) -> PinSet:
    return PinSet([ca_pin(ca), backup_pin()], **kwargs)  # type: ignore[arg-type]


def trust(*cas: trustme.CA) -> str:
    return "".join(c.cert_pem.bytes().decode() for c in cas)


def get(ctx: ssl.SSLContext, port: int, host: str = "pinned.test", path: str = "/",
        headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    conn = http.client.HTTPSConnection(host, port, context=ctx, timeout=10)
    try:
        conn.request("GET", path, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


@pytest.fixture()
def collector() -> Iterator[ReportCollector]:
    with ReportCollector() as c:
        yield c


@pytest.fixture(scope="session")
def attacker_cert(attacker_ca: trustme.CA) -> trustme.LeafCert:
    return attacker_ca.issue_cert("pinned.test", "*.pinned.test", "127.0.0.1")


@pytest.fixture()
def attacker(attacker_cert: trustme.LeafCert) -> Iterator[RecordingTLSServer]:
    """An impostor for pinned.test with a certificate from a CA the client also trusts."""
    with RecordingTLSServer(server_context(attacker_cert)) as srv:
        yield srv


def pem_of(cert: trustme.LeafCert) -> str:
    return cert.cert_chain_pems[0].bytes().decode()


# --------------------------------------------------------------------------------------------
# The three kinds of events


def test_report_only_mismatch_reaches_collector_and_request_succeeds(
    ca: trustme.CA, attacker_ca: trustme.CA, attacker: RecordingTLSServer,
    attacker_cert: trustme.LeafCert, collector: ReportCollector,
    caplog: pytest.LogCaptureFixture,
) -> None:
    expires = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)
    policy = PinPolicy({"pinned.test": pin_set(
        ca, enforce=False, report_uris=[collector.uri], expires=expires)})
    ctx = create_ssl_context(policy, cadata=trust(ca, attacker_ca))
    before = datetime.now(UTC).replace(microsecond=0)
    with caplog.at_level(logging.WARNING, logger="certpin"), local_names("pinned.test"):
        status, body = get(ctx, attacker.port, path="/secret-path?token=abc123",
                           headers={"Cookie": "session=cookie-value",
                                    "Authorization": "Bearer tok-xyz"})
    assert (status, body) == (200, b"hello from the pinned server")
    assert collector.wait_for(1)
    assert flush(5)
    [(path, headers, raw)] = collector.posts
    assert path == "/report"
    assert headers["Content-Type"] == "application/json"
    assert "Cookie" not in headers and "Authorization" not in headers
    report = json.loads(raw)
    assert set(report) == KEYS
    assert report["hostname"] == "pinned.test"
    assert report["port"] == attacker.port
    assert report["validation-result"] == "report-only-mismatch"
    assert report["noted-hostname"] == "pinned.test"
    assert report["include-subdomains"] is False
    assert report["effective-expiration-date"] == "2030-01-02T03:04:05Z"
    assert report["known-pins"] == [
        f'pin-sha256="{ca_pin(ca).base64}"', f'pin-sha256="{backup_pin().base64}"'
    ]
    assert report["served-certificate-chain"] == [pem_of(attacker_cert)]
    assert report["validated-certificate-chain"] == [
        pem_of(attacker_cert), attacker_ca.cert_pem.bytes().decode()
    ]
    assert report["certpin-version"] == certpin.__version__
    when = datetime.fromisoformat(report["date-time"].replace("Z", "+00:00"))
    assert before <= when <= datetime.now(UTC)
    assert report["date-time"].endswith("Z")
    # no request data: path, query, cookie, token never reach the report
    for secret in (b"secret-path", b"abc123", b"cookie-value", b"tok-xyz", b"Cookie"):
        assert secret not in raw
    # the request itself went through (report-only), and a warning was logged
    assert b"GET /secret-path" in attacker.received
    # a second mismatch a moment later: request fine, no second warning (rate-limited log)
    with caplog.at_level(logging.WARNING, logger="certpin"), local_names("pinned.test"):
        assert get(ctx, attacker.port)[0] == 200
    warnings = [r for r in caplog.records if "report-only pin mismatch" in r.getMessage()]
    assert len(warnings) == 1
    assert warnings[0].levelno == logging.WARNING


def test_enforced_mismatch_is_reported_and_request_fails(
    ca: trustme.CA, attacker_ca: trustme.CA, attacker: RecordingTLSServer,
    collector: ReportCollector,
) -> None:
    policy = PinPolicy({"pinned.test": pin_set(ca, report_uris=[collector.uri])})
    ctx = create_ssl_context(policy, cadata=trust(ca, attacker_ca))
    with local_names("pinned.test"), pytest.raises(PinMismatchError):
        get(ctx, attacker.port)
    assert attacker.received == b""
    assert collector.wait_for(1)
    [report] = collector.reports
    assert report["validation-result"] == "pin-mismatch"
    assert report["hostname"] == "pinned.test"
    assert report["port"] == attacker.port
    assert report["effective-expiration-date"] is None
    assert len(report["validated-certificate-chain"]) == 2


def test_legitimate_server_sends_no_report(
    ca: trustme.CA, server: RecordingTLSServer, collector: ReportCollector,
) -> None:
    reports: list[ViolationReport] = []
    policy = PinPolicy({"pinned.test": pin_set(ca, report_uris=[collector.uri])})
    ctx = create_ssl_context(policy, cadata=trust(ca), on_report=reports.append)
    with local_names("pinned.test"):
        assert get(ctx, server.port)[0] == 200
    assert flush(5)
    assert collector.posts == [] and reports == []


def test_certificate_invalid_is_reported_for_pinned_host(
    ca: trustme.CA, collector: ReportCollector,
) -> None:
    untrusted = trustme.CA(organization_name="untrusted CA")
    cert = untrusted.issue_cert("pinned.test")
    policy = PinPolicy({"pinned.test": pin_set(ca, report_uris=[collector.uri])})
    ctx = create_ssl_context(policy, cadata=trust(ca))
    with RecordingTLSServer(server_context(cert)) as impostor, local_names("pinned.test"):
        with pytest.raises(ssl.SSLCertVerificationError) as info:
            get(ctx, impostor.port)
        assert not isinstance(info.value, PinMismatchError)
        assert impostor.received == b""
    assert collector.wait_for(1)
    [report] = collector.reports
    assert report["validation-result"] == "certificate-invalid"
    assert report["hostname"] == "pinned.test"
    assert report["validated-certificate-chain"] == []


def test_wrong_host_is_reported_as_certificate_invalid(
    ca: trustme.CA, collector: ReportCollector,
) -> None:
    cert = ca.issue_cert("other.test")
    policy = PinPolicy({"pinned.test": pin_set(ca, report_uris=[collector.uri])})
    ctx = create_ssl_context(policy, cadata=trust(ca))
    with RecordingTLSServer(server_context(cert)) as srv, local_names("pinned.test"):
        with pytest.raises(ssl.SSLCertVerificationError):
            get(ctx, srv.port)
        assert srv.received == b""
    assert collector.wait_for(1)
    assert [r["validation-result"] for r in collector.reports] == ["certificate-invalid"]


def test_unpinned_host_failure_is_not_reported(ca: trustme.CA,
                                               collector: ReportCollector) -> None:
    untrusted = trustme.CA()
    policy = PinPolicy({"pinned.test": pin_set(ca, report_uris=[collector.uri])})
    ctx = create_ssl_context(policy, cadata=trust(ca))
    with RecordingTLSServer(server_context(untrusted.issue_cert("other.test"))) as srv, \
            local_names("other.test"), pytest.raises(ssl.SSLCertVerificationError):
        get(ctx, srv.port, host="other.test")
    assert flush(5)
    assert collector.posts == []


def test_asyncio_path_reports_with_null_port(
    ca: trustme.CA, attacker_ca: trustme.CA, attacker: RecordingTLSServer,
    collector: ReportCollector,
) -> None:
    policy = PinPolicy({"pinned.test": pin_set(ca, enforce=False, report_uris=[collector.uri])})
    ctx = create_ssl_context(policy, cadata=trust(ca, attacker_ca))

    async def main() -> bytes:
        reader, writer = await asyncio.open_connection(
            "127.0.0.1", attacker.port, ssl=ctx, server_hostname="pinned.test")
        writer.write(b"GET / HTTP/1.1\r\nHost: pinned.test\r\n\r\n")
        data = await reader.read(12)
        writer.close()
        return data

    assert asyncio.run(main()) == b"HTTP/1.1 200"
    assert collector.wait_for(1)
    [report] = collector.reports
    assert report["port"] is None
    assert report["validation-result"] == "report-only-mismatch"


def test_asyncio_certificate_invalid_is_reported(
    ca: trustme.CA, collector: ReportCollector,
) -> None:
    untrusted = trustme.CA(organization_name="untrusted CA")
    policy = PinPolicy({"pinned.test": pin_set(ca, report_uris=[collector.uri])})
    ctx = create_ssl_context(policy, cadata=trust(ca))

    async def main() -> None:
        await asyncio.open_connection("127.0.0.1", srv.port, ssl=ctx,
                                      server_hostname="PINNED.test.")

    with RecordingTLSServer(server_context(untrusted.issue_cert("pinned.test"))) as srv:
        with pytest.raises(ssl.SSLCertVerificationError):
            asyncio.run(main())
        assert srv.received == b""
    assert collector.wait_for(1)
    [report] = collector.reports
    assert report["validation-result"] == "certificate-invalid"
    assert report["hostname"] == "pinned.test"  # normalised
    assert report["port"] is None


def test_report_reaches_certpin_collect(
    ca: trustme.CA, attacker_ca: trustme.CA, attacker: RecordingTLSServer,
) -> None:
    from support.collect_cli import Collector

    cli = Collector()
    try:
        uri = f"http://127.0.0.1:{cli.port}/pins"
        policy = PinPolicy({"pinned.test": pin_set(ca, enforce=False, report_uris=[uri])})
        ctx = create_ssl_context(policy, cadata=trust(ca, attacker_ca))
        with local_names("pinned.test"):
            assert get(ctx, attacker.port)[0] == 200
        assert flush(10)
        rc, out, _ = cli.stop()
    finally:
        if cli.proc.poll() is None:
            cli.proc.kill()
    assert rc == 0
    [line] = out.splitlines()
    report = json.loads(line)
    assert set(report) == KEYS
    assert report["validation-result"] == "report-only-mismatch"
    assert report["port"] == attacker.port


# --------------------------------------------------------------------------------------------
# on_report


def test_on_report_receives_the_dataclass(
    ca: trustme.CA, attacker_ca: trustme.CA, attacker: RecordingTLSServer,
) -> None:
    got: list[ViolationReport] = []
    policy = PinPolicy({"pinned.test": pin_set(ca)})  # no report URI: callback only
    ctx = create_ssl_context(policy, cadata=trust(ca, attacker_ca), on_report=got.append)
    with local_names("pinned.test"), pytest.raises(PinMismatchError):
        get(ctx, attacker.port)
    [report] = got
    assert isinstance(report, ViolationReport)
    assert report.validation_result == "pin-mismatch"
    assert report.hostname == "pinned.test"
    assert report.port == attacker.port
    assert report.known_pins == (f'pin-sha256="{ca_pin(ca).base64}"',
                                 f'pin-sha256="{backup_pin().base64}"')
    assert set(report.to_json()) == KEYS
    assert attacker.settle().received == b""  # the failing request sent nothing


def test_on_report_exception_never_reaches_the_connection(
    ca: trustme.CA, attacker_ca: trustme.CA, attacker: RecordingTLSServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    def boom(report: ViolationReport) -> None:
        raise RuntimeError("callback broke")

    for enforce in (False, True):
        policy = PinPolicy({"pinned.test": pin_set(ca, enforce=enforce)})
        ctx = create_ssl_context(policy, cadata=trust(ca, attacker_ca), on_report=boom)
        with local_names("pinned.test"):
            if enforce:
                before = attacker.settle().received  # the report-only request went through
                with pytest.raises(PinMismatchError):
                    get(ctx, attacker.port)
                assert attacker.settle().received == before  # the enforced one sent nothing
            else:
                assert get(ctx, attacker.port)[0] == 200
    assert any("callback broke" in r.getMessage() for r in caplog.records)


def test_cert_pins_use_cert_sha256_notation(
    ca: trustme.CA, attacker_ca: trustme.CA, attacker: RecordingTLSServer,
    server_cert: trustme.LeafCert,
) -> None:
    leaf = load_certificates(server_cert.cert_chain_pems[0].bytes())[0]
    cpin = certpin.cert_pin(leaf)
    got: list[ViolationReport] = []
    policy = PinPolicy({"pinned.test": PinSet([cpin], allow_single_pin=True,
                                              backup_pins=[backup_pin()])})
    ctx = create_ssl_context(policy, cadata=trust(ca, attacker_ca), on_report=got.append)
    with local_names("pinned.test"), pytest.raises(PinMismatchError):
        get(ctx, attacker.port)
    assert got[0].known_pins == (f'cert-sha256="{cpin.base64}"',
                                 f'pin-sha256="{backup_pin().base64}"')
    assert attacker.settle().received == b""  # the failing request sent nothing


def test_make_reporter_none_when_nothing_to_report(ca: trustme.CA) -> None:
    policy = PinPolicy({"pinned.test": pin_set(ca)})
    assert make_reporter(policy) is None
    assert make_reporter(policy, on_report=lambda r: None) is not None
    assert make_reporter(PinPolicy({"pinned.test": pin_set(ca, enforce=False)})) is not None
    assert make_reporter(PinPolicy({"pinned.test": pin_set(
        ca, report_uris=["http://127.0.0.1:9/"])})) is not None


# --------------------------------------------------------------------------------------------
# Delivery: dedup, rate limit, bounds, failures


def test_dedup_100_identical_failures_send_one_report(
    ca: trustme.CA, attacker_ca: trustme.CA, attacker: RecordingTLSServer,
    collector: ReportCollector,
) -> None:
    got: list[ViolationReport] = []
    policy = PinPolicy({"pinned.test": pin_set(ca, report_uris=[collector.uri])})
    ctx = create_ssl_context(policy, cadata=trust(ca, attacker_ca), on_report=got.append)
    with local_names("pinned.test"):
        for _ in range(100):
            with pytest.raises(PinMismatchError):
                get(ctx, attacker.port)
    assert flush(10)
    assert len(collector.posts) == 1
    assert len(got) == 100  # the callback sees every event; only the POSTs are deduplicated
    assert attacker.received == b""


def test_rate_limit_per_report_uri(
    ca: trustme.CA, attacker_ca: trustme.CA, attacker: RecordingTLSServer,
) -> None:
    # an attacker varying the report (here: the host name) defeats dedup; the bucket holds
    names = [f"h{i}.pinned.test" for i in range(RATE_BURST + 8)]
    with ReportCollector() as one, ReportCollector() as two:
        policy = PinPolicy({"pinned.test": pin_set(
            ca, include_subdomains=True, report_uris=[one.uri, two.uri])})
        ctx = create_ssl_context(policy, cadata=trust(ca, attacker_ca))
        start = time.monotonic()
        with local_names(*names):
            for name in names:
                with pytest.raises(PinMismatchError):
                    get(ctx, attacker.port, host=name)
        elapsed = time.monotonic() - start
        assert flush(10)
        refill = int(elapsed / 6.0)  # 10 a minute: one token every 6 s
        for c in (one, two):  # each URI has its own bucket
            assert RATE_BURST <= len(c.posts) <= RATE_BURST + refill
            assert len({r["hostname"] for r in c.reports}) == len(c.posts)
    assert attacker.settle().received == b""  # the failing request sent nothing


def test_collector_down_request_fails_fast_and_logs_without_secrets(
    ca: trustme.CA, attacker_ca: trustme.CA, attacker: RecordingTLSServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    port = closed_port()
    uri = f"http://user:hunter2@127.0.0.1:{port}/r?token=s3cret#frag"
    policy = PinPolicy({"pinned.test": pin_set(ca, report_uris=[uri])})
    ctx = create_ssl_context(policy, cadata=trust(ca, attacker_ca))
    with caplog.at_level(logging.WARNING, logger="certpin"), local_names("pinned.test"):
        start = time.monotonic()
        with pytest.raises(PinMismatchError):
            get(ctx, attacker.port)
        assert time.monotonic() - start < 1.0
        assert flush(10)
    failed = [r.getMessage() for r in caplog.records if "violation report to" in r.getMessage()]
    assert len(failed) == 1
    assert f"http://127.0.0.1:{port}/r failed: ConnectionRefusedError" in failed[0]
    text = "\n".join(r.getMessage() for r in caplog.records)
    for secret in ("hunter2", "user", "s3cret", "token", "frag"):
        assert secret not in text
    assert attacker.settle().received == b""  # the failing request sent nothing


def test_report_uri_userinfo_is_never_sent_and_query_is_kept(
    ca: trustme.CA, attacker_ca: trustme.CA, attacker: RecordingTLSServer,
    collector: ReportCollector, caplog: pytest.LogCaptureFixture,
) -> None:
    uri = f"http://alice:hunter2@127.0.0.1:{collector.port}/report?key=k3y"
    policy = PinPolicy({"pinned.test": pin_set(ca, report_uris=[uri])})
    ctx = create_ssl_context(policy, cadata=trust(ca, attacker_ca))
    with caplog.at_level(logging.DEBUG, logger="certpin"), local_names("pinned.test"):
        for _ in range(2):  # the second one is deduplicated (a debug line names the URI)
            with pytest.raises(PinMismatchError):
                get(ctx, attacker.port)
        assert flush(10)
    [(path, headers, _)] = collector.posts
    assert path == "/report?key=k3y"
    assert {k.lower() for k in headers} == {
        "host", "content-type", "content-length", "connection", "user-agent"}
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert f"http://127.0.0.1:{collector.port}/report" in text
    for secret in ("alice", "hunter2", "k3y"):
        assert secret not in text
    assert attacker.settle().received == b""  # the failing request sent nothing


def test_collector_sleeping_does_not_delay_the_failure(
    ca: trustme.CA, attacker_ca: trustme.CA, attacker: RecordingTLSServer,
) -> None:
    with ReportCollector(delay=30) as slow:
        policy = PinPolicy({"pinned.test": pin_set(ca, report_uris=[slow.uri])})
        ctx = create_ssl_context(policy, cadata=trust(ca, attacker_ca))
        with local_names("pinned.test"):
            for _ in range(3):
                start = time.monotonic()
                with pytest.raises(PinMismatchError):
                    get(ctx, attacker.port)
                assert time.monotonic() - start < 1.0
        assert slow.wait_for(1, started=True)
    assert attacker.settle().received == b""  # the failing request sent nothing


def test_collector_500_and_redirect_are_only_logged(
    ca: trustme.CA, attacker_ca: trustme.CA, attacker: RecordingTLSServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    with ReportCollector(status=500) as broken, ReportCollector(status=302) as moved:
        policy = PinPolicy({"pinned.test": pin_set(
            ca, enforce=False, report_uris=[broken.uri, moved.uri])})
        ctx = create_ssl_context(policy, cadata=trust(ca, attacker_ca))
        with caplog.at_level(logging.WARNING, logger="certpin"), local_names("pinned.test"):
            assert get(ctx, attacker.port)[0] == 200
            assert flush(10)
        assert len(broken.posts) == 1 and len(moved.posts) == 1
    messages = [r.getMessage() for r in caplog.records]
    assert any("HTTP 500" in m for m in messages)
    assert any("HTTP 302" in m for m in messages)  # not followed: a failure, logged


def test_queue_is_bounded(caplog: pytest.LogCaptureFixture) -> None:
    with ReportCollector(delay=30) as slow:
        sender = Sender(queue_size=2, rate_burst=100)

        def ctx() -> ssl.SSLContext:
            raise AssertionError("plain http needs no context")

        with caplog.at_level(logging.WARNING, logger="certpin"):
            accepted = [sender.submit(Delivery(slow.uri, b"{}", f"key{i}", ctx))
                        for i in range(10)]
        # one in flight (the collector hangs), two waiting: the rest dropped
        assert slow.wait_for(1, started=True)
        assert 2 <= accepted.count(True) <= 3
        assert accepted[-1] is False
        assert any("queue full" in r.getMessage() for r in caplog.records)


def test_body_cap_cuts_chains_then_drops(
    ca: trustme.CA, attacker_ca: trustme.CA, caplog: pytest.LogCaptureFixture,
) -> None:
    child = attacker_ca.create_child_ca()
    cert = child.issue_cert("pinned.test")
    cadata = trust(ca, attacker_ca)

    def one_failure(max_body: int, collector: ReportCollector) -> None:
        policy = PinPolicy({"pinned.test": pin_set(ca, report_uris=[collector.uri])})
        ctx = pinning_context(policy, cadata=cadata,
                              reporter=make_reporter(policy, max_body=max_body))
        with pytest.raises(PinMismatchError):
            get(ctx, srv.port)
        assert flush(10)

    with RecordingTLSServer(server_context(cert)) as srv, local_names("pinned.test"), \
            ReportCollector() as c1, ReportCollector() as c2, ReportCollector() as c3, \
            ReportCollector() as c4:
        # the full body: served chain of 2 certificates (leaf, intermediate), validated 3
        one_failure(64 * 1024, c1)
        [(_, _, first)] = c1.posts
        assert len(json.loads(first)["served-certificate-chain"]) == 2
        assert len(json.loads(first)["validated-certificate-chain"]) == 3
        # a cap just below it: the served chain is cut to its leaf first
        one_failure(len(first) - 1, c2)
        [(_, _, second)] = c2.posts
        assert len(second) <= len(first) - 1
        cut = json.loads(second)
        assert cut["served-certificate-chain"] == [pem_of(cert)]
        assert len(cut["validated-certificate-chain"]) == 3
        # below that too: the validated chain as well
        one_failure(len(second) - 1, c4)
        [(_, _, third)] = c4.posts
        cut = json.loads(third)
        assert cut["served-certificate-chain"] == [pem_of(cert)]
        assert cut["validated-certificate-chain"] == [pem_of(cert)]
        assert len(third) <= len(second) - 1
        # a cap that nothing fits under: dropped, logged
        with caplog.at_level(logging.WARNING, logger="certpin"):
            one_failure(200, c3)
        assert c3.posts == []
        assert srv.received == b""
    assert any("exceeds 200 bytes" in r.getMessage() for r in caplog.records)


# --------------------------------------------------------------------------------------------
# https report URIs: pin-validated, never a loop


def https_collector(cert: trustme.LeafCert) -> RecordingTLSServer:
    return RecordingTLSServer(server_context(cert), body=b"")


def test_https_report_uri_to_pinned_host_is_delivered_when_pins_match(
    ca: trustme.CA, attacker_ca: trustme.CA, attacker: RecordingTLSServer,
    server_cert: trustme.LeafCert,
) -> None:
    with https_collector(server_cert) as sink:
        uri = f"https://127.0.0.1:{sink.port}/report"
        policy = PinPolicy({
            "pinned.test": pin_set(ca, report_uris=[uri]),
            "127.0.0.1": pin_set(ca),  # the collector's host is pinned too, and matches
        })
        ctx = create_ssl_context(policy, cadata=trust(ca, attacker_ca))
        with local_names("pinned.test"), pytest.raises(PinMismatchError):
            get(ctx, attacker.port)
        assert flush(10)
        head, _, body = sink.received.partition(b"\r\n\r\n")
        assert head.startswith(b"POST /report HTTP/1.1\r\n")
        assert b"\r\nContent-Type: application/json" in head
        assert json.loads(body)["validation-result"] == "pin-mismatch"


def test_https_report_uri_pin_mismatch_sends_nothing_and_makes_no_loop(
    ca: trustme.CA, attacker_ca: trustme.CA, attacker: RecordingTLSServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # the report host 127.0.0.1 is pinned to the legitimate CA, but the collector presents an
    # attacker certificate: the report must not be sent there, and that failure must not
    # produce a report of its own (its pin set even names itself as report URI)
    with https_collector(attacker_ca.issue_cert("127.0.0.1")) as sink:
        uri = f"https://127.0.0.1:{sink.port}/report"
        got: list[ViolationReport] = []
        policy = PinPolicy({
            "pinned.test": pin_set(ca, report_uris=[uri]),
            "127.0.0.1": pin_set(ca, report_uris=[uri]),
        })
        ctx = create_ssl_context(policy, cadata=trust(ca, attacker_ca), on_report=got.append)
        with caplog.at_level(logging.WARNING, logger="certpin"), local_names("pinned.test"):
            with pytest.raises(PinMismatchError):
                get(ctx, attacker.port)
            assert flush(10)
            time.sleep(0.2)
            assert flush(10)
        assert sink.received == b""
        assert [r.hostname for r in got] == ["pinned.test"]
    failed = [r.getMessage() for r in caplog.records if "violation report to" in r.getMessage()]
    assert len(failed) == 1
    assert "PinMismatchError" in failed[0]


# --------------------------------------------------------------------------------------------
# The process exits cleanly with a report pending


SCRIPT = textwrap.dedent("""
    import socket, ssl, sys, time
    from certpin import Pin, PinPolicy, PinSet, PinMismatchError
    from certpin.context import create_ssl_context

    port, uri, pin, cadata = sys.argv[1], sys.argv[2], sys.argv[3], sys.stdin.read()
    policy = PinPolicy({"pinned.test": PinSet([pin, Pin("spki", b"B" * 32)],
                                              report_uris=[uri])})
    ctx = create_ssl_context(policy, cadata=cadata)
    start = time.monotonic()
    try:
        with socket.create_connection(("127.0.0.1", int(port)), timeout=10) as raw:
            with ctx.wrap_socket(raw, server_hostname="pinned.test") as tls:
                tls.sendall(b"GET / HTTP/1.1\\r\\n\\r\\n")
        print("NOT REFUSED")
        sys.exit(3)
    except PinMismatchError:
        print(f"refused in {time.monotonic() - start:.3f}s")
""")


def test_process_exits_cleanly_with_a_sleeping_collector(
    ca: trustme.CA, attacker_ca: trustme.CA, attacker: RecordingTLSServer,
) -> None:
    with ReportCollector(delay=30) as slow:
        start = time.monotonic()
        proc = subprocess.run(
            [sys.executable, "-c", SCRIPT, str(attacker.port), slow.uri, str(ca_pin(ca))],
            input=trust(ca, attacker_ca), capture_output=True, text=True, timeout=60,
            env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
        )
        total = time.monotonic() - start
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout.startswith("refused in ")
        assert float(proc.stdout.split()[2].rstrip("s")) < 1.0
        assert "Traceback" not in proc.stderr
        assert total < 10.0  # the collector sleeps 30 s: nobody waited for it
        assert slow.wait_for(1, started=True)  # the report did leave (and hangs there)
    assert attacker.received == b""


# --------------------------------------------------------------------------------------------
# Small pieces


@pytest.mark.parametrize(("uri", "shown"), [
    ("https://user:pw@collector.test:8443/r/x?token=1#f", "https://collector.test:8443/r/x"),
    ("http://[::1]:9/r?q", "http://[::1]:9/r"),
    ("http://h.test/\x1b[2J", "http://h.test/\\x1b[2J"),
])
def test_redact_uri(uri: str, shown: str) -> None:
    assert redact_uri(uri) == shown


def test_report_json_times_are_utc_z() -> None:
    report = ViolationReport(
        date_time=datetime(2026, 1, 1, 12, 0, tzinfo=UTC) + timedelta(hours=0),
        hostname="h.test", port=None, effective_expiration_date=None,
        include_subdomains=True, noted_hostname="h.test", served_certificate_chain=(),
        validated_certificate_chain=(), known_pins=(), validation_result="pin-mismatch",
        certpin_version="0",
    )
    doc = report.to_json()
    assert doc["date-time"] == "2026-01-01T12:00:00Z"
    assert doc["port"] is None
    assert json.loads(json.dumps(doc)) == doc


def test_closed_port_really_refuses() -> None:
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", closed_port()), timeout=2).close()


def test_dedup_window_and_bucket_refill_follow_the_clock(collector: ReportCollector) -> None:
    now = [1000.0]
    sender = Sender(rate_burst=2, rate_per_minute=1.0, clock=lambda: now[0])

    def ctx() -> ssl.SSLContext:
        raise AssertionError("plain http needs no context")

    def submit(key: str) -> bool:
        return sender.submit(Delivery(collector.uri, b'{"k":"%s"}' % key.encode(), key, ctx))

    assert submit("a") is True
    now[0] += 24 * 3600 - 1
    assert submit("a") is False  # identical, within 24 h
    now[0] += 1
    assert submit("a") is True  # 24 h later: sent again (bucket refilled meanwhile)
    assert submit("b") is True  # burst of 2 spent
    assert submit("c") is False  # over the rate
    now[0] += 60
    assert submit("c") is True  # one token a minute
    assert sender.flush(10)
    assert [body for _, _, body in collector.posts] == [
        b'{"k":"a"}', b'{"k":"a"}', b'{"k":"b"}', b'{"k":"c"}']


def test_dedup_holds_across_threads(
    ca: trustme.CA, attacker_ca: trustme.CA, attacker: RecordingTLSServer,
    collector: ReportCollector,
) -> None:
    import concurrent.futures

    policy = PinPolicy({"pinned.test": pin_set(ca, report_uris=[collector.uri])})
    ctx = create_ssl_context(policy, cadata=trust(ca, attacker_ca))

    def fail() -> bool:
        try:
            get(ctx, attacker.port)
        except PinMismatchError:
            return True
        return False

    with local_names("pinned.test"), concurrent.futures.ThreadPoolExecutor(16) as pool:
        results = list(pool.map(lambda _: fail(), range(64)))
    assert all(results)
    assert flush(10)
    assert len(collector.posts) == 1
    assert attacker.received == b""


@pytest.mark.parametrize("scheme", ["http", "https"])
def test_silent_collector_is_abandoned_at_the_deadline(
    scheme: str, ca: trustme.CA, caplog: pytest.LogCaptureFixture,
) -> None:
    # the kernel accepts the TCP connection, nothing ever answers (not even a TLS handshake)
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        uri = f"{scheme}://127.0.0.1:{silent.getsockname()[1]}/r"
        policy = PinPolicy({"127.0.0.1": pin_set(ca)})
        sender = Sender(timeout=0.5)

        def ctx() -> ssl.SSLContext:
            return pinning_context(policy, cadata=trust(ca))

        with caplog.at_level(logging.WARNING, logger="certpin"):
            start = time.monotonic()
            assert sender.submit(Delivery(uri, b"{}", "k", ctx))
            assert sender.flush(5)
            elapsed = time.monotonic() - start
    assert 0.4 < elapsed < 2.0
    assert any("TimeoutError" in r.getMessage() for r in caplog.records)

_TEXT = st.text(st.characters(codec="utf-8", exclude_characters="@/?#[]:"), min_size=1,
                max_size=12)


@given(user=_TEXT, password=_TEXT, query=_TEXT, fragment=_TEXT,
       host=st.sampled_from(["collector.test", "127.0.0.1", "[::1]"]),
       port=st.one_of(st.none(), st.integers(1, 65535)),
       path=st.sampled_from(["", "/", "/r", "/a/b"]))
def test_redact_uri_never_shows_userinfo_query_or_fragment(
    user: str, password: str, query: str, fragment: str, host: str, port: int | None,
    path: str,
) -> None:
    netloc = host if port is None else f"{host}:{port}"
    uri = f"https://SECRETU{user}:SECRETP{password}@{netloc}{path}?SECRETQ{query}#SECRETF{fragment}"
    shown = redact_uri(uri)
    assert "SECRET" not in shown
    assert shown == f"https://{netloc}{path}"
    assert shown.isprintable()
