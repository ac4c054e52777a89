"""Cost of one certpin.check() on a three-certificate chain, with and without the pin cache.

Prints medians of interleaved rounds (microseconds per check). No thresholds: figures only.
Run: .venv/bin/python bench/check.py
"""

from __future__ import annotations

import statistics
import time
from datetime import UTC, datetime

import trustme
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from certpin import PinPolicy, PinSet, check, spki_pin
from certpin.chainpins import _chain_pins


def der(pem: bytes) -> bytes:
    return x509.load_pem_x509_certificate(pem).public_bytes(serialization.Encoding.DER)


def main() -> None:
    root = trustme.CA()
    inter = root.create_child_ca()
    leaf = inter.issue_cert("pinned.test")
    chain = [der(p.bytes()) for p in leaf.cert_chain_pems] + [der(root.cert_pem.bytes())]
    other = trustme.CA()
    # the worst case for matching: only the root is pinned, after a spare pin
    policy = PinPolicy(
        {
            "*.example.com": PinSet([spki_pin(other.cert_pem.bytes())], allow_single_pin=True),
            "pinned.test": PinSet([spki_pin(other.cert_pem.bytes()), spki_pin(chain[2])]),
        }
    )
    now = datetime.now(UTC)
    n = 2000
    cached: list[float] = []
    uncached: list[float] = []
    for _ in range(7):
        check(policy, "pinned.test", chain, now=now)
        t = time.perf_counter()
        for _ in range(n):
            check(policy, "pinned.test", chain, now=now)
        cached.append((time.perf_counter() - t) / n * 1e6)
        t = time.perf_counter()
        for _ in range(n // 20):
            _chain_pins.cache_clear()
            check(policy, "pinned.test", chain, now=now)
        uncached.append((time.perf_counter() - t) / (n // 20) * 1e6)
    c, u = statistics.median(cached), statistics.median(uncached)
    print(f"check(), cached pins:   {c:8.1f} us")
    print(f"check(), uncached pins: {u:8.1f} us")
    print(f"cache speed-up:         {u / c:8.1f}x")


if __name__ == "__main__":
    main()
