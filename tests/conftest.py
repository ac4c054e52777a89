"""Shared fixtures: test CAs from trustme (a legitimate one and an attacker's) and servers."""

from __future__ import annotations

import ssl
from collections.abc import Iterator

import pytest
import trustme

from support.servers import RecordingTLSServer


@pytest.fixture(scope="session")
def ca() -> trustme.CA:
    """The legitimate CA: issues the pinned server's certificate."""
    return trustme.CA(organization_name="certpin test CA")


@pytest.fixture(scope="session")
def attacker_ca() -> trustme.CA:
    """A second CA that the client also trusts (a corporate proxy root, a coerced CA)."""
    return trustme.CA(organization_name="attacker CA")


@pytest.fixture(scope="session")
def server_cert(ca: trustme.CA) -> trustme.LeafCert:
    return ca.issue_cert("pinned.test", "www.pinned.test", "127.0.0.1", "::1", "localhost")


def server_context(cert: trustme.LeafCert) -> ssl.SSLContext:
    """A server-side context presenting ``cert`` (with its chain)."""
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(ctx)
    return ctx


@pytest.fixture()
def server(server_cert: trustme.LeafCert) -> Iterator[RecordingTLSServer]:
    """The legitimate HTTPS server on 127.0.0.1, certificate for pinned.test from ``ca``."""
    with RecordingTLSServer(server_context(server_cert)) as srv:
        yield srv


# Fixtures of the client tests (certpin.clients): certificates, env proxy, mitmproxy.
pytest_plugins = ["support.clientfixtures"]


@pytest.fixture(autouse=True)
def _fresh_report_log_limits() -> None:
    """Each test sees its first report-only warning: the reporter quiets a repeated warning per
    host for a minute, process-wide, so an earlier test's warning for the same host would
    silence a later test's (tests/updates/test_updates.py failed that way when run after
    others)."""
    import certpin.reporter

    certpin.reporter.REPORTER_LOG._last.clear()
