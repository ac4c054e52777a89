"""certpin.check and chain_pins on real chains from trustme (no sockets: verify is pure)."""

from __future__ import annotations

import hashlib
import logging
from dataclasses import FrozenInstanceError, dataclass
from datetime import UTC, datetime, timedelta, timezone

import pytest
import trustme
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from hypothesis import given, settings
from hypothesis import strategies as st

from certpin import (
    Outcome,
    Pin,
    PinEvent,
    PinPolicy,
    PinSet,
    Verdict,
    cert_pin,
    check,
    spki_pin,
)
from certpin.chainpins import CHAIN_PINS_CACHE_SIZE, chain_pins


def der_of(pem: bytes) -> bytes:
    return x509.load_pem_x509_certificate(pem).public_bytes(serialization.Encoding.DER)


@dataclass
class Chain:
    """A verified chain as the TLS layer would hand it over: leaf, intermediate, root (DER)."""

    leaf: bytes
    intermediate: bytes
    root: bytes

    @property
    def der(self) -> tuple[bytes, bytes, bytes]:
        return (self.leaf, self.intermediate, self.root)

    def spki(self, position: int) -> Pin:
        return spki_pin(self.der[position])

    def cert(self, position: int) -> Pin:
        return cert_pin(self.der[position])


def make_chain(org: str, *names: str) -> Chain:
    root = trustme.CA(organization_name=org)
    intermediate = root.create_child_ca()
    leaf = intermediate.issue_cert(*names)
    pems = [blob.bytes() for blob in leaf.cert_chain_pems]
    assert len(pems) == 2  # leaf, intermediate
    return Chain(der_of(pems[0]), der_of(pems[1]), der_of(root.cert_pem.bytes()))


@pytest.fixture(scope="module")
def good() -> Chain:
    return make_chain("certpin legit CA", "pinned.test", "www.pinned.test", "other.test")


@pytest.fixture(scope="module")
def evil() -> Chain:
    return make_chain("attacker CA", "pinned.test", "www.pinned.test", "other.test")


def spare(n: int) -> Pin:
    """A pin of a key that is in no chain (a backup key kept offline)."""
    return Pin("spki", hashlib.sha256(bytes([n])).digest())


NOW = datetime(2026, 6, 1, 12, tzinfo=UTC)


def policy_for(pins: list[Pin], pattern: str = "pinned.test", **kwargs: object) -> PinPolicy:
    options = {k: kwargs.pop(k) for k in ("unknown_hosts", "expired") if k in kwargs}
    return PinPolicy({pattern: PinSet(pins, **kwargs)}, **options)  # type: ignore[arg-type]


# ---------------------------------------------------------------- matching


@pytest.mark.parametrize("position", [0, 1, 2])
def test_spki_pin_matches_at_every_position(good: Chain, position: int) -> None:
    pin = good.spki(position)
    verdict = check(policy_for([spare(1), pin]), "pinned.test", good.der, now=NOW)
    assert verdict.outcome is Outcome.MATCHED
    assert verdict.passed is True
    assert verdict.matched_pin == pin
    assert verdict.matched_position == position
    assert verdict.pattern == "pinned.test"
    assert verdict.chain == good.der
    assert verdict.message == ""


@pytest.mark.parametrize("position", [0, 1, 2])
def test_cert_pin_matches_at_every_position(good: Chain, position: int) -> None:
    pin = good.cert(position)
    verdict = check(policy_for([pin, spare(1)]), "pinned.test", good.der, now=NOW)
    assert verdict.outcome is Outcome.MATCHED
    assert verdict.matched_pin == pin and verdict.matched_pin.kind == "cert"
    assert verdict.matched_position == position


def test_first_match_is_reported_leaf_first(good: Chain) -> None:
    policy = policy_for([good.spki(2), good.spki(1)])
    verdict = check(policy, "pinned.test", good.der, now=NOW)
    assert verdict.matched_position == 1
    assert verdict.matched_pin == good.spki(1)


