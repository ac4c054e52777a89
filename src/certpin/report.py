"""Pin violation reports (RFC 7469 section 3): the report built from a pin event, and its body.

The TLS layer (:func:`certpin.tls.pinning_context`) hands every pin event of a pinned host to an
injected ``reporter(PinEvent)`` callable. :func:`certpin.reporter.make_reporter` builds that
callable: it turns the event into a :class:`ViolationReport`, logs report-only mismatches,
calls the application's ``on_report`` callback and queues one JSON POST per report URI of the
host's pin set.

Report body (``ViolationReport.to_json()``), RFC 7469 section 3 fields plus two of ours::

    {
      "date-time": "2026-11-29T16:05:00Z",        # RFC 3339 / ISO 8601, UTC
      "hostname": "pinned.test",                  # the host the connection was for
      "port": 443,                                # int, or null on the SSLObject (asyncio) path
      "effective-expiration-date": null,          # the pin set's expiry (UTC) or null if none
      "include-subdomains": false,
      "noted-hostname": "pinned.test",            # the policy pattern that matched the host
      "served-certificate-chain": ["-----BEGIN CERTIFICATE-----\\n..."],   # as sent, PEM
      "validated-certificate-chain": ["-----BEGIN CERTIFICATE-----\\n..."], # as verified, PEM
      "known-pins": ["pin-sha256=\\"<b64>\\"", "cert-sha256=\\"<b64>\\""],
      "certpin-version": "0.1.0",
      "validation-result": "pin-mismatch"         # or "report-only-mismatch", "certificate-invalid"
    }

``known-pins`` lists every pin of the pin set, backup pins included, in the HPKP directive form
``pin-sha256="<b64>"`` (RFC 7469 section 2.1.1). HPKP has no certificate pins; certpin writes
them as ``cert-sha256="<b64>"`` (SHA-256 of the DER certificate), a token collectors that only
know HPKP can ignore. A report holds no request data: no path, query, header or cookie ever
reaches the TLS layer.

Delivery (a queue, one thread, deduplication, rate limits, HTTP) is
:mod:`certpin.report_delivery`; :func:`certpin.reporter.make_reporter` builds the reporter.
"""

from __future__ import annotations

import json
import ssl
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from .events import PinEvent
from .hostnames import normalize_host
from .instants import iso_z
from .pins import Pin
from .policy import PinPolicy, PinSet

__all__ = ["MAX_BODY", "ViolationReport", "build_report", "pin_set_of", "report_body"]

#: Largest report body POSTed, bytes.
MAX_BODY = 64 * 1024


def _known_pin(pin: Pin) -> str:
    if pin.kind == "spki":
        return pin.hpkp
    return f'cert-sha256="{pin.base64}"'


@dataclass(frozen=True)
class ViolationReport:
    """One pin violation report: the RFC 7469 section 3 fields plus certpin's two.

    Attributes:
        date_time: when the failure happened (aware, UTC).
        hostname: the host name the connection was for (normalised: lower case, A-labels).
        port: the server port, or ``None`` where the TLS layer cannot know it (the
            ``SSLObject``/``wrap_bio`` path used by asyncio has no peer address).
        effective_expiration_date: the pin set's expiry (aware, UTC) or ``None`` if it has none.
        include_subdomains: the pin set's ``include_subdomains``.
        noted_hostname: the policy pattern that matched ``hostname`` (e.g. ``"*.example.com"``);
            the host name itself if no pin set matched.
        served_certificate_chain: the chain the server sent, PEM strings, leaf first.
        validated_certificate_chain: the chain that was verified, PEM strings, leaf first
            (empty when validation failed before a chain was built).
        known_pins: the pin set's pins (backup pins included): ``pin-sha256="<b64>"`` for SPKI
            pins, ``cert-sha256="<b64>"`` for certificate pins.
        validation_result: ``"pin-mismatch"`` (enforced, the connection failed),
            ``"report-only-mismatch"`` (the connection went on) or ``"certificate-invalid"``
            (chain or host name validation failed before the pin check).
        certpin_version: the version of certpin that made the report.
    """

    date_time: datetime
    hostname: str
    port: int | None
    effective_expiration_date: datetime | None
    include_subdomains: bool
    noted_hostname: str
    served_certificate_chain: tuple[str, ...]
    validated_certificate_chain: tuple[str, ...]
    known_pins: tuple[str, ...]
    validation_result: str
    certpin_version: str

    def to_json(self) -> dict[str, Any]:
        """The report as a JSON-ready dict with exactly the hyphenated RFC 7469 keys.

        Returns:
            ``{"date-time": str, "hostname": str, "port": int | None,
            "effective-expiration-date": str | None, "include-subdomains": bool,
            "noted-hostname": str, "served-certificate-chain": [PEM str],
            "validated-certificate-chain": [PEM str], "known-pins": [str],
            "certpin-version": str, "validation-result": str}``; times are ISO 8601 UTC
            strings ending in ``Z``.
        """
        expiry = self.effective_expiration_date
        return {
            "date-time": iso_z(self.date_time, timespec="seconds"),
            "hostname": self.hostname,
            "port": self.port,
            "effective-expiration-date": (
                iso_z(expiry, timespec="seconds") if expiry is not None else None
            ),
            "include-subdomains": self.include_subdomains,
            "noted-hostname": self.noted_hostname,
            "served-certificate-chain": list(self.served_certificate_chain),
            "validated-certificate-chain": list(self.validated_certificate_chain),
            "known-pins": list(self.known_pins),
            "certpin-version": self.certpin_version,
            "validation-result": self.validation_result,
        }


