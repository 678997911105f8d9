"""Shared test helpers: the CLI runner, tiny real models and datasets, database checks."""
