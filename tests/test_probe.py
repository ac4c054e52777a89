"""fetch_chain against real servers on 127.0.0.1 and ::1: chains, zero bytes, every error."""

from __future__ import annotations

import contextlib
import socket
import ssl
import threading
from collections.abc import Iterator

import pytest
import trustme

from certpin import FetchedChain, ProbeError, cert_pin, fetch_chain, spki_pin
from certpin.probe import parse_host_port
from support.obtain_certs import Leaf, TestPKI, self_signed
from support.servers import RecordingTLSServer


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> TestPKI:
    return TestPKI(str(tmp_path_factory.mktemp("probe-pki")))


@pytest.fixture(scope="module")
def leaf(pki: TestPKI) -> Leaf:
    return pki.leaf("ec256")


@pytest.fixture()
def ca_file(ca: trustme.CA, tmp_path) -> str:  # type: ignore[no-untyped-def]
    path = str(tmp_path / "ca.pem")
    ca.cert_pem.write_to_path(path)
    return path


def test_zero_application_bytes_and_verified_chain(
    server: RecordingTLSServer, server_cert: trustme.LeafCert, ca: trustme.CA, ca_file: str
) -> None:
    chain = fetch_chain("127.0.0.1", server.port, cafile=ca_file)
    server.stop()
    assert server.received == b""
    assert server.connections == 1  # validated at the first handshake: one connection only
    server.settle()
    assert server.handshakes == 1  # the handshake completed, so data could have been sent
    assert isinstance(chain, FetchedChain)
    assert chain.host == "127.0.0.1" and chain.port == server.port
    assert chain.server_name is None  # IP address: no SNI
    assert chain.verify_error is None
    assert chain.tls_version in ("TLSv1.2", "TLSv1.3")
    leaf_pem = server_cert.cert_chain_pems[0].bytes()
    assert chain.verified is not None
    assert cert_pin(chain.verified[0]) == cert_pin(leaf_pem)
    assert cert_pin(chain.verified[-1]) == cert_pin(ca.cert_pem.bytes())
    assert [cert_pin(c) for c in chain.served] == [cert_pin(leaf_pem)]


def test_served_and_verified_chains_differ(pki: TestPKI, leaf: Leaf) -> None:
    """Server sends leaf + intermediate + an unrelated cert; the verified chain has leaf,
    intermediate and the root from the store, never the unrelated certificate."""
    unrelated = self_signed()
    context = leaf.server_context(pki.directory, "extra", extra=(unrelated,))
    with RecordingTLSServer(context) as srv:
        chain = fetch_chain("127.0.0.1", srv.port, cafile=pki.ca_file)
    assert srv.received == b""
    assert [cert_pin(c) for c in chain.served] == [
        cert_pin(leaf.cert), cert_pin(pki.intermediate), cert_pin(unrelated)
    ]
    assert chain.verified is not None
    assert [cert_pin(c) for c in chain.verified] == [
        cert_pin(leaf.cert), cert_pin(pki.intermediate), cert_pin(pki.root)
    ]


def test_untrusted_chain_gives_served_only(pki: TestPKI, leaf: Leaf, tmp_path) -> None:  # type: ignore[no-untyped-def]
    other = TestPKI(str(tmp_path))  # the client trusts a root that did not issue the server's
    with RecordingTLSServer(leaf.server_context(pki.directory, "untrusted")) as srv:
        chain = fetch_chain("127.0.0.1", srv.port, cafile=other.ca_file)
    assert srv.received == b""
    assert chain.verified is None
    assert chain.verify_error is not None and "issuer" in chain.verify_error
    assert spki_pin(chain.served[0]) == spki_pin(leaf.cert)
    assert len(chain.served) == 2


def test_hostname_mismatch_is_not_verified(pki: TestPKI, leaf: Leaf) -> None:
    with RecordingTLSServer(leaf.server_context(pki.directory, "mismatch")) as srv:
        ok = fetch_chain("127.0.0.1", srv.port, server_name="pinned.test", cafile=pki.ca_file)
        bad = fetch_chain("127.0.0.1", srv.port, server_name="other.test", cafile=pki.ca_file)
    assert ok.verified is not None and ok.server_name == "pinned.test"
    assert bad.verified is None and bad.server_name == "other.test"
    assert bad.verify_error is not None and "other.test" in bad.verify_error
    assert srv.received == b""


