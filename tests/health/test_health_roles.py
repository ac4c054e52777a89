"""The health judge honours pin roles as certpin.check does (pure, real trustme chains)."""

from __future__ import annotations

import datetime as dt

import pytest
import trustme
from cryptography import x509

from certpin import Pin, PinSet, spki_pin
from certpin.findings import Status
from certpin.health import judge
from certpin.health.targets import Target
from certpin.probe import FetchedChain

NOW = dt.datetime(2030, 1, 1, tzinfo=dt.UTC)
SPARE = Pin("spki", b"\x07" * 32)

Chain = tuple[x509.Certificate, x509.Certificate, x509.Certificate]


@pytest.fixture(scope="module")
def chain() -> Chain:
    root = trustme.CA()
    inter = root.create_child_ca()
    leaf = inter.issue_cert("pinned.test", not_after=dt.datetime(2031, 1, 1, tzinfo=dt.UTC))
    pems = [x509.load_pem_x509_certificate(b.bytes()) for b in leaf.cert_chain_pems]
    return pems[0], pems[1], x509.load_pem_x509_certificate(root.cert_pem.bytes())


def run(pin_set: PinSet, chain: Chain):  # type: ignore[no-untyped-def]
    seen = FetchedChain("pinned.test", 443, "pinned.test", chain[:2], chain, None, "TLSv1.3")
    target = Target("pinned.test", 443, "pinned.test", pin_set)
    return judge(target, seen, None, days=30, now=NOW, public_roots=frozenset(),
                 expired_mode="allow")


def test_an_intermediate_pin_with_role_leaf_is_no_match(chain: Chain) -> None:
    inter = spki_pin(chain[1])
    r = run(PinSet([inter, SPARE], roles={inter: "leaf"}), chain)
    assert "no-match" in r.codes and "pin-matched" not in r.codes
    assert r.status is Status.ERROR
    assert r.matches == ()
    msg = next(f.message for f in r.findings if f.code == "no-match")
    assert f"pin {inter} has role leaf but is at position 1" in msg


def test_an_intermediate_pin_with_role_ca_matches(chain: Chain) -> None:
    inter = spki_pin(chain[1])
    r = run(PinSet([inter, SPARE], roles={inter: "ca"}), chain)
    assert "pin-matched" in r.codes
    assert (r.matched_pin, r.matched_position) == (inter, 1)


def test_a_leaf_pin_with_role_ca_is_no_match(chain: Chain) -> None:
    leaf = spki_pin(chain[0])
    r = run(PinSet([leaf, SPARE], roles={leaf: "ca"}), chain)
    assert "no-match" in r.codes
    assert r.status is Status.ERROR
