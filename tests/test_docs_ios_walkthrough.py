"""The walkthrough ``docs/ios-walkthrough.md`` ("Pin an iOS app"), run as written.

How the page is read (the convention the page follows; nothing else on it is executed):

* a ```` ```console ```` block holds commands, each starting with ``$ `` (a line ending in ``\\``
  continues on the next); the lines after a command, up to the next ``$ ``, are its sample output;
* a ```` ```console title="Terminal N: ..." ```` block holds a server the reader leaves running
  in another terminal: each command is started in the background here, and waited for until its
  ``-accept 127.0.0.1:PORT`` listens; a later server on the same port replaces it (the reader's
  Ctrl-C);
* any other block with ``title="FILE"`` (``ini``, ``toml``) is a file the reader creates: it is
  written into the folder at that point.

Every command runs in order with ``bash -c`` (``pipefail`` on) in one temporary folder, with the
venv's ``certpin`` and ``python`` first on ``PATH``, and real ``openssl`` servers on 127.0.0.1; no
mocks. The only changes from the text: ports 8443 and 8444 become free ports, and the sample
pins become this run's pins. The run learns those from the sample outputs: each output line must
match a line of the real output (stdout, then stderr), in order, where ``…`` matches anything
and each base64 SHA-256 matches any, binding the page's pin to the real one; a page pin used in a
command or file before an output showed it fails the test, as does one bound to two real pins.
Each certpin command also has an expectation below (exact command text, exit status, and checks
of what it printed: the exported plists parse with ``plistlib`` and hold the right identities,
``check`` passes against the backend and fails against the impostor's trusted-CA certificate).
"""

from __future__ import annotations

import contextlib
import os
import plistlib
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

import certpin

ROOT = Path(__file__).resolve().parent.parent
PAGE = ROOT / "docs" / "ios-walkthrough.md"
FENCE = re.compile(r'^```(\w+)(?:[ \t]+title="([^"]*)")?[ \t]*\n(.*?)^```[ \t]*$', re.S | re.M)
PIN = re.compile(r"[A-Za-z0-9+/]{43}=")
DOC_PORTS = ("8443", "8444")

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl CLI")


@dataclass
class Step:
    """One thing the reader does: ``kind`` is "run", "serve" or "file"."""

    kind: str
    text: str  # the command (continuations joined) or the file's content
    output: list[str] = field(default_factory=list)
    name: str = ""  # the file name of a "file" step


def _commands(code: str) -> list[tuple[str, list[str]]]:
    found: list[tuple[str, list[str]]] = []
    lines = iter(code.splitlines())
    for line in lines:
        if not line.startswith("$ "):
            assert found, f"output before any command: {line!r}"
            found[-1][1].append(line)
            continue
        cmd = line[2:]
        while cmd.endswith("\\"):
            cmd = cmd[:-1] + next(lines).strip()
        found.append((re.sub(r"\s+", " ", cmd).strip(), []))
    return found


def steps() -> list[Step]:
    """The page's steps, in order."""
    out: list[Step] = []
    for lang, title, code in FENCE.findall(PAGE.read_text(encoding="utf-8")):
        if lang == "console":
            kind = "serve" if title.startswith("Terminal") else "run"
            out += [Step(kind, cmd, output) for cmd, output in _commands(code)]
        elif title:
            out.append(Step("file", code, name=title))
    return out


# ------------------------------------------------------------------ what each certpin command does
Check = Callable[["Run", str, str], None]


def plist_of(stdout: str) -> dict[str, object]:
    value = plistlib.loads(stdout.encode())
    assert isinstance(value, dict)
    return value


def ios_identities(run: Run, stdout: str, leaf: list[str]) -> None:
    domains = plist_of(stdout)["NSAppTransportSecurity"]["NSPinnedDomains"]  # type: ignore[index]
    assert list(domains) == ["api.example.com"]
    entry = domains["api.example.com"]
    assert entry["NSIncludesSubdomains"] is False
    assert "NSPinnedCAIdentities" not in entry  # a leaf-only set: no AND with CA identities
    got = [d["SPKI-SHA256-BASE64"] for d in entry["NSPinnedLeafIdentities"]]
    assert got == [run.real(p) for p in leaf]


