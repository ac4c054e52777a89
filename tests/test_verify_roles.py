"""certpin.check honours pin roles (pure: real trustme chains, no sockets)."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

import pytest
import trustme
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from certpin import Outcome, Pin, PinPolicy, PinSet, cert_pin, check, spki_pin

NOW = datetime(2026, 6, 1, 12, tzinfo=UTC)
HOST = "roles.test"


def _der(pem: bytes) -> bytes:
    return x509.load_pem_x509_certificate(pem).public_bytes(serialization.Encoding.DER)


@pytest.fixture(scope="module")
def chain() -> tuple[bytes, bytes, bytes]:
    root = trustme.CA(organization_name="certpin roles CA")
    inter = root.create_child_ca()
    leaf = inter.issue_cert(HOST)
    pems = [b.bytes() for b in leaf.cert_chain_pems]
    return _der(pems[0]), _der(pems[1]), _der(root.cert_pem.bytes())


def spare(n: int) -> Pin:
    return Pin("spki", hashlib.sha256(bytes([n])).digest())


def run(pin_set: PinSet, chain: tuple[bytes, ...]) -> tuple[Outcome, bool, int | None]:
    v = check(PinPolicy({HOST: pin_set}), HOST, chain, now=NOW)
    return v.outcome, v.passed, v.matched_position


@pytest.mark.parametrize(
    ("position", "role", "expected"),
    [
        (0, "leaf", (Outcome.MATCHED, True, 0)),
        (0, "ca", (Outcome.MISMATCH, False, None)),
        (0, None, (Outcome.MATCHED, True, 0)),
        (1, "leaf", (Outcome.MISMATCH, False, None)),
        (1, "ca", (Outcome.MATCHED, True, 1)),
        (1, None, (Outcome.MATCHED, True, 1)),
        (2, "leaf", (Outcome.MISMATCH, False, None)),
        (2, "ca", (Outcome.MATCHED, True, 2)),
    ],
)
def test_a_pin_matches_only_where_its_role_allows(
    chain: tuple[bytes, ...], position: int, role: str | None, expected: tuple[object, ...]
) -> None:
    pinned = spki_pin(chain[position])
    roles = {pinned: role} if role else None
    assert run(PinSet([pinned, spare(1)], roles=roles), chain) == expected  # type: ignore[arg-type]


def test_certificate_pins_honour_roles_too(chain: tuple[bytes, ...]) -> None:
    pinned = cert_pin(chain[1])
    assert run(PinSet([pinned, spare(1)], roles={pinned: "leaf"}), chain)[1] is False
    assert run(PinSet([pinned, spare(1)], roles={pinned: "ca"}), chain) == (
        Outcome.MATCHED, True, 1)


def test_a_misplaced_pin_does_not_hide_another_that_matches(chain: tuple[bytes, ...]) -> None:
    leaf_pin, inter_pin = spki_pin(chain[0]), spki_pin(chain[1])
    s = PinSet([leaf_pin, inter_pin], roles={leaf_pin: "ca", inter_pin: "ca"})
    v = check(PinPolicy({HOST: s}), HOST, chain, now=NOW)
    assert (v.outcome, v.matched_pin, v.matched_position) == (Outcome.MATCHED, inter_pin, 1)
    assert v.misplaced == ()


def test_backup_pins_honour_roles(chain: tuple[bytes, ...]) -> None:
    inter_pin = spki_pin(chain[1])
    s = PinSet([spare(1)], backup_pins=[inter_pin], roles={inter_pin: "leaf"})
    assert run(s, chain)[1] is False


def test_the_verdict_says_a_pin_was_present_at_the_wrong_position(
    chain: tuple[bytes, ...],
) -> None:
    inter_pin = spki_pin(chain[1])
    s = PinSet([inter_pin, spare(1)], roles={inter_pin: "leaf", spare(1): "leaf"})
    v = check(PinPolicy({HOST: s}), HOST, chain, now=NOW)
    assert v.outcome == Outcome.MISMATCH
    assert v.misplaced == ((inter_pin, 1),)
    assert f"Pin {inter_pin} has role leaf: it is in the verified chain at position 1" in (
        v.message)
    assert f"    {inter_pin}  (role leaf)" in v.message
    assert "not where its role allows" in v.message


def test_a_plain_mismatch_has_no_misplaced_pins(chain: tuple[bytes, ...]) -> None:
    v = check(PinPolicy({HOST: PinSet([spare(1), spare(2)], roles={spare(1): "ca"})}),
              HOST, chain, now=NOW)
    assert v.outcome == Outcome.MISMATCH
    assert v.misplaced == ()
    assert "has role" not in v.message
    assert "no certificate of the verified chain has a pinned key" in v.message


def test_report_only_with_roles_reports_and_proceeds(chain: tuple[bytes, ...]) -> None:
    leaf_pin = spki_pin(chain[0])
    s = PinSet([leaf_pin, spare(1)], roles={leaf_pin: "ca"}, enforce=False)
    v = check(PinPolicy({HOST: s}), HOST, chain, now=NOW)
    assert (v.outcome, v.passed) == (Outcome.REPORT_ONLY_MISMATCH, True)
    assert v.misplaced == ((leaf_pin, 0),)
    assert "has role ca" in v.message
    assert "Report-only pin set: the connection proceeds" in v.message
