"""Hook specifications: the whole contract between the core and its plugins.

A plugin is a module (or any object) with functions decorated by
:data:`harness.hookimpl` and named after the hooks below. It is loaded from
``registry.yaml`` (the built-ins), the entry-point group ``xmtc_harness`` of an installed
distribution, or named on the command line; all three are loaded the same way.

*Registration hooks* (``xmtc_register_*``) are called once per process, when the plugin
registry is loaded, and return :class:`~harness.components.Component` objects, one per
named thing the plugin adds; what each component's factory must return is the contract of
its kind (:mod:`harness.contracts`). *Event hooks* let a plugin watch a campaign (log it,
mirror it to an experiment tracker); their return values are ignored, and an exception in
one stops the campaign, so a watcher should catch its own errors.
"""

from __future__ import annotations

from typing import Any

import pluggy

from harness import PROJECT
from harness.components import Component

hookspec = pluggy.HookspecMarker(PROJECT)


@hookspec
def xmtc_register_datasets() -> list[Component]:
    """Register dataset readers.

    Called once, when the registry loads plugins.

    :returns: components of kind ``"dataset"``; each factory takes the component's options
        and returns a reader honouring :class:`harness.contracts.dataset.DatasetReader`
        (``load(progress) -> Corpus``). Declare a ``data_dir`` option for a reader of
        files, so the command line's data folder and ``$XMTC_DATA_DIR/NAME`` reach it.

    Example::

        from harness import hookimpl
        from harness.components import Component, Option

        @hookimpl
        def xmtc_register_datasets():
            return [Component("dataset", "my-corpus", "My corpus (TSV)", MyReader,
                              options=(Option("data_dir", str, None, "folder"),))]
    """


@hookspec
def xmtc_register_models() -> list[Component]:
    """Register model classes.

    Called once, when the registry loads plugins.

    :returns: components of kind ``"model"``; each factory takes the component's options
        and returns an untrained :class:`harness.contracts.model.XMTCModel`. Options that
        only say where the model runs (``device``, ``eval_batch_size``) do not count in the
        trained model's identity (``harness.training.LOCATION_OPTIONS``).

    Example::

        @hookimpl
        def xmtc_register_models():
            return [Component("model", "my-model", "Bag of words + MLP", MyModel,
                              options=(Option("hidden", int, 256, "width", min=1),))]
    """


@hookspec
def xmtc_register_losses() -> list[Component]:
    """Register losses.

    Called once, when the registry loads plugins.

    :returns: components of kind ``"loss"``; each factory returns a
        :class:`harness.contracts.loss.Loss` (subclass it and define ``positive`` and
        ``negative``); pass ``harness.contracts.loss.LOSS_OPTIONS`` as the options so the
        weighting (``none``, ``pw``, ``pw-cb``) and its constants work as for every loss.

    Example::

        class Logistic(Loss):
            name = "logistic"
            def positive(self, z): return torch.nn.functional.softplus(-z)
            def negative(self, z): return torch.nn.functional.softplus(z)

        @hookimpl
        def xmtc_register_losses():
            return [Component("loss", "logistic", "log loss", Logistic,
                              options=LOSS_OPTIONS)]
    """


@hookspec
def xmtc_register_importance_scorers() -> list[Component]:
    """Register word-importance scorers.

    Called once, when the registry loads plugins.

    :returns: components of kind ``"importance"``; each factory returns a
        :class:`harness.contracts.importance.ImportanceScorer`. A scorer that needs
        gradients sets ``needs_gradients = True``; the attack is then refused, once, for a
        model without them.

    Example::

        class Position:
            def scores(self, words, positions, engine, goal, base_probs):
                return -np.asarray(positions, dtype=float)  # first words first

        @hookimpl
        def xmtc_register_importance_scorers():
            return [Component("importance", "first-words", "Attack in reading order",
                              Position)]
    """


@hookspec
def xmtc_register_substituters() -> list[Component]:
    """Register substituters (where replacement words come from).

    Called once, when the registry loads plugins.

    :returns: components of kind ``"substituter"``; each factory returns a
        :class:`harness.contracts.substituter.Substituter`. Run candidates through
        :func:`harness.attack.candidates.filter_candidates` to meet the candidate rules.

    Example::

        class Synonyms:
            def start(self, original):
                return self  # nothing to precompute
            def candidates(self, current, position):
                return filter_candidates(THESAURUS.get(current[position].lower(), []),
                                         current[position], k=48)

        @hookimpl
        def xmtc_register_substituters():
            return [Component("substituter", "thesaurus", "A fixed thesaurus", Synonyms)]
    """


@hookspec
def xmtc_register_similarity_constraints() -> list[Component]:
    """Register constraints on candidate texts (similarity encoders, budgets).

    Called once, when the registry loads plugins.

    :returns: components of kind ``"similarity"``; each factory returns a
        :class:`harness.contracts.constraint.Constraint`. A sentence-encoder constraint need
        only supply ``encode(texts) -> (N, d)`` to
        :class:`harness.attack.similarity.EncoderSimilarity`, which adds caching, the raw
        cosine and the threshold on either scale; declare ``threshold`` and ``scale``
        options so the attack's ε and scale (``attack.min_sim``, ``attack.sim_scale``) reach it.

    Example::

        @hookimpl
        def xmtc_register_similarity_constraints():
            return [Component("similarity", "my-encoder", "My sentence encoder",
                              lambda threshold=0.8, scale="cosine": EncoderSimilarity(
                                  my_encode, threshold, scale),
                              options=(Option("threshold", float, 0.8, "ε"),
                                       Option("scale", str, "cosine", "scale")))]
    """


@hookspec
def xmtc_run_started(run_id: int, config: dict[str, Any]) -> None:
    """An evaluation run has started or resumed.

    Called by the campaign runner after the run row is open and before the first trial.

    :param run_id: the run's id in the results database.
    :param config: the run's full stored configuration (what ``runs.config`` holds: the
        recorded fields, the resolved plugin options, the model spec, the label names).

    Example::

        @hookimpl
        def xmtc_run_started(run_id, config):
            tracker.start(run=run_id, params=config)
    """


@hookspec
def xmtc_trial_recorded(run_id: int, trial: dict[str, Any]) -> None:
    """A trial has been committed to the results database.

    Called by the campaign runner right after each trial's transaction commits (not for a
    trial another process had already stored).

    :param run_id: the run's id.
    :param trial: the stored ``trials`` row as JSON-able values (``outcome``,
        ``similarity``, ``rank_before``, ``rank_after``, ``adversarial_text``, ...).

    Example::

        @hookimpl
        def xmtc_trial_recorded(run_id, trial):
            tracker.log(run=run_id, step=trial["trial_index"], outcome=trial["outcome"])
    """


@hookspec
def xmtc_run_finished(run_id: int, status: str, summary: dict[str, Any]) -> None:
    """An evaluation run has ended.

    Called by the campaign runner once, however the run ended (also on failure).

    :param run_id: the run's id.
    :param status: ``finished``, ``interrupted`` (a trial limit, Ctrl-C) or ``failed``.
    :param summary: ``{"trials": run now, "successes": among them}`` (empty on failure).

    Example::

        @hookimpl
        def xmtc_run_finished(run_id, status, summary):
            tracker.finish(run=run_id, status=status, **summary)
    """
