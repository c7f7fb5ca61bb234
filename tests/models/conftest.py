"""Fixtures for the model store: a temp HARNESS_HOME, a temp models.lock, and a real HTTP
server on 127.0.0.1 whose misbehaviour each test chooses."""

from __future__ import annotations

import hashlib
import http.server
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest


@dataclass
class Route:
    body: bytes = b""
    status: int = 200
    statuses: list[int] = field(default_factory=list)  # served first, one per request, then `status`
    cut_after: int | None = None  # close the connection after this many body bytes (once)
    ignore_range: bool = False
    delay_s: float = 0.0  # per 64 KiB chunk, to make transfers overlap


class Server:
    def __init__(self):
        self.routes: dict[str, Route] = {}
        self.log: list[tuple[str, str | None, int]] = []  # (path, Range header, status)
        self.lock = threading.Lock()
        handler = self._handler()
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def url(self, path: str) -> str:
        return self.base + path

    def requests(self, path: str) -> list[tuple[str, str | None, int]]:
        return [r for r in self.log if r[0] == path]

    def _handler(server):  # noqa: N805 - `server` is the fixture object
        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_GET(self):
                route = server.routes.get(self.path)
                rng = self.headers.get("Range")
                with server.lock:
                    status = route.statuses.pop(0) if route and route.statuses else (route.status if route else 404)
                    server.log.append((self.path, rng, status))
                if status != 200:
                    self.send_response(status)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                body, start = route.body, 0
                if rng and not route.ignore_range:
                    start = int(rng.removeprefix("bytes=").split("-")[0])
                    if start >= len(body):
                        self.send_response(416)
                        self.send_header("Content-Length", "0")
                        self.end_headers()
                        return
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
                else:
                    self.send_response(200)
                self.send_header("Content-Length", str(len(body) - start))
                self.end_headers()
                payload = body[start:]
                if route.cut_after is not None:
                    payload, route.cut_after = payload[: route.cut_after], None
                    self.wfile.write(payload)
                    self.wfile.flush()
                    self.close_connection = True
                    return
                for i in range(0, len(payload), 65536):
                    if route.delay_s:
                        time.sleep(route.delay_s)
                    self.wfile.write(payload[i : i + 65536])

        return Handler

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server():
    s = Server()
    yield s
    s.close()


@pytest.fixture
def home(tmp_path, monkeypatch) -> Path:
    h = tmp_path / "home"
    monkeypatch.setenv("HARNESS_HOME", str(h))
    monkeypatch.delenv("HARNESS_MIRROR", raising=False)
    return h


def blob(n: int, seed: int = 0) -> bytes:
    """Deterministic, incompressible-looking test data."""
    out, block = bytearray(), hashlib.sha256(str(seed).encode()).digest()
    while len(out) < n:
        block = hashlib.sha256(block).digest()
        out += block
    return bytes(out[:n])


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def write_lock(path: Path, entries: list[str]) -> Path:
    path.write_text("format_version = 1\n\n" + "\n".join(entries))
    return path


def entry(name: str, file: str, data: bytes | None, sources: list[str], *, verified: bool = True, size: int | None = None) -> str:
    """A [[models]] table; `data` gives size and sha256 (None: unverified entry)."""
    lines = ["[[models]]", f'name = "{name}"', 'role = "chat"', 'family = "test"', 'parameters = "0"', 'quant = "none"',
             f'file = "{file}"', 'license = "MIT"']  # fmt: skip
    if data is not None and verified:
        lines += [f"size = {size if size is not None else len(data)}", f'sha256 = "{sha(data)}"']
    else:
        lines += ['sha256 = ""', "verified = false"]
    lines.append("sources = [\n" + "".join(f"  {s},\n" for s in sources) + "]")
    return "\n".join(lines) + "\n"


def https(url: str) -> str:
    return f'{{ kind = "https", url = "{url}" }}'


def store_files(home: Path) -> list[str]:
    """Every file under the store except lock files, relative to HARNESS_HOME."""
    if not home.exists():
        return []
    return sorted(str(p.relative_to(home)) for p in home.rglob("*") if p.is_file() and ".locks" not in p.parts)


@pytest.fixture
def fast_http():
    from harness.models.sources import HttpSettings

    return HttpSettings(attempts=3, backoff_s=0.01, connect_timeout_s=5, read_timeout_s=10)


os.environ.setdefault("PIP_DISABLE_PIP_VERSION_CHECK", "1")