def test_sni_is_sent_for_names_and_not_for_ip_addresses(pki: TestPKI, leaf: Leaf) -> None:
    seen: list[str | None] = []
    context = leaf.server_context(pki.directory, "sni")
    context.sni_callback = lambda _sock, name, _ctx: seen.append(name)  # type: ignore[assignment,func-returns-value]
    with RecordingTLSServer(context) as srv:
        fetch_chain("127.0.0.1", srv.port, cafile=pki.ca_file)
        fetch_chain("127.0.0.1", srv.port, server_name="pinned.test", cafile=pki.ca_file)
    assert seen == [None, "pinned.test"]


@pytest.mark.parametrize("host", ["::1", "[::1]", "0:0:0:0:0:0:0:1"])
def test_ipv6_literal(host: str, pki: TestPKI, leaf: Leaf) -> None:
    try:
        srv = RecordingTLSServer(leaf.server_context(pki.directory, "v6"), host="::1")
    except OSError as exc:  # pragma: no cover - machines without IPv6 loopback
        pytest.skip(f"no IPv6 loopback: {exc}")
    with srv:
        chain = fetch_chain(host, srv.port, cafile=pki.ca_file)
    assert chain.host == "::1"
    assert chain.verified is not None
    assert cert_pin(chain.verified[0]) == cert_pin(leaf.cert)
    assert srv.received == b""


def test_refused_port_names_host_and_port() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))  # bound, not listening: connections are refused
        port = s.getsockname()[1]
        with pytest.raises(ProbeError, match=rf"^127\.0\.0\.1:{port}: cannot connect") as info:
            fetch_chain("127.0.0.1", port, timeout=5)
    assert isinstance(info.value, OSError)


def test_refused_ipv6_port_names_host_and_port() -> None:
    try:
        s = socket.socket(socket.AF_INET6)
        s.bind(("::1", 0))
    except OSError as exc:  # pragma: no cover
        pytest.skip(f"no IPv6 loopback: {exc}")
    with s:
        port = s.getsockname()[1]
        with pytest.raises(ProbeError, match=rf"^\[::1\]:{port}: cannot connect"):
            fetch_chain("::1", port, timeout=5)


@contextlib.contextmanager
def silent_server() -> Iterator[int]:
    """A socket that accepts TCP connections (kernel backlog) but never says a word."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(8)
        yield s.getsockname()[1]


def test_handshake_timeout_names_host_and_port() -> None:
    with silent_server() as port, pytest.raises(
        ProbeError, match=rf"^127\.0\.0\.1:{port}: TLS handshake timed out after 0\.5 s"
    ):
        fetch_chain("127.0.0.1", port, timeout=0.5)


def test_connect_timeout_names_host_and_port() -> None:
    """A listener whose accept queue is full drops new SYNs: the TCP connect itself times out."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(0)
        port = s.getsockname()[1]
        fillers = []
        try:
            for _ in range(4):
                c = socket.socket()
                c.setblocking(False)
                with contextlib.suppress(BlockingIOError):
                    c.connect(("127.0.0.1", port))
                fillers.append(c)
            with pytest.raises(
                ProbeError, match=rf"^127\.0\.0\.1:{port}: connection timed out after 0\.5 s"
            ):
                fetch_chain("127.0.0.1", port, timeout=0.5)
        finally:
            for c in fillers:
                c.close()


@contextlib.contextmanager
def plain_http_server() -> Iterator[tuple[int, list[bytes]]]:
    """An HTTP (not HTTPS) server: answers anything with a 400 and closes."""
    received: list[bytes] = []
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(8)

    def serve() -> None:
        while True:
            try:
                conn, _ = s.accept()
            except OSError:
                return
            with conn:
                conn.settimeout(5)
                with contextlib.suppress(OSError):
                    received.append(conn.recv(65536))
                    conn.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    try:
        yield s.getsockname()[1], received
    finally:
        with contextlib.suppress(OSError):
            s.shutdown(socket.SHUT_RDWR)
        s.close()
        t.join(5)


