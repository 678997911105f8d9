"""Substituters (docs/method.md, "Substitution"): the shared filter, GloVe neighbours, and a
real (tiny) MLM."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest
import torch

from harness.attack.candidates import filter_candidates, match_case
from harness.errors import UsageError
from harness.registry import DEFAULT_REGISTRY, load_registry, read_registry_file
from harness.text import is_punctuation, is_stopword, tokenize
from tests.helpers.tiny_models import MLM_VOCAB as VOCAB  # the words the tests reason about
from tests.helpers.tiny_models import SPECIAL, tiny_mlm


@pytest.fixture(scope="module")
def registry(tmp_path_factory):
    """The registry with only the importance/substituter/similarity modules of registry.yaml,
    so other plugins under development cannot break these tests."""
    kinds = {"importance", "substituters", "similarity"}
    mods = [m for m in read_registry_file(DEFAULT_REGISTRY) if m.split(".")[1] in kinds]
    path = tmp_path_factory.mktemp("reg") / "registry.yaml"
    path.write_text("mine:\n" + "".join(f"  - {m}\n" for m in mods))
    return load_registry(registry_file=path)


def _valid(cands: list[str], original: str) -> None:
    lows = [c.lower() for c in cands]
    assert len(set(lows)) == len(lows), "duplicates"
    for c in cands:
        assert c.lower() != original.lower()
        assert not c.startswith("##") and not is_stopword(c) and not is_punctuation(c)
        assert tokenize(c) == [c]


# -- shared filter ----------------------------------------------------------------------------


def test_filter_candidates_rules_and_order():
    raw = ["Profit", "earnings", "the", "##s", "...", "gains", "Earnings", "two words", "", "net"]
    assert filter_candidates(raw, "profit", 10) == ["earnings", "gains", "net"]
    assert filter_candidates(raw, "profit", 2) == ["earnings", "gains"]
    assert filter_candidates(raw, {"profit", "gains"}, 10) == ["earnings", "net"]
    assert filter_candidates(raw, "x", 0) == []


def test_match_case():
    assert match_case("Profit", "earnings") == "Earnings"
    assert match_case("PROFIT", "earnings") == "EARNINGS"
    assert match_case("profit", "earnings") == "earnings"


# -- glove ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def glove(registry):
    return registry.build("substituter", "glove", {"k": 20})


def test_glove_neighbours_are_sensible_and_filtered(glove):
    doc = ["The", "profit", "ROSE", "in", "Tokyo", "xqzzyqv", "."]
    src = glove.start(doc)
    profit = src.candidates(doc, 1)
    assert len(profit) == 20
    assert {"profits", "earnings"} & set(profit)
    _valid(profit, "profit")
    rose = src.candidates(doc, 2)
    assert rose and all(c == c.upper() for c in rose)
    assert {"FELL", "JUMPED", "CLIMBED"} & set(rose)
    tokyo = src.candidates(doc, 4)
    assert tokyo and all(c[:1] == c[:1].upper() for c in tokyo)
    assert src.candidates(doc, 5) == []  # not in the vocabulary


def test_glove_ranking_and_min_cos(registry, glove):
    from plugins.common.glove import load_glove

    g = load_glove()
    ref = g.get("profit") / np.linalg.norm(g.get("profit"))

    def cos(w: str) -> float:
        v = g.get(w)
        return float(v @ ref / np.linalg.norm(v))

    cands = glove.start(["profit"]).candidates(["profit"], 0)
    sims = [cos(c) for c in cands]
    assert sims == sorted(sims, reverse=True)
    strict = registry.build("substituter", "glove", {"k": 48, "min_cos": 0.8})
    kept = strict.start(["profit"]).candidates(["profit"], 0)
    assert kept and all(cos(c) >= 0.8 - 1e-6 for c in kept)
    assert len(kept) < 48


def test_glove_neighbour_cache_is_bounded(registry):
    """A long campaign meets ever more words; the neighbour cache keeps the most recent."""
    sub = registry.build("substituter", "glove", {"k": 5})
    sub.CACHE_WORDS = 3
    first = sub.neighbours("oil")
    for w in ("wheat", "bank", "price", "oil", "gold"):
        sub.neighbours(w)
    assert list(sub._cache) == ["price", "oil", "gold"]
    assert sub.neighbours("oil") == first


def test_glove_text_file(tmp_path: Path, registry):
    path = tmp_path / "vecs.txt"
    path.write_text("cat 1 0 0\ndog 0.9 0.1 0\nkitten 0.95 0 0.05\nthe 1 0 0\ncar 0 0 1\n")
    sub = registry.build("substituter", "glove", {"vectors": str(path), "k": 5})
    assert sub.start(["Cat"]).candidates(["Cat"], 0) == ["Kitten", "Dog", "Car"]


# -- bert-mlm: a tiny real BertForMaskedLM (tests/helpers/tiny_models.py) ----------------------


@pytest.fixture(scope="module")
def mlm_dir(tmp_path_factory) -> Path:
    return tiny_mlm(tmp_path_factory.mktemp("tiny-bert"))


@pytest.fixture(scope="module")
def hf(mlm_dir):
    from transformers import AutoTokenizer, BertForMaskedLM

    return AutoTokenizer.from_pretrained(mlm_dir), BertForMaskedLM.from_pretrained(mlm_dir).eval()


DOC = ["the", "profit", "rose", "and", "unbelievable", "news", "of", "gold", "prices", "."]


def _log_probs(hf, words: list[str], mask_word: int | None) -> tuple[torch.Tensor, list]:
    tok, model = hf
    enc = tok(words, is_split_into_words=True, return_tensors="pt")
    wid = enc.word_ids(0)
    ids = enc["input_ids"].clone()
    if mask_word is not None:
        ids[0, [i for i, w in enumerate(wid) if w == mask_word]] = tok.mask_token_id
    with torch.no_grad():
        logits = model(input_ids=ids, attention_mask=enc["attention_mask"]).logits[0]
    return torch.log_softmax(logits, -1), wid


def test_tiny_tokenizer_splits_the_long_word(hf):
    tok, _ = hf
    assert tok.tokenize("unbelievable") == ["un", "##believ", "##able"]


def test_bert_single_piece_word_takes_top_predictions(registry, mlm_dir, hf):
    sub = registry.build("substituter", "bert-mlm", {"model": str(mlm_dir), "k": 48})
    got = sub.start(DOC).candidates(DOC, 1)
    lp, wid = _log_probs(hf, DOC, None)
    row = wid.index(1)
    starts = [i for i, t in enumerate(VOCAB) if t not in SPECIAL and not t.startswith("##")]
    order = sorted(starts, key=lambda i: -float(lp[row, i]))
    want = filter_candidates([VOCAB[i] for i in order], "profit", 48)
    assert got == want
    allowed = {t for t in VOCAB if t not in SPECIAL and not t.startswith("##")}
    allowed = {t for t in allowed if not is_stopword(t) and not is_punctuation(t)} - {"profit"}
    assert set(got) == allowed  # K above the vocabulary: exactly the valid words
    small = registry.build("substituter", "bert-mlm", {"model": str(mlm_dir), "k": 3})
    assert small.start(DOC).candidates(DOC, 1) == want[:3]


def test_bert_multi_piece_word_gets_whole_words_ranked_by_perplexity(registry, mlm_dir, hf):
    sub = registry.build("substituter", "bert-mlm", {"model": str(mlm_dir), "k": 10})
    got = sub.start(DOC).candidates(DOC, 4)
    lp, wid = _log_probs(hf, DOC, 4)  # default mask=multi-piece: the word's pieces masked
    rows = [i for i, w in enumerate(wid) if w == 4]
    assert len(rows) == 3
    starts = [i for i, t in enumerate(VOCAB) if t not in SPECIAL and not t.startswith("##")]
    conts = [i for i, t in enumerate(VOCAB) if t.startswith("##")]
    combos = []
    for a, b, c in itertools.product(starts, conts, conts):
        ce = -float(lp[rows[0], a] + lp[rows[1], b] + lp[rows[2], c]) / 3  # mean cross-entropy
        combos.append((ce, VOCAB[a] + VOCAB[b][2:] + VOCAB[c][2:]))
    combos.sort(key=lambda x: x[0])
    want = filter_candidates([w for _, w in combos], "unbelievable", 10)
    assert len(got) == 10 and got == want
    _valid(got, "unbelievable")


def test_bert_keeps_punctuation_inside_a_word(registry, mlm_dir):
    doc = ["the", "oil-gold", "trade", "rose"]
    sub = registry.build("substituter", "bert-mlm", {"model": str(mlm_dir), "k": 20})
    got = sub.start(doc).candidates(doc, 1)
    assert len(got) == 20
    for c in got:
        left, _, right = c.partition("-")
        assert left and right and "-" not in right and c != "oil-gold"
        assert left in VOCAB and right in VOCAB  # two word-initial pieces around the "-"
    _valid(got, "oil-gold")


def test_bert_mask_none_uses_the_unmasked_pass(registry, mlm_dir, hf):
    sub = registry.build("substituter", "bert-mlm", {"model": str(mlm_dir), "k": 5, "mask": "none"})
    got = sub.start(DOC).candidates(DOC, 4)
    lp, wid = _log_probs(hf, DOC, None)
    rows = [i for i, w in enumerate(wid) if w == 4]
    starts = [i for i, t in enumerate(VOCAB) if t not in SPECIAL and not t.startswith("##")]
    conts = [i for i, t in enumerate(VOCAB) if t.startswith("##")]
    combos = sorted(
        (-float(lp[rows[0], a] + lp[rows[1], b] + lp[rows[2], c]), VOCAB[a] + b_ + c_)
        for a in starts
        for b in conts
        for c in conts
        for b_, c_ in [(VOCAB[b][2:], VOCAB[c][2:])]
    )
    assert got == filter_candidates([w for _, w in combos], "unbelievable", 5)


def test_bert_refresh(registry, mlm_dir):
    current = ["oil", "profit", "fell", "gold", "stock", "trade", "bank", "report", "markets", "."]
    once = registry.build("substituter", "bert-mlm", {"model": str(mlm_dir), "k": 48})
    src = once.start(DOC)
    assert src.candidates(current, 1) == src.candidates(DOC, 1)  # runs on S_0 only
    again = registry.build(
        "substituter", "bert-mlm", {"model": str(mlm_dir), "k": 48, "refresh": True}
    )
    fresh = again.start(DOC).candidates(current, 1)
    assert fresh == again.start(current).candidates(current, 1)
    assert fresh != src.candidates(DOC, 1)


def test_bert_long_document_windows(registry, mlm_dir):
    words = (["market", "prices", "rose", "and", "gold", "fell", "."] * 6)[:40]
    sub = registry.build(
        "substituter", "bert-mlm", {"model": str(mlm_dir), "k": 5, "max_length": 16}
    )
    src = sub.start(words)
    counts = src._piece_counts(words)
    s, e = src._window(counts, 30)
    assert s <= 30 < e and counts[s:e].sum() <= 14 and e - s == 14
    got = src.candidates(words, 30)
    assert got and got == sub.start(words[s:e]).candidates(words[s:e], 30 - s)
    assert src.candidates(words, 2)  # inside the first window


def test_bert_cannot_load_gives_a_clear_error(registry, tmp_path, monkeypatch):
    with pytest.raises(UsageError, match="local directory"):
        registry.build("substituter", "bert-mlm", {"model": str(tmp_path / "missing")})
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # a hub name that is not cached: fail fast
    with pytest.raises(UsageError, match="cannot load masked LM 'xmtc-test/no-such-mlm'"):
        registry.build("substituter", "bert-mlm", {"model": "xmtc-test/no-such-mlm"})
    with pytest.raises(UsageError, match="mask"):
        registry.build("substituter", "bert-mlm", {"model": "x", "mask": "some"})
