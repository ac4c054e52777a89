"""Fleet health check: ``certpin check`` over N hosts against a sequential ``curl --pinnedpubkey``
loop, in the same run, behind a simulated round trip. Not run in CI.

The hosts are ``h0000.fleet.test`` ... on 127.0.0.1, all served by one TLS server (a wildcard
certificate for ``*.fleet.test`` from a trustme CA) in a separate process. The server waits
``--rtt`` milliseconds after accepting a connection before it reads the ClientHello and answers
(this kernel has no ``tc netem``), so every handshake really costs one round trip. certpin runs
in-process (:func:`certpin.health.check_policy`, the code behind ``certpin check``), with the
names resolved to 127.0.0.1 inside this process; curl gets ``--resolve NAME:PORT:127.0.0.1``.

The curl loop is sequential (one process per host, as a shell loop runs it); for large N it
runs on a sample (``--curl-sample``) and is scaled linearly, and the output says so.

Run: .venv/bin/python bench/fleet.py --hosts 100 1000 --rtt 50
"""

from __future__ import annotations

import argparse
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

SUFFIX = ".fleet.test"


# ------------------------------------------------------------------ the delaying server


def serve(cert: str, key: str, rtt: float) -> None:
    """Accept forever on 127.0.0.1; each connection: wait ``rtt``, handshake, answer, close."""
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(cert, key)
    lsock = socket.create_server(("127.0.0.1", 0), backlog=4096)
    print(lsock.getsockname()[1], flush=True)

    def one(conn: socket.socket) -> None:
        try:
            time.sleep(rtt)  # the round trip before the ServerHello
            with ctx.wrap_socket(conn, server_side=True) as tls:
                tls.settimeout(5)
                try:
                    if tls.recv(4096):  # curl sends a request; certpin sends nothing
                        tls.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n"
                                    b"Connection: close\r\n\r\n")
                except (OSError, ssl.SSLError):
                    pass
        except (OSError, ssl.SSLError):
            conn.close()

    while True:
        conn, _ = lsock.accept()
        threading.Thread(target=one, args=(conn,), daemon=True).start()


# ------------------------------------------------------------------ the clients


def _resolve_fleet_locally() -> None:
    real = socket.getaddrinfo

    def getaddrinfo(host, *args, **kwargs):  # type: ignore[no-untyped-def]
        if isinstance(host, str) and host.endswith(SUFFIX):
            host = "127.0.0.1"
        return real(host, *args, **kwargs)

    socket.getaddrinfo = getaddrinfo  # type: ignore[assignment]


def run_certpin(names: list[str], port: int, pin: str, spare: str, cafile: str,
                concurrency: int | None) -> float:
    from certpin import PinPolicy, PinSet
    from certpin.health import check_policy

    policy = PinPolicy({"*" + SUFFIX: PinSet([pin, spare])})
    start = time.perf_counter()
    reports = check_policy(policy, hosts=[f"{n}:{port}" for n in names], cafile=cafile,
                           concurrency=concurrency, public_roots=frozenset(), timeout=30)
    elapsed = time.perf_counter() - start
    bad = [r for r in reports if r.matched_pin is None]
    if bad:
        raise SystemExit(f"certpin: {len(bad)} hosts failed, e.g. {bad[0].findings}")
    return elapsed


def run_curl(names: list[str], port: int, pin: str, cafile: str) -> float:
    curl_pin = "sha256//" + pin.split("/", 1)[1]
    start = time.perf_counter()
    for name in names:
        subprocess.run(
            ["curl", "-sS", "-o", "/dev/null", "--pinnedpubkey", curl_pin, "--cacert", cafile,
             "--resolve", f"{name}:{port}:127.0.0.1", f"https://{name}:{port}/"],
            check=True,
        )
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", type=int, nargs="+", default=[100, 1000])
    parser.add_argument("--rtt", type=float, default=50.0, help="milliseconds (default 50)")
    parser.add_argument("--curl-sample", type=int, default=100,
                        help="hosts the curl loop runs on; larger N are scaled (default 100)")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[0],
                        help="certpin concurrencies to try; 0 = the default (default: 0)")
    parser.add_argument("--serve", nargs=3, metavar=("CERT", "KEY", "RTT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve[0], args.serve[1], float(args.serve[2]))
        return

    import trustme

    from certpin import Pin, spki_pin

    tmp = Path(tempfile.mkdtemp(prefix="certpin-fleet-"))
    ca = trustme.CA()
    leaf = ca.issue_cert("*" + SUFFIX)
    cert, key, cafile = tmp / "cert.pem", tmp / "key.pem", tmp / "ca.pem"
    leaf.cert_chain_pems[0].write_to_path(str(cert))
    leaf.private_key_pem.write_to_path(str(key))
    ca.cert_pem.write_to_path(str(cafile))
    pin = str(spki_pin(leaf.cert_chain_pems[0].bytes()))
    spare = str(Pin("spki", b"\x07" * 32))
    server = subprocess.Popen(
        [sys.executable, __file__, "--serve", str(cert), str(key), str(args.rtt / 1000)],
        stdout=subprocess.PIPE, text=True,
    )
    try:
        assert server.stdout is not None
        port = int(server.stdout.readline())
        _resolve_fleet_locally()
        _report(args, port, pin, spare, str(cafile))
    finally:
        server.terminate()
        server.wait()


def _report(args: argparse.Namespace, port: int, pin: str, spare: str, cafile: str) -> None:
    curl_version = subprocess.run(
        ["curl", "--version"], capture_output=True, text=True, check=True
    )
    print(f"simulated round trip {args.rtt:g} ms; {curl_version.stdout.splitlines()[0]}")
    print(f"python {sys.version.split()[0]}, {len_cpus()} CPUs")
    for n in args.hosts:
        names = [f"h{i:04d}{SUFFIX}" for i in range(n)]
        sample = names[: min(n, args.curl_sample)]
        curl_s = run_curl(sample, port, pin, cafile) * n / len(sample)
        scaled = (
            "" if len(sample) == n
            else f" (run on {len(sample)} hosts, scaled x{n / len(sample):g})"
        )
        print(f"\n{n} hosts: curl --pinnedpubkey loop {curl_s:7.2f} s, "
              f"{curl_s / n * 1000:6.1f} ms/host{scaled}")
        for c in args.concurrency:
            t = run_certpin(names, port, pin, spare, cafile, c or None)
            label = "default" if c == 0 else str(c)
            print(f"{n} hosts: certpin check, concurrency {label:>7}: {t:6.2f} s, "
                  f"{t / n * 1000:6.2f} ms/host, {curl_s / t:5.1f}x faster than the curl loop")


def len_cpus() -> int:
    import os

    return len(os.sched_getaffinity(0))


if __name__ == "__main__":
    main()
