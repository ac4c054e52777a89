"""Android ``network_security_config.xml``: import and export.

Reference: Android developer guide "Network security configuration" (``<domain-config>``,
``<domain includeSubdomains>``, ``<pin-set expiration>``, ``<pin digest="SHA-256">``,
``<certificates overridePins>``).

Import rules (as Android applies them):

* every ``<domain>`` of every ``<domain-config>`` becomes one host pattern; several domains of
  one config share its pin-set; ``includeSubdomains="true"`` sets ``include_subdomains``;
* a nested ``<domain-config>`` without its own ``<pin-set>`` inherits its parent's; an empty
  ``<pin-set/>`` means "not pinned" (a warning is recorded);
* ``expiration="YYYY-MM-DD"`` becomes ``expires`` at 00:00 UTC; after it Android stops
  enforcing, as certpin does with ``expired = "allow"``;
* ``overridePins="true"`` on trust anchors (or in ``<debug-overrides>``) lets those anchors skip
  pinning on the device: it is recorded as a warning, not imported;
* Android has no report-only mode, so every set is enforced; one pin is allowed, so
  ``allow_single_pin`` is set exactly when a set has fewer than two pins.

Export writes one ``<domain-config>`` per group of patterns sharing pins and expiry.
"""

from __future__ import annotations

from xml.etree.ElementTree import Element
from xml.sax.saxutils import escape as xml_escape

from ..errors import ConfigError, PolicyError, escape
from ..hostnames import normalize_pattern
from ..pins import Pin
from ..policy import PinPolicy, PinSet
from ._common import (
    ExportResult,
    Lossy,
    bounded_pin_set,
    date_only,
    floor_date,
    parse_date,
    pin_or_error,
)
from ._xml import XmlDoc, parse_xml

__all__ = ["from_android", "to_android"]

_PinInfo = tuple[tuple[Pin, ...], str | None]  # pins, expiration date text


def _bool_attr(doc: XmlDoc, el: Element, name: str) -> bool:
    value = el.get(name)
    if value is None:
        return False
    if value not in ("true", "false"):
        raise doc.error(el, f"<{el.tag}> {name} must be \"true\" or \"false\", got "
                            f"{escape(value)!r}")
    return value == "true"


def _check_anchors(doc: XmlDoc, parent: Element, what: str, warnings: list[str]) -> None:
    for anchors in parent.findall("trust-anchors"):
        for cert in anchors:
            if cert.tag != "certificates":
                raise doc.error(cert, f"unexpected <{escape(cert.tag)}> in <trust-anchors>")
            if _bool_attr(doc, cert, "overridePins"):
                warnings.append(
                    f"{doc.source or '<input>'}, line {doc.line(cert)}: trust anchors "
                    f"{escape(cert.get('src', '?'))!r} in {what} have overridePins=\"true\": "
                    "on the device they bypass the pins (not imported)"
                )


def _pin_set(doc: XmlDoc, el: Element) -> _PinInfo:
    for name in el.attrib:
        if name != "expiration":
            raise doc.error(el, f"unknown attribute {escape(name)!r} on <pin-set>")
    expiration = el.get("expiration")
    if expiration is not None:
        try:
            parse_date(expiration.strip())
        except ValueError as exc:
            raise doc.error(el, f"<pin-set> expiration: {exc}") from None
        expiration = expiration.strip()
    pins: list[Pin] = []
    for pin in el:
        if pin.tag != "pin":
            raise doc.error(pin, f"unexpected <{escape(pin.tag)}> in <pin-set>: expected <pin>")
        digest = pin.get("digest")
        if digest != "SHA-256":
            raise doc.error(pin, f"<pin> digest must be \"SHA-256\", got "
                                 f"{escape(str(digest))!r}")
        text = (pin.text or "").strip()

        def err(m: str, pin: Element = pin) -> ConfigError:
            return doc.error(pin, m)

        pins.append(pin_or_error("sha256/" + text, err, spki_only=True))
    return tuple(pins), expiration


def from_android(data: str | bytes, *, source: str | None = None,
                 warnings: list[str] | None = None) -> PinPolicy:
    """Import an Android network security configuration.

    Args:
        data: the XML document (at most 1 MiB; DOCTYPEs and entities are refused).
        source: the file name for messages, or None.
        warnings: if given, warnings are appended to it (``overridePins``, domains left
            unpinned, unknown elements skipped), one line each naming file and line.

    Returns:
        A policy with one pin set per ``<domain>`` (``unknown_hosts``/``expired`` "allow").

    Raises:
        ConfigError: not well-formed or hostile XML, wrong root element, bad attribute values,
            bad dates or pins, a domain listed twice, a rule certpin refuses (bad host).
    """
    doc = parse_xml(data, source)
    root = doc.root
    if root.tag != "network-security-config":
        raise doc.error(root, f"root element is <{escape(root.tag)}>: expected "
                              "<network-security-config>")
    imp = _Importer(doc, warnings if warnings is not None else [])
    for child in root:
        imp.top_level(child)
    imp.check_unpinned()
    try:
        return PinPolicy(imp.sets)
    except PolicyError as exc:
        raise ConfigError(str(exc), path=source) from None


