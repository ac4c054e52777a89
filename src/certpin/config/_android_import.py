"""The walk of an Android network security config, element by element, as Android parses it.

Android's rules are cited from ``aosp-mirror/platform_frameworks_base`` as ``FILE@COMMIT:LINE``
(see :mod:`certpin.config.android` and ``docs/rules/android.md``). Nothing here is public API.
"""

from __future__ import annotations

from datetime import date
from xml.etree.ElementTree import Element

from ..errors import PolicyError, escape, quote
from ..hostnames import normalize_pattern
from ..pins import Pin
from ..policy import PinSet
from ._android_values import (
    decode_pin,
    digest_is_sha256,
    expiration_instant,
    java_trim,
    parse_expiration,
)
from ._common import bounded_pin_set
from ._xml import XmlDoc

__all__ = ["Importer"]

_PinInfo = tuple[tuple[Pin, ...], date | None]  # pins, expiration date

#: Where Android's parser throws on a config element inside ``<base-config>`` or
#: ``<debug-overrides>`` (``XmlConfigSource.java@0172a23b:251-280``).
_DOMAIN_ONLY = ("domain", "pin-set", "domain-config")

#: ``<certificates src>`` values Android knows besides a resource (``@raw/...``)
#: (``XmlConfigSource.java@0172a23b:185-197``; ``wfa`` on recent versions only).
_ANCHOR_SOURCES = ("system", "user", "wfa")


def _slash_hint(text: str) -> str:
    """A hint when the text is a pin with a ``/`` in front (left from curl's ``sha256//``)."""
    rest = java_trim(text)
    if rest.startswith("/"):
        try:
            if len(decode_pin(rest[1:])) == 32:
                return " (a '/' left over from curl's sha256//<base64>?)"
        except ValueError:
            pass
    return ""


def _bool_attr(doc: XmlDoc, el: Element, name: str, default: bool = False) -> bool:
    value = el.get(name)
    if value is None:
        return default
    if value not in ("true", "false"):
        raise doc.error(el, f"<{el.tag}> {name} must be \"true\" or \"false\", got "
                            f"{quote(value, None)}")
    return value == "true"


