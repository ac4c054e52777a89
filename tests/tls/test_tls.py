"""The pinning context itself: construction, refusals, base adoption (mTLS), reporting, chains."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import functools
import socket
import ssl
import sys
from collections.abc import Callable, Iterator

import pytest
import trustme

import certpin
from certpin import PinMismatchError, PinPolicy, PinSet, PolicyError
from certpin.context import create_ssl_context
from certpin.events import PinEvent
from certpin.tls import (
    PinnedSSLObject,
    PinnedSSLSocket,
    PinningSSLContext,
    verified_chain,
)
from certpin.tls.chain import ENCODING_DER
from certpin.verify import Outcome
from support.enforce import (
    HOST,
    RecordingTLSServer,
    der_of,
    impostor,
    impostor_leaf,
    intermediate,
    leaf_context,
    legit_leaf,
    legit_server,
    pem_pin,
    pinned_ctx,
    policy,
    trust_pem,
)

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

REQUEST = b"GET / HTTP/1.1\r\nHost: pinned.test\r\n\r\n"


def get(ctx: ssl.SSLContext, port: int, host: str = HOST) -> tuple[bytes, list[bytes]]:
    """One request; returns the response head+body and the verified chain."""
    raw = socket.create_connection(("127.0.0.1", port), timeout=10)
    with ctx.wrap_socket(raw, server_hostname=host) as tls:
        chain = verified_chain(tls)
        tls.sendall(REQUEST)
        data = b""
        while not data.endswith(b"server"):
            chunk = tls.recv(65536)
            if not chunk:
                break
            data += chunk
    return data, chain


def get_async(ctx: ssl.SSLContext, port: int, host: str = HOST) -> tuple[bytes, list[bytes]]:
    """:func:`get` through asyncio: the ``wrap_bio`` path (:class:`PinnedSSLObject`)."""

    async def run() -> tuple[bytes, list[bytes]]:
        reader, writer = await asyncio.open_connection(
            "127.0.0.1", port, ssl=ctx, server_hostname=host
        )
        try:
            chain = verified_chain(writer.get_extra_info("ssl_object"))
            writer.write(REQUEST)
            await writer.drain()
            data = b""
            while not data.endswith(b"server"):
                chunk = await reader.read(65536)
                if not chunk:
                    break
                data += chunk
        finally:
            writer.close()
            with contextlib.suppress(OSError, ssl.SSLError):
                await writer.wait_closed()
        return data, chain

    return asyncio.run(asyncio.wait_for(run(), 10))


Fetch = Callable[..., tuple[bytes, list[bytes]]]


@pytest.fixture(params=["wrap_socket", "wrap_bio"])
def fetch(request: pytest.FixtureRequest) -> Fetch:
    """One request through PinnedSSLSocket (its inline fast path) or PinnedSSLObject."""
    return get if request.param == "wrap_socket" else get_async


# ----------------------------------------------------------------------------- construction


def test_public_entry_point_is_exported() -> None:
    assert certpin.create_ssl_context is create_ssl_context
    assert "create_ssl_context" in certpin.__all__


def test_context_defaults(pinned_ctx: ssl.SSLContext) -> None:
    assert isinstance(pinned_ctx, PinningSSLContext)
    assert pinned_ctx.verify_mode == ssl.CERT_REQUIRED
    assert pinned_ctx.check_hostname is True
    assert pinned_ctx.options & ssl.OP_NO_RENEGOTIATION
    assert pinned_ctx.protocol == ssl.PROTOCOL_TLS_CLIENT
    assert pinned_ctx.sslsocket_class is PinnedSSLSocket
    assert pinned_ctx.sslobject_class is PinnedSSLObject
    if sys.version_info >= (3, 13):  # the stdlib's defaults are kept
        assert pinned_ctx.verify_flags & ssl.VERIFY_X509_STRICT


def test_default_trust_is_the_system_store(policy: PinPolicy) -> None:
    ctx = create_ssl_context(policy)
    plain = ssl.create_default_context()
    assert ctx.cert_store_stats() == plain.cert_store_stats()


def test_setting_the_same_strong_values_is_allowed(pinned_ctx: ssl.SSLContext) -> None:
    # urllib3 2.x assigns verify_mode (= the context's own) and, unless assert_hostname or
    # assert_fingerprint are used, leaves check_hostname; http.client re-assigns check_hostname.
    pinned_ctx.verify_mode = pinned_ctx.verify_mode
    pinned_ctx.verify_mode = ssl.CERT_REQUIRED
    pinned_ctx.check_hostname = True
    pinned_ctx.options |= ssl.OP_NO_COMPRESSION
    assert pinned_ctx.options & ssl.OP_NO_RENEGOTIATION


@pytest.mark.parametrize(
    ("attr", "value"),
    [
        ("verify_mode", ssl.CERT_NONE),
        ("verify_mode", ssl.CERT_OPTIONAL),
        ("check_hostname", False),
        ("options", ssl.OP_ALL),
        ("sslsocket_class", ssl.SSLSocket),
        ("sslobject_class", ssl.SSLObject),
    ],
)
def test_weakening_setters_raise(pinned_ctx: ssl.SSLContext, attr: str, value: object) -> None:
    with pytest.raises(PolicyError):
        setattr(pinned_ctx, attr, value)
    assert pinned_ctx.verify_mode == ssl.CERT_REQUIRED
    assert pinned_ctx.check_hostname is True
    assert pinned_ctx.options & ssl.OP_NO_RENEGOTIATION
    assert pinned_ctx.sslsocket_class is PinnedSSLSocket


def test_clearing_no_renegotiation_behind_its_back_fails_closed(
    pinned_ctx: ssl.SSLContext, legit_server: RecordingTLSServer
) -> None:
    base_options = ssl.SSLContext.__mro__[1].options  # type: ignore[attr-defined]
    base_options.__set__(pinned_ctx, pinned_ctx.options & ~ssl.OP_NO_RENEGOTIATION)
    with pytest.raises(certpin.PinValidationError, match="OP_NO_RENEGOTIATION"):
        get(pinned_ctx, legit_server.port)
    assert legit_server.received == b""


def test_urllib3_can_use_the_context(pinned_ctx: ssl.SSLContext,
                                     legit_server: RecordingTLSServer) -> None:
    urllib3 = pytest.importorskip("urllib3")
    from support.servers import local_names

    with local_names(HOST), urllib3.PoolManager(ssl_context=pinned_ctx) as pool:
        resp = pool.request("GET", f"https://{HOST}:{legit_server.port}/", retries=False)
        assert resp.status == 200
        # assert_hostname makes urllib3 switch check_hostname off: refused loudly.
        with pytest.raises(PolicyError, match="check_hostname"):
            pool.connection_from_url(
                f"https://{HOST}:{legit_server.port}/",
                pool_kwargs={"assert_hostname": HOST},
            ).request("GET", "/", retries=False)


def test_policy_must_be_a_pin_policy() -> None:
    with pytest.raises(PolicyError, match="PinPolicy"):
        create_ssl_context({"pinned.test": ["sha256/x"]})  # type: ignore[arg-type]


# ----------------------------------------------------------------------------- base adoption


def test_base_is_adopted_with_its_settings(policy: PinPolicy, ca: trustme.CA) -> None:
    base = ssl.create_default_context(cadata=ca.cert_pem.bytes().decode())
    base.minimum_version = ssl.TLSVersion.TLSv1_3
    base.set_alpn_protocols(["http/1.1"])
    ctx = create_ssl_context(policy, base=base)
    assert ctx is base
    assert isinstance(ctx, PinningSSLContext)
    assert ctx.minimum_version == ssl.TLSVersion.TLSv1_3
    assert ctx.options & ssl.OP_NO_RENEGOTIATION
    with pytest.raises(PolicyError):
        base.verify_mode = ssl.CERT_NONE


@pytest.mark.parametrize("kind", ["subclass", "server", "cert-none", "no-hostname", "twice"])
def test_bad_base_is_refused_untouched(policy: PinPolicy, kind: str) -> None:
    if kind == "subclass":
        class Sub(ssl.SSLContext):
            pass

        base: ssl.SSLContext = Sub(ssl.PROTOCOL_TLS_CLIENT)
    elif kind == "server":
        base = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    elif kind == "cert-none":
        base = ssl.create_default_context()
        base.check_hostname = False
        base.verify_mode = ssl.CERT_NONE
    elif kind == "no-hostname":
        base = ssl.create_default_context()
        base.check_hostname = False
    else:
        base = create_ssl_context(policy)
    before_class, before_options = type(base), base.options
    stats = base.cert_store_stats()
    with pytest.raises(PolicyError):
        create_ssl_context(policy, base=base, cadata=trustme.CA().cert_pem.bytes().decode())
    assert type(base) is before_class
    assert base.options == before_options
    assert base.cert_store_stats() == stats  # cadata not loaded: nothing half-done


@pytest.fixture()
def mtls_server(legit_leaf: trustme.LeafCert, ca: trustme.CA) -> Iterator[RecordingTLSServer]:
    """A server that requires a client certificate from ``ca`` and records its subject."""
    srv_ctx = leaf_context(legit_leaf)
    srv_ctx.verify_mode = ssl.CERT_REQUIRED
    ca.configure_trust(srv_ctx)
    peers: list[object] = []

    def handler(conn: ssl.SSLSocket, server: RecordingTLSServer) -> None:
        peers.append(conn.getpeercert())
        from support.servers import http_handler

        http_handler(conn, server)

    with RecordingTLSServer(srv_ctx, handler) as srv:
        srv.peers = peers  # type: ignore[attr-defined]
        yield srv


@pytest.mark.parametrize("how", ["base", "load_cert_chain"])
def test_mtls_client_certificate_is_sent(how: str, policy: PinPolicy, ca: trustme.CA,
                                         trust_pem: str,
                                         mtls_server: RecordingTLSServer) -> None:
    client_cert = ca.issue_cert("client@pinned.test")
    if how == "base":
        base = ssl.create_default_context(cadata=trust_pem)
        base.minimum_version = ssl.TLSVersion.TLSv1_3  # client cert encrypted (see README)
        client_cert.configure_cert(base)
        ctx = create_ssl_context(policy, base=base)
    else:
        ctx = create_ssl_context(policy, cadata=trust_pem)
        client_cert.configure_cert(ctx)
    data, _ = get(ctx, mtls_server.port)
    assert data.endswith(b"hello from the pinned server")
    peers = mtls_server.peers  # type: ignore[attr-defined]
    assert peers and "client@pinned.test" in repr(peers[0])


def test_without_client_certificate_the_mtls_server_refuses(
    pinned_ctx: ssl.SSLContext, mtls_server: RecordingTLSServer
) -> None:
    """Control for the test above: the server really requires the certificate."""
    with pytest.raises((ssl.SSLError, OSError)):
        get(pinned_ctx, mtls_server.port)


# ----------------------------------------------------------------------------- chains


def test_verified_chain_is_der_leaf_first(pinned_ctx: ssl.SSLContext,
                                          legit_server: RecordingTLSServer,
                                          legit_leaf: trustme.LeafCert,
                                          intermediate: trustme.CA, ca: trustme.CA) -> None:
    _, chain = get(pinned_ctx, legit_server.port)
    assert chain == [
        der_of(legit_leaf.cert_chain_pems[0].bytes()),
        der_of(intermediate.cert_pem.bytes()),
        der_of(ca.cert_pem.bytes()),
    ]


def test_verified_chain_empty_before_handshake(pinned_ctx: ssl.SSLContext) -> None:
    obj = pinned_ctx.wrap_bio(ssl.MemoryBIO(), ssl.MemoryBIO(), server_hostname=HOST)
    assert verified_chain(obj) == []


def test_partial_chain_stops_at_a_trusted_intermediate(
    legit_server: RecordingTLSServer, intermediate: trustme.CA, ca: trustme.CA
) -> None:
    """VERIFY_X509_PARTIAL_CHAIN (default on 3.13): a root-only pin then cannot match."""
    base = ssl.create_default_context(cadata=intermediate.cert_pem.bytes().decode())
    base.verify_flags |= ssl.VERIFY_X509_PARTIAL_CHAIN
    root_only = PinPolicy({HOST: PinSet([pem_pin(ca.cert_pem.bytes())], allow_single_pin=True)})
    ctx = create_ssl_context(root_only, base=base)
    with pytest.raises(PinMismatchError) as info:
        get(ctx, legit_server.port)
    assert len(info.value.chain) == 2  # leaf, intermediate: the root is not in it
    base2 = ssl.create_default_context(cadata=intermediate.cert_pem.bytes().decode())
    base2.verify_flags |= ssl.VERIFY_X509_PARTIAL_CHAIN
    inter_pin = PinPolicy(
        {HOST: PinSet([pem_pin(intermediate.cert_pem.bytes())], allow_single_pin=True)}
    )
    data, chain = get(create_ssl_context(inter_pin, base=base2), legit_server.port)
    assert data.endswith(b"server")
    assert len(chain) == 2


# ----------------------------------------------------------------------------- hosts


def test_unpinned_host_passes_and_reject_policy_refuses(
    trust_pem: str, legit_server: RecordingTLSServer, policy: PinPolicy
) -> None:
    # 127.0.0.1 is in the certificate but not in the policy.
    data, _ = get(create_ssl_context(policy, cadata=trust_pem), legit_server.port, "127.0.0.1")
    assert data.endswith(b"server")
    strict = PinPolicy(dict(policy.pin_sets), unknown_hosts="reject")
    n = len(legit_server.received)
    with pytest.raises(PinMismatchError, match=r"127\.0\.0\.1"):
        get(create_ssl_context(strict, cadata=trust_pem), legit_server.port, "127.0.0.1")
    assert len(legit_server.received) == n


def test_subdomain_and_ipv6(trust_pem: str, legit_leaf: trustme.LeafCert,
                            policy: PinPolicy) -> None:
    ctx = create_ssl_context(policy, cadata=trust_pem)
    with RecordingTLSServer(leaf_context(legit_leaf), host="::1") as srv:
        raw = socket.create_connection(("::1", srv.port), timeout=10)
        with ctx.wrap_socket(raw, server_hostname="www.pinned.test") as tls:
            assert len(verified_chain(tls)) == 3


# ----------------------------------------------------------------------------- reporting


@pytest.fixture()
def events() -> list[PinEvent]:
    return []


def test_reporter_gets_mismatch_withserved_chain(
    policy: PinPolicy, trust_pem: str, events: list[PinEvent], impostor_leaf: trustme.LeafCert,
    legit_leaf: trustme.LeafCert, ca: trustme.CA,
) -> None:
    from certpin.tls import pinning_context
    from support.enforce import appending_impostor_context

    ctx = pinning_context(policy, cadata=trust_pem, reporter=events.append)
    with RecordingTLSServer(appending_impostor_context(impostor_leaf, legit_leaf, ca)) as srv:
        with pytest.raises(PinMismatchError):
            get(ctx, srv.port)
        assert srv.received == b""
    (event,) = events
    assert event.kind == "pin-mismatch"
    assert event.hostname == HOST
    assert event.port == srv.port
    assert event.verdict is not None and event.verdict.outcome == Outcome.MISMATCH
    assert event.time.tzinfo is not None
    root = der_of(ca.cert_pem.bytes())
    assert root in event.served_chain  # the attacker appended it ...
    assert root not in event.verified_chain  # ... but it was never verified, so no match
    assert len(event.verified_chain) == 2


def test_reporter_gets_certificate_invalid_for_pinned_hosts_only(
    policy: PinPolicy, events: list[PinEvent], impostor: RecordingTLSServer, ca: trustme.CA
) -> None:
    from certpin.tls import pinning_context

    # Trust only the legitimate root: the impostor's certificate is rejected by OpenSSL.
    ctx = pinning_context(policy, cadata=ca.cert_pem.bytes().decode(), reporter=events.append)
    with pytest.raises(ssl.SSLCertVerificationError) as info:
        get(ctx, impostor.port)
    assert not isinstance(info.value, certpin.PinValidationError)
    with pytest.raises(ssl.SSLCertVerificationError):
        get(ctx, impostor.port, host="127.0.0.1")  # not pinned: no event
    assert [e.kind for e in events] == ["certificate-invalid"]
    assert events[0].verdict is None
    assert events[0].error and "certificate verify failed" in events[0].error
    assert impostor.received == b""


def test_report_only_mismatch_passes_and_reports(
    trust_pem: str, events: list[PinEvent], impostor: RecordingTLSServer, ca: trustme.CA,
    intermediate: trustme.CA,
) -> None:
    from certpin.tls import pinning_context

    report_only = PinPolicy({HOST: PinSet(
        [pem_pin(ca.cert_pem.bytes()), pem_pin(intermediate.cert_pem.bytes())], enforce=False
    )})
    ctx = pinning_context(report_only, cadata=trust_pem, reporter=events.append)
    data, _ = get(ctx, impostor.port)
    assert data.endswith(b"server")
    assert [e.kind for e in events] == ["report-only-mismatch"]
    assert events[0].verdict is not None
    assert events[0].verdict.outcome == Outcome.REPORT_ONLY_MISMATCH


def test_a_raising_reporter_does_not_change_the_outcome(
    policy: PinPolicy, trust_pem: str, impostor: RecordingTLSServer,
    legit_server: RecordingTLSServer,
) -> None:
    from certpin.tls import pinning_context

    def broken(event: PinEvent) -> None:
        raise RuntimeError("reporter down")

    ctx = pinning_context(policy, cadata=trust_pem, reporter=broken)
    with pytest.raises(PinMismatchError):
        get(ctx, impostor.port)
    assert impostor.received == b""
    data, _ = get(ctx, legit_server.port)
    assert data.endswith(b"server")


def test_server_side_use_is_refused(pinned_ctx: ssl.SSLContext) -> None:
    with pytest.raises(certpin.PinValidationError, match="server side"):
        pinned_ctx.wrap_bio(ssl.MemoryBIO(), ssl.MemoryBIO(), server_side=True)


def test_appending_impostor_sends_the_pinned_certificates(
    trust_pem: str, impostor_leaf: trustme.LeafCert, legit_leaf: trustme.LeafCert,
    ca: trustme.CA,
) -> None:
    """The attacker helper really sends the pinned leaf and root after its own leaf."""
    from certpin.tls.chain import served_chain
    from support.enforce import appending_impostor_context

    plain = ssl.create_default_context(cadata=trust_pem)
    with RecordingTLSServer(appending_impostor_context(impostor_leaf, legit_leaf, ca)) as srv:
        raw = socket.create_connection(("127.0.0.1", srv.port), timeout=10)
        with plain.wrap_socket(raw, server_hostname=HOST) as tls:
            served = served_chain(tls)
            verified = verified_chain(tls)
    assert served == (
        der_of(impostor_leaf.cert_chain_pems[0].bytes()),
        der_of(legit_leaf.cert_chain_pems[0].bytes()),
        der_of(ca.cert_pem.bytes()),
    )
    assert der_of(ca.cert_pem.bytes()) not in verified


# ----------------------------------------------------------------------------- verdict cache


def test_remembered_passes_are_only_passes_that_cannot_change_but_by_time(
    trust_pem: str, legit_server: RecordingTLSServer, impostor: RecordingTLSServer,
    ca: trustme.CA, intermediate: trustme.CA, fetch: Fetch,
) -> None:
    import datetime as dt

    pins = [pem_pin(ca.cert_pem.bytes()), pem_pin(intermediate.cert_pem.bytes())]
    far = dt.datetime.now(dt.UTC) + dt.timedelta(days=365)
    pol = PinPolicy({HOST: PinSet(pins), "www.pinned.test": PinSet(pins, expires=far)})
    ctx = create_ssl_context(pol, cadata=trust_pem)
    assert isinstance(ctx, PinningSSLContext)
    _, chain = fetch(ctx, legit_server.port)  # matched (the intermediate, position 1)
    fetch(ctx, legit_server.port, "127.0.0.1")  # not pinned
    fetch(ctx, legit_server.port, "www.pinned.test")  # matched, until the pin set expires
    with pytest.raises(PinMismatchError):
        fetch(ctx, impostor.port)  # failure: never kept
    kept = ctx._certpin_passes
    assert sorted(kept) == ["127.0.0.1", HOST, "www.pinned.test"]
    assert kept["127.0.0.1"] == (None, None)
    until, matches = kept[HOST]
    assert until is None
    assert matches is not None
    assert [(pos, cert.public_bytes(ENCODING_DER)) for pos, cert in matches] == [(1, chain[1])]
    assert kept["www.pinned.test"][0] == far.timestamp()
    # A remembered pass is for that certificate only: the impostor is still refused, twice.
    for _ in range(2):
        with pytest.raises(PinMismatchError):
            fetch(ctx, impostor.port)
    assert impostor.received == b""
    assert legit_server.received.count(b"GET / ") == 3


def test_remembered_pass_is_for_the_certificate_that_matched_not_its_issuer(
    trust_pem: str, intermediate: trustme.CA, legit_leaf: trustme.LeafCert, fetch: Fetch,
) -> None:
    """Pinned to the leaf key: after a pass, another leaf from the same intermediate (same
    issuer, same chain above it) is refused: the remembered match is the leaf, position 0."""
    other_leaf = intermediate.issue_cert(HOST, "127.0.0.1")
    pol = PinPolicy({HOST: PinSet([pem_pin(legit_leaf.cert_chain_pems[0].bytes())],
                                  allow_single_pin=True)})
    ctx = create_ssl_context(pol, cadata=trust_pem)
    with RecordingTLSServer(leaf_context(legit_leaf)) as legit, \
            RecordingTLSServer(leaf_context(other_leaf)) as other:
        for _ in range(2):
            fetch(ctx, legit.port)
            with pytest.raises(PinMismatchError):
                fetch(ctx, other.port)
        other.settle()
        assert other.received == b""
    assert isinstance(ctx, PinningSSLContext)
    assert [pos for pos, _ in ctx._certpin_passes[HOST][1] or ()] == [0]


def test_remembered_pass_ends_when_the_pin_set_expires(
    trust_pem: str, legit_server: RecordingTLSServer, ca: trustme.CA,
    intermediate: trustme.CA, fetch: Fetch,
) -> None:
    """A pass remembered for a pin set with an expiry is not used after it: the full check
    runs again and, with expired='reject', refuses the host."""
    import datetime as dt
    import time

    pins = [pem_pin(ca.cert_pem.bytes()), pem_pin(intermediate.cert_pem.bytes())]
    soon = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=1.5)
    pol = PinPolicy({HOST: PinSet(pins, expires=soon)}, expired="reject")
    ctx = create_ssl_context(pol, cadata=trust_pem)
    fetch(ctx, legit_server.port)
    fetch(ctx, legit_server.port)  # the remembered pass
    time.sleep(max(0.0, soon.timestamp() - time.time()) + 0.2)
    with pytest.raises(certpin.PinValidationError, match="expired"):
        fetch(ctx, legit_server.port)
    assert legit_server.received.count(b"GET / ") == 2


def test_blocking_handshake_of_a_non_blocking_socket_is_checked_and_stays_non_blocking(
    pinned_ctx: ssl.SSLContext, legit_server: RecordingTLSServer, impostor: RecordingTLSServer,
) -> None:
    """do_handshake(block=True) takes the stdlib's path (blocking for the handshake, then the
    timeout restored), the full check the first time, the remembered pass the second."""
    for _ in range(2):
        raw = socket.create_connection(("127.0.0.1", legit_server.port), timeout=10)
        raw.setblocking(False)
        with pinned_ctx.wrap_socket(raw, server_hostname=HOST,
                                    do_handshake_on_connect=False) as tls:
            tls.do_handshake(block=True)
            assert tls.gettimeout() == 0.0
            assert len(verified_chain(tls)) == 3
        assert HOST in pinned_ctx._certpin_passes  # type: ignore[attr-defined]
    raw = socket.create_connection(("127.0.0.1", impostor.port), timeout=10)
    raw.setblocking(False)
    with pinned_ctx.wrap_socket(raw, server_hostname=HOST, do_handshake_on_connect=False) as tls:
        with pytest.raises(PinMismatchError):
            tls.do_handshake(block=True)
        with pytest.raises(certpin.PinValidationError, match="already failed"):
            tls.sendall(REQUEST)
    impostor.settle()
    assert impostor.received == b""


def test_handshake_of_a_closed_socket_raises_what_the_stdlib_raises(
    pinned_ctx: ssl.SSLContext, trust_pem: str, legit_server: RecordingTLSServer
) -> None:
    """An OSError (EBADF) as from ssl.SSLSocket.do_handshake, not an AttributeError from the
    direct OpenSSL call, so callers catching OSError keep working."""
    plain = ssl.create_default_context(cadata=trust_pem)
    errors = []
    for ctx in (plain, pinned_ctx):
        raw = socket.create_connection(("127.0.0.1", legit_server.port), timeout=10)
        tls = ctx.wrap_socket(raw, server_hostname=HOST, do_handshake_on_connect=False)
        tls.close()
        with pytest.raises(OSError) as caught:
            tls.do_handshake()
        errors.append((type(caught.value), caught.value.errno))
    assert errors[0] == errors[1] == (OSError, errno.EBADF)


@pytest.mark.parametrize("path", ["PinningSSLContext.wrap_socket", "ssl.SSLContext.wrap_socket"])
@pytest.mark.parametrize("weaken", ["verify_mode", "check_hostname", "options"])
def test_weakening_behind_its_back_after_a_remembered_pass_fails_closed(
    weaken: str, path: str, pinned_ctx: ssl.SSLContext, legit_server: RecordingTLSServer,
) -> None:
    """Through the context's own wrap_socket (which leaves the check to do_handshake, run
    inside it) the handshake-time check refuses; past it, the creation-time check does."""
    get(pinned_ctx, legit_server.port)  # remembered
    get(pinned_ctx, legit_server.port)
    c_level = ssl.SSLContext.__mro__[1]
    if weaken == "verify_mode":
        c_level.verify_mode.__set__(pinned_ctx, ssl.CERT_OPTIONAL)  # type: ignore[attr-defined]
    elif weaken == "check_hostname":
        c_level.check_hostname.__set__(pinned_ctx, False)  # type: ignore[attr-defined]
    else:
        c_level.options.__set__(  # type: ignore[attr-defined]
            pinned_ctx, pinned_ctx.options & ~ssl.OP_NO_RENEGOTIATION
        )
    before = legit_server.received
    raw = socket.create_connection(("127.0.0.1", legit_server.port), timeout=10)
    wrap = pinned_ctx.wrap_socket if path.startswith("Pinning") else functools.partial(
        ssl.SSLContext.wrap_socket, pinned_ctx
    )
    with raw, pytest.raises(certpin.PinValidationError, match=weaken.replace("options",
                                                                              "RENEGOTIATION")):
        tls = wrap(raw, server_hostname=HOST)
        tls.sendall(REQUEST)
    legit_server.settle()
    assert legit_server.received == before


def test_remembered_passes_are_bounded(pinned_ctx: ssl.SSLContext,
                                       legit_server: RecordingTLSServer) -> None:
    from certpin.tls.passes import MATCHED_CERTS_PER_HOST, VERDICT_CACHE_SIZE
    from certpin.verify import Verdict

    assert isinstance(pinned_ctx, PinningSSLContext)
    get(pinned_ctx, legit_server.port)
    for i in range(VERDICT_CACHE_SIZE + 10):
        pinned_ctx._certpin_passes.remember(
            f"host{i}.unpinned.test", Verdict(Outcome.NOT_PINNED, "x", True), ()
        )
    assert 0 < len(pinned_ctx._certpin_passes) <= VERDICT_CACHE_SIZE
    pin_set = policy_pin_set(pinned_ctx)
    for i in range(MATCHED_CERTS_PER_HOST + 5):
        verdict = Verdict(Outcome.MATCHED, HOST, True, pin_set=pin_set, matched_position=0)
        pinned_ctx._certpin_passes.remember(HOST, verdict, (f"cert{i}",))
    matches = pinned_ctx._certpin_passes[HOST][1]
    assert matches is not None and len(matches) == MATCHED_CERTS_PER_HOST
    assert matches[-1] == (0, f"cert{MATCHED_CERTS_PER_HOST + 4}")


def policy_pin_set(ctx: PinningSSLContext) -> PinSet:
    found = ctx.policy.pin_set_for(HOST)
    assert found is not None
    return found
