"""certpin.plan: the pre-deploy gate, pure, on real trustme chains (no network)."""

from __future__ import annotations

import datetime as dt

import pytest
import trustme
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from certpin import Pin, PinPolicy, PinSet, spki_pin
from certpin.findings import Level, Status
from certpin.plan import PolicyMeta, ShippedPolicy, plan, validate_chain

HOST = "api.example.com"
AT = dt.datetime(2030, 3, 1, tzinfo=dt.UTC)
SPARE = Pin("spki", b"\x07" * 32)


def _certs(leaf: trustme.LeafCert) -> list[x509.Certificate]:
    return [x509.load_pem_x509_certificate(p.bytes()) for p in leaf.cert_chain_pems]


class World:
    """root -> inter1 -> old leaf (K1) and new leaf (K3); root -> inter2 -> swapped leaf."""

    def __init__(self) -> None:
        self.root = trustme.CA()
        self.inter1 = self.root.create_child_ca()
        self.inter2 = self.root.create_child_ca()
        self.old = _certs(self.inter1.issue_cert(HOST))
        self.new = _certs(self.inter1.issue_cert(HOST))
        self.swapped = _certs(self.inter2.issue_cert(HOST))
        self.k1, self.k3 = spki_pin(self.old[0]), spki_pin(self.new[0])
        self.i1 = spki_pin(self.old[1])

    def der(self, certs: list[x509.Certificate]) -> list[bytes]:
        return [c.public_bytes(Encoding.DER) for c in certs]

    def key(self, certs: list[x509.Certificate]) -> bytes:
        return certs[0].public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)


@pytest.fixture(scope="module")
def w() -> World:
    return World()


def shipped(name: str, pin_set: PinSet, **kw: object) -> ShippedPolicy:
    meta = kw.pop("meta", PolicyMeta())
    return ShippedPolicy(name, PinPolicy({HOST: pin_set}, **kw), meta)  # type: ignore[arg-type]


def test_new_key_not_pinned_is_refused_with_a_message_to_act_on(w: World) -> None:
    v12 = shipped("v12.toml", PinSet([w.k1, SPARE]))
    for given in ({"chain_der": w.der(w.new)}, {"leaf_spki": w.key(w.new)}):
        [r] = plan([v12], HOST, at=AT, **given)  # type: ignore[arg-type]
        assert (r.status, r.accepted, r.findings[0].code) == (Status.ERROR, False, "refused")
        text = r.findings[0].message
        assert f"v12.toml pins {w.k1} and {SPARE} for {HOST}" in text
        assert f"the new leaf key {w.k3} is in neither" in text
        assert f"ship {w.k3} as a backup pin first" in text
        assert "reached your users" in text


def test_safe_rotation_backup_first_then_deployed(w: World) -> None:
    v12 = shipped("v12.toml", PinSet([w.k1], backup_pins=[w.k3]))
    v13 = shipped("v13.toml", PinSet([w.k3], backup_pins=[SPARE]))
    r12, r13 = plan([v12, v13], HOST, chain_der=w.der(w.new), at=AT)
    assert (r12.status, r12.accepted, r12.findings[0].code) == (
        Status.WARN, True, "backup-pin-only")
    assert (r13.status, r13.accepted, r13.findings[0].code) == (Status.OK, True, "accepted")
    k12, k13 = plan([v12, v13], HOST, leaf_spki=w.key(w.new), at=AT)
    assert (k12.status, k13.status) == (Status.WARN, Status.OK)


def test_intermediate_swap_breaks_an_intermediate_only_pin(w: World) -> None:
    v12 = shipped("v12.toml", PinSet([w.i1], backup_pins=[SPARE]))
    [same] = plan([v12], HOST, chain_der=w.der(w.new), at=AT)
    assert same.status is Status.OK  # same intermediate, new leaf: fine
    [r] = plan([v12], HOST, chain_der=w.der(w.swapped), at=AT)
    assert (r.status, r.findings[0].code) == (Status.ERROR, "refused")
    assert str(spki_pin(w.swapped[1])) in r.findings[0].message  # names the new CA key


