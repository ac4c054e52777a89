"""A TUF repository of certpin policies served over HTTP(S) on 127.0.0.1, and forgeries of it.

:class:`RepoServer` serves a folder with :class:`http.server.ThreadingHTTPServer`; ``delay``
makes every response wait (a slow server), ``stop()`` takes it down. The forge helpers write
metadata the way an attacker holding the wrong keys (or too few of them) would.
"""

from __future__ import annotations

import functools
import hashlib
import http.server
import ssl
import threading
import time
from pathlib import Path
from typing import Any

from securesystemslib.signer import CryptoSigner, Signature
from tuf.api.metadata import Metadata, MetaFile, Root, Snapshot, Targets, Timestamp

from certpin import PinPolicy, PinSet
from certpin.config import dumps_policy
from certpin.updates.keys import find_signer


class _Handler(http.server.SimpleHTTPRequestHandler):
    server: Any

    def do_GET(self) -> None:
        self.server.requests.append(self.path)
        delay = self.server.delay
        if delay:
            self.server.release.wait(delay)
        super().do_GET()

    def log_message(self, format: str, *args: Any) -> None:
        pass


class RepoServer:
    """Serve ``folder`` on 127.0.0.1 (HTTPS when ``context`` is given)."""

    def __init__(self, folder: Path, context: ssl.SSLContext | None = None) -> None:
        handler = functools.partial(_Handler, directory=str(folder))
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.httpd.daemon_threads = True
        self.httpd.delay = 0.0  # type: ignore[attr-defined]
        self.httpd.release = threading.Event()  # type: ignore[attr-defined]
        self.httpd.requests = []  # type: ignore[attr-defined]
        if context is not None:
            self.httpd.socket = context.wrap_socket(self.httpd.socket, server_side=True)
        self.port = self.httpd.server_address[1]
        scheme = "https" if context is not None else "http"
        self.url = f"{scheme}://127.0.0.1:{self.port}/"
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self._thread.start()
        self.up = True

    @property
    def requests(self) -> list[str]:
        return self.httpd.requests  # type: ignore[attr-defined,no-any-return]

    def slow(self, seconds: float) -> None:
        self.httpd.delay = seconds  # type: ignore[attr-defined]
        self.httpd.release.clear()  # type: ignore[attr-defined]

    def stop(self) -> None:
        if self.up:
            self.httpd.release.set()  # type: ignore[attr-defined]
            self.httpd.shutdown()
            self.httpd.server_close()
            self.up = False


def pin_of(cert_pem: bytes) -> str:
    from cryptography import x509

    from certpin.pins import spki_pin

    return str(spki_pin(x509.load_pem_x509_certificate(cert_pem)))


def policy_for(host: str, *pins: str) -> PinPolicy:
    """A policy pinning ``host`` to ``pins`` plus one spare backup pin."""
    spare = "sha256/" + __import__("base64").b64encode(hashlib.sha256(b"spare").digest()).decode()
    return PinPolicy({host: PinSet([*pins, spare])})


def write_policy(path: Path, policy: PinPolicy) -> Path:
    path.write_text(dumps_policy(policy, "toml"), encoding="utf-8")
    return path


def wrong_policy(host: str) -> PinPolicy:
    bad = ["sha256/" + __import__("base64").b64encode(hashlib.sha256(s).digest()).decode()
           for s in (b"one", b"two")]
    return PinPolicy({host: PinSet(bad)})


def _newest(meta: Path, role: str) -> Path:
    return max(meta.glob(f"*.{role}.json"), key=lambda p: int(p.name.split(".")[0]))


def forge_targets(repo: Path, keydir: Path, data: bytes, *, sign: str,
                  name: str = "policy.toml") -> None:
    """A new targets version listing ``data``, signed as ``sign`` says, then snapshot and
    timestamp signed properly with the real online keys.

    ``sign``: ``"wrong-key"`` (a fresh key's signature under the real key id), ``"one-of-two"``
    (only the first of the role's keys).
    """
    meta = repo / "metadata"
    root = Metadata[Root].from_file(str(_newest(meta, "root"))).signed
    targets = Metadata[Targets].from_file(str(_newest(meta, "targets")))
    from tuf.api.metadata import TargetFile

    target = TargetFile.from_data(name, data, ["sha256"])
    (repo / "targets" / f"{target.hashes['sha256']}.{name}").write_bytes(data)
    targets.signed.targets = {name: target}
    targets.signed.version += 1
    targets.signatures.clear()
    keyids = root.roles["targets"].keyids
    if sign == "wrong-key":
        intruder = CryptoSigner.generate_ed25519()
        raw = intruder.sign(targets.signed_bytes)
        targets.signatures[keyids[0]] = Signature(keyids[0], raw.signature)
    elif sign == "one-of-two":
        assert len(keyids) == 2
        targets.sign(find_signer([keydir], "targets", root.keys[keyids[0]]))
    else:
        raise ValueError(sign)
    (meta / f"{targets.signed.version}.targets.json").write_bytes(targets.to_bytes())
    snapshot = Metadata[Snapshot].from_file(str(_newest(meta, "snapshot")))
    snapshot.signed.meta["targets.json"] = MetaFile(version=targets.signed.version)
    snapshot.signed.version += 1
    _resign(snapshot, root, keydir, "snapshot")
    (meta / f"{snapshot.signed.version}.snapshot.json").write_bytes(snapshot.to_bytes())
    timestamp = Metadata[Timestamp].from_file(str(meta / "timestamp.json"))
    timestamp.signed.snapshot_meta = MetaFile(version=snapshot.signed.version)
    timestamp.signed.version += 1
    _resign(timestamp, root, keydir, "timestamp")
    (meta / "timestamp.json").write_bytes(timestamp.to_bytes())


def _resign(md: Metadata[Any], root: Root, keydir: Path, role: str) -> None:
    md.signatures.clear()
    for keyid in root.roles[role].keyids:
        md.sign(find_signer([keydir], role, root.keys[keyid]), append=True)


def forge_root_rotation(repo: Path, keydir: Path) -> None:
    """A new root version whose root key is a fresh one, signed by the new key only."""
    meta = repo / "metadata"
    current = Metadata[Root].from_file(str(_newest(meta, "root")))
    new = Metadata[Root].from_bytes(current.to_bytes())
    intruder = CryptoSigner.generate_ed25519()
    for keyid in list(new.signed.roles["root"].keyids):
        new.signed.revoke_key(keyid, "root")
    new.signed.add_key(intruder.public_key, "root")
    new.signed.version += 1
    new.signatures.clear()
    new.sign(intruder)
    (meta / f"{new.signed.version}.root.json").write_bytes(new.to_bytes())


def wait_for(predicate: Any, timeout: float = 10.0) -> None:
    end = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > end:
            raise AssertionError("timed out waiting")
        time.sleep(0.02)
