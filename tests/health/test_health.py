"""certpin.health.check_policy against real TLS servers on 127.0.0.1 (trustme CAs)."""

from __future__ import annotations

import hashlib
import ipaddress
import ssl
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import trustme
from cryptography.hazmat.primitives.serialization import Encoding
from hypothesis import example, given
from hypothesis import strategies as st

from certpin.errors import CertificateError, PolicyError, ProbeError
from certpin.health import Level, Status, check_policy, parse_host_port, public_root_pins
from certpin.pins import parse_pin
from certpin.policy import PinPolicy, PinSet
from support.health import (
    ca_cert,
    ca_pin,
    closed_port,
    fresh_pin,
    leaf_cert,
    leaf_cert_pin,
    leaf_pin,
    serve,
    subject,
    write_cafile,
)
from support.servers import RecordingTLSServer


def policy_for(pattern: str, pin_set: PinSet) -> PinPolicy:
    return PinPolicy({pattern: pin_set})


@pytest.fixture()
def cafile(ca: trustme.CA, tmp_path: Path) -> str:
    return write_cafile(ca, tmp_path)


def one(policy: PinPolicy, srv: RecordingTLSServer, cafile: str, **kw: object):  # type: ignore[no-untyped-def]
    reports = check_policy(policy, hosts=[f"127.0.0.1:{srv.port}"], cafile=cafile, **kw)  # type: ignore[arg-type]
    assert len(reports) == 1
    return reports[0]


def test_ok_match_on_leaf(server, server_cert, ca, cafile):
    pin = leaf_pin(server_cert)
    policy = policy_for("127.0.0.1", PinSet([pin, fresh_pin()]))
    r = one(policy, server, cafile)
    assert r.status is Status.OK
    assert r.host == "127.0.0.1" and r.port == server.port and r.pattern == "127.0.0.1"
    assert r.matched_pin == pin
    assert r.matched_position == 0
    assert r.matched_subject == subject(leaf_cert(server_cert))
    assert r.codes == ("pin-matched",)
    assert r.findings[0].level is Level.INFO
    assert r.leaf_not_after == leaf_cert(server_cert).not_valid_after_utc
    assert len(r.verified_chain) == 2  # leaf, test root
    assert r.verified_chain[1].spki_pin == ca_pin(ca)
    server.settle()
    assert server.handshakes >= 1
    assert server.received == b""


def test_match_on_intermediate_only_warns(ca, cafile):
    child = ca.create_child_ca()
    leaf = child.issue_cert("127.0.0.1")
    pin = ca_pin(child)
    with serve(leaf) as srv:
        r = one(policy_for("127.0.0.1", PinSet([pin, fresh_pin()])), srv, cafile)
        assert srv.received == b""
    # matched, but only through an intermediate CA key (issue 13: CAs swap intermediates)
    assert r.status is Status.WARN, r.findings
    assert r.codes == ("intermediate-only-pin", "pin-matched")
    assert r.matched_pin == pin
    assert r.matched_position == 1
    assert r.matched_subject == subject(ca_cert(child))
    assert [c.position for c in r.verified_chain] == [0, 1, 2]
    assert r.verified_chain[2].spki_pin == ca_pin(ca)


def test_primary_pin_reported_before_backup(server, server_cert, ca, cafile):
    policy = policy_for(
        "127.0.0.1", PinSet([ca_pin(ca), fresh_pin()], backup_pins=[leaf_pin(server_cert)])
    )
    r = one(policy, server, cafile)
    assert r.status is Status.OK, r.findings
    assert r.matched_pin == ca_pin(ca)  # the primary pin, though the backup is nearer the leaf
    assert r.matched_position == 1
    assert {(m.position, m.backup) for m in r.matches} == {(0, True), (1, False)}


