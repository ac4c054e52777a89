"""Pin roles through the CLI: backup-key gives the leaf role, lint lists roles, export refuses
them (exit 2) unless --lossy, and check/plan judge with them."""

from __future__ import annotations

import pytest

from certpin.cli import main
from certpin.config import loads_policy
from certpin.pins import parse_pin


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_backup_key_gives_the_leaf_role_line_and_the_pin_last(tmp_path, capsys):
    code, out, err = run_cli(capsys, "backup-key", "--out", str(tmp_path), "--cn", "a.test")
    assert code == 0, err
    lines = out.strip().splitlines()
    pin = parse_pin(lines[-1])
    assert "this is a leaf key" in out and "role leaf" in out
    roles_line = next(line for line in lines if line.startswith("roles = "))
    assert roles_line == f'roles = {{ "{pin}" = "leaf" }}'
    # The printed line is valid policy text: pasted next to backup_pins it loads.
    policy = loads_policy(
        f'[hosts."a.test"]\npins = ["sha256/{"A" * 43}="]\nbackup_pins = ["{pin}"]\n'
        f"{roles_line}\n", "toml",
    )
    assert policy.pin_sets["a.test"].role_of(pin) == "leaf"


K1 = "sha256/gXQJloeiZiH04s3XzAOz2s7bP7liJVsar9Azyr6DFTA="
K2 = "sha256/sQJTdkyLIz+zdULiNAHHtFDlpvl1HztaAU9vZ+i8mZ0="
K3 = "sha256/9XYQTuvqsJZR2DrP/HfIuMbqpLdnrqsk19qA+D9R2GU="

POLICY = f"""\
[hosts."a.test"]
pins = ["{K1}", "{K2}"]
backup_pins = ["{K3}"]
expires = 2099-01-01
roles = {{ "{K1}" = "leaf", "{K3}" = "leaf" }}
"""


def test_lint_shows_each_pins_role(tmp_path, capsys):
    path = tmp_path / "p.toml"
    path.write_text(POLICY)
    code, out, err = run_cli(capsys, "lint", str(path))
    assert code == 0, out + err
    line = next(x for x in out.splitlines() if x.startswith("INFO pin-roles a.test: "))
    assert line.endswith(f"{K1} leaf; {K2} any; {K3} leaf (backup)")


def test_lint_of_a_policy_without_roles_has_no_roles_line(tmp_path, capsys):
    path = tmp_path / "p.toml"
    path.write_text(POLICY.replace(f'roles = {{ "{K1}" = "leaf", "{K3}" = "leaf" }}\n', ""))
    code, out, _ = run_cli(capsys, "lint", str(path))
    assert code == 0 and "pin-roles" not in out


def test_export_refuses_roles_with_exit_2_naming_host_and_pin(tmp_path, capsys):
    path = tmp_path / "p.toml"
    path.write_text(POLICY)
    code, out, err = run_cli(capsys, "export", str(path), "--format", "android")
    assert (code, out) == (2, "")
    assert err.count("\n") == 1
    assert f"a.test: pin {K1} has role 'leaf'" in err and "--lossy" in err


def test_lossy_export_lists_the_dropped_roles_on_stderr(tmp_path, capsys):
    path = tmp_path / "p.toml"
    path.write_text(POLICY)
    code, out, err = run_cli(capsys, "export", str(path), "--format", "android", "--lossy")
    assert code == 0, err
    assert f"certpin export: dropped: a.test: roles ({K1} leaf, {K3} leaf); dropped" in err
    assert K1.split("/", 1)[1] in out  # the pins are exported, without their roles


def test_lint_warns_when_the_backup_key_held_has_role_ca(tmp_path, capsys):
    code, out, _ = run_cli(capsys, "backup-key", "--out", str(tmp_path), "--cn", "a.test")
    assert code == 0
    pin = out.strip().splitlines()[-1]
    path = tmp_path / "p.toml"
    csr = str(tmp_path / "a.test.p256.csr.pem")
    for role, expected in (("ca", 1), ("leaf", 0)):
        path.write_text(f'[hosts."a.test"]\npins = ["{K1}", "{K2}"]\nbackup_pins = ["{pin}"]\n'
                        f'expires = 2099-01-01\nroles = {{ "{pin}" = "{role}" }}\n')
        code, out, _ = run_cli(capsys, "lint", str(path), "--backup-key", csr)
        assert (code, out.count("WARN backup-key-role-ca a.test")) == (expected, expected), out