def _pem(chain: tuple[bytes, ...] | list[bytes]) -> tuple[str, ...]:
    return tuple(ssl.DER_cert_to_PEM_cert(der) for der in chain)


def pin_set_of(event: PinEvent, policy: PinPolicy) -> tuple[str, PinSet] | None:
    """``(pattern, pin set)`` that applies to ``event``: the verdict's, else the policy's match for
    the host; None when no pattern covers it or the host cannot be normalised."""
    verdict = event.verdict
    if verdict is not None and verdict.pin_set is not None:
        return (verdict.pattern or event.hostname, verdict.pin_set)
    try:
        return policy.match(event.hostname)
    except ValueError:  # PolicyError: a host name that cannot be normalised
        return None


def build_report(event: PinEvent, policy: PinPolicy) -> ViolationReport:
    """Build the violation report for one pin event.

    Args:
        event: what the TLS layer saw (:class:`certpin.verify.PinEvent`): ``kind``, host, port,
            verdict, served and verified chains (DER, leaf first), time.
        policy: the policy of the context; its pin set for the host gives ``noted-hostname``,
            ``known-pins``, ``include-subdomains`` and ``effective-expiration-date`` (the
            verdict's pin set is used when the event carries one).

    Returns:
        A :class:`ViolationReport`. If no pin set matches the host (it should not happen: the TLS
        layer reports pinned hosts only) ``known-pins`` is empty and ``noted-hostname`` is the
        host. Never raises for a well-formed event.
    """
    from .version import __version__

    matched = pin_set_of(event, policy)
    pattern: str | None
    if matched is not None:
        pattern, pin_set = matched
        known = tuple(_known_pin(p) for p in pin_set.all_pins)
        include_subdomains = pin_set.include_subdomains
        expires = pin_set.expires
    else:
        pattern, known, include_subdomains, expires = None, (), False, None
    try:
        hostname = normalize_host(event.hostname)
    except ValueError:  # PolicyError: keep the text as given (JSON escapes it)
        hostname = event.hostname
    if pattern is None:
        pattern = hostname
    verified = event.verified_chain
    if not verified and event.verdict is not None:
        verified = event.verdict.chain
    return ViolationReport(
        date_time=event.time,
        hostname=hostname,
        port=event.port,
        effective_expiration_date=expires,
        include_subdomains=include_subdomains,
        noted_hostname=pattern,
        served_certificate_chain=_pem(event.served_chain),
        validated_certificate_chain=_pem(verified),
        known_pins=known,
        validation_result=event.kind,
        certpin_version=__version__,
    )


def report_body(report: ViolationReport, max_body: int = MAX_BODY) -> bytes | None:
    """The JSON body, chains cut to their leaf if too large; ``None`` if still over ``max_body``."""
    doc = report.to_json()
    body = json.dumps(doc, separators=(",", ":")).encode("utf-8")
    if len(body) <= max_body:
        return body
    for key in ("served-certificate-chain", "validated-certificate-chain"):
        doc[key] = doc[key][:1]
        body = json.dumps(doc, separators=(",", ":")).encode("utf-8")
        if len(body) <= max_body:
            return body
    return None


#: Names that lived here before delivery moved to its own modules (issue 15): still importable
#: from ``certpin.report``, from their homes (the module named).
_MOVED = {
    "DEDUP_SECONDS": "report_throttle",
    "RATE_BURST": "report_throttle",
    "RATE_PER_MINUTE": "report_throttle",
    "QUEUE_SIZE": "report_delivery",
    "TIMEOUT": "report_delivery",
    "flush": "report_delivery",
    "redact_uri": "report_delivery",
    "make_reporter": "reporter",
}


def __getattr__(name: str) -> object:
    home = _MOVED.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(f"certpin.{home}"), name)
