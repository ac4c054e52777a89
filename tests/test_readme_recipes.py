"""The documentation's recipes, run for real: "Pin policies" (now
docs/policies-and-host-matching.md), "Enforcing pins" and "Clients" (docs/clients.md),
"Report-only rollout and violation reports" (docs/reports.md); they were the README's until the
documentation site. tests/test_docs_recipes.py checks that the lines copied here are still on
those pages, and runs every block as written.

Each test copies a recipe's essential lines, changed only in host name, port, pins and trust
store (the docs' public names become ``pinned.test`` served on 127.0.0.1 with a trustme
certificate; ``cadata=`` trusts the test CA and an attacker's CA).

Each recipe meets the legitimate server (the request succeeds) and an impostor whose certificate
comes from the second, also trusted, CA (the documented exception, ``certpin.PinMismatchError`` in
its cause chain, zero bytes at the impostor). If a test here fails, the docs are wrong or the
code changed: fix whichever contradicts the issue's contract.
"""

from __future__ import annotations

import asyncio
import http.client
import json
import re
import subprocess
import sys
import urllib.error
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

import certpin
import certpin.clients
from support.clientkit import Certs, find_error
from support.clientservers import QuickServer, ws_handler
from support.servers import RecordingTLSServer, http_handler, local_names

HOST = "pinned.test"
Server = RecordingTLSServer


@pytest.fixture()
def legit(certs: Certs) -> Iterator[Server]:
    with QuickServer(certs.legit.context(), http_handler) as srv:
        yield srv


@pytest.fixture()
def impostor(certs: Certs) -> Iterator[Server]:
    """A trusted-CA impostor for pinned.test: must receive zero bytes when pins are enforced."""
    with QuickServer(certs.impostor.context(), http_handler) as srv:
        yield srv


@pytest.fixture()
def names() -> Iterator[None]:
    with local_names(HOST):
        yield


def readme_policy(certs: Certs, **pin_set_kwargs: Any) -> certpin.PinPolicy:
    """The README's two-pin policy for ``pinned.test`` (its pins: the test leaf key, the CA key)."""
    return certpin.PinPolicy({HOST: certpin.PinSet(
        [str(certs.legit.pin), str(certs.ca_pin)], **pin_set_kwargs)})


def assert_refused(exc: BaseException, impostor: Server) -> None:
    assert find_error(exc, certpin.PinMismatchError) is not None, repr(exc)
    impostor.settle()
    assert impostor.handshakes + len(impostor.errors) >= 1  # the client really got there
    assert impostor.received == b""


# ------------------------------------------------------------------ Pin policies
def test_pin_policies_recipe_as_written() -> None:
    from certpin import PinPolicy, PinSet, check

    policy = PinPolicy(
        {
            "api.example.com": PinSet(
                ["sha256/r/mIkG3eEpVdm+u/ko/cwxzOMo1bk4TyHIlByibiA5E="],
                backup_pins=["sha256/YLh1dUR9y6Kja30RrAn7JKnbQG/uEtLMkBgFF2Fuihg="],
                expires="2031-06-30",
            ),
            "example.com": PinSet(
                ["sha256/r/mIkG3eEpVdm+u/ko/cwxzOMo1bk4TyHIlByibiA5E=",
                 "sha256/C5+lpZ7tcVwmwQIMcRtPbsQtWLABXhQzejna0wHFr8M="],
                include_subdomains=True,
                enforce=False,
            ),
        },
        unknown_hosts="allow",
        expired="allow",
    )
    pattern, pin_set = policy.match("www.example.com") or ("", None)
    assert pattern == "example.com"
    assert repr(pin_set).startswith("PinSet([")
    assert pin_set is not None and pin_set.enforce is False
    # the README's line runs today; an injected clock keeps this test valid after 2031-06-30
    before = datetime(2031, 6, 29, tzinfo=UTC)
    assert check(policy, "api.example.com", [], now=before).outcome == "empty-chain"
    api = policy.pin_set_for("api.example.com")
    assert api is not None and api.expires == datetime(2031, 6, 30, tzinfo=UTC)
    assert len(api.all_pins) == 2


# ------------------------------------------------------------------ Enforcing pins
def test_enforcing_urllib_request(certs: Certs, legit: Server, impostor: Server,
                                  names: None) -> None:
    from certpin.clients import stdlib

    policy = readme_policy(certs)
    ctx = certpin.create_ssl_context(policy, cadata=certs.cadata)
    opener = stdlib.build_opener(ctx)
    with opener.open(f"https://{HOST}:{legit.port}/", timeout=10) as resp:
        assert resp.read() == b"hello from the pinned server"

    with pytest.raises(urllib.error.URLError) as info:
        opener.open(f"https://{HOST}:{impostor.port}/", timeout=10)
    assert isinstance(info.value.reason, certpin.PinMismatchError)
    assert_refused(info.value, impostor)

    # "refuses http:// to pinned hosts too": before any connection
    with pytest.raises(urllib.error.URLError) as plain:
        opener.open(f"http://{HOST}:{impostor.port}/", timeout=10)
    assert isinstance(plain.value.reason, certpin.PolicyError)
    impostor.settle()
    assert impostor.received == b""