def test_plain_http_server_is_a_probe_error() -> None:
    with plain_http_server() as (port, received), pytest.raises(
        ProbeError, match=rf"^127\.0\.0\.1:{port}: TLS handshake failed \(not a TLS server\?\)"
    ):
        fetch_chain("127.0.0.1", port, timeout=5)
    # what reached the HTTP server is a TLS ClientHello (record type 22), not application data
    assert received and all(r[:1] == b"\x16" for r in received if r)


def test_bad_cafile_is_a_certificate_error(tmp_path, server: RecordingTLSServer) -> None:  # type: ignore[no-untyped-def]
    from certpin import CertificateError

    bad = tmp_path / "bad.pem"
    bad.write_text("not a certificate")
    with pytest.raises(CertificateError, match=r"bad\.pem"):
        fetch_chain("127.0.0.1", server.port, cafile=str(bad))
    assert server.connections == 0


def test_default_trust_store_does_not_trust_the_test_ca(server: RecordingTLSServer) -> None:
    chain = fetch_chain("127.0.0.1", server.port)
    assert chain.verified is None
    assert chain.verify_error
    assert len(chain.served) == 1


def test_works_with_ssl_module_chains_on_this_python(
    server: RecordingTLSServer, ca_file: str
) -> None:
    """On 3.13 the public get_verified_chain is used, before it the private one: same result."""
    chain = fetch_chain("127.0.0.1", server.port, cafile=ca_file)
    assert chain.verified is not None and len(chain.verified) == 2
    assert hasattr(ssl.SSLSocket, "get_verified_chain") or hasattr(
        ssl._ssl._SSLSocket, "get_verified_chain"  # type: ignore[attr-defined]
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("example.test", ("example.test", 443)),
        ("example.test:8443", ("example.test", 8443)),
        ("[::1]:8443", ("::1", 8443)),
        ("[::1]", ("::1", 443)),
        ("::1", ("::1", 443)),
        ("127.0.0.1:1", ("127.0.0.1", 1)),
        ("[0:0::1]:9", ("::1", 9)),
    ],
)
def test_parse_host_port(text: str, expected: tuple[str, int]) -> None:
    assert parse_host_port(text) == expected


@pytest.mark.parametrize(
    "text", ["", ":443", "host:0", "host:65536", "host:x", "[::1", "[::1]x", "[host]:1",
             "a b", "a/b", "1::2::3", "host:\x1b", "a..b", "x" * 300 + ".test", ".",
             # found by fuzzing (issue 16): int() refused these with a bare ValueError
             "host:\u00b2", "[::1]:" + "9" * 4400, "host:" + "1" * 4301,
             # a digit, but not an ASCII one: no port 12 from Arabic-Indic digits
             "host:\u0661\u0662", "host:000443"]
)
def test_parse_host_port_rejects(text: str) -> None:
    with pytest.raises(ProbeError, match="invalid target"):
        parse_host_port(text)


@pytest.mark.parametrize(
    ("host", "server_name"),
    [("127.0.0.1", "bad name"), ("127.0.0.1", "a..b"), ("127.0.0.1", "x\x00y"),
     ("127.0.0.1", ""), ("127.0.0.1", "a" * 300), ("", None), ("exa mple.test", None),
     ("\x00", None), ("a" * 300, None)],
)
def test_impossible_names_are_probe_errors_before_connecting(
    host: str, server_name: str | None, server: RecordingTLSServer
) -> None:
    with pytest.raises(ProbeError, match="not a host name or IP address") as info:
        fetch_chain(host, server.port, server_name=server_name, timeout=3)
    assert "\x00" not in str(info.value) and len(str(info.value)) < 200
    assert server.connections == 0


@pytest.mark.parametrize("timeout", [0, -1, float("nan"), "5", True])
def test_bad_timeouts_are_probe_errors(timeout: object) -> None:
    with pytest.raises(ProbeError, match="timeout must be a positive number"):
        fetch_chain("127.0.0.1", 443, timeout=timeout)  # type: ignore[arg-type]


