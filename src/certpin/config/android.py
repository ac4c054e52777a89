"""Android ``network_security_config.xml``: import and export.

Android's rules are cited from ``aosp-mirror/platform_frameworks_base`` as ``FILE@COMMIT:LINE``
(``XmlConfigSource.java@0172a23b`` is ``core/java/android/security/net/config/XmlConfigSource.java``
at commit 0172a23b1af4735bcca3580bc53e37f57a639c7a); the table of every rule is
``docs/rules/android.md``. The value rules (digest names, base64, dates) are in
``certpin.config._android_values``.

Import rules (as Android applies them):

* every ``<domain>`` of every ``<domain-config>`` becomes one host pattern; several domains of
  one config share its pin-set; ``includeSubdomains="true"`` sets ``include_subdomains``;
* a nested ``<domain-config>`` without its own ``<pin-set>`` inherits its parent's
  (``NetworkSecurityConfig.java@0172a23b:240-248``); an empty ``<pin-set/>`` means "not pinned"
  (``NetworkSecurityTrustManager.java@3c096b3a:100``; a warning is recorded);
* ``<pin digest>`` is any spelling of ``SHA-256`` that Java's ``equalsIgnoreCase`` accepts, the
  pin text is read as ``android.util.Base64`` reads it (characters outside the alphabet are
  skipped) and must give 32 bytes; anything else is refused, as Android throws on it;
* ``expiration="YYYY-MM-DD"`` is midnight in the device's time zone; ``expires`` is the earliest
  instant that can be, the date at 00:00 at UTC+14; after it Android stops enforcing, as
  certpin does with ``expired = "allow"``;
* ``overridePins="true"`` on trust anchors (or in ``<debug-overrides>``) lets those anchors skip
  pinning on the device: it is recorded as a warning, not imported;
* what Android skips (unknown elements and attributes) is skipped with a warning; what it throws
  on (two ``<base-config>``, a ``<domain>`` in ``<base-config>``, ...) is refused;
* Android has no report-only mode, so every set is enforced; one pin is allowed, so
  ``allow_single_pin`` is set exactly when a set has fewer than two pins.

Export writes one ``<domain-config>`` per group of patterns sharing pins and expiration date,
choosing for each expiry the latest date with which no device, in any time zone, pins after it.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from xml.sax.saxutils import escape as xml_escape

from ..errors import ConfigError, PolicyError, escape
from ..instants import iso_z
from ..pins import Pin
from ..policy import PinPolicy
from ._android_import import Importer
from ._android_values import FIRST_YEAR, expiration_for, expiration_window
from ._common import ExportResult, Lossy
from ._xml import parse_xml

__all__ = ["from_android", "to_android"]


def from_android(data: str | bytes, *, source: str | None = None,
                 warnings: list[str] | None = None) -> PinPolicy:
    """Import an Android network security configuration.

    Reads what Android reads (``docs/rules/android.md`` cites the source of every rule): the
    ``digest`` in any letter case, pin base64 as ``android.util.Base64`` decodes it (a pin
    wrapped over lines is the pin its characters spell), ``expiration="D"`` as ``D`` 00:00 at
    UTC+14 (the earliest instant local midnight can be, ``D - 1`` at 10:00Z).

    Args:
        data: the XML document (at most 1 MiB; DOCTYPEs and entities are refused).
        source: the file name for messages, or None.
        warnings: if given, warnings are appended to it (``overridePins``, domains left
            unpinned, elements and attributes Android skips, pins or digests spelt in a way
            TrustKit-Android would not read), one line each naming file and line.

    Returns:
        A policy with one pin set per ``<domain>`` (``unknown_hosts``/``expired`` "allow").

    Raises:
        ConfigError: not well-formed or hostile XML, wrong root element, bad attribute values,
            what Android's parser throws on (a digest other than SHA-256, a pin that does not
            decode to 32 bytes, an invalid date, two ``<base-config>``, ...), a domain listed
            twice, a rule certpin refuses (bad host, a date before 1583).
    """
    doc = parse_xml(data, source)
    root = doc.root
    if root.tag != "network-security-config":
        raise doc.error(root, f"root element is <{escape(root.tag)}>: expected "
                              "<network-security-config>")
    imp = Importer(doc, warnings if warnings is not None else [])
    for child in root:
        imp.top_level(child)
    imp.check_unpinned()
    try:
        return PinPolicy(imp.sets)
    except PolicyError as exc:
        raise ConfigError(str(exc), path=source) from None


def to_android(policy: PinPolicy, *, lossy: bool = False) -> ExportResult:
    """Export a policy as an Android network security configuration.

    Android cannot express: report-only sets, certificate pins, one-label wildcards
    (``*.example.com``), report URIs, ``unknown_hosts = "reject"`` and ``expired = "reject"``,
    nor an expiry before 1583. Backup pins become ordinary pins (Android accepts both the same
    way).

    An expiry becomes the latest ``expiration`` date with which Android stops pinning no later
    than the policy, in every time zone: Android reads the date as local midnight
    (``XmlConfigSource.java@0172a23b:129-135``), the last zone (UTC-12) stops pinning at
    ``D`` 12:00:00.001Z, the first (UTC+14) 26 hours earlier. So an expiry at 00:00Z of ``D``
    is written as ``D - 1``. Each expiration comes with a note (:attr:`ExportResult.notes`)
    giving that window, saying when the date was moved back from the expiry's UTC date.

    Args:
        policy: the policy.
        lossy: drop what Android cannot express instead of raising: a report-only or
            wildcard set, one with certificate pins or an expiry before 1583 is left out
            (unpinned, never locked out), report URIs are left out.

    Returns:
        The :class:`ExportResult`; ``dropped`` lists each rule dropped, naming the host;
        ``notes`` explains each expiration date.

    Raises:
        ExportError: a rule cannot be expressed and ``lossy`` is false.
    """
    lx = Lossy("android", lossy)
    if policy.unknown_hosts == "reject":
        lx.add("*", 'unknown_hosts = "reject" (Android cannot refuse unpinned hosts)',
               "dropped: unknown hosts are allowed")
    if policy.expired == "reject" and any(ps.expires for ps in policy.pin_sets.values()):
        lx.add("*", 'expired = "reject" (Android stops enforcing expired pin sets)',
               "dropped: expired pin sets are not enforced")
    groups: dict[tuple[tuple[Pin, ...], date | None], list[tuple[str, bool]]] = {}
    expiries: dict[tuple[datetime, date], list[str]] = {}
    for pattern, ps in sorted(policy.pin_sets.items()):
        if not ps.enforce:
            lx.add(pattern, "report-only (enforce = false)", "pin set left out (not pinned)")
            continue
        if pattern.startswith("*."):
            lx.add(pattern, "one-label wildcard", "pin set left out (not pinned)")
            continue
        if any(p.kind != "spki" for p in ps.all_pins):
            lx.add(pattern, "certificate pins (Android pins SPKI only)",
                   "pin set left out (not pinned)")
            continue
        day: date | None = None
        if ps.expires is not None:
            day = expiration_for(ps.expires)
            if day is None:
                lx.add(pattern, f"expiry {iso_z(ps.expires)} is before {FIRST_YEAR} (no "
                                "expiration date certpin writes ends pinning by then)",
                       "pin set left out (not pinned; it expired long ago)")
                continue
            expiries.setdefault((ps.expires, day), []).append(pattern)
        if ps.report_uris:
            lx.add(pattern, "report_uris", "report URIs left out")
        groups.setdefault((ps.all_pins, day), []).append((pattern, ps.include_subdomains))
    out = ['<?xml version="1.0" encoding="utf-8"?>', "<network-security-config>"]
    for (pins, day), domains in groups.items():
        out.append("    <domain-config>")
        for pattern, sub in domains:
            attr = ' includeSubdomains="true"' if sub else ""
            out.append(f"        <domain{attr}>{xml_escape(pattern)}</domain>")
        exp = f' expiration="{day.isoformat()}"' if day else ""
        out.append(f"        <pin-set{exp}>")
        out.extend(f'            <pin digest="SHA-256">{p.base64}</pin>' for p in pins)
        out.append("        </pin-set>")
        out.append("    </domain-config>")
    out.append("</network-security-config>")
    notes = [_expiry_note(expires, day, hosts) for (expires, day), hosts in expiries.items()]
    return lx.finish("\n".join(out) + "\n", notes,
                     pinned=[p for domains in groups.values() for p, _ in domains])


def _expiry_note(expires: datetime, day: date, hosts: list[str]) -> str:
    """What ``expiration="day"`` means on devices, for the policy's ``expires``."""
    first, last = expiration_window(day)
    utc_day = expires.astimezone(UTC).date()
    moved = f" (moved back from {utc_day.isoformat()})" if day != utc_day else ""
    return (f"{', '.join(hosts)}: expires {iso_z(expires)} is written as "
            f'expiration="{day.isoformat()}"{moved}: Android reads the date as local midnight, '
            f"so devices stop pinning from {iso_z(first, timespec='milliseconds')} (UTC+14) to "
            f"{iso_z(last, timespec='milliseconds')} (UTC-12), never after the policy's expiry")
