"""``certpin collect`` as a real subprocess on 127.0.0.1 (a port of its own choosing)."""

from __future__ import annotations

import http.client
import re
import signal
import subprocess
import sys


class Collector:
    def __init__(self, *args: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "certpin", "collect", "--port", "0", *args],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        assert self.proc.stderr is not None
        line = self.proc.stderr.readline()
        m = re.match(r"certpin collect: listening on http://127\.0\.0\.1:(\d+)/", line)
        assert m, line
        self.port = int(m.group(1))

    def post(self, body: bytes, path: str = "/report",
             headers: dict[str, str] | None = None) -> int:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            conn.request("POST", path, body=body,
                         headers={"Content-Type": "application/json", **(headers or {})})
            return conn.getresponse().status
        finally:
            conn.close()

    def stop(self) -> tuple[int, str, str]:
        self.proc.send_signal(signal.SIGINT)
        out, err = self.proc.communicate(timeout=10)
        return self.proc.returncode, out, err
