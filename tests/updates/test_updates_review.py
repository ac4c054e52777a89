"""Adversarial review 14 of signed pin updates: each test fails on the code it was written
against (aa185c6) and states the guarantee of docs/updates.md it checks."""

from __future__ import annotations

import logging
import os
import shutil
import stat
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from test_updates import Repo, bad, cafile, good, handshake, repo, web  # noqa: F401

from certpin import PinPolicy, PinValidationError
from certpin.updates import OnExpiry, PolicyUpdater, UpdateError
from certpin.updates.publish import init_repository, rotate_key
from support.servers import RecordingTLSServer
from support.tufrepo import RepoServer, write_policy


# ------------------------------------------------------------------ on_expiry across a restart
def test_fail_closed_is_not_lost_by_a_restart_after_the_targets_expired(
    repo: Repo, web: RepoServer, good: PinPolicy, bad: PinPolicy,  # noqa: F811
    server: RecordingTLSServer, cafile: str, tmp_path: Path,  # noqa: F811
) -> None:
    """on_expiry="fail-closed": once the targets metadata of the last verified policy expired
    and no update can be fetched, every host is refused. A restart must not turn that into the
    (permissive) shipped policy: _restore drops the expired cache silently, _expires stays None
    and _check_expiry never fails closed again."""
    repo.publish(bad)
    cache = tmp_path / "c"
    with PolicyUpdater(web.url, root=repo.root, policy=good, cache_dir=cache, cafile=cafile,
                       on_expiry=OnExpiry.FAIL_CLOSED) as u:
        assert u.refresh() and u.policy == bad
    web.stop()  # the update host is blocked from now on
    late = datetime.now(UTC) + timedelta(days=91)
    with PolicyUpdater(web.url, root=repo.root, policy=good, cache_dir=cache, cafile=cafile,
                       on_expiry=OnExpiry.FAIL_CLOSED, clock=lambda: late, timeout=2) as u:
        ctx = u.create_ssl_context(cafile=cafile)
        u.refresh()
        u.refresh()
        with pytest.raises(PinValidationError):  # fails open today: the shipped policy passes
            handshake(ctx, server.port)


def test_a_restart_after_the_targets_expired_warns(
    repo: Repo, web: RepoServer, good: PinPolicy, bad: PinPolicy,  # noqa: F811
    cafile: str, tmp_path: Path, caplog: pytest.LogCaptureFixture,  # noqa: F811
) -> None:
    """on_expiry="keep" (the default) promises the last verified policy stays, with a warning
    at each failed refresh. After a restart the expired cache is dropped without any warning
    (an info line at most) and the shipped policy silently replaces the last verified one."""
    repo.publish(bad)
    cache = tmp_path / "c"
    with PolicyUpdater(web.url, root=repo.root, policy=good, cache_dir=cache) as u:
        assert u.refresh() and u.policy == bad
    web.stop()
    late = datetime.now(UTC) + timedelta(days=91)
    with caplog.at_level(logging.WARNING, "certpin.updates"), PolicyUpdater(
            web.url, root=repo.root, policy=good, cache_dir=cache, clock=lambda: late,
            timeout=2) as u:
        u.refresh()
        kept = u.policy == bad
    assert kept or "expired" in caplog.text


