"""The embedding model at another quantisation (`harness bench --embed-quant Q8_0,Q4_0`), made by the harness.

llama.cpp's own quantiser (`llama_cpp.llama_model_quantize`, as labs/quantize/solution.py calls it) turns
the pinned file into HARNESS_HOME/models/<name>/<stem>.<TYPE>.gguf, next to it, never over it:

- written atomically: quantised into a hidden temp file in the same folder, then renamed, so no partial
  file is ever visible under the final name;
- pinned by the sha256 measured when it was made (<name>/.quantized.json, with the source file's sha256);
  a later run hashes the file again and refuses one that changed, and the result file records the hash;
- reused when present and pinned; a file there without a pin (or made from another source) is made again.

The quantiser runs in a child process: llama.cpp logs to stderr and a native abort must not end the bench.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from harness.atomic import atomic_write_json
from harness.bench.schema import EmbedModel
from harness.errors import HarnessError

PINS = ".quantized.json"
Quantizer = Callable[[Path, Path, str], None]  # (source, destination, type); raises HarnessError


def parse_quants(values: list[str]) -> list[str]:
    """ "F16,Q8_0" or repeated options -> ["F16", "Q8_0"] (upper case, duplicates dropped)."""
    out = [v.strip().upper() for text in values for v in text.split(",") if v.strip()]
    return list(dict.fromkeys(out))


def check_quant_names(quants: list[str], pinned: str = "F16") -> None:
    """Every name is the pinned file's type or one of llama.cpp's LLAMA_FTYPE_MOSTLY_* types."""
    import llama_cpp

    known = sorted(k.removeprefix("LLAMA_FTYPE_MOSTLY_") for k in dir(llama_cpp) if k.startswith("LLAMA_FTYPE_MOSTLY_"))
    bad = [q for q in quants if q != pinned and q not in known]
    if bad:
        raise HarnessError(
            f"--embed-quant {bad[0]!r} is not a llama.cpp quantisation type",
            f"write one of {pinned} (the pinned file), {', '.join(k for k in known if k.startswith('Q'))}",
        )


def quantize_in_child(src: Path, dst: Path, qtype: str) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "harness.bench.embed_quant", str(src), str(dst), qtype],
        capture_output=True,
        text=True,
        timeout=1800,
    )
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout)[-1200:]
        raise HarnessError(
            f"llama.cpp could not quantise {src.name} to {qtype} (exit code {proc.returncode}): {tail}",
            "check the type name (harness bench --embed-quant F16,Q8_0,Q4_0) and the free disk space",
        )


def _sha256(path: Path) -> str:
    from harness.models.store import sha256_file

    return sha256_file(path)


def _read_pins(folder: Path) -> dict:
    try:
        data = json.loads((folder / PINS).read_text(encoding="utf-8"))
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def quantized_path(pinned: Path, qtype: str) -> Path:
    return pinned.parent / f"{pinned.name.split('.')[0]}.{qtype}.gguf"


def ensure_embed_model(name: str, qtype: str, quantize: Quantizer = quantize_in_child) -> tuple[Path, EmbedModel]:
    """The file of embedding model `name` at `qtype` (the pinned file itself at its own type), made if
    needed, and its facts for the result file."""
    from filelock import FileLock

    from harness.models.lock import get_entry
    from harness.models.store import resolve_model_path

    entry = get_entry(name)
    pinned = resolve_model_path(name)  # verified against the lock (or its first-download pin)
    source_sha = entry.sha256 or _sha256(pinned)
    if qtype == (entry.quant or "").upper():
        return pinned, EmbedModel(name=name, quant=qtype, sha256=source_sha, bytes=pinned.stat().st_size)
    dst = quantized_path(pinned, qtype)
    folder = pinned.parent
    with FileLock(str(folder / f".{dst.name}.lock")):  # two benches at once: one quantises, the other reuses
        pin = _read_pins(folder).get(qtype) or {}
        if dst.is_file() and pin.get("source_sha256") == source_sha:
            measured = _sha256(dst)
            if measured != pin.get("sha256"):
                raise HarnessError(
                    f"{dst.name} changed since the harness made it (sha256 {measured[:12]}… vs pinned {str(pin.get('sha256'))[:12]}…)",
                    f"delete it ({dst.name} in the model store's {name} folder); the next bench makes it again",
                )
        else:
            measured = _make(pinned, dst, qtype, quantize)
            pins = _read_pins(folder)
            pins[qtype] = {"file": dst.name, "sha256": measured, "source_sha256": source_sha}
            atomic_write_json(folder / PINS, pins)
    return dst, EmbedModel(name=name, quant=qtype, sha256=measured, bytes=dst.stat().st_size, source_sha256=source_sha)


def _make(src: Path, dst: Path, qtype: str, quantize: Quantizer) -> str:
    fd, tmp_name = tempfile.mkstemp(prefix=f".{dst.name}.", suffix=".tmp.gguf", dir=dst.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        quantize(src, tmp, qtype)
        if not tmp.is_file() or tmp.stat().st_size == 0:
            raise HarnessError(
                f"quantising {src.name} to {qtype} wrote no file", "run the bench again; report it if it repeats"
            )
        from harness.models.gguf_check import check_gguf_header

        check_gguf_header(tmp)
        sha = _sha256(tmp)
        os.chmod(tmp, 0o644)  # mkstemp's 0600: readable like the pinned file next to it
        os.replace(tmp, dst)
        return sha
    finally:
        tmp.unlink(missing_ok=True)


def _main(argv: list[str]) -> int:
    import llama_cpp

    src, dst, qtype = argv
    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = getattr(llama_cpp, f"LLAMA_FTYPE_MOSTLY_{qtype}")
    rc = llama_cpp.llama_model_quantize(src.encode(), dst.encode(), params)
    if rc != 0:
        print(f"llama_model_quantize returned {rc}", file=sys.stderr)
    return 1 if rc else 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
