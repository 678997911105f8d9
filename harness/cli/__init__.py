"""The ``xmtc-harness`` command line: the group, its commands, and one-line errors.

Each command lives in its own module and imports only :mod:`harness.cli.context`,
:mod:`harness.cli.options` and the library, never another command; this module imports
them all and attaches them. ``--db`` and ``--plugin`` are taken before or after the
subcommand.
"""

from __future__ import annotations

import sys

import click

from harness import __version__
from harness.cli import (
    compare,
    compare_models,
    data,
    examples,
    leaderboard,
    models,
    plugins,
    query,
    report,
    train,
)
from harness.cli import (
    eval as eval_command,
)
from harness.cli.context import AppContext
from harness.cli.options import add_global_options, db_option, flag_for, plugin_option
from harness.errors import CheckpointRefused, ConfigError, HarnessError

COMMANDS: tuple[click.Command, ...] = (
    plugins.plugins,
    data.data,
    train.train,
    models.models,
    compare_models.compare_models,
    eval_command.eval_,
    query.query,
    leaderboard.leaderboard,
    compare.compare,
    examples.examples,
    report.report,
)


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="xmtc-harness")
@click.pass_context
def cli(ctx: click.Context, plugins: tuple[str, ...], db: str) -> None:
    """Evaluate the adversarial robustness of extreme multilabel text classifiers."""
    ctx.obj = AppContext(plugins=plugins, db=db)


cli.params[:0] = [plugin_option(after_subcommand=False), db_option(after_subcommand=False)]
for command in COMMANDS:
    add_global_options(command)
    cli.add_command(command)


def main(argv: list[str] | None = None) -> None:
    """Console-script entry: user mistakes print one line, not a traceback."""
    try:
        cli.main(args=argv, prog_name="xmtc-harness", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(130)
    except click.UsageError as exc:  # one line, like every other refusal
        where = f"; see `{exc.ctx.command_path} --help`" if exc.ctx is not None else ""
        message = " ".join(exc.format_message().split()).rstrip(".")
        click.echo(f"error: {message}{where}", err=True)
        sys.exit(exc.exit_code)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except ConfigError as exc:
        click.echo(f"error: option {flag_for(exc.field)}: {exc.reason}", err=True)
        sys.exit(2)
    except CheckpointRefused as exc:
        anew = "`xmtc-harness train --force` with the same options: a new checkpoint, and new runs"
        click.echo(f"error: {exc} ({anew})", err=True)
        sys.exit(2)
    except HarnessError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
    except KeyboardInterrupt:
        click.echo("interrupted; finished trials are saved", err=True)
        sys.exit(130)
