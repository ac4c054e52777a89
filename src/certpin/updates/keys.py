"""Key files of a pin-update repository: one private and one public file per key, in KEYDIR.

A key is stored as ``{role}-{keyid}.key`` (the Ed25519 private key, PEM PKCS#8, unencrypted) and
``{role}-{keyid}.pub`` (the public key as TUF metadata holds it, JSON). The folder is created with
mode 0700 when missing; every file is created exclusively (``O_CREAT | O_EXCL``) with mode 0600,
public halves included, so an existing key is never overwritten. Which key is in use for a role is
not written anywhere in KEYDIR: it is what the repository's root metadata says (its key ids), and
the signer for it is looked up by key id in the folders given (``--keys`` may be repeated, so the
offline root and targets keys can live apart from the online snapshot and timestamp keys).
Nothing read from these files is ever printed or logged.
"""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Iterable, Sequence
from pathlib import Path

from cryptography.hazmat.primitives.serialization import load_pem_private_key
from securesystemslib.signer import CryptoSigner, Key, SSlibKey

from .errors import UpdateError

__all__ = ["find_signer", "key_folder", "new_key", "prepare_keydir"]

ROLES = ("root", "targets", "snapshot", "timestamp")


def prepare_keydir(keydir: str | os.PathLike[str]) -> Path:
    """Create ``keydir`` with mode 0700 when missing.

    Raises:
        UpdateError: the path exists and is not a folder, or is a folder that another user owns
            or that group or other may read, write or enter (the keys could be read, deleted or
            swapped): ``chmod 700`` it first.
    """
    path = Path(keydir)
    if not path.exists():
        path.mkdir(mode=0o700, parents=True)
        os.chmod(path, 0o700)  # whatever the umask said
        return path
    if not path.is_dir():
        raise UpdateError(f"the key folder {path} exists and is not a folder")
    info = path.stat()
    mode = stat.S_IMODE(info.st_mode)
    if mode & 0o077 or info.st_uid != os.geteuid():
        raise UpdateError(
            f"the key folder {path} is open to other users (mode {mode:04o}, owner uid "
            f"{info.st_uid}): it must be yours with mode 0700 (chmod 700 {path})")
    return path


def _write_exclusive(path: Path, data: bytes) -> None:
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    try:
        fd = os.open(path, flags, 0o600)
    except FileExistsError:
        raise UpdateError(f"{path} exists already: certpin never overwrites a key") from None
    try:
        os.fchmod(fd, stat.S_IRUSR | stat.S_IWUSR)
        view = memoryview(data)
        while view:
            written = os.write(fd, view)
            view = view[written:]
        os.fsync(fd)
    finally:
        os.close(fd)


def new_key(keydir: str | os.PathLike[str], role: str) -> CryptoSigner:
    """Generate an Ed25519 key for ``role`` and store both halves in ``keydir`` (mode 0600,
    created exclusively). Returns its signer."""
    if role not in ROLES:
        raise UpdateError(f"unknown role {role!r}: expected one of {', '.join(ROLES)}")
    path = prepare_keydir(keydir)
    signer = CryptoSigner.generate_ed25519()
    keyid = signer.public_key.keyid
    public = json.dumps(signer.public_key.to_dict(), sort_keys=True).encode() + b"\n"
    _write_exclusive(path / f"{role}-{keyid}.key", signer.private_bytes)
    _write_exclusive(path / f"{role}-{keyid}.pub", public)
    return signer


def find_signer(keydirs: Sequence[str | os.PathLike[str]], role: str, key: Key) -> CryptoSigner:
    """The signer for ``key`` (a key of ``role`` in the root metadata), from its file in one of
    ``keydirs``.

    Raises:
        UpdateError: no folder holds it, or the file does not hold that key.
    """
    for folder in _folders(keydirs):
        path = folder / f"{role}-{key.keyid}.key"
        if not path.is_file():
            continue
        private = load_pem_private_key(path.read_bytes(), None)
        if not isinstance(key, SSlibKey):
            raise UpdateError(f"the {role} key {key.keyid[:16]} is not a key certpin can load")
        try:
            return CryptoSigner(private, key)
        except Exception as exc:  # a KeyMismatchError, or a key of another type
            raise UpdateError(f"{path} does not hold the {role} key {key.keyid[:16]}") from exc
    where = ", ".join(str(f) for f in _folders(keydirs)) or "(no folder given)"
    raise UpdateError(f"the {role} key {key.keyid[:16]}... is not in {where}")


def _folders(keydirs: Iterable[str | os.PathLike[str]]) -> list[Path]:
    return [Path(k) for k in keydirs]


def key_folder(
    keydirs: Sequence[str | os.PathLike[str]], role: str, keyids: Iterable[str]
) -> Path | None:
    """The folder of ``keydirs`` that holds one of ``keyids`` for ``role``, or None."""
    for folder in _folders(keydirs):
        if any((folder / f"{role}-{keyid}.key").is_file() for keyid in keyids):
            return folder
    return None
