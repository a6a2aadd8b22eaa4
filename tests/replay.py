"""A local replay server for crawl tests: 127.0.0.1 only, threaded, every request logged.

Routes map (method, path) to a handler ``f(seen: Seen) -> Reply``. A reply can be delayed (timeouts), can hang
until the server stops (a crawl killed mid-download), or can lie about its length. Unknown paths get a 404
(robots.txt included).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit


@dataclass
class Seen:
    method: str
    path: str
    query: dict[str, str]
    body: bytes
    headers: dict[str, str]
    at: float  # time.monotonic() when the request arrived

    def json(self):
        return json.loads(self.body)


@dataclass
class Reply:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds before answering
    hang: bool = False  # never answer (until the server stops)

    @classmethod
    def json(cls, data, status: int = 200, **kwargs) -> Reply:
        body = json.dumps(data, ensure_ascii=False).encode("utf-8")
        return cls(status=status, body=body, headers={"Content-Type": "application/json; charset=utf-8"}, **kwargs)


Handler = Callable[[Seen], Reply]


class ReplayServer:
    def __init__(self) -> None:
        self.routes: dict[tuple[str, str], Handler] = {}
        self.log: list[Seen] = []
        self.lock = threading.Lock()
        self.released = threading.Event()
        self.hanging = threading.Event()  # set when a hanging reply has been reached
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # ----------------------------------------------------------- setup
    def route(self, method: str, path: str, handler: Handler | Reply) -> None:
        self.routes[(method.upper(), path)] = handler if callable(handler) else (lambda seen, r=handler: r)

    def url(self, path: str = "") -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}{path}"

    def start(self) -> ReplayServer:
        server = self

        class RequestHandler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0"

            def log_message(self, *args) -> None:  # quiet
                pass

            def _serve(self) -> None:
                parts = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                seen = Seen(
                    method=self.command, path=parts.path,
                    query={k: v[0] for k, v in parse_qs(parts.query, keep_blank_values=True).items()},
                    body=body, headers={k.lower(): v for k, v in self.headers.items()}, at=time.monotonic(),
                )
                with server.lock:
                    server.log.append(seen)
                handler = server.routes.get((self.command, parts.path))
                reply = handler(seen) if handler else Reply(status=404, body=b"not found")
                if reply.hang:
                    server.hanging.set()
                    server.released.wait(60)
                    return
                if reply.delay:
                    time.sleep(reply.delay)
                try:
                    self.send_response(reply.status)
                    headers = {"Content-Length": str(len(reply.body)), **reply.headers}
                    for name, value in headers.items():
                        self.send_header(name, value)
                    self.end_headers()
                    self.wfile.write(reply.body)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            do_GET = do_POST = _serve

        class Server(ThreadingHTTPServer):
            daemon_threads = True

            def handle_error(self, request, client_address) -> None:  # client went away: not our concern
                pass

        self._server = Server(("127.0.0.1", 0), RequestHandler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.released.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def __enter__(self) -> ReplayServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # ----------------------------------------------------------- inspection
    def requests(self, path: str | None = None, method: str | None = None) -> list[Seen]:
        with self.lock:
            return [s for s in self.log if (path is None or s.path == path) and (method is None or s.method == method)]