def test_impostor_chain_is_refused(good: Chain, evil: Chain) -> None:
    policy = policy_for([good.spki(0), good.spki(1)])
    verdict = check(policy, "pinned.test", evil.der, now=NOW)
    assert verdict.outcome is Outcome.MISMATCH
    assert verdict.passed is False
    assert verdict.matched_pin is None and verdict.matched_position is None
    assert verdict.chain == evil.der


def test_backup_pin_admits_a_rotated_key(good: Chain, evil: Chain) -> None:
    # the server moved to a key only the backup pin covers: it must pass
    policy = PinPolicy({"pinned.test": PinSet([evil.spki(0)], backup_pins=[good.spki(0)])})
    verdict = check(policy, "pinned.test", good.der, now=NOW)
    assert verdict.outcome is Outcome.MATCHED
    assert verdict.matched_pin == good.spki(0)


def test_spki_digest_as_cert_pin_does_not_match(good: Chain) -> None:
    # the kind is part of the pin: an SPKI digest written as cert-sha256 is a different pin
    wrong_kind = Pin("cert", good.spki(0).digest)
    verdict = check(policy_for([wrong_kind, spare(1)]), "pinned.test", good.der, now=NOW)
    assert verdict.outcome is Outcome.MISMATCH


def test_pins_are_scoped_to_their_host(good: Chain, evil: Chain) -> None:
    policy = PinPolicy(
        {
            "pinned.test": PinSet([good.spki(1), spare(1)]),
            "other.test": PinSet([evil.spki(1), spare(2)]),
        }
    )
    assert check(policy, "pinned.test", good.der, now=NOW).passed
    assert check(policy, "other.test", evil.der, now=NOW).passed
    # the other host's pins never admit this host's chain, and vice versa
    v1 = check(policy, "pinned.test", evil.der, now=NOW)
    v2 = check(policy, "other.test", good.der, now=NOW)
    assert (v1.outcome, v1.passed) == (Outcome.MISMATCH, False)
    assert (v2.outcome, v2.passed) == (Outcome.MISMATCH, False)


def test_most_specific_set_decides(good: Chain, evil: Chain) -> None:
    policy = PinPolicy(
        {
            "pinned.test": PinSet([evil.spki(1), spare(1)], include_subdomains=True),
            "www.pinned.test": PinSet([good.spki(1), spare(2)]),
        }
    )
    www = check(policy, "WWW.pinned.test.", good.der, now=NOW)
    assert (www.outcome, www.pattern, www.hostname) == (
        Outcome.MATCHED,
        "www.pinned.test",
        "www.pinned.test",
    )
    # the parent's pins do not admit the child
    assert check(policy, "www.pinned.test", evil.der, now=NOW).outcome is Outcome.MISMATCH
    sub = check(policy, "api.pinned.test", good.der, now=NOW)
    assert (sub.outcome, sub.pattern) == (Outcome.MISMATCH, "pinned.test")


# ---------------------------------------------------------------- unpinned, unknown, bad names


def test_not_pinned_passes(good: Chain) -> None:
    verdict = check(policy_for([good.spki(0), spare(1)]), "elsewhere.test", good.der, now=NOW)
    assert verdict.outcome is Outcome.NOT_PINNED
    assert verdict.passed is True
    assert verdict.pattern is None and verdict.pin_set is None


def test_unknown_host_rejected_when_asked(good: Chain) -> None:
    policy = policy_for([good.spki(0), spare(1)], unknown_hosts="reject")
    verdict = check(policy, "elsewhere.test", good.der, now=NOW)
    assert verdict.outcome is Outcome.UNKNOWN_HOST
    assert verdict.passed is False
    assert verdict.message.startswith("Certificate pinning failure for elsewhere.test\n")
    assert "unknown_hosts='reject'" in verdict.message
    assert check(policy, "pinned.test", good.der, now=NOW).passed