def test_warn_only_backup_pin_matches(server, server_cert, cafile):
    backup = leaf_pin(server_cert)
    policy = policy_for("127.0.0.1", PinSet([fresh_pin(), fresh_pin()], backup_pins=[backup]))
    r = one(policy, server, cafile)
    assert r.status is Status.WARN
    assert "backup-pin-matched" in r.codes
    assert r.matched_pin == backup and r.matched_position == 0
    assert r.matches[0].backup is True
    assert r.to_json()["matched_backup"] is True
    assert server.received == b""


def test_warn_leaf_expiring_real_certificate(ca, cafile):
    soon = datetime.now(UTC) + timedelta(days=5)
    leaf = ca.issue_cert("127.0.0.1", not_after=soon)
    with serve(leaf) as srv:
        r = one(policy_for("127.0.0.1", PinSet([leaf_pin(leaf), fresh_pin()])), srv, cafile)
    assert r.status is Status.WARN
    assert r.codes.count("leaf-expiring") == 1
    msg = next(f.message for f in r.findings if f.code == "leaf-expiring")
    assert "in 4 days" in msg or "in 5 days" in msg
    # --days 3: five days left is fine
    with serve(leaf) as srv:
        r3 = one(
            policy_for("127.0.0.1", PinSet([leaf_pin(leaf), fresh_pin()])), srv, cafile, days=3
        )
    assert r3.status is Status.OK and "leaf-expiring" not in r3.codes


def test_leaf_expiry_boundary_with_injected_now(server, server_cert, cafile):
    end = leaf_cert(server_cert).not_valid_after_utc
    policy = policy_for("127.0.0.1", PinSet([leaf_pin(server_cert), fresh_pin()]))
    inside = one(policy, server, cafile, now=end - timedelta(days=30), days=30)
    outside = one(policy, server, cafile, now=end - timedelta(days=30, seconds=1), days=30)
    assert "leaf-expiring" in inside.codes and inside.status is Status.WARN
    assert "leaf-expiring" not in outside.codes and outside.status is Status.OK
    after = one(policy, server, cafile, now=end + timedelta(seconds=1))
    assert any(f.code == "leaf-expiring" and "expired on" in f.message for f in after.findings)


def test_warn_pinned_intermediate_expiring(ca, cafile):
    child = ca.create_child_ca()
    leaf = child.issue_cert("127.0.0.1")
    end = ca_cert(child).not_valid_after_utc
    with serve(leaf) as srv:
        r = one(
            policy_for("127.0.0.1", PinSet([ca_pin(child), fresh_pin()])),
            srv,
            cafile,
            now=end - timedelta(days=2),
        )
    assert r.status is Status.WARN
    msgs = [f.message for f in r.findings if f.code == "pinned-cert-expiring"]
    assert len(msgs) == 1 and msgs[0].startswith("pinned certificate 1 (")


def test_warn_pin_set_expiring_and_expired(server, server_cert, cafile):
    now = datetime(2030, 1, 1, tzinfo=UTC)
    pins = [leaf_pin(server_cert), fresh_pin()]
    expiring = policy_for("127.0.0.1", PinSet(pins, expires=now + timedelta(days=10)))
    r = one(expiring, server, cafile, now=now)
    assert r.status is Status.WARN and "pin-set-expiring" in r.codes
    assert r.pin_set_expires == now + timedelta(days=10)
    assert r.to_json()["pin_set_expires"] == "2030-01-11T00:00:00Z"
    later = policy_for("127.0.0.1", PinSet(pins, expires=now + timedelta(days=31)))
    assert "pin-set-expiring" not in one(later, server, cafile, now=now).codes
    expired = policy_for("127.0.0.1", PinSet(pins, expires=now))  # now >= expires: expired
    r2 = one(expired, server, cafile, now=now)
    assert r2.status is Status.WARN and "pin-set-expired" in r2.codes
    assert "pin-set-expiring" not in r2.codes
    assert server.received == b""


