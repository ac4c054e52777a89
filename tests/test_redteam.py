"""Red-team regressions: ways a real client could reach an impostor with the policy in force.

Each attack runs against real TLS servers on 127.0.0.1 whose certificates come from a CA the
client trusts (``attacker_ca``), and asserts that the impostor received zero application bytes.
"""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme

from certpin.clients import PinnedRequestError
from support.enforce import (
    HOST,
    RecordingTLSServer,
    impostor,
    impostor_leaf,
    intermediate,
    leaf_context,
    legit_leaf,
    legit_server,
    pinned_ctx,
    policy,
    trust_pem,
)
from support.servers import local_names

__all__ = [  # fixtures imported for pytest
    "impostor",
    "impostor_leaf",
    "intermediate",
    "legit_leaf",
    "legit_server",
    "pinned_ctx",
    "policy",
    "trust_pem",
]

UNPINNED = "evil.test"


@pytest.fixture()
def unpinned_impostor(attacker_ca: trustme.CA) -> Iterator[RecordingTLSServer]:
    """An impostor whose valid certificate (trusted CA) names only an unpinned host."""
    with RecordingTLSServer(leaf_context(attacker_ca.issue_cert(UNPINNED))) as srv:
        yield srv


# --------------------------------------------------------------------------- httpx sni_hostname


def test_httpx_sni_hostname_extension_cannot_move_the_pin_check_to_another_name(
    pinned_ctx: ssl.SSLContext, unpinned_impostor: RecordingTLSServer
) -> None:
    """httpcore's ``sni_hostname`` request extension is a TLS name override: the handshake
    (and so the pin lookup) uses it instead of the URL host. For a request to a pinned host it
    must be refused like ``server_hostname`` is for the other clients."""
    pytest.importorskip("httpx")
    from certpin.clients.httpx import pinned_client

    url = f"https://{HOST}:{unpinned_impostor.port}/secret?token=hunter2"
    with (
        local_names(HOST),
        pinned_client(pinned_ctx) as client,
        pytest.raises(PinnedRequestError, match="TLS name override"),
    ):
        client.get(url, extensions={"sni_hostname": UNPINNED})
    assert unpinned_impostor.received == b""


def test_httpx_async_sni_hostname_extension_refused(
    pinned_ctx: ssl.SSLContext, unpinned_impostor: RecordingTLSServer
) -> None:
    import asyncio

    pytest.importorskip("httpx")
    from certpin.clients.httpx import pinned_async_client

    url = f"https://{HOST}:{unpinned_impostor.port}/secret?token=hunter2"

    async def go() -> None:
        async with pinned_async_client(pinned_ctx) as client:
            await client.get(url, extensions={"sni_hostname": UNPINNED})

    with local_names(HOST), pytest.raises(PinnedRequestError, match="TLS name override"):
        asyncio.run(go())
    assert unpinned_impostor.received == b""


def test_httpx_sni_hostname_naming_the_url_host_still_works(
    pinned_ctx: ssl.SSLContext, legit_server: RecordingTLSServer
) -> None:
    pytest.importorskip("httpx")
    from certpin.clients.httpx import pinned_client

    with local_names(HOST), pinned_client(pinned_ctx) as client:
        resp = client.get(
            f"https://{HOST}:{legit_server.port}/", extensions={"sni_hostname": HOST.upper()}
        )
    assert resp.status_code == 200
    assert b"Host: pinned.test" in legit_server.received


# --------------------------------------------------------------------------- requests mount


@pytest.mark.parametrize("prefix", ["https://", "HTTPS://", "https://pinned", "http", ""])
def test_requests_pinned_session_refuses_a_plain_adapter_over_https(
    pinned_ctx: ssl.SSLContext,
    impostor: RecordingTLSServer,
    trust_pem: str,
    tmp_path: Path,
    prefix: str,
) -> None:
    """The common retry recipe ``session.mount("https://", HTTPAdapter(max_retries=...))`` on a
    PinnedSession would replace the pinning adapter for every https:// URL (requests picks the
    longest matching prefix), silently sending requests with requests' own context."""
    requests = pytest.importorskip("requests")
    from certpin.clients.requests import PinnedSession

    bundle = tmp_path / "trust.pem"  # the client trusts the attacker's CA (system store)
    bundle.write_text(trust_pem)
    with local_names(HOST), PinnedSession(pinned_ctx) as session:
        with pytest.raises(PinnedRequestError, match="adapter"):
            session.mount(prefix, requests.adapters.HTTPAdapter(max_retries=3))
        with pytest.raises(requests.exceptions.SSLError):
            session.get(f"https://{HOST}:{impostor.port}/secret", verify=str(bundle))
    assert impostor.received == b""
