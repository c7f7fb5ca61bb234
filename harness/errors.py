"""One error family. Every message says what went wrong and what to do next.

The CLI turns a HarnessError into its message, its hint and a non-zero exit code;
anything else is a bug and keeps its traceback.
"""

from __future__ import annotations


class HarnessError(Exception):
    """A problem the user can fix. `hint` says how."""

    exit_code = 1

    def __init__(self, message: str, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message if not self.hint else f"{self.message}\n  -> {self.hint}"


class LockError(HarnessError):
    """models.lock is unreadable or invalid."""


class ModelNotFound(HarnessError):
    """A model name that is not in models.lock, or not pulled yet."""


class DownloadError(HarnessError):
    """Every source of a model failed; the message lists each one and why."""

    exit_code = 3


class VerifyError(HarnessError):
    """A file's size or sha256 does not match the lock."""

    exit_code = 4


class CorruptModelFile(HarnessError):
    """A file that is not a loadable GGUF (checked before llama.cpp sees it)."""


class BackendError(HarnessError):
    """A backend could not load a model or answer a request."""


class BackendUnavailable(BackendError):
    """The backend's server is not reachable or the library is missing."""


class DeviceError(HarnessError):
    """The requested device (e.g. --device gpu) cannot be used."""


class LabError(HarnessError):
    """A lab is missing, malformed, or its run failed in the harness itself."""


class ResultFileError(HarnessError):
    """A result JSON that is malformed, of another schema version, or of another tool."""
