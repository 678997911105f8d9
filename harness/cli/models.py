"""``xmtc-harness models``: the trained models recorded in the results database."""

from __future__ import annotations

from functools import cache
from typing import Any

import click

from harness.cli.context import AppContext, pass_app
from harness.cli.options import format_option
from harness.errors import HarnessError
from harness.report.models import render_models
from harness.store.models import list_models


@click.command("models")
@click.option("--dataset", help="Only models of this corpus (or dataset plugin).")
@click.option("--model", help="Only this model plugin.")
@format_option()
@pass_app
def models(app: AppContext, dataset: str | None, model: str | None, fmt: str) -> None:
    """List the trained models recorded in the results database, with their test metrics."""
    with app.reading() as store:
        rows = list_models(store, dataset, model)
    if not rows:
        click.echo(
            "no trained models recorded" + (" for that selection" if dataset or model else "")
        )
        return

    @cache
    def loss_defaults(loss: str) -> dict[str, Any]:
        try:
            return app.registry.get("loss", loss).resolve_options({})
        except HarnessError:  # a loss plugin no longer installed: show what was recorded
            return {}

    click.echo(render_models(rows, fmt, loss_defaults))