def test_expired_pin_set_is_an_error_when_policy_rejects_expired(server, server_cert, cafile):
    now = datetime(2030, 1, 1, tzinfo=UTC)
    pin_set = PinSet([leaf_pin(server_cert), fresh_pin()], expires=now - timedelta(days=1))
    policy = PinPolicy({"127.0.0.1": pin_set}, expired="reject")
    r = one(policy, server, cafile, now=now)
    assert r.status is Status.ERROR
    f = next(f for f in r.findings if f.code == "pin-set-expired")
    assert f.level is Level.ERROR and "refused" in f.message


def test_warn_no_backup_pin(server, server_cert, ca, cafile):
    policy = policy_for("127.0.0.1", PinSet([leaf_pin(server_cert), ca_pin(ca)]))
    r = one(policy, server, cafile)
    assert r.status is Status.WARN
    assert "no-backup-pin" in r.codes
    msg = next(f.message for f in r.findings if f.code == "no-backup-pin")
    assert "RFC 7469 section 4.3" in msg


def test_warn_weak_public_root_pin(server, ca, cafile):
    # No real public root signs a local certificate, so the test CA's key stands in for one:
    # it is injected as the set of "public roots".
    root = ca_pin(ca)
    policy = policy_for("127.0.0.1", PinSet([root, fresh_pin()]))
    r = one(policy, server, cafile, public_roots=frozenset({root}))
    assert r.status is Status.WARN
    assert "weak-pin" in r.codes
    assert r.matches[0].public_root is True
    # the same policy without that root among the public ones is fine
    assert one(policy, server, cafile, public_roots=frozenset()).status is Status.OK


def test_weak_pin_not_reported_when_a_site_pin_also_matches(server, server_cert, ca, cafile):
    root = ca_pin(ca)
    policy = policy_for("127.0.0.1", PinSet([root, leaf_pin(server_cert), fresh_pin()]))
    r = one(policy, server, cafile, public_roots=frozenset({root}))
    assert "weak-pin" not in r.codes and r.status is Status.OK


def test_public_root_pins_hold_real_roots():
    roots = public_root_pins()
    isrg = parse_pin("sha256/C5+lpZ7tcVwmwQIMcRtPbsQtWLABXhQzejna0wHFr8M=")
    amazon = parse_pin("sha256/++MBgDH5WGvL9Bcn5Be30cRcL0f5O+NyoXuWtQdX1aI=")
    assert isrg in roots and amazon in roots
    assert public_root_pins() is roots  # cached


def test_error_no_match(server, cafile):
    policy = policy_for("127.0.0.1", PinSet([fresh_pin(), fresh_pin()]))
    r = one(policy, server, cafile)
    assert r.status is Status.ERROR
    assert r.codes == ("no-match",)
    assert r.matched_pin is None and r.matched_position is None
    assert str(r.verified_chain[0].spki_pin) in r.findings[0].message
    assert server.received == b""


def test_error_untrusted_even_if_pinned(attacker_ca, cafile):
    leaf = attacker_ca.issue_cert("127.0.0.1")
    policy = policy_for("127.0.0.1", PinSet([leaf_pin(leaf), ca_pin(attacker_ca)]))
    with serve(leaf) as srv:
        r = one(policy, srv, cafile)
        assert srv.received == b""
    assert r.status is Status.ERROR
    assert "validation-failed" in r.codes
    assert "pin-matched" not in r.codes and r.matched_pin is None
    assert r.verified_chain == ()
    assert r.served_chain[0].spki_pin == leaf_pin(leaf)  # shown, never judged


def test_error_pin_only_in_served_chain(ca, cafile, tmp_path):
    """A pinned certificate appended to the served chain is not in the verified chain."""
    other = trustme.CA(organization_name="appended CA")
    leaf = ca.issue_cert("127.0.0.1")
    chain = tmp_path / "chain.pem"
    chain.write_bytes(leaf.cert_chain_pems[0].bytes() + other.cert_pem.bytes())
    key = tmp_path / "key.pem"
    leaf.private_key_pem.write_to_path(str(key))
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(str(chain), str(key))
    policy = policy_for("127.0.0.1", PinSet([ca_pin(other), fresh_pin()]))
    with RecordingTLSServer(ctx) as srv:
        r = one(policy, srv, cafile)
        assert srv.received == b""
    assert [c.spki_pin for c in r.served_chain] == [leaf_pin(leaf), ca_pin(other)]
    assert ca_pin(other) not in {c.spki_pin for c in r.verified_chain}
    assert r.status is Status.ERROR
    assert set(r.codes) == {"served-only-match", "no-match"}


