"""Differential property tests of the client helpers (issue 10: close the class, not the instance).

THE THREAT. A helper's guard (certpin.clients._common.RequestGuard and friends) decides on a URL
before the client library sends it, and the pinning context checks the TLS name the library hands
to it. If the guard, the TLS layer and the library read one URL differently (case, whitespace and
control characters, userinfo, backslashes, percent-encoding, IDNA forms, the many spellings of an
IPv4 or IPv6 literal, trailing dots, redirect hops carrying them), an attacker who controls a URL
or a redirect can make the library connect to a pinned host while the guard judged another host,
or send plain text to it, or hand the TLS connection to a context without pins.

THE PROPERTY. The policy pins ``localhost``, ``127.0.0.1``, ``::1`` (and the redirector's name)
with the legitimate key; unknown hosts are allowed (and, in a second variant, rejected). A
recording server on 127.0.0.1 / ::1 (support.recording.RecordingServer) is an IMPOSTOR for all of
them: its certificate comes from a CA the client trusts (in the helper's ``cadata`` and in the
"system" store, ``SSL_CERT_FILE``) and names every spelling below, but its key is not pinned.
Every generated spelling of a pinned host, as the first URL or as the ``Location`` of a redirect
from a first hop, must leave the impostor with ZERO application bytes on every connection (no
request line, no WebSocket upgrade, no CONNECT): the helper refused, the library could not
connect, or the pin check failed. Any exception is fine; bytes at the impostor are not. Whenever a
ClientHello reached the impostor, its SNI (if any) must normalise to a pinned host, i.e. the TLS
layer judged the host really addressed.

The network is loopback only (support.recording.loopback_only): names resolve from a fixed map,
connections to anything but 127.0.0.1 / ::1 fail with ENETUNREACH (so NAT64, 6to4 and IPv4-
compatible literals are unreachable here: for them only the guard's and the TLS layer's answer can
leak, through plain text or a pin lookup).

Each Hypothesis test runs a fixed number of examples with a fixed seed (``derandomize``), seeded
with ``@example`` for every spelling of the issue. Also here: an HTTPS proxy from ``HTTPS_PROXY``
that is an impostor of the pinned 127.0.0.1; httpx ``event_hooks`` assignment; and every byte
moving method of ``ssl.SSLSocket`` after a handshake that timed out in ``connect()``.

The file is longer than 400 lines on purpose: the property, its two controls and the targeted
tests share one rig (one set of servers per module, started once), and the spellings are data.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import ssl
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import trustme
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import certpin
from certpin.policy import normalize_host
from support.clientkit import ca_pin, served
from support.recording import ConnRecord, RecordingServer, loopback_only

#: The hosts the policy pins (normal form). The impostor's address serves only these.
PINNED = ("localhost", "127.0.0.1", "::1", "redirector.test")
#: Every name the impostor's certificate carries: a trusted CA will sign whatever an attacker
#: asks for, so the hostname check never saves a spelling the pin lookup missed.
IMPOSTOR_NAMES = (
    "localhost", "127.0.0.1", "::1", "::ffff:127.0.0.1", "::127.0.0.1", "64:ff9b::7f00:1",
    "2002:7f00:1::1", "127.1", "127.0.1", "2130706433", "0x7f.0.0.1", "0x7f.1", "0177.0.0.1",
    "127.000.0.1", "0x7f000001", "redirector.test", "unpinned.test",
)
HELPERS = ("urllib", "http.client", "urllib3", "requests", "httpx", "httpx-async", "aiohttp",
           "websockets")
TIMEOUT = 2.0
SECRET = "/feed?token=s3cret"


# ------------------------------------------------------------------ the rig
@dataclass
class Rig:
    impostor: RecordingServer     # the attacker: trusted CA, unpinned key, every pinned name
    redirector: RecordingServer   # first hop: pinned (legitimate) key; answers 302 to a spelling
    legit: RecordingServer        # the legitimate server (positive control)
    proxy: RecordingServer        # an impostor https:// proxy at the pinned 127.0.0.1
    policies: dict[str, certpin.PinPolicy]
    cadata: str


@pytest.fixture(scope="module")
def rig(ca: trustme.CA, attacker_ca: trustme.CA) -> Iterator[Rig]:
    legit = served(ca.issue_cert("localhost", "127.0.0.1", "::1", "redirector.test",
                                 "plain.test"))
    impostor = served(attacker_ca.issue_cert(*IMPOSTOR_NAMES))
    pins = certpin.PinSet([legit.pin, ca_pin(ca)])
    policies = {
        mode: certpin.PinPolicy({h: pins for h in PINNED}, unknown_hosts=mode)  # type: ignore[arg-type]
        for mode in ("allow", "reject")
    }
    cadata = ca.cert_pem.bytes().decode() + attacker_ca.cert_pem.bytes().decode()
    names = {"localhost": "127.0.0.1", "redirector.test": "127.0.0.1",
             "plain.test": "127.0.0.1"}
    with contextlib.ExitStack() as stack, tempfile.TemporaryDirectory() as tmp:
        # The "system" trust store trusts the attacker's CA too: a library that falls back to its
        # own default context (no pins) then completes the handshake and sends, and we see it.
        bundle = Path(tmp, "system-roots.pem")
        bundle.write_text(cadata)
        mp = stack.enter_context(pytest.MonkeyPatch.context())
        mp.setenv("SSL_CERT_FILE", str(bundle))
        mp.setenv("SSL_CERT_DIR", tmp)
        for var in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY",
                    "all_proxy", "WS_PROXY", "ws_proxy", "WSS_PROXY", "wss_proxy", "NO_PROXY",
                    "no_proxy", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
            mp.delenv(var, raising=False)
        stack.enter_context(loopback_only(names))
        servers = [stack.enter_context(RecordingServer(c.context()))
                   for c in (impostor, legit, legit, impostor)]
        yield Rig(servers[0], servers[1], servers[2], servers[3], policies, cadata)


# ------------------------------------------------------------------ spellings
TLS_PORT, PLAIN_PORT = "TTTTT", "PPPPP"  # placeholders: a port has 5 digits here (asserted)


@dataclass(frozen=True)
class Case:
    """A URL spelling (ports as TTTTT / PPPPP: the impostor's TLS and plain ports) and how it
    reaches the client: ``direct``, or as the ``Location`` of a redirect from the redirector over
    TLS (``via-tls``, a pinned first hop) or over plain text (``via-plain``, an unpinned one)."""

    url: str
    hop: str = "direct"

    def render(self, rig: Rig) -> str:
        return self.url.replace(TLS_PORT, str(rig.impostor.tls_port)).replace(
            PLAIN_PORT, str(rig.impostor.plain_port))


#: Fullwidth forms (IDNA and the WHATWG URL standard map them to ASCII).
FULLWIDTH_LOCALHOST = "".join(chr(ord(c) + 0xFEE0) for c in "localhost")
FULLWIDTH_LOOPBACK = "".join(chr(ord(c) + 0xFEE0) for c in "127.0.0.1")
NAME_FORMS = ("localhost", FULLWIDTH_LOCALHOST, "loc\u00adalhost", "ⓛocalhost", "LOCALHOST",
              "localhost\u200b", "xn--localhost", "redirector.test")
IPV4_FORMS = ("127.0.0.1", "127.1", "127.0.1", "2130706433", "0x7f.0.0.1", "0x7f.1",
              "0177.0.0.1", "127.000.0.1", "0x7f000001", FULLWIDTH_LOOPBACK, "127.0.0.01")
IPV6_FORMS = ("[::1]", "[0:0::1]", "[0:0:0:0:0:0:0:1]", "[::0001]", "[::ffff:127.0.0.1]",
              "[::ffff:7f00:1]", "[::FFFF:7F00:1]", "[::127.0.0.1]", "[64:ff9b::7f00:1]",
              "[64:ff9b::127.0.0.1]", "[2002:7f00:1::1]", "[0::ffff:127.0.0.1]", "[::1%25lo]",
              "[::1%lo]", "::1", "[::ffff:127.1]")
DOTS = ("", "", "", ".", "。", "\uff0e", "..")
USERINFO = ("", "", "", "", "user@", "user:pw@", "unpinned.test@", "unpinned.test:1@",
            "a\\@", "localhost@", "@")
SUFFIXES = ("", "", "", "", "\\@unpinned.test", "#@unpinned.test", "?@unpinned.test",
            "@unpinned.test")
SEPARATORS = ("//", "//", "//", "//", "\\\\", "/\\", "///", "/")
CONTROLS = ("\t", "\n", "\r", " ", "\x00", "\x0b", "\x0c", "\x1b", "\x7f", "\u00a0", "\u3000")
HEADER_SAFE_CONTROLS = tuple(c for c in CONTROLS if c not in "\r\n")  # inside a Location


def _recase(draw: Callable[..., Any], text: str) -> str:
    flips = draw(st.lists(st.booleans(), min_size=len(text), max_size=len(text)))
    return "".join(c.swapcase() if f else c for c, f in zip(text, flips, strict=True))


def _percent(draw: Callable[..., Any], host: str) -> str:
    if draw(st.integers(0, 5)) != 0 or not host:
        return host
    i = draw(st.integers(0, len(host) - 1))
    ch = host[i]
    if ch in "[]:":
        return host
    return host[:i] + "".join(f"%{b:02X}" for b in ch.encode()) + host[i + 1:]


@st.composite
def spellings(draw: Callable[..., Any], family: str = "http",
              hops: tuple[str, ...] = ("direct", "via-tls", "via-plain")) -> Case:
    """A spelling of a pinned host at the impostor, in every disguise of the module docstring."""
    hop = draw(st.sampled_from(hops))
    secure = draw(st.booleans())
    scheme = _recase(draw, family + ("s" if secure else ""))
    kind = draw(st.sampled_from(("name", "ipv4", "ipv6")))
    if kind == "name":
        host = _recase(draw, draw(st.sampled_from(NAME_FORMS))) + draw(st.sampled_from(DOTS))
    elif kind == "ipv4":
        host = draw(st.sampled_from(IPV4_FORMS)) + draw(st.sampled_from(DOTS))
    else:
        host = _recase(draw, draw(st.sampled_from(IPV6_FORMS)))
    host = _percent(draw, host)
    same_port = draw(st.integers(0, 3)) > 0
    port = TLS_PORT if secure == same_port else PLAIN_PORT
    port = draw(st.sampled_from(("", "", "0", "00"))) + port
    url = (f"{scheme}:{draw(st.sampled_from(SEPARATORS))}{draw(st.sampled_from(USERINFO))}"
           f"{host}{draw(st.sampled_from(SUFFIXES))}:{port}{SECRET}")
    controls = CONTROLS if hop == "direct" else HEADER_SAFE_CONTROLS
    inserts = draw(st.lists(st.tuples(st.integers(0, len(url)), st.sampled_from(controls)),
                            max_size=2))
    for pos, ch in sorted(inserts, reverse=True):
        for ph in (TLS_PORT, PLAIN_PORT):  # never split a port placeholder
            at = url.find(ph)
            if at < pos < at + len(ph):
                pos = at
        url = url[:pos] + ch + url[pos:]
    return Case(url, hop)


def _seeds(family: str) -> list[Case]:
    """The spellings of the issue, each as an explicit example."""
    s, p = family + "s", family
    t, q = TLS_PORT, PLAIN_PORT
    direct = [
        f"{s}://localhost:{t}{SECRET}", f"{s}://LOCALHOST.:{t}/", f"{s}://{FULLWIDTH_LOCALHOST}:{t}/",
        f"{s}://127.1:{t}/", f"{s}://2130706433:{t}/", f"{s}://[::1]:{t}/",
        f"{s}://[0:0::1]:{t}/", f"{s}://[::ffff:127.0.0.1]:{t}{SECRET}",
        f"{s}://[::ffff:7f00:1]:{t}/", f"{s}://[::127.0.0.1]:{t}/",
        f"{s}://[64:ff9b::7f00:1]:{t}/", f"{s}://[2002:7f00:1::1]:{t}/",
        f"{s}://user:pw@localhost:{t}/", f"{s}://unpinned.test\\@localhost:{t}/",
        f"{s}://localhost\\@unpinned.test:{t}/", f" {s}://localhost:{t}/",
        f"{s[0]}\t{s[1:]}://localhost:{t}{SECRET}", f"{s}://local\thost:{t}/",
        f"{s}://%6cocalhost:{t}/",
        f"{p}://localhost:{q}{SECRET}", f"{p.upper()}://LocalHost.:{q}/", f"{p}://127.1:{q}/",
        f"{p}://2130706433:{q}/", f"{p}://0x7f.0.0.1:{q}/", f"{p}://0177.0.0.1:{q}/",
        f"{p}://127.000.0.1:{q}/", f"{p}://[::ffff:127.0.0.1]:{q}/", f"{p}://[0:0::1]:{q}/",
        f"{p}://{FULLWIDTH_LOCALHOST}:{q}/", f"{p}://loc\u00adalhost:{q}/",
        f"{p}://localhost\\@unpinned.test:{q}/", f"{p}://unpinned.test\\@localhost:{q}/",
        f"\t{p}://localhost:{q}/", f"{p}://%6cocalhost:{q}/",
    ]
    cases = [Case(u) for u in direct]
    cases += [Case(u, "via-tls") for u in (
        f"{p}://localhost:{q}{SECRET}", f"{p}://127.1:{q}/", f"{s}://[::ffff:127.0.0.1]:{t}/",
        f"{s[0]}\t{s[1:]}://localhost:{t}{SECRET}", f"{p}://[::ffff:127.0.0.1]:{q}/")]
    cases += [Case(u, "via-plain") for u in (
        f"{s}://localhost:{t}{SECRET}", f"{s[0]}\t{s[1:]}://localhost:{t}{SECRET}",
        f"\t{s}://localhost:{t}/", f"{s}://[::ffff:127.0.0.1]:{t}/", f"{s}://127.1:{t}/",
        f"{p}://127.1:{q}/")]
    return cases


# ------------------------------------------------------------------ running each helper
def first_url(rig: Rig, case: Case, family: str) -> str:
    """What the client is given: the spelling, or the redirector's URL (its Location set)."""
    url = case.render(rig)
    rig.redirector.location = url
    if case.hop == "via-tls":
        return f"{family}s://redirector.test:{rig.redirector.tls_port}/hop"
    if case.hop == "via-plain":
        return f"{family}://plain.test:{rig.redirector.plain_port}/hop"
    return url


def authority_of(url: str) -> str:
    """The raw authority text of a spelling (for http.client, which takes host[:port])."""
    rest = url.split(":", 1)[1].lstrip("/\\")
    for stop in "/?#":
        rest = rest.split(stop, 1)[0]
    return rest


def run_helper(helper: str, url: str, policy: certpin.PinPolicy, cadata: str,
               **kwargs: Any) -> object:
    """One request with a fresh helper object; returns the response summary or the exception."""
    try:
        if helper in ("httpx-async", "aiohttp", "websockets"):
            return asyncio.run(_run_async(helper, url, policy, cadata, **kwargs))
        return _run_sync(helper, url, policy, cadata, **kwargs)
    except Exception as exc:  # any refusal or failure is fine: the recorder is the judge
        return exc


def _run_sync(helper: str, url: str, policy: certpin.PinPolicy, cadata: str,
              **kwargs: Any) -> object:
    if helper == "urllib":
        from certpin.clients.stdlib import build_opener

        with build_opener(policy, cadata=cadata).open(url, timeout=TIMEOUT) as resp:
            return resp.status, resp.read()
    if helper == "http.client":
        from certpin.clients.stdlib import HTTPSConnection

        conn = HTTPSConnection(authority_of(url), policy=policy, cadata=cadata, timeout=TIMEOUT)
        try:
            conn.request("GET", SECRET)
            resp = conn.getresponse()
            return resp.status, resp.read()
        finally:
            conn.close()
    if helper == "urllib3":
        import urllib3

        from certpin.clients.urllib3 import pinned_pool_manager

        with pinned_pool_manager(policy, cadata=cadata, timeout=TIMEOUT,
                                 retries=urllib3.Retry(total=2, redirect=3)) as pm:
            resp = pm.request("GET", url)
            return resp.status, resp.data
    if helper == "requests":
        from certpin.clients.requests import PinnedSession

        with PinnedSession(policy, cadata=cadata) as session:
            session.max_redirects = 5  # a Location requests cannot parse loops back to the hop
            r = session.get(url, timeout=TIMEOUT)
            return r.status_code, r.content
    if helper == "httpx":
        from certpin.clients.httpx import pinned_client

        with pinned_client(policy, cadata=cadata, timeout=TIMEOUT, follow_redirects=True) as c:
            r = c.get(url, **kwargs)
            return r.status_code, r.content
    raise AssertionError(helper)


async def _run_async(helper: str, url: str, policy: certpin.PinPolicy, cadata: str,
                     **kwargs: Any) -> object:
    if helper == "httpx-async":
        from certpin.clients.httpx import pinned_async_client

        async with pinned_async_client(policy, cadata=cadata, timeout=TIMEOUT,
                                       follow_redirects=True) as c:
            r = await c.get(url, **kwargs)
            return r.status_code, r.content
    if helper == "aiohttp":
        import aiohttp

        from certpin.clients.aiohttp import pinned_session

        timeout = aiohttp.ClientTimeout(total=TIMEOUT)
        async with pinned_session(policy, cadata=cadata, trust_env=True) as s, s.get(
            url, timeout=timeout
        ) as r:
            return r.status, await r.read()
    if helper == "websockets":
        from certpin.clients.websockets import connect

        async with connect(url, policy, cadata=cadata, open_timeout=TIMEOUT,
                           close_timeout=0.2) as ws:
            await ws.send("hello")
            return 101, b""
    raise AssertionError(helper)


# ------------------------------------------------------------------ the property
def assert_zero_bytes(server: RecordingServer, mark: int, what: str, outcome: object) -> None:
    """No connection since ``mark`` brought ``server`` one application byte; every ClientHello
    named a pinned host (or none: an IP literal)."""
    records = server.since(mark)
    leaked = [r for r in records if r.data]
    assert not leaked, (
        f"{what}: the impostor received application bytes: "
        + "; ".join(r.describe() for r in leaked) + f". The helper returned {outcome!r}"
    )
    for r in records:
        assert_sni_pinned(r, what)


def assert_sni_pinned(r: ConnRecord, what: str) -> None:
    if r.sni is None:
        return
    try:
        judged = normalize_host(r.sni)
    except certpin.PolicyError as exc:
        raise AssertionError(f"{what}: a ClientHello reached the impostor with SNI {r.sni!r}, "
                             f"which certpin cannot normalise ({exc})") from None
    assert judged in PINNED, (f"{what}: a ClientHello reached the impostor (a pinned host's "
                              f"address) with SNI {r.sni!r}, an unpinned name")


def property_holds(rig: Rig, helper: str, mode: str, case: Case) -> None:
    family = "ws" if helper == "websockets" else "http"
    for port in (rig.impostor.tls_port, rig.impostor.plain_port):
        assert len(str(port)) == len(TLS_PORT), port
    url = first_url(rig, case, family)
    mark = rig.impostor.mark()
    outcome = run_helper(helper, url, rig.policies[mode], rig.cadata)
    assert_zero_bytes(rig.impostor, mark,
                      f"{helper} (unknown_hosts={mode}) given {case.render(rig)!r} "
                      f"({case.hop})", outcome)


MODES = pytest.mark.parametrize("mode", ["allow", "reject"])


def differential(helper: str, max_examples: int,
                 hops: tuple[str, ...] = ("direct", "via-tls", "via-plain")
                 ) -> Callable[[Callable[..., None]], Any]:
    """Turn ``test(rig, mode, case)`` into the bounded, seeded Hypothesis test of ``helper``."""
    family = "ws" if helper == "websockets" else "http"

    def decorate(test: Callable[..., None]) -> Any:
        wrapped = given(case=spellings(family, hops))(test)
        for seed in _seeds(family):
            if seed.hop in hops:
                wrapped = example(case=seed)(wrapped)
        wrapped = settings(
            max_examples=max_examples, derandomize=True, deadline=None, database=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        )(wrapped)
        return MODES(wrapped)

    return decorate


@differential("urllib", max_examples=100)
def test_stdlib_build_opener_never_reaches_the_impostor(rig: Rig, mode: str, case: Case) -> None:
    property_holds(rig, "urllib", mode, case)


@differential("http.client", max_examples=60, hops=("direct",))
def test_stdlib_https_connection_never_reaches_the_impostor(
    rig: Rig, mode: str, case: Case
) -> None:
    property_holds(rig, "http.client", mode, case)


@differential("urllib3", max_examples=100)
def test_urllib3_pool_manager_never_reaches_the_impostor(
    rig: Rig, mode: str, case: Case
) -> None:
    property_holds(rig, "urllib3", mode, case)


@differential("requests", max_examples=60)
def test_requests_session_never_reaches_the_impostor(rig: Rig, mode: str, case: Case) -> None:
    property_holds(rig, "requests", mode, case)


@differential("httpx", max_examples=100)
def test_httpx_client_never_reaches_the_impostor(rig: Rig, mode: str, case: Case) -> None:
    property_holds(rig, "httpx", mode, case)


@differential("httpx-async", max_examples=100)
def test_httpx_async_client_never_reaches_the_impostor(
    rig: Rig, mode: str, case: Case
) -> None:
    property_holds(rig, "httpx-async", mode, case)


@differential("aiohttp", max_examples=100)
def test_aiohttp_session_never_reaches_the_impostor(rig: Rig, mode: str, case: Case) -> None:
    property_holds(rig, "aiohttp", mode, case)


@differential("websockets", max_examples=100)
def test_websockets_connect_never_reaches_the_impostor(
    rig: Rig, mode: str, case: Case
) -> None:
    property_holds(rig, "websockets", mode, case)


# ------------------------------------------------------------------ positive control
@pytest.mark.parametrize("helper", HELPERS)
def test_legitimate_server_is_reached(rig: Rig, helper: str) -> None:
    """The harness would notice if every request simply failed: the legitimate server (pinned
    key) at ``https://localhost:PORT/`` answers each helper, and receives the request."""
    scheme = "wss" if helper == "websockets" else "https"
    mark = rig.legit.mark()
    outcome = run_helper(helper, f"{scheme}://localhost:{rig.legit.tls_port}{SECRET}",
                         rig.policies["allow"], rig.cadata)
    assert not isinstance(outcome, BaseException), repr(outcome)
    records = rig.legit.since(mark)
    assert any(r.handshake and r.data.startswith(b"GET ") for r in records), records
    assert {r.sni for r in records if r.tls} == {"localhost"}


@pytest.mark.parametrize("helper", HELPERS)
def test_control_impostor_is_trusted_when_nothing_is_pinned(rig: Rig, helper: str) -> None:
    """The other half of the control: with a policy that pins only another host, the impostor's
    certificate passes every helper's validation and the request reaches it. So when the tests
    above see zero bytes at the impostor, the pins (or a refusal) stopped the request."""
    scheme = "wss" if helper == "websockets" else "https"
    pins = rig.policies["allow"].pin_set_for("localhost")
    assert pins is not None
    policy = certpin.PinPolicy({"other.test": pins})
    mark = rig.impostor.mark()
    outcome = run_helper(helper, f"{scheme}://localhost:{rig.impostor.tls_port}{SECRET}",
                         policy, rig.cadata)
    assert not isinstance(outcome, BaseException), repr(outcome)
    assert any(r.data.startswith(b"GET /feed") for r in rig.impostor.since(mark))


# ------------------------------------------------------------------ proxies
PROXY_HELPERS = ("urllib", "requests", "httpx", "httpx-async", "aiohttp", "websockets")


@pytest.mark.parametrize("helper", PROXY_HELPERS)
def test_https_proxy_from_environment_impostor_receives_nothing(
    rig: Rig, helper: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """HTTPS_PROXY names ``https://127.0.0.1:PORT`` (a pinned host) and an impostor answers
    there: the TLS to the proxy must be pinned too, so it gets no CONNECT line and no
    Proxy-Authorization (a proxy a helper cannot pin must be refused, not used in clear)."""
    proxy = f"https://proxyuser:proxy-s3cret@127.0.0.1:{rig.proxy.tls_port}"
    for var in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "WSS_PROXY",
                "wss_proxy"):
        monkeypatch.setenv(var, proxy)
    scheme = "wss" if helper == "websockets" else "https"
    mark = rig.proxy.mark()
    outcome = run_helper(helper, f"{scheme}://localhost:{rig.legit.tls_port}{SECRET}",
                         rig.policies["allow"], rig.cadata)
    assert_zero_bytes(rig.proxy, mark, f"{helper} through HTTPS_PROXY={proxy}", outcome)
    if helper == "urllib":
        # regression: urllib cannot speak TLS to a proxy and sent CONNECT and
        # Proxy-Authorization to it in clear text; build_opener refuses an https:// proxy.
        import urllib.error

        from certpin.clients import PinnedRequestError

        assert isinstance(outcome, urllib.error.URLError), outcome
        assert isinstance(outcome.reason, PinnedRequestError), outcome
        assert "https:// proxy" in str(outcome.reason)
    elif helper != "aiohttp":  # aiohttp ignores https:// proxies from the environment (warns)
        assert rig.proxy.since(mark), "the proxy was never contacted: the test proves nothing"


# ------------------------------------------------------------------ httpx event hooks
def _noop_hook(request: Any) -> None:
    return None


async def _async_noop_hook(request: Any) -> None:
    return None


HOOK_ATTACKS = {
    "plain-http": ("http://localhost:{plain}" + SECRET, {}),
    "foreign-host-header": ("https://unpinned.test:{tls}" + SECRET,
                            {"headers": {"Host": "localhost"}}),
    "sni-hostname-extension": ("https://localhost:{tls}" + SECRET,
                               {"extensions": {"sni_hostname": "unpinned.test"}}),
}


@pytest.mark.parametrize("attack", list(HOOK_ATTACKS))
@pytest.mark.parametrize("assign", ["item", "whole"])
@pytest.mark.parametrize("flavour", ["sync", "async"])
def test_httpx_event_hooks_assignment_keeps_the_guard(
    rig: Rig, flavour: str, assign: str, attack: str
) -> None:
    """``client.event_hooks["request"] = [...]`` (documented httpx usage) or
    ``client.event_hooks = {...}`` must not remove certpin's guard: plain http to a pinned host,
    a Host header naming the pinned host over a connection to another one, and the
    ``sni_hostname`` extension all still leave the impostor with zero bytes."""
    from certpin.clients.httpx import pinned_async_client, pinned_client

    template, kwargs = HOOK_ATTACKS[attack]
    url = template.format(plain=rig.impostor.plain_port, tls=rig.impostor.tls_port)
    policy = rig.policies["allow"]
    hook = _noop_hook if flavour == "sync" else _async_noop_hook

    def rehook(client: Any) -> None:
        if assign == "item":
            client.event_hooks["request"] = [hook]
        else:
            client.event_hooks = {"request": [hook], "response": []}

    async def run_async() -> object:
        async with pinned_async_client(policy, cadata=rig.cadata, timeout=TIMEOUT) as c:
            rehook(c)
            r = await c.get(url, **kwargs)
            return r.status_code, r.content

    def run() -> object:
        if flavour == "async":
            return asyncio.run(run_async())
        with pinned_client(policy, cadata=rig.cadata, timeout=TIMEOUT) as c:
            rehook(c)
            r = c.get(url, **kwargs)
            return r.status_code, r.content

    mark = rig.impostor.mark()
    with loopback_only({"unpinned.test": "127.0.0.1"}):
        try:
            outcome: object = run()
        except Exception as exc:
            outcome = exc
    records = rig.impostor.since(mark)
    leaked = [r for r in records if r.data]
    assert not leaked, (f"httpx {flavour}, event_hooks assigned ({assign}), {attack}: "
                        + "; ".join(r.describe() for r in leaked) + f"; returned {outcome!r}")


# ------------------------------------------------------------------ PinnedSSLSocket send paths
#: Public methods of ssl.SSLSocket (with those inherited from socket.socket) that move
#: application bytes, and how to call each on a socket whose handshake timed out in connect().
REQUEST = b"GET /feed?token=s3cret HTTP/1.1\r\nHost: localhost\r\n\r\n"


def _sendfile(sock: ssl.SSLSocket, addr: Any) -> object:
    with tempfile.TemporaryFile() as f:
        f.write(REQUEST)
        f.seek(0)
        return sock.sendfile(f)


def _makefile(sock: ssl.SSLSocket, addr: Any) -> object:
    with sock.makefile("rwb") as f:
        f.write(REQUEST)
        f.flush()
        return f.read(10)


BYTE_MOVERS: dict[str, Callable[[ssl.SSLSocket, Any], object]] = {
    "send": lambda s, a: s.send(REQUEST),
    "sendall": lambda s, a: s.sendall(REQUEST),
    "sendto": lambda s, a: s.sendto(REQUEST, a),
    "sendmsg": lambda s, a: s.sendmsg([REQUEST]),
    "sendmsg_afalg": lambda s, a: s.sendmsg_afalg([REQUEST], op=socket.ALG_OP_ENCRYPT),
    "sendfile": _sendfile,
    "write": lambda s, a: s.write(REQUEST),
    "makefile": _makefile,
    "recv": lambda s, a: s.recv(1024),
    "recv_into": lambda s, a: s.recv_into(bytearray(1024)),
    "recvfrom": lambda s, a: s.recvfrom(1024),
    "recvfrom_into": lambda s, a: s.recvfrom_into(bytearray(1024), 1024),
    "recvmsg": lambda s, a: s.recvmsg(1024),
    "recvmsg_into": lambda s, a: s.recvmsg_into([bytearray(1024)], 0),
    "read": lambda s, a: s.read(1024),
}
#: Public methods that move no application bytes (state, options, the descriptor, TLS
#: metadata, connection set-up and tear-down).
NOT_BYTE_MOVERS = frozenset({
    "accept", "bind", "cipher", "close", "compression", "connect", "connect_ex", "detach",
    "do_handshake", "dup", "fileno", "get_channel_binding", "get_inheritable",
    "get_unverified_chain", "get_verified_chain", "getblocking", "getpeercert", "getpeername",
    "getsockname", "getsockopt", "gettimeout", "listen", "pending", "selected_alpn_protocol",
    "selected_npn_protocol", "set_inheritable", "setblocking", "setsockopt", "settimeout",
    "shared_ciphers", "shutdown", "unwrap", "verify_client_post_handshake", "version",
    "ioctl", "share",
})


def test_every_public_sslsocket_method_is_classified() -> None:
    """A future Python that adds a method to ssl.SSLSocket (or socket.socket) fails here until
    someone decides whether it moves bytes (and so must be guarded and tested below)."""
    public = {n for n in dir(ssl.SSLSocket)
              if not n.startswith("_") and callable(getattr(ssl.SSLSocket, n))
              and not isinstance(getattr(ssl.SSLSocket, n), type)}
    unclassified = public - set(BYTE_MOVERS) - NOT_BYTE_MOVERS
    assert not unclassified, (
        f"classify {sorted(unclassified)}: add each to BYTE_MOVERS (with a call) if it can send "
        "or receive application bytes, else to NOT_BYTE_MOVERS"
    )


def _present_movers() -> list[str]:
    return [n for n in BYTE_MOVERS if hasattr(ssl.SSLSocket, n)]


@pytest.mark.parametrize("method", _present_movers())
def test_byte_mover_after_handshake_timeout_in_connect_sends_nothing(
    rig: Rig, method: str
) -> None:
    """connect() of a pinned socket wrapped before it was connected times out in the handshake
    (the server does not answer); the stdlib then drops the TLS connection but keeps TCP. Every
    method that moves bytes must then raise, send nothing (the server sees only the ClientHello)
    and read nothing (the server's clear text 'injected' reply never reaches the caller)."""
    ctx = certpin.create_ssl_context(rig.policies["allow"], cadata=rig.cadata)
    received = bytearray()
    with socket.create_server(("127.0.0.1", 0)) as listener:
        addr = listener.getsockname()

        def serve() -> None:
            conn, _ = listener.accept()
            with conn:
                conn.settimeout(0.6)
                with contextlib.suppress(OSError):
                    while chunk := conn.recv(65536):  # the ClientHello, until the client gives up
                        received.extend(chunk)
                with contextlib.suppress(OSError):
                    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\ninjected")
                conn.settimeout(3)
                with contextlib.suppress(OSError):
                    while chunk := conn.recv(65536):
                        received.extend(chunk)

        server = threading.Thread(target=serve, daemon=True)
        server.start()
        result: object = None
        with ctx.wrap_socket(socket.socket(), server_hostname="localhost") as tls:
            tls.settimeout(0.3)
            with pytest.raises(TimeoutError):
                tls.connect(addr)
            time.sleep(0.5)  # the server's clear text reply is on its way
            tls.settimeout(1.5)
            try:
                result = BYTE_MOVERS[method](tls, addr)
            except Exception as exc:
                result = exc
        server.join(10)
    assert not server.is_alive()
    assert received[:1] == b"\x16", bytes(received[:40])  # the ClientHello
    record_len = 5 + int.from_bytes(received[3:5], "big")
    assert len(received) == record_len, (
        f"{method}() after the handshake timeout sent {bytes(received[record_len:])!r} after "
        f"the ClientHello; it returned {result!r}"
    )
    assert isinstance(result, Exception), (
        f"{method}() after the handshake timeout returned {result!r} instead of raising")
    assert b"injected" not in repr(result).encode()


if os.name != "posix":  # pragma: no cover
    pytestmark = pytest.mark.skip("loopback_only and the recording server need POSIX sockets")