def test_enforcing_http_client(certs: Certs, legit: Server, impostor: Server,
                               names: None) -> None:
    from certpin.clients import stdlib

    ctx = certpin.create_ssl_context(readme_policy(certs), cadata=certs.cadata)
    conn = stdlib.HTTPSConnection(HOST, legit.port, policy=ctx)
    conn.request("GET", "/")
    assert conn.getresponse().read() == b"hello from the pinned server"
    conn.close()

    # the alternative from the README's comment: the plain http.client class with context=ctx
    plain = http.client.HTTPSConnection(HOST, legit.port, context=ctx)
    plain.request("GET", "/")
    assert plain.getresponse().status == 200
    plain.close()

    # "a Host header naming another host than the TLS name is refused"
    conn = stdlib.HTTPSConnection(HOST, legit.port, policy=ctx)
    with pytest.raises(certpin.PolicyError, match="Host header"):
        conn.request("GET", "/", headers={"Host": "other.test"})
    conn.close()

    for cls_conn in (stdlib.HTTPSConnection(HOST, impostor.port, policy=ctx),
                     http.client.HTTPSConnection(HOST, impostor.port, context=ctx)):
        with pytest.raises(certpin.PinMismatchError) as info:
            cls_conn.request("GET", "/secret?token=1")
        cls_conn.close()
        # the message the README shows: verified chain's pins, then the configured ones
        text = str(info.value)
        assert text.startswith(f"Certificate pinning failure for {HOST}\n  Verified chain:\n")
        assert f"    {certs.impostor.pin}  " in text
        assert text.index("Verified chain:") < text.index(f"Pinned for {HOST}:") \
            < text.index(f"    {certs.legit.pin}\n")
        assert_refused(info.value, impostor)


def test_enforcing_asyncio(certs: Certs, legit: Server, impostor: Server,
                           names: None) -> None:
    from certpin.clients import stdlib

    ctx = certpin.create_ssl_context(readme_policy(certs), cadata=certs.cadata)

    async def main(port: int, helper: bool) -> bytes:
        if helper:
            reader, writer = await stdlib.open_connection(HOST, port, ctx)
        else:
            reader, writer = await asyncio.open_connection(HOST, port, ssl=ctx)
        writer.write(b"GET / HTTP/1.1\r\nHost: pinned.test\r\n\r\n")
        data = await reader.read(4096)
        writer.close()
        return data

    for helper in (True, False):
        assert asyncio.run(main(legit.port, helper)).endswith(b"hello from the pinned server")
        with pytest.raises(certpin.PinMismatchError) as info:
            asyncio.run(main(impostor.port, helper))
        assert_refused(info.value, impostor)


def test_stdlib_open_connection_takes_a_policy_and_trust_like_its_siblings(
    certs: Certs, legit: Server, impostor: Server, names: None
) -> None:
    """``stdlib.open_connection(host, port, policy, cadata=...)`` as build_opener accepts them."""
    from certpin.clients import stdlib

    async def main(port: int) -> bytes:
        reader, writer = await stdlib.open_connection(
            HOST, port, readme_policy(certs), cadata=certs.cadata
        )
        writer.write(b"GET / HTTP/1.1\r\nHost: pinned.test\r\n\r\n")
        data = await reader.read(4096)
        writer.close()
        return data

    assert asyncio.run(main(legit.port)).endswith(b"hello from the pinned server")
    with pytest.raises(certpin.PinMismatchError) as info:
        asyncio.run(main(impostor.port))
    assert_refused(info.value, impostor)
    ctx = certpin.create_ssl_context(readme_policy(certs), cadata=certs.cadata)
    with pytest.raises(certpin.PolicyError, match="only be given with a PinPolicy"):
        asyncio.run(stdlib.open_connection(HOST, legit.port, ctx, cadata=certs.cadata))


