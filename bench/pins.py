"""Pins per second over the whole certifi bundle: certpin vs the tutorials' openssl pipeline.

certpin: ``spki_pin(cert)`` for every certificate of the bundle, parsed once (the loading time is
reported separately). openssl: one ``openssl x509 -pubkey | openssl pkey -pubin -outform der |
openssl dgst -sha256 -binary | base64`` pipeline per certificate, as tutorials show, run on a
sample and extrapolated to the whole bundle.

Usage: python bench/pins.py [--rounds N] [--sample N]
"""

from __future__ import annotations

import argparse
import subprocess
import time
from pathlib import Path

import certifi
from cryptography.hazmat.primitives import serialization

from certpin import load_certificates, spki_pin

PIPELINE = (
    "openssl x509 -pubkey -noout | openssl pkey -pubin -outform der | "
    "openssl dgst -sha256 -binary | base64"
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=20, help="passes over the bundle (certpin)")
    parser.add_argument("--sample", type=int, default=20, help="certificates run through openssl")
    args = parser.parse_args()

    data = Path(certifi.where()).read_bytes()
    t0 = time.perf_counter()
    certs = load_certificates(data)
    load_s = time.perf_counter() - t0
    n = len(certs)

    t0 = time.perf_counter()
    for _ in range(args.rounds):
        pins = [spki_pin(c) for c in certs]
    certpin_s = (time.perf_counter() - t0) / args.rounds
    certpin_rate = n / certpin_s
    load_and_pin_rate = n / (load_s + certpin_s)

    step = max(1, n // args.sample)
    sample = certs[::step][: args.sample]
    t0 = time.perf_counter()
    for cert in sample:
        out = subprocess.run(
            ["sh", "-c", PIPELINE],
            input=cert.public_bytes(serialization.Encoding.PEM),
            capture_output=True, check=True,
        ).stdout.decode().strip()
        assert out == spki_pin(cert).base64, "openssl and certpin disagree"
    openssl_s = time.perf_counter() - t0
    openssl_rate = len(sample) / openssl_s

    print(f"certifi bundle: {n} certificates ({len(data)} bytes), {len(set(pins))} distinct keys")
    print(f"certpin spki_pin:        {certpin_rate:12,.0f} pins/s  "
          f"({certpin_s * 1000:.2f} ms for the bundle, mean of {args.rounds} rounds)")
    print(f"certpin load + pin:      {load_and_pin_rate:12,.0f} pins/s  "
          f"(parsing the PEM bundle: {load_s * 1000:.2f} ms)")
    print(f"openssl pipeline:        {openssl_rate:12,.1f} pins/s  "
          f"({len(sample)} certificates, {openssl_s:.2f} s; "
          f"whole bundle ~{n / openssl_rate:.1f} s)")
    print(f"ratio certpin / openssl: {certpin_rate / openssl_rate:12,.0f}x  "
          f"(load + pin: {load_and_pin_rate / openssl_rate:,.0f}x); every sampled pin agreed")


if __name__ == "__main__":
    main()
