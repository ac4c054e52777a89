"""``certpin check --resolve NAME:PORT:ADDRESS`` and ``--servername NAME``: check a name at an
address it does not resolve to, against real TLS servers on 127.0.0.1."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme

from certpin.cli import main
from certpin.commands._connect import parse_resolve
from certpin.config import dump_policy
from certpin.errors import ProbeError
from certpin.policy import PinPolicy, PinSet
from support.cli import one_error_line
from support.health import ca_pin, fresh_pin, leaf_pin, serve
from support.servers import RecordingTLSServer

NAME = "api.example.test"  # resolves nowhere: only --resolve or --servername reach it


@pytest.fixture(scope="module")
def legit_ca() -> trustme.CA:
    return trustme.CA(organization_name="certpin resolve test CA")


@pytest.fixture(scope="module")
def legit_leaf(legit_ca: trustme.CA) -> trustme.LeafCert:
    return legit_ca.issue_cert(NAME)  # the name only: 127.0.0.1 is not in the certificate


@pytest.fixture()
def legit(legit_leaf: trustme.LeafCert) -> Iterator[RecordingTLSServer]:
    with serve(legit_leaf) as srv:
        yield srv


@pytest.fixture()
def impostor(attacker_ca: trustme.CA) -> Iterator[RecordingTLSServer]:
    """A server for the same name with a certificate from another trusted CA."""
    with serve(attacker_ca.issue_cert(NAME)) as srv:
        yield srv


@pytest.fixture()
def both_cas(legit_ca: trustme.CA, attacker_ca: trustme.CA, tmp_path: Path) -> str:
    path = tmp_path / "cas.pem"
    path.write_bytes(legit_ca.cert_pem.bytes() + attacker_ca.cert_pem.bytes())
    return str(path)


@pytest.fixture()
def policy(tmp_path: Path, legit_ca: trustme.CA, legit_leaf: trustme.LeafCert) -> str:
    path = tmp_path / "policy.toml"
    dump_policy(PinPolicy({NAME: PinSet([leaf_pin(legit_leaf), ca_pin(legit_ca)],
                                        backup_pins=[fresh_pin()])}), path)
    return str(path)


def check(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["check", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_resolve_checks_the_name_at_127_0_0_1(capsys, legit, policy, both_cas) -> None:  # type: ignore[no-untyped-def]
    code, out, err = check(capsys, policy, "--host", f"{NAME}:{legit.port}",
                           "--resolve", f"{NAME}:{legit.port}:127.0.0.1",
                           "--cafile", both_cas, "--format", "json")
    assert (code, err) == (0, ""), out
    [r] = json.loads(out)
    assert (r["status"], r["host"], r["port"], r["address"]) == ("ok", NAME, legit.port,
                                                                 "127.0.0.1")
    assert r["pattern"] == NAME and r["matched_position"] == 0
    assert legit.handshakes >= 1 and legit.received == b""  # a handshake, nothing sent


def test_resolve_catches_an_impostor_from_another_trusted_ca(  # type: ignore[no-untyped-def]
    capsys, impostor, policy, both_cas,
) -> None:
    code, out, _ = check(capsys, policy, "--host", f"{NAME}:{impostor.port}",
                         "--resolve", f"{NAME}:{impostor.port}:127.0.0.1",
                         "--cafile", both_cas, "--format", "json")
    assert code == 2
    [r] = json.loads(out)
    assert (r["status"], r["host"], r["address"]) == ("error", NAME, "127.0.0.1")
    assert [f["code"] for f in r["findings"] if f["level"] == "error"] == ["no-match"]
    assert r["matched_pin"] is None
    # it validated (through the other CA): only the pins tell the impostor apart
    assert any("O=attacker CA" in c["subject"] for c in r["verified_chain"][1:])


def test_servername_checks_the_name_at_the_address_given(  # type: ignore[no-untyped-def]
    capsys, legit, impostor, policy, both_cas,
) -> None:
    code, out, _ = check(capsys, policy, "--host", f"127.0.0.1:{legit.port}",
                         "--host", f"127.0.0.1:{impostor.port}", "--servername", NAME,
                         "--cafile", both_cas, "--format", "json")
    assert code == 2
    ok, bad = json.loads(out)
    assert (ok["status"], ok["host"], ok["port"], ok["address"]) == (
        "ok", NAME, legit.port, "127.0.0.1")
    assert (bad["status"], bad["host"], bad["port"]) == ("error", NAME, impostor.port)
    assert "no-match" in [f["code"] for f in bad["findings"]]


def test_without_either_the_address_is_the_name_and_is_not_pinned(  # type: ignore[no-untyped-def]
    capsys, legit, policy, both_cas,
) -> None:
    code, out, _ = check(capsys, policy, "--host", f"127.0.0.1:{legit.port}",
                         "--cafile", both_cas, "--format", "json")
    [r] = json.loads(out)
    assert code == 2 and r["address"] is None
    assert [f["code"] for f in r["findings"]] == ["not-pinned"]
    assert legit.connections == 0


def test_the_table_says_where_it_connected(capsys, legit, policy, both_cas) -> None:  # type: ignore[no-untyped-def]
    code, out, _ = check(capsys, policy, "--host", f"{NAME}:{legit.port}",
                         "--resolve", f"{NAME}:{legit.port}:127.0.0.1", "--cafile", both_cas)
    assert code == 0
    assert f"{NAME}:{legit.port}" in out and "via 127.0.0.1" in out


@pytest.mark.parametrize(("argv", "message"), [
    (["--resolve", "api.example.test"], "expected NAME:PORT:ADDRESS"),
    (["--resolve", "api.example.test:0:127.0.0.1"], "the port must be 1-65535"),
    (["--resolve", "api.example.test:443:localhost"], "'localhost' is not an IP address"),
    (["--resolve", "api.example.test:443:127.0.0.1,127.0.0.2"], "give one address"),
    (["--resolve", "+api.example.test:443:127.0.0.1"], "'+', '-' and '*' forms"),
    (["--resolve", "bad name:443:127.0.0.1"], "invalid --resolve name 'bad name'"),
    (["--resolve", "api.example.test:443:127.0.0.1", "--resolve",
      "api.example.test:443:127.0.0.2"], "is given two different addresses"),
    (["--resolve", "other.example.test:443:127.0.0.1"],
     "resolve entry other.example.test:443 matches no host checked (api.example.test:443): "
     "it would never be used"),
    (["--servername", "bad name", "--host", "127.0.0.1"], "invalid --servername 'bad name'"),
    (["--servername", NAME], "needs hosts to connect to (--host ADDRESS[:PORT])"),
])
def test_bad_values_are_one_line_and_exit_2_before_connecting(  # type: ignore[no-untyped-def]
    capsys, policy, argv, message,
) -> None:
    code, out, err = check(capsys, policy, *argv)
    assert (code, out) == (2, "")
    line = one_error_line(err)
    assert line.startswith("certpin check: error: ")
    assert message in line


def test_parse_resolve_accepts_curl_s_forms() -> None:
    assert parse_resolve(["a.example:443:127.0.0.1", "a.example:8443:[::1]",
                          "b.example:443:0:0::1", "a.example:443:127.0.0.1"]) == {
        ("a.example", 443): "127.0.0.1", ("a.example", 8443): "::1", ("b.example", 443): "::1"}
    with pytest.raises(ProbeError, match="not an IP address"):
        parse_resolve(["a.example:443:[::1"])


def test_help_documents_both_options(capsys) -> None:  # type: ignore[no-untyped-def]
    assert main(["check", "--help"]) == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "--resolve NAME:PORT:ADDRESS" in text and "curl's --resolve" in text
    assert "--servername NAME the name to send as SNI and check the certificate against" in text