def test_key_alone_cannot_judge_a_ca_pin(w: World) -> None:
    v12 = shipped("v12.toml", PinSet([w.i1], backup_pins=[SPARE]))
    [r] = plan([v12], HOST, leaf_spki=w.key(w.new), at=AT, ca_pins={w.i1})
    assert (r.status, r.findings[0].code) == (Status.WARN, "depends-on-ca")
    assert "--chain" in r.findings[0].message
    [unknown] = plan([v12], HOST, leaf_spki=w.key(w.new), at=AT)
    assert unknown.status is Status.ERROR  # nothing says I1 is a CA key: refuse


@pytest.mark.parametrize(("mode", "status", "code"), [
    ("reject", Status.ERROR, "expired-reject"), ("allow", Status.WARN, "expired-pin-set")])
def test_deploy_after_pin_set_expiry(w: World, mode: str, status: Status, code: str) -> None:
    v12 = shipped("v12.toml", PinSet([w.k1, SPARE], expires="2030-03-01"), expired=mode)
    [r] = plan([v12], HOST, chain_der=w.der(w.old), at=AT)  # at == expires: expired
    assert (r.status, r.findings[0].code) == (status, code)
    [before] = plan([v12], HOST, chain_der=w.der(w.old), at=AT - dt.timedelta(seconds=1))
    assert before.status is Status.OK


def test_unsupported_policy_is_listed_not_counted(w: World) -> None:
    meta = PolicyMeta(shipped=AT - dt.timedelta(days=700), supported_until=AT)
    v9 = shipped("v9.toml", PinSet([w.k1, SPARE]), meta=meta)
    [r] = plan([v9], HOST, chain_der=w.der(w.new), at=AT)
    assert (r.supported, r.accepted, r.status) == (False, False, Status.OK)
    assert r.findings[0].code == "unsupported"
    assert all(f.level is Level.INFO for f in r.findings)


def test_report_only_unpinned_host_and_refused_host(w: World) -> None:
    ro = shipped("ro.toml", PinSet([w.k1, SPARE], enforce=False))
    other = ShippedPolicy("other.toml", PinPolicy({"other.test": PinSet([w.k1, SPARE])}))
    strict = ShippedPolicy("strict.toml", PinPolicy({"other.test": PinSet([w.k1, SPARE])},
                                                    unknown_hosts="reject"))
    r, o, s = plan([ro, other, strict], HOST, chain_der=w.der(w.new), at=AT)
    assert (r.status, r.accepted, r.findings[0].code) == (Status.WARN, True, "report-only")
    assert (o.status, o.findings[0].code) == (Status.OK, "not-pinned")
    assert (s.status, s.findings[0].code) == (Status.ERROR, "unknown-host")


def test_subdomain_matching_is_the_tls_layers(w: World) -> None:
    pol = ShippedPolicy("v1.toml", PinPolicy({"example.com": PinSet(
        [w.k1, SPARE], include_subdomains=True)}))
    [r] = plan([pol], HOST, chain_der=w.der(w.new), at=AT)
    assert r.status is Status.ERROR and r.verdict is not None
    assert r.verdict.pattern == "example.com"


def test_arguments_are_checked(w: World) -> None:
    with pytest.raises(ValueError, match="exactly one"):
        plan([], HOST, at=AT)
    with pytest.raises(ValueError, match="empty"):
        plan([], HOST, chain_der=[], at=AT)


def test_validate_chain_against_a_trust_store(w: World) -> None:
    anchors = w.root.cert_pem.bytes()
    chain = w.der(w.new)
    now = dt.datetime.now(dt.UTC)
    assert validate_chain(chain, HOST, anchors, now) is None
    assert validate_chain(chain, "other.test", anchors, now) is not None
    assert validate_chain(chain, HOST, trustme.CA().cert_pem.bytes(), now) is not None
    assert validate_chain(chain, HOST, anchors, dt.datetime(1999, 1, 1, tzinfo=dt.UTC)) is not None
