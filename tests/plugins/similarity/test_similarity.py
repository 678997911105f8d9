"""Similarity constraints (docs/method.md, "Constraints and similarity"): the shared encoder
core, USE, MiniLM, change rate."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from sklearn.feature_extraction.text import HashingVectorizer

from harness.attack.similarity import EncoderSimilarity, to_scale
from harness.errors import UsageError
from harness.registry import DEFAULT_REGISTRY, load_registry, read_registry_file
from harness.text import tokenize

MINE = {
    "importance": ["mask", "delete", "gradient"],
    "substituter": ["glove", "bert-mlm"],
    "similarity": ["use", "sbert", "change-rate"],
}


@pytest.fixture(scope="module")
def registry(tmp_path_factory):
    """The registry with only the importance/substituter/similarity modules of registry.yaml,
    so other plugins under development cannot break these tests."""
    kinds = {"importance", "substituters", "similarity"}
    mods = [m for m in read_registry_file(DEFAULT_REGISTRY) if m.split(".")[1] in kinds]
    path = tmp_path_factory.mktemp("reg") / "registry.yaml"
    path.write_text("mine:\n" + "".join(f"  - {m}\n" for m in mods))
    return load_registry(registry_file=path)


def test_registry_lists_every_component(registry):
    for kind, names in MINE.items():
        assert set(names) <= set(registry.names(kind))


ORIGINAL = tokenize("The company reported a sharp rise in quarterly profit on Tuesday .")
PARAPHRASE = tokenize("The company reported a sharp increase in quarterly profit on Tuesday .")
UNRELATED = tokenize("Heavy snow closed the mountain roads near the village overnight .")


# -- shared core ------------------------------------------------------------------------------


class CharGrams:
    """A real (if simple) sentence encoder: hashed character 1–3-gram counts."""

    def __init__(self) -> None:
        self.vec = HashingVectorizer(
            analyzer="char", ngram_range=(1, 3), n_features=512, norm=None, alternate_sign=False
        )
        self.batches: list[int] = []

    def __call__(self, texts: list[str]) -> np.ndarray:
        self.batches.append(len(texts))
        return self.vec.transform(texts).toarray()


def test_scales():
    np.testing.assert_allclose(to_scale(np.array([1.0, 0.0, -1.0]), "angular"), [1, 0.5, 0])
    assert to_scale(np.array([math.cos(0.2 * math.pi)]), "angular")[0] == pytest.approx(0.8)
    np.testing.assert_allclose(to_scale(np.array([0.3]), "cosine"), [0.3])
    with pytest.raises(ValueError):
        to_scale(np.array([0.3]), "degrees")


@pytest.mark.parametrize("scale", ["cosine", "angular"])
def test_encoder_similarity_threshold_cache_and_batches(scale):
    enc = CharGrams()
    texts = [PARAPHRASE, UNRELATED, PARAPHRASE, ORIGINAL, ["x"]]
    raw = enc([" ".join(t) for t in texts])
    ref = enc([" ".join(ORIGINAL)])[0]
    want = raw @ ref / (np.linalg.norm(raw, axis=1) * np.linalg.norm(ref))
    threshold = float(np.median(to_scale(want, scale)))
    enc.batches.clear()
    check = EncoderSimilarity(enc, threshold, scale, batch_size=2).start(ORIGINAL)
    sims = check.similarity(texts)
    np.testing.assert_allclose(sims, want, atol=1e-9)  # always the raw cosine
    assert enc.batches == [1, 2, 1]  # original once, then 3 distinct new texts in batches of 2
    np.testing.assert_array_equal(
        check.check(texts, [1] * len(texts)), to_scale(want, scale) >= threshold
    )
    assert enc.batches == [1, 2, 1]  # cached: no re-encoding
    assert check.max_changes() is None
    assert check.check([], []).shape == (0,)
    with pytest.raises(ValueError):
        EncoderSimilarity(enc, 1.5)


def _sanity(check) -> None:
    sims = check.similarity([ORIGINAL, list(ORIGINAL), PARAPHRASE, UNRELATED])
    assert sims[0] == pytest.approx(1.0, abs=1e-6) and sims[1] == pytest.approx(1.0, abs=1e-5)
    assert sims[2] > sims[3]
    assert sims[2] > 0.8 and sims[3] < 0.5


# -- use --------------------------------------------------------------------------------------


def test_use_offline(registry):
    sim = registry.build("similarity", "use")
    assert sim.threshold == 0.8 and sim.scale == "cosine"
    check = sim.start(ORIGINAL)
    _sanity(check)
    cos = check.similarity([PARAPHRASE, UNRELATED])
    assert check.check([PARAPHRASE, UNRELATED], [1, 1]).tolist() == (cos >= 0.8).tolist()
    angular = registry.build("similarity", "use", {"threshold": 0.9, "scale": "angular"})
    achk = angular.start(ORIGINAL)
    np.testing.assert_allclose(achk.similarity([PARAPHRASE]), cos[:1], atol=1e-6)
    ok = 1 - np.arccos(cos) / np.pi >= 0.9
    assert achk.check([PARAPHRASE, UNRELATED], [1, 1]).tolist() == ok.tolist()


def test_use_options_are_validated(registry):
    with pytest.raises(UsageError):
        registry.build("similarity", "use", {"threshold": 1.2})
    with pytest.raises(UsageError):
        registry.build("similarity", "use", {"scale": "degrees"})


def test_use_through_tensorflow_hub(registry, tmp_path: Path):
    pytest.importorskip("tensorflow_hub")
    import tensorflow as tf

    class CharHash(tf.Module):
        """Strings -> 64-d hashed character-bigram counts, a real if tiny sentence encoder."""

        @tf.function(input_signature=[tf.TensorSpec([None], tf.string)])
        def __call__(self, texts):
            chars = tf.strings.unicode_split(tf.strings.lower(texts), "UTF-8")
            grams = tf.strings.ngrams(chars, 2, separator="")
            ids = tf.strings.to_hash_bucket_fast(grams, 64)
            return tf.reduce_sum(tf.one_hot(ids, 64), axis=1)

    path = tmp_path / "charhash"
    tf.saved_model.save(CharHash(), str(path))
    sim = registry.build("similarity", "use", {"handle": str(path), "threshold": 0.5})
    check = sim.start(ORIGINAL)
    sims = check.similarity([ORIGINAL, PARAPHRASE, UNRELATED])
    assert sims[0] == pytest.approx(1.0, abs=1e-6) and sims[1] > sims[2]
    assert check.check([PARAPHRASE, UNRELATED], [1, 1]).tolist() == (sims[1:] >= 0.5).tolist()
    with pytest.raises(UsageError, match="cannot load"):
        registry.build("similarity", "use", {"handle": str(tmp_path / "missing")})


# -- sbert ------------------------------------------------------------------------------------


def test_sbert_offline(registry):
    sim = registry.build("similarity", "sbert", {"threshold": 0.7})
    check = sim.start(ORIGINAL)
    _sanity(check)
    from plugins.similarity.sbert import minilm_encoder

    emb = minilm_encoder()(["a short sentence", "another one that is a bit longer"])
    assert emb.shape == (2, 384)
    np.testing.assert_allclose(np.linalg.norm(emb, axis=1), 1.0, atol=1e-5)
    # padding inside a batch must not change an embedding (mean pooling honours the mask)
    alone = minilm_encoder()(["a short sentence"])
    np.testing.assert_allclose(alone[0], emb[0], atol=1e-5)
    cos = check.similarity([PARAPHRASE, UNRELATED])
    assert check.check([PARAPHRASE, UNRELATED], [1, 1]).tolist() == (cos >= 0.7).tolist()


# -- change-rate ------------------------------------------------------------------------------


@pytest.mark.parametrize(("theta", "n", "budget"), [(0.1, 30, 3), (0.1, 9, 0), (0.29, 100, 29)])
def test_change_rate_budget(registry, theta, n, budget):
    check = registry.build("similarity", "change-rate", {"theta": theta}).start(["w"] * n)
    assert check.max_changes() == budget == math.floor(round(theta * n, 9))
    texts = [["w"] * n] * 3
    assert check.check(texts, [budget, budget + 1, 0]).tolist() == [True, False, True]


def test_change_rate_default_and_range(registry):
    check = registry.build("similarity", "change-rate").start(["w"] * 57)
    assert check.max_changes() == 5
    with pytest.raises(UsageError):
        registry.build("similarity", "change-rate", {"theta": 0})
    with pytest.raises(UsageError):
        registry.build("similarity", "change-rate", {"theta": 1.5})
