"""``certpin export --format okhttp --okhttp-version 3|4`` and ``certpin import --from okhttp``."""

from __future__ import annotations

from pathlib import Path

import pytest

from certpin.cli import main
from support.cli import one_error_line

K1 = "sha256/gXQJloeiZiH04s3XzAOz2s7bP7liJVsar9Azyr6DFTA="
K2 = "sha256/sQJTdkyLIz+zdULiNAHHtFDlpvl1HztaAU9vZ+i8mZ0="
K3 = "sha256/9XYQTuvqsJZR2DrP/HfIuMbqpLdnrqsk19qA+D9R2GU="
K4 = "sha256/pLNQTCdp/OlUf23aMQ3YsJTWMKBE1l9TJNSzcxCqtxQ="


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture()
def sub_policy(tmp_path: Path) -> Path:
    path = tmp_path / "policy.toml"
    path.write_text(
        f'[hosts."api.example.com"]\npins = ["{K1}", "{K2}"]\ninclude_subdomains = true\n'
        f'[hosts."www.example.com"]\npins = ["{K3}", "{K4}"]\n'
    )
    return path


def test_default_is_okhttp_3_which_refuses_include_subdomains(
    sub_policy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, stdout, err = run(capsys, "export", str(sub_policy), "--format", "okhttp")
    assert code == 2 and stdout == ""
    line = one_error_line(err)
    assert "api.example.com: include_subdomains (OkHttp 3 has no '**.'" in line
    assert "--lossy" in line
    assert run(capsys, "export", str(sub_policy), "--format", "okhttp",
               "--okhttp-version", "3")[:2] == (2, "")


def test_okhttp_3_lossy_names_the_host_and_why(
    sub_policy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, stdout, err = run(capsys, "export", str(sub_policy), "--format", "okhttp", "--lossy")
    assert code == 0
    assert '.add("api.example.com",' in stdout and '.add("*.api.example.com",' in stdout
    assert "**." not in stdout
    line = one_error_line(err)
    assert line.startswith("certpin export: dropped: api.example.com: include_subdomains")
    assert "hosts two or more labels below api.example.com are not pinned" in line


def test_okhttp_4_writes_double_star_after_the_version_line(
    sub_policy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, stdout, err = run(capsys, "export", str(sub_policy), "--format", "okhttp",
                            "--okhttp-version", "4")
    assert (code, err) == (0, "")
    assert stdout.splitlines()[0] == "// certpin: for OkHttp >= 4.3"
    assert '.add("**.api.example.com",' in stdout


@pytest.mark.parametrize("value", ["5", "2", "4.3", "x", ""])
def test_bad_version_is_a_usage_error(
    sub_policy: Path, capsys: pytest.CaptureFixture[str], value: str
) -> None:
    code, stdout, err = run(capsys, "export", str(sub_policy), "--format", "okhttp",
                            "--okhttp-version", value)
    assert code == 2 and stdout == ""
    assert "--okhttp-version" in err and "expected 3 or 4" in err and "Traceback" not in err


def test_version_with_another_format_is_a_usage_error(
    sub_policy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, stdout, err = run(capsys, "export", str(sub_policy), "--format", "android",
                            "--okhttp-version", "4")
    assert code == 2 and stdout == ""
    assert "--okhttp-version applies to --format okhttp only" in one_error_line(err)


def test_import_refuses_what_okhttp_refuses(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = tmp_path / "Pinner.java"
    src.write_text(f'new CertificatePinner.Builder()\n  .add("a.test", "SHA256/{K1[7:]}")\n')
    code, stdout, err = run(capsys, "import", str(src), "--from", "okhttp")
    assert code == 2 and stdout == ""
    line = one_error_line(err)
    assert f"{src}, line 2, pin 1: OkHttp refuses the pin" in line and "lower case" in line


def test_import_warns_for_lenient_base64_and_double_star(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = tmp_path / "pinner.kt"
    src.write_text(f'CertificatePinner.Builder()\n  .add("**.a.test", "{K1[:-1]}", "{K2}")\n')
    code, stdout, err = run(capsys, "import", str(src), "--from", "okhttp")
    assert code == 0 and '[hosts."a.test"]' in stdout and K1 in stdout
    assert err.count("warning:") == 2
    assert "pins nothing there" in err and "no '=' padding" in err
