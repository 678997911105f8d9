"""The ``xmtc-harness`` command line: parse options, call the core, print.

Commands live next to the code they drive (``harness/*/commands.py`` style modules) and are
attached here; this module only holds the group, the shared context and error reporting.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from functools import cached_property

import click

from harness import __version__
from harness.errors import HarnessError
from harness.registry import Registry, load_registry

ENV_DB = "XMTC_HARNESS_DB"
DEFAULT_DB = "results.db"


@dataclass
class AppContext:
    """What every command may need: the plugin registry (loaded lazily) and the database URL."""

    plugins: tuple[str, ...] = ()
    db: str = DEFAULT_DB
    extra: dict[str, object] = field(default_factory=dict)

    @cached_property
    def registry(self) -> Registry:
        return load_registry(self.plugins)


pass_app = click.make_pass_decorator(AppContext)


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="xmtc-harness")
@click.option(
    "--plugin",
    "plugins",
    multiple=True,
    metavar="MODULE",
    help="Extra plugin module to load (repeatable; also $XMTC_HARNESS_PLUGINS).",
)
@click.option(
    "--db",
    default=lambda: os.environ.get(ENV_DB, DEFAULT_DB),
    show_default=f"${ENV_DB} or {DEFAULT_DB}",
    help="Results database: a SQLite path or any SQLAlchemy URL.",
)
@click.pass_context
def cli(ctx: click.Context, plugins: tuple[str, ...], db: str) -> None:
    """Evaluate the adversarial robustness of extreme multilabel text classifiers."""
    ctx.obj = AppContext(plugins=plugins, db=db)


def _attach_commands() -> None:
    """Attach the command modules (each defines click commands next to the code it drives)."""
    from harness import plugins_cmd

    cli.add_command(plugins_cmd.plugins)
    # --- command registrations (one line each) ---
    from harness.report import commands as report_cmds

    for report_cmd in report_cmds.COMMANDS:  # query, leaderboard, compare, examples, report
        cli.add_command(report_cmd)
    from harness.datastats import data
    from harness.fetch_cmd import fetch

    data.add_command(fetch)
    cli.add_command(data)
    from harness.eval_cmd import eval_

    cli.add_command(eval_)
    from harness.train_cmd import models, train

    cli.add_command(train)
    cli.add_command(models)
    from harness.model_compare import compare_models

    cli.add_command(compare_models)


_attach_commands()


def main(argv: list[str] | None = None) -> None:
    """Console-script entry: user mistakes print one line, not a traceback."""
    try:
        cli.main(args=argv, prog_name="xmtc-harness", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except HarnessError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
    except KeyboardInterrupt:
        click.echo("interrupted; finished trials are saved", err=True)
        sys.exit(130)