def test_error_connection_refused(cafile):
    port = closed_port()
    policy = policy_for("127.0.0.1", PinSet([fresh_pin(), fresh_pin()]))
    [r] = check_policy(policy, hosts=[f"127.0.0.1:{port}"], cafile=cafile)
    assert r.status is Status.ERROR
    assert r.codes == ("connection-failed",)
    assert f"127.0.0.1:{port}" in r.findings[0].message
    assert r.leaf_not_after is None and r.served_chain == ()


def test_wildcard_without_host_needs_host():
    policy = PinPolicy({"*.pinned.test": PinSet([fresh_pin(), fresh_pin()])})
    [r] = check_policy(policy)
    assert r.status is Status.ERROR
    assert r.codes == ("needs-host",)
    assert "--host" in r.findings[0].message
    assert r.host == "*.pinned.test" and r.pattern == "*.pinned.test"


def test_wildcard_with_host_connects(server, server_cert, cafile):
    policy = PinPolicy({"*.pinned.test": PinSet([leaf_pin(server_cert), fresh_pin()])})
    from support.servers import local_names

    with local_names("www.pinned.test"):
        [r] = check_policy(policy, hosts=[f"www.pinned.test:{server.port}"], cafile=cafile)
    assert r.status is Status.OK, r.findings
    assert r.pattern == "*.pinned.test" and r.host == "www.pinned.test"
    assert server.received == b""


def test_host_not_in_policy():
    policy = policy_for("pinned.test", PinSet([fresh_pin(), fresh_pin()]))
    [r] = check_policy(policy, hosts=["other.test:1"])
    assert r.status is Status.ERROR and r.codes == ("not-pinned",)
    assert r.pattern is None


def test_many_hosts_in_order_and_progress(server, server_cert, cafile):
    good = PinSet([leaf_pin(server_cert), fresh_pin()])
    policy = PinPolicy({"127.0.0.1": good, "localhost": PinSet([fresh_pin(), fresh_pin()])})
    seen = []
    hosts = [f"localhost:{server.port}", f"127.0.0.1:{server.port}", "nothere.test:1"] * 3
    reports = check_policy(policy, hosts=hosts, cafile=cafile, concurrency=4, on_report=seen.append)
    assert [r.host for r in reports] == [parse_host_port(h)[0] for h in hosts]
    assert [r.status for r in reports] == [Status.ERROR, Status.OK, Status.ERROR] * 3
    assert len(seen) == len(hosts)
    assert server.received == b""


def test_cert_pin_matches_and_is_reported(server, server_cert, cafile):
    pin = leaf_cert_pin(server_cert)
    r = one(policy_for("127.0.0.1", PinSet([pin, fresh_pin()])), server, cafile)
    assert r.matched_pin == pin and r.matched_position == 0
    assert r.verified_chain[0].cert_pin == pin


def test_bad_arguments():
    policy = PinPolicy({"a.test": PinSet([fresh_pin(), fresh_pin()])})
    with pytest.raises(ValueError, match="days"):
        check_policy(policy, days=-1)
    with pytest.raises(ValueError, match="aware"):
        check_policy(policy, now=datetime(2030, 1, 1))
    with pytest.raises(ProbeError, match="port"):
        check_policy(policy, hosts=["a.test:99999"])
    with pytest.raises(CertificateError, match="CA file"):
        check_policy(policy, hosts=["a.test:1"], cafile="/nonexistent/ca.pem")


