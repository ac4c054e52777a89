"""TrustKit (iOS/macOS) configuration: Info.plist import and export, Swift dictionary export.

In an Info.plist the configuration is the ``TSKConfiguration`` dictionary (``TrustKit.m``
line 284); its keys are the string values of TrustKit's constants (``TSKTrustKitConfig.m``
lines 17-31): ``TSKPinnedDomains``, and per domain ``TSKPublicKeyHashes`` (base64 SPKI
SHA-256), ``TSKIncludeSubdomains``, ``TSKEnforcePinning`` (default true),
``TSKReportUris``, ``TSKExpirationDate`` (``yyyy-MM-dd``, read as 00:00 UTC) and
``TSKDisableDefaultReportUri``. A plist key spelled like the constant (``kTSKEnforcePinning``)
is not read by TrustKit, and the exclusion key is ``kSKExcludeSubdomainFromParentPolicy``
(sic, line 25): see ``docs/rules/trustkit.md`` for every rule and its source line.

The importer (:func:`from_trustkit`, here) accepts what TrustKit's ``parse_configuration.m``
accepts and refuses, with TrustKit's reason, what makes TrustKit throw at start-up: a domain
with no public suffix in TrustKit's own snapshot (:mod:`._trustkit_registry`), includeSubdomains
on a public suffix, fewer than two distinct pins when enforcing (one when report-only), no
pinned domain. The exporters (:func:`to_trustkit`, :func:`to_trustkit_swift`) live in
:mod:`._trustkit_export` and are re-exported here.

The parser is hardened (defusedxml, 1 MiB cap, no DTD). The one DOCTYPE Xcode writes into every
plist (``-//Apple//DTD PLIST 1.0//EN``, an external identifier without internal subset, so it
can declare no entity) is accepted; every other DOCTYPE is refused.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable
from datetime import date

from ..errors import ConfigError, PolicyError, quote
from ..hostnames import normalize_pattern
from ..pins import Pin
from ..policy import PinPolicy, PinSet, is_report_uri
from ._common import bounded_pin_set, parse_date
from ._plist import PlistNode, PlistReader, key_path, read_plist
from ._trustkit_export import to_trustkit, to_trustkit_swift
from ._trustkit_registry import domain_problem, trustkit_report_uri
from ._xml import XmlDoc, parse_xml

__all__ = ["from_trustkit", "to_trustkit", "to_trustkit_swift"]

#: Domain keys TrustKit reads (TSKTrustKitConfig.m lines 23-31), plus one it never had in a
#: release but that old configurations carry (ignored with a warning).
_DOMAIN_KEYS = {
    "TSKPublicKeyHashes", "TSKIncludeSubdomains", "TSKEnforcePinning", "TSKReportUris",
    "TSKExpirationDate", "TSKDisableDefaultReportUri", "TSKPublicKeyAlgorithms",
    "kSKExcludeSubdomainFromParentPolicy", "TSKAdditionalTrustAnchors",
}
_CONFIG_KEYS = {"TSKSwizzleNetworkDelegates", "TSKPinnedDomains",
                "TSKIgnorePinningForUserDefinedTrustAnchors"}
_BOOL_KEYS = ("TSKIncludeSubdomains", "TSKEnforcePinning", "TSKDisableDefaultReportUri",
              "kSKExcludeSubdomainFromParentPolicy")
_EXCLUDE = "kSKExcludeSubdomainFromParentPolicy"


def _misspelt(name: str) -> str | None:
    """Why TrustKit ignores a key that looks like one of its own, or None."""
    if name in ("TSKExcludeSubdomainFromParentPolicy", "kTSKExcludeSubdomainFromParentPolicy"):
        return (f"TrustKit ignores {quote(name, None)}: the constant "
                f"kTSKExcludeSubdomainFromParentPolicy is the string {_EXCLUDE!r} "
                "(TSKTrustKitConfig.m line 25)")
    if name.startswith("kTSK"):
        return (f"TrustKit ignores {quote(name, None)} in a plist: it reads the string value of "
                f"the constant, {quote(name[1:], None)} (TSKTrustKitConfig.m lines 17-31)")
    return None


def from_trustkit(data: str | bytes, *, source: str | None = None,
                  warnings: list[str] | None = None) -> PinPolicy:
    """Import a TrustKit configuration from an Info.plist (XML) or a plist holding it.

    The document is a ``<plist>`` whose dictionary holds ``TSKConfiguration`` (a whole
    Info.plist; other keys are ignored), or holds ``TSKPinnedDomains`` directly.

    Args:
        data: the plist XML (at most 1 MiB).
        source: the file name for messages, or None.
        warnings: if given, warnings are appended (a hash listed twice, deprecated keys,
            user-defined trust anchors ignored).

    Returns:
        A policy with one pin set per pinned domain; ``allow_single_pin`` is set exactly when a
        report-only domain has one pin (TrustKit needs two only when enforcing,
        ``parse_configuration.m`` line 207).

    Raises:
        ConfigError: bad or hostile XML, a binary plist, wrong types, unknown or misspelt keys
            (``kTSK...`` spellings, which TrustKit ignores), bad dates or hashes, anything
            TrustKit throws on at start-up (no pinned domain, a domain with no public suffix
            in TrustKit's snapshot such as an IP address or ``api.internal``,
            includeSubdomains on a public suffix, fewer than two distinct pins when enforcing),
            a domain TrustKit would match only as spelt (upper case, a trailing dot,
            ``*``), and ``kSKExcludeSubdomainFromParentPolicy`` (an unpinned exception
            certpin cannot express); names file, line and key path.
    """
    if isinstance(data, bytes) and data.startswith(b"bplist"):
        raise ConfigError("binary plist: convert it first (plutil -convert xml1 FILE)",
                          path=source)
    doc = parse_xml(data, source, allow_plist_doctype=True)
    rd = PlistReader(doc, source, warnings if warnings is not None else [])
    config, path = _find_config(doc)
    domains = _pinned_domains(rd, config, path)
    sets: dict[str, PinSet] = {}
    for host, dnode in domains.value.items():
        dpath = f"{path}.TSKPinnedDomains.{key_path(host)}"
        if not isinstance(dnode.value, dict):
            raise rd.at(dnode, dpath, "expected a <dict> for the domain")
        opts = _domain_options(rd, dnode, dpath)
        include = "TSKIncludeSubdomains" in opts and bool(opts["TSKIncludeSubdomains"].value)
        pin_set = _domain_pin_set(rd, opts, dnode, dpath)
        pattern = _domain_pattern(rd, host, include, dnode, dpath)
        if pattern in sets:  # pragma: no cover - a plist dict has no key twice (_plist.py)
            raise rd.at(dnode, dpath, f"domain {quote(pattern, None)} appears twice")
        sets[pattern] = pin_set
    try:
        return PinPolicy(sets)
    except PolicyError as exc:
        raise ConfigError(str(exc), path=source) from None


def _find_config(doc: XmlDoc) -> tuple[PlistNode, str]:
    """The TrustKit configuration dictionary and its path: TSKConfiguration or the top."""
    top = read_plist(doc)
    if not isinstance(top.value, dict):
        raise doc.error(top.el, "expected a <dict> at the top of the plist")
    path = "TSKConfiguration"
    if "TSKConfiguration" in top.value:
        config = top.value["TSKConfiguration"]
    elif "TSKPinnedDomains" in top.value:
        config, path = top, "(plist)"
    elif "kTSKPinnedDomains" in top.value:
        raise doc.error(top.el, str(_misspelt("kTSKPinnedDomains")))
    else:
        raise doc.error(top.el, "no TSKConfiguration (nor TSKPinnedDomains) in the plist")
    if not isinstance(config.value, dict):
        raise doc.error(config.el, f"{path}: expected a <dict>")
    return config, path


def _pinned_domains(rd: PlistReader, config: PlistNode, path: str) -> PlistNode:
    """Check the configuration's own keys; return its TSKPinnedDomains dictionary."""
    domains: PlistNode | None = None
    for key, node in config.value.items():
        kpath = f"{path}.{key_path(key)}"
        if path == "(plist)" and key not in _CONFIG_KEYS and not key.startswith("kTSK"):
            continue  # other Info.plist keys next to TSKPinnedDomains
        if key not in _CONFIG_KEYS:
            raise rd.at(node, kpath, _misspelt(key) or f"unknown TrustKit key {quote(key, None)}")
        if key == "TSKPinnedDomains":
            domains = node
        elif not isinstance(node.value, bool):
            raise rd.at(node, kpath, "expected <true/> or <false/>")
        elif key == "TSKIgnorePinningForUserDefinedTrustAnchors" and node.value:
            rd.warn(node, "TSKIgnorePinningForUserDefinedTrustAnchors is true: on macOS, "
                          "user-installed anchors bypass the pins (not imported)")
    if domains is None:
        raise rd.at(config, path, "missing TSKPinnedDomains (TrustKit throws at start-up: "
                                  "parse_configuration.m lines 62-66)")
    if not isinstance(domains.value, dict):
        raise rd.at(domains, f"{path}.TSKPinnedDomains", "expected a <dict> of domains")
    if not domains.value:
        raise rd.at(domains, f"{path}.TSKPinnedDomains", "no pinned domain (TrustKit throws "
                                                         "at start-up: parse_configuration.m "
                                                         "lines 62-66)")
    return domains


