"""Policy health checks: do the live servers and the pins still agree?

:func:`check_policy` connects to every pinned host of a :class:`~certpin.policy.PinPolicy` (or to
the hosts given), concurrently, with :func:`certpin.probe.fetch_chain` (a TLS handshake only: no
application byte is sent), and judges the chain that Python's :mod:`ssl` **verified** at run time,
not only the chain the server sent. Each host gets a :class:`HostReport` with a :class:`Status`
and a list of :class:`Finding` objects (a level, a stable code and a message; the vocabulary of
:mod:`certpin.findings`, shared with :mod:`certpin.lint`).

A package, one responsibility a module: :mod:`~certpin.health.model` (the report),
:mod:`~certpin.health.roots` (public root CA pins), :mod:`~certpin.health.targets` (what to
connect to), :mod:`~certpin.health.judge` (the pure judge, made of small rules: tested without
sockets) and :mod:`~certpin.health.runner` (:func:`check_policy`, the probing).

Finding codes (stable; tools may match on them):

======================  =======  ==============================================================
code                    level    meaning
======================  =======  ==============================================================
``pin-matched``         info     a pin of the set matched the verified chain (which, where)
``backup-pin-matched``  warn     only a backup pin matched: the server rotated onto a backup key
``no-match``            error    no pin of the set matched the verified chain
``served-only-match``   error    a pin matches a certificate the server sent that is not part of
                                 the verified chain (never accepted by certpin)
``validation-failed``   error    Python's ssl did not validate the chain (untrusted, expired,
                                 wrong host); pinning adds to validation, never replaces it
``connection-failed``   error    TCP connect or TLS handshake failed
``empty-chain``         error    no verified chain was available (fail closed)
``not-pinned``          error    a host given with ``hosts=`` that no pattern of the policy covers
``needs-host``          error    a wildcard pattern with no host given: nothing to connect to
``subdomains-unchecked`` info    an include-subdomains pattern: only its apex host was checked
``leaf-expiring``       warn     the leaf certificate expires within ``days`` (or has expired)
``pinned-cert-expiring`` warn    a certificate whose pin matched (not the leaf) expires within
                                 ``days`` (or has expired)
``pin-set-expiring``    warn     the pin set's ``expires`` is within ``days``
``pin-set-expired``     warn     the pin set has expired: its pins are no longer enforced
                        (error when the policy says ``expired = "reject"``: connections
                        to the host are refused)
``no-backup-pin``       warn     every pin of the set is in the chain: no pin for a key that is
                                 not deployed (RFC 7469 section 4.3)
``intermediate-only-pin`` warn   only intermediate CA keys matched (CAs replace intermediates
                                 without notice)
``only-leaf-key-expiring`` warn  the leaf expires within ``days`` and its key is the only leaf
                                 key pinned (no pin for a key outside the chain)
``weak-pin``            warn     the only matching pins are public root CA keys, shared by many
                                 sites (any certificate from that CA passes)
``report-only``         info     the pin set is report-only (``enforce = false``)
======================  =======  ==============================================================

The :class:`Status` of a host is the most severe level among its findings: ``error`` >
``warn`` > ``ok``.
"""

from __future__ import annotations

from ..findings import Finding, Level, Status
from .judge import judge
from .model import ChainCertificate, HostReport, PinMatch
from .roots import SYSTEM_CA_BUNDLE, public_root_pins
from .runner import check_policy
from .targets import parse_host_port

__all__ = [
    "SYSTEM_CA_BUNDLE",
    "ChainCertificate",
    "Finding",
    "HostReport",
    "Level",
    "PinMatch",
    "Status",
    "check_policy",
    "judge",
    "parse_host_port",
    "public_root_pins",
]
