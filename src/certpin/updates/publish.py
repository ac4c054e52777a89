"""Publishing pin policies as a TUF repository: the library behind ``certpin publish``.

The repository is a folder of static files that any web server or object store can serve::

    REPO/metadata/1.root.json, 2.root.json ...   every root version (clients walk them in order)
    REPO/metadata/root.json                      a copy of the newest root
    REPO/metadata/N.targets.json, N.snapshot.json   consistent snapshots (versioned names)
    REPO/metadata/timestamp.json                 the only file replaced in place, written last
    REPO/targets/<sha256>.policy.toml            the policy file, named by its hash

It is read by the reference client (:class:`tuf.ngclient.Updater`) with nothing but
``1.root.json``: ``metadata_base_url=<base>/metadata/``, ``target_base_url=<base>/targets/``.
Every file is written atomically (a temporary file in the same folder, ``fsync``, then
``os.replace``), and the new versioned files before the timestamp that points at them, so a
client never sees a half-published state.

Roles and keys: root, targets, snapshot and timestamp each have their own Ed25519 key (or
``thresholds[role]`` keys, all of which sign). Root and targets keys are meant to live offline;
snapshot and timestamp keys are online (a cron job renews the timestamp). See
:mod:`certpin.updates.keys` for the key files.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from securesystemslib.signer import CryptoSigner
from tuf.api.metadata import (
    Metadata,
    MetaFile,
    Root,
    Snapshot,
    TargetFile,
    Targets,
    Timestamp,
)
from tuf.api.serialization.json import JSONSerializer

from ..config import loads_policy
from ..errors import escape
from .errors import UpdateError
from .keys import ROLES, find_signer, key_folder, new_key, prepare_keydir

__all__ = [
    "DEFAULT_EXPIRY",
    "init_repository",
    "publish_policy",
    "renew_timestamp",
    "rotate_key",
]

#: How long each role's metadata is valid when signed (override with ``expiry``).
DEFAULT_EXPIRY: Mapping[str, timedelta] = {
    "root": timedelta(days=365),
    "targets": timedelta(days=90),
    "snapshot": timedelta(days=7),
    "timestamp": timedelta(days=1),
}

KeyDirs = Sequence[str | os.PathLike[str]]


class _Repo:
    """The metadata in force in ``REPO/metadata``: the newest root, the timestamp, and the
    snapshot and targets versions that chain references (``timestamp.json`` -> N.snapshot.json
    -> M.targets.json). A versioned file no timestamp points at (left by an interrupted
    publication) is never built upon: the next publication replaces it."""

    def __init__(self, repo: str | os.PathLike[str]) -> None:
        self.path = Path(repo)
        self.meta = self.path / "metadata"
        if not (self.meta / "1.root.json").is_file():
            raise UpdateError(f"{self.path} is not a certpin publish repository (no 1.root.json)")
        self.root: Metadata[Root] = Metadata[Root].from_file(str(self._newest("root")))
        self.timestamp: Metadata[Timestamp] = Metadata[Timestamp].from_file(
            str(self.meta / "timestamp.json"))
        snapshot = self.meta / f"{self.timestamp.signed.snapshot_meta.version}.snapshot.json"
        self.snapshot: Metadata[Snapshot] = Metadata[Snapshot].from_file(str(snapshot))
        listed = self.snapshot.signed.meta.get("targets.json")
        if listed is None:
            raise UpdateError(f"{snapshot} lists no targets.json")
        self.targets: Metadata[Targets] = Metadata[Targets].from_file(
            str(self.meta / f"{listed.version}.targets.json"))

    def _newest(self, role: str) -> Path:
        versions = []
        for p in self.meta.glob(f"*.{role}.json"):
            head = p.name.split(".", 1)[0]
            if head.isdigit():
                versions.append(int(head))
        if not versions:
            raise UpdateError(f"{self.meta} has no {role} metadata")
        return self.meta / f"{max(versions)}.{role}.json"


def _outside(repo: str | os.PathLike[str], keydirs: KeyDirs) -> None:
    """Refuse a key folder inside the repository (served as it is: the keys would be too)."""
    served = Path(repo).resolve()
    for keydir in keydirs:
        folder = Path(keydir).resolve()
        if folder == served or served in folder.parents:
            raise UpdateError(f"the key folder {keydir} is inside the repository {repo}, "
                              "which is served as it is: keep the keys out of it")


def _now(now: datetime | None) -> datetime:
    when = now or datetime.now(UTC)
    if when.tzinfo is None:
        raise ValueError("now must be an aware datetime")
    return when.astimezone(UTC).replace(microsecond=0)


def _expires(role: str, now: datetime, expiry: Mapping[str, timedelta] | None) -> datetime:
    return now + ({**DEFAULT_EXPIRY, **(expiry or {})})[role]


def write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (temporary file, fsync, ``os.replace``), mode 0644."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


Signers = Mapping[str, Sequence[CryptoSigner]]


def _signers(root: Root, roles: Iterable[str], keydirs: KeyDirs) -> dict[str, list[CryptoSigner]]:
    """The signer of every key ``root`` lists for each of ``roles``, from ``keydirs``: looked up
    before anything is written.

    Raises:
        UpdateError: a key is in none of ``keydirs``.
    """
    return {role: [find_signer(keydirs, role, root.keys[keyid])
                   for keyid in root.roles[role].keyids] for role in roles}


def _sign(md: Metadata[Any], signers: Sequence[CryptoSigner]) -> None:
    md.signatures.clear()
    for signer in signers:
        md.sign(signer, append=True)


def _dump(md: Metadata[Any]) -> bytes:
    return md.to_bytes(JSONSerializer(compact=False))


def _write_role(meta: Path, md: Metadata[Any]) -> None:
    name = f"{md.signed.type}.json"
    if md.signed.type != Timestamp.type:
        name = f"{md.signed.version}.{name}"
    write_atomic(meta / name, _dump(md))
    if md.signed.type == Root.type:
        write_atomic(meta / "root.json", _dump(md))


def init_repository(
    repo: str | os.PathLike[str],
    keydir: str | os.PathLike[str],
    *,
    thresholds: Mapping[str, int] | None = None,
    expiry: Mapping[str, timedelta] | None = None,
    now: datetime | None = None,
) -> Path:
    """Create the keys (in ``keydir``) and the first metadata of a repository (in ``repo``).

    Args:
        repo: the repository folder (created; must not hold a repository already).
        keydir: where the new keys go (see :mod:`certpin.updates.keys`).
        thresholds: ``{role: n}``: ``n`` keys for ``role``, all needed (default 1 each).
        expiry, now: validity of the metadata signed (:data:`DEFAULT_EXPIRY`) from ``now``.

    Returns:
        The path of ``1.root.json``: the trusted root to ship with the application.
    """
    meta = Path(repo) / "metadata"
    if meta.exists() and any(meta.iterdir()):
        raise UpdateError(f"{meta} is not empty: the repository exists already")
    _outside(repo, [keydir])
    prepare_keydir(keydir)
    when = _now(now)
    counts = {role: int((thresholds or {}).get(role, 1)) for role in ROLES}
    if any(n < 1 for n in counts.values()) or set(thresholds or {}) - set(ROLES):
        raise UpdateError("thresholds: each of root, targets, snapshot, timestamp must be >= 1")
    root = Root(expires=_expires("root", when, expiry), consistent_snapshot=True)
    signers: dict[str, list[CryptoSigner]] = {}
    for role in ROLES:
        signers[role] = [new_key(keydir, role) for _ in range(counts[role])]
        for signer in signers[role]:
            root.add_key(signer.public_key, role)
        root.roles[role].threshold = counts[role]
    mds: list[Metadata[Any]] = [
        Metadata(root),
        Metadata(Targets(expires=_expires("targets", when, expiry))),
        Metadata(Snapshot(expires=_expires("snapshot", when, expiry))),
        Metadata(Timestamp(expires=_expires("timestamp", when, expiry))),
    ]
    for md in mds:
        _sign(md, signers[md.signed.type])
        _write_role(meta, md)
    (Path(repo) / "targets").mkdir(exist_ok=True)
    return meta / "1.root.json"


_CHAIN = ("targets", "snapshot", "timestamp")


def _below(role: str) -> tuple[str, ...]:
    """``role`` and the roles below it (targets > snapshot > timestamp)."""
    return _CHAIN[_CHAIN.index(role):] if role in _CHAIN else ()


def _republish(
    r: _Repo, role: str, signers: Signers, when: datetime,
    expiry: Mapping[str, timedelta] | None,
) -> list[Metadata[Any]]:
    """New versions of ``role`` and of every role below it, signed (in memory, nothing
    written): write them in the order returned, the timestamp last."""
    out: list[Metadata[Any]] = []
    for name in _below(role):
        if name == "targets":
            md: Metadata[Any] = r.targets
        elif name == "snapshot":
            md = r.snapshot
            r.snapshot.signed.meta["targets.json"] = MetaFile(version=r.targets.signed.version)
        else:
            md = r.timestamp
            r.timestamp.signed.snapshot_meta = MetaFile(version=r.snapshot.signed.version)
        md.signed.version += 1
        md.signed.expires = _expires(name, when, expiry)
        _sign(md, signers[name])
        out.append(md)
    return out


def publish_policy(
    repo: str | os.PathLike[str],
    policy_file: str | os.PathLike[str],
    keydirs: KeyDirs,
    *,
    expiry: Mapping[str, timedelta] | None = None,
    now: datetime | None = None,
) -> int:
    """Publish ``policy_file`` as the repository's policy: new targets, snapshot, timestamp.

    The policy is loaded (:func:`certpin.config.loads_policy`) and linted first
    (:func:`certpin.lint.lint_policy`): a policy with an error finding is refused. The target is
    the file's bytes as they are, named ``policy.toml`` or ``policy.json`` after its suffix.

    Returns:
        The new targets version.

    Raises:
        UpdateError: not a repository, a key missing, or the policy has lint errors.
        ConfigError: the policy file cannot be parsed.
    """
    from ..lint import lint_policy

    path = Path(policy_file)
    fmt = path.suffix.lower().lstrip(".")
    if fmt not in ("toml", "json"):
        raise UpdateError(f"{path}: a policy file ends in .toml or .json")
    data = path.read_bytes()
    policy = loads_policy(data, fmt, source=str(path))  # type: ignore[arg-type]
    errors = [f for f in lint_policy(policy) if f.level.value == "error"]
    if errors:
        shown = "; ".join(f"{f.code} {escape(f.pattern or '')}: {f.message}" for f in errors)
        raise UpdateError(f"{path} has lint errors (see certpin lint): {shown}")
    _outside(repo, keydirs)
    r = _Repo(repo)
    signers = _signers(r.root.signed, _CHAIN, keydirs)  # every key, before anything is written
    name = f"policy.{fmt}"
    target = TargetFile.from_data(name, data, ["sha256"])
    r.targets.signed.targets = {name: target}
    signed = _republish(r, "targets", signers, _now(now), expiry)
    write_atomic(r.path / "targets" / f"{target.hashes['sha256']}.{name}", data)
    for md in signed:
        _write_role(r.meta, md)
    return int(r.targets.signed.version)


def renew_timestamp(
    repo: str | os.PathLike[str],
    keydirs: KeyDirs,
    *,
    expiry: Mapping[str, timedelta] | None = None,
    now: datetime | None = None,
) -> datetime:
    """Sign a new timestamp version (for cron: run it well before the timestamp expires).

    Returns:
        When the new timestamp expires.
    """
    _outside(repo, keydirs)
    r = _Repo(repo)
    signers = _signers(r.root.signed, ["timestamp"], keydirs)
    for md in _republish(r, "timestamp", signers, _now(now), expiry):
        _write_role(r.meta, md)
    return r.timestamp.signed.expires


def rotate_key(
    repo: str | os.PathLike[str],
    role: str,
    keydirs: KeyDirs,
    *,
    expiry: Mapping[str, timedelta] | None = None,
    now: datetime | None = None,
) -> int:
    """Replace every key of ``role`` by a new one (the threshold stays), in a new root version.

    The new keys go to the folder of ``keydirs`` that holds the role's current key (the first
    folder when none does: a lost key). Every key needed is looked up before anything is
    written, so a missing key leaves the repository as it was. The new root is signed by the
    current root keys and, for a root rotation, by the new root keys too (clients verify both).
    For targets,
    snapshot and timestamp the role's metadata and those below it are re-signed with the new
    keys; the old key of that role is not needed (the way to recover from a lost or leaked
    online key).

    Returns:
        The new root version.
    """
    if role not in ROLES:
        raise UpdateError(f"unknown role {role!r}: expected one of {', '.join(ROLES)}")
    if not keydirs:
        raise UpdateError("no key folder given")
    _outside(repo, keydirs)
    r = _Repo(repo)
    when = _now(now)
    old_root = r.root.signed
    old_signers = _signers(old_root, ["root"], keydirs)["root"]
    # every key needed, before anything is written
    signers = _signers(old_root, [other for other in _below(role) if other != role], keydirs)
    folder = key_folder(keydirs, role, old_root.roles[role].keyids) or Path(keydirs[0])
    prepare_keydir(folder)
    new = Metadata[Root].from_bytes(r.root.to_bytes()).signed
    for keyid in list(new.roles[role].keyids):
        new.revoke_key(keyid, role)
    signers[role] = [new_key(folder, role) for _ in range(old_root.roles[role].threshold)]
    for signer in signers[role]:
        new.add_key(signer.public_key, role)
    new.version += 1
    new.expires = _expires("root", when, expiry)
    md = Metadata(new)
    for signer in old_signers:
        md.sign(signer, append=True)
    if role == "root":
        for signer in signers["root"]:
            md.sign(signer, append=True)
    r.root = md
    signed = _republish(r, role, signers, when, expiry)
    _write_role(r.meta, md)
    for other in signed:
        _write_role(r.meta, other)
    return int(new.version)
