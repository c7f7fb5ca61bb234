"""Shared pieces of the fault suite: a misbehaving HTTP server on 127.0.0.1 (tests/servers/file_server.py)
and broken API servers, the store scan run after every fault, the harness CLI in-process and as a
real process, and small synthetic files.

Lock-writing helpers and result-file factories are the models and bench engineers' own
(tests/models/conftest.py, tests/bench/conftest.py), loaded by path so this suite stays in step
with how they build locks and results.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
import traceback
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

TESTS = Path(__file__).resolve().parent.parent
REPO = TESTS.parent
FIXTURES = TESTS / "fixtures"
TOY_LABS = FIXTURES / "labs"
FAKE_BACKEND = f"{FIXTURES / 'fake_backend.py'}:open_fake"


def _load(path: Path, name: str):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


models_helpers = _load(TESTS / "models" / "conftest.py", "_faults_models_helpers")
bench_helpers = _load(TESTS / "bench" / "conftest.py", "_faults_bench_helpers")

blob, sha, entry, https, write_lock = (
    models_helpers.blob,
    models_helpers.sha,
    models_helpers.entry,
    models_helpers.https,
    models_helpers.write_lock,
)

# The scripted file server and the wheel maker are the models tests' too (tests/servers/file_server.py;
# models/conftest.py put tests/servers on sys.path)
from file_server import Fault, FaultServer, Route, make_wheel  # noqa: E402,F401

# ----------------------------------------------------------------------------- the server


@dataclass
class Answer:
    """A canned HTTP answer: `parts` are sent as separate chunks (chunked encoding, like a token
    stream); `die` resets the connection after them instead of finishing the response."""

    parts: list[bytes]
    status: int = 200
    ctype: str = "application/json"
    die: bool = False


class ApiServer:
    """Stands in for Ollama or an OpenAI-compatible server that is broken in a chosen way."""

    def __init__(self, routes: dict[str, Answer]):
        self.routes = routes
        answers = routes

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _answer(self) -> None:
                n = int(self.headers.get("Content-Length") or 0)
                if n:
                    self.rfile.read(n)
                a = answers.get(self.path.split("?")[0], Answer([b'{"error": "not found"}'], status=404))
                self.send_response(a.status)
                self.send_header("Content-Type", a.ctype)
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                for part in a.parts:
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
                    self.wfile.flush()
                    time.sleep(0.01)
                if a.die:  # the server process died mid-response: RST, no final chunk
                    time.sleep(0.3)  # after the client has read what was sent (an RST drops unread data)
                    self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    self.close_connection = True
                    self.connection.close()
                    return
                self.wfile.write(b"0\r\n\r\n")

            do_GET = do_POST = _answer

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.httpd.handle_error = lambda request, address: None
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def __enter__(self) -> ApiServer:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def closed_port_url() -> str:
    """A 127.0.0.1 URL where nothing listens (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"


# ----------------------------------------------------------------------------- the store scan


def _expected(home: Path, e) -> tuple[str | None, int | None]:
    if e.sha256:
        return e.sha256, e.size
    try:
        pin = json.loads((home / "state" / "pins.json").read_text()).get(e.name)
    except (FileNotFoundError, json.JSONDecodeError):
        pin = None
    return (pin["sha256"], pin["size"]) if pin and pin.get("file") == e.file else (None, e.size)


def _sha_file(p: Path) -> str:
    h = hashlib.sha256()
    with open(p, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def scan_store(home: Path, lock: Path | None, must_have: set[str] = frozenset()) -> list[str]:
    """Every way the store can be wrong after a fault. Allowed: a model's verified file (+ its stamp)
    at its final path, and resumable *.part files inside models/.tmp/. Anything else is a problem:
    a wrong or partial file at a final path, temp files outside .tmp, leftover work dirs, a lost
    model that was pulled before, or a pins.json that is not valid JSON."""
    from harness.errors import HarnessError
    from harness.models.lock import load_lock

    problems: list[str] = []
    models = home / "models"
    try:
        entries = {m.name: m for m in load_lock(lock).models} if lock is not None and lock.is_file() else {}
    except HarnessError:
        entries = {}  # a bad lock was the test's input: then nothing at all may be in the store
    for name in sorted(must_have):
        e = entries[name]
        if not (models / name / e.file).is_file():
            problems.append(f"lost: {name}/{e.file} was pulled before the fault and is gone")
    if (home / "state" / "pins.json").exists():
        try:
            json.loads((home / "state" / "pins.json").read_text())
        except json.JSONDecodeError:
            problems.append("state/pins.json is not valid JSON (a torn write?)")
    for p in sorted(home.rglob("*")) if home.exists() else []:
        rel = p.relative_to(home)
        parts = rel.parts
        if p.is_dir():
            if len(parts) == 3 and parts[:2] == ("models", ".tmp"):
                problems.append(f"leftover work dir {rel}")
            continue
        if parts[:2] == ("models", ".locks") or parts == ("state", "pins.lock"):
            continue  # lock files are empty and harmless; flock releases them when a process dies
        if parts[:2] == ("models", ".tmp"):
            if not p.name.endswith(".part"):
                problems.append(f"stray temp file {rel}")
            else:
                e = entries.get(p.name.split(".")[0])
                if e is not None and e.size is not None and p.stat().st_size > e.size:
                    problems.append(f"{rel} is longer than the model ({p.stat().st_size} > {e.size})")
            continue
        if parts[0] == "models" and len(parts) == 3:
            e = entries.get(parts[1])
            if p.name == ".stamp.json":
                continue
            if e is None or p.name != e.file:
                problems.append(f"stray file in the store: {rel}")
                continue
            want_sha, want_size = _expected(home, e)
            if want_size is not None and p.stat().st_size != want_size:
                problems.append(f"partial file in place: {rel} is {p.stat().st_size} bytes, the lock says {want_size}")
            elif want_sha is not None and _sha_file(p) != want_sha:
                problems.append(f"wrong file in place: {rel} does not match its sha256")
            continue
        if parts[0] == "state" and (p.suffix in (".tmp", ".part") or p.name.startswith(".")):
            problems.append(f"stray temp file {rel}")
        elif parts[0] == "models":
            problems.append(f"unexpected file {rel}")
    return problems


# ----------------------------------------------------------------------------- running the CLI


@dataclass
class CliResult:
    code: int
    out: str
    err: str

    @property
    def text(self) -> str:
        """stdout + stderr with rich's line wrapping undone."""
        return " ".join((self.out + "\n" + self.err).split())

    def has(self, needle: str) -> bool:
        """`needle` in the output, whatever rich's wrapping did to spaces and long words."""
        return "".join(needle.split()) in "".join((self.out + self.err).split())

    @property
    def traceback(self) -> bool:
        return "Traceback (most recent call last)" in self.out + self.err

    def __str__(self) -> str:
        return f"exit {self.code}\n--- stdout\n{self.out[-3000:]}\n--- stderr\n{self.err[-3000:]}"


def run_cli_inprocess(args: list[str], capsys, env: dict[str, str] | None = None, cwd: Path | None = None) -> CliResult:
    """harness.cli.app.main() with sys.argv set: the same error handling as the console script,
    without a new interpreter. An exception that escapes main() is what a real process would print
    as a traceback, so it is returned as one."""
    saved_env, saved_argv, saved_cwd = dict(os.environ), sys.argv, os.getcwd()
    os.environ.update(env or {})
    sys.argv = ["harness", *map(str, args)]
    if cwd:
        os.chdir(cwd)
    capsys.readouterr()
    code, tb = 0, ""
    try:
        from harness.cli.app import main

        main()
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    except BaseException as e:  # noqa: BLE001 - this is what the user would see
        code, tb = 1, "".join(traceback.format_exception(e))
    finally:
        os.environ.clear()
        os.environ.update(saved_env)
        sys.argv = saved_argv
        os.chdir(saved_cwd)
    cap = capsys.readouterr()
    return CliResult(code, cap.out, cap.err + tb)


def harness_env(**extra: str) -> dict[str, str]:
    env = {**os.environ, "PYTHONPATH": str(REPO), "COLUMNS": "200", "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    env.update(extra)
    return env


def harness_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "harness", *map(str, args)]


def run_cli_process(
    args: list[str], env: dict[str, str], *, cwd: Path | None = None, timeout: float = 120, preexec_fn=None
) -> CliResult:
    p = subprocess.run(
        harness_cmd(*args), env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout, preexec_fn=preexec_fn
    )
    return CliResult(p.returncode, p.stdout, p.stderr)


def wait_for(cond, timeout: float = 30.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def file_size_limit(limit_bytes: int):
    """preexec_fn: a file-size limit (`ulimit -f`), with SIGXFSZ ignored so that a write past it
    fails with EFBIG the way a full disk fails with ENOSPC, instead of killing the process."""

    def apply() -> None:
        import resource

        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit_bytes, limit_bytes))

    return apply


# ----------------------------------------------------------------------------- synthetic files


def tiny_gguf(path: Path) -> Path:
    """A structurally valid GGUF of a two-layer toy llama (a few KiB)."""
    import gguf
    import numpy as np

    w = gguf.GGUFWriter(str(path), "llama")
    w.add_block_count(2)
    w.add_context_length(128)
    w.add_embedding_length(8)
    w.add_head_count(2)
    w.add_token_list(["a", "b", "c"])
    w.add_tensor("token_embd.weight", np.ones((3, 8), dtype=np.float32))
    for i in range(2):
        w.add_tensor(f"blk.{i}.attn_q.weight", np.ones((8, 8), dtype=np.float32))
    w.add_tensor("output_norm.weight", np.ones(8, dtype=np.float32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return path


def tree(root: Path, skip: Path | None = None) -> dict[str, int]:
    """path -> size of every file under root except those under `skip` (a snapshot to diff)."""
    out = {}
    for p in root.rglob("*"):
        if skip is not None and (p == skip or skip in p.parents):
            continue
        if p.is_file() or p.is_symlink():
            out[str(p.relative_to(root))] = p.lstat().st_size
    return out


def process_dead(pid: int) -> bool:
    """Gone, or a zombie (dead, waiting for a reaper: in a container PID 1 may never reap it)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return True
    return state in ("Z", "X")
