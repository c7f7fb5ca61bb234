"""The one GGUF header reader: `gguf.GGUFReader` (the pinned package) with bounds checks and
errors that say what to do, plus the structural check run before llama.cpp sees a file.

llama.cpp can abort the whole process on a truncated or corrupt file, which Python cannot
catch, so every file is read here first. GGUFReader memory-maps the file and walks the
key/values and the tensor table; no tensor data is read. Two things are added around it:
- every read is bounds-checked (GGUFReader's own reads past the end return short arrays,
  which surface as IndexError or a failed reshape far from the cause);
- metadata arrays are mapped in one piece instead of one numpy view per item: GGUFReader 0.19
  takes ~5 s on SmolLM2's header and ~21 s on Gemma 3's (262,144-token vocabulary), this ~0.1 s.
  Arrays are kept as their item type and length (ArrayInfo), which is all the callers use.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gguf
import numpy as np
from gguf.constants import GGML_QUANT_SIZES, GGMLQuantizationType, GGUFEndian, GGUFValueType

from harness.errors import CorruptModelFile

_FIXED_HEADER = struct.Struct("<4sIQQ")  # magic, version, tensor count, key/value count
_MAX_COUNT = 1 << 24  # no real model has more tensors or keys than this
_VERSIONS = (2, 3)


@dataclass(frozen=True)
class ArrayInfo:
    """A metadata array, as its item type and length (the vocabulary: STRING, 49152)."""

    item_type: str
    count: int


@dataclass(frozen=True)
class TensorInfo:
    name: str
    ggml_type: int  # gguf.GGMLQuantizationType
    n_elements: int
    n_bytes: int


@dataclass(frozen=True)
class GGUFHeader:
    version: int
    alignment: int
    kv: Mapping[str, Any]  # int | float | bool | str | ArrayInfo
    tensors: tuple[TensorInfo, ...]

    @property
    def architecture(self) -> str | None:
        arch = self.kv.get("general.architecture")
        return arch if isinstance(arch, str) else None

    @property
    def file_type(self) -> int | None:
        """general.file_type: llama.cpp's LLAMA_FTYPE_* (7 for Q8_0); None when the file does not say."""
        ft = self.kv.get("general.file_type")
        return ft if isinstance(ft, int) and not isinstance(ft, bool) else None


class _Truncated(Exception):
    def __init__(self, end: int, size: int, in_tensor_data: bool):
        self.end, self.size, self.in_tensor_data = end, size, in_tensor_data


class _Malformed(Exception):
    """A field GGUFReader would reject with a numpy repr in its message ("np.uint32(999) is not ...")."""


def _known(enum, raw, what: str):
    try:
        return enum(int(raw))
    except ValueError:
        raise _Malformed(f"{what} {int(raw)}") from None


class _CheckedReader(gguf.GGUFReader):
    """GGUFReader whose reads never run past the end of the file, whose metadata arrays are read
    in one piece, and whose type errors name the field. Overrides internals of the pinned gguf
    version (pyproject.toml); tests/models/test_gguf_check.py compares it with the stock reader."""

    def _get(self, offset, dtype, count=1, override_order=None):
        end = int(offset) + np.dtype(dtype).itemsize * int(count)
        if end > len(self.data):
            # data_offset is set just before the tensors' data is mapped
            raise _Truncated(end, len(self.data), in_tensor_data=hasattr(self, "data_offset"))
        return super()._get(offset, dtype, count, override_order)

    def _get_field_parts(self, orig_offs, raw_type):
        if _known(GGUFValueType, raw_type, "unknown metadata value type") != GGUFValueType.ARRAY:
            return super()._get_field_parts(orig_offs, raw_type)
        item_type, count = self._get(orig_offs, np.uint32), self._get(orig_offs + 4, np.uint64)
        itype = _known(GGUFValueType, item_type[0], "unknown metadata value type")
        n, offs = int(count[0]), orig_offs + 12
        types = [GGUFValueType.ARRAY, itype]
        np_type = self.gguf_scalar_to_np.get(itype)
        if np_type is not None:
            values = self._get(offs, np_type, n)
            return 12 + int(values.nbytes), [item_type, count, values], [2], types
        if itype == GGUFValueType.STRING:
            # Only the lengths are read, with struct: a numpy view per string is what makes the
            # stock reader slow. The strings are not kept (data=[]): nobody here needs them.
            size, buf = len(self.data), memoryview(self.data)
            length = struct.Struct("<Q" if self.endianess == GGUFEndian.LITTLE else ">Q").unpack_from
            for _ in range(n):
                if offs + 8 > size:
                    raise _Truncated(offs + 8, size, in_tensor_data=False)
                offs += 8 + length(buf, offs)[0]
            if offs > size:
                raise _Truncated(offs, size, in_tensor_data=False)
            return offs - orig_offs, [item_type, count, self.data[orig_offs + 12 : offs]], [], types
        return super()._get_field_parts(orig_offs, raw_type)  # arrays of arrays: rare, small

    def _build_tensor_info(self, offs, count):
        offs, fields = super()._build_tensor_info(offs, count)
        for f in fields:  # parts: name length, name, n_dims, dims, type, offset
            ggml_type = _known(GGMLQuantizationType, f.parts[4][0], f"tensor {f.name} has unknown type")
            if ggml_type not in GGML_QUANT_SIZES:
                raise _Malformed(f"tensor {f.name} has type {ggml_type.name}, which has no known size")
        return offs, fields


