"""How far a running check is: the grader's ctx.progress(done, total) travels from the child to
the parent as one short line on a pipe of its own (stdout and stderr are the learner's, and capped).
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass


@dataclass(frozen=True)
class ItemProgress:
    done: int
    total: int
    what: str = "item"

    def __str__(self) -> str:
        return f"{self.what} {self.done} of {self.total}"


def status_line(progress: ItemProgress | None, elapsed_s: float, limit_s: float | None = None) -> str:
    """'still running: item 12 of 40, 35 s (stops at 120 s)'."""
    where = f"{progress}, " if progress is not None else ""
    limit = f" (stops at {limit_s:g} s)" if limit_s else ""
    return f"still running: {where}{elapsed_s:.0f} s{limit}"


class ProgressWriter:
    """The child's end. Never blocks the learner's code: a full pipe drops the line."""

    def __init__(self, fd: int):
        self.fd: int | None = fd
        try:
            os.set_blocking(fd, False)
        except OSError:  # not an open fd: progress is a nicety, never a reason to fail
            self.fd = None

    def send(self, done: int, total: int, what: str = "item") -> None:
        if self.fd is None:
            return
        word = " ".join(str(what).split()) or "item"
        try:
            os.write(self.fd, f"{int(done)} {int(total)} {word}\n".encode())
        except BlockingIOError:
            pass
        except OSError:  # the parent is gone or closed its end: stop trying
            self.fd = None


class ProgressReader:
    """The parent's end: a thread keeps the latest line."""

    def __init__(self) -> None:
        self.read_fd, self.write_fd = os.pipe()
        self.latest: ItemProgress | None = None
        self._thread = threading.Thread(target=self._drain, daemon=True)

    def started(self) -> None:
        """Call once the child has its copy of the write end."""
        os.close(self.write_fd)
        self._thread.start()

    def _drain(self) -> None:
        with os.fdopen(self.read_fd, "rb") as f:
            for line in f:
                parts = line.decode("utf-8", "replace").split(maxsplit=2)
                try:
                    self.latest = ItemProgress(
                        int(parts[0]), int(parts[1]), parts[2].strip() if len(parts) > 2 else "item"
                    )
                except (ValueError, IndexError):
                    continue

    def join(self, timeout: float) -> None:
        self._thread.join(timeout)
