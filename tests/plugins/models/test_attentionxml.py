"""AttentionXML: a tiny real one learns Reuters and synthetic data; memory guard; saliency."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from harness.errors import UsageError
from tests.helpers.models import (
    check_common_contract,
    p_at_1,
    prior_p1,
    registry,
    reuters_slice,
    synthetic,
    train,
)

TINY = {
    "epochs": 12,
    "batch_size": 16,
    "lr": 1e-2,
    "hidden": 16,
    "fc_size": 32,
    "max_words": 40,
    "emb_dropout": 0.1,
    "dropout": 0.2,
}


@pytest.fixture(scope="module")
def reuters_axml():
    corpus = reuters_slice()
    return corpus, train("attentionxml", corpus, TINY)


def test_attentionxml_beats_prior_on_reuters(reuters_axml) -> None:
    corpus, model = reuters_axml
    assert p_at_1(model, corpus) > prior_p1(corpus) + 0.05
    check_common_contract(model, corpus)


def test_attentionxml_beats_prior_on_synthetic() -> None:
    corpus = synthetic()
    model = train("attentionxml", corpus, TINY)
    assert p_at_1(model, corpus) > prior_p1(corpus) + 0.05


def test_vocabulary_glove_and_mask(reuters_axml) -> None:
    corpus, model = reuters_axml
    assert model.vocab[:2] == ["<pad>", "<unk>"] and model.mask_token == "<unk>"
    assert model.ids(["Oil", "qqqzzz"]) == [model.index["oil"], 1]
    assert model.ids([]) == [1]
    assert model.ids(["w"] * 500) == [model.index.get("w", 1)] * 40  # truncated to max_words
    assert model.cache_key(["<unk>", "oil"]) == model.cache_key(["qqqzzz", "oil"])
    assert model.net.embedding.embedding_dim == 50  # the packaged GloVe
    assert torch.all(model.net.embedding.weight[0] == 0)


def test_saliency_is_one_gradient_and_zero_beyond_max_words(reuters_axml) -> None:
    corpus, model = reuters_axml
    words = corpus.test[0].words + ["oil"] * 100
    top = int(np.argmax(model.predict_proba([words])[0]))
    sal = model.word_saliency(words, [top], 1.0)
    assert sal.shape == (len(words),) and np.all(sal[40:] == 0) and sal[:40].max() > 0
    # Finite-difference check on the embedding of the most salient word.
    i = int(np.argmax(sal))
    net = model.net
    ids, lens = torch.tensor([model.ids(words)]), torch.tensor([40])
    emb = net.embedding(ids).detach()
    with torch.no_grad():
        base = torch.sigmoid(net.forward_embedded(emb, lens))[0, top]
        eps = 1e-2
        direction = torch.randn(emb.shape[-1])
        direction /= direction.norm()
        bumped = emb.clone()
        bumped[0, i] += eps * direction
        moved = torch.sigmoid(net.forward_embedded(bumped, lens))[0, top]
    assert abs(float(moved - base)) / eps <= sal[i] * 1.05 + 1e-6


def test_flat_attention_refuses_too_many_labels() -> None:
    import scipy.sparse as sp

    model = registry().build("model", "attentionxml", {"max_activation_mb": 10.0, "tree": "off"})
    names = [f"l{i}" for i in range(30_000)]
    with pytest.raises(UsageError, match=r"30000 labels.*limit 10\.0 MB"):
        model.fit([["a"]], sp.csr_matrix((1, 30_000)), None, label_names=names)


@pytest.mark.parametrize("layers", [1, 2])
def test_bilstm_matches_packed_lstm_in_values_and_gradients(layers: int) -> None:
    """The unpacked BiLSTM is the packed bidirectional nn.LSTM, row lengths included."""
    from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

    from plugins.models.attentionxml import BiLSTM, reverse_within_length

    torch.manual_seed(0)
    packed = torch.nn.LSTM(6, 5, num_layers=layers, batch_first=True, bidirectional=True)
    ours = BiLSTM(6, 5, layers)
    state = {k: v.numpy() for k, v in packed.state_dict().items()}
    renamed = BiLSTM.keys_from_packed({"lstm." + k: v for k, v in state.items()}, "lstm.")
    ours.load_state_dict({k[5:]: torch.from_numpy(v) for k, v in renamed.items()}, strict=True)

    lengths = torch.tensor([7, 3, 5, 1])
    x = torch.randn(4, 7, 6)
    assert torch.equal(reverse_within_length(reverse_within_length(x, lengths), lengths), x)
    assert torch.equal(reverse_within_length(x, lengths)[1, :3], x[1, :3].flip(0))
    assert torch.equal(reverse_within_length(x, lengths)[1, 3:], x[1, 3:])

    x1 = x.clone().requires_grad_(True)
    run = pack_padded_sequence(x1, lengths, batch_first=True, enforce_sorted=False)
    expected, _ = pad_packed_sequence(packed(run)[0], batch_first=True, total_length=7)
    x2 = x.clone().requires_grad_(True)
    got = ours(x2, lengths)
    torch.testing.assert_close(got, expected, atol=1e-6, rtol=1e-5)
    weights = torch.randn_like(got)
    (expected * weights).sum().backward()
    (got * weights).sum().backward()
    torch.testing.assert_close(x2.grad, x1.grad, atol=1e-6, rtol=1e-5)
