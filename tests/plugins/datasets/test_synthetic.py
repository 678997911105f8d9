"""synthetic: seeded, Zipf-distributed, real words, learnable, and fast at 100k documents."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
from scipy.stats import spearmanr
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.preprocessing import normalize

from harness.errors import UsageError
from harness.registry import load_registry
from harness.text import STOPWORDS
from plugins.common.glove import load_glove
from plugins.datasets.synthetic import SyntheticGenerator


def test_deterministic_per_seed() -> None:
    a = SyntheticGenerator(n_labels=100, n_docs=300, seed=3).load()
    b = SyntheticGenerator(n_labels=100, n_docs=300, seed=3).load()
    c = SyntheticGenerator(n_labels=100, n_docs=300, seed=4).load()
    assert a.train == b.train and a.test == b.test and a.label_names == b.label_names
    assert a.train != c.train
    assert a.name == "synthetic" and len(a.train) == 240 and len(a.test) == 60
    assert a.train[0].doc_id == "synthetic-0" and a.test[0].doc_id == "synthetic-240"


def test_labels_are_real_words_and_zipf() -> None:
    corpus = SyntheticGenerator(n_labels=500, n_docs=20_000, seed=1).load()
    glove = set(load_glove().words)
    words = [n.removeprefix("synthetic:") for n in corpus.label_names]
    assert all(n.startswith("synthetic:") for n in corpus.label_names)
    assert len(set(words)) == 500
    assert all(w in glove and w.isalpha() and w not in STOPWORDS for w in words)
    counts = corpus.label_counts
    rho = spearmanr(np.arange(500), counts).statistic
    assert rho < -0.9  # frequency falls with rank
    # Zipf with s = 1: label 1 about twice as frequent as label 2, 10x label 10
    assert 1.6 < counts[0] / counts[1] < 2.4
    assert 7 < counts[0] / counts[9] < 13
    assert counts[-50:].max() < counts[0] / 50
    per_doc = np.array([len(d.labels) for d in corpus.train])
    assert per_doc.min() >= 1 and 2.5 < per_doc.mean() < 3.2
    vocab = {w for d in corpus.train[:200] for w in d.words}
    assert vocab <= glove and "the" in vocab  # common words, stopwords included


def test_text_carries_label_topic_words() -> None:
    corpus = SyntheticGenerator(n_labels=100, n_docs=500, seed=0, topic_share=1.0).load()
    for d in corpus.train[:50]:
        names = {corpus.label_names[i].removeprefix("synthetic:") for i in d.labels}
        assert names & set(d.words) or len(d.words) < 10  # the label's own word appears


def test_model_can_learn_it() -> None:
    """A label-centroid classifier over TF-IDF (a real, if simple, model) gets P@1 far above
    always predicting the most frequent label."""
    corpus = SyntheticGenerator(n_labels=100, n_docs=2000, seed=0, doc_length=60).load()
    vec = TfidfVectorizer()
    x_tr = vec.fit_transform(d.text for d in corpus.train)
    x_te = vec.transform(d.text for d in corpus.test)
    centroids = normalize(corpus.label_matrix("train").T @ x_tr)
    top = np.asarray((x_te @ centroids.T).argmax(axis=1)).ravel()
    p_at_1 = np.mean([t in d.labels for t, d in zip(top, corpus.test, strict=True)])
    head = np.argmax(corpus.label_counts)
    baseline = np.mean([head in d.labels for d in corpus.test])
    assert p_at_1 > 0.8 and p_at_1 > baseline + 0.4


def test_hundred_thousand_documents_quickly() -> None:
    t0 = time.perf_counter()
    corpus = SyntheticGenerator(n_labels=100_000, n_docs=100_000, doc_length=50).load()
    assert time.perf_counter() - t0 < 60  # about 4 s on one free core
    assert len(corpus.train) + len(corpus.test) == 100_000
    assert corpus.n_labels == 100_000


def test_options_validated_through_registry(tmp_path: Path) -> None:
    reg_file = tmp_path / "reg.yaml"
    reg_file.write_text("datasets:\n  - plugins.datasets.synthetic\n")
    reg = load_registry(registry_file=reg_file)
    for bad in ({"n_labels": "99"}, {"n_docs": "100001"}, {"test_fraction": "1"}):
        with pytest.raises(UsageError):
            reg.build("dataset", "synthetic", bad)
    corpus = reg.build(
        "dataset", "synthetic", {"n_labels": "100", "n_docs": "100", "propensity_b": "0.4"}
    ).load()
    assert corpus.propensity_b == 0.4 and corpus.n_labels == 100


# --- the streamed generator and the benchmark-shaped presets ---------------------------------

DEFAULT_CORPUS_SHA256 = "f171948a3577f2d51b3f317a91d73241ff47aa65bdebeb72465805ef423d8a61"


def _digest(corpus) -> str:
    import hashlib
    import json

    h = hashlib.sha256()
    for d in corpus.train + corpus.test:
        h.update(json.dumps([d.doc_id, d.text, d.labels]).encode())
    h.update(json.dumps(corpus.label_names).encode())
    return h.hexdigest()


def test_default_options_still_give_the_same_corpus() -> None:
    """Models trained on a synthetic corpus are found again by its fingerprint and retrained
    on its documents: the default generator must not change (digest recorded before the
    presets were added)."""
    corpus = load_registry().build("dataset", "synthetic", {}).load()
    assert _digest(corpus) == DEFAULT_CORPUS_SHA256
    assert corpus.fingerprint() == "8f5db91a3d9b2a91"


@pytest.mark.parametrize(
    ("shape", "labels", "train", "test", "per_doc", "words"),
    [
        ("eurlex-4k", 3956, 15449, 3865, 5.30, 500),
        ("wiki10-31k", 30938, 14146, 6616, 18.64, 500),
    ],
)
def test_presets_have_the_published_shape(shape, labels, train, test, per_doc, words) -> None:
    corpus = SyntheticGenerator(shape=shape).load()
    assert corpus.n_labels == labels
    assert (len(corpus.train), len(corpus.test)) == (train, test)
    per = np.array([len(d.labels) for d in corpus.train])
    assert per.mean() == pytest.approx(per_doc, rel=0.02)
    lengths = np.array([len(d.text.split()) for d in corpus.train[:3000]])
    assert lengths.mean() == pytest.approx(words, rel=0.02)  # capped at max_words=500
    counts = np.sort(corpus.label_counts)[::-1]
    # A power law: the head label in about a third of the documents, a long tail of labels
    # with a handful of documents, and the fitted exponent recorded.
    assert 0.2 < counts[0] / train < 0.4
    assert np.median(counts) <= 4 and (counts <= 5).mean() > 0.6
    assert corpus.meta["shape"] == shape and corpus.meta["zipf_exponent"] > 0.9
    assert len({d.doc_id for d in corpus.train + corpus.test}) == train + test


def test_amazoncat_fraction_is_a_prefix_of_the_full_stream() -> None:
    small = SyntheticGenerator(shape="amazoncat-13k", fraction=0.002)
    larger = SyntheticGenerator(shape="amazoncat-13k", fraction=0.005)
    a, b = small.load(), larger.load()
    assert len(a.train) == round(1_186_239 * 0.002) and len(a.test) == round(306_782 * 0.002)
    assert a.train == b.train[: len(a.train)]
    assert [d.text for d in a.test] == [d.text for d in b.test[: len(a.test)]]
    lengths = np.array([len(d.text.split()) for d in a.train])
    assert lengths.mean() == pytest.approx(246.61, rel=0.03)


def test_streamed_generation_memory_does_not_grow_with_documents() -> None:
    """Drawing documents one chunk at a time: peak traced memory while streaming 16 chunks is
    about that of streaming 2 (documents are consumed, not kept)."""
    import tracemalloc

    def peak(n_docs: int) -> int:
        gen = SyntheticGenerator(shape="custom", n_docs=n_docs, n_labels=2000, doc_length=50)
        gen.plan()  # vocabulary loaded outside the measurement
        SyntheticGenerator(shape="custom", n_docs=200, n_labels=2000).load()
        tracemalloc.start()
        count = sum(1 for _ in gen.iter_documents("train"))
        _, top = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        assert count == gen.plan().n_train
        return top

    small, large = peak(2 * 4096 + 100), peak(16 * 4096 + 100)
    assert large < 1.5 * small


def test_custom_shape_goes_beyond_the_whole_generator_limit() -> None:
    reg = load_registry()
    with pytest.raises(UsageError, match="shape=custom"):
        reg.build("dataset", "synthetic", {"n_docs": "150000"})
    gen = reg.build("dataset", "synthetic", {"n_docs": "150000", "shape": "custom"})
    plan = gen.plan()
    assert plan.n_train + plan.n_test == 150_000 and plan.exponent == 1.0


@pytest.mark.parametrize(
    ("opts", "where"),
    [
        ({"shape": "wiki10-31k", "n_labels": "500"}, "n_labels"),
        ({"shape": "eurlex-4k", "doc_length": "50"}, "doc_length"),
        ({"fraction": "0.5"}, "fraction"),
        ({"shape": "custom", "fraction": "0.5"}, "fraction"),
        ({"shape": "wiki-500k"}, "shape"),
        ({"shape": "custom", "max_words": "300"}, "max_words"),
    ],
)
def test_preset_option_conflicts_are_one_line_errors(opts, where) -> None:
    with pytest.raises(UsageError, match=where):
        load_registry().build("dataset", "synthetic", opts)


def test_a_corpus_too_big_for_memory_is_refused_before_drawing(monkeypatch) -> None:
    import plugins.datasets._limits as limits

    monkeypatch.setattr(limits, "machine_memory", lambda: 2 * 2**30)  # a 2 GiB machine
    with pytest.raises(UsageError, match=r"n_docs.*2,000,000 documents of 1,000 words"):
        SyntheticGenerator(shape="custom", n_docs=2_000_000, doc_length=1000)
    with pytest.raises(UsageError, match="shape"):
        SyntheticGenerator(shape="amazoncat-13k")
    assert SyntheticGenerator(shape="amazoncat-13k", fraction=0.01).plan().n_train == 11862


def test_fitted_curve_meets_its_constraints() -> None:
    from plugins.datasets.synthetic import HEAD_SHARE, SHAPES, _curve, fit_curve

    for shape in SHAPES.values():
        s, b = fit_curve(shape.n_labels, shape.n_train, shape.labels_per_doc)
        counts, _ = _curve(shape.n_labels, HEAD_SHARE * shape.n_train, b)
        assert counts[0] == pytest.approx(HEAD_SHARE * shape.n_train)
        assert counts[-1] == pytest.approx(1.0)
        assert counts.sum() == pytest.approx(shape.n_train * shape.labels_per_doc, rel=1e-6)
