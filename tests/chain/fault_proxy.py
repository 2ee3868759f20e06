"""A JSON-RPC proxy on loopback that forwards to a node and fails chosen methods (a test tool).

Real HTTP on both sides: ammkeeper talks to it like to any endpoint; the node behind it is anvil.
"""

from __future__ import annotations

import json
import threading
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@contextmanager
def fault_proxy(
    upstream: str,
    fail: set[str] | None = None,
    status: int = 502,
    before: Callable[[dict[str, Any]], None] | None = None,
    fault: Callable[[dict[str, Any]], tuple[Any, ...] | None] | None = None,
) -> Iterator[str]:
    """A proxy URL: requests for methods in `fail` get HTTP `status` and never reach `upstream`;
    `fault` sees every request first (in the server's thread; it may block) and may answer it with
    (status, headers) or (status, headers, body) instead; `before` sees every request that goes on
    to `upstream`, first. Any path is accepted (as with providers' keyed URLs)."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            request_json = json.loads(body)
            answer_fault = fault(request_json) if fault is not None else None
            if answer_fault is None and request_json.get("method") in (fail or set()):
                answer_fault = (status, {})
            if answer_fault is not None:
                body = answer_fault[2] if len(answer_fault) > 2 else b""
                self._answer(answer_fault[0], answer_fault[1], body)
                return
            if before is not None:
                before(request_json)
            request = urllib.request.Request(upstream, body, {"Content-Type": "application/json"})
            with urllib.request.urlopen(request, timeout=30) as response:
                answer = response.read()
            self._answer(200, {"Content-Type": "application/json"}, answer)

        def _answer(self, code: int, headers: dict[str, str], body: bytes) -> None:
            try:
                self.send_response(code)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
            except (BrokenPipeError, ConnectionResetError):
                self.close_connection = True  # the client gave up on this request (or was killed)

        def log_message(self, *args: object) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
