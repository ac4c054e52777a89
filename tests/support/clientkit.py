"""Shared pieces of the client tests: attacker certificates, policies, the error-chain walker,
one uniform "fetch" per client, and real mitmproxy (installed by scripts/mitm-setup.sh)."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import os
import shutil
import socket
import ssl
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import trustme
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

import certpin
from certpin.pins import Pin
from support.selfsigned import self_signed_pems

ROOT = Path(__file__).resolve().parents[2]
CLIENTS = ["requests", "urllib3", "httpx", "httpx-async", "httpx-http2", "aiohttp", "websockets"]


# ---------------------------------------------------------------- errors
def error_chain(exc: BaseException) -> list[BaseException]:
    """Every exception reachable from ``exc`` through ``__cause__``, ``__context__``, ``args``
    and the attributes clients use to wrap errors (urllib3 ``reason``, aiohttp
    ``certificate_error``/``os_error``, exception groups), breadth first, each once."""
    seen: list[BaseException] = []
    todo = [exc]
    while todo:
        e = todo.pop(0)
        if any(e is s for s in seen):
            continue
        seen.append(e)
        nxt: list[Any] = [e.__cause__, e.__context__, *getattr(e, "args", ())]
        for attr in ("reason", "certificate_error", "os_error", "original_error", "exceptions"):
            with contextlib.suppress(Exception):
                value = getattr(e, attr, None)
                nxt.extend(value if isinstance(value, list | tuple) else [value])
        todo.extend(x for x in nxt if isinstance(x, BaseException))
    return seen


def find_error(exc: BaseException, kind: type[BaseException]) -> BaseException | None:
    """The first exception of type ``kind`` in :func:`error_chain`, or None."""
    return next((e for e in error_chain(exc) if isinstance(e, kind)), None)


# ---------------------------------------------------------------- certificates
def cert_of(pem: bytes) -> x509.Certificate:
    return x509.load_pem_x509_certificate(pem)


def leaf_pin(leaf: trustme.LeafCert) -> Pin:
    return certpin.spki_pin(cert_of(leaf.cert_chain_pems[0].bytes()))


def ca_pin(ca: trustme.CA) -> Pin:
    return certpin.spki_pin(cert_of(ca.cert_pem.bytes()))


@dataclass
class ServedCert:
    """A server certificate chain and key as files, ready for ``load_cert_chain``."""

    chain_pem: bytes
    key_pem: bytes
    pin: Pin  # SPKI pin of the leaf

    def context(self, *, alpn: list[str] | None = None) -> ssl.SSLContext:
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        with tempfile.TemporaryDirectory() as d:
            cert_path, key_path = Path(d, "chain.pem"), Path(d, "key.pem")
            cert_path.write_bytes(self.chain_pem)
            key_path.write_bytes(self.key_pem)
            ctx.load_cert_chain(str(cert_path), str(key_path))
        if alpn:
            ctx.set_alpn_protocols(alpn)
        return ctx


def served(leaf: trustme.LeafCert, *extra_pems: bytes) -> ServedCert:
    """``leaf`` with its chain, plus ``extra_pems`` appended to what the server sends."""
    chain = b"".join(b.bytes() for b in leaf.cert_chain_pems) + b"".join(extra_pems)
    return ServedCert(chain, leaf.private_key_pem.bytes(), leaf_pin(leaf))


def self_signed(*names: str) -> ServedCert:
    """A self-signed (untrusted) server certificate for ``names``."""
    cert, cert_pem, key_pem = self_signed_pems(*names)
    return ServedCert(cert_pem, key_pem, certpin.spki_pin(cert))


@dataclass
class Certs:
    """Every certificate the client tests serve (made once per session)."""

    legit: ServedCert          # pinned.test, www.pinned.test, localhost, 127.0.0.1 from ``ca``
    impostor: ServedCert       # same names from ``attacker_ca`` (trusted by the client)
    appended: ServedCert       # impostor leaf + the pinned leaf + the pinned CA appended
    selfsigned: ServedCert     # self-signed; its key IS pinned (backup pin)
    expired: ServedCert        # from ``ca`` (pinned), expired yesterday
    wronghost: ServedCert      # from ``ca`` (pinned), for other.test only
    rotated: ServedCert        # from ``ca``, a new key that only the rotation policy's backup pins
    unlisted: ServedCert       # from ``ca``, a new key no pin covers in the rotation policy
    shared: ServedCert         # one SAN certificate for a.test and b.test from ``ca``
    cadata: str                # ca + attacker_ca, PEM
    ca_pin: Pin


def make_certs(ca: trustme.CA, attacker_ca: trustme.CA, server_cert: trustme.LeafCert) -> Certs:
    now = dt.datetime.now(dt.UTC)
    names = ("pinned.test", "www.pinned.test", "localhost", "127.0.0.1")
    impostor_leaf = attacker_ca.issue_cert(*names)
    return Certs(
        legit=served(server_cert),
        impostor=served(impostor_leaf),
        appended=served(
            impostor_leaf, server_cert.cert_chain_pems[0].bytes(), ca.cert_pem.bytes()
        ),
        selfsigned=self_signed(*names[:3]),
        expired=served(ca.issue_cert(*names, not_before=now - dt.timedelta(days=30),
                                     not_after=now - dt.timedelta(days=1))),
        wronghost=served(ca.issue_cert("other.test")),
        rotated=served(ca.issue_cert(*names)),
        unlisted=served(ca.issue_cert(*names)),
        shared=served(ca.issue_cert("a.test", "b.test")),
        cadata=ca.cert_pem.bytes().decode() + attacker_ca.cert_pem.bytes().decode(),
        ca_pin=ca_pin(ca),
    )


def main_policy(certs: Certs) -> certpin.PinPolicy:
    """pinned.test (and www., localhost, 127.0.0.1) pinned to the legitimate leaf key and CA; the
    self-signed key is a backup pin, so "self-signed with a matching pin" is tested."""
    pins = certpin.PinSet([certs.legit.pin, certs.ca_pin], backup_pins=[certs.selfsigned.pin])
    return certpin.PinPolicy(
        {"pinned.test": pins, "www.pinned.test": pins, "localhost": pins, "127.0.0.1": pins}
    )


def rotation_policy(certs: Certs) -> certpin.PinPolicy:
    """Leaf-key pins only (the CA is not pinned): the old key, a spare, and the rotated key as
    backup pin."""
    spare = Pin("spki", b"\x01" * 32)
    pins = certpin.PinSet([certs.legit.pin, spare], backup_pins=[certs.rotated.pin])
    return certpin.PinPolicy({"pinned.test": pins})


# ---------------------------------------------------------------- clients
Result = tuple[int, bytes] | BaseException


def fetch(client: str, urls: list[str], policy: Any, cadata: str, *, proxy: str | None = None,
          **kwargs: Any) -> list[Result]:
    """GET each of ``urls`` in turn with ONE pinned ``client`` object (so keep-alive and
    pooling apply) and return, per URL, ``(status, body)`` or the exception it raised.

    ``proxy``: for urllib3 (which reads no environment) an explicit proxy URL; the other clients
    take ``HTTPS_PROXY`` from the environment (set by the test). ``kwargs`` go to the
    client's request call (e.g. ``headers``).
    """
    if client == "requests":
        from certpin.clients.requests import PinnedSession

        with PinnedSession(policy, cadata=cadata) as s:
            return [_try(lambda u=u: _req(s.get(u, timeout=10, **kwargs))) for u in urls]
    if client == "urllib3":
        from certpin.clients.urllib3 import pinned_pool_manager, pinned_proxy_manager

        pm = (pinned_proxy_manager(proxy, policy, cadata=cadata, retries=1) if proxy
              else pinned_pool_manager(policy, cadata=cadata, retries=1))
        with pm:
            return [_try(lambda u=u: _u3(pm.request("GET", u, timeout=10, **kwargs)))
                    for u in urls]
    if client in ("httpx", "httpx-http2"):
        from certpin.clients.httpx import pinned_client

        with pinned_client(policy, cadata=cadata, http2=client == "httpx-http2", timeout=10,
                           follow_redirects=True) as c:
            return [_try(lambda u=u: _hx(c.get(u, **kwargs))) for u in urls]
    if client == "httpx-async":
        return asyncio.run(_httpx_async(urls, policy, cadata, kwargs))
    if client == "aiohttp":
        return asyncio.run(_aiohttp(urls, policy, cadata, kwargs))
    if client == "websockets":
        return asyncio.run(_websockets(urls, policy, cadata, kwargs))
    raise AssertionError(client)


def _try(call: Callable[[], tuple[int, bytes]]) -> Result:
    try:
        return call()
    except Exception as exc:
        return exc


def _req(r: Any) -> tuple[int, bytes]:
    return r.status_code, r.content


def _u3(r: Any) -> tuple[int, bytes]:
    return r.status, r.data


def _hx(r: Any) -> tuple[int, bytes]:
    return r.status_code, r.content


async def _httpx_async(urls: list[str], policy: Any, cadata: str,
                       kwargs: dict[str, Any]) -> list[Result]:
    from certpin.clients.httpx import pinned_async_client

    out: list[Result] = []
    async with pinned_async_client(policy, cadata=cadata, timeout=10,
                                   follow_redirects=True) as c:
        for u in urls:
            try:
                r = await c.get(u, **kwargs)
                out.append((r.status_code, r.content))
            except Exception as exc:
                out.append(exc)
    return out


async def _aiohttp(urls: list[str], policy: Any, cadata: str,
                   kwargs: dict[str, Any]) -> list[Result]:
    from certpin.clients.aiohttp import pinned_session

    out: list[Result] = []
    async with pinned_session(policy, cadata=cadata, trust_env=True) as s:
        for u in urls:
            try:
                async with s.get(u, **kwargs) as r:
                    out.append((r.status, await r.read()))
            except Exception as exc:
                out.append(exc)
    return out


async def _websockets(urls: list[str], policy: Any, cadata: str,
                      kwargs: dict[str, Any]) -> list[Result]:
    from certpin.clients.websockets import connect

    out: list[Result] = []
    for i, u in enumerate(urls):
        uri = u.replace("https://", "wss://", 1).replace("http://", "ws://", 1)
        try:
            async with connect(uri, policy, cadata=cadata, open_timeout=10, **kwargs) as ws:
                await ws.send(f"ping {i}")
                reply = await ws.recv()
                out.append((101, reply.encode() if isinstance(reply, str) else reply))
        except Exception as exc:
            out.append(exc)
    return out


def one(results: list[Result]) -> BaseException:
    """The single result, which must be an exception."""
    assert len(results) == 1
    (res,) = results
    assert isinstance(res, BaseException), f"expected a refusal, got {res!r}"
    return res


#: The exception each client surfaces for a failed certificate or pin check.
def expected_error(client: str) -> tuple[type[BaseException], ...]:
    if client == "requests":
        import requests

        return (requests.exceptions.SSLError,)
    if client == "urllib3":
        import urllib3

        return (urllib3.exceptions.MaxRetryError,)
    if client.startswith("httpx"):
        import httpx

        return (httpx.ConnectError,)
    if client == "aiohttp":
        import aiohttp

        return (aiohttp.ClientConnectorCertificateError,)
    return (ssl.SSLCertVerificationError,)  # websockets does not wrap TLS errors


# ---------------------------------------------------------------- mitmproxy
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def mitmdump_path() -> str | None:
    """Install (once, cached in .venv-mitm) and return mitmdump, or None if impossible."""
    found = shutil.which("mitmdump", path=str(ROOT / ".venv-mitm" / "bin"))
    if found:
        return found
    try:
        out = subprocess.run([str(ROOT / "scripts" / "mitm-setup.sh")], capture_output=True,
                             text=True, timeout=900, check=True)
    except (subprocess.SubprocessError, OSError):
        return None
    path = out.stdout.strip().splitlines()[-1] if out.stdout.strip() else ""
    return path if path and os.access(path, os.X_OK) else None


@dataclass
class Mitm:
    port: int
    ca_pem: str
    log: Path


@contextlib.contextmanager
def run_mitmdump(mitmdump: str, mode: str, confdir: Path) -> Iterator[Mitm]:
    """Run ``mitmdump --mode MODE`` on 127.0.0.1 until the block ends (stopped by its pid)."""
    port = free_port()
    log = confdir / f"mitmdump-{port}.log"
    with log.open("wb") as logf:
        proc = subprocess.Popen(
            [mitmdump, "--mode", mode, "--listen-host", "127.0.0.1", "--listen-port", str(port),
             "--set", f"confdir={confdir}", "--set", "ssl_insecure=true"],
            stdout=logf, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        )
    try:
        ca_file = confdir / "mitmproxy-ca-cert.pem"
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"mitmdump exited: {log.read_text(errors='replace')[-2000:]}")
            if ca_file.exists():
                with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1):
                    break
            if time.monotonic() > deadline:
                raise RuntimeError("mitmdump did not start within 60 s")
            time.sleep(0.1)
        yield Mitm(port, ca_file.read_text(), log)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


Runner = Callable[..., list[tuple[int, bytes]]]


def forged_leaf_setup(ca: trustme.CA) -> tuple[ServedCert, ServedCert, Pin]:
    """``(legit, forged, intermediate pin)``: a legitimate leaf issued by an intermediate of
    ``ca``, and a forged leaf that NAMES that intermediate as its issuer but is signed by another
    key, served with the real intermediate and root appended. Under a verifying context the
    forged chain fails; under CERT_NONE OpenSSL would still build [forged, intermediate, root]
    and an intermediate pin would "match"."""
    inter = ca.create_child_ca()
    names = ("pinned.test", "localhost")
    legit = served(inter.issue_cert(*names))
    inter_cert = cert_of(inter.cert_pem.bytes())
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    forged_cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])]))
        .issuer_name(inter_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), True)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    chain = (forged_cert.public_bytes(serialization.Encoding.PEM) + inter.cert_pem.bytes()
             + ca.cert_pem.bytes())
    forged = ServedCert(chain, key_pem, certpin.spki_pin(forged_cert))
    return legit, forged, certpin.spki_pin(inter_cert)