def _domain_pattern(rd: PlistReader, host: str, include: bool, dnode: PlistNode,
                    dpath: str) -> str:
    """The pattern of one domain entry: TrustKit's own checks on the name as written, then
    the name must be one certpin's normalisation leaves unchanged (TrustKit matches exactly)."""
    problem = domain_problem(host, include)
    if problem is not None:
        raise rd.at(dnode, dpath, f"domain {quote(host, None)}: {problem}")
    if "*" in host:
        raise rd.at(dnode, dpath, f"domain {quote(host, None)}: TrustKit has no wildcards; it "
                                  "would look the name up as written and never match it")
    try:
        pattern = normalize_pattern(host)
    except PolicyError as exc:
        raise rd.at(dnode, dpath, f"bad domain {quote(host, None)}: {exc}") from None
    if pattern != host:
        # configuration_utils.m line 61 looks the host up as written, lines 36 and 49-50
        # compare suffix and labels case-sensitively: "API.example.com" or "example.com."
        # pin only a host spelt exactly so.
        raise rd.at(dnode, dpath, f"domain {quote(host, None)}: TrustKit matches domains exactly "
                                  f"as written (configuration_utils.m lines 36-61); write "
                                  f"{quote(pattern, None)}")
    return pattern


def _domain_pin_set(rd: PlistReader, opts: dict[str, PlistNode], dnode: PlistNode,
                    dpath: str) -> PinSet:
    """The pin set of one domain entry."""
    flags = {k: bool(n.value) for k, n in opts.items() if k in _BOOL_KEYS}
    enforce = flags.get("TSKEnforcePinning", True)
    pins = _public_key_hashes(rd, opts.get("TSKPublicKeyHashes"), dnode, dpath)
    distinct = list(dict.fromkeys(pins))  # TrustKit keeps an NSSet (parse_configuration.m:191)
    if len(distinct) < len(pins):
        rd.warn(opts["TSKPublicKeyHashes"], f"{dpath}.TSKPublicKeyHashes lists a hash twice "
                                            "(TrustKit keeps each once)")
    required = 2 if enforce else 1  # parse_configuration.m lines 207-212
    if len(distinct) < required:
        what = ("fewer than two distinct pins while enforcing" if enforce
                else "no pin")
        raise rd.at(dnode, dpath, f"{what}: TrustKit throws at start-up "
                                  "(parse_configuration.m lines 207-212)")
    uris = _report_uris(rd, opts.get("TSKReportUris"), dpath)
    expires = _expiration(rd, opts.get("TSKExpirationDate"), dpath)
    try:
        return bounded_pin_set(
            distinct,
            include_subdomains=flags.get("TSKIncludeSubdomains", False),
            enforce=enforce, report_uris=uris, expires=expires,
            allow_single_pin=len(distinct) < 2,
        )
    except PolicyError as exc:
        raise rd.at(dnode, dpath, str(exc)) from None


