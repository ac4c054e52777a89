"""certpin.health.judge: every rule of the pure judge, on real trustme chains, without sockets
(as certpin.check is tested). tests/health/test_health.py runs the same codes against live
servers."""

from __future__ import annotations

import datetime as dt

import pytest
import trustme
from cryptography import x509

from certpin import Pin, PinSet, cert_pin, spki_pin
from certpin.findings import Level, Status
from certpin.health import judge
from certpin.health.targets import Target
from certpin.probe import FetchedChain

NOW = dt.datetime(2030, 1, 1, tzinfo=dt.UTC)
SPARE = Pin("spki", b"\x07" * 32)  # a backup key that is deployed nowhere


def _x509(pem: bytes) -> x509.Certificate:
    return x509.load_pem_x509_certificate(pem)


@pytest.fixture(scope="module")
def chain() -> tuple[x509.Certificate, x509.Certificate, x509.Certificate]:
    """leaf (valid until 2030-01-20), intermediate (until 2030-06-01), root."""
    root = trustme.CA()
    inter = root.create_child_ca()
    leaf = inter.issue_cert(
        "pinned.test", not_after=dt.datetime(2030, 1, 20, tzinfo=dt.UTC)
    )
    pems = [b.bytes() for b in leaf.cert_chain_pems]
    return _x509(pems[0]), _x509(pems[1]), _x509(root.cert_pem.bytes())


def fetched(served: tuple[x509.Certificate, ...], verified: tuple[x509.Certificate, ...] | None,
            error: str | None = None) -> FetchedChain:
    return FetchedChain("pinned.test", 443, "pinned.test", served, verified, error, "TLSv1.3")


def run(pin_set: PinSet | None, seen: FetchedChain | None, error: str | None = None, *,
        roots: frozenset[Pin] = frozenset(), expired: str = "allow", connect: bool = True):
    target = Target("pinned.test", 443, "pinned.test" if pin_set else None, pin_set,
                    connect=connect)
    return judge(target, seen, error, days=30, now=NOW, public_roots=roots, expired_mode=expired)


def test_leaf_key_matched_with_a_spare_backup(chain) -> None:
    leaf, inter, root = chain
    r = run(PinSet([spki_pin(leaf), SPARE]), fetched((leaf, inter), (leaf, inter, root)))
    assert r.codes[0] == "leaf-expiring"  # warnings before info
    assert set(r.codes) == {"leaf-expiring", "pin-matched"}
    assert r.status is Status.WARN
    assert (r.matched_pin, r.matched_position) == (spki_pin(leaf), 0)
    assert r.matches[0].backup is False


def test_intermediate_cert_pin_expiring_is_named(chain) -> None:
    leaf, inter, root = chain
    left = (inter.not_valid_after_utc - NOW).days
    target = Target("pinned.test", 443, "pinned.test", PinSet([cert_pin(inter), SPARE]))
    seen = fetched((leaf, inter), (leaf, inter, root))
    near = judge(target, seen, None, days=left + 1, now=NOW, public_roots=frozenset(),
                 expired_mode="allow")
    assert "pinned-cert-expiring" in near.codes
    assert near.matched_position == 1
    far = judge(target, seen, None, days=left - 1, now=NOW, public_roots=frozenset(),
                expired_mode="allow")
    assert "pinned-cert-expiring" not in far.codes


def test_only_a_backup_pin_matched(chain) -> None:
    leaf, inter, root = chain
    r = run(PinSet([SPARE, Pin("spki", b"\x08" * 32)], backup_pins=[spki_pin(inter)]),
            fetched((leaf, inter), (leaf, inter, root)))
    assert "backup-pin-matched" in r.codes
    assert r.matches[0].backup is True


def test_only_public_root_keys_match_is_weak(chain) -> None:
    leaf, inter, root = chain
    r = run(PinSet([spki_pin(root), SPARE]), fetched((leaf, inter), (leaf, inter, root)),
            roots=frozenset({spki_pin(root)}))
    assert "weak-pin" in r.codes


def test_every_pin_deployed_means_no_backup(chain) -> None:
    leaf, inter, root = chain
    r = run(PinSet([spki_pin(leaf), spki_pin(inter)]), fetched((leaf, inter), (leaf, inter, root)))
    assert "no-backup-pin" in r.codes
    ok = run(PinSet([spki_pin(leaf), SPARE]), fetched((leaf, inter), (leaf, inter, root)))
    assert "no-backup-pin" not in ok.codes