# ------------------------------------------------------------------ certpin publish
def _listing(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


def test_a_publication_missing_the_snapshot_key_writes_nothing(
    repo: Repo, web: RepoServer, good: PinPolicy, bad: PinPolicy,  # noqa: F811
    tmp_path: Path,
) -> None:
    """publish_policy signs and writes N.targets.json before it looks up the snapshot key: a
    failed publication leaves a half-written repository (rotate_key looks every key up first)."""
    repo.publish(good)
    online = tmp_path / "online"
    online.mkdir(mode=0o700)
    for key in repo.keys.glob("snapshot-*"):
        shutil.move(str(key), online / key.name)
    before = _listing(repo.path)
    src = write_policy(tmp_path / "new.toml", bad)
    from certpin.updates.publish import publish_policy

    with pytest.raises(UpdateError):
        publish_policy(repo.path, src, [repo.keys])  # the online folder forgotten
    assert _listing(repo.path) == before


def test_a_failed_publication_is_not_published_later_by_a_rotation(
    repo: Repo, web: RepoServer, good: PinPolicy, bad: PinPolicy,  # noqa: F811
    tmp_path: Path,
) -> None:
    """The consequence: the orphan N.targets.json of the failed publication is what the next
    snapshot rotation points at, so a policy whose publication failed (and that the operator
    may have abandoned) is served to clients without another `publish policy`."""
    repo.publish(good)
    online = tmp_path / "online"
    online.mkdir(mode=0o700)
    for key in repo.keys.glob("snapshot-*"):
        shutil.move(str(key), online / key.name)
    src = write_policy(tmp_path / "abandoned.toml", bad)
    from certpin.updates.publish import publish_policy

    with pytest.raises(UpdateError):
        publish_policy(repo.path, src, [repo.keys])
    rotate_key(repo.path, "snapshot", [repo.keys, online])  # e.g. the snapshot key leaked
    with PolicyUpdater(web.url, root=repo.root, policy=good, cache_dir=tmp_path / "c") as u:
        u.refresh()
        assert u.policy == good  # today: the abandoned policy is in force


def test_init_refuses_a_key_folder_inside_the_served_repository(tmp_path: Path) -> None:
    """The runbook says to copy repo/ to the web server; init accepts --keys repo/keys (or
    repo/targets) and the private root key is then served to anyone."""
    repo = tmp_path / "repo"  # noqa: F811
    try:
        init_repository(repo, repo / "keys")
    except UpdateError:
        return
    srv = RepoServer(repo)
    try:
        name = next((repo / "keys").glob("root-*.key")).name
        with urllib.request.urlopen(f"{srv.url}keys/{name}", timeout=5) as response:
            body = response.read()
    finally:
        srv.stop()
    assert b"PRIVATE KEY" not in body, "the root private key is served by the repository"


def test_init_refuses_or_tightens_an_open_key_folder(tmp_path: Path) -> None:
    """An existing --keys folder that other users can write (or list) is used as it is: the keys
    land in a group/world-writable folder where another user can delete or swap them."""
    keys = tmp_path / "keys"
    keys.mkdir()
    os.chmod(keys, 0o777)
    try:
        init_repository(tmp_path / "repo", keys)
    except UpdateError:
        return
    assert stat.S_IMODE(keys.stat().st_mode) & 0o077 == 0


def test_an_open_cache_folder_is_refused_or_tightened(
    repo: Repo, web: RepoServer, good: PinPolicy, tmp_path: Path,  # noqa: F811
) -> None:
    """cache_dir is 'created, mode 0700'; an existing one writable by other users is used as it
    is, and its contents (the cached metadata and policy restored at start) are trusted: another
    user can plant an older, still unexpired signed state (a rollback on restart)."""
    cache = tmp_path / "c"
    cache.mkdir()
    os.chmod(cache, 0o777)
    try:
        u = PolicyUpdater(web.url, root=repo.root, policy=good, cache_dir=cache)
    except UpdateError:
        return
    u.close()
    assert stat.S_IMODE(cache.stat().st_mode) & 0o077 == 0


def test_a_failed_publication_is_not_published_by_the_next_timestamp_renewal(
    repo: Repo, web: RepoServer, good: PinPolicy, bad: PinPolicy,  # noqa: F811
    tmp_path: Path,
) -> None:
    """publish_policy fails at the timestamp key (not in the folders given) after writing
    N.targets.json and N.snapshot.json; the hourly cron `certpin publish timestamp` then points
    the new timestamp at that orphan snapshot: the abandoned policy goes live with no one
    running `publish policy` again."""
    from certpin.updates.publish import publish_policy, renew_timestamp

    repo.publish(good)
    online = tmp_path / "online"
    online.mkdir(mode=0o700)
    for key in repo.keys.glob("timestamp-*"):
        shutil.move(str(key), online / key.name)
    src = write_policy(tmp_path / "abandoned.toml", bad)
    with pytest.raises(UpdateError):
        publish_policy(repo.path, src, [repo.keys])
    renew_timestamp(repo.path, [online, repo.keys])  # the cron job
    with PolicyUpdater(web.url, root=repo.root, policy=good, cache_dir=tmp_path / "c") as u:
        u.refresh()
        assert u.policy == good  # today: the abandoned policy is in force


def test_on_expiry_shipped_can_recover_when_the_update_host_rotated_its_key(
    repo: Repo, server_cert, cafile: str, good: PinPolicy, tmp_path: Path,  # noqa: F811
) -> None:
    """on_expiry="shipped" also hands the shipped policy to the update host's own context
    (fail-closed keeps the last verified one "so that an update can recover"). If the update
    host's pins changed since the release (what updates are for), the updater can never fetch
    again once it fell back: stuck on the shipped policy even after the repository recovered."""
    import ssl

    from support.tufrepo import pin_of, policy_for, wrong_policy

    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_cert.configure_cert(tls)
    web = RepoServer(repo.path, context=tls)  # noqa: F811
    pin = pin_of(server_cert.cert_chain_pems[0].bytes())
    current = PinPolicy({**good.pin_sets, **policy_for("127.0.0.1", pin).pin_sets})
    repo.publish(current)
    shipped = wrong_policy("127.0.0.1")  # the release's pins of the update host, since rotated
    now = [datetime.now(UTC)]
    try:
        with PolicyUpdater(web.url, root=repo.root, policy=policy_for("127.0.0.1", pin),
                           cafile=cafile, cache_dir=tmp_path / "c") as u:
            assert u.refresh()
        with PolicyUpdater(web.url, root=repo.root, policy=shipped, cafile=cafile,
                           cache_dir=tmp_path / "c", on_expiry=OnExpiry.SHIPPED,
                           clock=lambda: now[0]) as u:
            assert u.policy == current  # restored from the cache
            ts = repo.path / "metadata" / "timestamp.json"
            hidden = ts.with_name("hidden.json")
            ts.rename(hidden)  # an outage of the repository
            now[0] = u.expires + timedelta(seconds=1)
            u.refresh()
            assert u.policy == shipped
            hidden.rename(ts)  # the repository is back, with a renewed publication
            repo.publish(PinPolicy({**current.pin_sets}), now=now[0] - timedelta(hours=1))
            u.refresh()
            assert u.policy != shipped, "stuck: the update host fails the shipped pins"
    finally:
        web.stop()
