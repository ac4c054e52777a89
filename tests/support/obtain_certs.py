"""Certificates for the obtain tests, built with cryptography (trustme issues RSA/EC only).

A :class:`TestPKI` is a root CA (EC P-256) and an intermediate; :meth:`TestPKI.leaf` issues a server
certificate for ``pinned.test``, 127.0.0.1 and ::1 with any key type. The certificates follow
RFC 5280 closely enough for OpenSSL's ``X509_V_FLAG_X509_STRICT`` (the default on Python 3.13).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import ssl
import subprocess
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa
from cryptography.hazmat.primitives.asymmetric.types import (
    CertificateIssuerPrivateKeyTypes,
    PrivateKeyTypes,
)
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

KEY_TYPES = (
    "rsa2048",
    "rsa3072",
    "rsa4096",
    "ec256",
    "ec384",
    "ec521",
    "ed25519",
    "ed448",
    "dsa2048",
)


def make_key(kind: str) -> PrivateKeyTypes:
    """A fresh private key of ``kind`` (one of :data:`KEY_TYPES`)."""
    if kind.startswith("rsa"):
        return rsa.generate_private_key(65537, int(kind[3:]))
    if kind.startswith("ec"):
        curve = {"256": ec.SECP256R1(), "384": ec.SECP384R1(), "521": ec.SECP521R1()}[kind[2:]]
        return ec.generate_private_key(curve)
    if kind == "ed25519":
        return ed25519.Ed25519PrivateKey.generate()
    if kind == "ed448":
        return ed448.Ed448PrivateKey.generate()
    if kind.startswith("dsa"):
        return dsa.generate_private_key(int(kind[3:]))
    raise ValueError(kind)


def _name(cn: str, org: str = "certpin obtain tests") -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, org),
            x509.NameAttribute(NameOID.COMMON_NAME, cn),
        ]
    )


def _sign_hash(key: CertificateIssuerPrivateKeyTypes) -> hashes.SHA256 | None:
    if isinstance(key, ed25519.Ed25519PrivateKey | ed448.Ed448PrivateKey):
        return None
    return hashes.SHA256()


def build_cert(
    subject: x509.Name,
    public_key: object,
    issuer: x509.Name,
    issuer_key: CertificateIssuerPrivateKeyTypes,
    *,
    ca: bool,
    sans: tuple[str, ...] = (),
    days: int = 30,
) -> x509.Certificate:
    """Sign a certificate for ``public_key``; ``ca`` makes a CA certificate."""
    now = dt.datetime.now(dt.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)  # type: ignore[arg-type]
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(public_key),  # type: ignore[arg-type]
            critical=False,
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(
                issuer_key.public_key()  # type: ignore[arg-type]
            ),
            critical=False,
        )
    )
    if ca:
        builder = builder.add_extension(
            x509.KeyUsage(
                digital_signature=True, content_commitment=False, key_encipherment=False,
                data_encipherment=False, key_agreement=False, key_cert_sign=True,
                crl_sign=True, encipher_only=False, decipher_only=False,
            ),
            critical=True,
        )
    else:
        names: list[x509.GeneralName] = []
        for s in sans:
            try:
                names.append(x509.IPAddress(ipaddress.ip_address(s)))
            except ValueError:
                names.append(x509.DNSName(s))
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
        builder = builder.add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False
        )
        rsa_like = isinstance(public_key, rsa.RSAPublicKey)
        builder = builder.add_extension(
            x509.KeyUsage(
                digital_signature=True, content_commitment=False, key_encipherment=rsa_like,
                data_encipherment=False, key_agreement=False, key_cert_sign=False,
                crl_sign=False, encipher_only=False, decipher_only=False,
            ),
            critical=True,
        )
    return builder.sign(issuer_key, _sign_hash(issuer_key))  # type: ignore[arg-type]


def pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def der(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.DER)


def key_pem(key: PrivateKeyTypes) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


@dataclass
class Leaf:
    key: PrivateKeyTypes
    cert: x509.Certificate
    chain: tuple[x509.Certificate, ...]  # what the server sends after the leaf

    def write(self, directory: str, name: str, extra: tuple[x509.Certificate, ...] = ()) -> tuple[
        str, str
    ]:
        """Write ``name.chain.pem`` (leaf, chain, extra) and ``name.key.pem``; return both paths."""
        chain_path = os.path.join(directory, f"{name}.chain.pem")
        key_path = os.path.join(directory, f"{name}.key.pem")
        with open(chain_path, "wb") as f:
            for c in (self.cert, *self.chain, *extra):
                f.write(pem(c))
        with open(key_path, "wb") as f:
            f.write(key_pem(self.key))
        return chain_path, key_path

    def server_context(self, directory: str, name: str,
                       extra: tuple[x509.Certificate, ...] = ()) -> ssl.SSLContext:
        chain_path, key_path = self.write(directory, name, extra)
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(chain_path, key_path)
        return ctx


class TestPKI:
    """A root CA and an intermediate CA (both EC P-256) issuing leaves of any key type."""

    __test__ = False  # not a pytest test class

    def __init__(self, directory: str, org: str = "certpin obtain tests") -> None:
        self.directory = directory
        self.root_key = ec.generate_private_key(ec.SECP256R1())
        self.root_name = _name("obtain test root", org)
        self.root = build_cert(
            self.root_name, self.root_key.public_key(), self.root_name, self.root_key, ca=True,
            days=3650,
        )
        self.int_key = ec.generate_private_key(ec.SECP256R1())
        self.int_name = _name("obtain test intermediate", org)
        self.intermediate = build_cert(
            self.int_name, self.int_key.public_key(), self.root_name, self.root_key, ca=True,
            days=3650,
        )
        self.ca_file = os.path.join(directory, "root.pem")
        with open(self.ca_file, "wb") as f:
            f.write(pem(self.root))

    def leaf(
        self,
        kind: str = "ec256",
        *,
        sans: tuple[str, ...] = ("pinned.test", "127.0.0.1", "::1"),
        cn: str = "pinned.test",
        key: PrivateKeyTypes | None = None,
    ) -> Leaf:
        """Issue a leaf with a fresh ``kind`` key (or ``key``) from the intermediate."""
        key = key if key is not None else make_key(kind)
        cert = build_cert(
            _name(cn), key.public_key(), self.int_name, self.int_key, ca=False, sans=sans
        )
        return Leaf(key=key, cert=cert, chain=(self.intermediate,))


def self_signed(cn: str = "unrelated self-signed") -> x509.Certificate:
    """A self-signed CA certificate unrelated to any TestPKI."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = _name(cn, "unrelated")
    return build_cert(name, key.public_key(), name, key, ca=True)


OPENSSL_PIPELINE = (
    "openssl x509 -pubkey -noout | openssl pkey -pubin -outform der | "
    "openssl dgst -sha256 -binary | base64"
)


def openssl_pin(cert_pem: bytes) -> str:
    """The SPKI pin as the tutorials' openssl pipeline prints it (base64, no prefix)."""
    out = subprocess.run(
        ["sh", "-c", OPENSSL_PIPELINE], input=cert_pem, capture_output=True, check=True
    )
    return out.stdout.decode("ascii").strip()
