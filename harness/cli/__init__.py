"""Typer CLI: one module per command group. Modules import heavy libraries inside commands only,
so `harness --help` stays fast (no llama_cpp, dspy, litellm or faiss at start-up)."""
