"""Loopback TLS handshake cost: plain verified context vs pinning context vs leaf-hash check.

One TLS server on 127.0.0.1 in its own process (so it shares no GIL with the client being
measured; a trustme chain root -> intermediate -> leaf), three client variants, in one run,
interleaved round by round (the order rotates each round), each
handshake timed on its own; medians are printed, with ratios.

* ``plain``: ``ssl.create_default_context(cadata=<root>)``: validation only.
* ``pinning``: ``certpin.create_ssl_context(policy, cadata=<root>)`` with the host pinned to
  the root key (the last certificate: the check computes pins for the whole 3-certificate chain).
* ``leaf-hash``: what urllib3's ``assert_fingerprint`` does: a verifying context with
  ``check_hostname`` off, then SHA-256 of ``getpeercert(binary_form=True)`` compared in
  constant time after the handshake.

Each handshake = TCP connect + TLS handshake + (check) + close. Then the per-handshake pin check
alone (:func:`certpin.check` on the 3-certificate verified chain) with the pin cache cleared
before each call vs warm.

Run: ``.venv/bin/python bench/handshake.py [--rounds 30] [--per-round 20] [--key rsa|ecdsa]``.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import hmac
import multiprocessing
import socket
import ssl
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

import trustme
from cryptography import x509
from cryptography.hazmat.primitives import serialization

import certpin
from certpin import verify
from certpin.tls import verified_chain

HOST = "bench.pinned.test"


def _serve_forever(chain_pem: bytes, key_pem: bytes, ready: Any) -> None:
    """The server, in its own process (no GIL shared with the client being measured)."""
    import tempfile

    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    with tempfile.NamedTemporaryFile(suffix=".pem") as f:
        f.write(key_pem + chain_pem)
        f.flush()
        ctx.load_cert_chain(f.name)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    ready.send(sock.getsockname()[1])
    while True:  # one connection at a time: handshake, wait for the client to close
        raw, _ = sock.accept()
        raw.settimeout(10)
        with contextlib.suppress(OSError), ctx.wrap_socket(raw, server_side=True) as conn:
            conn.recv(1)
        raw.close()


class Server:
    """The TLS server in a child process; ``port`` once started."""

    def __init__(self, chain_pem: bytes, key_pem: bytes) -> None:
        mp = multiprocessing.get_context("spawn")
        parent, child = mp.Pipe()
        self.proc = mp.Process(target=_serve_forever, args=(chain_pem, key_pem, child),
                               daemon=True)
        self.proc.start()
        self.port: int = parent.recv()

    def close(self) -> None:
        self.proc.terminate()
        self.proc.join(10)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--rounds", type=int, default=30)
    ap.add_argument("--per-round", type=int, default=20)
    ap.add_argument("--key", choices=["ecdsa", "rsa"], default="ecdsa")
    args = ap.parse_args(argv)

    key_type = trustme.KeyType.RSA if args.key == "rsa" else trustme.KeyType.ECDSA
    root = trustme.CA(key_type=key_type)
    inter = root.create_child_ca(key_type=key_type)
    leaf = inter.issue_cert(HOST, key_type=key_type)
    server = Server(b"".join(p.bytes() for p in leaf.cert_chain_pems),
                    leaf.private_key_pem.bytes())

    cadata = root.cert_pem.bytes().decode()
    root_cert = x509.load_pem_x509_certificate(root.cert_pem.bytes())
    policy = certpin.PinPolicy(
        {HOST: certpin.PinSet([certpin.spki_pin(root_cert)], allow_single_pin=True)}
    )
    plain = ssl.create_default_context(cadata=cadata)
    pinning = certpin.create_ssl_context(policy, cadata=cadata)
    fp_ctx = ssl.create_default_context(cadata=cadata)
    fp_ctx.check_hostname = False  # urllib3 does this when assert_fingerprint is set
    leaf_der = leaf.cert_chain_pems[0].bytes()
    expected_fp = hashlib.sha256(
        x509.load_pem_x509_certificate(leaf_der).public_bytes(serialization.Encoding.DER)
    ).digest()

    def handshake(ctx: ssl.SSLContext, fingerprint: bool = False) -> float:
        t0 = time.perf_counter()
        raw = socket.create_connection(("127.0.0.1", server.port))
        with ctx.wrap_socket(raw, server_hostname=HOST) as tls:
            if fingerprint:
                der = tls.getpeercert(binary_form=True)
                assert der is not None
                if not hmac.compare_digest(hashlib.sha256(der).digest(), expected_fp):
                    raise ssl.SSLError("fingerprint mismatch")
        return time.perf_counter() - t0

    variants: dict[str, Callable[[], float]] = {
        "plain": lambda: handshake(plain),
        "pinning": lambda: handshake(pinning),
        "leaf-hash": lambda: handshake(fp_ctx, fingerprint=True),
    }
    names = list(variants)
    for name in names:  # warm-up (imports, caches, server threads)
        for _ in range(5):
            variants[name]()
    samples: dict[str, list[float]] = {n: [] for n in names}
    for r in range(args.rounds):
        # Interleave finely: one handshake of each variant in turn, order rotating per round.
        order = names[r % 3 :] + names[: r % 3]
        for _ in range(args.per_round):
            for name in order:
                samples[name].append(variants[name]())

    # The pin check alone on the 3-certificate verified chain.
    raw = socket.create_connection(("127.0.0.1", server.port))
    with plain.wrap_socket(raw, server_hostname=HOST) as tls:
        chain = verified_chain(tls)
    server.close()
    assert len(chain) == 3, chain

    def timed(fn: Callable[[], object], n: int) -> list[float]:
        out = []
        for _ in range(n):
            t0 = time.perf_counter()
            fn()
            out.append(time.perf_counter() - t0)
        return out

    def cold() -> float:
        verify._chain_pins.cache_clear()
        t0 = time.perf_counter()
        verdict = certpin.check(policy, HOST, chain)
        dt_ = time.perf_counter() - t0
        assert verdict.passed
        return dt_

    cold_s = [cold() for _ in range(2000)]
    certpin.check(policy, HOST, chain)
    warm_s = timed(lambda: certpin.check(policy, HOST, chain), 20000)

    host_chain = tuple(chain)
    pinning._certpin_check(HOST, host_chain)  # type: ignore[attr-defined]
    hit_s = timed(lambda: pinning._certpin_check(HOST, host_chain), 20000)  # type: ignore[attr-defined]

    med = {n: statistics.median(s) for n, s in samples.items()}
    n_each = args.rounds * args.per_round
    print(f"Python {sys.version.split()[0]}, {ssl.OPENSSL_VERSION}, {args.key} chain of 3, "
          f"TLS {'1.3' if ssl.HAS_TLSv1_3 else '1.2'}; {args.rounds} interleaved rounds x "
          f"{args.per_round} = {n_each} handshakes per variant")
    for n in names:
        q = statistics.quantiles(samples[n], n=4)
        print(f"  {n:<10} median {med[n] * 1e6:8.1f} us   (quartiles {q[0] * 1e6:.1f} .. "
              f"{q[2] * 1e6:.1f} us)")
    print(f"  ratio pinning / plain     {med['pinning'] / med['plain']:.3f}   (target <= 1.02)")
    print(f"  ratio pinning / leaf-hash {med['pinning'] / med['leaf-hash']:.3f}   (target <= 1)")
    print(f"  ratio leaf-hash / plain   {med['leaf-hash'] / med['plain']:.3f}")
    print("pin check alone (certpin.check on the verified 3-certificate chain, match at the root):")
    print(f"  cache cleared before each call: median {statistics.median(cold_s) * 1e6:7.1f} us")
    print(f"  warm cache:                     median {statistics.median(warm_s) * 1e6:7.1f} us")
    print(f"  verdict cache hit (tls layer):  median {statistics.median(hit_s) * 1e6:7.1f} us")
    print("  (the handshake figures above include every check the hook makes; the pin check runs")
    print("   right after the handshake, when CPU caches are cold, so it costs more than here)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