class Importer:
    """The state of one import: pin sets so far, where each domain was, unpinned domains."""

    def __init__(self, doc: XmlDoc, warns: list[str]):
        self.doc = doc
        self.warns = warns
        self.sets: dict[str, PinSet] = {}
        self.lines: dict[str, int] = {}
        self.unpinned: list[tuple[str, Element]] = []
        self.seen: set[str] = set()

    def warn(self, el: Element, message: str) -> None:
        """Record a warning located at ``el``."""
        self.warns.append(f"{self.doc.source or '<input>'}, line {self.doc.line(el)}: {message}")

    def top_level(self, child: Element) -> None:
        """Read one child of ``<network-security-config>``
        (``XmlConfigSource.java@0172a23b:315-342``)."""
        if child.tag in ("base-config", "debug-overrides"):
            if child.tag in self.seen:
                raise self.doc.error(child, f"only one <{child.tag}> is allowed (Android "
                                            "refuses the config)")
            self.seen.add(child.tag)
            self.outer_config(child)
        elif child.tag == "domain-config":
            self.domain_config(child, None)
        else:
            self.warn(child, f"<{escape(child.tag)}> ignored (Android skips it)")

    def outer_config(self, el: Element) -> None:
        """``<base-config>`` or ``<debug-overrides>``: no domains, pins or nested configs.

        Android reads ``<debug-overrides>`` only in debuggable builds
        (``XmlConfigSource.java@0172a23b:332-337``), so a mistake there is a warning.
        """
        debug = el.tag == "debug-overrides"
        for child in el:
            if child.tag in _DOMAIN_ONLY:
                message = f"<{child.tag}> is not allowed in <{el.tag}>"
                if not debug:
                    raise self.doc.error(child, message + " (Android refuses the config)")
                self.warn(child, message + ": debuggable builds refuse the config")
        what = "<debug-overrides> (debuggable builds)" if debug else f"<{el.tag}>"
        self.anchors(el, what, strict=not debug)

    def anchors(self, parent: Element, what: str, *, strict: bool = True) -> None:
        """Check ``<trust-anchors>`` as Android parses them; note ``overridePins``
        (``XmlConfigSource.java@0172a23b:174-215, 257-263``)."""
        found = parent.findall("trust-anchors")
        for anchors in found[1:]:
            message = f"more than one <trust-anchors> in {what}"
            if strict:
                raise self.doc.error(anchors, message + " (Android refuses the config)")
            self.warn(anchors, message + ": Android refuses the config")
        for anchors in found:
            for cert in anchors:
                if cert.tag != "certificates":
                    self.warn(cert, f"<{escape(cert.tag)}> in <trust-anchors> ignored "
                                    "(Android skips it)")
                    continue
                self.certificates(cert, what, strict)

    def certificates(self, cert: Element, what: str, strict: bool) -> None:
        """One ``<certificates>``: a known ``src``, and ``overridePins`` noted; in
        ``<debug-overrides>`` (``strict`` false) it defaults to true
        (``XmlConfigSource.java@0172a23b:177-178, 228``)."""
        src = cert.get("src")
        if src is None or not (src in _ANCHOR_SOURCES or src.startswith("@")):
            shown = "no src" if src is None else f"src {quote(src)}"
            message = (f"<certificates> with {shown}: Android knows system, user, wfa or a "
                       "resource (@raw/...) and refuses the config")
            if strict:
                raise self.doc.error(cert, message)
            self.warn(cert, message)
        if _bool_attr(self.doc, cert, "overridePins", default=not strict):
            self.warn(cert, f"trust anchors {quote(src or '?', None)} in {what} have "
                            'overridePins="true": on the device they bypass the pins '
                            "(not imported)")

    def domain_config(self, dc: Element, inherited: _PinInfo | None) -> None:
        """Read a ``<domain-config>`` and, recursively, the ones nested in it
        (``XmlConfigSource.java@0172a23b:218-290``)."""
        doc = self.doc
        pin_sets = dc.findall("pin-set")
        if len(pin_sets) > 1:
            raise doc.error(pin_sets[1], "more than one <pin-set> in a <domain-config>")
        info = self.pin_set(pin_sets[0]) if pin_sets else inherited
        domains = dc.findall("domain")
        if not domains:
            raise doc.error(dc, "<domain-config> without a <domain>")
        self.anchors(dc, "a <domain-config>")
        for child in dc:
            if child.tag not in ("domain", "pin-set", "trust-anchors", "domain-config"):
                self.warn(child, f"<{escape(child.tag)}> ignored (not about pinning)")
        for d in domains:
            self.domain(d, info)
        for nested in dc.findall("domain-config"):
            self.domain_config(nested, info)

    def pin_set(self, el: Element) -> _PinInfo:
        """Read a ``<pin-set>`` (``XmlConfigSource.java@0172a23b:123-152``)."""
        for name in el.attrib:
            if name != "expiration":
                self.warn(el, f"attribute {quote(name)} on <pin-set> ignored (Android "
                              "reads only expiration)")
        expiration = el.get("expiration")
        day: date | None = None
        if expiration is not None:
            try:
                day = parse_expiration(expiration)
            except ValueError as exc:
                raise self.doc.error(el, f"<pin-set> expiration: {exc}") from None
        pins: list[Pin] = []
        for child in el:
            if child.tag != "pin":
                self.warn(child, f"<{escape(child.tag)}> in <pin-set> ignored (Android skips "
                                 "it)")
                continue
            pin = self.pin(child)
            if pin in pins:
                self.warn(child, f"pin {pin} is listed twice in this <pin-set>: Android keeps "
                                 "one (its pins are a set)")
            else:
                pins.append(pin)
        return tuple(pins), day

    def pin(self, el: Element) -> Pin:
        """Read a ``<pin>`` as ``XmlConfigSource.parsePin`` does
        (``XmlConfigSource.java@0172a23b:94-121``)."""
        doc = self.doc
        digest = el.get("digest")
        if digest is None:
            raise doc.error(el, 'Android refuses a <pin> without a digest (digest="SHA-256")')
        if not digest_is_sha256(digest):
            raise doc.error(el, f"Android refuses <pin> digest {quote(digest)}: it reads "
                                "SHA-256 only (in any letter case)")
        if len(el):
            raise doc.error(el, "<pin> has a child element: Android refuses the config")
        text = el.text or ""
        shown = quote(text, 80)
        try:
            raw = decode_pin(text)
        except ValueError as exc:
            raise doc.error(el, f"android.util.Base64 cannot read the <pin> text {shown}: "
                                f"{exc}{_slash_hint(text)} (Android refuses the config)") from None
        if len(raw) != 32:
            raise doc.error(el, f"android.util.Base64 reads {len(raw)} bytes from the <pin> "
                                f"text {shown}; a SHA-256 pin is 32{_slash_hint(text)} (Android "
                                "refuses the config)")
        pin = Pin("spki", raw)
        if digest != "SHA-256":
            self.warn(el, f'digest {quote(digest)} read as "SHA-256"; TrustKit-Android, '
                          'which reads this file too, accepts only "SHA-256" and throws')
        if java_trim(text) != pin.base64:
            self.warn(el, f"pin text {shown} is not canonical base64: Android reads "
                          f"it as {pin}; TrustKit-Android (pinning below API 24) compares the "
                          "text and would never match it")
        return pin

    def domain(self, d: Element, info: _PinInfo | None) -> None:
        """Add the pin set of one ``<domain>`` (or note it as unpinned)
        (``XmlConfigSource.java@0172a23b:154-172``)."""
        doc = self.doc
        if len(d):
            raise doc.error(d, "<domain> has a child element: Android refuses the config")
        name = java_trim(d.text or "")
        try:
            if "*" in name:
                raise PolicyError("Android domains cannot contain '*'")
            pattern = normalize_pattern(name)
        except PolicyError as exc:
            raise doc.error(d, f"bad <domain> {quote(name, None)}: {exc}") from None
        if pattern != name.lower():
            # Android compares the text as written, only trimmed and lower-cased
            # (XmlConfigSource.java@0172a23b:158-164, Domain.java@6156e449:39) with the host
            # lower-cased and its own trailing dot stripped (ApplicationConfig.java@4850a8b1:
            # 83-112): a trailing dot, an IDNA-mapped character (U+3002, full-width letters)
            # or a Unicode name never equals a host. certpin would read it as another host
            # (review 11c): refuse rather than pin what Android never pins.
            raise doc.error(d, f"<domain> {quote(name, None)} never matches a host on Android "
                               "(it compares the text as written, only lower-cased); write "
                               f"{quote(pattern, None)} if that host is meant")
        if pattern in self.lines:
            raise doc.error(d, f"domain {quote(pattern, None)} is already configured at line "
                               f"{self.lines[pattern]}")
        self.lines[pattern] = doc.line(d)
        if info is None or not info[0]:
            self.warn(d, f"domain {quote(pattern, None)} has no pins: not pinned (not imported)")
            self.unpinned.append((pattern, d))
            return
        pins, day = info
        include_subdomains = _bool_attr(doc, d, "includeSubdomains")  # located already
        try:
            self.sets[pattern] = bounded_pin_set(
                pins, include_subdomains=include_subdomains,
                expires=expiration_instant(day) if day else None,
                allow_single_pin=len(pins) < 2,
            )
        except PolicyError as exc:
            raise doc.error(d, f"domain {quote(pattern, None)}: {exc}") from None

    def check_unpinned(self) -> None:
        """Refuse an unpinned domain that certpin would pin through a parent's subdomains."""
        for pattern, d in self.unpinned:
            for parent, ps in self.sets.items():
                if ps.include_subdomains and pattern.endswith("." + parent):
                    raise self.doc.error(
                        d, f"domain {quote(pattern, None)} is unpinned here but certpin would "
                           "apply "
                           f"the pins of {quote(parent, None)} (includeSubdomains) to it; certpin "
                           "cannot express an unpinned exception: pin it or drop "
                           "includeSubdomains",
                    )
