"""Training regimes: how a model is trained beyond its loss (docs/method.md, "Adversarial
training").

``none`` is ordinary training. ``embedding`` adds adversarial perturbations of the word
embeddings to every training batch (FGM, PGD or FreeLB; :mod:`.embedding`).
``substitution`` adds documents made adversarial by the harness's own word-substitution
attack on training documents, refreshed as the model changes (:mod:`.substitution`). The
regime and its resolved options are part of a trained model's spec (so of its hash), and
what it cost is recorded with the model (:mod:`.cost`).
"""