@pytest.mark.parametrize("hostname", [None, ""])
def test_missing_hostname_fails_closed(good: Chain, hostname: str | None) -> None:
    for policy in (PinPolicy({}), policy_for([good.spki(0), spare(1)])):
        verdict = check(policy, hostname, good.der, now=NOW)  # type: ignore[arg-type]
        assert verdict.outcome is Outcome.UNKNOWN_HOST
        assert verdict.passed is False
        assert verdict.message.startswith("Certificate pinning failure")


@pytest.mark.parametrize("hostname", ["straße.de", "127.1", "a..b", "evil\n.test"])
def test_unnormalisable_hostname_fails_closed(good: Chain, hostname: str) -> None:
    # even with an empty, allow-all policy: such a name must never become "not pinned"
    verdict = check(PinPolicy({}), hostname, good.der, now=NOW)
    assert verdict.outcome is Outcome.UNKNOWN_HOST
    assert verdict.passed is False
    assert verdict.message.startswith("Certificate pinning failure for ")
    assert "\n" not in verdict.hostname


def test_huge_invalid_hostname_is_truncated(good: Chain) -> None:
    verdict = check(PinPolicy({}), "a b" * 100_000, good.der, now=NOW)
    assert (verdict.outcome, verdict.passed) == (Outcome.UNKNOWN_HOST, False)
    assert len(verdict.hostname) <= 303 and len(verdict.message) < 1000


def test_deviation_spelling_cannot_bypass_pin(good: Chain, evil: Chain) -> None:
    policy = policy_for([good.spki(0), spare(1)], pattern="strasse.de")
    assert check(policy, "strasse.de", evil.der, now=NOW).passed is False
    assert check(policy, "straße.de", evil.der, now=NOW).passed is False


def test_idna_hostname_is_matched(good: Chain, evil: Chain) -> None:
    policy = policy_for([good.spki(0), spare(1)], pattern="bücher.example")
    assert check(policy, "xn--bcher-kva.example", good.der, now=NOW).outcome is Outcome.MATCHED
    v = check(policy, "BÜCHER.example", evil.der, now=NOW)
    assert (v.outcome, v.hostname) == (Outcome.MISMATCH, "xn--bcher-kva.example")


def test_ip_hostname_is_matched(good: Chain, evil: Chain) -> None:
    policy = policy_for([good.spki(0), spare(1)], pattern="::1")
    assert check(policy, "0:0::1", good.der, now=NOW).outcome is Outcome.MATCHED
    assert check(policy, "[::1]", evil.der, now=NOW).outcome is Outcome.MISMATCH


# ---------------------------------------------------------------- empty chain


def test_empty_chain_fails_for_enforced_set(good: Chain) -> None:
    verdict = check(policy_for([good.spki(0), spare(1)]), "pinned.test", [], now=NOW)
    assert verdict.outcome is Outcome.EMPTY_CHAIN
    assert verdict.passed is False
    assert verdict.message.startswith("Certificate pinning failure for pinned.test\n")
    assert str(good.spki(0)) in verdict.message


def test_empty_chain_report_only_passes_with_message(good: Chain) -> None:
    verdict = check(
        policy_for([good.spki(0), spare(1)], enforce=False), "pinned.test", (), now=NOW
    )
    assert verdict.outcome is Outcome.EMPTY_CHAIN
    assert verdict.passed is True
    assert "Report-only" in verdict.message


def test_empty_chain_for_unpinned_host_passes() -> None:
    verdict = check(PinPolicy({}), "elsewhere.test", [], now=NOW)
    assert (verdict.outcome, verdict.passed) == (Outcome.NOT_PINNED, True)


# ---------------------------------------------------------------- report-only


