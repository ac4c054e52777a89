"""Loopback TLS handshake cost: plain verified context vs pinning context vs leaf-hash check.

One TLS server on 127.0.0.1 in its own process (so it shares no GIL with the client being
measured; a trustme chain root -> intermediate -> leaf), client variants in one run, interleaved
(one handshake of each in turn, in a fresh random order each time), each handshake timed on its
own, wall clock and client CPU; medians are printed, with ratios and a bootstrap 95% interval for
each ratio. With two or more CPUs the client and the server are pinned to different CPUs (less
scheduler noise).

* ``plain``: ``ssl.create_default_context(cadata=<root>)``: validation only.
* ``pinning``: ``certpin.create_ssl_context(policy, cadata=<root>)`` with the host pinned to
  the root key (the last certificate of the 3-certificate verified chain).
* ``leaf-hash``: what urllib3 does for ``assert_fingerprint``: a verifying context with
  ``check_hostname`` off (urllib3 switches it off when a fingerprint is given), then urllib3's own
  ``urllib3.util.ssl_.assert_fingerprint(sock.getpeercert(binary_form=True), "<hex SHA-256>")``.

With ``--extra``, two more variants for information (interleaved with the three above, which
changes every figure by a few microseconds, so the targets are read from a run without them):

* ``leaf-hash-min``: the same context as ``leaf-hash``, with the check reduced to its least:
  ``hmac.compare_digest(sha256(getpeercert(True)).digest(), <precomputed digest>)``.
* ``leaf-hash+host``: urllib3's check on the ``plain`` context, i.e. with the host name verified
  by OpenSSL as the pinning context does.

Each handshake = TCP connect + TLS handshake + (check) + close. The pinning context checks the
whole verified chain (and the host name, which OpenSSL verifies for it); after the first
connection to a host it remembers the certificate that matched (see certpin.tls), which is the
steady state measured here. Then the per-handshake pin check alone (:func:`certpin.check` on the
3-certificate verified chain) with the pin cache cleared before each call vs warm.

Run: ``.venv/bin/python bench/handshake.py [--rounds 100] [--per-round 20] [--key rsa|ecdsa]
[--extra]``
(rounds x per-round handshakes per variant; ``--rounds 300`` for tighter intervals).
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import hmac
import multiprocessing
import os
import random
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
from certpin import chainpins
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


def _pin_cpus(server_pid: int | None) -> str:
    """Pin this process to one CPU and the server to another, where the OS allows it."""
    try:
        cpus = sorted(os.sched_getaffinity(0))
        if len(cpus) < 2 or server_pid is None:
            return "not pinned to CPUs (fewer than 2)"
        os.sched_setaffinity(0, {cpus[0]})
        os.sched_setaffinity(server_pid, {cpus[1]})
        return f"client on CPU {cpus[0]}, server on CPU {cpus[1]}"
    except (AttributeError, OSError):  # not Linux
        return "not pinned to CPUs"


def _ratio_interval(a: list[float], b: list[float], n: int = 400) -> tuple[float, float]:
    """Bootstrap 95% interval of median(a) / median(b)."""
    rng = random.Random(7)
    ratios = sorted(
        statistics.median(rng.choices(a, k=len(a))) / statistics.median(rng.choices(b, k=len(b)))
        for _ in range(n)
    )
    return ratios[int(0.025 * n)], ratios[int(0.975 * n) - 1]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--rounds", type=int, default=100)
    ap.add_argument("--per-round", type=int, default=20)
    ap.add_argument("--key", choices=["ecdsa", "rsa"], default="ecdsa")
    ap.add_argument("--extra", action="store_true",
                    help="also run the informational variants leaf-hash-min and leaf-hash+host "
                    "(they change the interleaving, and with it every figure by a few us)")
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
    leaf_der = x509.load_pem_x509_certificate(leaf.cert_chain_pems[0].bytes()).public_bytes(
        serialization.Encoding.DER
    )
    expected_fp = hashlib.sha256(leaf_der).digest()
    fingerprint_hex = ":".join(f"{b:02X}" for b in expected_fp)  # as users pass it to urllib3
    try:
        from urllib3.util.ssl_ import assert_fingerprint
    except ImportError:  # pragma: no cover - urllib3 is in certpin's test extras
        sys.exit("bench/handshake.py needs urllib3 (pip install -e '.[test]')")
    cpus = _pin_cpus(server.proc.pid)

    def handshake(ctx: ssl.SSLContext, check: Callable[[ssl.SSLSocket], None] | None = None
                  ) -> tuple[float, float]:
        """One handshake: (wall-clock seconds, this thread's CPU seconds)."""
        t0, c0 = time.perf_counter(), time.thread_time()
        raw = socket.create_connection(("127.0.0.1", server.port))
        with ctx.wrap_socket(raw, server_hostname=HOST) as tls:
            if check is not None:
                check(tls)
        return time.perf_counter() - t0, time.thread_time() - c0

    def urllib3_leaf_hash(tls: ssl.SSLSocket) -> None:
        assert_fingerprint(tls.getpeercert(binary_form=True), fingerprint_hex)

    def minimal_leaf_hash(tls: ssl.SSLSocket) -> None:
        der = tls.getpeercert(binary_form=True)
        assert der is not None
        if not hmac.compare_digest(hashlib.sha256(der).digest(), expected_fp):
            raise ssl.SSLError("fingerprint mismatch")

    variants: dict[str, Callable[[], tuple[float, float]]] = {
        "plain": lambda: handshake(plain),
        "pinning": lambda: handshake(pinning),
        "leaf-hash": lambda: handshake(fp_ctx, urllib3_leaf_hash),
    }
    if args.extra:
        variants["leaf-hash-min"] = lambda: handshake(fp_ctx, minimal_leaf_hash)
        variants["leaf-hash+host"] = lambda: handshake(plain, urllib3_leaf_hash)
    names = list(variants)
    for name in names:  # warm-up (imports, caches, the remembered pass)
        for _ in range(20):
            variants[name]()
    samples: dict[str, list[float]] = {n: [] for n in names}
    cpu: dict[str, list[float]] = {n: [] for n in names}
    rng = random.Random(1)
    for _ in range(args.rounds * args.per_round):
        # Interleave finely: one handshake of each variant in turn, in a fresh random order each
        # time, so every variant follows every other equally often (the server, one connection
        # at a time, may still be closing the previous one).
        order = rng.sample(names, len(names))
        for name in order:
            wall, used = variants[name]()
            samples[name].append(wall)
            cpu[name].append(used)

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
        chainpins._chain_pins.cache_clear()
        t0 = time.perf_counter()
        verdict = certpin.check(policy, HOST, chain)
        dt_ = time.perf_counter() - t0
        assert verdict.passed
        return dt_

    cold_s = [cold() for _ in range(2000)]
    certpin.check(policy, HOST, chain)
    warm_s = timed(lambda: certpin.check(policy, HOST, chain), 20000)

    # The tls layer's steady state: the pass remembered for the host (see certpin.tls).
    assert pinning._certpin_passes  # type: ignore[attr-defined]

    med = {n: statistics.median(s) for n, s in samples.items()}
    n_each = args.rounds * args.per_round
    print(f"Python {sys.version.split()[0]}, {ssl.OPENSSL_VERSION}, {args.key} chain of 3, "
          f"TLS {'1.3' if ssl.HAS_TLSv1_3 else '1.2'}; {args.rounds} interleaved rounds x "
          f"{args.per_round} = {n_each} handshakes per variant; {cpus}")
    for n in names:
        q = statistics.quantiles(samples[n], n=4)
        print(f"  {n:<14} median {med[n] * 1e6:8.1f} us   (quartiles {q[0] * 1e6:.1f} .. "
              f"{q[2] * 1e6:.1f} us);  client CPU median {statistics.median(cpu[n]) * 1e6:7.1f} us")

    def ratio(data: dict[str, list[float]], a: str, b: str, target: str) -> None:
        low, high = _ratio_interval(data[a], data[b])
        value = statistics.median(data[a]) / statistics.median(data[b])
        print(f"  ratio {a + ' / ' + b:<25} {value:.3f}   (95% interval "
              f"{low:.3f} .. {high:.3f}){target}")

    print("wall-clock time per handshake:")
    ratio(samples, "pinning", "plain", "   target <= 1.02")
    ratio(samples, "pinning", "leaf-hash", "   target <= 1")
    for extra in names[3:]:
        ratio(samples, "pinning", extra, "")
    ratio(samples, "leaf-hash", "plain", "")
    print("client CPU time per handshake (less noisy; the server's share left out):")
    ratio(cpu, "pinning", "plain", "")
    ratio(cpu, "pinning", "leaf-hash", "")
    for extra in names[3:]:
        ratio(cpu, "pinning", extra, "")
    print("pin check alone (certpin.check on the verified 3-certificate chain, match at the root):")
    print(f"  cache cleared before each call: median {statistics.median(cold_s) * 1e6:7.1f} us")
    print(f"  warm cache:                     median {statistics.median(warm_s) * 1e6:7.1f} us")
    print("  (the handshake figures above include every check the hook makes; after the first")
    print("   connection to a host the hook recognises the certificate that matched and skips")
    print("   this check, see certpin.tls)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