def _domain_options(rd: PlistReader, dnode: PlistNode, dpath: str) -> dict[str, PlistNode]:
    """A domain's keys, with the boolean ones type-checked."""
    opts: dict[str, PlistNode] = {}
    for key, node in dnode.value.items():
        if key not in _DOMAIN_KEYS:
            raise rd.at(node, f"{dpath}.{key_path(key)}",
                        _misspelt(key) or f"unknown TrustKit key {quote(key, None)}")
        opts[key] = node
    for key in _BOOL_KEYS:
        if key in opts and not isinstance(opts[key].value, bool):
            raise rd.at(opts[key], f"{dpath}.{key}", "expected <true/> or <false/>")
    exclude = opts.get(_EXCLUDE)
    if exclude is not None and exclude.value:
        raise rd.at(exclude, dpath,
                    f"{_EXCLUDE} (an unpinned exception under a parent's includeSubdomains) "
                    "cannot be expressed in a certpin policy")
    for key in ("TSKPublicKeyAlgorithms", "TSKAdditionalTrustAnchors"):
        if key in opts:
            rd.warn(opts[key], f"{dpath}.{key} ignored")
    return opts


def _public_key_hashes(rd: PlistReader, hashes: PlistNode | None, dnode: PlistNode,
                       dpath: str) -> list[Pin]:
    """The SPKI pins of TSKPublicKeyHashes (required), as written: TrustKit decodes each with
    ``initWithBase64EncodedString:options:0`` (parse_configuration.m line 194), which refuses
    any character outside base64, spaces and line breaks included."""
    if hashes is None:
        raise rd.at(dnode, dpath, "missing TSKPublicKeyHashes (TrustKit throws at start-up: "
                                  "parse_configuration.m lines 207-212)")
    if not isinstance(hashes.value, list):
        raise rd.at(hashes, f"{dpath}.TSKPublicKeyHashes", "expected an <array> of <string>")
    pins: list[Pin] = []
    for i, h in enumerate(hashes.value):
        hp = f"{dpath}.TSKPublicKeyHashes[{i}]"
        if not isinstance(h.value, str) or h.el.tag != "string":
            raise rd.at(h, hp, "expected a <string> (base64 SHA-256 of the SPKI)")

        def err(m: str, h: PlistNode = h, hp: str = hp) -> ConfigError:
            return rd.at(h, hp, m)

        if h.value != h.value.strip():
            raise err("spaces around the hash: TrustKit cannot decode it and throws at "
                      "start-up (parse_configuration.m lines 194-201)")
        pins.append(_hash_pin(rd, h, hp, err))
    return pins