def ios_v1(run: Run, stdout: str, stderr: str) -> None:
    # the server's leaf key and the backup key, both leaf identities; the CSR's key is the backup
    ios_identities(run, stdout, [LEAF, BACKUP])
    csr = (run.folder / "keys/api.example.com.p256.csr.pem").read_bytes()
    assert certpin.spki_pin(csr).base64 == run.real(BACKUP)
    assert "URLSession honours it" in stderr


def ios_v2(run: Run, stdout: str, stderr: str) -> None:
    ios_identities(run, stdout, [BACKUP, NEXT])
    assert run.real(LEAF) not in stdout  # the retired key is gone


def mixed_refused(run: Run, stdout: str, stderr: str) -> None:
    assert stdout == ""
    assert "roles mixed" in stderr and "Apple requires a leaf match AND a CA match" in stderr
    assert f"sha256/{run.real(INTERMEDIATE)}" in stderr


def lossy_leaves_nothing(run: Run, stdout: str, stderr: str) -> None:
    assert stdout == ""
    assert "every pin set was dropped, so nothing would be left to export" in stderr
    assert "(refused even with --lossy / lossy=True)" in stderr


def trustkit_refused(run: Run, stdout: str, stderr: str) -> None:
    assert stdout == "" and "has role 'leaf', which trustkit cannot express" in stderr


def trustkit_lossy(run: Run, stdout: str, stderr: str) -> None:
    domains = plist_of(stdout)["TSKConfiguration"]["TSKPinnedDomains"]  # type: ignore[index]
    assert domains["api.example.com"]["TSKPublicKeyHashes"] == [run.real(LEAF), run.real(BACKUP)]
    assert "dropped: api.example.com: roles" in stderr


def check_passes(run: Run, stdout: str, stderr: str) -> None:
    # the leaf pin matched at position 0, and that pin is the served certificate's key
    assert f"sha256/{run.real(LEAF)}" in stdout and "#0 CN=api.example.com" in stdout
    leaf = (run.folder / "server.pem").read_bytes()
    assert certpin.spki_pin(leaf).base64 == run.real(LEAF)


def impostor_refused(run: Run, stdout: str, stderr: str) -> None:
    # validated (the chain ends at the trusted interception root), yet no pin matched
    assert "no-match" in stdout and "CN=Interception Root CA" in stdout
    assert "validation-failed" not in stdout


def contains(*texts: str) -> Check:
    def check(run: Run, stdout: str, stderr: str) -> None:
        for text in texts:
            assert run.substitute(text) in stdout + stderr, text
    return check


def key_is_private(run: Run, stdout: str, stderr: str) -> None:
    assert (run.folder / "keys/api.example.com.p256.key.pem").stat().st_mode & 0o777 == 0o600


# the page's sample pins (docs/ios-walkthrough.md), by what they are
LEAF = "hsrDuaelsIy7ky+5rwzQj3FKpPbN0jU2FBKxnfIQMu0="
INTERMEDIATE = "y1mLTkJRdYdodTQn+FxADsaY0cYKBQs4qLfj23JqojQ="
BACKUP = "Zb98iCmWJF1cynH56VYHPwjYMikgls366lePbtF4u8A="
NEXT = "ASuWSfIKLLp7O33ezHZ0lewPCYTPJB6j/+GCvzVTcRU="
ROOT_CA = "9P9JIvb4lUolrW5o8krh1bNsLz9ZuN259ICUjn+X6KY="

CHECK_8443 = ("certpin check policy.toml --host api.example.com:8443 "
              "--resolve api.example.com:8443:127.0.0.1 --cafile ca.pem")