def test_report_only_mismatch_passes_with_message(good: Chain, evil: Chain) -> None:
    policy = policy_for([good.spki(0), spare(1)], enforce=False)
    verdict = check(policy, "pinned.test", evil.der, now=NOW)
    assert verdict.outcome is Outcome.REPORT_ONLY_MISMATCH
    assert verdict.passed is True
    assert verdict.message.startswith("Certificate pinning failure for pinned.test\n")
    assert "Report-only" in verdict.message
    matched = check(policy, "pinned.test", good.der, now=NOW)
    assert (matched.outcome, matched.passed) == (Outcome.MATCHED, True)


# ---------------------------------------------------------------- expiry


def expiring_policy(good: Chain, expires: object, **options: str) -> PinPolicy:
    return policy_for([good.spki(0), spare(1)], expires=expires, **options)


def test_expiry_boundary_one_second_either_side(
    good: Chain, evil: Chain, caplog: pytest.LogCaptureFixture
) -> None:
    policy = expiring_policy(good, "2027-01-31")
    boundary = datetime(2027, 1, 31, tzinfo=UTC)  # a bare date is 00:00Z
    before = check(policy, "pinned.test", evil.der, now=boundary - timedelta(seconds=1))
    assert (before.outcome, before.passed) == (Outcome.MISMATCH, False)
    with caplog.at_level(logging.WARNING, logger="certpin"):
        at = check(policy, "pinned.test", evil.der, now=boundary)
        after = check(policy, "pinned.test", evil.der, now=boundary + timedelta(seconds=1))
    assert (at.outcome, at.passed) == (Outcome.EXPIRED, True)
    assert (after.outcome, after.passed) == (Outcome.EXPIRED, True)
    assert "2027-01-31T00:00:00Z" in at.message
    records = [r for r in caplog.records if r.name == "certpin"]
    assert len(records) == 2 and records[0].levelno == logging.WARNING
    assert "pinned.test" in records[0].getMessage()
    assert "expired" in records[0].getMessage()


def test_expiry_with_offset_now(good: Chain, evil: Chain) -> None:
    policy = expiring_policy(good, "2027-01-31T12:00:00+02:00")  # 10:00Z
    plus2 = timezone(timedelta(hours=2))
    assert check(policy, "pinned.test", evil.der, now=datetime(2027, 1, 31, 11, 59, 59,
                                                               tzinfo=plus2)).passed is False
    assert check(policy, "pinned.test", evil.der,
                 now=datetime(2027, 1, 31, 10, tzinfo=UTC)).outcome is Outcome.EXPIRED


def test_expired_reject_fails_closed(good: Chain) -> None:
    policy = expiring_policy(good, "2027-01-31", expired="reject")
    verdict = check(policy, "pinned.test", good.der, now=datetime(2027, 1, 31, tzinfo=UTC))
    assert (verdict.outcome, verdict.passed) == (Outcome.EXPIRED, False)
    assert "expired='reject'" in verdict.message
    early = check(policy, "pinned.test", good.der, now=datetime(2027, 1, 30, tzinfo=UTC))
    assert early.outcome is Outcome.MATCHED


def test_expired_child_does_not_fall_back_to_parent(good: Chain, evil: Chain) -> None:
    policy = PinPolicy(
        {
            "pinned.test": PinSet([good.spki(0), spare(1)], include_subdomains=True),
            "www.pinned.test": PinSet([good.spki(0), spare(2)], expires="2020-01-01"),
        }
    )
    verdict = check(policy, "www.pinned.test", evil.der, now=NOW)
    assert (verdict.outcome, verdict.passed, verdict.pattern) == (
        Outcome.EXPIRED,
        True,
        "www.pinned.test",
    )


def test_expired_set_with_empty_chain_is_unpinned(good: Chain) -> None:
    verdict = check(expiring_policy(good, "2020-01-01"), "pinned.test", [], now=NOW)
    assert (verdict.outcome, verdict.passed) == (Outcome.EXPIRED, True)


def test_naive_now_is_refused(good: Chain) -> None:
    with pytest.raises(ValueError, match="aware"):
        check(policy_for([good.spki(0), spare(1)]), "pinned.test", good.der,
              now=datetime(2026, 1, 1))


