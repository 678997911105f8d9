"""Tiny, randomly initialised transformers written to disk by the tests and loaded by path,
the way a real backbone or masked LM is: a BERT encoder for ``aplc`` and a BERT masked LM
for ``bert-mlm``."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import torch

from harness.data import Corpus

MLM_VOCAB = (
    ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "a", "of", "and", ".", ",", "-"]
    + ["market", "markets", "profit", "profits", "rose", "fell", "bank", "stock", "shares"]
    + ["price", "prices", "oil", "gold", "trade", "un", "news", "report"]
    + ["##believ", "##able", "##s", "##ly", "##ed", "##ing"]
)
SPECIAL = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"}
"""A cased WordPiece vocabulary with a few continuation pieces (``un ##believ ##able``)."""


def bert_config(vocab_size: int, intermediate: int, positions: int, **extra: float) -> Any:
    """A 2-layer, 32-wide, 2-head BERT configuration; seeds torch for its initialisation."""
    from transformers import BertConfig

    torch.manual_seed(0)
    return BertConfig(
        vocab_size=vocab_size, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
        intermediate_size=intermediate, max_position_embeddings=positions, **extra,
    )  # fmt: skip


def tiny_backbone(folder: Path, corpora: Iterable[Corpus]) -> str:
    """A 2-layer, 32-wide BERT with a whole-word WordPiece vocabulary of the corpora."""
    from transformers import BertModel, BertTokenizer

    counts = Counter(w.lower() for c in corpora for d in c.train for w in d.words)
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    vocab = specials + [w for w, n in counts.most_common(30000) if n >= 2]
    folder.mkdir(parents=True, exist_ok=True)
    tokenizer = BertTokenizer(vocab={w: i for i, w in enumerate(vocab)}, do_lower_case=True)
    tokenizer.save_pretrained(folder)
    BertModel(bert_config(len(vocab), 64, 128)).save_pretrained(folder)
    return str(folder)


def tiny_mlm(root: Path) -> Path:
    """A 2-layer BERT masked LM over :data:`MLM_VOCAB` with peaked, context-dependent (if
    meaningless) predictions; returns the folder to pass as ``model=``."""
    from transformers import BertForMaskedLM, BertTokenizerFast

    root.mkdir(parents=True, exist_ok=True)
    (root / "vocab.txt").write_text("\n".join(MLM_VOCAB) + "\n")
    tok = BertTokenizerFast.from_pretrained(root, do_lower_case=False)  # reads vocab.txt
    # initializer_range 0.5: peaked, context-dependent predictions even untrained
    config = bert_config(len(MLM_VOCAB), 48, 64, initializer_range=0.5)
    out = root / "model"
    BertForMaskedLM(config).save_pretrained(out)
    tok.save_pretrained(out)
    return out
