"""Signed pin updates (issue 14): certpin.updates.PolicyUpdater against a real HTTP server on
127.0.0.1 serving a repository made by certpin.updates.publish, and every attack of the issue:
rollback, freeze, a tampered policy, the wrong key, too few signatures, root rotations (good and
bad), a server that is down or slow."""

from __future__ import annotations

import asyncio
import logging
import shutil
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import trustme

import certpin
from certpin import PinMismatchError, PinPolicy, PinValidationError, PolicyError
from certpin.clients._common import RequestGuard
from certpin.tls.swap import SwapRight, swap_policy
from certpin.updates import OnExpiry, PolicyUpdater, UpdateError
from certpin.updates.publish import init_repository, publish_policy, renew_timestamp, rotate_key
from support.servers import RecordingTLSServer
from support.tufrepo import (
    RepoServer,
    forge_root_rotation,
    forge_targets,
    pin_of,
    policy_for,
    wait_for,
    write_policy,
    wrong_policy,
)

HOST = "pinned.test"


@pytest.fixture()
def good(server_cert: trustme.LeafCert) -> PinPolicy:
    """A policy the legitimate server passes."""
    return policy_for(HOST, pin_of(server_cert.cert_chain_pems[0].bytes()))


@pytest.fixture()
def bad() -> PinPolicy:
    """A policy the legitimate server fails."""
    return wrong_policy(HOST)


@pytest.fixture()
def cafile(tmp_path: Path, ca: trustme.CA) -> str:
    path = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return str(path)


class Repo:
    def __init__(self, base: Path, **init: object) -> None:
        self.path = base / "served"
        self.keys = base / "keys"
        self.root = init_repository(self.path, self.keys, **init).read_bytes()  # type: ignore[arg-type]
        self.base = base
        self.n = 0

    def publish(self, policy: PinPolicy, **kw: object) -> int:
        self.n += 1
        src = write_policy(self.base / f"p{self.n}.toml", policy)
        return publish_policy(self.path, src, [self.keys], **kw)  # type: ignore[arg-type]

    def snapshot(self) -> Path:
        """A copy of the served folder as it is now (an old repository state to replay)."""
        self.n += 1
        copy = self.base / f"state{self.n}"
        shutil.copytree(self.path, copy)
        return copy

    def replay(self, state: Path) -> None:
        shutil.rmtree(self.path)
        shutil.copytree(state, self.path)


@pytest.fixture()
def repo(tmp_path: Path) -> Repo:
    return Repo(tmp_path)


@pytest.fixture()
def web(repo: Repo) -> Iterator[RepoServer]:
    srv = RepoServer(repo.path)
    yield srv
    srv.stop()


@pytest.fixture()
def updater(repo: Repo, web: RepoServer, good: PinPolicy, cafile: str,
            tmp_path: Path) -> Iterator[PolicyUpdater]:
    with PolicyUpdater(web.url, root=repo.root, policy=good, cache_dir=tmp_path / "cache",
                       cafile=cafile, timeout=5) as u:
        yield u


def handshake(ctx: ssl.SSLContext, port: int) -> None:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw, \
            ctx.wrap_socket(raw, server_hostname=HOST):
        pass


# ------------------------------------------------------------------ the happy path
def test_a_new_policy_is_picked_up_by_live_contexts(
    repo: Repo, updater: PolicyUpdater, server: RecordingTLSServer, good: PinPolicy,
    bad: PinPolicy, cafile: str,
) -> None:
    ctx = updater.create_ssl_context(cafile=cafile)
    guard = RequestGuard(ctx)
    handshake(ctx, server.port)  # the shipped policy; the pass is remembered
    assert ctx._certpin_passes  # type: ignore[attr-defined]
    assert updater.version is None
    repo.publish(bad)
    assert updater.refresh() is True
    assert updater.policy == bad and ctx.policy == bad  # type: ignore[attr-defined]
    assert guard.policy == bad  # the request guards read the policy in force
    assert updater.version == 2
    with pytest.raises(PinMismatchError):  # the remembered pass went with the old policy
        handshake(ctx, server.port)
    assert updater.refresh() is False  # nothing new
    repo.publish(good)
    assert updater.refresh() is True
    handshake(ctx, server.port)
    assert updater.version == 3