#: every certpin command of the page, in order: (command as written, exit status, check)
EXPECTED: list[tuple[str, int, Check | None]] = [
    ("certpin pins 127.0.0.1:8443 --servername api.example.com --cafile ca.pem", 0, None),
    ("certpin pins 127.0.0.1:8443 --servername api.example.com --cafile ca.pem --format json | "
     "python -c \"import json, sys; [print(c['role'], c['spki_pin'], c['subject']) "
     "for c in json.load(sys.stdin)[0]['certificates']]\"", 0, None),
    ("mkdir keys && certpin backup-key --out keys --cn api.example.com --type p256", 0,
     key_is_private),
    ("certpin lint policy.toml --backup-key keys/api.example.com.p256.csr.pem", 0, None),
    ("certpin export policy.toml --format ios", 0, ios_v1),
    ("certpin export policy-ca.toml --format ios", 2, mixed_refused),
    ("certpin export policy-ca.toml --format ios --lossy", 2, lossy_leaves_nothing),
    ("certpin export policy.toml --format trustkit", 2, trustkit_refused),
    ("certpin export policy.toml --format trustkit --lossy", 0, trustkit_lossy),
    (CHECK_8443, 0, check_passes),
    ("certpin check policy.toml --host api.example.com:8444 "
     "--resolve api.example.com:8444:127.0.0.1 --cafile device-trust.pem", 2, impostor_refused),
    ("certpin plan policy.toml --host api.example.com --chain chain-2.pem --cafile ca.pem", 1,
     contains("backup-pin-only")),
    (CHECK_8443, 1, contains("backup-pin-matched", f"sha256/{BACKUP}")),
    ("mkdir -p keys/next && certpin backup-key --out keys/next --cn api.example.com --type p256",
     0, None),
    ("certpin lint policy-2.toml", 0, None),
    ("certpin plan policy.toml policy-2.toml --host api.example.com --live 127.0.0.1:8443 "
     "--cafile ca.pem", 1, contains("backup-pin-only")),
    ("certpin check policy-2.toml --host api.example.com:8443 "
     "--resolve api.example.com:8443:127.0.0.1 --cafile ca.pem", 0,
     contains(f"sha256/{BACKUP}", "1 ok, 0 warning, 0 error")),
    ("certpin export policy-2.toml --format ios", 0, ios_v2),
]


