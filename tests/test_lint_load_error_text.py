"""``certpin lint``'s load-error finding carries the loader's message as it is.

The loader's messages (certpin errors) escape what they quote already; lint escaped them again,
so each backslash doubled once more (the sibling, in lint, of issue 11 item 4's doubled
backslashes in subjects).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from certpin.cli import main
from certpin.config import load_policy
from certpin.errors import CertpinError
from certpin.lint import lint_file


def test_the_load_error_is_the_loaders_message(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "bs.toml"
    path.write_text('[hosts."a.test"]\npins = ["sha256/a\\\\b\\u001b", "sha256/x"]\n')
    with pytest.raises(CertpinError) as info:
        load_policy(path)
    expected = str(info.value)
    assert "\x1b" not in expected and "\\x1b" in expected
    (finding,) = lint_file(path)
    assert finding.code == "load-error" and finding.message == expected
    assert main(["lint", str(path), "--format", "json"]) == 2
    out, err = capsys.readouterr()
    assert json.loads(out)[0]["message"] == expected
    assert err == f"certpin lint: error: {expected}\n"
