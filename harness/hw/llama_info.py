"""What the installed llama.cpp says about itself: its system info (the CPU features compiled in),
version, whether it can offload to a GPU, and how it was built (harness/llama_build.py's stamp)."""

from __future__ import annotations

from typing import Any

from harness.llama_build import installed_build


def parse_system_info(text: str) -> dict[str, Any]:
    """llama_print_system_info()'s text ("CPU : SSE3 = 1 | AVX2 = 1 | ...") as {"SSE3": True, "AVX2": True, ...};
    values other than 0/1 are kept as text."""
    flags: dict[str, Any] = {}
    for part in text.replace("\n", "|").split("|"):
        key, sep, value = part.rpartition("=")
        key = key.split(":")[-1].strip()
        if sep and key:
            flags[key] = value.strip() == "1" if value.strip() in ("0", "1") else value.strip()
    return flags


def build_flags(llama_cpp) -> dict[str, Any]:
    """The imported llama_cpp module's system info, parsed (parse_system_info)."""
    raw = llama_cpp.llama_print_system_info()
    return parse_system_info(raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw))


def llama_cpp_info() -> dict[str, Any]:
    """Importable or not (and why), version, GPU offload, compiled features, build: `harness doctor`'s
    llama_cpp block, and what result files record of the build."""
    try:
        import llama_cpp
    except Exception as e:  # a broken build raises more than ImportError
        return {"importable": False, "error": str(e)}
    flags = build_flags(llama_cpp)
    return {
        "importable": True,
        "version": llama_cpp.__version__,
        "gpu_offload": bool(llama_cpp.llama_supports_gpu_offload()),
        "build_flags": sorted(k for k, v in flags.items() if v is True),
        "build": installed_build(flags),
    }
