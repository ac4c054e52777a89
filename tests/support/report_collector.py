"""A plain HTTP report collector on 127.0.0.1 that records every POST (for report tests).

    with ReportCollector() as collector:          # answers 204
        ... PinSet(..., report_uris=[collector.uri]) ...
        collector.wait_for(1)
        assert collector.reports[0]["hostname"] == "pinned.test"

``ReportCollector(status=500)`` answers 500; ``ReportCollector(delay=30)`` sleeps 30 s before
reading the request (a collector that hangs). :func:`closed_port` gives a port nothing listens on.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        return

    def do_POST(self) -> None:
        with self.server.lock:
            self.server.started += 1
            self.server.arrived.notify_all()
        if self.server.delay:
            self.server.stopped.wait(self.server.delay)
        length = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(length)
        with self.server.lock:
            self.server.posts.append((self.path, dict(self.headers.items()), body))
            self.server.arrived.notify_all()
        self.send_response(self.server.status)
        self.send_header("Content-Length", "0")
        self.send_header("Location", "http://127.0.0.1:9/elsewhere")
        self.end_headers()


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    status: int
    delay: float
    posts: list[tuple[str, dict[str, str], bytes]]
    started: int
    lock: threading.Lock
    arrived: threading.Condition
    stopped: threading.Event


class ReportCollector:
    """Plain HTTP server on 127.0.0.1 recording POSTs: ``posts`` (path, headers, body)."""

    def __init__(self, *, status: int = 204, delay: float = 0.0) -> None:
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.status = status
        self._server.delay = delay
        self._server.posts = []
        self._server.started = 0
        self._server.lock = threading.Lock()
        self._server.arrived = threading.Condition(self._server.lock)
        self._server.stopped = threading.Event()
        self.port: int = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def uri(self) -> str:
        return f"http://127.0.0.1:{self.port}/report"

    @property
    def posts(self) -> list[tuple[str, dict[str, str], bytes]]:
        with self._server.lock:
            return list(self._server.posts)

    @property
    def reports(self) -> list[dict[str, Any]]:
        return [json.loads(body) for _, _, body in self.posts]

    def wait_for(self, count: int, timeout: float = 10.0, *, started: bool = False) -> bool:
        """Wait until at least ``count`` POSTs arrived (or, with ``started``, began: a slow
        collector records a body only after its delay); True if they did."""
        deadline = time.monotonic() + timeout
        with self._server.arrived:
            while (self._server.started if started else len(self._server.posts)) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._server.arrived.wait(left)
        return True

    def __enter__(self) -> ReportCollector:
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._server.stopped.set()
        self._server.shutdown()
        self._server.server_close()


def closed_port() -> int:
    """A port on 127.0.0.1 that nothing listens on (connections are refused)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
