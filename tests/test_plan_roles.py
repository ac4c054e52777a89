"""certpin.plan honours pin roles (pure, real trustme chains): the same verdict as the TLS layer,
and findings that say where a pin sat when its role kept it from matching."""

from __future__ import annotations

import datetime as dt

import pytest
import trustme
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from certpin import Pin, PinPolicy, PinSet, spki_pin
from certpin.findings import Status
from certpin.plan import PolicyMeta, ShippedPolicy, plan

HOST = "api.example.com"
AT = dt.datetime(2030, 3, 1, tzinfo=dt.UTC)
SPARE = Pin("spki", b"\x07" * 32)


@pytest.fixture(scope="module")
def certs() -> list[x509.Certificate]:
    root = trustme.CA()
    leaf = root.create_child_ca().issue_cert(HOST)
    return [x509.load_pem_x509_certificate(p.bytes()) for p in leaf.cert_chain_pems]


def der(certs: list[x509.Certificate]) -> list[bytes]:
    return [c.public_bytes(Encoding.DER) for c in certs]


def one(pin_set: PinSet, **given: object):  # type: ignore[no-untyped-def]
    shipped = ShippedPolicy("v1.toml", PinPolicy({HOST: pin_set}), PolicyMeta())
    [r] = plan([shipped], HOST, at=AT, **given)  # type: ignore[arg-type]
    return r


def test_intermediate_pin_with_role_leaf_is_refused_saying_why(certs) -> None:
    inter = spki_pin(certs[1])
    r = one(PinSet([inter, SPARE], roles={inter: "leaf"}), chain_der=der(certs))
    assert (r.status, r.accepted, r.findings[0].code) == (Status.ERROR, False, "refused")
    assert f"pin {inter} is in the new chain at position 1, where its role leaf" in (
        r.findings[0].message)


def test_intermediate_pin_with_role_ca_is_accepted(certs) -> None:
    inter = spki_pin(certs[1])
    r = one(PinSet([inter, SPARE], roles={inter: "ca"}), chain_der=der(certs))
    assert (r.accepted, r.findings[0].code) == (True, "accepted")


def test_primary_pin_misplaced_and_backup_matching_is_backup_only(certs) -> None:
    leaf, inter = spki_pin(certs[0]), spki_pin(certs[1])
    r = one(PinSet([leaf, SPARE], backup_pins=[inter], roles={leaf: "ca"}),
            chain_der=der(certs))
    assert (r.accepted, r.findings[0].code) == (True, "backup-pin-only")


def test_leaf_key_pinned_with_role_ca_says_so(certs) -> None:
    leaf = spki_pin(certs[0])
    r = one(PinSet([leaf, SPARE], roles={leaf: "ca"}), chain_der=der(certs))
    assert r.findings[0].code == "refused"
    assert f"the new leaf key {leaf} is one of them, with role ca" in r.findings[0].message


def test_key_alone_with_a_ca_role_pin_depends_on_the_chain(certs) -> None:
    key = certs[0].public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    other = Pin("spki", b"\x09" * 32)
    r = one(PinSet([other, SPARE], roles={other: "ca"}), leaf_spki=key)
    assert r.findings[0].code == "depends-on-ca"
    r = one(PinSet([other, SPARE], roles={other: "leaf"}), leaf_spki=key, ca_pins=[other])
    assert r.findings[0].code == "refused"
