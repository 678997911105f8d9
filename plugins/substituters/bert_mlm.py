"""``bert-mlm`` substituter: a masked language model's predictions, as in the paper (§4).

The paper runs ``bert-base-cased`` on the document and takes its top-K predictions at the
attacked position. WordPiece is handled as in BERT-Attack (Li et al., 2020), with two fixes:

* every word is mapped to its pieces with the fast tokenizer's ``word_ids`` (words given as
  a list, ``is_split_into_words=True``), so word positions never drift;
* a word of several pieces gets *whole-word* candidates: each piece slot keeps its top
  predictions (a slot that starts a word only from word-initial tokens, a ``##`` slot only
  from ``##`` tokens), the combinations are searched with an exact beam over the summed
  log-probabilities, and ranked by the MLM's perplexity of the combination under the
  per-piece distributions (mean cross-entropy; BERT-Attack instead re-runs the MLM on the
  bare combination and cuts at 24 arbitrarily). ``##`` pieces are never candidates, and a
  punctuation piece inside a word stays as it is ("long-term" → "short-term", "U.S." → "X.Y.").

``mask`` chooses what the MLM sees at the attacked word: ``none`` (BERT-Attack: the
unmasked text; one pass serves every word), ``multi-piece`` (default: single-piece words use
that one unmasked pass, the paper's "top-K predictions at that position"; a word of several
pieces gets its own pass with all its pieces masked, as docs/method.md asks) or ``all`` (every
word masked, one pass per attacked word). ``refresh=False`` (the paper's choice) runs on the
original S_0; ``refresh=True`` reruns on the current text for every position.

Documents longer than ``max_length`` pieces: words inside the first window use it; a word
beyond it gets a window of ``max_length`` pieces centred on it (one extra pass, cached), so
every word gets candidates. Only WordPiece tokenizers (BERT family) are supported.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import torch

from harness import hookimpl
from harness.attack.candidates import filter_candidates, match_case
from harness.components import Component, Option
from harness.errors import UsageError
from harness.text import is_punctuation

MASK_MODES = ("none", "multi-piece", "all")
OPTION = "substituter:bert-mlm.model"


@dataclass
class MaskedLM:
    """A loaded MLM with the vocabulary masks the candidate search needs."""

    tokenizer: Any
    model: Any
    device: torch.device
    start_ok: torch.Tensor  # (V,) tokens that may start a word
    cont_ok: torch.Tensor  # (V,) "##" continuation tokens
    tokens: list[str]
    lowercase: bool
    max_positions: int


def _looks_like_path(name: str) -> bool:
    """A filesystem path rather than a hub id ("name" or "org/name")."""
    return (
        Path(name).exists()
        or name.startswith(("/", ".", "~"))
        or name.count("/") > 1
        or (os.sep != "/" and os.sep in name)
    )


@lru_cache(maxsize=2)
def load_mlm(name: str, device: str = "auto") -> MaskedLM:
    """Tokenizer and masked LM by hub name or local directory, loaded once per process."""
    from transformers import AutoModelForMaskedLM, AutoTokenizer

    hint = (
        "without internet access pass a local directory written by save_pretrained "
        "(config.json, weights, vocab.txt / tokenizer.json) as model=PATH"
    )
    if _looks_like_path(name) and not Path(name).expanduser().is_dir():
        raise UsageError(OPTION, f"no model directory at {name!r}; {hint}")
    offline = os.environ.get("HF_HUB_OFFLINE", "").lower() in {"1", "true", "yes", "on"}
    tokenizer = model = None
    # The local Hugging Face cache first (no network retries), then the hub if allowed.
    for local_only in (True,) if offline else (True, False):
        try:
            where = str(Path(name).expanduser()) if _looks_like_path(name) else name
            tokenizer = AutoTokenizer.from_pretrained(
                where, use_fast=True, local_files_only=local_only
            )
            model = AutoModelForMaskedLM.from_pretrained(where, local_files_only=local_only)
            break
        except Exception as exc:  # hub/network/format errors all mean "cannot load it here"
            error = exc
    if tokenizer is None or model is None:
        raise UsageError(
            OPTION,
            f"cannot load masked LM {name!r} ({error.__class__.__name__}); {hint} "
            "(set HF_HUB_OFFLINE=1 to skip the hub and fail fast)",
        ) from error
    if not getattr(tokenizer, "is_fast", False):
        raise UsageError(OPTION, f"{name!r} has no fast tokenizer (word_ids are needed)")
    tokens = tokenizer.convert_ids_to_tokens(list(range(len(tokenizer))))
    cont = np.array([t.startswith("##") for t in tokens])
    if not cont.any():
        raise UsageError(OPTION, f"{name!r} is not a WordPiece model (no '##' pieces)")
    special = np.zeros(len(tokens), dtype=bool)
    special[[i for i in tokenizer.all_special_ids if i < len(tokens)]] = True
    dev = torch.device(
        ("cuda" if torch.cuda.is_available() else "cpu") if device == "auto" else device
    )
    model = model.eval().to(dev)
    vocab_size = int(model.config.vocab_size)
    pad = max(0, vocab_size - len(tokens))  # logits may cover more ids than the tokenizer
    return MaskedLM(
        tokenizer=tokenizer,
        model=model,
        device=dev,
        start_ok=torch.tensor(np.r_[~cont & ~special, np.zeros(pad, bool)][:vocab_size]),
        cont_ok=torch.tensor(np.r_[cont & ~special, np.zeros(pad, bool)][:vocab_size]),
        tokens=tokens,
        lowercase=bool(getattr(tokenizer, "do_lower_case", False)),
        max_positions=int(getattr(model.config, "max_position_embeddings", 512)),
    )


Slots = list[tuple[np.ndarray, np.ndarray]]  # per piece: (token ids, log-probs), best first


def best_combinations(slots: Slots, width: int) -> list[tuple[tuple[int, ...], float]]:
    """The ``width`` piece combinations with the highest summed log-probability, best first.

    A beam that keeps the best ``width`` partial sums is exact here because the score of a
    combination is a sum of independent per-slot terms.
    """
    ids = np.zeros((1, 0), dtype=np.int64)
    score = np.zeros(1, dtype=np.float64)
    for slot_ids, slot_lp in slots:
        total = (score[:, None] + slot_lp[None, :].astype(np.float64)).ravel()
        keep = min(width, total.size)
        top = np.argpartition(-total, keep - 1)[:keep]
        top = top[np.argsort(-total[top], kind="stable")]
        beam, col = np.divmod(top, slot_ids.size)
        ids = np.concatenate([ids[beam], slot_ids[col][:, None]], axis=1)
        score = total[top]
    return [(tuple(int(t) for t in row), float(s)) for row, s in zip(ids, score, strict=True)]


class BertMLMSubstituter:
    """Masked-LM candidates; see the module docstring for the exact procedure."""

    def __init__(
        self,
        model: str = "bert-base-cased",
        k: int = 48,
        refresh: bool = False,
        mask: str = "multi-piece",
        max_length: int = 512,
        device: str = "auto",
    ):
        if mask not in MASK_MODES:
            raise UsageError("substituter:bert-mlm.mask", f"expected one of {MASK_MODES}")
        self.mlm = load_mlm(model, device)
        self.k = k
        self.refresh = refresh
        self.mask = mask
        self.max_length = min(max_length, self.mlm.max_positions)
        specials = self.mlm.tokenizer.num_special_tokens_to_add(pair=False)
        self.budget = self.max_length - specials  # pieces of words per window
        if self.budget < 1:
            raise UsageError("substituter:bert-mlm.max_length", "too small for any word")
        self.width = max(2 * k, k + 32)  # predictions kept per slot and beam width

    def start(self, original: list[str]) -> BertMLMSource:
        return BertMLMSource(self, original)


class BertMLMSource:
    """Candidates for one document; MLM passes are cached per (text window, masked word)."""

    def __init__(self, parent: BertMLMSubstituter, original: list[str], cache_size: int = 64):
        self.p = parent
        self.original = list(original)
        self.cache_size = cache_size
        self._passes: OrderedDict[tuple[Any, ...], dict[int, Slots]] = OrderedDict()
        self._pieces: dict[tuple[str, ...], np.ndarray] = {}

    # -- windows ------------------------------------------------------------------------------
    def _piece_counts(self, words: list[str]) -> np.ndarray:
        key = tuple(words)
        counts = self._pieces.get(key)
        if counts is None:
            enc = self.p.mlm.tokenizer(words, is_split_into_words=True, add_special_tokens=False)
            counts = np.bincount([w for w in enc.word_ids() if w is not None], minlength=len(words))
            self._pieces[key] = counts
        return counts

    def _window(self, counts: np.ndarray, position: int) -> tuple[int, int]:
        """Word range [s, e) the MLM sees for ``position``: the first window if it holds the
        word, else a window of at most ``budget`` pieces centred on it."""
        budget = self.p.budget
        cum = np.cumsum(counts)
        first_end = int(np.searchsorted(cum, budget, side="right"))
        if position < first_end:
            return 0, first_end
        s, e, used = position, position + 1, int(counts[position])
        while True:  # grow one word to the right, then one to the left, while it fits
            moved = False
            if e < len(counts) and used + counts[e] <= budget:
                used += int(counts[e])
                e += 1
                moved = True
            if s > 0 and used + counts[s - 1] <= budget:
                s -= 1
                used += int(counts[s])
                moved = True
            if not moved:
                return s, e

    # -- MLM passes ---------------------------------------------------------------------------
    @torch.inference_mode()
    def _run(self, words: list[str], masked: int | None, wanted: list[int]) -> dict[int, Slots]:
        """Per wanted word (window-local index): its slots' top predictions."""
        mlm = self.p.mlm
        enc = mlm.tokenizer(
            words,
            is_split_into_words=True,
            truncation=True,
            max_length=self.p.max_length,
            return_tensors="pt",
        )
        word_ids = enc.word_ids(0)
        input_ids = enc["input_ids"].clone()
        if masked is not None:
            rows = [i for i, w in enumerate(word_ids) if w == masked]
            input_ids[0, rows] = mlm.tokenizer.mask_token_id
        batch = {k: v.to(mlm.device) for k, v in enc.items()}
        batch["input_ids"] = input_ids.to(mlm.device)
        logits = mlm.model(**batch).logits[0].float()
        pieces: dict[int, list[int]] = {}
        want = set(wanted)
        for i, w in enumerate(word_ids):
            if w is not None and w in want:
                pieces.setdefault(w, []).append(i)
        rows = sorted(i for r in pieces.values() for i in r)
        if not rows:
            return {}
        lp = torch.log_softmax(logits[rows], dim=-1)
        orig = enc["input_ids"][0, rows].tolist()
        is_cont = torch.tensor([mlm.tokens[t].startswith("##") for t in orig], device=lp.device)
        allowed = torch.where(
            is_cont[:, None], mlm.cont_ok.to(lp.device), mlm.start_ok.to(lp.device)
        ).clone()
        for j, t in enumerate(orig):  # punctuation inside a word keeps it: "long-term" → "X-Y"
            if is_punctuation(mlm.tokens[t]):
                allowed[j] = False
                allowed[j, t] = True
        top = lp.masked_fill(~allowed, float("-inf")).topk(min(self.p.width, lp.shape[-1]), dim=-1)
        top_lp, top_ids = top.values.cpu().numpy(), top.indices.cpu().numpy()
        row_of = {r: j for j, r in enumerate(rows)}
        out: dict[int, Slots] = {}
        for w, rs in pieces.items():
            slots = []
            for r in rs:
                j = row_of[r]
                finite = np.isfinite(top_lp[j])
                slots.append((top_ids[j][finite], top_lp[j][finite]))
            out[w] = slots
        return out

    def _slots(self, words: list[str], position: int) -> Slots:
        counts = self._piece_counts(words)
        if position >= len(counts) or not 0 < counts[position] <= self.p.budget:
            return []  # no pieces at all, or more than one window holds
        s, e = self._window(counts, position)
        mode = self.p.mask
        masked = mode == "all" or (mode == "multi-piece" and counts[position] > 1)
        local = position - s
        key = (tuple(words[s:e]), local if masked else None)
        hit = self._passes.get(key)
        if hit is None:
            wanted = [local] if masked else list(range(e - s))
            hit = self._run(list(words[s:e]), local if masked else None, wanted)
            self._passes[key] = hit
            while len(self._passes) > self.cache_size:
                self._passes.popitem(last=False)
        else:
            self._passes.move_to_end(key)
        return hit.get(local, [])

    def candidates(self, current: list[str], position: int) -> list[str]:
        words = current if self.p.refresh else self.original
        slots = self._slots(words, position)
        if not slots or any(ids.size == 0 for ids, _ in slots):
            return []
        tokens = self.p.mlm.tokens
        word = current[position]
        cands = []
        for ids, _ in best_combinations(slots, self.p.width):
            text = "".join(tokens[t].removeprefix("##") for t in ids)
            cands.append(match_case(word, text) if self.p.mlm.lowercase else text)
        return filter_candidates(cands, {word, self.original[position]}, self.p.k)


