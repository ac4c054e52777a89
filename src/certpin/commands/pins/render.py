"""How ``certpin pins`` prints one target's result: text, HPKP or curl (JSON is the dict itself).

The result dicts are built by :mod:`certpin.commands.pins` (live targets) and
:func:`certpin.commands.pins.describe.describe_data` (files); every string in them is escaped
already.
"""

from __future__ import annotations

from typing import Any

__all__ = ["curl_line", "hpkp_line", "pinned_certs", "text_block", "unpinnable_reason"]


def _head_lines(result: dict[str, Any]) -> list[str]:
    """The first lines of a target's text block: where it came from and whether it verified."""
    if "host" not in result:
        return [f"{result['target']}  (file {result['file']})"]
    where = f"[{result['host']}]" if ":" in result["host"] else result["host"]
    sni = result["server_name"] or "(none: IP address)"
    address = f"{where}:{result['port']}"
    head = result["target"] if result["target"] == address else (
        f"{result['target']}  ->  {address}"
    )
    lines = [f"{head}  server name {sni}  {result['tls_version'] or ''}".rstrip()]
    if result["verified"]:
        lines.append("  chain verified against the trust store; pinning sees the chain below")
    else:
        lines.append(
            f"  NOT VERIFIED ({result['verify_error']}): the certificates the server sent, "
            "which nothing vouches for"
        )
    return lines


def text_block(result: dict[str, Any]) -> str:
    """One target as text: a header, then a block per certificate (or key, or CSR)."""
    lines = _head_lines(result)
    for i, c in enumerate(result["certificates"]):
        mark = ""
        if result.get("verified") and not c.get("in_verified_chain", True):
            mark = "  (served only: not in the verified chain, pinning never sees it)"
        elif c.get("in_verified_chain") and not c.get("served", True):
            mark = "  (from the trust store, not sent by the server)"
        lines.append(f"  [{i}] {c['position']}{mark}")
        if c.get("role") is not None:
            lines.append(f"      role       {c['role']}")
        if c.get("subject") is not None:
            lines.append(f"      subject    {c['subject']}")
        if c.get("issuer") is not None:
            lines.append(f"      issuer     {c['issuer']}")
        if c.get("not_after") is not None:
            lines.append(f"      not after  {c['not_after']}")
        bits = f" ({c['key_bits']} bits)" if c.get("key_bits") else ""
        lines.append(f"      key        {c['key_type']}{bits}")
        lines.append(f"      spki pin   {c['spki_pin'] or '(none: ' + c['spki_error'] + ')'}")
        if c.get("cert_pin") is not None:
            lines.append(f"      cert pin   {c['cert_pin']}")
    return "\n".join(lines)


def _seen_by_pinning(result: dict[str, Any]) -> list[dict[str, Any]]:
    """The certificates pinning can see: drop served-only ones of a verified live chain."""
    certs: list[dict[str, Any]] = result["certificates"]
    if result.get("verified"):
        certs = [c for c in certs if c.get("in_verified_chain")]
    return certs


def pinned_certs(result: dict[str, Any], fmt: str) -> list[dict[str, Any]]:
    """The certificates whose SPKI pins the ``hpkp`` or ``curl`` line holds.

    curl checks the leaf's key only (curl/curl ``lib/vtls/openssl.c`` at 5c61e16, lines
    4397-4420 and 4795: ``ossl_pkp_pin_peer_pubkey`` hashes the SubjectPublicKeyInfo of
    ``SSL_get1_peer_certificate``, the end-entity certificate), so for a live target its line
    holds the leaf's pin alone; for a file, every certificate or key in it.
    """
    certs = _seen_by_pinning(result)
    if fmt == "curl" and "host" in result:
        certs = [c for c in certs if c["position"] == "leaf"][:1]
    return [c for c in certs if c.get("spki_pin")]


def unpinnable_reason(result: dict[str, Any], fmt: str) -> str:
    """Why the ``hpkp``/``curl`` line of ``result`` would be empty, as one line."""
    certs = _seen_by_pinning(result)
    live_curl = fmt == "curl" and "host" in result
    if live_curl:
        certs = [c for c in certs if c["position"] == "leaf"][:1]
    why = next((c["spki_error"] for c in certs if c.get("spki_error")), "no certificate")
    what = ("no SPKI pin for the leaf certificate, the only key curl checks" if live_curl
            else f"no SPKI pin for {fmt}: no certificate or key here has one")
    return (f"{what} ({why}); its certificate pins (cert-sha256) are in --format json or "
            "text, for a policy that takes them")


def hpkp_line(result: dict[str, Any]) -> str:
    """``pin-sha256="<b64>"; ...`` for the chain pinning sees (RFC 7469 section 2.1)."""
    pins = [c["spki_pin"].split("/", 1)[1] for c in pinned_certs(result, "hpkp")]
    return "; ".join(f'pin-sha256="{b64}"' for b64 in pins)


def curl_line(result: dict[str, Any]) -> str:
    """``sha256//<b64>[;sha256//<b64>...]`` for ``curl --pinnedpubkey``."""
    return ";".join(
        "sha256//" + c["spki_pin"].split("/", 1)[1] for c in pinned_certs(result, "curl")
    )
