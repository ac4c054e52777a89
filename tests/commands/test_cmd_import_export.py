"""``certpin import`` and ``certpin export``: exit codes, one-line errors, no partial output."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from certpin.cli import main
from certpin.config import load_policy
from certpin.policy import PinPolicy, PinSet
from support.cli import one_error_line

FIX = Path(__file__).parent.parent / "fixtures" / "config"
K1 = "sha256/gXQJloeiZiH04s3XzAOz2s7bP7liJVsar9Azyr6DFTA="
K2 = "sha256/sQJTdkyLIz+zdULiNAHHtFDlpvl1HztaAU9vZ+i8mZ0="
K3 = "sha256/9XYQTuvqsJZR2DrP/HfIuMbqpLdnrqsk19qA+D9R2GU="
K4 = "sha256/pLNQTCdp/OlUf23aMQ3YsJTWMKBE1l9TJNSzcxCqtxQ="


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_import_android_to_toml(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "policy.toml"
    code, stdout, err = run(capsys, "import", str(FIX / "network_security_config.xml"),
                            "--from", "android", "-o", str(out))
    assert code == 0
    assert stdout == ""
    assert err.count("warning:") == 2 and "overridePins" in err
    assert "wrote 5 pin set(s)" in err
    policy = load_policy(out)
    assert policy.pin_sets["example.net"].pins == policy.pin_sets["example.com"].pins


def test_import_to_stdout_and_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, stdout, _ = run(capsys, "import", str(FIX / "Info.plist"), "--from", "trustkit")
    assert code == 0 and '[hosts."www.example.com"]' in stdout
    out = tmp_path / "p.json"
    code, _, _ = run(capsys, "import", str(FIX / "hpkp.txt"), "--from", "hpkp",
                     "--host", "example.com", "-o", str(out))
    assert code == 0
    assert load_policy(out).pin_sets["example.com"].include_subdomains is True


def test_import_refuses_existing_output_unless_force(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "policy.toml"
    out.write_text("# hand-written\n")
    code, _, err = run(capsys, "import", str(FIX / "pins.txt"), "--from", "okhttp",
                       "-o", str(out))
    assert code == 2
    assert "exists; refusing to replace it (use --force)" in one_error_line(err)
    assert out.read_text() == "# hand-written\n"
    code, _, _ = run(capsys, "import", str(FIX / "pins.txt"), "--from", "okhttp",
                     "-o", str(out), "--force")
    assert code == 0
    assert load_policy(out) == PinPolicy({"api.example.com": PinSet([K1, K2])})


def test_import_hostless_format_needs_host(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "p.toml"
    code, _, err = run(capsys, "import", str(FIX / "curl.txt"), "--from", "curl", "-o", str(out))
    assert code == 2
    assert "--host" in one_error_line(err)
    assert not out.exists()


BAD_INPUTS = [
    ("android", "bad.xml", "<network-security-config><domain-config>", "line 1, column"),
    ("android", "laughs.xml",
     '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]><network-security-config>'
     "&a;</network-security-config>", "DOCTYPE is refused"),
    ("android", "big.xml", "<a>" + " " * (1024 * 1024) + "</a>", "larger than 1048576 bytes"),
    ("android", "date.xml",
     f'<network-security-config>\n<domain-config><domain>a.test</domain>\n'
     f'<pin-set expiration="tomorrow"><pin digest="SHA-256">{K1[7:]}</pin></pin-set>'
     "</domain-config></network-security-config>", "line 3: <pin-set> expiration"),
    ("trustkit", "type.plist",
     "<plist><dict><key>TSKConfiguration</key><dict><key>TSKPinnedDomains</key><dict>"
     "<key>a.test</key><dict><key>TSKPublicKeyHashes</key><string>x</string></dict>"
     "</dict></dict></dict></plist>", "expected an <array> of <string>"),
    ("trustkit", "unknown.plist",
     "<plist><dict><key>TSKConfiguration</key><dict><key>TSKPinnedDomains</key><dict>"
     "<key>a.test</key><dict><key>TSKPinHashes</key><array/></dict>"
     "</dict></dict></dict></plist>", "unknown TrustKit key 'TSKPinHashes'"),
    ("okhttp", "bad.kt", f'.add("a.test", "{K1}", "sha256/nope")', "line 1, pin 2"),
]


@pytest.mark.parametrize(("fmt", "name", "content", "message"), BAD_INPUTS)
def test_import_bad_input_exit_2_no_output(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], fmt: str, name: str, content: str,
    message: str,
) -> None:
    src = tmp_path / name
    src.write_text(content)
    out = tmp_path / "policy.toml"
    code, stdout, err = run(capsys, "import", str(src), "--from", fmt, "-o", str(out))
    assert code == 2
    line = one_error_line(err)
    assert line.startswith(f"certpin import: error: {src}"), line
    assert message in line
    assert stdout == ""
    assert sorted(p.name for p in tmp_path.iterdir()) == [name]


def test_import_bad_input_keeps_existing_output(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "policy.toml"
    out.write_text("old\n")
    src = tmp_path / "bad.xml"
    src.write_text("<network-security-config>")
    code, _, _ = run(capsys, "import", str(src), "--from", "android", "-o", str(out), "--force")
    assert code == 2
    assert out.read_text() == "old\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.xml", "policy.toml"]


@pytest.fixture()
def policy_file(tmp_path: Path) -> Path:
    path = tmp_path / "policy.toml"
    path.write_text(
        f'[hosts."api.example.com"]\npins = ["{K1}", "{K2}"]\ninclude_subdomains = true\n'
        f'[hosts."beta.example.com"]\npins = ["{K3}", "{K4}"]\nenforce = false\n'
    )
    return path


def test_export_refusal_names_rule_and_host(
    policy_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, stdout, err = run(capsys, "export", str(policy_file), "--format", "android")
    assert code == 2
    assert stdout == ""
    line = one_error_line(err)
    assert "beta.example.com: report-only" in line and "--lossy" in line


def test_export_lossy_lists_what_was_dropped(
    policy_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, stdout, err = run(capsys, "export", str(policy_file), "--format", "okhttp", "--lossy",
                            "--okhttp-version", "4")
    assert code == 0
    assert '.add("**.api.example.com",' in stdout and "beta.example.com" not in stdout
    assert err.strip() == ("certpin export: dropped: beta.example.com: report-only "
                           "(enforce = false); pin set left out (not pinned)")


def test_export_trustkit_round_trip_via_cli(
    policy_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, stdout, _ = run(capsys, "export", str(policy_file), "--format", "trustkit",
                          "--swizzle")
    assert code == 0 and "<key>TSKSwizzleNetworkDelegates</key>\n\t\t<true/>" in stdout
    plist = tmp_path / "Info.plist"
    plist.write_text(stdout)
    out = tmp_path / "back.toml"
    assert run(capsys, "import", str(plist), "--from", "trustkit", "-o", str(out))[0] == 0
    assert load_policy(out) == load_policy(policy_file)


def test_export_curl_and_hpkp(policy_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "export", str(policy_file), "--format", "curl")
    assert code == 2 and "--host" in one_error_line(err)
    code, stdout, err = run(capsys, "export", str(policy_file), "--format", "curl",
                            "--host", "api.example.com", "--lossy")
    assert code == 0 and stdout == f"sha256//{K1[7:]};sha256//{K2[7:]}\n"
    assert "leaf certificate only" in err
    code, stdout, err = run(capsys, "export", str(policy_file), "--format", "hpkp",
                            "--host", "beta.example.com", "--max-age", "600")
    assert code == 0 and stdout.endswith("; max-age=600\n")
    assert "Public-Key-Pins-Report-Only" in err


def test_export_bad_policy_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "p.toml"
    path.write_text(f'[hosts."a.test"]\npins = ["{K1}", "{K2}"]\nenforced = true\n')
    code, stdout, err = run(capsys, "export", str(path), "--format", "android")
    assert code == 2 and stdout == ""
    line = one_error_line(err)
    assert f'{path}, line 3 (hosts."a.test".enforced): unknown key' in line


def test_export_usage_error(policy_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "export", str(policy_file), "--format", "yaml")
    assert code == 2 and "invalid choice" in err


def test_module_runs() -> None:
    proc = subprocess.run([sys.executable, "-m", "certpin", "export", "--help"],
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 0 and "--lossy" in proc.stdout


# ------------------------------------------------------------ regressions
# Moved here from the files that grouped them by who found them (red team, reviews).


# regression: import -o into a missing folder named the temporary file, not the output (found by the
#   review of hostile input)
def test_import_output_in_missing_folder_names_the_output(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = tmp_path / "curl.txt"
    src.write_text(f"sha256//{K1.split('/', 1)[1]}\n")
    out = tmp_path / "no" / "such" / "p.toml"
    code = main(["import", str(src), "--from", "curl", "--host", "a.test", "-o", str(out)])
    _, err = capsys.readouterr()
    line = one_error_line(err)
    assert code == 2
    assert str(out) in line          # the file the user named, not the temporary file
    assert ".tmp" not in line
    assert not out.parent.exists()
