"""Tiny, randomly initialised transformers written to disk by the tests and loaded by path,
the way a real backbone or masked LM is: a BERT encoder for ``aplc`` and a BERT masked LM
for ``bert-mlm``."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from pathlib import Path

import torch

from harness.data import Corpus

MLM_VOCAB = (
    ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", ".", ",", "-", "!", "the", "a", "and", "of"]
    + ["to", "in", "is", "was", "for", "on", "it", "profit", "rose", "fell", "gain", "loss"]
    + ["market", "stock", "shares", "company", "bank", "rate", "rates", "year", "month"]
    + ["price", "prices", "oil", "gold", "trade", "un", "news", "report"]
    + ["##believ", "##able", "##s", "##ly", "##ed", "##ing"]
)
"""A cased WordPiece vocabulary with a few continuation pieces (``un ##believ ##able``)."""


def tiny_backbone(folder: Path, corpora: Iterable[Corpus]) -> str:
    """A 2-layer, 32-wide BERT with a whole-word WordPiece vocabulary of the corpora."""
    from transformers import BertConfig, BertModel, BertTokenizer

    counts = Counter(w.lower() for c in corpora for d in c.train for w in d.words)
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    vocab = specials + [w for w, n in counts.most_common(30000) if n >= 2]
    folder.mkdir(parents=True, exist_ok=True)
    tokenizer = BertTokenizer(vocab={w: i for i, w in enumerate(vocab)}, do_lower_case=True)
    tokenizer.save_pretrained(folder)
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=len(vocab),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=128,
    )
    BertModel(config).save_pretrained(folder)
    return str(folder)


def tiny_mlm(root: Path) -> Path:
    """A 2-layer BERT masked LM over :data:`MLM_VOCAB` with peaked, context-dependent (if
    meaningless) predictions; returns the folder to pass as ``model=``."""
    from transformers import BertConfig, BertForMaskedLM, BertTokenizerFast

    root.mkdir(parents=True, exist_ok=True)
    (root / "vocab.txt").write_text("\n".join(MLM_VOCAB) + "\n")
    tok = BertTokenizerFast.from_pretrained(root, do_lower_case=False)  # reads vocab.txt
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=len(MLM_VOCAB),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=48,
        max_position_embeddings=64,
        initializer_range=0.5,  # peaked, context-dependent predictions even untrained
    )
    out = root / "model"
    BertForMaskedLM(config).save_pretrained(out)
    tok.save_pretrained(out)
    return out
