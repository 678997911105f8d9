"""``xmtc-harness plugins``: every registered component by kind, with source and options."""

from __future__ import annotations

import click
from tabulate import tabulate

from harness.cli.context import AppContext, pass_app
from harness.cli.options import choice
from harness.vocab import Kind


@click.command("plugins")
@click.option("--kind", type=choice(Kind), help="Only this kind.")
@click.option("--options/--no-options", "show_options", default=False, help="List each option.")
@pass_app
def plugins(app: AppContext, kind: str | None, show_options: bool) -> None:
    """List the registered datasets, models, losses, scorers, substituters and constraints."""
    reg = app.registry
    for k in tuple(Kind) if kind is None else (Kind(kind),):
        rows = []
        for name in reg.names(k):
            comp = reg.get(k, name)
            rows.append([name, comp.description, comp.source])
            if show_options:
                for opt in comp.options:
                    rng = ""
                    if opt.choices:
                        rng = "{" + ", ".join(map(str, opt.choices)) + "}"
                    elif opt.min is not None or opt.max is not None:
                        rng = f"[{opt.min if opt.min is not None else ''}, "
                        rng += f"{opt.max if opt.max is not None else ''}]"
                    default = f" (default {opt.default!r})"
                    rows.append(
                        [
                            "",
                            f"  --{k}-opt {opt.name}={opt.type.__name__}{rng}{default}: {opt.help}",
                            "",
                        ]
                    )
        click.echo(f"{k} ({len(reg.names(k))})")
        if rows:
            click.echo(tabulate(rows, headers=["name", "description", "source"], tablefmt="plain"))
        click.echo()