def test_default_clock_is_now(good: Chain, evil: Chain) -> None:
    past = expiring_policy(good, "2000-01-01")
    future = expiring_policy(good, "2999-01-01")
    assert check(past, "pinned.test", evil.der).outcome is Outcome.EXPIRED
    assert check(future, "pinned.test", evil.der).outcome is Outcome.MISMATCH


# ---------------------------------------------------------------- failure message


def test_failure_message_is_ready_to_paste(good: Chain, evil: Chain) -> None:
    policy = PinPolicy(
        {"*.pinned.test": PinSet([good.spki(0)], backup_pins=[good.cert(1)])}
    )
    verdict = check(policy, "www.pinned.test", evil.der, now=NOW)
    lines = verdict.message.splitlines()
    assert lines[0] == "Certificate pinning failure for www.pinned.test (pattern *.pinned.test)"
    assert lines[1] == "  Verified chain:"
    for i in range(3):
        spki, _, subject = chain_pins(evil.der[i])
        assert lines[2 + i] == f"    {spki}  {subject}"
        assert lines[2 + i].startswith("    sha256/")
    assert "attacker CA" in lines[4]
    assert lines[5] == "  Pinned for *.pinned.test:"
    assert lines[6] == f"    {good.spki(0)}"
    assert lines[7] == "  Backup pins for *.pinned.test:"
    assert lines[8] == f"    {good.cert(1)}"
    assert lines[9].startswith("  Hint: ")
    assert len(lines) == 10


def test_pasting_pins_from_the_message_fixes_the_policy(good: Chain, evil: Chain) -> None:
    from certpin import parse_pin

    policy = policy_for([good.spki(0), spare(1)])
    message = check(policy, "pinned.test", evil.der, now=NOW).message
    lines = message.splitlines()
    pinned_at = lines.index("  Pinned for pinned.test:")
    chain_lines = lines[lines.index("  Verified chain:") + 1 : pinned_at]
    pasted = [parse_pin(line.split()[0]) for line in chain_lines]
    assert pasted == [evil.spki(0), evil.spki(1), evil.spki(2)]
    configured = [parse_pin(line) for line in lines[pinned_at + 1 : -1]]
    assert configured == [good.spki(0), spare(1)]
    fixed = policy_for([pasted[1], *configured])
    assert check(fixed, "pinned.test", evil.der, now=NOW).outcome is Outcome.MATCHED


def test_failure_message_headline_without_pattern_when_exact(good: Chain, evil: Chain) -> None:
    verdict = check(policy_for([good.spki(0), spare(1)]), "pinned.test", evil.der, now=NOW)
    assert verdict.message.splitlines()[0] == "Certificate pinning failure for pinned.test"


def test_subject_control_characters_are_escaped(good: Chain) -> None:
    root = trustme.CA(organization_name="evil\nCA\x1b[31m")
    leaf = root.issue_cert("pinned.test")
    chain = [der_of(leaf.cert_chain_pems[0].bytes()), der_of(root.cert_pem.bytes())]
    verdict = check(policy_for([good.spki(0), spare(1)]), "pinned.test", chain, now=NOW)
    assert verdict.outcome is Outcome.MISMATCH
    assert "\x1b" not in verdict.message
    assert "evil\\nCA\\x1b[31m" in verdict.message
    assert len(verdict.message.splitlines()) == 1 + 1 + 2 + 1 + 2 + 1


# ---------------------------------------------------------------- chain_pins


def test_chain_pins_values_and_cache(good: Chain) -> None:
    spki, cert, subject = chain_pins(good.leaf)
    assert spki == spki_pin(good.leaf)
    assert cert == cert_pin(good.leaf)
    assert subject == x509.load_der_x509_certificate(good.leaf).subject.rfc4514_string()
    assert chain_pins(bytearray(good.leaf)) == (spki, cert, subject)
    assert chain_pins(memoryview(good.leaf)) == (spki, cert, subject)
    from certpin.chainpins import _chain_pins

    before = _chain_pins.cache_info().hits
    chain_pins(good.leaf)
    assert _chain_pins.cache_info().hits == before + 1
    assert _chain_pins.cache_info().maxsize == CHAIN_PINS_CACHE_SIZE


