"""Acceptance attack matrix for the client helpers (issue 3): every client, direct and through
an HTTP CONNECT proxy taken from HTTPS_PROXY, against real attacking TLS servers on 127.0.0.1
and real mitmproxy. Each refusal asserts the exception type the client surfaces, certpin's error
(or OpenSSL's verification error) in its cause chain, and ZERO application bytes received by the
attacker (or, behind mitmproxy, by the legitimate server)."""

from __future__ import annotations

import ssl
from pathlib import Path

import pytest

import certpin
from support.clientkit import (
    CLIENTS,
    Certs,
    ServedCert,
    expected_error,
    fetch,
    find_error,
    main_policy,
    one,
    rotation_policy,
    run_mitmdump,
)
from support.clientservers import QuickServer, multi_handler, ws_handler
from support.proxy import ConnectProxy
from support.servers import RecordingTLSServer, local_names

SECRET = "/account?token=t0p-s3cret"
PROXY = pytest.mark.parametrize("env_proxy", [False, True], ids=["direct", "env-proxy"],
                                indirect=True)
#: attack -> (certificate attribute, failure is a pin mismatch?, OpenSSL's message if not)
ATTACKS = {
    "trusted-ca-impostor": ("impostor", True, ""),
    "impostor-appends-pinned-cert-and-ca": ("appended", True, ""),
    "rotation-to-unpinned-key": ("unlisted", True, ""),
    "self-signed-with-matching-pin": ("selfsigned", False, "self-signed certificate"),
    "expired-with-matching-pin": ("expired", False, "certificate has expired"),
    "wrong-hostname-with-matching-pin": ("wronghost", False, "Hostname mismatch"),
}


def serve(cert: ServedCert, client: str) -> RecordingTLSServer:
    if client == "websockets":
        return QuickServer(cert.context(), ws_handler)
    return QuickServer(cert.context(alpn=["h2", "http/1.1"]), multi_handler)


def proxy_url(proxy: ConnectProxy | None, client: str) -> str | None:
    return proxy.url if proxy is not None and client == "urllib3" else None


def assert_refused(exc: BaseException, client: str, *, pin: bool, message: str = "",
                   host: str = "pinned.test") -> None:
    assert isinstance(exc, expected_error(client)), repr(exc)
    if pin:
        err = find_error(exc, certpin.PinMismatchError)
        assert err is not None, f"no PinMismatchError in the cause chain of {exc!r}"
        assert isinstance(err, certpin.PinMismatchError)
        assert err.hostname == host
        assert str(err).startswith(f"Certificate pinning failure for {host}")
    else:
        err = find_error(exc, ssl.SSLCertVerificationError)
        assert err is not None, f"no SSLCertVerificationError in the chain of {exc!r}"
        assert find_error(exc, certpin.PinValidationError) is None
        assert message in str(err)


@PROXY
@pytest.mark.parametrize("attack", list(ATTACKS))
@pytest.mark.parametrize("client", CLIENTS)
def test_attacker_refused_and_receives_nothing(
    client: str, attack: str, env_proxy: ConnectProxy | None, certs: Certs
) -> None:
    attr, pin, message = ATTACKS[attack]
    policy = rotation_policy(certs) if attr == "unlisted" else main_policy(certs)
    with serve(getattr(certs, attr), client) as attacker, local_names("pinned.test"):
        url = f"https://pinned.test:{attacker.port}{SECRET}"
        exc = one(fetch(client, [url], policy, certs.cadata,
                        proxy=proxy_url(env_proxy, client)))
    assert_refused(exc, client, pin=pin, message=message)
    assert attacker.received == b""
    assert attacker.connections >= 1  # the attacker was really reached
    if env_proxy is not None:
        assert env_proxy.targets
        assert set(env_proxy.targets) == {f"pinned.test:{attacker.port}"}
        assert b"t0p-s3cret" not in env_proxy.upstream


@PROXY
@pytest.mark.parametrize("client", CLIENTS)
def test_rotation_to_backup_pin_passes(
    client: str, env_proxy: ConnectProxy | None, certs: Certs
) -> None:
    with serve(certs.rotated, client) as server, local_names("pinned.test"):
        url = f"https://pinned.test:{server.port}/"
        (res,) = fetch(client, [url], rotation_policy(certs), certs.cadata,
                       proxy=proxy_url(env_proxy, client))
    assert not isinstance(res, BaseException), repr(res)
    status, body = res
    if client == "websockets":
        assert (status, body) == (101, b"echo: ping 0")
    else:
        assert status == 200
        assert body.startswith(b"hello from the pinned server")
    assert server.received  # the request did reach the legitimate (rotated) server
    if env_proxy is not None:
        assert set(env_proxy.targets) == {f"pinned.test:{server.port}"}