def test_no_public_setter_only_the_updater_swaps(updater: PolicyUpdater, bad: PinPolicy,
                                                 good: PinPolicy) -> None:
    ctx = updater.create_ssl_context()
    with pytest.raises(AttributeError):
        ctx.policy = bad  # type: ignore[attr-defined,misc]
    with pytest.raises(PolicyError):  # another right (another updater's, or one made here)
        swap_policy(ctx, bad, SwapRight())
    plain = certpin.create_ssl_context(good)  # made without a right: never swappable
    with pytest.raises(PolicyError):
        swap_policy(plain, bad, SwapRight())
    assert ctx.policy is good  # type: ignore[attr-defined]
    with pytest.raises(TypeError):
        __import__("copy").copy(SwapRight())


def test_a_pass_judged_under_the_old_policy_is_not_remembered_for_the_new(
    server: RecordingTLSServer, good: PinPolicy, bad: PinPolicy, cafile: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import certpin.tls.checks as checks

    right = SwapRight()
    ctx = certpin.tls.pinning_context(good, cafile=cafile, swap_right=right)
    real_check = checks.check

    def check_then_swap(*args: object, **kwargs: object) -> object:
        verdict = real_check(*args, **kwargs)  # type: ignore[arg-type]
        swap_policy(ctx, bad, right)  # the updater swaps right after the old policy judged
        return verdict

    monkeypatch.setattr(checks, "check", check_then_swap)
    handshake(ctx, server.port)  # judged wholly by the old policy: passes
    monkeypatch.setattr(checks, "check", real_check)
    assert not ctx._certpin_passes  # type: ignore[attr-defined]
    with pytest.raises(PinMismatchError):
        handshake(ctx, server.port)


def test_the_reference_client_reads_the_published_repository(
    repo: Repo, web: RepoServer, good: PinPolicy, tmp_path: Path
) -> None:
    from tuf.ngclient import Updater

    repo.publish(good)
    rotate_key(repo.path, "root", [repo.keys])
    rotate_key(repo.path, "timestamp", [repo.keys])
    repo.publish(good)
    cache = tmp_path / "ref"
    cache.mkdir()
    ref = Updater(str(cache), web.url + "metadata/", str(tmp_path), web.url + "targets/",
                  bootstrap=repo.root)
    ref.refresh()
    info = ref.get_targetinfo("policy.toml")
    assert info is not None
    got = Path(ref.download_target(info)).read_bytes()
    assert certpin.config.loads_policy(got, "toml") == good
    assert (cache / "root_history" / "3.root.json").is_file()


# ------------------------------------------------------------------ attacks
def test_rollback_to_an_older_version_is_refused(
    repo: Repo, updater: PolicyUpdater, good: PinPolicy, bad: PinPolicy,
    caplog: pytest.LogCaptureFixture,
) -> None:
    repo.publish(good)
    old = repo.snapshot()
    repo.publish(bad)
    assert updater.refresh() and updater.policy == bad
    repo.replay(old)  # the mirror serves the older (validly signed) repository
    with caplog.at_level(logging.ERROR, "certpin.updates"):
        assert updater.refresh() is False
    assert updater.policy == bad and updater.version == 3
    assert "rollback refused" in caplog.text


def test_a_frozen_repository_is_detected_and_logged(
    repo: Repo, updater: PolicyUpdater, good: PinPolicy, bad: PinPolicy,
    caplog: pytest.LogCaptureFixture,
) -> None:
    repo.publish(bad)
    assert updater.refresh()
    # the repository stops renewing: its newest timestamp is past its expiry
    renew_timestamp(repo.path, [repo.keys], now=datetime.now(UTC) - timedelta(days=2))
    with caplog.at_level(logging.WARNING, "certpin.updates"):
        assert updater.refresh() is False
    assert "looks frozen" in caplog.text
    assert updater.policy == bad


@pytest.mark.parametrize("same_length", [True, False])
def test_a_tampered_policy_is_refused(
    repo: Repo, updater: PolicyUpdater, good: PinPolicy, bad: PinPolicy,
    caplog: pytest.LogCaptureFixture, same_length: bool,
) -> None:
    repo.publish(bad)
    target = next((repo.path / "targets").glob("*.policy.toml"))
    signed = target.read_bytes()
    # the same length: the hash catches it; longer: the signed length does
    target.write_bytes(signed.replace(b"[", b"#", 1) if same_length else signed + b"# evil\n")
    with caplog.at_level(logging.ERROR, "certpin.updates"):
        assert updater.refresh() is False
    assert updater.policy == good and "refused" in caplog.text


def test_metadata_signed_by_the_wrong_key_is_refused(
    repo: Repo, updater: PolicyUpdater, good: PinPolicy, bad: PinPolicy,
    caplog: pytest.LogCaptureFixture, tmp_path: Path,
) -> None:
    data = write_policy(tmp_path / "evil.toml", bad).read_bytes()
    forge_targets(repo.path, repo.keys, data, sign="wrong-key")
    with caplog.at_level(logging.ERROR, "certpin.updates"):
        assert updater.refresh() is False
    assert updater.policy == good
    assert "UnsignedMetadataError" in caplog.text


def test_too_few_signatures_for_the_threshold_are_refused(
    tmp_path: Path, good: PinPolicy, bad: PinPolicy, cafile: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    repo = Repo(tmp_path, thresholds={"targets": 2})
    repo.publish(good)  # both targets keys sign
    web = RepoServer(repo.path)
    try:
        with PolicyUpdater(web.url, root=repo.root, policy=bad, cache_dir=tmp_path / "c",
                           cafile=cafile) as u:
            assert u.refresh() and u.policy == good
            data = write_policy(tmp_path / "evil.toml", bad).read_bytes()
            forge_targets(repo.path, repo.keys, data, sign="one-of-two")
            with caplog.at_level(logging.ERROR, "certpin.updates"):
                assert u.refresh() is False
            assert u.policy == good
            assert "UnsignedMetadataError" in caplog.text
    finally:
        web.stop()


def test_root_rotations_are_followed_and_a_bad_one_refused(
    repo: Repo, updater: PolicyUpdater, good: PinPolicy, bad: PinPolicy, web: RepoServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    repo.publish(bad)
    assert updater.refresh()
    assert rotate_key(repo.path, "root", [repo.keys]) == 2
    assert rotate_key(repo.path, "root", [repo.keys]) == 3
    rotate_key(repo.path, "targets", [repo.keys])  # root v4, targets re-signed by a new key
    repo.publish(good)
    assert updater.refresh() and updater.policy == good  # v1 -> v2 -> v3 -> v4
    assert "/metadata/4.root.json" in web.requests
    forge_root_rotation(repo.path, repo.keys)  # v5 signed by its new key only
    repo.publish(bad)  # whatever is signed under it
    with caplog.at_level(logging.ERROR, "certpin.updates"):
        assert updater.refresh() is False
    assert updater.policy == good
    assert "UnsignedMetadataError" in caplog.text


# ------------------------------------------------------------------ down, slow, expired
def test_a_server_down_keeps_the_policy_and_the_requests(
    repo: Repo, updater: PolicyUpdater, web: RepoServer, bad: PinPolicy, good: PinPolicy,
    server: RecordingTLSServer, cafile: str, caplog: pytest.LogCaptureFixture,
) -> None:
    repo.publish(good)
    assert updater.refresh() is False  # verified, but the same policy as the shipped one
    assert updater.version == 2
    ctx = updater.create_ssl_context(cafile=cafile)
    web.stop()
    with caplog.at_level(logging.WARNING, "certpin.updates"):
        assert updater.refresh() is False
    assert "cannot fetch updates" in caplog.text
    assert updater.policy == good
    handshake(ctx, server.port)


@pytest.mark.parametrize("choice", list(OnExpiry))
def test_after_the_targets_metadata_expired_the_constructor_decides(
    choice: OnExpiry, repo: Repo, web: RepoServer, good: PinPolicy, bad: PinPolicy,
    server: RecordingTLSServer, cafile: str, tmp_path: Path, caplog: pytest.LogCaptureFixture,
) -> None:
    now = [datetime.now(UTC)]
    repo.publish(good)
    with PolicyUpdater(web.url, root=repo.root, policy=bad, cache_dir=tmp_path / "c",
                       cafile=cafile, on_expiry=choice, clock=lambda: now[0]) as u:
        ctx = u.create_ssl_context(cafile=cafile)
        assert u.refresh() and u.policy == good and u.expires is not None
        web.stop()
        u.refresh()  # down, but the targets metadata is still valid: kept, whatever the choice
        assert u.policy == good
        now[0] = u.expires + timedelta(seconds=1)
        with caplog.at_level(logging.WARNING, "certpin.updates"):
            u.refresh()
        assert "expired" in caplog.text
        if choice is OnExpiry.KEEP:
            assert u.policy == good
            handshake(ctx, server.port)
        elif choice is OnExpiry.SHIPPED:
            assert u.policy == bad
            with pytest.raises(PinMismatchError):
                handshake(ctx, server.port)
        else:
            with pytest.raises(PinValidationError):
                handshake(ctx, server.port)
            assert u._fetch_ctx.policy == good  # type: ignore[attr-defined]


def test_a_slow_server_never_delays_a_request(
    repo: Repo, updater: PolicyUpdater, web: RepoServer, good: PinPolicy,
    server: RecordingTLSServer, cafile: str,
) -> None:
    ctx = updater.create_ssl_context(cafile=cafile)
    handshake(ctx, server.port)
    delay = 3.0
    web.slow(delay)
    started = time.monotonic()
    updater._interval = 60  # type: ignore[attr-defined]
    updater.start()
    wait_for(lambda: web.requests)  # the refresh is now waiting on the slow server
    t0 = time.monotonic()
    for _ in range(5):
        handshake(ctx, server.port)
    took = time.monotonic() - t0
    assert updater._refresh_lock.locked()  # type: ignore[attr-defined]
    assert time.monotonic() - started < delay  # all of it while the refresh was hanging
    assert took < delay / 3, (took, delay)
    web.httpd.release.set()  # type: ignore[attr-defined]


def test_the_asyncio_variant_refreshes_in_the_background(
    repo: Repo, updater: PolicyUpdater, bad: PinPolicy
) -> None:
    repo.publish(bad)

    async def main() -> None:
        task = updater.start_async()
        for _ in range(200):
            if updater.version is not None:
                break
            await asyncio.sleep(0.02)
        task.cancel()

    asyncio.run(main())
    assert updater.policy == bad


def test_the_background_thread_picks_up_a_new_policy(
    repo: Repo, updater: PolicyUpdater, bad: PinPolicy
) -> None:
    repo.publish(bad)
    updater._interval = 0.05  # type: ignore[attr-defined]
    updater.start()
    wait_for(lambda: updater.policy == bad)
    updater.close()
    assert not updater._thread.is_alive()  # type: ignore[union-attr]


# ------------------------------------------------------------------ the update channel
def test_the_update_host_is_reached_through_the_pinning_context(
    repo: Repo, server_cert: trustme.LeafCert, cafile: str, good: PinPolicy, bad: PinPolicy,
    tmp_path: Path, caplog: pytest.LogCaptureFixture,
) -> None:
    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_cert.configure_cert(tls)
    web = RepoServer(repo.path, context=tls)
    pin = pin_of(server_cert.cert_chain_pems[0].bytes())
    update_host = policy_for("127.0.0.1", pin)
    repo.publish(PinPolicy({**good.pin_sets, **update_host.pin_sets}))
    try:
        with PolicyUpdater(web.url, root=repo.root, policy=update_host, cafile=cafile,
                           cache_dir=tmp_path / "ok") as u:
            assert u.refresh() and HOST in u.policy.pin_sets
        wrong = wrong_policy("127.0.0.1")  # the update host fails its pins: nothing fetched
        with PolicyUpdater(web.url, root=repo.root, policy=wrong, cafile=cafile,
                           cache_dir=tmp_path / "bad") as u, \
                caplog.at_level(logging.WARNING, "certpin.updates"):
            assert u.refresh() is False and u.policy == wrong
        assert "Certificate pinning failure for 127.0.0.1" in caplog.text
    finally:
        web.stop()


# ------------------------------------------------------------------ the small print
def test_one_cache_folder_per_updater(repo: Repo, web: RepoServer, good: PinPolicy,
                                      updater: PolicyUpdater, tmp_path: Path) -> None:
    with pytest.raises(UpdateError, match="in use"):
        PolicyUpdater(web.url, root=repo.root, policy=good, cache_dir=tmp_path / "cache")


def test_importing_certpin_does_not_import_tuf() -> None:
    code = ("import sys, certpin, certpin.updates; "
            "assert not any(m.split('.')[0] in ('tuf', 'securesystemslib') for m in sys.modules)")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_refresh_runs_apart_from_requests(updater: PolicyUpdater) -> None:
    assert threading.current_thread() is threading.main_thread()
    assert updater.refresh() is False  # nothing published yet: no target, logged, kept


# ------------------------------------------------------------------ the docs' client lines
def test_the_docs_client_lines_pick_up_a_new_policy(
    repo: Repo, web: RepoServer, good: PinPolicy, bad: PinPolicy, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import re

    page = Path(__file__).resolve().parents[2] / "docs" / "updates.md"
    blocks = re.findall(r"^```py\n(.*?)^```", page.read_text(encoding="utf-8"), re.S | re.M)
    assert len(blocks) == 1 and "https://pins.example.com/certpin/" in blocks[0]
    code = blocks[0].replace("https://pins.example.com/certpin/", web.url)
    app = tmp_path / "app"
    app.mkdir()
    (app / "root.json").write_bytes(repo.root)
    write_policy(app / "policy.toml", good)
    monkeypatch.chdir(app)
    repo.publish(bad)
    namespace: dict[str, object] = {}
    exec(compile(code, "docs/updates.md", "exec"), namespace)
    updater = namespace["updater"]
    ctx = namespace["ctx"]
    assert isinstance(updater, PolicyUpdater)
    try:
        wait_for(lambda: updater.policy == bad)  # the start() refresh picked it up
        assert ctx.policy == bad  # type: ignore[attr-defined]
        repo.publish(good)
        assert updater.refresh() and ctx.policy == good  # type: ignore[attr-defined]
    finally:
        updater.close()


def test_a_restart_while_the_server_is_down_keeps_the_last_verified_policy(
    repo: Repo, web: RepoServer, good: PinPolicy, bad: PinPolicy, cafile: str, tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    repo.publish(bad)
    with PolicyUpdater(web.url, root=repo.root, policy=good, cache_dir=tmp_path / "c") as u:
        assert u.refresh() and u.policy == bad
    web.stop()
    with PolicyUpdater(web.url, root=repo.root, policy=good, cache_dir=tmp_path / "c") as u:
        assert u.policy == bad and u.version == 2  # verified again from the shipped root
        ctx = u.create_ssl_context(cafile=cafile)
        assert ctx.policy == bad  # type: ignore[attr-defined]
    # a cached policy file changed on disk is not restored
    cached = tmp_path / "c" / "targets" / "policy.toml"
    cached.write_bytes(cached.read_bytes() + b"# changed\n")
    with PolicyUpdater(web.url, root=repo.root, policy=good, cache_dir=tmp_path / "c") as u:
        assert u.policy == good and u.version is None
    # a policy whose targets metadata expired: on_expiry applies at once, with a warning
    # ("keep", the default, keeps the last verified policy, as the docs promise)
    cached.write_bytes(cached.read_bytes().removesuffix(b"# changed\n"))
    late = datetime.now(UTC) + timedelta(days=91)
    with caplog.at_level(logging.WARNING, "certpin.updates"), PolicyUpdater(
            web.url, root=repo.root, policy=good, cache_dir=tmp_path / "c",
            clock=lambda: late) as u:
        assert u.policy == bad and u.version == 2
    assert "expired" in caplog.text and "stays in force" in caplog.text
    with PolicyUpdater(web.url, root=repo.root, policy=good, cache_dir=tmp_path / "c",
                       clock=lambda: late, on_expiry="shipped") as u:
        assert u.policy == good
    with PolicyUpdater(web.url, root=repo.root, policy=good, cache_dir=tmp_path / "c",
                       clock=lambda: late, on_expiry="fail-closed") as u:
        assert u.policy.unknown_hosts == "reject" and not u.policy.pin_sets
    with PolicyUpdater(web.url, root=repo.root, policy=good, cache_dir=tmp_path / "c") as u:
        assert u.policy == bad


def test_reports_follow_the_policy_in_force(
    repo: Repo, updater: PolicyUpdater, server: RecordingTLSServer, good: PinPolicy,
    cafile: str, caplog: pytest.LogCaptureFixture,
) -> None:
    from certpin import PinSet

    ctx = updater.create_ssl_context(cafile=cafile)
    assert ctx.reporter is None  # type: ignore[attr-defined]  # nothing to report in `good`
    spare = list(good.pin_sets[HOST].all_pins)[1:]
    # a report-only pin set that the server fails: it passes, and the mismatch is logged
    watched = PinPolicy({HOST: PinSet(["sha256/" + "A" * 42 + "s=", *map(str, spare)],
                                      enforce=False)})
    repo.publish(watched)
    assert updater.refresh()
    assert ctx.reporter is not None  # type: ignore[attr-defined]  # made for the new policy
    with caplog.at_level(logging.WARNING, "certpin"):
        handshake(ctx, server.port)
    assert "report-only" in caplog.text.lower()
