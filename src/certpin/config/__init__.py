"""Policy files (TOML, JSON) and mobile/HPKP formats, in and out.

Needs the ``config`` extra (``pip install 'certpin[config]'``: defusedxml, tomli-w); the
dependencies are imported when first used, with a clear :class:`certpin.ConfigError` if missing.

Policy files: :func:`load_policy`, :func:`dump_policy`, :func:`loads_policy`,
:func:`dumps_policy`; the schema is documented in :mod:`certpin.config.files`.

Import (:func:`import_policy` or one function per format): Android network security config
(:func:`from_android`), TrustKit Info.plist (:func:`from_trustkit`), HPKP header
(:func:`from_hpkp`), curl ``--pinnedpubkey`` (:func:`from_curl`), OkHttp pin list
(:func:`from_okhttp`), Apple's ``NSPinnedDomains`` (:func:`from_ios`).

Export (:func:`export_policy`): ``android``, ``trustkit``, ``trustkit-swift``, ``okhttp``,
``hpkp``, ``curl``, ``swift-delegate``, ``ios`` (:func:`to_ios`).
An export never silently changes what is enforced:
where the target cannot express a rule exactly it raises :class:`ExportError` naming the rule
and host, unless ``lossy=True``, and then :attr:`ExportResult.dropped` lists what was dropped.
Lossy exports drop whole pin sets rather than pins (a host left unpinned is never locked out).
Pin roles (:mod:`certpin.pinroles`) are checked here, once for every format: a format not in
:data:`ROLE_FORMATS` cannot say where a pin must match, so a policy with roles raises
:class:`ExportError` naming each host and pin, or with ``lossy=True`` is exported without its
roles (each pin then matches anywhere in the chain) and ``dropped`` gets a row per host.

Bounds on hostile input (every breach is a :class:`certpin.ConfigError` naming the file):
:data:`MAX_INPUT_BYTES` (1 MiB per document), :data:`MAX_XML_DEPTH` (64 nested XML elements),
:data:`XML_ENCODINGS` (declared XML encodings read; others are refused), :data:`MAX_INT_DIGITS`
(64-digit integer literals in JSON; TOML literals over Python's 4,300-digit limit),
:data:`MAX_PINS_PER_SET` (64 pins in one pin set).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

from ..errors import ConfigError, PolicyError, escape, quote
from ..hostnames import normalize_pattern
from ..policy import PinPolicy, PinSet
from ._common import (
    MAX_INPUT_BYTES,
    MAX_INT_DIGITS,
    MAX_PINS_PER_SET,
    ExportError,
    ExportResult,
    atomic_write,
    mode,
    read_input,
)
from ._xml import MAX_XML_DEPTH, XML_ENCODINGS
from .android import from_android, to_android
from .curl import from_curl, to_curl
from .files import dump_policy, dumps_policy, load_policy, loads_policy
from .hpkp import DEFAULT_MAX_AGE, from_hpkp, to_hpkp
from .ios import from_ios, to_ios
from .okhttp import from_okhttp, to_okhttp
from .swift import to_swift_delegate
from .trustkit import from_trustkit, to_trustkit, to_trustkit_swift

__all__ = [
    "DEFAULT_MAX_AGE",
    "EXPORT_FORMATS",
    "HOSTLESS_FORMATS",
    "IMPORT_FORMATS",
    "MAX_INPUT_BYTES",
    "MAX_INT_DIGITS",
    "MAX_PINS_PER_SET",
    "MAX_XML_DEPTH",
    "ROLE_FORMATS",
    "XML_ENCODINGS",
    "ExportError",
    "ExportResult",
    "atomic_write",
    "dump_policy",
    "dumps_policy",
    "export_policy",
    "from_android",
    "from_curl",
    "from_hpkp",
    "from_ios",
    "from_okhttp",
    "from_trustkit",
    "import_policy",
    "load_policy",
    "loads_policy",
    "read_input",
    "to_android",
    "to_curl",
    "to_hpkp",
    "to_ios",
    "to_okhttp",
    "to_swift_delegate",
    "to_trustkit",
    "to_trustkit_swift",
]

ImportFormat = Literal["android", "trustkit", "hpkp", "curl", "okhttp", "ios"]
ExportFormat = Literal[
    "android", "trustkit", "trustkit-swift", "okhttp", "hpkp", "curl", "swift-delegate", "ios"
]
IMPORT_FORMATS: tuple[str, ...] = ("android", "trustkit", "hpkp", "curl", "okhttp", "ios")
EXPORT_FORMATS: tuple[str, ...] = (
    "android", "trustkit", "trustkit-swift", "okhttp", "hpkp", "curl", "swift-delegate", "ios",
)
#: formats that carry no host name: import needs ``host``
HOSTLESS_FORMATS: tuple[str, ...] = ("hpkp", "curl")
#: export formats that can say a pin's role (:mod:`certpin.pinroles`); for every other format
#: :func:`export_policy` refuses a policy with roles unless ``lossy``
ROLE_FORMATS: frozenset[str] = frozenset({
    "curl",  # every curl pin is a leaf pin; to_curl refuses role "ca" (certpin.config.curl)
    "ios",  # NSPinnedLeafIdentities / NSPinnedCAIdentities (certpin.config.ios_export)
    "swift-delegate",  # PinSet.admits(_:at:) applies each pin's role (certpin.config.swift)
})


def import_policy(data: str | bytes, format: str, *, host: str | None = None,
                  source: str | None = None, report_only: bool = False,
                  warnings: list[str] | None = None, lossy: bool = False) -> PinPolicy:
    """Import pins from a platform format.

    Args:
        data: the document (at most :data:`MAX_INPUT_BYTES`).
        format: one of :data:`IMPORT_FORMATS`.
        host: required for ``hpkp`` and ``curl`` (they name no host); for ``okhttp`` the pattern
            of bare pin lines, or the one pattern to keep; for ``android``/``trustkit`` the one
            pattern to keep.
        source: the file name for messages.
        report_only: ``hpkp`` only: the value came from ``Public-Key-Pins-Report-Only``.
        warnings: receives warnings (overridePins, merged OkHttp patterns, unknown HPKP
            directives, pins listed twice, ...).
        lossy: ``ios`` only: a host with both leaf and CA identities keeps its leaf ones (a
            warning says so) instead of raising.

    Returns:
        The imported :class:`certpin.PinPolicy`.

    Raises:
        ConfigError: bad input (names file and line/key), unknown format, missing host, host
            not found; or the input pins no host (an import never yields an empty policy: the
            message gives each warning that says why, e.g. a domain with no pins).
    """
    seen: list[str] = []
    policy = _import(data, format, host=host, source=source, report_only=report_only,
                     warnings=seen, lossy=lossy)
    if warnings is not None:
        warnings.extend(seen)
    if not policy.pin_sets:
        why = f": {'; '.join(seen)}" if seen else ""
        raise ConfigError(f"the {format} input pins no host, so there is nothing to "
                          f"import{why}", path=source)
    return policy


def _import(data: str | bytes, format: str, *, host: str | None, source: str | None,
            report_only: bool, warnings: list[str], lossy: bool) -> PinPolicy:
    """:func:`import_policy` before its check that something is pinned."""
    if format in HOSTLESS_FORMATS and host is None:
        raise ConfigError(f"--from {format} carries no host name: give it with --host",
                          path=source)
    if format == "hpkp":
        assert host is not None
        return from_hpkp(data, host, report_only=report_only, source=source,
                         warnings=warnings)
    if format == "curl":
        assert host is not None
        return from_curl(data, host, source=source, warnings=warnings)
    if format == "okhttp":
        return from_okhttp(data, host, source=source, warnings=warnings)
    if format == "ios":
        policy = from_ios(data, source=source, warnings=warnings, lossy=lossy)
        return policy if host is None else _only(policy, host)
    readers: dict[str, Callable[..., PinPolicy]] = {
        "android": from_android, "trustkit": from_trustkit,
    }
    if format not in readers:
        raise ConfigError(f"unknown import format {quote(format, None)}: expected one of "
                          f"{', '.join(IMPORT_FORMATS)}", path=source)
    policy = readers[format](data, source=source, warnings=warnings)
    if host is not None:
        policy = _only(policy, host)
    return policy


def _only(policy: PinPolicy, host: str) -> PinPolicy:
    try:
        pattern = normalize_pattern(host)
    except PolicyError as exc:
        raise ConfigError(f"bad host {quote(host, None)}: {exc}") from None
    if pattern not in policy.pin_sets:
        names = ", ".join(sorted(policy.pin_sets)) or "none"
        raise ConfigError(f"host pattern {quote(pattern, None)} is not in the input "
                          f"(patterns: {names})")
    return PinPolicy({pattern: policy.pin_sets[pattern]},
                     unknown_hosts=mode(policy.unknown_hosts), expired=mode(policy.expired))


def export_policy(policy: PinPolicy, format: str, *, host: str | None = None,
                  lossy: bool = False, swizzle: bool = False,
                  max_age: int = DEFAULT_MAX_AGE, okhttp_version: int = 3) -> ExportResult:
    """Export a policy to a platform format.

    Args:
        policy: the policy.
        format: one of :data:`EXPORT_FORMATS`.
        host: export only this pattern (required by ``hpkp``/``curl`` when the policy holds
            more than one pin set).
        lossy: drop what the target cannot express (listed in ``dropped``) instead of raising.
        swizzle: TrustKit ``TSKSwizzleNetworkDelegates``.
        max_age: HPKP ``max-age`` in seconds.
        okhttp_version: ``okhttp`` only: 3 (default; exact and ``*.`` patterns) or 4 (also
            ``**.``, for OkHttp >= 4.3); see :func:`to_okhttp`.

    Returns:
        The :class:`ExportResult` (text, dropped rules, notes for stderr).

    Raises:
        ExportError: a rule the target cannot express (without ``lossy``), naming rule and host;
            among them pin roles, for a format not in :data:`ROLE_FORMATS` (the message names
            each host and pin with a role).
        PolicyError: unknown format, unknown host, a host is needed, or ``okhttp_version`` is
            not 3 or 4.
    """
    if format in ("hpkp", "curl"):
        policy, dropped = _roles_gate(policy, format, _single(policy, host), lossy)
        if format == "hpkp":
            return _with_dropped(to_hpkp(policy, host, lossy=lossy, max_age=max_age), dropped)
        return _with_dropped(to_curl(policy, host, lossy=lossy), dropped)
    if format not in EXPORT_FORMATS:
        raise PolicyError(f"unknown export format {quote(format, None)}: expected one of "
                          f"{', '.join(EXPORT_FORMATS)}")
    if host is not None:
        _refuse_nested(policy, host, format)
        policy = _only(policy, host)
    policy, dropped = _roles_gate(policy, format, tuple(policy.pin_sets), lossy)
    return _with_dropped(
        _export(policy, format, lossy=lossy, swizzle=swizzle, okhttp_version=okhttp_version),
        dropped,
    )


def _refuse_nested(policy: PinPolicy, host: str, format: str) -> None:
    """Refuse ``--host P`` when the policy has more specific patterns under ``P``: the file
    would cover them with ``P``'s pins (TrustKit ``configuration_utils.m`` lines 61-88 and
    Android's ``ApplicationConfig.getConfigForHostname`` take the includeSubdomains parent when
    no entry of their own exists), while ``certpin.check`` gives them their own pins: a
    silent lock-out (review 11b). Lossy cannot help: leaving them out is exactly the problem.

    Raises:
        ExportError: naming the nested patterns (``--lossy`` does not help).
    """
    try:
        pattern = normalize_pattern(host)
    except PolicyError:
        return  # _only raises the error
    ps = policy.pin_sets.get(pattern)
    if ps is None:
        return
    if pattern.startswith("*."):
        parent = pattern[2:]
        nested = [p for p in policy.pin_sets
                  if not p.startswith("*.") and p.endswith("." + parent)
                  and "." not in p[: -len(parent) - 1]]
    elif ps.include_subdomains:
        nested = [p for p in policy.pin_sets if p != pattern and p.endswith("." + pattern)]
    else:
        return
    if nested:
        shown = ", ".join(sorted(nested)[:5]) + (", ..." if len(nested) > 5 else "")
        raise ExportError(format, [
            f"--host {pattern}: the policy pins {shown} under it with pin sets of their own; "
            f"a file holding {pattern} alone would make the platform apply {pattern}'s pins "
            "to them (export without --host, or each of them too)"], lossy_helps=False)


def _single(policy: PinPolicy, host: str | None) -> tuple[str, ...]:
    """The pattern a single-host format (hpkp, curl) will export, if it can be told; else none
    (the exporter then raises its own error)."""
    if host is None:
        return tuple(policy.pin_sets) if len(policy.pin_sets) == 1 else ()
    try:
        pattern = normalize_pattern(host)
    except PolicyError:
        return ()
    return (pattern,) if pattern in policy.pin_sets else ()


def _roles_gate(policy: PinPolicy, format: str, patterns: tuple[str, ...],
                lossy: bool) -> tuple[PinPolicy, list[str]]:
    """Refuse roles ``format`` cannot say (without ``lossy``), else strip them and list each
    host whose roles were dropped. Only the pin sets of ``patterns`` (those exported) count."""
    if format in ROLE_FORMATS:
        return policy, []
    with_roles = [p for p in patterns if policy.pin_sets[p].roles]
    if not with_roles:
        return policy, []
    if not lossy:
        raise ExportError(format, [
            f"{escape(p)}: pin {pin} has role {role!r}, which {format} cannot express (it "
            "would match anywhere in the chain)"
            for p in with_roles for pin, role in policy.pin_sets[p].roles.items()
        ])
    dropped = [
        f"{escape(p)}: roles ({', '.join(f'{pin} {role}' for pin, role in ps.roles.items())}); "
        f"dropped: {format} cannot express them, so each of these pins matches anywhere in "
        "the chain"
        for p in with_roles for ps in (policy.pin_sets[p],)
    ]
    stripped = {
        pattern: _without_roles(ps) if pattern in with_roles else ps
        for pattern, ps in policy.pin_sets.items()
    }
    return PinPolicy(stripped, unknown_hosts=mode(policy.unknown_hosts),
                     expired=mode(policy.expired)), dropped


def _without_roles(ps: PinSet) -> PinSet:
    return PinSet(ps.pins, backup_pins=ps.backup_pins, include_subdomains=ps.include_subdomains,
                  expires=ps.expires, enforce=ps.enforce, report_uris=ps.report_uris,
                  allow_single_pin=ps.allow_single_pin)


def _with_dropped(result: ExportResult, dropped: list[str]) -> ExportResult:
    result.dropped[:0] = dropped
    return result


def _export(policy: PinPolicy, format: str, *, lossy: bool, swizzle: bool,
            okhttp_version: int) -> ExportResult:
    """Dispatch to the exporter of a multi-host ``format``."""
    if format == "android":
        return to_android(policy, lossy=lossy)
    if format == "trustkit":
        return to_trustkit(policy, lossy=lossy, swizzle=swizzle)
    if format == "trustkit-swift":
        return to_trustkit_swift(policy, lossy=lossy, swizzle=swizzle)
    if format == "okhttp":
        return to_okhttp(policy, lossy=lossy, okhttp_version=okhttp_version)
    if format == "ios":
        return to_ios(policy, lossy=lossy)
    return to_swift_delegate(policy, lossy=lossy)