def test_chain_pins_names_an_empty_subject() -> None:
    # a leaf may have an empty subject (its names are in the SAN extension, RFC 5280 4.2.1.6)
    import datetime as dt

    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1())
    start = dt.datetime(2026, 1, 1, tzinfo=UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([]))
        .issuer_name(x509.Name([]))
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(start)
        .not_valid_after(start + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("a.test")]), critical=True)
        .sign(key, hashes.SHA256())
    )
    spki, _, subject = chain_pins(cert.public_bytes(serialization.Encoding.DER))
    assert spki == spki_pin(cert)
    assert subject == "<empty subject>"


def test_chain_pins_of_unparseable_der_keeps_the_cert_pin() -> None:
    junk = b"\x30\x03\x02\x01\x00"
    spki, cert, subject = chain_pins(junk)
    assert spki is None
    assert cert == Pin("cert", hashlib.sha256(junk).digest())
    assert "cannot be parsed" in subject


def test_cert_pin_matches_even_if_cert_cannot_be_parsed(good: Chain) -> None:
    junk = b"\x30\x03\x02\x01\x00"
    pin = Pin("cert", hashlib.sha256(junk).digest())
    verdict = check(policy_for([pin, spare(1)]), "pinned.test", [junk], now=NOW)
    assert (verdict.outcome, verdict.matched_position) == (Outcome.MATCHED, 0)
    mismatch = check(policy_for([good.spki(0), spare(1)]), "pinned.test", [junk], now=NOW)
    assert mismatch.outcome is Outcome.MISMATCH
    assert f"    {pin}  <certificate that cannot be parsed>" in mismatch.message


def test_chain_elements_must_be_bytes(good: Chain) -> None:
    with pytest.raises(TypeError, match="DER bytes"):
        check(policy_for([good.spki(0), spare(1)]), "pinned.test", ["not bytes"],  # type: ignore[list-item]
              now=NOW)
    with pytest.raises(TypeError):
        chain_pins("text")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="not one bytes object"):
        check(policy_for([good.spki(0), spare(1)]), "pinned.test", good.leaf, now=NOW)  # type: ignore[arg-type]
    verdict = check(policy_for([good.spki(0), spare(1)]), "pinned.test",
                    [bytearray(good.leaf)], now=NOW)  # type: ignore[list-item]
    assert verdict.outcome is Outcome.MATCHED and verdict.chain == (good.leaf,)


def test_policy_must_be_a_policy(good: Chain) -> None:
    with pytest.raises(TypeError, match="PinPolicy"):
        check({"pinned.test": []}, "pinned.test", good.der)  # type: ignore[arg-type]


# ---------------------------------------------------------------- value types


def test_verdict_and_event_are_frozen(good: Chain) -> None:
    verdict = check(policy_for([good.spki(0), spare(1)]), "pinned.test", good.der, now=NOW)
    with pytest.raises(FrozenInstanceError):
        verdict.passed = False  # type: ignore[misc]
    event = PinEvent(
        kind="pin-mismatch",
        hostname="pinned.test",
        port=443,
        verdict=verdict,
        served_chain=good.der,
        verified_chain=good.der,
        error=None,
        time=NOW,
    )
    with pytest.raises(FrozenInstanceError):
        event.kind = "x"  # type: ignore[misc]
    assert isinstance(verdict, Verdict)
    with pytest.raises(ValueError, match="kind must be one of"):
        PinEvent("mismatch", "pinned.test", None, None, (), (), None, NOW)
    with pytest.raises(ValueError, match="aware"):
        PinEvent("pin-mismatch", "pinned.test", None, None, (), (), None,
                 datetime(2026, 1, 1))


