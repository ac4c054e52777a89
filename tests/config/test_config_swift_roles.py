"""Pin roles in the Swift delegate (``--format swift-delegate``), read from its syntax tree.

The generated tables give each pin its role (``.leaf``, ``.ca``, ``.anywhere``) and
``PinSet.admits(_:at:)`` asks it (``tests/support/swiftroles.py``; the check and its mutants run
in ``test_config_swift_tree.py``). Here: the tables against the policy (and a mutant that drops a
role), the golden file, and a differential: a Python model made of the tables and the role rule
read from the tree, with the delegate's pin set lookup, gives ``certpin.check``'s verdict for
generated policies with roles, hosts and chains.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st

from certpin import check
from certpin.config import ROLE_FORMATS, export_policy, to_swift_delegate
from certpin.pins import Pin, cert_pin, spki_pin
from certpin.policy import PinPolicy, PinSet
from certpin.verify import Outcome
from support.swiftchecks import Row, pin_tables
from support.swiftroles import EXPECTED, POSITIONS, check_pin_roles, role_rule

GOLDEN = Path(__file__).parent.parent / "golden" / "CertpinPinningDelegate.swift"
K1 = "gXQJloeiZiH04s3XzAOz2s7bP7liJVsar9Azyr6DFTA="
K2 = "sQJTdkyLIz+zdULiNAHHtFDlpvl1HztaAU9vZ+i8mZ0="
K4 = "pLNQTCdp/OlUf23aMQ3YsJTWMKBE1l9TJNSzcxCqtxQ="
C1 = "lEnH86k88MVaZ13fHINzLYfVYlXnCxUNnm88+GO7f8E="


def _cert(n: int) -> bytes:
    key = ec.generate_private_key(ec.SECP256R1())  # P-256: the delegate has its SPKI header
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"c{n}")])
    now = datetime(2025, 1, 1, tzinfo=UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(n + 1)
            .not_valid_before(now).not_valid_after(now + timedelta(days=1))
            .sign(key, hashes.SHA256()))
    return cert.public_bytes(serialization.Encoding.DER)


CERTS = [_cert(n) for n in range(4)]
#: per certificate: its SPKI pin and its certificate pin
PINS = [(spki_pin(x509.load_der_x509_certificate(c)), cert_pin(c)) for c in CERTS]
CHAINS = ([[i] for i in range(4)] + [[i, j] for i in range(4) for j in range(4) if i != j]
          + [[0, 1, 2], [1, 2, 3], [3, 0, 1], [2, 3, 0], [0, 1, 2, 3]])
HOSTS = ["a.test", "x.a.test", "y.x.a.test", "b.test", "q.b.test", "other.test"]


def _policy_roles(ps: PinSet, kind: str) -> dict[str, str | None]:
    return {p.base64: ps.role_of(p) for p in ps.all_pins if p.kind == kind}


# --- the tables and the rule ---------------------------------------------------------------


def test_swift_delegate_says_roles_without_lossy() -> None:
    assert "swift-delegate" in ROLE_FORMATS
    policy = PinPolicy({"a.test": PinSet([f"sha256/{K1}", f"sha256/{K2}"],
                                         roles={f"sha256/{K1}": "leaf", f"sha256/{K2}": "ca"})})
    result = export_policy(policy, "swift-delegate")
    assert result.dropped == []
    spki, cert, _, _ = pin_tables(result.text)["exact"]["a.test"]
    assert (spki, cert) == ({K1: "leaf", K2: "ca"}, {})


def test_golden_tables_carry_the_roles() -> None:
    tables = pin_tables(GOLDEN.read_text())
    assert tables["exact"]["api.example.com"][0] == {K1: "leaf", K2: "ca"}
    assert tables["includingSubdomains"]["api.example.com"][0] == {K1: "leaf", K2: "ca"}
    assert tables["exact"]["www.example.com"][0][K4] == "leaf"
    assert tables["oneLabelWildcard"]["cdn.example.com"][:2] == ({K1: None}, {C1: "ca"})
    assert set(tables["exact"]["plain.example.net"][0].values()) == {None}


def test_golden_role_rule_is_certpins() -> None:
    assert role_rule(GOLDEN.read_text()) == (EXPECTED, [])
    assert EXPECTED["leaf"] == {0} and EXPECTED["ca"] == set(range(1, POSITIONS))
    assert check_pin_roles(GOLDEN.read_text()) == []


def test_a_table_that_drops_a_role_differs_from_the_policy() -> None:
    ps = PinSet([f"sha256/{K1}", f"sha256/{K2}"], roles={f"sha256/{K1}": "leaf"})
    source = to_swift_delegate(PinPolicy({"a.test": ps})).text
    assert pin_tables(source)["exact"]["a.test"][0] == _policy_roles(ps, "spki")
    for old, new in ((".leaf,", ".anywhere,"), (".leaf,", ".ca,"), (".anywhere,", ".leaf,")):
        assert source.count(old) == 1
        mutant = pin_tables(source.replace(old, new))["exact"]["a.test"][0]
        assert mutant != _policy_roles(ps, "spki"), (old, new)


# --- differential: a model read from the tree against certpin.check ------------------------


def _pin_set_for(tables: dict[str, dict[str, Row]], host: str) -> Row | None:
    """The delegate's ``pinSet(for:)``: exact host, ``*.parent`` for one label, the nearest
    parent including subdomains."""
    if host in tables["exact"]:
        return tables["exact"][host]
    labels = host.split(".")
    first = True
    while len(labels) > 1:
        labels.pop(0)
        parent = ".".join(labels)
        if first and parent in tables["oneLabelWildcard"]:
            return tables["oneLabelWildcard"][parent]
        if parent in tables["includingSubdomains"]:
            return tables["includingSubdomains"][parent]
        first = False
    return None


class Model:
    """The delegate's tables and role rule, read once from ``source``'s tree."""

    def __init__(self, source: str) -> None:
        assert check_pin_roles(source) == []  # admits asks the role found, at its position
        self.tables = pin_tables(source)
        self.rule, problems = role_rule(source)
        assert problems == []

    def matches(self, host: str, chain: list[int]) -> bool | None:
        """Whether a pin of ``host``'s set matches in ``chain`` where its role allows (None:
        no pin set): ``matches(chain:pinSet:)`` over ``admits(_:at:)``."""
        row = _pin_set_for(self.tables, host)
        if row is None:
            return None
        spki, cert, _, _ = row
        for position, index in enumerate(chain):
            for table, pin in ((spki, PINS[index][0]), (cert, PINS[index][1])):
                role = table.get(pin.base64, "absent")
                if role != "absent" and position in self.rule[role or "anywhere"]:
                    return True
        return False


@st.composite
def _policies(draw: st.DrawFn) -> PinPolicy:
    every: list[Pin] = [p for pair in PINS for p in pair]
    sets = {}
    for pattern in draw(st.lists(st.sampled_from(["a.test", "*.a.test", "b.test", "*.b.test",
                                                  "x.a.test"]), min_size=1, max_size=3,
                                       unique=True)):  # no pin set: no export (issue 11)
        pins = draw(st.lists(st.sampled_from(every), min_size=2, max_size=4, unique=True))
        roles = {p: r for p in pins
                 if (r := draw(st.sampled_from([None, "leaf", "ca"]))) is not None}
        sets[pattern] = PinSet(pins, roles=roles,  # type: ignore[arg-type]
                               include_subdomains=not pattern.startswith("*.")
                               and draw(st.booleans()))
    return PinPolicy(sets)


@seed(20260801)
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_policies())
def test_model_from_the_tree_gives_certpins_verdict(policy: PinPolicy) -> None:
    swift = Model(to_swift_delegate(policy).text)
    for host in HOSTS:
        for chain in CHAINS:
            verdict = check(policy, host, [CERTS[i] for i in chain])
            model = swift.matches(host, chain)
            if model is None:
                assert verdict.outcome is Outcome.NOT_PINNED, (host, chain)
            else:
                assert model == (verdict.outcome is Outcome.MATCHED), (host, chain, policy)


def test_the_differential_is_not_vacuous() -> None:
    leaf, ca = PINS[0][0], PINS[1][1]
    policy = PinPolicy({"a.test": PinSet([leaf, ca], roles={leaf: "leaf", ca: "ca"})})
    swift = Model(to_swift_delegate(policy).text)
    verdicts = {tuple(c): swift.matches("a.test", c) for c in ([0], [1], [1, 0], [0, 1],
                                                                     [2, 1], [2, 3])}
    assert verdicts == {(0,): True, (1,): False, (1, 0): False, (0, 1): True, (2, 1): True,
                        (2, 3): False}
    for chain, want in verdicts.items():
        assert check(policy, "a.test", [CERTS[i] for i in chain]).passed is want
    plain = Model(to_swift_delegate(PinPolicy({"a.test": PinSet([leaf, ca])})).text)
    assert plain.matches("a.test", [1, 0]) is True  # without roles: anywhere
