"""A cheap structural check of a GGUF file, before llama.cpp sees it.

llama.cpp can abort the whole process on a truncated or corrupt file, which Python cannot
catch. This walks the header, the metadata and the tensor table with struct reads (no
tensor data is read) and checks that every tensor's bytes lie inside the file.
"""

from __future__ import annotations

import mmap
import struct
from pathlib import Path

from harness.errors import CorruptModelFile

_MAGIC = b"GGUF"
# value type -> struct format for fixed-size scalars (GGUF spec)
_SCALAR = {0: "B", 1: "b", 2: "H", 3: "h", 4: "I", 5: "i", 6: "f", 7: "?", 10: "Q", 11: "q", 12: "d"}
_STRING, _ARRAY = 8, 9
_MAX_COUNT = 1 << 24  # no real model has more tensors/keys/array items than this


class _Reader:
    def __init__(self, buf, path: Path):
        self.buf, self.pos, self.path = buf, 0, path

    def take(self, fmt: str):
        size = struct.calcsize("<" + fmt)
        if self.pos + size > len(self.buf):
            raise self.bad("it ends inside its header (truncated?)")
        val = struct.unpack_from("<" + fmt, self.buf, self.pos)
        self.pos += size
        return val[0] if len(val) == 1 else val

    def skip(self, n: int) -> None:
        if n < 0 or self.pos + n > len(self.buf):
            raise self.bad("it ends inside its header (truncated?)")
        self.pos += n

    def string(self) -> bytes:
        n = self.take("Q")
        start = self.pos
        self.skip(n)
        return bytes(self.buf[start : self.pos])

    def value(self, vtype: int):
        if vtype in _SCALAR:
            return self.take(_SCALAR[vtype])
        if vtype == _STRING:
            return self.string()
        if vtype == _ARRAY:
            etype, count = self.take("I"), self.take("Q")
            if count > _MAX_COUNT * 4:
                raise self.bad(f"an array claims {count} items")
            if etype in _SCALAR:
                self.skip(struct.calcsize("<" + _SCALAR[etype]) * count)
            else:
                for _ in range(count):
                    self.value(etype)
            return None
        raise self.bad(f"unknown metadata value type {vtype}")

    def bad(self, why: str) -> CorruptModelFile:
        return CorruptModelFile(
            f"{self.path.name} is not a valid GGUF file: {why}",
            hint="pull it again with `harness models pull NAME --force` (or re-download the file)",
        )


def check_gguf_header(path: Path | str) -> dict:
    """Raise CorruptModelFile unless `path` is a structurally complete GGUF (v2/v3).
    Returns a summary: version, tensor_count, kv_count, architecture, file_type (general.file_type:
    llama.cpp's LLAMA_FTYPE_*, e.g. 7 for Q8_0; None when the file does not say)."""
    from gguf.constants import GGML_QUANT_SIZES, GGMLQuantizationType

    path = Path(path)
    try:
        f = open(path, "rb")
    except OSError as e:
        raise CorruptModelFile(f"cannot read {path.name}: {e.strerror}", hint="check the path and its permissions") from None
    with f:
        size = path.stat().st_size
        if size < 24:
            raise _Reader(b"", path).bad(f"it is only {size} bytes")
        with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as buf:
            r = _Reader(buf, path)
            if r.buf[:4] != _MAGIC:
                raise r.bad("wrong magic bytes (not a GGUF file)")
            r.pos = 4
            version = r.take("I")
            if version not in (2, 3):
                raise r.bad(f"GGUF version {version} is not supported (2 or 3)")
            n_tensors, n_kv = r.take("Q"), r.take("Q")
            if n_tensors > _MAX_COUNT or n_kv > _MAX_COUNT:
                raise r.bad(f"implausible counts ({n_tensors} tensors, {n_kv} keys)")
            alignment, arch, file_type = 32, None, None
            for _ in range(n_kv):
                key = r.string()
                vtype = r.take("I")
                val = r.value(vtype)
                if key == b"general.alignment" and isinstance(val, int):
                    alignment = val
                elif key == b"general.architecture" and isinstance(val, bytes):
                    arch = val.decode("utf-8", "replace")
                elif key == b"general.file_type" and isinstance(val, int):
                    file_type = val
            if alignment <= 0 or alignment & (alignment - 1):
                raise r.bad(f"alignment {alignment} is not a power of two")
            end_of_data = 0
            for _ in range(n_tensors):
                name = r.string()
                n_dims = r.take("I")
                if n_dims > 8:
                    raise r.bad(f"tensor {name!r} has {n_dims} dimensions")
                n_elems = 1
                for _ in range(n_dims):
                    n_elems *= r.take("Q")
                ttype, offset = r.take("I"), r.take("Q")
                try:
                    block, type_size = GGML_QUANT_SIZES[GGMLQuantizationType(ttype)]
                except (ValueError, KeyError):
                    raise r.bad(f"tensor {name.decode(errors='replace')} has unknown type {ttype}") from None
                end_of_data = max(end_of_data, offset + n_elems // block * type_size)
            data_start = (r.pos + alignment - 1) // alignment * alignment
            if data_start + end_of_data > size:
                raise r.bad(f"its tensors need {data_start + end_of_data} bytes but the file has {size} (truncated)")
    return {"version": version, "tensor_count": n_tensors, "kv_count": n_kv, "architecture": arch,
            "file_type": file_type}
