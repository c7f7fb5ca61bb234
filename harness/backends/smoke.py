"""One real generation in a child process: proof that this llama.cpp build works on this CPU.

`harness doctor` and scripts/setup run it. A broken build (llama.cpp's AMX code on some Xeons)
dies of a signal in the first prompt decode; in a child that is a result to report, with its cause
and the fix, instead of the death of the command that asked.

    python -m harness.backends.smoke MODEL.gguf   (prints one JSON line)
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

PROMPT = "Name three primary colours."  # through the chat template: a multi-token prompt decode
MAX_TOKENS = 16
TIMEOUT_S = 180.0


def run_smoke(model_path: Path, *, timeout_s: float = TIMEOUT_S) -> dict[str, Any]:
    """{"ok": True, "decode_tok_s": ..., "tokens": n, ...} or {"ok": False, "signal"/"error": ..., "message", "hint"}."""
    from harness.llama_build import rebuild_hint
    from harness.native_crash import crash_advice, signal_name

    env = dict(os.environ, PYTHONFAULTHANDLER="1")
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "harness.backends.smoke", str(model_path)],
            capture_output=True,
            text=True,
            timeout=timeout_s,
            env=env,
            stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired:
        return {
            "ok": False,
            "error": "timeout",
            "message": f"a 16-token generation took over {timeout_s:.0f} s",
            "hint": "the machine may be overloaded; run `harness doctor` again",
        }
    if proc.returncode < 0:
        sig = signal_name(proc.returncode) or str(-proc.returncode)
        message, _ = crash_advice(sig, proc.stderr, what="llama.cpp's test generation")
        hint = f"this llama.cpp build does not work on this CPU; {rebuild_hint()}"
        return {"ok": False, "signal": sig, "message": message, "hint": hint, "stderr_tail": proc.stderr[-2000:]}
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if proc.returncode != 0 or not lines:
        tail = (proc.stderr or proc.stdout).strip().splitlines()
        return {
            "ok": False,
            "error": "failed",
            "message": f"the test generation failed: {tail[-1] if tail else proc.returncode}",
            "hint": "run `harness models verify smollm2-135m`, then `harness doctor` again",
        }
    return json.loads(lines[-1])


def _child(model_path: str) -> int:
    from harness.backends.llama_cpp import LlamaCppBackend

    be = LlamaCppBackend(model_path, n_ctx=256)
    try:
        c = be.chat([{"role": "user", "content": PROMPT}], max_tokens=MAX_TOKENS, temperature=0.0, seed=0)
        info = be.info()
    finally:
        be.close()
    print(
        json.dumps(
            {
                "ok": True,
                "tokens": c.completion_tokens,
                "prompt_tokens": c.prompt_tokens,
                "decode_tok_s": c.timings.decode_tok_s,
                "prefill_tok_s": c.timings.prefill_tok_s,
                "device": info.device,
                "threads": info.threads,
                "extra_bufts": info.extra.get("extra_bufts"),
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(_child(sys.argv[1]))
