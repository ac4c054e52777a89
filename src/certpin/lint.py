"""Offline policy checks: ``certpin lint``.

:func:`lint_policy` inspects a :class:`~certpin.policy.PinPolicy` without any network access;
:func:`lint_file` loads a policy file first and turns a load error into a finding.

Finding codes (stable):

=======================  =======  =============================================================
code                     level    meaning
=======================  =======  =============================================================
``load-error``           error    the file cannot be loaded (syntax, schema, bad pin, ...)
``public-suffix``        error    a wildcard or include-subdomains pattern on a public suffix
                                  (``*.com``, ``github.io`` with subdomains): it pins every
                                  site under that suffix
``public-suffix-host``   warn     an exact pattern that is itself a public suffix
``no-backup-pin``        warn     fewer than 2 distinct pins: a key change locks users out
                                  (RFC 7469 section 4.3)
``certificate-pin``      warn     certificate pins (``cert-sha256/``) break on every renewal,
                                  even with the same key
``pin-set-expired``      warn     the set's expiry has passed: its pins are not enforced
``pin-set-expiring``     warn     the set expires within ``days``
``overlapping-pattern``  warn     two patterns cover common hosts; the most specific wins, so
                                  the other's pins do not apply there
``report-only``          info     the set is report-only (``enforce = false``)
``no-declared-backup``   info     no ``backup_pins``: the health check cannot tell a rotation
                                  onto a backup key from normal operation
``no-expiry``            info     the set never expires (old app builds keep enforcing it)
``pin-kinds``            info     with ``pin_kinds=True`` (``certpin lint`` does): each pin and
                                  its kind, SPKI pin (a public key) or certificate pin (a whole
                                  certificate; a hex SHA-256 fingerprint is read as one)
``pin-roles``            info     the set gives pins roles: each pin of the set with its role
                                  (``leaf``, ``ca``, or ``any`` for a pin without one;
                                  :mod:`certpin.pinroles`)
=======================  =======  =============================================================

With ``backup_keys`` (``certpin lint --backup-key FILE``), the codes of
:mod:`certpin.rotation` too: ``backup-key-not-pinned``, ``backup-key-is-primary``,
``backup-key-unmatched``.

Duplicate pins and duplicate patterns (two spellings of one pattern) are refused when the
policy is built, so a file holding them gives a ``load-error`` naming both.

Public suffixes come from the ``publicsuffixlist`` package (the Public Suffix List, bundled
offline, ICANN and private sections) when it is installed (``certpin[cli]``), else from a small
built-in list of common suffixes (:data:`BUILTIN_PUBLIC_SUFFIXES`).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from os import PathLike

from .errors import CertpinError, escape, message_of
from .health import Level
from .hostnames import is_ip_literal
from .policy import PinPolicy, PinSet
from .rotation import BackupKeyInfo, backup_key_findings

__all__ = [
    "BUILTIN_PUBLIC_SUFFIXES",
    "LintFinding",
    "is_public_suffix",
    "lint_file",
    "lint_policy",
]

#: The fallback when ``publicsuffixlist`` is not installed: common ICANN and private suffixes.
BUILTIN_PUBLIC_SUFFIXES: frozenset[str] = frozenset(
    [
        "com", "net", "org", "edu", "gov", "mil", "int", "info", "biz", "io", "co", "me", "app",
        "dev", "cloud", "xyz", "online", "site", "uk", "co.uk", "org.uk", "ac.uk", "gov.uk",
        "me.uk", "ltd.uk", "plc.uk", "net.uk", "de", "fr", "nl", "be", "ch", "at", "it", "es",
        "se", "no", "dk", "fi", "pl", "cz", "ru", "ua", "eu", "ie", "pt", "gr", "hu", "ro", "jp",
        "co.jp", "ne.jp", "or.jp", "ac.jp", "cn", "com.cn", "net.cn", "org.cn", "hk", "com.hk",
        "tw", "com.tw", "kr", "co.kr", "in", "co.in", "au", "com.au", "net.au", "org.au", "nz",
        "co.nz", "br", "com.br", "mx", "com.mx", "ar", "com.ar", "za", "co.za", "ca", "us", "sg",
        "com.sg", "github.io", "githubusercontent.com", "gitlab.io", "herokuapp.com",
        "appspot.com", "cloudfront.net", "azurewebsites.net", "blogspot.com", "netlify.app",
        "vercel.app", "pages.dev", "workers.dev", "web.app", "firebaseapp.com",
        "s3.amazonaws.com",
    ]
)


@functools.lru_cache(maxsize=1)
def _psl_lookup() -> Callable[[str], bool] | None:
    try:
        from publicsuffixlist import PublicSuffixList
    except ImportError:
        return None
    psl = PublicSuffixList()

    def lookup(domain: str) -> bool:
        return bool(psl.is_public(domain))

    return lookup


def is_public_suffix(domain: str) -> bool:
    """True if ``domain`` (A-labels, lower case, no trailing dot) is a public suffix.

    Uses the Public Suffix List bundled with ``publicsuffixlist`` when installed, else
    :data:`BUILTIN_PUBLIC_SUFFIXES`. IP literals are never public suffixes.
    """
    lookup = _psl_lookup()
    if lookup is not None:
        return lookup(domain)
    return domain in BUILTIN_PUBLIC_SUFFIXES


@dataclass(frozen=True)
class LintFinding:
    """One problem (or note) about a policy.

    Attributes:
        level: info, warn or error.
        code: a stable identifier (see the module docstring).
        pattern: the host pattern concerned, or None for the whole file.
        message: a sentence naming the pattern and what to do; file strings are escaped.
    """

    level: Level
    code: str
    pattern: str | None
    message: str

    def to_json(self) -> dict[str, str | None]:
        """Return ``{"level", "code", "pattern", "message"}`` as JSON-ready values."""
        return {
            "level": self.level.value,
            "code": self.code,
            "pattern": self.pattern,
            "message": self.message,
        }


def _scope(pattern: str, pin_set: PinSet) -> tuple[str, int, float]:
    """(base domain, min depth, max depth) of the hosts a pattern covers, depth in labels."""
    if pattern.startswith("*."):
        base, low = pattern[2:], 1
    else:
        base, low = pattern, 0
    high = math.inf if pin_set.include_subdomains else float(low)
    return base, low, high


def _overlap(a: tuple[str, int, float], b: tuple[str, int, float]) -> bool:
    (base_a, lo_a, hi_a), (base_b, lo_b, hi_b) = a, b
    if base_b != base_a and base_b.endswith("." + base_a):
        k = base_b.count(".") - base_a.count(".")
        return max(lo_a, lo_b + k) <= min(hi_a, hi_b + k)
    if base_a != base_b and base_a.endswith("." + base_b):
        return _overlap(b, a)
    if base_a == base_b:
        return max(lo_a, lo_b) <= min(hi_a, hi_b)
    return False


def _candidate_pairs(items: list[tuple[str, PinSet]]) -> list[tuple[int, int]]:
    """Index pairs ``(i, j)``, ``i < j``, in order, of patterns that :func:`_overlap` may relate.

    Two patterns can overlap only if one's base name is the other's or a parent of it, so each
    pattern meets the patterns on its own base and its parents' (a few) instead of every other
    (comparing all pairs took 10 s for the 5,500 patterns a 1 MiB file holds).
    """
    by_base: dict[str, list[int]] = {}
    for index, (pattern, pin_set) in enumerate(items):
        by_base.setdefault(_scope(pattern, pin_set)[0], []).append(index)
    pairs: set[tuple[int, int]] = set()
    for base, indexes in by_base.items():
        labels = base.split(".")
        for k in range(len(labels)):
            for i in by_base.get(".".join(labels[k:]), ()):
                for j in indexes:
                    if i != j:
                        pairs.add((min(i, j), max(i, j)))
    return sorted(pairs)


def lint_policy(
    policy: PinPolicy,
    *,
    days: int = 30,
    now: datetime | None = None,
    public_suffix: Callable[[str], bool] | None = None,
    backup_keys: Sequence[BackupKeyInfo] = (),
    pin_kinds: bool = False,
) -> list[LintFinding]:
    """Check a policy offline.

    Args:
        policy: the policy.
        days: warn about pin sets expiring within this many days (>= 0).
        now: the current time (aware); default: the clock.
        public_suffix: ``domain -> bool`` deciding public suffixes; default
            :func:`is_public_suffix`.
        backup_keys: backup keys held (:func:`certpin.rotation.backup_key_of`): each must be
            a backup pin of the pin sets it is for.
        pin_kinds: add a ``pin-kinds`` note per pattern naming the kind of each of its pins
            (a hex fingerprint given as a pin is a certificate pin, :func:`certpin.parse_pin`).

    Returns:
        The findings, errors first, then warnings, then notes; within a level in pattern order.

    Raises:
        ValueError: ``days`` < 0 or past year 9999, or ``now`` is naive.
    """
    now, horizon = _now_and_horizon(days, now)
    is_public = public_suffix or is_public_suffix
    out: list[LintFinding] = []
    items = list(policy.pin_sets.items())
    for pattern, pin_set in items:
        shown = escape(pattern)
        for level, code, message in (
            *_suffix_findings(pattern, pin_set, is_public),
            *_pin_findings(shown, pin_set),
            *_expiry_findings(shown, pin_set, now, horizon),
            *_mode_findings(shown, pin_set),
            *(_kind_findings(shown, pin_set) if pin_kinds else []),
            *_role_findings(shown, pin_set),
        ):
            out.append(LintFinding(level, code, pattern, message))
    out += _overlap_findings(items)
    for where, found in backup_key_findings(policy, backup_keys):
        out.append(LintFinding(found.level, found.code, where, found.message))
    order = {Level.ERROR: 0, Level.WARN: 1, Level.INFO: 2}
    out.sort(key=lambda f: order[f.level])
    return out


_Found = list[tuple[Level, str, str]]  # level, code, message


def _now_and_horizon(days: int, now: datetime | None) -> tuple[datetime, datetime]:
    """Check ``days`` and ``now``; the current time and the expiry horizon ``days`` later."""
    if days < 0:
        raise ValueError(f"days must be >= 0, got {days}")
    if now is None:
        now = datetime.now(UTC)
    elif now.tzinfo is None:
        raise ValueError("now must be an aware datetime")
    try:
        return now, now + timedelta(days=days)
    except OverflowError:
        raise ValueError(f"days={days} puts the expiry horizon past year 9999") from None


def _suffix_findings(pattern: str, pin_set: PinSet, is_public: Callable[[str], bool]) -> _Found:
    """``public-suffix`` and ``public-suffix-host``."""
    shown = escape(pattern)
    base = pattern[2:] if pattern.startswith("*.") else pattern
    if is_ip_literal(base) or not is_public(base):
        return []
    if pattern.startswith("*.") or pin_set.include_subdomains:
        return [(Level.ERROR, "public-suffix",
                 f"{shown} covers every site under the public suffix {escape(base)}: "
                 "pin the sites you operate, not a public suffix")]
    return [(Level.WARN, "public-suffix-host",
             f"{shown} is a public suffix, not usually a host name")]


def _pin_findings(shown: str, pin_set: PinSet) -> _Found:
    """``no-backup-pin`` and ``certificate-pin``."""
    out: _Found = []
    everything = [*pin_set.pins, *pin_set.backup_pins]
    distinct = set(everything)
    if len(distinct) < 2:
        out.append((Level.WARN, "no-backup-pin",
                    f"{shown} has {len(distinct)} distinct pin(s): add a backup pin for a key "
                    "that is not deployed, or a key change locks users out (RFC 7469 section "
                    "4.3)"))
    cert_pins = [p for p in everything if p.kind == "cert"]
    if cert_pins:
        out.append((Level.WARN, "certificate-pin",
                    f"{shown} has {len(cert_pins)} certificate pin(s) (cert-sha256/): they break "
                    "on every certificate renewal, even with the same key; prefer SPKI pins "
                    "(sha256/)"))
    return out


def _expiry_findings(shown: str, pin_set: PinSet, now: datetime, horizon: datetime) -> _Found:
    """``no-expiry``, ``pin-set-expired`` or ``pin-set-expiring``."""
    if pin_set.expires is None:
        return [(Level.INFO, "no-expiry",
                 f"{shown} never expires: old app builds keep enforcing it forever")]
    if pin_set.is_expired(now):
        return [(Level.WARN, "pin-set-expired",
                 f"{shown} expired on {pin_set.expires.isoformat()}: its pins are not enforced")]
    if pin_set.expires <= horizon:
        left = (pin_set.expires - now).days
        return [(Level.WARN, "pin-set-expiring",
                 f"{shown} expires on {pin_set.expires.isoformat()} (in {left} days)")]
    return []


def _role_findings(shown: str, pin_set: PinSet) -> _Found:
    """``pin-roles``: every pin of a set that gives roles, with its role."""
    if not pin_set.roles:
        return []
    listed = "; ".join(
        f"{pin} {pin_set.role_of(pin) or 'any'}{' (backup)' if pin in pin_set.backup_pins else ''}"
        for pin in pin_set.all_pins
    )
    return [(Level.INFO, "pin-roles",
             f"{shown} pin roles (leaf: the end-entity certificate only; ca: an intermediate "
             f"or the root; any: anywhere in the chain): {listed}")]


def _mode_findings(shown: str, pin_set: PinSet) -> _Found:
    """``report-only`` and ``no-declared-backup``."""
    out: _Found = []
    if not pin_set.enforce:
        out.append((Level.INFO, "report-only", f"{shown} is report-only (enforce = false)"))
    if not pin_set.backup_pins:
        out.append((Level.INFO, "no-declared-backup",
                    f"{shown} declares no backup_pins: `certpin check` cannot tell a rotation "
                    "onto a backup key from normal operation"))
    return out


_KIND_TEXT = {
    "spki": "SPKI pin: SHA-256 of a public key",
    "cert": "certificate pin: SHA-256 of a whole certificate, as a hex fingerprint is read",
}


def _kind_findings(shown: str, pin_set: PinSet) -> _Found:
    """``pin-kinds``: every pin of the set, in order, with its kind."""
    parts = [f"{pin} ({_KIND_TEXT[pin.kind]})" for pin in pin_set.pins]
    parts += [f"backup {pin} ({_KIND_TEXT[pin.kind]})" for pin in pin_set.backup_pins]
    return [(Level.INFO, "pin-kinds", f"{shown} pins " + "; ".join(parts))]


def _overlap_findings(items: list[tuple[str, PinSet]]) -> list[LintFinding]:
    """``overlapping-pattern`` for each pair of patterns covering common hosts."""
    out: list[LintFinding] = []
    for i, j in _candidate_pairs(items):
        (pa, sa), (pb, sb) = items[i], items[j]
        if _overlap(_scope(pa, sa), _scope(pb, sb)):
            out.append(
                LintFinding(
                    Level.WARN,
                    "overlapping-pattern",
                    pa,
                    f"{escape(pa)} and {escape(pb)} cover common hosts: the most specific "
                    "pattern wins, so the other's pins do not apply to those hosts",
                )
            )
    return out


def lint_file(
    path: str | PathLike[str],
    *,
    days: int = 30,
    now: datetime | None = None,
    public_suffix: Callable[[str], bool] | None = None,
    backup_keys: Sequence[BackupKeyInfo] = (),
    pin_kinds: bool = False,
) -> list[LintFinding]:
    """Load a policy file with :func:`certpin.config.load_policy` and lint it.

    A file that cannot be loaded (missing, unreadable, bad syntax or schema, bad pin, a pin set
    that the policy rules refuse) gives a single ``load-error`` finding carrying the loader's
    message (which names the file and the line or key).

    Args:
        path: the policy file.
        days, now, public_suffix, backup_keys, pin_kinds: as for :func:`lint_policy`.

    Returns:
        The findings (see :func:`lint_policy`).
    """
    from .config import load_policy

    try:
        policy = load_policy(path)
    except (CertpinError, OSError) as exc:
        # a certpin error's message escapes what it quotes already: escaping it again would
        # double every backslash; an OSError's message is escaped here
        text = message_of(exc)
        return [LintFinding(Level.ERROR, "load-error", None, text)]
    return lint_policy(
        policy, days=days, now=now, public_suffix=public_suffix, backup_keys=backup_keys,
        pin_kinds=pin_kinds,
    )