def test_parse_host_port():
    assert parse_host_port("Pinned.Test.") == ("pinned.test", 443)
    assert parse_host_port("pinned.test:8443") == ("pinned.test", 8443)
    assert parse_host_port("[::1]:8443") == ("::1", 8443)
    assert parse_host_port("::1") == ("::1", 443)


def test_ipv6_server(server_cert, cafile):
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_cert.configure_cert(ctx)
    policy = policy_for("::1", PinSet([leaf_pin(server_cert), fresh_pin()]))
    with RecordingTLSServer(ctx, host="::1") as srv:
        [r] = check_policy(policy, hosts=[f"[::1]:{srv.port}"], cafile=cafile)
        assert srv.received == b""
    assert r.status is Status.OK and r.host == "::1"


def test_verified_chain_pins_are_sha256_of_der(server, server_cert, cafile):
    r = one(policy_for("127.0.0.1", PinSet([leaf_pin(server_cert), fresh_pin()])), server, cafile)
    der = leaf_cert(server_cert).public_bytes(Encoding.DER)
    assert r.verified_chain[0].cert_pin.digest == hashlib.sha256(der).digest()


_label = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789", min_size=1, max_size=10)


_tld = st.sampled_from(["test", "example", "com"])


@given(st.lists(_label, max_size=3), _tld, st.integers(1, 65535))
def test_parse_host_port_round_trip(labels, tld, port):
    host = ".".join([*labels, tld])  # a numeric last label would be an IP form (refused)
    assert parse_host_port(f"{host}:{port}") == (host, port)
    assert parse_host_port(host.upper() + ".") == (host, 443)


@given(st.integers(0, 2**128 - 1), st.integers(1, 65535))
@example(0xFFFF7F000001, 443)  # ::ffff:127.0.0.1
@example(0x64FF9B0000000000007F000001, 8443)  # 64:ff9b::127.0.0.1
@example(0x7F000001, 1)  # ::127.0.0.1
@example(1, 443)  # ::1
@example(0x20027F000001 << 80, 443)  # 6to4
@example(0x20010000 << 96, 443)  # Teredo
@example((0x64FF9B0001 << 80) | 5, 443)  # NAT64 local-use
def test_parse_host_port_ipv6(value, port):
    address = ipaddress.IPv6Address(value)
    text = f"[{address.exploded}]:{port}"
    # The rule of certpin.policy (issue 10): IPv4-mapped, NAT64 64:ff9b::/96 and
    # IPv4-compatible (outside ::/104) addresses are the IPv4 host; 6to4, Teredo and NAT64
    # local-use addresses are refused.
    v4 = str(ipaddress.IPv4Address(value & 0xFFFFFFFF))
    embedded_zero = (value >> 32) in (0xFFFF, 0x64FF9B0000000000000000) and value & 0xFFFFFFFF == 0
    if value == 0 or embedded_zero:  # the unspecified address, also inside IPv6: refused
        with pytest.raises(PolicyError):
            parse_host_port(text)
    elif address.ipv4_mapped or (value >> 32) == 0x64FF9B0000000000000000 or (
        (value >> 32) == 0 and value >= 1 << 24
    ):
        assert parse_host_port(text) == (v4, port)
    elif address.sixtofour or address.teredo or (value >> 80) == 0x64FF9B0001:
        with pytest.raises(PolicyError):
            parse_host_port(text)
    else:
        assert parse_host_port(text) == (str(address), port)


def test_include_subdomains_checks_the_apex_and_says_so(cafile):
    # No DNS here: the apex cannot be resolved, which is what the report must say.
    policy = PinPolicy({"pinned.test": PinSet([fresh_pin(), fresh_pin()], include_subdomains=True)})
    [r] = check_policy(policy, cafile=cafile, timeout=2)
    assert (r.host, r.port, r.pattern) == ("pinned.test", 443, "pinned.test")
    assert r.codes == ("connection-failed", "subdomains-unchecked")
    assert "--host" in r.findings[1].message
