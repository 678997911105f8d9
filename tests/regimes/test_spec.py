"""Regimes by name: options resolved and checked, part of a model's spec hash only when
training is not plain, and refused in one line for a model that cannot train with them."""

from __future__ import annotations

import pytest

from harness.errors import UsageError
from harness.regimes.spec import regime_label
from harness.training import ModelSpec
from tests.helpers.models import registry


def _spec(**kw) -> ModelSpec:
    return ModelSpec.resolve(
        registry(), dataset="synthetic", model=kw.pop("model", "attentionxml"), loss="bce", **kw
    )


def test_plain_training_leaves_the_spec_and_its_hash_as_they_were() -> None:
    plain = _spec()
    assert "training" not in plain.config() and plain.training == {}
    assert _spec(adversarial="none").hash() == plain.hash()
    # the hash of a spec written before regimes existed: the same fields, nothing added
    from harness.provenance import config_hash

    old = {k: v for k, v in plain.config().items()}
    assert config_hash(old) == plain.hash()


def test_regime_options_resolve_and_hash() -> None:
    a = _spec(adversarial="embedding")
    b = _spec(adversarial="embedding", adversarial_options={"radius": "3", "share": "0.5"})
    c = _spec(adversarial="embedding", adversarial_options={"radius": "1"})
    assert a.hash() == b.hash() != c.hash() != _spec().hash()
    assert a.config()["training"]["adversarial"] == "embedding"
    assert a.training["method"] == "fgm" and a.training["steps"] == 1
    s = _spec(adversarial="substitution")
    assert s.training["importance"] == "gradient" and s.training["substituter"] == "glove"
    assert regime_label(s.training) == "substitution gradient+glove uniform"
    assert regime_label(c.training) == "embedding fgm r=1"
    assert regime_label({}) == "plain"


@pytest.mark.parametrize(
    "name,options,field",
    [
        ("embedding", {"radius": "0"}, "training:embedding.radius"),
        ("embedding", {"radius": "nan"}, "training:embedding.radius"),
        ("embedding", {"method": "fgm", "steps": "3"}, "training:embedding.steps"),
        ("embedding", {"method": "sgd"}, "training:embedding.method"),
        ("embedding", {"trials": "3"}, "training.options"),
        ("substitution", {"targets": "head"}, "training:substitution.targets"),
        ("substitution", {"share": "0"}, "training:substitution.share"),
        ("substitution", {"importance": "nope"}, "training:substitution.importance"),
        ("none", {"radius": "1"}, "training.options"),
        ("dropout", {}, "training.adversarial"),
    ],
)
def test_bad_regimes_name_their_field(name, options, field) -> None:
    with pytest.raises(UsageError) as err:
        _spec(adversarial=name, adversarial_options=options)
    assert err.value.field == field and "\n" not in str(err.value)


def test_models_that_cannot_train_with_a_regime_are_refused() -> None:
    with pytest.raises(UsageError, match="no word embeddings") as err:
        _spec(model="linear", adversarial="embedding")
    assert err.value.field == "training.adversarial"
    with pytest.raises(UsageError, match="exposes no gradients") as err:
        _spec(model="xr-linear", adversarial="substitution")
    assert err.value.field == "training:substitution.importance"
    ok = _spec(
        model="xr-linear", adversarial="substitution", adversarial_options={"importance": "mask"}
    )
    assert ok.training["importance"] == "mask"
    assert _spec(model="linear", adversarial="substitution").training["rounds"] == 1
