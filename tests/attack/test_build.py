"""The attack builder: the one place an attack is assembled; plugin fit checked once."""

from __future__ import annotations

import pytest

from harness.attack.build import AttackBuilder, AttackSpec
from harness.components import PluginChoice
from harness.errors import ConfigError
from harness.registry import load_registry
from harness.testing.fixtures import keyword_model, tiny_corpus


class NoGradients(type(keyword_model())):  # type: ignore[misc]
    supports_gradients = False


def spec(**kw: object) -> AttackSpec:
    return AttackSpec(similarity=PluginChoice("change-rate"), **kw)  # type: ignore[arg-type]


def test_gradient_importance_on_a_model_without_gradients_is_refused_once() -> None:
    corpus = tiny_corpus()
    model = NoGradients().fit(
        [d.words for d in corpus.train], corpus.label_matrix("train"), None,
        label_names=corpus.label_names,
    )  # fmt: skip
    builder = AttackBuilder(load_registry(), spec(importance=PluginChoice("gradient")))
    with pytest.raises(ConfigError) as info:
        builder.build(model)
    assert info.value.field == "attack.importance.name"
    assert "'gradient' needs a white-box model" in str(info.value)
    assert "NoGradients" in str(info.value)


def test_built_attack_runs_trials_and_empties_its_cache() -> None:
    corpus = tiny_corpus()
    model = keyword_model(corpus)
    attack = AttackBuilder(load_registry(), spec(max_change=0.5)).build(model)
    words = corpus.test[0].words
    target = int(model.predict_proba([words])[0].argmax())
    result = attack.run(words, [target])
    assert result.outcome in {"success", "budget-exhausted", "words-exhausted"}
    assert result.rank_before == 1 and result.topk_before[0] == target
    assert not attack.engine._cache  # emptied between trials
    attempt = attack.attempt(words, [target])
    assert attempt.error is None and attempt.result is not None
    assert attempt.result.adversarial == result.adversarial  # the same trial, the same result
    assert attempt.cost.logical_queries > 0


@pytest.mark.parametrize(
    ("field", "kw"),
    [
        ("attack.k", {"k": 0}),
        ("attack.max_change", {"max_change": 1.5}),
        ("attack.min_sim", {"min_sim": -0.1}),
        ("attack.max_batch", {"max_batch": 0}),
        ("attack.kind", {"kind": "sideways"}),
    ],
)
def test_spec_errors_name_the_field(field: str, kw: dict) -> None:
    with pytest.raises(ConfigError) as info:
        AttackBuilder(load_registry(), spec(**kw))
    assert info.value.field == field
