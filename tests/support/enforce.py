"""Certificates and servers for the enforcement tests (legitimate and attacking), all trustme-based.

Attackers built here:

* ``impostor``: a leaf for pinned.test from ``attacker_ca`` (a CA the client also trusts).
* ``appending impostor``: that leaf, then the pinned (real) leaf and the real CA appended to
  the chain it sends (CVE-2016-2402 style).
* ``forged leaf``: a leaf for pinned.test naming the pinned intermediate as issuer (same
  subject, same authority key identifier) but signed with another key; the real intermediate is
  appended. Only a handshake without verification would accept it.
* ``self-signed``, ``expired`` and ``wrong host`` certificates.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import select
import socket
import ssl
import tempfile
import threading
from collections.abc import Iterator, Sequence

import pytest
import trustme
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from certpin.context import create_ssl_context
from certpin.pins import Pin, spki_pin
from certpin.policy import PinPolicy, PinSet

from .selfsigned import san, self_signed_pems
from .servers import RecordingTLSServer as _SharedServer

HOST = "pinned.test"
#: A name the policy does not pin (unknown hosts are allowed).
UNPINNED = "evil.test"


class RecordingTLSServer(_SharedServer):
    """The shared recording server, stopping promptly and quietly.

    On Linux, closing a listening socket does not wake a thread blocked in ``accept()``;
    shutting it down first wakes it at once (the shared server does this too by now).
    """

    def stop(self) -> None:
        with contextlib.suppress(OSError):
            self._sock.shutdown(socket.SHUT_RDWR)
        super().stop()

    def _serve(self, raw: socket.socket) -> None:
        # stop() may close an accepted socket before its thread ran (the shared _serve then
        # fails in settimeout with EBADF, an unhandled thread exception): record it instead.
        try:
            super()._serve(raw)
        except OSError as exc:
            self.errors.append(exc)


def cert_of(pem: bytes) -> x509.Certificate:
    return x509.load_pem_x509_certificate(pem)


def pem_pin(pem: bytes) -> Pin:
    """The SPKI pin of the certificate in ``pem``."""
    return spki_pin(cert_of(pem))


def der_of(pem: bytes) -> bytes:
    return cert_of(pem).public_bytes(serialization.Encoding.DER)


def context_from_pems(cert_pems: Sequence[bytes], key_pem: bytes) -> ssl.SSLContext:
    """A server context sending exactly ``cert_pems`` (in order) with the key ``key_pem``."""
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    fd, path = tempfile.mkstemp(suffix=".pem")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(key_pem)
            for pem in cert_pems:
                fh.write(pem)
        ctx.load_cert_chain(path)
    finally:
        os.unlink(path)
    return ctx


def leaf_context(leaf: trustme.LeafCert) -> ssl.SSLContext:
    """A server context presenting ``leaf`` and its intermediates (trustme's chain)."""
    return context_from_pems(
        [b.bytes() for b in leaf.cert_chain_pems], leaf.private_key_pem.bytes()
    )


def appending_impostor_context(
    impostor: trustme.LeafCert, pinned_leaf: trustme.LeafCert, pinned_ca: trustme.CA
) -> ssl.SSLContext:
    """Impostor leaf (key it owns), then the real pinned leaf and real CA appended."""
    return context_from_pems(
        [
            impostor.cert_chain_pems[0].bytes(),
            pinned_leaf.cert_chain_pems[0].bytes(),
            pinned_ca.cert_pem.bytes(),
        ],
        impostor.private_key_pem.bytes(),
    )


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def forged_leaf_context(intermediate: trustme.CA, *names: str) -> ssl.SSLContext:
    """A leaf for ``names`` that claims ``intermediate`` as issuer but is signed by another key.

    The real intermediate certificate is appended to the chain sent. OpenSSL builds the chain
    leaf -> intermediate -> root and fails the leaf's signature; under CERT_NONE it would
    still report that chain (with the pinned intermediate in it).
    """
    inter = cert_of(intermediate.cert_pem.bytes())
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    ski = inter.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])]))
        .issuer_name(inter.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(x509.SubjectAlternativeName([san(n) for n in names]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski), critical=False
        )
        .add_extension(
            x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False
        )
    )
    forged = builder.sign(key, hashes.SHA256())
    return context_from_pems(
        [forged.public_bytes(serialization.Encoding.PEM), intermediate.cert_pem.bytes()],
        _key_pem(key),
    )


def self_signed(*names: str) -> tuple[ssl.SSLContext, Pin]:
    """A server context with a self-signed certificate for ``names``, and the pin of its key."""
    cert, cert_pem, key_pem = self_signed_pems(*names, ca=True)
    return context_from_pems([cert_pem], key_pem), spki_pin(cert)


