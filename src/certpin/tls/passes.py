"""The remembered-pass cache of a pinning context: a repeat handshake to a host whose pins passed
skips the DER conversion and the pin computation.

A pass is remembered per host name as the OpenSSL certificate object that matched and its
position in the verified chain (a host that no pattern covers: the name alone). The next handshake
to that host passes without looking at pins when the verified chain has an equal certificate
(OpenSSL's ``X509_cmp``: same SHA-1 of the whole certificate and same TBSCertificate, so the same
SubjectPublicKeyInfo) at that position, the session is fresh and the pin set has not expired;
anything else gets the full check. Failures, report-only mismatches and expired pin sets are
never remembered.
"""

from __future__ import annotations

import time
from typing import Any, Final

from ..verify import Outcome, Verdict

__all__ = ["MATCHED_CERTS_PER_HOST", "VERDICT_CACHE_SIZE", "Remembered", "RememberedPasses"]

#: Host names whose passing verdict is remembered per context (see
#: :meth:`RememberedPasses.remember`); the cache starts over when full.
VERDICT_CACHE_SIZE: Final = 256

#: Certificates remembered per host name as having matched one of its pins.
MATCHED_CERTS_PER_HOST: Final = 8

#: One host's entry: (valid until in time.time() seconds or None for ever; the (position,
#: certificate) pairs of the verified chains that matched its pins, or None for a host no
#: pattern covers).
Remembered = tuple[float | None, tuple[tuple[int, Any], ...] | None]


class RememberedPasses(dict[str, Remembered]):
    """Host name -> :data:`Remembered`: the passes a pinning context remembers.

    A :class:`dict` (the hot path reads it with the C-level ``dict.get``), with :meth:`remember`
    to add a pass and :meth:`covers` to test a new connection against one.
    """

    def remember(self, hostname: str, verdict: Verdict, certs: tuple[Any, ...]) -> None:
        """Remember a passing verdict that only time can change (by
        :func:`certpin.tls.checks.postcheck`).

        A ``matched`` verdict depends only on (policy, host name, verified chain) and the policy
        is immutable; so later connections to ``hostname`` whose verified chain has, at the same
        position, the certificate that matched (``certs[verdict.matched_position]``, an
        ``_ssl.Certificate``) pass without converting the chain to DER and computing pins,
        until the pin set's ``expires``. A ``not-pinned`` verdict depends on the host name
        alone. Failures, report-only mismatches and expired pin sets are never remembered:
        they are checked (and reported) every time. At most :data:`VERDICT_CACHE_SIZE` host
        names and :data:`MATCHED_CERTS_PER_HOST` certificates per host name.

        Args:
            hostname: the connection's server name, as OpenSSL holds it.
            verdict: the passing :class:`certpin.verify.Verdict` for it.
            certs: the verified chain as returned by
                :func:`certpin.tls.chain.verified_certificates`.
        """
        passes = self
        entry: Remembered
        if verdict.outcome == Outcome.NOT_PINNED:
            entry = (None, None)
        elif verdict.outcome == Outcome.MATCHED and verdict.matched_position is not None:
            position = verdict.matched_position
            pin_set = verdict.pin_set
            expires = pin_set.expires if pin_set is not None else None
            known = passes.get(hostname)
            kept = known[1] if known is not None and known[1] is not None else ()
            match = (position, certs[position])
            if match in kept:
                return
            entry = (
                None if expires is None else expires.timestamp(),
                (*kept[-(MATCHED_CERTS_PER_HOST - 1) :], match),
            )
        else:
            return
        if len(passes) >= VERDICT_CACHE_SIZE and hostname not in passes:
            passes.clear()
        passes[hostname] = entry

    @staticmethod
    def covers(inner: Any, remembered: Remembered) -> bool:
        """Right after a handshake: True when a pass remembered for the host covers the connection.

        The fast path of the pin check, for a host name whose pins already passed on this context
        (:meth:`remember`), after :func:`certpin.tls.checks.precheck`'s checks passed just
        before the handshake. True when the session was not resumed, the remembered pass has not
        expired, the verified chain is not empty and (for a pinned host) a certificate that matched
        before is at the same position of the verified chain. ``_ssl.Certificate`` objects compare
        with OpenSSL's ``X509_cmp`` (SHA-1 of the whole certificate, then the TBSCertificate bytes),
        so equal means the same certificate with the same SubjectPublicKeyInfo: the same pins.
        False sends the connection to the full check (:func:`certpin.tls.checks.postcheck`),
        which decides, reports and raises. The session check is defence in depth: OpenSSL keeps
        no verified chain for a resumed session (tests/tls/test_tls_attacks.py checks that), so
        the empty chain would send it to the full check anyway.

        :class:`~certpin.tls.hooks.PinnedSSLObject` calls this;
        :meth:`~certpin.tls.hooks.PinnedSSLSocket.do_handshake` runs the same
        steps inline (a call right after a handshake costs microseconds, see there).

        Args:
            inner: the connection's ``_ssl._SSLSocket`` (``conn._sslobj``).
            remembered: ``(valid until in time.time() seconds or None, ((position, certificate),
                ...) or None for a host no pattern covers)``.
        """
        until, matches = remembered
        if inner.session_reused or (until is not None and until <= time.time()):
            return False
        try:
            chain = inner.get_verified_chain()
        except AttributeError:  # pragma: no cover - a future Python without it: the full check
            return False
        if not chain:
            return False
        if matches is None:  # no pattern covers the host
            return True
        for position, cert in matches:  # noqa: SIM110 (a loop: any() and its generator cost more)
            if position < len(chain) and chain[position] == cert:
                return True
        return False