def test_verdict_repr_leaves_out_the_der_chain(good: Chain) -> None:
    verdict = check(policy_for([good.spki(0), spare(1)]), "pinned.test", good.der, now=NOW)
    text = repr(verdict)
    assert text.startswith("Verdict(outcome=<Outcome.MATCHED: 'matched'>, hostname='pinned.test'")
    assert "matched_position=0" in text and "\\x" not in text and len(text) < 600


def test_outcome_values() -> None:
    assert {o.value for o in Outcome} == {
        "not-pinned",
        "matched",
        "expired",
        "mismatch",
        "report-only-mismatch",
        "unknown-host",
        "empty-chain",
    }
    assert Outcome("matched") is Outcome.MATCHED and str(Outcome.MISMATCH) == "mismatch"
    assert Outcome.MATCHED.value == "matched"
    assert isinstance(Outcome.MATCHED, str)


def test_chain_pins_of_quirky_real_roots_under_warnings_as_errors() -> None:
    # certifi holds roots with serial number 0, about which cryptography warns; under
    # ``-W error`` the warning must not cost the SPKI pin (a root pin would then never match).
    import warnings

    import certifi

    from certpin import load_certificates
    from certpin.chainpins import _chain_pins

    with open(certifi.where(), "rb") as f:
        roots = load_certificates(f.read())
    _chain_pins.cache_clear()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for root in roots:
            der = root.public_bytes(serialization.Encoding.DER)
            spki, cert, _ = chain_pins(der)
            assert spki == spki_pin(root), root.subject.rfc4514_string()
            assert cert == cert_pin(root)


def test_check_is_thread_safe(good: Chain, evil: Chain) -> None:
    from concurrent.futures import ThreadPoolExecutor

    from certpin.chainpins import _chain_pins

    _chain_pins.cache_clear()
    policy = policy_for([good.spki(1), spare(1)])
    chains = [good.der, evil.der] * 200

    def run(chain: tuple[bytes, ...]) -> Outcome:
        return check(policy, "pinned.test", chain, now=NOW).outcome

    with ThreadPoolExecutor(16) as pool:
        outcomes = list(pool.map(run, chains))
    assert outcomes == [Outcome.MATCHED, Outcome.MISMATCH] * 200


# ------------------------------------------ one answer to "is this host pinned" (issue 10)
_HOST_SPELLINGS = st.one_of(
    st.sampled_from([
        "pinned.test", "PINNED.test.", "a.pinned.test", "127.0.0.1", "::ffff:127.0.0.1",
        "64:ff9b::7f00:1", "127.1", "2130706433", "2002:7f00:1::1", "straße.de", "other.test",
        "\u00adxn--_.test", "", "\uff50\uff49\uff4e\uff4e\uff45\uff44.test",
    ]),
    st.text(alphabet="pinedtx.:0127f-\u00ad\u00df", max_size=20),
)


@settings(max_examples=300, deadline=None)
@given(host=_HOST_SPELLINGS, reject=st.booleans())
def test_check_passes_unpinned_exactly_when_is_pinned_says_no(
    good: Chain, host: str, reject: bool
) -> None:
    """certpin.check (the TLS layer's judge) and PinPolicy.is_pinned (the helpers' guards)
    agree on every spelling: a host is let through unchecked only when both say "not pinned"."""
    pins = PinSet([Pin("spki", b"\x01" * 32), Pin("spki", b"\x02" * 32)])
    policy = PinPolicy(
        {"pinned.test": pins, "127.0.0.1": pins},
        unknown_hosts="reject" if reject else "allow",
    )
    verdict = check(policy, host, [good.leaf, good.intermediate, good.root])
    assert (verdict.outcome is Outcome.NOT_PINNED) == (not policy.is_pinned(host))
    if verdict.outcome is not Outcome.NOT_PINNED:
        assert not verdict.passed  # the pins above match nothing in the chain
