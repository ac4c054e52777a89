"""Helpers for the health-check, lint and backup-key tests (servers, pins, policies)."""

from __future__ import annotations

import socket
import ssl
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

import trustme
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from certpin.pins import Pin, cert_pin, spki_pin
from support.servers import RecordingTLSServer


def ca_cert(ca: trustme.CA) -> x509.Certificate:
    return x509.load_pem_x509_certificate(ca.cert_pem.bytes())


def leaf_cert(leaf: trustme.LeafCert) -> x509.Certificate:
    return x509.load_pem_x509_certificate(leaf.cert_chain_pems[0].bytes())


def ca_pin(ca: trustme.CA) -> Pin:
    return spki_pin(ca_cert(ca))


def leaf_pin(leaf: trustme.LeafCert) -> Pin:
    return spki_pin(leaf_cert(leaf))


def leaf_cert_pin(leaf: trustme.LeafCert) -> Pin:
    return cert_pin(leaf_cert(leaf))


def fresh_pin() -> Pin:
    """The SPKI pin of a new key that no server uses (a backup key)."""
    return spki_pin(ec.generate_private_key(ec.SECP256R1()).public_key())


def subject(cert: x509.Certificate) -> str:
    return cert.subject.rfc4514_string()


def write_cafile(ca: trustme.CA, directory: Path) -> str:
    path = directory / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return str(path)


@contextmanager
def serve(leaf: trustme.LeafCert) -> Iterator[RecordingTLSServer]:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    leaf.configure_cert(ctx)
    with RecordingTLSServer(ctx) as srv:
        yield srv


def closed_port() -> int:
    """A port on 127.0.0.1 with nothing listening (connection refused)."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port: int = s.getsockname()[1]
    s.close()
    return port


def iso(when: datetime) -> str:
    return when.isoformat().replace("+00:00", "Z")
