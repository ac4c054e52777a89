"""Shared plumbing of :mod:`certpin.config`: input limits, atomic writes, lossy rules, values.

Nothing here is public API; :mod:`certpin.config` re-exports what is.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import stat
import tempfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from types import ModuleType
from typing import Any, Literal, cast

from ..errors import ConfigError, PinFormatError, PolicyError, escape, quote
from ..pins import Pin, parse_pin
from ..policy import PinSet

Mode = Literal["allow", "reject"]


def mode(value: str) -> Mode:
    """``value`` typed as a policy mode (the caller has checked it)."""
    return cast(Mode, value)


#: Largest input any importer reads, in bytes (1 MiB). Real configuration files are a few KiB;
#: the cap bounds memory and parse time for hostile input.
MAX_INPUT_BYTES = 1024 * 1024

#: Most pins (in service and backup) one pin set of an imported or loaded file may hold. A real
#: set holds the live key or CA and a few backups; this bounds the work every handshake does
#: for the host (each pin is compared) and the pairwise duplicate check of :class:`PinSet`.
MAX_PINS_PER_SET = 64

#: Longest integer literal (in digits) a JSON policy may hold, anywhere, even under an unknown
#: key. The schema's integers are tiny (``version = 1``); the cap stays far below Python's
#: 4,300-digit conversion limit, whose bare ValueError used to escape. (``tomllib`` has no hook
#: for integers: a TOML literal over Python's limit is refused with a ConfigError instead.)
MAX_INT_DIGITS = 64

class ExportError(PolicyError):
    """A policy cannot be written exactly in the target format (and ``lossy`` was not given).

    Attributes:
        problems: one line per rule that the target cannot express, each naming the host.
        lossy_helps: False when ``lossy`` cannot help either (what would be left is a document
            the platform itself refuses, e.g. TrustKit with no pinned domain): the message then
            does not suggest ``--lossy``.
    """

    def __init__(self, target: str, problems: list[str], *, lossy_helps: bool = True):
        self.problems = list(problems)
        self.lossy_helps = lossy_helps
        shown = "; ".join(problems)
        hint = ("(use --lossy / lossy=True to drop these rules and list them on stderr)"
                if lossy_helps else "(refused even with --lossy / lossy=True)")
        super().__init__(f"{target} cannot express this policy exactly: {shown} {hint}")


@dataclass
class ExportResult:
    """The text of an export and what the caller should tell the user.

    Attributes:
        text: the exported document (ends with a newline).
        dropped: one line per rule that was dropped or changed because the target cannot
            express it (non-empty only with ``lossy=True``); each names the host.
        notes: informational lines for stderr (e.g. "curl checks the leaf's key only").
        pinned: the patterns of the policy the text pins (never empty: an export that pins
            no host is an :class:`ExportError`, see :func:`nothing_pinned`).
    """

    text: str
    dropped: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    pinned: list[str] = field(default_factory=list)


def nothing_pinned(target: str, reasons: Sequence[str], why: str | None = None) -> ExportError:
    """The error for an export that would pin no host at all, whatever ``lossy`` says.

    Machine-readable output never comes empty with exit 0 (issue 11, item 2): a config that
    pins nothing looks like pinning and enforces none, so ``lossy`` cannot make it an export.

    Args:
        target: the format's name.
        reasons: why each pin set was dropped (``"host: rule"``); empty if the policy has none.
        why: what the platform itself does with such a config, if worth saying.

    Returns:
        The :class:`ExportError` (``lossy_helps`` False), for the caller to raise.
    """
    tail = ("every pin set was dropped, so nothing would be left to export" if reasons
            else "the policy has no pin set, so there is nothing to export")
    return ExportError(target, [*reasons, tail + (f" ({why})" if why else "")],
                       lossy_helps=False)


class Lossy:
    """Collects the rules an exporter cannot express; raises or records them at the end."""

    def __init__(self, target: str, lossy: bool):
        self.target = target
        self.lossy = lossy
        self.problems: list[str] = []

    def add(self, host: str, rule: str, action: str) -> None:
        """Record that ``host``'s ``rule`` cannot be expressed; ``action``: what lossy did."""
        self.problems.append(f"{host}: {rule}; {action}")

    def reasons(self) -> list[str]:
        """The rules recorded so far, without what lossy did (``"host: rule"``)."""
        return [p.split("; ")[0] for p in self.problems]

    def finish(self, text: str, notes: list[str] | None = None, *,
               pinned: Sequence[str]) -> ExportResult:
        """Return the result; every exporter ends here, so the rules below hold for all.

        Args:
            text: the document.
            notes: lines for stderr.
            pinned: the patterns ``text`` pins.

        Raises:
            ExportError: ``pinned`` is empty, even with lossy (:func:`nothing_pinned`); or
                rules were dropped without lossy.
        """
        if not pinned:
            raise nothing_pinned(self.target, self.reasons())
        if self.problems and not self.lossy:
            raise ExportError(self.target, self.reasons())
        return ExportResult(text=text, dropped=list(self.problems), notes=list(notes or []),
                            pinned=list(pinned))


