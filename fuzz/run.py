"""Run certpin's fuzz targets for a fixed time budget.

    python fuzz/run.py --minutes 30                   # every target, the budget split evenly
    python fuzz/run.py --seconds 60 --targets pins,hosts --seed 7
    python fuzz/run.py --minutes 3 --summary fuzz/RUNS.md   # append a summary table

Engines: ``atheris`` (coverage-guided libFuzzer, ``pip install 'certpin[fuzz]'``; one child
process per target) where it is installed, else ``mutate``: a seeded mutational fuzzer over the
same corpus (bit flips, byte runs, splices, deep nesting, long digit runs, odd encodings).
Each target starts from ``fuzz/corpus/<target>/``; inputs atheris finds interesting go to a
scratch folder, not the repository. A crash (an undocumented exception, a failed property, an
input slower than ``--max-input-seconds``, or a ~1 MiB input of valid entries that takes
more than 15 times that for the whole target) is saved under ``fuzz/crashes/<target>/`` and makes
the exit status 1; turn it into ``fuzz/corpus/<target>/regress-<name>`` and a test.

Known crashes fixed elsewhere (``targets.KNOWN``) are counted, not failures.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import re
import subprocess
import sys
import tempfile
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
CRASHES = os.path.join(HERE, "crashes")


def _corpus(target: str) -> list[bytes]:
    folder = os.path.join(HERE, "corpus", target)
    out = []
    for name in sorted(os.listdir(folder)):
        with open(os.path.join(folder, name), "rb") as f:
            out.append(f.read())
    return out


def _save_crash(target: str, data: bytes, why: str) -> str:
    folder = os.path.join(CRASHES, target)
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, "crash-" + hashlib.sha1(data).hexdigest()[:16])  # noqa: S324
    with open(path, "wb") as f:
        f.write(data)
    with open(path + ".txt", "w") as f:
        f.write(why)
    return path


# --- the built-in mutator ------------------------------------------------------------------

_TOKENS = [
    b"<array>" * 80, b"<dict>" * 80, b"[" * 3000, b"{" * 3000, b"9" * 4400, b"\xed\xa0\x80",
    b'<?xml version="1.0" encoding="utf-7"?>', b'encoding="x"', b"<!DOCTYPE x>", b"\x00",
    b"xn--", b"\xe2\x80\x8d", b"\xc3\x9f", b"-----BEGIN CERTIFICATE-----\n", b"\r\n",
    b"-----END CERTIFICATE-----\n", b"sha256/", b'pin-sha256="', b"=", b"*.", b"]", b":0",
    b"\xff\xfe", b"\x30\x82\xff\xff", b"\x30\x80", b"\xef\xbc\x8e",
]


def _mutate(rng: random.Random, seeds: list[bytes]) -> bytes:
    data = bytearray(rng.choice(seeds))
    for _ in range(rng.randint(1, 4)):
        op = rng.randrange(7)
        pos = rng.randint(0, len(data))
        if op == 0 and data:  # flip bits
            i = rng.randrange(len(data))
            data[i] ^= 1 << rng.randrange(8)
        elif op == 1 and data:  # delete a run
            del data[pos : pos + rng.randint(1, 16)]
        elif op == 2:  # insert random bytes
            data[pos:pos] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 8)))
        elif op == 3:  # insert a token
            data[pos:pos] = rng.choice(_TOKENS)
        elif op == 4:  # splice another seed
            other = rng.choice(seeds)
            start = rng.randint(0, len(other))
            data[pos:] = other[start:]
        elif op == 5 and data:  # duplicate a run
            chunk = data[pos : pos + rng.randint(1, 64)]
            data[pos:pos] = chunk * rng.randint(1, 50)
        elif op == 6 and data:  # set a byte to an interesting value
            data[rng.randrange(len(data))] = rng.choice([0, 0x7F, 0x80, 0xFF, 0x30, 0x3C])
    return bytes(data[: 1 << 20])


def run_mutate(target: str, seconds: float, seed: int, max_input: float) -> dict[str, object]:
    import targets

    fn = targets.TARGETS[target]
    known = targets.KNOWN.get(target, ())
    rng = random.Random(f"{seed}:{target}")  # noqa: S311 - reproducible, not secret
    seeds = _corpus(target) or [b""]
    stats: dict[str, object] = {"target": target, "engine": "mutate", "inputs": 0,
                                "crashes": 0, "known": 0, "slowest": 0.0}
    crashes: list[str] = []
    end = time.monotonic() + seconds
    queue = list(seeds)  # every seed once, then mutants
    while time.monotonic() < end:
        data = queue.pop() if queue else _mutate(rng, seeds)
        start = time.monotonic()
        try:
            fn(data)
        except known:
            stats["known"] = int(stats["known"]) + 1  # type: ignore[call-overload]
        except Exception:
            crashes.append(_save_crash(target, data, traceback.format_exc()))
        took = time.monotonic() - start
        stats["slowest"] = max(float(stats["slowest"]), took)  # type: ignore[arg-type]
        if took > max_input:
            crashes.append(_save_crash(target, data, f"slow input: {took:.2f} s"))
        stats["inputs"] = int(stats["inputs"]) + 1  # type: ignore[call-overload]
    stats["crashes"] = len(crashes)
    stats["crash_files"] = crashes
    return stats


# --- atheris (libFuzzer), one child process per target -------------------------------------

def _atheris_child(target: str, seconds: int, seed: int, max_input: float,
                   known_file: str) -> None:
    import atheris  # type: ignore[import-untyped]

    with atheris.instrument_imports(include=["certpin"]):
        import targets
    fn = targets.TARGETS[target]
    known = targets.KNOWN.get(target, ())
    counts = {"known": 0}

    def one_input(data: bytes) -> None:
        try:
            fn(data)
        except known:
            # libFuzzer ends the process with exit(): no Python atexit, so count in a file
            counts["known"] += 1
            with open(known_file, "w") as f:
                f.write(str(counts["known"]))

    scratch = tempfile.mkdtemp(prefix=f"certpin-fuzz-{target}-")
    crash_dir = os.path.join(CRASHES, target)
    os.makedirs(crash_dir, exist_ok=True)
    argv = [
        sys.argv[0], f"-max_total_time={seconds}", f"-seed={seed}",
        f"-timeout={max(1, round(max_input))}", "-rss_limit_mb=2048", "-max_len=65536",
        "-print_final_stats=1", f"-artifact_prefix={crash_dir}/", scratch,
        os.path.join(HERE, "corpus", target),
    ]
    atheris.Setup(argv, one_input)
    atheris.Fuzz()


def run_atheris(target: str, seconds: float, seed: int, max_input: float) -> dict[str, object]:
    fd, known_file = tempfile.mkstemp(prefix="certpin-fuzz-known-")
    os.close(fd)
    cmd = [sys.executable, os.path.abspath(__file__), "--_child", target,
           "--seconds", str(int(seconds)), "--seed", str(seed),
           "--max-input-seconds", str(max_input), "--_known", known_file]
    proc = subprocess.run(cmd, capture_output=True, text=True, errors="replace",
                          timeout=seconds + 120, check=False)
    err = proc.stderr
    with open(known_file) as f:
        known_text = f.read().strip()
    os.unlink(known_file)
    runs = re.search(r"stat::number_of_executed_units:\s*(\d+)", err)
    slowest = re.search(r"stat::slowest_unit_time_sec:\s*(\d+)", err)
    crash_files = re.findall(r"Test unit written to (\S+)", err)
    stats: dict[str, object] = {
        "target": target, "engine": "atheris",
        "inputs": int(runs.group(1)) if runs else 0,
        "crashes": len(crash_files) + (1 if proc.returncode not in (0,) and not crash_files
                                       else 0),
        "known": int(known_text or 0),
        "slowest": float(slowest.group(1)) if slowest else 0.0,
        "crash_files": crash_files,
    }
    if proc.returncode != 0:
        tail = "\n".join(err.splitlines()[-40:])
        print(f"--- {target}: exit {proc.returncode}\n{tail}", file=sys.stderr)
    return stats


def run_scale(target: str, limit: float) -> tuple[float, str | None]:
    """Run the target once on its largest input (``targets.scale_inputs``).

    Returns the seconds taken and, if the target raised or took longer than ``limit``, the
    path of the saved input.
    """
    import targets

    data = targets.scale_inputs()[target]
    start = time.monotonic()
    try:
        targets.TARGETS[target](data)
    except targets.KNOWN.get(target, ()):
        pass
    except Exception:
        return time.monotonic() - start, _save_crash(target, data, traceback.format_exc())
    took = time.monotonic() - start
    if took > limit:
        return took, _save_crash(target, data, f"slow 1 MiB input: {took:.2f} s")
    return took, None


def _engine(requested: str) -> str:
    if requested != "auto":
        return requested
    try:
        import atheris  # noqa: F401
    except ImportError:
        return "mutate"
    return "atheris"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    budget = parser.add_mutually_exclusive_group()
    budget.add_argument("--minutes", type=float, help="total budget in minutes")
    budget.add_argument("--seconds", type=float, help="total budget in seconds (default 60)")
    parser.add_argument("--targets", help="comma-separated targets (default: all)")
    parser.add_argument("--seed", type=int, default=16, help="random seed (default 16)")
    parser.add_argument("--engine", choices=("auto", "atheris", "mutate"), default="auto")
    parser.add_argument("--max-input-seconds", type=float, default=2.0,
                        help="an input slower than this is a finding (default 2)")
    parser.add_argument("--summary", help="append a Markdown summary of the run to this file")
    parser.add_argument("--_child", help=argparse.SUPPRESS)
    parser.add_argument("--_known", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    total = args.minutes * 60 if args.minutes is not None else (args.seconds or 60.0)
    if args._child:
        _atheris_child(args._child, int(total), args.seed, args.max_input_seconds, args._known)
        return 0
    import targets

    names = args.targets.split(",") if args.targets else list(targets.TARGETS)
    unknown = [n for n in names if n not in targets.TARGETS]
    if unknown:
        parser.error(f"unknown targets: {', '.join(unknown)}; known: "
                     f"{', '.join(targets.TARGETS)}")
    engine = _engine(args.engine)
    each = max(1.0, total / len(names))
    started = time.monotonic()
    results = []
    for name in names:
        t0 = time.monotonic()
        runner = run_atheris if engine == "atheris" else run_mutate
        stats = runner(name, each, args.seed, args.max_input_seconds)
        stats["seconds"] = round(time.monotonic() - t0, 1)
        # one input of ~1 MiB of valid entries: catches work growing faster than the input
        # (the target parses it as bytes and str, round-trips, lints and exports: ~15 calls)
        scale_took, scale_crash = run_scale(name, 15 * args.max_input_seconds)
        stats["scale_seconds"] = round(scale_took, 2)
        if scale_crash:
            stats["crashes"] = int(stats["crashes"]) + 1  # type: ignore[call-overload]
            stats["crash_files"] = [*stats["crash_files"], scale_crash]  # type: ignore[misc]
        results.append(stats)
        print(json.dumps({k: v for k, v in stats.items() if k != "crash_files"}), flush=True)
        for path in stats["crash_files"]:  # type: ignore[attr-defined]
            print(f"  crash: {path}", flush=True)
    wall = time.monotonic() - started
    crashes = sum(int(r["crashes"]) for r in results)  # type: ignore[call-overload]
    inputs = sum(int(r["inputs"]) for r in results)  # type: ignore[call-overload]
    print(f"{len(names)} targets, {inputs} inputs, "
          f"{crashes} crashes, {wall:.0f} s ({engine}, seed {args.seed})")
    if args.summary:
        _write_summary(args.summary, results, engine, args.seed, wall)
    return 1 if crashes else 0


def _write_summary(path: str, results: list[dict[str, object]], engine: str, seed: int,
                   wall: float) -> None:
    stamp = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    lines = [
        f"\n## {stamp}: {engine}, seed {seed}, {wall / 60:.1f} min wall clock, "
        f"Python {sys.version.split()[0]}\n",
        "| target | inputs tried | seconds | crashes | known (fixed elsewhere) "
        "| slowest input (s) | 1 MiB input (s) |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        lines.append(f"| {r['target']} | {r['inputs']} | {r['seconds']} | {r['crashes']} | "
                     f"{r['known']} | {float(r['slowest']):.2f} | "  # type: ignore[arg-type]
                     f"{r['scale_seconds']} |")
    with open(path, "a") as f:
        f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    sys.exit(main())
