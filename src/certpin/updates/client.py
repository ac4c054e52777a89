"""The client side of signed pin updates: :class:`PolicyUpdater`, on :class:`tuf.ngclient.Updater`.

What it guarantees (the tests in ``tests/updates/test_updates.py`` check each):

* **Only verified policies.** A policy is swapped in only after TUF verified, from the trusted root
  shipped with the application: root (walking every root version: key rotations), timestamp,
  snapshot and targets metadata (signatures, thresholds, versions, expiry), and the policy file's
  length and SHA-256 against the targets metadata; then it is parsed by
  :func:`certpin.config.loads_policy`. Anything else is logged and the policy in force stays.
* **The update host is reached through a pinning context** made by this updater, so the pins of
  the policy in force apply to it. That channel adds to TUF, it is not what TUF relies on: an
  attacker who intercepts it can delay updates (detected: see below) but cannot make the client
  accept a policy the repository's keys did not sign, nor an older one.
* **No rollback.** TUF refuses metadata older than what the cache holds; on top of that the
  updater refuses a targets version lower than the one in force (so a wiped cache cannot roll a
  running process back either).
* **Freeze detection.** An expired timestamp (a frozen repository, or a mirror replaying old
  metadata) is refused by TUF and logged as a warning on the ``certpin.updates`` logger.
* **When updates cannot be fetched**, the last verified policy stays in force while the targets
  metadata that listed it is unexpired (across restarts too: a new updater verifies its cache again
  from the shipped root, offline, and starts with the policy it holds). After that ``on_expiry``
  decides, with a warning logged at every failed refresh (and at start when the cache restored has
  expired: a restart applies ``on_expiry`` at once): :attr:`OnExpiry.KEEP` (the default: keep the
  last verified policy, no lock-out of users), :attr:`OnExpiry.SHIPPED` (go back to the policy
  shipped with the application) or :attr:`OnExpiry.FAIL_CLOSED` (refuse every host). With each,
  the update host itself keeps the last verified policy so that an update can still recover.
* **Never in the request path.** :meth:`refresh` runs on a background thread (:meth:`start`) or
  an asyncio task (:meth:`start_async`, the blocking work in a worker thread). A request never
  waits for it: a swap is two attribute assignments on each context (:mod:`certpin.tls.swap`).
* **One cache directory per updater** (mode 0700; an existing one that another user owns or that
  group or other can write is refused), locked while the updater lives (a second updater on the
  same folder, in this process or another, raises :class:`UpdateError`). A multi-process
  application gives each process its own folder (e.g. suffixed with the process id) or runs the
  updater in every process with its own cache. TUF writes the metadata cache atomically
  (temporary file then ``os.replace``).
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import os
import ssl
import threading
import weakref
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from tuf.api import exceptions as tuf_errors
from tuf.api.metadata import Metadata, Targets
from tuf.ngclient import Updater

from ..config import loads_policy
from ..errors import escape
from ..policy import PinPolicy
from ..report import ViolationReport
from ..reporter import make_reporter
from ..tls import pinning_context
from ..tls.swap import SwapRight, swap_policy
from .cache import lock_cache, prepare_cache, read_cache
from .errors import UpdateError
from .fetch import PinnedFetcher

__all__ = ["OnExpiry", "PolicyUpdater"]

log = logging.getLogger("certpin.updates")

#: The target names looked for, in this order, when none is given.
TARGET_NAMES = ("policy.toml", "policy.json")

#: The policy that refuses every host (:attr:`OnExpiry.FAIL_CLOSED`).
REJECT_ALL = PinPolicy({}, unknown_hosts="reject")


class OnExpiry(enum.StrEnum):
    """What an updater does once the targets metadata of the policy in force has expired and no
    newer one could be fetched."""

    KEEP = "keep"
    SHIPPED = "shipped"
    FAIL_CLOSED = "fail-closed"


class PolicyUpdater:
    """Keeps pinning contexts on the newest pin policy a TUF repository signed.

    Args:
        url: the repository's base URL (``https://updates.example/pins/``): metadata is read
            under ``metadata/``, the policy under ``targets/``.
        root: the trusted root metadata shipped with the application (``1.root.json`` of
            ``certpin publish init``), as bytes or a path.
        policy: the policy shipped with the application, in force until an update is verified.
        cache_dir: this updater's own folder (created, mode 0700) for TUF's metadata cache and
            the downloaded policy.
        target: the policy's target name; default ``policy.toml``, else ``policy.json``.
        interval: seconds between background refreshes (:meth:`start`, :meth:`start_async`).
        on_expiry: :class:`OnExpiry` (default :attr:`OnExpiry.KEEP`).
        timeout: connect and read timeout of each download, seconds.
        cafile, capath, cadata: trust anchors of the update host's context (as for
            :func:`certpin.create_ssl_context`).
        clock: ``() -> aware datetime`` used for the expiry of the policy in force (tests).

    Raises:
        UpdateError: the cache folder is used by another updater, or is open to other users
            (owned by another user, or writable by group or other).
        tuf.api.exceptions.RepositoryError: ``root`` is not valid root metadata.
    """

    def __init__(
        self,
        url: str,
        *,
        root: bytes | str | os.PathLike[str],
        policy: PinPolicy,
        cache_dir: str | os.PathLike[str],
        target: str | None = None,
        interval: float = 3600.0,
        on_expiry: OnExpiry | str = OnExpiry.KEEP,
        timeout: float = 10.0,
        cafile: str | None = None,
        capath: str | None = None,
        cadata: str | bytes | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        if not isinstance(policy, PinPolicy):
            raise UpdateError(f"policy must be a certpin.PinPolicy, not {type(policy).__name__}")
        self._url = url if url.endswith("/") else url + "/"
        self._root = root if isinstance(root, bytes) else Path(root).read_bytes()
        Metadata.from_bytes(self._root)  # a bad root fails here, not in the background
        self._shipped = policy
        self._policy = policy
        self._fetch_policy = policy
        self._verified: PinPolicy | None = None  # the last policy verified from the repository
        self._version: int | None = None
        self._expires: datetime | None = None
        self._target = target
        self._interval = float(interval)
        self._on_expiry = OnExpiry(on_expiry)
        self._clock = clock or (lambda: datetime.now(UTC))
        self._trust: dict[str, Any] = {"cafile": cafile, "capath": capath, "cadata": cadata}
        self._cache = prepare_cache(Path(cache_dir))
        self._lockfile = lock_cache(self._cache)
        self._right = SwapRight()
        # context -> how its reporter is made (on_report, cafile, capath, cadata)
        self._contexts: weakref.WeakKeyDictionary[ssl.SSLContext, tuple[Any, ...]] = (
            weakref.WeakKeyDictionary())
        self._swap_lock = threading.Lock()
        self._refresh_lock = threading.Lock()
        self._fetch_ctx = pinning_context(policy, swap_right=self._right, **self._trust)
        self._fetcher = PinnedFetcher(self._fetch_ctx, timeout)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._task: asyncio.Task[None] | None = None
        try:
            self._restore()
        except FileNotFoundError:
            pass  # nothing cached yet: the shipped policy
        except Exception as exc:  # not valid any more: the shipped policy, until a refresh
            log.info("certpin.updates: the cached policy in %s is not used: %s: %s",
                     escape(str(self._cache)), type(exc).__name__, escape(str(exc)))

    # ------------------------------------------------------------------ contexts
    def create_ssl_context(
        self,
        *,
        cafile: str | None = None,
        capath: str | None = None,
        cadata: str | bytes | None = None,
        base: ssl.SSLContext | None = None,
        on_report: Callable[[ViolationReport], None] | None = None,
    ) -> ssl.SSLContext:
        """:func:`certpin.create_ssl_context` with the policy in force, kept up to date.

        Hand the result to any client helper (``certpin.clients``): its request guards read
        the policy in force at every request. At each swap the context also gets a reporter
        made for the new policy (its report URIs, its report-only pin sets) with ``on_report``
        and the trust given here. The updater keeps a weak reference only.
        """
        with self._swap_lock:
            policy = self._policy
            reporter = make_reporter(policy, on_report, cafile=cafile, capath=capath,
                                     cadata=cadata)
            ctx = pinning_context(policy, cafile=cafile, capath=capath, cadata=cadata, base=base,
                                  reporter=reporter, swap_right=self._right)
            self._contexts[ctx] = (on_report, cafile, capath, cadata)
        return ctx

    @property
    def policy(self) -> PinPolicy:
        """The policy in force in this updater's contexts."""
        return self._policy

    @property
    def version(self) -> int | None:
        """The targets metadata version of the policy in force; None: the shipped policy."""
        return self._version

    @property
    def expires(self) -> datetime | None:
        """When the targets metadata of the policy in force expires; None: the shipped policy."""
        return self._expires

    def _swap(self, policy: PinPolicy, *, fetch: PinPolicy | None = None) -> None:
        with self._swap_lock:
            self._policy = policy
            for ctx, (on_report, cafile, capath, cadata) in list(self._contexts.items()):
                reporter = make_reporter(policy, on_report, cafile=cafile, capath=capath,
                                         cadata=cadata)
                swap_policy(ctx, policy, self._right, reporter=reporter)
            self._fetch_policy = fetch or policy
            swap_policy(self._fetch_ctx, self._fetch_policy, self._right)

    def _restore(self) -> None:
        """The last verified policy, from the cache, verified again (offline) from the shipped
        root. A restart while the repository is unreachable keeps it in force while the targets
        metadata that listed it is unexpired; once expired, ``on_expiry`` applies at once (with
        a warning), as it would have in the process that cached it."""
        names = (self._target,) if self._target else TARGET_NAMES
        cached = read_cache(self._cache, self._root, names)
        if cached is None:
            return
        self._version, self._expires = cached.version, cached.expires
        self._verified = cached.policy
        self._swap(cached.policy)
        log.info("certpin.updates: policy version %d restored from %s", cached.version,
                 escape(str(self._cache)))
        self._check_expiry("restored from the cache; no newer one fetched yet")

    # ------------------------------------------------------------------ one refresh
    def refresh(self) -> bool:
        """Fetch, verify and swap in the newest policy, now, on this thread.

        Never raises for a repository or network problem: it is logged (logger
        ``certpin.updates``) and the policy in force stays (see :class:`OnExpiry`).

        Returns:
            True when a new policy was swapped in.
        """
        with self._refresh_lock:
            try:
                return self._refresh()
            except tuf_errors.ExpiredMetadataError as exc:
                log.warning("certpin.updates: %s looks frozen (or replayed): %s; the policy "
                            "in force stays", escape(self._url), escape(str(exc)))
            except tuf_errors.BadVersionNumberError as exc:
                log.error("certpin.updates: rollback refused from %s: %s", escape(self._url),
                          escape(str(exc)))
            except tuf_errors.DownloadLengthMismatchError as exc:  # more bytes than signed
                log.error("certpin.updates: update from %s refused: %s", escape(self._url),
                          escape(str(exc) or type(exc).__name__))
            except tuf_errors.DownloadError as exc:
                log.warning("certpin.updates: cannot fetch updates from %s: %s",
                            escape(self._url), escape(str(exc) or type(exc).__name__))
            except Exception as exc:  # refused: bad signature, threshold, hash, bad policy...
                log.error("certpin.updates: update from %s refused: %s: %s", escape(self._url),
                          type(exc).__name__, escape(str(exc)))
            self._check_expiry()
            return False

    def _refresh(self) -> bool:
        updater = Updater(
            metadata_dir=str(self._cache / "metadata"),
            metadata_base_url=self._url + "metadata/",
            target_dir=str(self._cache / "targets"),
            target_base_url=self._url + "targets/",
            fetcher=self._fetcher,
            bootstrap=self._root,
        )
        updater.refresh()
        names = (self._target,) if self._target else TARGET_NAMES
        for name in names:
            info = updater.get_targetinfo(name)
            if info is not None:
                break
        else:
            raise UpdateError(f"the repository lists no {' or '.join(names)} target")
        targets = Metadata[Targets].from_bytes(
            (self._cache / "metadata" / "targets.json").read_bytes()).signed
        version, expires = int(targets.version), targets.expires
        if self._version is not None and version < self._version:
            raise tuf_errors.BadVersionNumberError(
                f"targets version {version} is older than {self._version}, in force")
        path = updater.find_cached_target(info) or updater.download_target(info)
        data = Path(path).read_bytes()
        info.verify_length_and_hashes(data)  # the file read is the file verified
        fmt: Literal["toml", "json"] = "json" if info.path.endswith(".json") else "toml"
        policy = loads_policy(data, fmt, source=f"{self._url} target {info.path}")
        changed = policy != self._policy
        self._version, self._expires, self._verified = version, expires, policy
        if changed:
            self._swap(policy)
            log.info("certpin.updates: policy version %d from %s in force", version,
                     escape(self._url))
        elif self._policy is not self._fetch_policy:
            self._swap(policy)  # back from fail-closed or shipped
        return changed

    def _check_expiry(self, why: str = "no newer one could be fetched") -> None:
        expires = self._expires
        if expires is None or self._clock() < expires:
            return
        what = {
            OnExpiry.KEEP: "the last verified policy stays in force",
            OnExpiry.SHIPPED: "falling back to the policy shipped with the application",
            OnExpiry.FAIL_CLOSED: "failing closed: every host is refused",
        }[self._on_expiry]
        log.warning("certpin.updates: the targets metadata of policy version %s expired at %s "
                    "(%s); %s", self._version, expires.isoformat(), why, what)
        # the update host itself keeps the last verified policy, so that an update can recover
        # even if its pins changed since the release
        if self._on_expiry is OnExpiry.SHIPPED and self._policy is not self._shipped:
            self._swap(self._shipped, fetch=self._verified)
        elif self._on_expiry is OnExpiry.FAIL_CLOSED and self._policy is not REJECT_ALL:
            self._swap(REJECT_ALL, fetch=self._verified)

    # ------------------------------------------------------------------ in the background
    def start(self) -> None:
        """Refresh now and then every ``interval`` seconds on a daemon thread."""
        if self._thread is not None and self._thread.is_alive():
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="certpin-updates", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.refresh()
            self._stop.wait(self._interval)

    def start_async(self) -> asyncio.Task[None]:
        """The asyncio variant of :meth:`start` (call it inside a running loop): a task that
        refreshes every ``interval`` seconds, each refresh in a worker thread."""
        async def loop() -> None:
            while True:
                await asyncio.to_thread(self.refresh)
                await asyncio.sleep(self._interval)

        self._task = asyncio.get_running_loop().create_task(loop(), name="certpin-updates")
        return self._task

    def close(self, timeout: float | None = 5.0) -> None:
        """Stop the background refresh and release the cache folder."""
        self._stop.set()
        if self._task is not None:
            self._task.cancel()
        if self._thread is not None:
            self._thread.join(timeout)
        self._fetcher.close()
        if self._lockfile is not None:
            with contextlib.suppress(OSError):
                self._lockfile.close()
            self._lockfile = None

    def __enter__(self) -> PolicyUpdater:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
