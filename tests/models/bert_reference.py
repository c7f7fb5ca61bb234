"""A plain numpy forward pass of a sentence-transformers BERT (post-LayerNorm, GELU, mean
pooling), straight from model.safetensors: the reference the converted GGUF is checked against."""

from __future__ import annotations

import json
from math import erf, sqrt
from pathlib import Path

import numpy as np

_erf = np.vectorize(erf)


def _ln(x, w, b, eps):
    mu = x.mean(-1, keepdims=True)
    var = ((x - mu) ** 2).mean(-1, keepdims=True)
    return (x - mu) / np.sqrt(var + eps) * w + b


def _gelu(x):  # exact (erf) GELU, as BERT's "gelu"
    return 0.5 * x * (1.0 + _erf(x / sqrt(2.0)))


class BertReference:
    def __init__(self, folder: Path):
        from safetensors.numpy import load_file

        self.hp = json.loads((Path(folder) / "config.json").read_text())
        self.t = {
            k.removeprefix("bert."): v.astype(np.float64)
            for k, v in load_file(str(Path(folder) / "model.safetensors")).items()
        }

    def embed(self, ids: list[int]) -> np.ndarray:
        t, hp = self.t, self.hp
        eps, H = hp["layer_norm_eps"], hp["num_attention_heads"]
        n = len(ids)
        x = (
            t["embeddings.word_embeddings.weight"][ids]
            + t["embeddings.position_embeddings.weight"][:n]
            + t["embeddings.token_type_embeddings.weight"][0]
        )
        x = _ln(x, t["embeddings.LayerNorm.weight"], t["embeddings.LayerNorm.bias"], eps)
        d = x.shape[1] // H
        for i in range(hp["num_hidden_layers"]):
            p = f"encoder.layer.{i}."
            lin = lambda h, name, p=p: h @ t[p + name + ".weight"].T + t[p + name + ".bias"]  # noqa: E731
            q, k, v = (
                lin(x, f"attention.self.{m}").reshape(n, H, d).transpose(1, 0, 2) for m in ("query", "key", "value")
            )
            a = q @ k.transpose(0, 2, 1) / sqrt(d)
            a = np.exp(a - a.max(-1, keepdims=True))
            a /= a.sum(-1, keepdims=True)
            ctx = (a @ v).transpose(1, 0, 2).reshape(n, H * d)
            x = _ln(
                x + lin(ctx, "attention.output.dense"),
                t[p + "attention.output.LayerNorm.weight"],
                t[p + "attention.output.LayerNorm.bias"],
                eps,
            )
            h = _gelu(lin(x, "intermediate.dense"))
            x = _ln(x + lin(h, "output.dense"), t[p + "output.LayerNorm.weight"], t[p + "output.LayerNorm.bias"], eps)
        v = x.mean(0)
        return v / np.linalg.norm(v)
