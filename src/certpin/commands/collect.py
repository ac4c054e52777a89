"""``certpin collect``: a small local collector for pin violation reports.

Listens on ``127.0.0.1`` (unless ``--host`` says otherwise), accepts ``POST`` requests carrying a
JSON report (any path), and prints each report received as one JSON line on stdout (ASCII, so
control characters in the report are escaped by the JSON encoding). A body that is not JSON is
answered 400 and noted as one line on stderr; a body larger than ``--max-body`` bytes is answered
413 without being read; a request without ``Content-Length`` is answered 411. Ctrl-C stops it
with exit code 0.

Example::

    certpin collect --port 8080 > reports.jsonl
    # in the policy: PinSet([...], enforce=False, report_uris=["http://127.0.0.1:8080/"])
"""

from __future__ import annotations

import argparse
import contextlib
import json
import socket
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from ..errors import escape

HELP = "run a local collector that prints pin violation reports (one JSON line each)"

#: Default body cap, bytes (reports are capped at 64 KiB by certpin's sender).
DEFAULT_MAX_BODY = 64 * 1024
#: Seconds a client may take to send its request.
READ_TIMEOUT = 10.0

_print_lock = threading.Lock()


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register ``--port``, ``--host`` and ``--max-body``."""
    parser.add_argument("--port", type=int, required=True,
                        help="TCP port to listen on (0 picks a free one, printed on stderr)")
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to bind (default 127.0.0.1; ::1 or [::1] for IPv6)")
    parser.add_argument("--max-body", type=int, default=DEFAULT_MAX_BODY, metavar="BYTES",
                        help=f"largest request body accepted, bytes (default {DEFAULT_MAX_BODY})")


def _emit(line: str, stream: Any) -> None:
    with _print_lock, contextlib.suppress(ValueError):  # a closed stream at shutdown
        print(line, file=stream, flush=True)


class _Handler(BaseHTTPRequestHandler):
    server_version = "certpin-collect"
    sys_version = ""
    timeout = READ_TIMEOUT
    max_body = DEFAULT_MAX_BODY

    def log_message(self, format: str, *args: Any) -> None:
        return  # quiet: stdout carries the reports only

    def _answer(self, code: int) -> None:
        self.send_response(code)
        self.send_header("Content-Length", "0")
        if code >= 400:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()

    def do_POST(self) -> None:
        length_text = self.headers.get("Content-Length")
        if length_text is None or "chunked" in self.headers.get("Transfer-Encoding", ""):
            self._answer(411)
            return
        try:
            length = int(length_text)
            if length < 0:
                raise ValueError(length_text)
        except ValueError:
            self._answer(400)
            return
        if length > self.max_body:
            _emit(f"certpin collect: body of {length} bytes from {self.client_address[0]} "
                  f"refused (over {self.max_body})", sys.stderr)
            self._answer(413)
            return
        body = self.rfile.read(length)
        try:
            report = json.loads(body)
        except (ValueError, UnicodeDecodeError) as exc:
            _emit(f"certpin collect: invalid JSON body ({len(body)} bytes) from "
                  f"{self.client_address[0]}: {escape(str(exc))}", sys.stderr)
            self._answer(400)
            return
        _emit(json.dumps(report, ensure_ascii=True, separators=(",", ":")), sys.stdout)
        self._answer(204)

    def _refuse(self) -> None:
        self._answer(405)

    do_GET = do_PUT = do_DELETE = do_HEAD = do_PATCH = _refuse


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        # one line, never a traceback (e.g. a client that disconnects mid-request)
        exc = sys.exc_info()[1]
        _emit(f"certpin collect: request from {client_address[0]} failed: "
              f"{escape(f'{type(exc).__name__}: {exc}')}", sys.stderr)


class _Server6(_Server):
    address_family = socket.AF_INET6


def run(args: argparse.Namespace) -> int:
    """Serve until interrupted.

    Returns:
        0 when stopped with Ctrl-C; 2 (one stderr line naming the address) for a bad
        ``--max-body`` or ``--port`` or an address that cannot be resolved or bound.
    """
    if args.max_body < 0:
        print("certpin collect: error: --max-body must be >= 0", file=sys.stderr)
        return 2
    if not 0 <= args.port <= 65535:
        print("certpin collect: error: --port must be 0..65535", file=sys.stderr)
        return 2
    class Handler(_Handler):
        max_body = args.max_body

    host = args.host
    if host.startswith("[") and host.endswith("]"):  # [::1], as URLs and our banner write it
        host = host[1:-1]
    server_class: type[_Server] = _Server6 if ":" in host else _Server
    try:
        server = server_class((host, args.port), Handler)
    except OSError as exc:
        shown = f"[{host}]" if ":" in host else host
        print(f"certpin collect: error: cannot listen on {escape(shown)}:{args.port}: "
              f"{escape(exc.strerror or str(exc))}", file=sys.stderr)
        return 2
    host, port = str(server.server_address[0]), int(server.server_address[1])
    shown = f"[{host}]" if ":" in host else host
    _emit(f"certpin collect: listening on http://{shown}:{port}/ (Ctrl-C to stop)", sys.stderr)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0
