"""The cache folder of a :class:`certpin.updates.client.PolicyUpdater`: its checks (owner, mode),
its lock (one updater per folder), and the offline verification, at start, of the last policy
it verified (so that a restart while the repository is unreachable keeps it)."""

from __future__ import annotations

import os
import stat
from datetime import datetime
from pathlib import Path
from typing import IO, Any, Literal, NamedTuple
from urllib.parse import quote

from tuf.api.metadata import Metadata, Root

from ..config import loads_policy
from ..policy import PinPolicy
from .errors import UpdateError

__all__ = ["Cached", "lock_cache", "prepare_cache", "read_cache"]


def prepare_cache(folder: Path) -> Path:
    """Create ``folder`` (mode 0700) and its ``metadata`` and ``targets`` sub-folders.

    Raises:
        UpdateError: ``folder`` or a sub-folder exists and is not a folder (a sub-folder that
            is a symbolic link included), is owned by another user, or group or other may
            write to it (another user could plant an older signed state, restored
            at the next start): ``chmod 700`` it first.
    """
    if not folder.exists():
        folder.mkdir(mode=0o700, parents=True)
    _private(folder, follow=True)
    for sub in ("metadata", "targets"):
        (folder / sub).mkdir(mode=0o700, exist_ok=True)
        _private(folder / sub, follow=False)
    return folder


def _private(folder: Path, *, follow: bool) -> None:
    info = folder.stat() if follow else folder.lstat()
    if not stat.S_ISDIR(info.st_mode):
        raise UpdateError(f"the cache folder {folder} exists and is not a folder")
    mode = stat.S_IMODE(info.st_mode)
    if mode & 0o022 or info.st_uid != os.geteuid():
        raise UpdateError(
            f"the cache folder {folder} is open to other users (mode {mode:04o}, owner uid "
            f"{info.st_uid}): it must be yours and writable by you only (chmod 700 {folder})")


def lock_cache(folder: Path) -> IO[bytes] | None:
    """Lock ``folder/.lock`` (opened with ``O_NOFOLLOW``) for the caller's life.

    Raises:
        UpdateError: another updater holds the lock.
        OSError: the lock file cannot be opened (a symbolic link is refused).
    """
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX: no lock
        return None
    flags = (os.O_WRONLY | os.O_CREAT | os.O_APPEND | getattr(os, "O_NOFOLLOW", 0)
             | getattr(os, "O_CLOEXEC", 0))
    handle = os.fdopen(os.open(folder / ".lock", flags, 0o600), "ab")
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.close()
        raise UpdateError(
            f"the cache folder {folder} is in use by another PolicyUpdater: give each one "
            "(and each process) its own folder"
        ) from None
    return handle


class Cached(NamedTuple):
    """The last verified policy found in a cache folder."""

    policy: PinPolicy
    version: int
    expires: datetime


def read_cache(folder: Path, trusted_root: bytes, names: tuple[str, ...]) -> Cached | None:
    """The last verified policy in ``folder``, verified again (offline) from ``trusted_root``:
    the cached root chain (each version signed by the old and the new keys), the signatures of
    timestamp, snapshot and targets, the versions they reference, and the policy file's length
    and hashes. The expiry of the targets metadata is not judged here: the caller applies its
    ``on_expiry`` to :attr:`Cached.expires`.

    Returns:
        None when the cache holds no consistent state or no target of ``names``.

    Raises:
        FileNotFoundError: nothing cached yet.
        Exception: any verification or parse error (the cache is then not used).
    """
    meta = folder / "metadata"
    root: Metadata[Root] = Metadata.from_bytes(trusted_root)
    while True:
        path = meta / "root_history" / f"{root.signed.version + 1}.root.json"
        if not path.is_file():
            break
        new: Metadata[Root] = Metadata.from_bytes(path.read_bytes())
        root.signed.verify_delegate(Root.type, new.signed_bytes, new.signatures)
        new.signed.verify_delegate(Root.type, new.signed_bytes, new.signatures)
        if new.signed.version != root.signed.version + 1:
            return None
        root = new
    loaded: dict[str, Metadata[Any]] = {}
    for role in ("timestamp", "snapshot", "targets"):
        md: Metadata[Any] = Metadata.from_bytes((meta / f"{role}.json").read_bytes())
        root.signed.verify_delegate(role, md.signed_bytes, md.signatures)
        loaded[role] = md
    snapshot, targets = loaded["snapshot"].signed, loaded["targets"].signed
    if (loaded["timestamp"].signed.snapshot_meta.version != snapshot.version
            or snapshot.meta["targets.json"].version != targets.version):
        return None
    info = next((targets.targets[n] for n in names if n in targets.targets), None)
    if info is None:
        return None
    data = (folder / "targets" / quote(info.path, "")).read_bytes()
    info.verify_length_and_hashes(data)
    fmt: Literal["toml", "json"] = "json" if info.path.endswith(".json") else "toml"
    policy = loads_policy(data, fmt, source=f"{folder} target {info.path}")
    return Cached(policy, int(targets.version), targets.expires)