# ------------------------------------------------------------------ running the page
class Run:
    """The reader's folder, servers, and what the page's pins and ports are in this run."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.pins: dict[str, str] = {}  # page pin -> this run's pin
        self.ports = dict(zip(DOC_PORTS, free_ports(len(DOC_PORTS)), strict=True))
        self.servers: dict[str, subprocess.Popen[bytes]] = {}
        bindir = str(Path(sys.executable).parent)
        self.env = {**os.environ, "PATH": bindir + os.pathsep + os.environ.get("PATH", ""),
                    "COLUMNS": "200"}
        assert shutil.which("certpin", path=self.env["PATH"]) == str(Path(bindir) / "certpin")

    def real(self, page_pin: str) -> str:
        assert page_pin in self.pins, f"pin {page_pin} is used before any output showed it"
        return self.pins[page_pin]

    def substitute(self, text: str) -> str:
        for page_port, port in self.ports.items():
            text = re.sub(rf"\b{page_port}\b", str(port), text)
        return PIN.sub(lambda m: self.real(m.group()), text)

    def bind(self, page_pin: str, real_pin: str) -> None:
        if self.pins.setdefault(page_pin, real_pin) != real_pin:
            pytest.fail(f"page pin {page_pin} is {self.pins[page_pin]} and {real_pin} in this run")
        assert list(self.pins.values()).count(real_pin) == 1, f"two page pins are {real_pin}"

    def match_output(self, cmd: str, expected: list[str], got: str) -> None:
        """Each sample line matches a line of ``got``, in order; binds the page's pins."""
        lines = [line.rstrip() for line in got.splitlines()]
        at = 0
        for want in expected:
            parts = re.split(rf"(…|{PIN.pattern})", self.substitute_ports(want.rstrip()))
            page_pins = parts[1::2]
            pattern = re.compile("".join(
                re.escape(part) if i % 2 == 0 else ".*" if part == "…" else f"({PIN.pattern})"
                for i, part in enumerate(parts)))
            page_pins = [p for p in page_pins if p != "…"]
            for i in range(at, len(lines)):
                m = pattern.fullmatch(lines[i])
                if m:
                    for page_pin, real_pin in zip(page_pins, m.groups(), strict=True):
                        self.bind(page_pin, real_pin)
                    at = i + 1
                    break
            else:
                pytest.fail(f"`{cmd}`: sample line {want!r} is not in the output:\n{got}")

    def substitute_ports(self, text: str) -> str:
        for page_port, port in self.ports.items():
            text = re.sub(rf"\b{page_port}\b", str(port), text)
        return text

    def run(self, step: Step) -> tuple[int, str, str]:
        proc = subprocess.run(["bash", "-c", "set -o pipefail; " + self.substitute(step.text)],
                              cwd=self.folder, env=self.env, capture_output=True, text=True,
                              timeout=60)
        return proc.returncode, proc.stdout, proc.stderr

    def serve(self, step: Step) -> None:
        m = re.search(r"-accept 127\.0\.0\.1:(\d+)", step.text)
        assert m, step.text
        self.stop(m.group(1))
        log = (self.folder / f"server-{m.group(1)}.log").open("wb")
        proc = subprocess.Popen(["bash", "-c", "exec " + self.substitute(step.text)],
                                cwd=self.folder, env=self.env, stdin=subprocess.DEVNULL,
                                stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        self.servers[m.group(1)] = proc
        port = self.ports[m.group(1)]
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            assert proc.poll() is None, (self.folder / f"server-{m.group(1)}.log").read_text()
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1):
                return
            time.sleep(0.05)
        pytest.fail(f"`{step.text}` does not listen on port {port}")

    def stop(self, page_port: str) -> None:
        proc = self.servers.pop(page_port, None)
        if proc is not None:
            proc.send_signal(signal.SIGTERM)  # our own child, by its id
            proc.wait(timeout=10)


def free_ports(n: int) -> list[int]:
    socks = [socket.socket() for _ in range(n)]
    try:
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


@pytest.fixture()
def reader(tmp_path: Path) -> Iterator[Run]:
    run = Run(tmp_path)
    try:
        yield run
    finally:
        for port in list(run.servers):
            run.stop(port)


def test_the_page_has_the_steps_this_test_expects() -> None:
    found = steps()
    kinds = [s.kind for s in found]
    assert kinds.count("serve") == 3 and kinds.count("file") == 5
    assert [s.text for s in found if s.kind == "run" and "certpin" in s.text] == \
        [cmd for cmd, _, _ in EXPECTED]
    assert all(s.text.startswith("openssl ") for s in found if s.kind == "serve")


def test_the_walkthrough_runs(reader: Run) -> None:
    expected = iter(EXPECTED)
    for step in steps():
        if step.kind == "file":
            (reader.folder / step.name).write_text(reader.substitute(step.text), encoding="utf-8")
        elif step.kind == "serve":
            reader.serve(step)
        else:
            status, stdout, stderr = reader.run(step)
            cmd, want, check = next(expected) if "certpin" in step.text else (step.text, 0, None)
            assert cmd == step.text
            assert status == want, f"`{step.text}` exit {status}, not {want}:\n{stdout}{stderr}"
            reader.match_output(step.text, step.output, stdout + stderr)
            if check is not None:
                check(reader, stdout, stderr)
    assert next(expected, None) is None
    assert set(reader.pins) == {LEAF, INTERMEDIATE, ROOT_CA, BACKUP, NEXT}