@PROXY
@pytest.mark.parametrize("client", CLIENTS)
def test_mitmproxy_reverse_mode_refused(
    client: str, env_proxy: ConnectProxy | None, certs: Certs, mitmdump: str,
    mitm_confdir: Path,
) -> None:
    """Real mitmproxy in front of the legitimate server, its CA trusted by the client."""
    legit = serve(certs.legit, client)
    mode = f"reverse:https://127.0.0.1:{legit.port}"
    with legit, run_mitmdump(mitmdump, mode, mitm_confdir) as m, local_names("pinned.test"):
        url = f"https://pinned.test:{m.port}{SECRET}"
        exc = one(fetch(client, [url], main_policy(certs), certs.cadata + m.ca_pem,
                        proxy=proxy_url(env_proxy, client)))
    assert_refused(exc, client, pin=True)
    assert legit.received == b""  # mitmproxy forwards only after it got the request: none sent
    if env_proxy is not None:
        assert set(env_proxy.targets) == {f"pinned.test:{m.port}"}


@pytest.mark.parametrize("client", CLIENTS)
def test_mitmproxy_regular_mode_as_https_proxy_refused(
    client: str, certs: Certs, mitmdump: str, mitm_confdir: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """mitmproxy as the HTTPS_PROXY of the client (a TLS-inspecting corporate proxy)."""
    legit = serve(certs.legit, client)
    # The proxy by a name the policy does not pin (a proxy on a pinned host is refused: plain
    # text to it), resolving to 127.0.0.1.
    with legit, run_mitmdump(mitmdump, "regular", mitm_confdir) as m, local_names("proxy.test"):
        proxy = f"http://proxy.test:{m.port}"
        for var in ("HTTPS_PROXY", "https_proxy"):
            monkeypatch.setenv(var, proxy)
        for var in ("NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy"):
            monkeypatch.delenv(var, raising=False)
        url = f"https://127.0.0.1:{legit.port}{SECRET}"
        exc = one(fetch(client, [url], main_policy(certs), certs.cadata + m.ca_pem,
                        proxy=proxy if client == "urllib3" else None))
    assert_refused(exc, client, pin=True, host="127.0.0.1")
    assert legit.received == b""


@pytest.mark.parametrize("client", CLIENTS)
def test_legitimate_server_keep_alive(client: str, certs: Certs) -> None:
    """The same context keeps working on the legitimate server, reusing the connection."""
    with serve(certs.legit, client) as server, local_names("pinned.test"):
        url = f"https://pinned.test:{server.port}/"
        results = fetch(client, [url] * 5, main_policy(certs), certs.cadata)
    assert all(not isinstance(r, BaseException) for r in results), results
    if client == "websockets":
        assert server.connections == 5  # one WebSocket connection per URL
    else:
        assert [r[0] for r in results] == [200] * 5  # type: ignore[index]
        assert server.connections == 1  # keep-alive: one TLS connection for five requests


@pytest.mark.parametrize("client", ["requests", "httpx", "aiohttp"])
def test_mitmproxy_control_unpinned_host_is_intercepted(
    client: str, certs: Certs, mitmdump: str, mitm_confdir: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Control for the test above: for a host the policy does NOT pin, the same mitmproxy setup
    succeeds (its CA is trusted), so the refusals above come from the pins alone."""
    legit = serve(certs.legit, client)
    with legit, run_mitmdump(mitmdump, "regular", mitm_confdir) as m:
        for var in ("HTTPS_PROXY", "https_proxy"):
            monkeypatch.setenv(var, f"http://127.0.0.1:{m.port}")
        for var in ("NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy"):
            monkeypatch.delenv(var, raising=False)
        (res,) = fetch(client, [f"https://127.0.0.1:{legit.port}/"], rotation_policy(certs),
                       certs.cadata + m.ca_pem)
    assert not isinstance(res, BaseException), repr(res)
    assert res[0] == 200
    assert legit.received  # mitmproxy forwarded the request: it really was in the path
