"""``certpin publish``: the whole key life cycle (init, policy, timestamp, rotate) through the
command line, the key folder's modes, nothing secret printed, no key overwritten, lint errors
refused, and the reference TUF client reading the result over HTTP on 127.0.0.1."""

from __future__ import annotations

import base64
import hashlib
import stat
from pathlib import Path

import pytest
from tuf.ngclient import Updater

from certpin import PinPolicy, PinSet
from certpin.cli import main
from certpin.config import loads_policy
from support.tufrepo import RepoServer, policy_for, write_policy


def pin(seed: bytes) -> str:
    return "sha256/" + base64.b64encode(hashlib.sha256(seed).digest()).decode()


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out + out.err


def read_with_reference_client(repo: Path, tmp_path: Path, name: str) -> bytes:
    web = RepoServer(repo)
    try:
        cache = tmp_path / name
        cache.mkdir()
        ref = Updater(str(cache), web.url + "metadata/", str(cache), web.url + "targets/",
                      bootstrap=(repo / "metadata" / "1.root.json").read_bytes())
        ref.refresh()
        info = ref.get_targetinfo("policy.toml")
        assert info is not None
        return Path(ref.download_target(info)).read_bytes()
    finally:
        web.stop()


def test_the_whole_key_life_cycle(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    repo, keys, offline = tmp_path / "repo", tmp_path / "keys", tmp_path / "offline"
    code, out = run(capsys, "publish", "init", str(repo), "--keys", str(keys))
    assert code == 0 and "1.root.json" in out
    assert stat.S_IMODE(keys.stat().st_mode) == 0o700
    files = sorted(keys.iterdir())
    assert len(files) == 8  # a private and a public file for each of the four roles
    for f in files:
        assert stat.S_IMODE(f.stat().st_mode) == 0o600
        assert f.name.split("-")[0] in out or f.name not in out  # no key file content shown
        assert f.read_text().strip()[:40] not in out
    assert "PRIVATE KEY" not in out

    first = policy_for("api.example.com", pin(b"a"))
    src = write_policy(tmp_path / "policy.toml", first)
    code, out = run(capsys, "publish", "policy", str(repo), str(src), "--keys", str(keys))
    assert (code, "targets version 2" in out) == (0, True)
    code, out = run(capsys, "publish", "timestamp", str(repo), "--keys", str(keys))
    assert code == 0 and "expires" in out

    # the offline keys (root, targets) move to their own folder; --keys names both
    offline.mkdir(mode=0o700)
    for f in keys.iterdir():
        if f.name.startswith(("root-", "targets-")):
            f.rename(offline / f.name)
    both = ["--keys", str(keys), "--keys", str(offline)]
    for role in ("timestamp", "snapshot", "targets", "root"):
        code, out = run(capsys, "publish", "rotate", str(repo), "--role", role, *both)
        assert code == 0, out
    assert (repo / "metadata" / "5.root.json").is_file()
    # each successor went where the key it replaced lives
    assert len(list(offline.glob("root-*.key"))) == 2 and not list(keys.glob("root-*"))
    assert len(list(keys.glob("timestamp-*.key"))) == 2
    second = policy_for("api.example.com", pin(b"b"))
    write_policy(src, second)
    code, out = run(capsys, "publish", "policy", str(repo), str(src), *both)
    assert code == 0, out
    got = read_with_reference_client(repo, tmp_path, "ref")
    assert loads_policy(got, "toml") == second

    # without the offline keys, what needs them fails with one line and exit 2
    code, out = run(capsys, "publish", "rotate", str(repo), "--role", "timestamp",
                    "--keys", str(keys))
    assert code == 2 and "root key" in out and "Traceback" not in out


def test_an_existing_key_or_repository_is_never_overwritten(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    repo, keys = tmp_path / "repo", tmp_path / "keys"
    assert run(capsys, "publish", "init", str(repo), "--keys", str(keys))[0] == 0
    before = {f.name: f.read_bytes() for f in keys.iterdir()}
    code, out = run(capsys, "publish", "init", str(repo), "--keys", str(keys))
    assert code == 2 and "exists already" in out
    assert {f.name: f.read_bytes() for f in keys.iterdir()} == before


def test_a_policy_with_lint_errors_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    repo, keys = tmp_path / "repo", tmp_path / "keys"
    assert run(capsys, "publish", "init", str(repo), "--keys", str(keys))[0] == 0
    # a pin set for a public suffix: an error finding of certpin lint
    wide = PinPolicy({"com": PinSet([pin(b"a"), pin(b"b")],
                                    include_subdomains=True)})
    src = write_policy(tmp_path / "wide.toml", wide)
    assert run(capsys, "lint", str(src))[0] == 2
    code, out = run(capsys, "publish", "policy", str(repo), str(src), "--keys", str(keys))
    assert code == 2 and "lint errors" in out
    assert not list((repo / "targets").iterdir())


def test_threshold_keys(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    repo, keys = tmp_path / "repo", tmp_path / "keys"
    code, _ = run(capsys, "publish", "init", str(repo), "--keys", str(keys),
                  "--threshold", "targets=2")
    assert code == 0
    assert len(list(keys.glob("targets-*.key"))) == 2
    assert run(capsys, "publish", "init", str(repo), "--keys", str(keys),
               "--threshold", "targets=0")[0] == 2
    code, out = run(capsys, "publish", "init", str(tmp_path / "r2"), "--keys", "a", "--keys", "b")
    assert code == 2 and "exactly one --keys" in out


def test_recover_from_a_lost_online_key(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    repo, keys = tmp_path / "repo", tmp_path / "keys"
    assert run(capsys, "publish", "init", str(repo), "--keys", str(keys))[0] == 0
    src = write_policy(tmp_path / "policy.toml", policy_for("api.example.com", pin(b"a")))
    assert run(capsys, "publish", "policy", str(repo), str(src), "--keys", str(keys))[0] == 0
    before = read_with_reference_client(repo, tmp_path, "before")
    for f in keys.glob("timestamp-*"):
        f.unlink()  # the online timestamp key is lost
    code, out = run(capsys, "publish", "timestamp", str(repo), "--keys", str(keys))
    assert code == 2 and "timestamp key" in out
    code, out = run(capsys, "publish", "rotate", str(repo), "--role", "timestamp",
                    "--keys", str(keys))
    assert code == 0, out
    assert run(capsys, "publish", "timestamp", str(repo), "--keys", str(keys))[0] == 0
    assert read_with_reference_client(repo, tmp_path, "after") == before