#: 32 bytes in base64 whose last character may carry non-zero unused bits ("BBB...B=").
_LOOSE_B64 = re.compile(r"[A-Za-z0-9+/]{43}=")


def _hash_pin(rd: PlistReader, h: PlistNode, hp: str,
              err: Callable[[str], ConfigError]) -> Pin:
    """One hash of TSKPublicKeyHashes as the pin TrustKit compares. Apple's base64 decoder
    drops the two unused bits of the last character, so ``BBB...B=`` (not canonical) is the
    digest of ``BBB...A=``: TrustKit's own tests pin it (TSKPinningValidatorTests.m line 384)."""
    text = h.value
    if _LOOSE_B64.fullmatch(text):
        pin = Pin("spki", base64.b64decode(text, validate=True))
        if pin.base64 != text:
            rd.warn(h, f"{hp}: {quote(text, None)} is not canonical base64 (its last character "
                       f"carries unused bits); TrustKit reads it as {pin.base64!r}")
        return pin
    # Never build a notation ("sha256/" + text) for parse_pin: a stray leading '/' would then
    # read as curl's "sha256//" (issue 11, item 8). Every 32-byte hash matched above.
    raise err(f"{quote(text)} is not the base64 of a SHA-256 digest (44 characters ending in "
              "'='): TrustKit cannot decode it and throws at start-up "
              "(parse_configuration.m lines 194-201)")


def _report_uris(rd: PlistReader, node: PlistNode | None, dpath: str) -> list[str]:
    """The URIs of TSKReportUris, or none."""
    if node is None:
        return []
    if not isinstance(node.value, list) or not all(
        isinstance(u.value, str) and u.el.tag == "string" for u in node.value
    ):
        raise rd.at(node, f"{dpath}.TSKReportUris", "expected an <array> of <string>")
    uris = [u.value for u in node.value]
    for i, uri in enumerate(uris):
        if not is_report_uri(uri):  # the rule of policy files, so the import loads back
            raise rd.at(node.value[i], f"{dpath}.TSKReportUris[{i}]",
                        f"expected an http(s) URI without spaces, got {quote(uri, None)}")
        if not trustkit_report_uri(uri):
            raise rd.at(node.value[i], f"{dpath}.TSKReportUris[{i}]",
                        f"{quote(uri, None)} has characters outside RFC 3986: NSURL "
                        "URLWithString: returns nil for it before iOS 17 and TrustKit then "
                        "throws at start-up (parse_configuration.m lines 174-181)")
    return uris


def _expiration(rd: PlistReader, node: PlistNode | None, dpath: str) -> date | None:
    """The date of TSKExpirationDate, or None. TrustKit reads ``yyyy-MM-dd`` at 00:00 UTC
    (parse_configuration.m lines 135-140); a string it cannot read becomes no expiry at all
    there, so certpin refuses it rather than guess."""
    if node is None:
        return None
    try:
        if not isinstance(node.value, str) or node.el.tag != "string":
            raise ValueError("expected a <string> yyyy-MM-dd")
        return parse_date(node.value)
    except ValueError as exc:
        raise rd.at(node, f"{dpath}.TSKExpirationDate", str(exc)) from None