# ------------------------------------------------------------------ Report-only rollout
class Collector:
    """``certpin collect`` as the README runs it (``--port 0`` instead of 8080)."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "certpin", "collect", "--port", "0"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        assert self.proc.stderr is not None
        line = self.proc.stderr.readline()
        m = re.match(r"certpin collect: listening on http://127\.0\.0\.1:(\d+)/", line)
        assert m, line
        self.port = int(m.group(1))

    def report(self) -> dict[str, Any]:
        """The next JSON line on stdout (the sender's deadline is 5 s; the pipe read blocks)."""
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        assert line, "collector closed its output"
        value: dict[str, Any] = json.loads(line)
        return value

    def close(self) -> None:
        self.proc.kill()
        self.proc.communicate(timeout=10)


@pytest.fixture()
def collector() -> Iterator[Collector]:
    c = Collector()
    try:
        yield c
    finally:
        c.close()


@pytest.mark.parametrize("enforce", [False, True])
def test_report_only_recipe(certs: Certs, impostor: Server, names: None,
                            collector: Collector, enforce: bool) -> None:
    from certpin.clients import stdlib

    # the report deduplication key ignores only date-time: a distinct path per case keeps the
    # two cases (and reruns in one process) apart
    uri = f"http://127.0.0.1:{collector.port}/pins/{enforce}/{id(collector)}"
    policy = certpin.PinPolicy({HOST: certpin.PinSet(
        [str(certs.legit.pin), str(certs.ca_pin)],
        enforce=enforce,
        report_uris=[uri],
    )})
    seen: list[certpin.ViolationReport] = []
    ctx = certpin.create_ssl_context(policy, on_report=seen.append, cadata=certs.cadata)

    conn = stdlib.HTTPSConnection(HOST, impostor.port, policy=ctx)
    if enforce:
        with pytest.raises(certpin.PinMismatchError) as info:
            conn.request("GET", "/")
        assert_refused(info.value, impostor)
    else:  # report-only: the request goes through
        conn.request("GET", "/")
        assert conn.getresponse().read() == b"hello from the pinned server"
    conn.close()

    expected = "pin-mismatch" if enforce else "report-only-mismatch"
    assert len(seen) == 1 and isinstance(seen[0], certpin.ViolationReport)
    assert seen[0].validation_result == expected
    assert seen[0].hostname == HOST and seen[0].port == impostor.port

    body = collector.report()
    assert body == json.loads(json.dumps(seen[0].to_json()))
    assert body["validation-result"] == expected
    assert body["noted-hostname"] == HOST
    assert sorted(body["known-pins"]) == sorted(
        f'pin-sha256="{p.base64}"' for p in (certs.legit.pin, certs.ca_pin))
    assert body["served-certificate-chain"][0] == certs.impostor.chain_pem.decode().split(
        "-----END CERTIFICATE-----")[0] + "-----END CERTIFICATE-----\n"


def test_report_only_asyncio_port_is_null(certs: Certs, impostor: Server,
                                          names: None) -> None:
    """README: ``port`` is null on the asyncio/``wrap_bio`` path; report-only lets it through."""
    from certpin.clients import stdlib

    seen: list[certpin.ViolationReport] = []
    ctx = certpin.create_ssl_context(readme_policy(certs, enforce=False), on_report=seen.append,
                                     cadata=certs.cadata)

    async def main() -> bytes:
        reader, writer = await stdlib.open_connection(HOST, impostor.port, ctx)
        writer.write(b"GET / HTTP/1.1\r\nHost: pinned.test\r\n\r\n")
        data = await reader.read(4096)
        writer.close()
        return data

    assert asyncio.run(main()).endswith(b"hello from the pinned server")
    assert [(r.validation_result, r.port) for r in seen] == [("report-only-mismatch", None)]
    assert seen[0].to_json()["port"] is None


# ------------------------------------------------------------------ Clients
def test_clients_requests(certs: Certs, legit: Server, impostor: Server,
                          names: None) -> None:
    import requests

    from certpin.clients.requests import PinnedAdapter, PinnedSession

    policy = readme_policy(certs)
    s = PinnedSession(policy, cadata=certs.cadata)
    assert s.get(f"https://{HOST}:{legit.port}/", timeout=10).text == \
        "hello from the pinned server"
    with pytest.raises(requests.exceptions.SSLError) as info:
        s.get(f"https://{HOST}:{impostor.port}/", timeout=10)
    assert_refused(info.value, impostor)

    # the adapter mounted on any Session, both prefixes
    plain = requests.Session()
    adapter = PinnedAdapter(policy, cadata=certs.cadata)
    plain.mount("https://", adapter)
    plain.mount("http://", adapter)
    assert plain.get(f"https://{HOST}:{legit.port}/", timeout=10).status_code == 200
    with pytest.raises(requests.exceptions.SSLError) as info:
        plain.get(f"https://{HOST}:{impostor.port}/", timeout=10)
    assert_refused(info.value, impostor)
    with pytest.raises(certpin.PinnedRequestError):
        plain.get(f"http://{HOST}:{impostor.port}/", timeout=10)


def test_clients_urllib3(certs: Certs, legit: Server, impostor: Server,
                         names: None) -> None:
    import urllib3

    from certpin.clients.urllib3 import pinned_pool_manager, pinned_proxy_manager

    policy = readme_policy(certs)
    http = pinned_pool_manager(policy, retries=1, cadata=certs.cadata)
    assert http.request("GET", f"https://{HOST}:{legit.port}/").data == \
        b"hello from the pinned server"
    with pytest.raises(urllib3.exceptions.MaxRetryError) as info:
        http.request("GET", f"https://{HOST}:{impostor.port}/")
    assert isinstance(info.value.reason, urllib3.exceptions.SSLError)
    assert isinstance(info.value.reason.args[0], certpin.PinMismatchError)
    assert_refused(info.value, impostor)
    # the proxy manager is built as written (proxies are exercised in tests/clients/test_clients.py)
    via = pinned_proxy_manager("http://proxy.internal:3128", policy, cadata=certs.cadata)
    assert via.proxy is not None and via.proxy.host == "proxy.internal"


def test_clients_httpx(certs: Certs, legit: Server, impostor: Server,
                       names: None) -> None:
    import httpx

    from certpin.clients.httpx import pinned_async_client, pinned_client

    policy = readme_policy(certs)
    with pinned_client(policy, http2=True, follow_redirects=True, cadata=certs.cadata) as c:
        assert c.get(f"https://{HOST}:{legit.port}/").text == "hello from the pinned server"
        with pytest.raises(httpx.ConnectError) as info:
            c.get(f"https://{HOST}:{impostor.port}/")
        assert_refused(info.value, impostor)

    async def run() -> None:
        async with pinned_async_client(policy, cadata=certs.cadata) as ac:
            assert (await ac.get(f"https://{HOST}:{legit.port}/")).status_code == 200
            with pytest.raises(httpx.ConnectError) as info:
                await ac.get(f"https://{HOST}:{impostor.port}/")
            assert_refused(info.value, impostor)

    asyncio.run(run())


def test_clients_aiohttp(certs: Certs, legit: Server, impostor: Server,
                         names: None) -> None:
    import aiohttp

    from certpin.clients.aiohttp import pinned_session

    policy = readme_policy(certs)

    async def fetch(port: int) -> bytes:
        async with pinned_session(policy, trust_env=True, cadata=certs.cadata) as s, \
                s.get(f"https://{HOST}:{port}/") as r:
            return await r.read()

    assert asyncio.run(fetch(legit.port)) == b"hello from the pinned server"
    with pytest.raises(aiohttp.ClientConnectorCertificateError) as info:
        asyncio.run(fetch(impostor.port))
    assert_refused(info.value, impostor)


def test_clients_websockets(certs: Certs, names: None) -> None:
    from certpin.clients import websockets as pinned_ws

    policy = readme_policy(certs)

    async def chat(port: int) -> str | bytes:
        async with pinned_ws.connect(f"wss://{HOST}:{port}/feed", policy,
                                     cadata=certs.cadata) as ws:
            await ws.send("hello")
            return await ws.recv()

    with QuickServer(certs.legit.context(), ws_handler) as good:
        assert asyncio.run(chat(good.port)) == "echo: hello"
    with QuickServer(certs.impostor.context(), ws_handler) as bad:
        with pytest.raises(certpin.PinMismatchError) as info:
            asyncio.run(chat(bad.port))
        assert_refused(info.value, bad)



# ------------------------------------------------------------------ rules stated in the prose
def test_context_cannot_be_weakened_and_base_is_adopted(certs: Certs, legit: Server,
                                                        names: None) -> None:
    import ssl

    import urllib3

    policy = readme_policy(certs)
    ctx = certpin.create_ssl_context(policy, cadata=certs.cadata)
    with pytest.raises(certpin.PolicyError):
        ctx.verify_mode = ssl.CERT_NONE
    with pytest.raises(certpin.PolicyError):
        ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_REQUIRED  # the same strong values again: fine
    ctx.check_hostname = True

    # "A plain urllib3 PoolManager(ssl_context=ctx, cert_reqs="CERT_NONE") fails with
    # certpin.PolicyError from the context itself"
    pm = urllib3.PoolManager(ssl_context=ctx, cert_reqs="CERT_NONE")
    with pytest.raises(certpin.PolicyError):
        pm.request("GET", f"https://{HOST}:{legit.port}/", retries=False)
    legit.settle()
    assert legit.received == b""

    my_ctx = ssl.create_default_context(cadata=certs.cadata)
    my_ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    assert certpin.create_ssl_context(policy, base=my_ctx) is my_ctx
    with pytest.raises(certpin.PolicyError):
        my_ctx.check_hostname = False

    assert issubclass(certpin.clients.PinnedRequestError, certpin.PolicyError)
    assert issubclass(certpin.clients.PinnedRequestError, ValueError)
