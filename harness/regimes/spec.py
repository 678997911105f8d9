"""The training regimes by name, their options, and whether a model can be trained with one.

A regime is chosen by name with ``KEY=VALUE`` options, resolved here like a plugin's (each
value coerced and range-checked, defaults filled), so that ``radius=1`` and the default
1.0 give one spec hash. Plain training resolves to ``{}``, which a spec leaves out of its
hashed configuration: every model trained before regimes existed keeps its hash.

Errors name fields as the core does (``training.adversarial``, ``training:embedding.radius``);
the command line shows its flags for them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from harness.components import Option
from harness.errors import PluginError, UsageError

NONE, EMBEDDING, SUBSTITUTION = "none", "embedding", "substitution"
REGIMES = (NONE, EMBEDDING, SUBSTITUTION)
FIELD = "training.adversarial"
OPTIONS_FIELD = "training.options"

EMBEDDING_METHODS = ("fgm", "pgd", "freelb")
TARGET_RULES = ("uniform", "bins", "vulnerable")

SHARE = Option(
    "share",
    float,
    0.5,
    "Weight of the adversarial loss: (1 - share) x clean + share x adversarial (for "
    "substitution, per adversarial document, relative to the batch).",
    min=0.0,
    max=1.0,
    min_inclusive=False,
)

EMBEDDING_OPTIONS: tuple[Option, ...] = (
    Option(
        "method",
        str,
        "fgm",
        "fgm: one step along the normalised gradient (Miyato et al., 2017); pgd: `steps` "
        "projected steps, the loss at the last; freelb: `steps` steps, the parameters' "
        "gradients averaged over all of them (Zhu et al., 2020).",
        choices=EMBEDDING_METHODS,
    ),
    Option(
        "radius",
        float,
        3.0,
        "L2 norm of a document's perturbation over all its word vectors (the ball PGD and "
        "FreeLB project onto); 3 is about one word swapped for a GloVe neighbour in the "
        "50-d vectors.",
        min=0.0,
        min_inclusive=False,
        max=1e6,
    ),
    Option("steps", int, 1, "Ascent steps (pgd, freelb; fgm takes one).", min=1, max=100),
    Option(
        "step_size",
        float,
        0.0,
        "Length of one pgd / freelb step; 0: 2.5 x radius / steps.",
        min=0.0,
        max=1e6,
    ),
    SHARE,
)

SUBSTITUTION_OPTIONS: tuple[Option, ...] = (
    Option("importance", str, "gradient", "Importance scorer of the training attack."),
    Option("substituter", str, "glove", "Substituter of the training attack."),
    Option("similarity", str, "use", "Similarity constraint of the training attack."),
    Option(
        "max_change",
        float,
        0.10,
        "Change budget θ of the training attack: at most floor(θ·n) words change.",
        min=0.0,
        max=1.0,
        min_inclusive=False,
    ),
    Option(
        "min_sim",
        float,
        0.8,
        "Smallest similarity (cosine) of an adversarial document to its original.",
        min=0.0,
        max=1.0,
    ),
    Option("k", int, 5, "Top-k of the positive-targeted goal.", min=1, max=1000),
    Option(
        "max_queries",
        int,
        2000,
        "Logical queries one training trial may make (0: no limit).",
        min=0,
        max=10**9,
    ),
    Option(
        "trials",
        int,
        512,
        "Training (document, label) pairs attacked at each refresh.",
        min=1,
        max=10**7,
    ),
    Option(
        "refresh",
        int,
        3,
        "Epochs between refreshes of the adversarial documents (the first after this many).",
        min=1,
        max=1000,
    ),
    Option(
        "rounds",
        int,
        1,
        "Models trained to an optimum rather than by epochs (linear, xr-linear, the "
        "AttentionXML label tree): retrain this many times on the training set plus "
        "adversarial documents of the previous model.",
        min=1,
        max=100,
    ),
    Option(
        "targets",
        str,
        "uniform",
        "How target labels are drawn: uniform over labels; bins: the same number from each "
        "of `bins` log-spaced training-frequency bins; vulnerable: as bins, each bin's share "
        "in proportion to the attack's success in it at the previous refresh.",
        choices=TARGET_RULES,
    ),
    Option("bins", int, 6, "Frequency bins of the bins and vulnerable rules.", min=1, max=100),
    SHARE,
)

OPTIONS: dict[str, tuple[Option, ...]] = {
    EMBEDDING: EMBEDDING_OPTIONS,
    SUBSTITUTION: SUBSTITUTION_OPTIONS,
}


def resolve_regime(name: str, given: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """``{}`` for plain training, else ``{"adversarial": name, **resolved options}``."""
    given = dict(given or {})
    if name not in REGIMES:
        raise UsageError(FIELD, f"{name!r} is not one of: {', '.join(REGIMES)}")
    if name == NONE:
        if given:
            raise UsageError(
                OPTIONS_FIELD, f"options {', '.join(sorted(given))} given without a regime"
            )
        return {}
    known = {o.name: o for o in OPTIONS[name]}
    unknown = sorted(set(given) - set(known))
    if unknown:
        raise UsageError(
            OPTIONS_FIELD,
            f"{name} takes no option {', '.join(unknown)}; it takes: {', '.join(known)}",
        )
    where = f"training:{name}"
    out: dict[str, Any] = {"adversarial": name}
    for key, opt in known.items():
        out[key] = opt.coerce(given[key], where) if key in given else opt.default
    if name == EMBEDDING and out["method"] == "fgm" and out["steps"] != 1:
        raise UsageError(f"{where}.steps", "fgm takes one step; use method=pgd or freelb")
    return out


def regime_name(training: Mapping[str, Any] | None) -> str:
    """The regime of a resolved training dict (``none`` for ``{}``)."""
    return str((training or {}).get("adversarial", NONE))


def regime_label(training: Mapping[str, Any] | None) -> str:
    """A short label for tables: ``plain``, ``embedding fgm r=2``, ``substitution
    gradient+glove uniform``, plus any option not at its default."""
    name = regime_name(training)
    if name == NONE:
        return "plain"
    t = dict(training or {})
    if name == EMBEDDING:
        head = [name, str(t["method"]), f"r={t['radius']:g}"]
        if t["method"] != "fgm":
            head.append(f"steps={t['steps']}")
        shown = {"method", "radius", "steps"}
    else:
        head = [name, f"{t['importance']}+{t['substituter']}", str(t["targets"])]
        shown = {"importance", "substituter", "targets"}
    defaults = {o.name: o.default for o in OPTIONS[name]}
    extra = [
        f"{k}={t[k]:g}" if isinstance(t[k], float) else f"{k}={t[k]}"
        for k in defaults
        if k not in shown and k in t and t[k] != defaults[k]
    ]
    return " ".join(head + extra)


def check_model_supports(
    training: Mapping[str, Any], model_name: str, model_class: type, registry: Any
) -> None:
    """Refuse, in one line before anything is loaded, a regime the model cannot train with.

    ``embedding`` needs a model whose training loop perturbs its word vectors (it lists
    ``embedding`` in ``training_regimes``); ``substitution`` works with every model, but its
    importance scorer may need gradients, and its plugins must exist.
    """
    name = regime_name(training)
    if name == NONE:
        return
    supported = tuple(getattr(model_class, "training_regimes", ()))
    if name == EMBEDDING and EMBEDDING not in supported:
        why = (
            "has no word embeddings to perturb"
            if getattr(model_class, "supports_gradients", False)
            else "exposes no gradients"
        )
        raise UsageError(
            FIELD,
            f"embedding needs a model with gradients through word embeddings; {model_name} "
            f"{why} (use substitution)",
        )
    if name == SUBSTITUTION:
        for kind in ("importance", "substituter", "similarity"):
            try:
                registry.get(kind, training[kind])
            except PluginError as exc:
                raise UsageError(f"training:substitution.{kind}", str(exc)) from None
        scorer = registry.build("importance", training["importance"], {})
        if getattr(scorer, "needs_gradients", False) and not getattr(
            model_class, "supports_gradients", False
        ):
            raise UsageError(
                "training:substitution.importance",
                f"{training['importance']!r} needs a white-box model; {model_name} exposes no "
                "gradients (choose mask or delete)",
            )