def _bad(path: Path, why: str) -> CorruptModelFile:
    return CorruptModelFile(
        f"{path.name} is not a valid GGUF file: {why}",
        hint="pull it again with `harness models pull NAME --force` (or re-download the file)",
    )


def _fixed_header(path: Path) -> tuple[int, int, int]:
    """Magic, version and counts, checked before GGUFReader walks the file: a corrupt count would
    otherwise make it loop until the file ends, and say nothing useful."""
    try:
        with open(path, "rb") as f:
            head = f.read(_FIXED_HEADER.size)
    except OSError as e:
        raise CorruptModelFile(
            f"cannot read {path.name}: {e.strerror}", hint="check the path and its permissions"
        ) from None
    if len(head) < _FIXED_HEADER.size:
        raise _bad(path, f"it is only {len(head)} bytes")
    magic, version, n_tensors, n_kv = _FIXED_HEADER.unpack(head)
    if magic != b"GGUF":
        raise _bad(path, "wrong magic bytes (not a GGUF file)")
    if version not in _VERSIONS:
        raise _bad(path, f"GGUF version {version} is not supported (2 or 3)")
    if n_tensors > _MAX_COUNT or n_kv > _MAX_COUNT:
        raise _bad(path, f"implausible counts ({n_tensors} tensors, {n_kv} keys)")
    return version, n_tensors, n_kv


def _value(field: gguf.ReaderField) -> Any:
    kind = field.types[0]
    if kind == GGUFValueType.ARRAY:
        # a key/value field's parts: key length, key, value type, item type, item count, ...
        return ArrayInfo(field.types[-1].name if len(field.types) > 1 else "UNKNOWN", int(field.parts[4][0]))
    if kind == GGUFValueType.STRING:
        return bytes(field.parts[-1]).decode("utf-8", "replace")
    return field.parts[-1].tolist()[0]


def read_gguf_header(path: Path | str) -> GGUFHeader:
    """The header of a structurally complete GGUF (v2/v3): every key/value and tensor entry read,
    every tensor's bytes inside the file. Raises CorruptModelFile saying what is wrong."""
    path = Path(path)
    version, _, _ = _fixed_header(path)
    try:
        reader = _CheckedReader(path)
    except _Truncated as e:
        raise _bad(
            path,
            f"its tensors need {e.end} bytes but the file has {e.size} (truncated)"
            if e.in_tensor_data
            else "it ends early, inside its header (truncated?)",
        ) from None
    except _Malformed as e:
        raise _bad(path, str(e)) from None
    except KeyError as e:  # duplicate keys
        raise _bad(path, str(e.args[0] if e.args else e)) from None
    except (ValueError, OverflowError) as e:  # bad alignment, duplicate tensors, a key that is not UTF-8
        raise _bad(path, str(e)) from None
    except OSError as e:
        raise CorruptModelFile(
            f"cannot read {path.name}: {e.strerror}", hint="check the path and its permissions"
        ) from None
    kv = {name: _value(f) for name, f in reader.fields.items() if not name.startswith("GGUF.")}
    tensors = tuple(TensorInfo(t.name, int(t.tensor_type), int(t.n_elements), int(t.n_bytes)) for t in reader.tensors)
    return GGUFHeader(version=version, alignment=int(reader.alignment), kv=kv, tensors=tensors)


def check_gguf_header(path: Path | str) -> dict:
    """Raise CorruptModelFile unless `path` is a structurally complete GGUF (v2/v3).
    Returns a summary: version, tensor_count, kv_count, architecture, file_type (general.file_type:
    llama.cpp's LLAMA_FTYPE_*, e.g. 7 for Q8_0; None when the file does not say)."""
    h = read_gguf_header(path)
    return {
        "version": h.version,
        "tensor_count": len(h.tensors),
        "kv_count": len(h.kv),
        "architecture": h.architecture,
        "file_type": h.file_type,
    }
