"""What a pin failure costs the failing connection when violation reports are on.

The reporter runs on the handshaking thread: it builds the report (DER to PEM of a chain of three
certificates) and queues a POST. This prints medians of interleaved rounds (microseconds per
event) for: on_report only; a report URI, first occurrence (deduplication key, rate limiter,
queue); a report URI, repeated identical event (deduplicated). The collector is a closed port on
127.0.0.1, so nothing is sent anywhere. No thresholds: figures only.
Run: .venv/bin/python bench/report.py
"""

from __future__ import annotations

import logging
import socket
import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime

import trustme
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from certpin import PinEvent, PinPolicy, PinSet, spki_pin
from certpin.reporter import make_reporter


def der(pem: bytes) -> bytes:
    return x509.load_pem_x509_certificate(pem).public_bytes(serialization.Encoding.DER)


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def main() -> None:
    logging.getLogger("certpin").setLevel(logging.CRITICAL)  # figures only on stdout
    root = trustme.CA()
    leaf = root.create_child_ca().issue_cert("pinned.test")
    chain = (*(der(p.bytes()) for p in leaf.cert_chain_pems), der(root.cert_pem.bytes()))
    pins = [spki_pin(trustme.CA().cert_pem.bytes()), spki_pin(trustme.CA().cert_pem.bytes())]
    uri = f"http://127.0.0.1:{closed_port()}/r"
    callback_only = make_reporter(PinPolicy({"pinned.test": PinSet(pins)}), lambda r: None)
    with_uri = make_reporter(PinPolicy({"pinned.test": PinSet(pins, report_uris=[uri])}))
    assert callback_only is not None and with_uri is not None

    def event(port: int) -> PinEvent:
        return PinEvent(kind="pin-mismatch", hostname="pinned.test", port=port, verdict=None,
                        served_chain=chain[:2], verified_chain=chain, error="x",
                        time=datetime.now(UTC))

    fresh_port = iter(range(1, 10**9))
    cases: dict[str, Callable[[], None]] = {
        "on_report only": lambda: callback_only(event(443)),
        "report URI, first occurrence": lambda: with_uri(event(next(fresh_port))),
        "report URI, repeated (deduplicated)": lambda: with_uri(event(443)),
    }
    rounds, n = 15, 200
    figures: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(rounds):
        for name, case in cases.items():
            start = time.perf_counter()
            for _ in range(n):
                case()
            figures[name].append((time.perf_counter() - start) / n * 1e6)
    for name, values in figures.items():
        print(f"{name:40s} {statistics.median(values):8.1f} us/event")
    print("(first occurrences beyond the rate limit are dropped before the queue: "
          "that is the figure an attacker varying chains gets)")


if __name__ == "__main__":
    main()