def require(module: str) -> ModuleType:
    """Import an optional dependency of the ``config`` extra, with a clear error if missing.

    Raises:
        ConfigError: the module is not installed.
    """
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        dist = {"defusedxml.ElementTree": "defusedxml", "tomli_w": "tomli-w"}.get(module, module)
        raise ConfigError(
            f"{dist} is required for policy files and mobile formats: "
            "pip install 'certpin[config]'"
        ) from None


def read_input(path: str | os.PathLike[str]) -> bytes:
    """Read a whole input file, refusing files over :data:`MAX_INPUT_BYTES`.

    Args:
        path: the file; ``"-"`` reads standard input.

    Returns:
        The bytes.

    Raises:
        ConfigError: the file is larger than the cap or cannot be read, or the name holds a
            NUL character or a lone surrogate (no file can have such a name).
    """
    import sys

    name = os.fspath(path)
    _check_path(name)
    try:
        if name == "-":
            data = sys.stdin.buffer.read(MAX_INPUT_BYTES + 1)
        else:
            with open(name, "rb") as f:
                data = f.read(MAX_INPUT_BYTES + 1)
    except OSError as exc:
        raise ConfigError(f"cannot read: {escape(exc.strerror or str(exc))}", path=name) from None
    check_size(data, name)
    return data


def _check_path(name: str) -> None:
    """Refuse a file name that the OS cannot take (open() raises ValueError for a NUL)."""
    if "\x00" in name:
        raise ConfigError("a file name cannot hold a NUL character", path=escape(name))
    try:
        os.fsencode(name)
    except UnicodeEncodeError:
        raise ConfigError("the file name is not valid Unicode (a lone surrogate)",
                          path=escape(name)) from None


def check_size(data: str | bytes, source: str | None) -> None:
    """Raise :class:`ConfigError` if ``data`` is over :data:`MAX_INPUT_BYTES` (UTF-8 bytes)."""
    size = len(data.encode("utf-8", "surrogatepass")) if isinstance(data, str) else len(data)
    if size > MAX_INPUT_BYTES:
        raise ConfigError(
            f"input is larger than {MAX_INPUT_BYTES} bytes; refusing to parse it",
            path=source,
        )


def check_text(text: str, source: str | None) -> str:
    """Return ``text`` if it can be encoded as UTF-8, else raise a located ConfigError.

    A ``str`` from a caller can hold a lone surrogate (``"\\ud800"``), which no file holds and
    no encoder accepts; it is refused here instead of escaping later as UnicodeEncodeError.

    Raises:
        ConfigError: the text holds a lone surrogate (the message names line and column).
    """
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        before = text[: exc.start]
        line = before.count("\n") + 1
        col = exc.start - (before.rfind("\n") + 1) + 1
        raise ConfigError(
            f"text holds a lone surrogate '{escape(text[exc.start])}', which is not Unicode text",
            path=source, location=f"line {line}, column {col}",
        ) from None
    return text


def as_text(data: str | bytes, source: str | None) -> str:
    """Decode UTF-8 input (a BOM is allowed), enforcing the size cap.

    Raises:
        ConfigError: too large, not UTF-8 (the message names the byte offset), or a ``str``
            holding a lone surrogate.
    """
    check_size(data, source)
    if isinstance(data, str):
        return check_text(data, source)
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"not UTF-8 text (byte {exc.start})", path=source
        ) from None