class _Importer:
    """The state of one import: pin sets so far, where each domain was, unpinned domains."""

    def __init__(self, doc: XmlDoc, warns: list[str]):
        self.doc = doc
        self.warns = warns
        self.sets: dict[str, PinSet] = {}
        self.lines: dict[str, int] = {}
        self.unpinned: list[tuple[str, Element]] = []

    def warn(self, el: Element, message: str) -> None:
        """Record a warning located at ``el``."""
        self.warns.append(f"{self.doc.source or '<input>'}, line {self.doc.line(el)}: {message}")

    def top_level(self, child: Element) -> None:
        """Read one child of ``<network-security-config>``."""
        doc = self.doc
        if child.tag == "domain-config":
            self.domain_config(child, None)
        elif child.tag == "base-config":
            if child.find("pin-set") is not None:
                raise doc.error(child, "<pin-set> is not allowed in <base-config>")
            _check_anchors(doc, child, "<base-config>", self.warns)
        elif child.tag == "debug-overrides":
            _check_anchors(doc, child, "<debug-overrides> (debuggable builds)", self.warns)
        else:
            self.warn(child, f"<{escape(child.tag)}> ignored (not about pinning)")

    def domain_config(self, dc: Element, inherited: _PinInfo | None) -> None:
        """Read a ``<domain-config>`` and, recursively, the ones nested in it."""
        doc = self.doc
        pin_sets = dc.findall("pin-set")
        if len(pin_sets) > 1:
            raise doc.error(pin_sets[1], "more than one <pin-set> in a <domain-config>")
        info = _pin_set(doc, pin_sets[0]) if pin_sets else inherited
        domains = dc.findall("domain")
        if not domains:
            raise doc.error(dc, "<domain-config> without a <domain>")
        _check_anchors(doc, dc, "a <domain-config>", self.warns)
        for child in dc:
            if child.tag not in ("domain", "pin-set", "trust-anchors", "domain-config"):
                self.warn(child, f"<{escape(child.tag)}> ignored (not about pinning)")
        for d in domains:
            self.domain(d, info)
        for nested in dc.findall("domain-config"):
            self.domain_config(nested, info)

    def domain(self, d: Element, info: _PinInfo | None) -> None:
        """Add the pin set of one ``<domain>`` (or note it as unpinned)."""
        doc = self.doc
        name = (d.text or "").strip()
        try:
            if "*" in name:
                raise PolicyError("Android domains cannot contain '*'")
            pattern = normalize_pattern(name)
        except PolicyError as exc:
            raise doc.error(d, f"bad <domain> {escape(name)!r}: {exc}") from None
        if pattern in self.lines:
            raise doc.error(d, f"domain {escape(pattern)!r} is already configured at line "
                               f"{self.lines[pattern]}")
        self.lines[pattern] = doc.line(d)
        if info is None or not info[0]:
            self.warn(d, f"domain {escape(pattern)!r} has no pins: not pinned (not imported)")
            self.unpinned.append((pattern, d))
            return
        pins, expiration = info
        include_subdomains = _bool_attr(doc, d, "includeSubdomains")  # located already
        try:
            self.sets[pattern] = bounded_pin_set(
                pins, include_subdomains=include_subdomains,
                expires=parse_date(expiration) if expiration else None,
                allow_single_pin=len(set(pins)) < 2,
            )
        except PolicyError as exc:
            raise doc.error(d, f"domain {escape(pattern)!r}: {exc}") from None

    def check_unpinned(self) -> None:
        """Refuse an unpinned domain that certpin would pin through a parent's subdomains."""
        for pattern, d in self.unpinned:
            for parent, ps in self.sets.items():
                if ps.include_subdomains and pattern.endswith("." + parent):
                    raise self.doc.error(
                        d, f"domain {escape(pattern)!r} is unpinned here but certpin would apply "
                           f"the pins of {escape(parent)!r} (includeSubdomains) to it; certpin "
                           "cannot express an unpinned exception: pin it or drop "
                           "includeSubdomains",
                    )


def to_android(policy: PinPolicy, *, lossy: bool = False) -> ExportResult:
    """Export a policy as an Android network security configuration.

    Android cannot express: report-only sets, certificate pins, one-label wildcards
    (``*.example.com``), report URIs, an expiry that is not at 00:00 UTC,
    ``unknown_hosts = "reject"`` and ``expired = "reject"``. Backup pins become ordinary pins
    (Android accepts both the same way).

    Args:
        policy: the policy.
        lossy: drop what Android cannot express instead of raising: a report-only or
            wildcard set or one with certificate pins is left out (unpinned, never locked
            out), report URIs are left out, an expiry is moved back to its UTC date.

    Returns:
        The :class:`ExportResult`; ``dropped`` lists each rule dropped, naming the host.

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
    groups: dict[tuple[tuple[Pin, ...], str | None], list[tuple[str, bool]]] = {}
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
        if ps.report_uris:
            lx.add(pattern, "report_uris", "report URIs left out")
        expiration: str | None = None
        if ps.expires is not None:
            expiration = date_only(ps.expires)
            if expiration is None:
                expiration = floor_date(ps.expires)
                lx.add(pattern, f"expiry {ps.expires.isoformat()} is not at 00:00 UTC",
                       f"expiration moved back to {expiration}")
        groups.setdefault((ps.all_pins, expiration), []).append(
            (pattern, ps.include_subdomains)
        )
    out = ['<?xml version="1.0" encoding="utf-8"?>', "<network-security-config>"]
    for (pins, expiration), domains in groups.items():
        out.append("    <domain-config>")
        for pattern, sub in domains:
            attr = ' includeSubdomains="true"' if sub else ""
            out.append(f"        <domain{attr}>{xml_escape(pattern)}</domain>")
        exp = f' expiration="{expiration}"' if expiration else ""
        out.append(f"        <pin-set{exp}>")
        out.extend(f'            <pin digest="SHA-256">{p.base64}</pin>' for p in pins)
        out.append("        </pin-set>")
        out.append("    </domain-config>")
    out.append("</network-security-config>")
    return lx.finish("\n".join(out) + "\n")