def test_no_match_and_served_only_match(chain) -> None:
    leaf, inter, root = chain
    other = trustme.CA()
    stray = _x509(other.cert_pem.bytes())
    # The pinned certificate was only appended to what the server sent: never accepted.
    r = run(PinSet([spki_pin(stray), SPARE]), fetched((leaf, inter, stray), (leaf, inter, root)))
    assert r.codes[:2] == ("served-only-match", "no-match")
    assert r.status is Status.ERROR and r.matched_pin is None


@pytest.mark.parametrize(
    ("seen", "error", "code"),
    [
        (None, "connection refused", "connection-failed"),
        ("unverified", None, "validation-failed"),
        ("empty", None, "empty-chain"),
    ],
)
def test_connection_outcomes_are_errors(chain, seen: str | None, error: str | None,
                                        code: str) -> None:
    leaf, inter, _root = chain
    got = None
    if seen == "unverified":
        got = fetched((leaf, inter), None, "self-signed certificate")
    elif seen == "empty":
        got = fetched((leaf, inter), ())
    r = run(PinSet([spki_pin(leaf), SPARE]), got, error)
    assert code in r.codes and r.status is Status.ERROR
    assert r.matches == ()


@pytest.mark.parametrize(
    ("expires", "mode", "code", "level"),
    [
        ("2029-12-31", "allow", "pin-set-expired", Level.WARN),
        ("2029-12-31", "reject", "pin-set-expired", Level.ERROR),
        ("2030-01-15", "allow", "pin-set-expiring", Level.WARN),
    ],
)
def test_pin_set_expiry_rules(chain, expires: str, mode: str, code: str, level: Level) -> None:
    leaf, inter, root = chain
    r = run(PinSet([spki_pin(leaf), SPARE], expires=expires),
            fetched((leaf, inter), (leaf, inter, root)), expired=mode)
    [finding] = [f for f in r.findings if f.code == code]
    assert finding.level is level


def test_report_only_and_not_connected(chain) -> None:
    r = run(PinSet([SPARE, Pin("spki", b"\x09" * 32)], enforce=False), None, connect=False)
    assert r.codes == ("report-only",)
    assert r.status is Status.OK
    assert run(None, None, connect=False).codes == ()


# ------------------------------------------------------------ rotation warnings (issue 13)


def test_rotation_every_pinned_key_deployed_is_no_backup(chain) -> None:
    """RFC 7469 section 4.3: no pin for a key that is not deployed -> no-backup-pin (warn)."""
    leaf, inter, root = chain
    r = run(PinSet([spki_pin(leaf)], backup_pins=[spki_pin(inter)]),
            fetched((leaf, inter), (leaf, inter, root)))
    assert r.status is Status.WARN
    assert [f.level for f in r.findings if f.code == "no-backup-pin"] == [Level.WARN]


def test_rotation_intermediate_only_pin(chain) -> None:
    leaf, inter, root = chain
    seen = fetched((leaf, inter), (leaf, inter, root))
    r = run(PinSet([spki_pin(inter), SPARE]), seen)
    [f] = [f for f in r.findings if f.code == "intermediate-only-pin"]
    assert f.level is Level.WARN and "without notice" in f.message
    assert "intermediate-only-pin" not in run(PinSet([spki_pin(inter), spki_pin(leaf), SPARE]),
                                              seen).codes
    assert "intermediate-only-pin" not in run(PinSet([spki_pin(root), SPARE]), seen).codes


def test_rotation_expiring_leaf_whose_key_is_the_only_leaf_pin(chain) -> None:
    leaf, inter, root = chain  # the leaf ends 2030-01-20: within 30 days of NOW
    seen = fetched((leaf, inter), (leaf, inter, root))
    r = run(PinSet([spki_pin(leaf), spki_pin(inter)]), seen)
    [f] = [f for f in r.findings if f.code == "only-leaf-key-expiring"]
    assert f.level is Level.WARN and str(spki_pin(leaf)) in f.message
    assert "only-leaf-key-expiring" not in run(PinSet([spki_pin(leaf), SPARE]), seen).codes
    target = Target("pinned.test", 443, "pinned.test", PinSet([spki_pin(leaf), spki_pin(inter)]))
    far = judge(target, seen, None, days=5, now=NOW, public_roots=frozenset(), expired_mode="allow")
    assert "only-leaf-key-expiring" not in far.codes
