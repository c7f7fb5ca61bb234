"""Wrong solution of quantize: writes each quantised file beside its input, as llama-quantize is
often run (model.F16.gguf -> model.Q4_0.gguf in the same folder). On a learner's machine that
folder is the model store, beside the pinned file (the lab hands over a copy in a folder of its own,
so the store is never written): input_untouched and files_valid (not in out_dir) must fail."""

from __future__ import annotations

from pathlib import Path

import llama_cpp

from harness.labs.child import import_file

# The lab's reference, ../solution.py wherever the lab folder is, as module `solution`:
import_file("solution", Path(__file__).resolve().parents[1] / "solution.py")
from solution import choose, measure  # noqa: E402,F401  (measuring and choosing are right)


def quantize(src, qtype, out_dir):
    dst = Path(src).with_name(f"{Path(src).stem.split('.')[0]}.{qtype}.gguf")
    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = getattr(llama_cpp, f"LLAMA_FTYPE_MOSTLY_{qtype}")
    if llama_cpp.llama_model_quantize(str(src).encode(), str(dst).encode(), params) != 0:
        raise RuntimeError(f"quantizing to {qtype} failed")
    return dst