def atomic_write(path: str | os.PathLike[str], data: bytes, *, overwrite: bool = True) -> None:
    """Replace ``path`` with ``data`` atomically.

    A temporary file is created in the same folder, written, flushed and ``fsync``-ed, given the
    mode of the file it replaces (a new file gets ``0o666 & ~umask``, i.e. 0644 under the usual
    umask), then moved over ``path`` with :func:`os.replace`. On any failure the temporary file
    is removed and the old file, if any, is left untouched.

    Args:
        path: the file to write.
        data: its new contents.
        overwrite: False to refuse an existing ``path``: the temporary file is then hard-linked
            to ``path``, which fails if ``path`` exists even if it appeared a moment ago (no
            check-then-write race); where hard links are unsupported, a check then replace.

    Raises:
        FileExistsError: ``overwrite`` is False and ``path`` exists.
        OSError: the folder is not writable, the disk is full, the replace failed, the name
            holds a NUL character or a lone surrogate (``EINVAL``), ...
    """
    target = os.fspath(path)
    # os.stat, open and mkstemp raise ValueError for these names: say it as the OSError it is
    if "\x00" in target:
        raise OSError(errno.EINVAL, "a file name cannot hold a NUL character", escape(target))
    try:
        os.fsencode(target)
    except UnicodeEncodeError:  # a lone surrogate
        raise OSError(errno.EINVAL, "the file name is not valid Unicode", escape(target)) from None
    folder = os.path.dirname(os.path.abspath(target))
    try:
        mode: int | None = stat.S_IMODE(os.stat(target).st_mode)
    except FileNotFoundError:
        mode = None
    if mode is None:
        umask = os.umask(0)
        os.umask(umask)
        mode = 0o666 & ~umask
    fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(target) + ".", suffix=".tmp",
                               dir=folder)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, mode)
        if overwrite:
            os.replace(tmp, target)
        else:
            try:
                os.link(tmp, target)
            except FileExistsError:
                raise
            except OSError:
                if os.path.lexists(target):
                    raise FileExistsError(17, "File exists", target) from None
                os.replace(tmp, target)
            else:
                os.unlink(tmp)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    with contextlib.suppress(OSError):  # make the rename durable; not all systems allow it
        dfd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)


# --- values ---------------------------------------------------------------------------------

_DATE_RE = re.compile(r"\d{4}-\d{2}-\d{2}")


def parse_date(text: str) -> date:
    """Parse a strict ``YYYY-MM-DD`` date.

    Raises:
        ValueError: any other form, or an impossible date.
    """
    if not _DATE_RE.fullmatch(text):
        raise ValueError(f"expected a date YYYY-MM-DD, got {quote(text, None)}")
    return date.fromisoformat(text)


def date_only(expires: datetime) -> str | None:
    """``YYYY-MM-DD`` if ``expires`` is exactly midnight UTC, else None."""
    u = expires.astimezone(UTC)
    if u.time() == time(0) :
        return u.date().isoformat()
    return None


def floor_date(expires: datetime) -> str:
    """The UTC date of ``expires`` (midnight at or before it): an earlier expiry, never later."""
    return expires.astimezone(UTC).date().isoformat()


def bounded_pin_set(pins: Sequence[Pin], **options: Any) -> PinSet:
    """``PinSet(pins, **options)``, refusing more than :data:`MAX_PINS_PER_SET` pins.

    Raises:
        PolicyError: too many pins, or anything :class:`PinSet` refuses (callers locate it).
    """
    count = len(pins) + len(options.get("backup_pins", ()))
    if count > MAX_PINS_PER_SET:
        raise PolicyError(
            f"{count} pins in one pin set; certpin reads at most {MAX_PINS_PER_SET} "
            "(the live keys and a few backups)"
        )
    return PinSet(pins, **options)


def pin_or_error(text: object, err: Callable[[str], ConfigError], *,
                 spki_only: bool = False) -> Pin:
    """Parse one pin; wrap :class:`PinFormatError` in a located :class:`ConfigError`."""
    if not isinstance(text, str):
        raise err(f"expected a pin string, got {type(text).__name__}")
    try:
        pin = parse_pin(text)
    except PinFormatError as exc:
        raise err(str(exc)) from None
    if spki_only and pin.kind != "spki":
        raise err(f"{pin} is a certificate pin; this format holds SPKI pins only")
    return pin


def iter_sorted(policy_sets: Any) -> Iterator[tuple[str, Any]]:
    """Pin sets in a stable order (by pattern)."""
    yield from sorted(policy_sets.items())