def expired_leaf(ca: trustme.CA, *names: str) -> trustme.LeafCert:
    now = dt.datetime.now(dt.UTC)
    return ca.issue_cert(
        *names, not_before=now - dt.timedelta(days=30), not_after=now - dt.timedelta(days=1)
    )


# --------------------------------------------------------------------------- pytest fixtures
# Imported by name into the enforcement test modules.


@pytest.fixture(scope="session")
def intermediate(ca: trustme.CA) -> trustme.CA:
    """An intermediate CA under the legitimate root: its key is pinned."""
    return ca.create_child_ca()


@pytest.fixture(scope="session")
def legit_leaf(intermediate: trustme.CA) -> trustme.LeafCert:
    """The legitimate server's certificate: root -> intermediate -> leaf."""
    return intermediate.issue_cert(HOST, "www." + HOST, "127.0.0.1", "::1", "localhost")


@pytest.fixture(scope="session")
def impostor_leaf(attacker_ca: trustme.CA) -> trustme.LeafCert:
    """A valid certificate for the pinned names from the attacker's (trusted) CA."""
    return attacker_ca.issue_cert(HOST, "www." + HOST, "127.0.0.1", "::1", "localhost")


@pytest.fixture(scope="session")
def trust_pem(ca: trustme.CA, attacker_ca: trustme.CA) -> str:
    """Both roots: the client trusts the attacker's CA too."""
    return ca.cert_pem.bytes().decode() + attacker_ca.cert_pem.bytes().decode()


@pytest.fixture(scope="session")
def policy(ca: trustme.CA, intermediate: trustme.CA) -> PinPolicy:
    """pinned.test (and subdomains) pinned to the intermediate key, the root key as backup."""
    return PinPolicy(
        {
            HOST: PinSet(
                [pem_pin(intermediate.cert_pem.bytes()), pem_pin(ca.cert_pem.bytes())],
                include_subdomains=True,
            )
        }
    )


@pytest.fixture()
def pinned_ctx(policy: PinPolicy, trust_pem: str) -> ssl.SSLContext:
    return create_ssl_context(policy, cadata=trust_pem)


@pytest.fixture()
def legit_server(legit_leaf: trustme.LeafCert) -> Iterator[RecordingTLSServer]:
    with RecordingTLSServer(leaf_context(legit_leaf)) as srv:
        yield srv


@pytest.fixture()
def impostor(impostor_leaf: trustme.LeafCert) -> Iterator[RecordingTLSServer]:
    with RecordingTLSServer(leaf_context(impostor_leaf)) as srv:
        yield srv


class TunnelProxy:
    """A minimal HTTP CONNECT proxy on 127.0.0.1 (every target is sent to 127.0.0.1:port).

    Records the CONNECT targets; it pipes the (encrypted) stream without looking into it.
    Use as a context manager; ``url`` is ``http://127.0.0.1:PORT``.
    """

    def __init__(self) -> None:
        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(32)
        self.port: int = self._sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.targets: list[str] = []
        self._conns: list[socket.socket] = []
        self._lock = threading.Lock()

    def __enter__(self) -> TunnelProxy:
        threading.Thread(target=self._accept, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        with contextlib.suppress(OSError):
            self._sock.shutdown(socket.SHUT_RDWR)
        self._sock.close()
        with self._lock:
            conns = list(self._conns)
        for c in conns:
            with contextlib.suppress(OSError):
                c.shutdown(socket.SHUT_RDWR)
            c.close()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._sock.accept()
            except OSError:
                return
            with self._lock:
                self._conns.append(client)
            threading.Thread(target=self._tunnel, args=(client,), daemon=True).start()

    def _tunnel(self, client: socket.socket) -> None:
        client.settimeout(10)
        head = b""
        with contextlib.suppress(OSError):
            while b"\r\n\r\n" not in head:
                chunk = client.recv(4096)
                if not chunk:
                    return
                head += chunk
        method, target, *_ = head.split(b"\r\n", 1)[0].decode("latin-1").split(" ")
        if method != "CONNECT":
            with contextlib.suppress(OSError):
                client.sendall(b"HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\n\r\n")
            return
        with self._lock:
            self.targets.append(target)
        port = int(target.rsplit(":", 1)[1])
        try:
            upstream = socket.create_connection(("127.0.0.1", port), timeout=10)
        except OSError:
            with contextlib.suppress(OSError):
                client.sendall(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")
            return
        with self._lock:
            self._conns.append(upstream)
        client.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
        pair = {client: upstream, upstream: client}
        try:
            while True:
                ready, _, _ = select.select(list(pair), [], [], 10)
                if not ready:
                    return
                for s in ready:
                    data = s.recv(65536)
                    if not data:
                        return
                    pair[s].sendall(data)
        except OSError:
            return
        finally:  # one side closed: close both, so the other end sees EOF at once
            for s in pair:
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)
                s.close()