def test_a_host_that_is_not_text_is_a_probe_error() -> None:
    with pytest.raises(ProbeError, match="expected text"):
        fetch_chain(None, 443)  # type: ignore[arg-type]


@pytest.mark.parametrize("port", [0, 65536, -1, True, "443"])
def test_bad_ports_are_probe_errors(port: object) -> None:
    with pytest.raises(ProbeError, match="port must be 1-65535"):
        fetch_chain("127.0.0.1", port)  # type: ignore[arg-type]


def test_public_names_are_exported_sorted() -> None:
    import certpin

    assert certpin.__all__ == sorted(certpin.__all__)
    assert {"FetchedChain", "fetch_chain"} <= set(certpin.__all__)


def test_an_intermediate_in_the_store_can_be_the_trust_anchor(
    pki: TestPKI, leaf: Leaf, tmp_path, capsys: pytest.CaptureFixture[str]  # type: ignore[no-untyped-def]
) -> None:
    """With partial chains (Python 3.13's default) the verified chain ends at the trusted
    intermediate: the served root is not part of it. Without, validation fails."""
    import json

    from certpin.cli import main
    from support.obtain_certs import pem

    anchor = tmp_path / "intermediate.pem"
    anchor.write_bytes(pem(pki.intermediate))
    context = leaf.server_context(pki.directory, "partial", extra=(pki.root,))
    with RecordingTLSServer(context) as srv:
        chain = fetch_chain("127.0.0.1", srv.port, cafile=str(anchor))
        main(["pins", f"127.0.0.1:{srv.port}", "--cafile", str(anchor), "--format", "json"])
    assert len(chain.served) == 3
    (target,) = json.loads(capsys.readouterr().out)
    if ssl.create_default_context().verify_flags & ssl.VERIFY_X509_PARTIAL_CHAIN:
        assert chain.verified is not None
        assert [cert_pin(c) for c in chain.verified] == [cert_pin(leaf.cert),
                                                         cert_pin(pki.intermediate)]
        positions = [(c["position"], c["in_verified_chain"]) for c in target["certificates"]]
        assert positions == [("leaf", True), ("intermediate", True), ("root", False)]
    else:
        assert chain.verified is None and chain.verify_error
        assert target["verified"] is False


def test_a_shared_context_must_verify(server, ca, tmp_path) -> None:
    """fetch_chain(context=...) (one trust store for a fleet check) refuses a context that does
    not validate, and with a verifying one gives the verified chain."""
    from certpin.probe import verifying_context

    cafile = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(cafile))
    shared = verifying_context(str(cafile))
    seen = fetch_chain("127.0.0.1", server.port, context=shared)
    assert seen.verified is not None and len(seen.verified) == 2
    lax = ssl.create_default_context()
    lax.check_hostname = False
    lax.verify_mode = ssl.CERT_NONE
    with pytest.raises(ProbeError, match="must verify"):
        fetch_chain("127.0.0.1", server.port, context=lax)


# ------------------------------------------------------------ regressions
# Moved here from the files that grouped them by who found them (red team, reviews).


# regression: 'localhost..' passed the name check, then socket's idna codec raised (found by the
#   review of hostile input)
def test_fetch_chain_refuses_two_trailing_dots() -> None:
    from certpin import ProbeError, fetch_chain

    with pytest.raises(ProbeError, match="not a host name"):
        fetch_chain("localhost..", 1, timeout=1)


# regression: a huge timeout was accepted by settimeout, then connect raised OverflowError (found by
#   the review of hostile input)
@pytest.mark.parametrize("timeout", [1e10, 1e308, float("inf")])
def test_fetch_chain_timeout_too_large_is_a_probe_error(timeout: float) -> None:
    # socket.settimeout accepted it, then connect raised OverflowError (time_t) from inside.
    from certpin import ProbeError, fetch_chain

    with pytest.raises(ProbeError, match="timeout"):
        fetch_chain("127.0.0.1", 1, timeout=timeout)
