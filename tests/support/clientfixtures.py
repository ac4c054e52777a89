"""pytest fixtures of the client tests (imported by tests/clients/)."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme

from support.clientkit import Certs, make_certs, mitmdump_path
from support.proxy import ConnectProxy


@pytest.fixture(scope="session")
def certs(ca: trustme.CA, attacker_ca: trustme.CA, server_cert: trustme.LeafCert) -> Certs:
    return make_certs(ca, attacker_ca, server_cert)


@pytest.fixture(scope="session")
def mitmdump() -> str:
    path = mitmdump_path()
    if path is None:
        pytest.skip("mitmproxy could not be installed (scripts/mitm-setup.sh failed: no package "
                    "index or no Python 3.11-3.13)")
    return path


@pytest.fixture(scope="session")
def mitm_confdir() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="certpin-mitm-") as d:
        yield Path(d)


@pytest.fixture()
def env_proxy(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
              ) -> Iterator[ConnectProxy | None]:
    """Parametrised indirectly with True/False: an HTTP CONNECT proxy set as HTTPS_PROXY."""
    if not request.param:
        for var in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY",
                    "all_proxy"):
            monkeypatch.delenv(var, raising=False)
        yield None
        return
    with ConnectProxy() as proxy:
        for var in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy"):
            monkeypatch.setenv(var, proxy.url)
        for var in ("NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy"):
            monkeypatch.delenv(var, raising=False)
        yield proxy