def build(
    model: str = "bert-base-cased",
    k: int = 48,
    refresh: bool = False,
    mask: str = "multi-piece",
    max_length: int = 512,
    device: str = "auto",
) -> BertMLMSubstituter:
    return BertMLMSubstituter(model, k, refresh, mask, max_length, device)


@hookimpl
def xmtc_register_substituters() -> list[Component]:
    return [
        Component(
            kind="substituter",
            name="bert-mlm",
            description=(
                "Paper's substituter: top-K masked-LM predictions at the word (default "
                "bert-base-cased; offline, pass a local save_pretrained directory); "
                "multi-piece words get whole-word candidates ranked by MLM perplexity."
            ),
            factory=build,
            options=(
                Option("model", str, "bert-base-cased", "hub name or local MLM directory"),
                Option("k", int, 48, "candidates per word (K)", min=1),
                Option(
                    "refresh",
                    bool,
                    False,
                    "False: run the MLM on the original S_0 (paper); True: on the current text",
                ),
                Option(
                    "mask",
                    str,
                    "multi-piece",
                    "what the MLM sees at the word: none (BERT-Attack), multi-piece, all",
                    choices=MASK_MODES,
                ),
                Option(
                    "max_length",
                    int,
                    512,
                    "pieces per MLM window; words beyond it get a window centred on them",
                    min=8,
                ),
                Option("device", str, "auto", "torch device (auto: cuda if available)"),
            ),
        )
    ]
