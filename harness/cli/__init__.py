"""The ``xmtc-harness`` command line: the group, its commands, and one-line errors.

Each command lives in its own module and imports only :mod:`harness.cli.context`,
:mod:`harness.cli.options` and the library, never another command. The group imports a
command's module when that command is asked for (click's lazy subcommands), so a read
command such as ``leaderboard`` starts without importing torch, which ``train`` and
``compare-models`` need (over a second of a 2.5 s start on a 2-core machine). ``--db`` and
``--plugin`` are taken before or after the subcommand.
"""

from __future__ import annotations

import importlib
import sys

import click

from harness import __version__
from harness.cli.context import AppContext
from harness.cli.options import add_global_options, db_option, flag_for, plugin_option
from harness.errors import CheckpointRefused, ConfigError, HarnessError

COMMAND_MODULES: dict[str, str] = {
    "plugins": "harness.cli.plugins:plugins",
    "data": "harness.cli.data:data",
    "train": "harness.cli.train:train",
    "models": "harness.cli.models:models",
    "compare-models": "harness.cli.compare_models:compare_models",
    "eval": "harness.cli.eval:eval_",
    "query": "harness.cli.query:query",
    "leaderboard": "harness.cli.leaderboard:leaderboard",
    "compare": "harness.cli.compare:compare",
    "examples": "harness.cli.examples:examples",
    "report": "harness.cli.report:report",
}
"""Each command's name and where it is defined (``module:attribute``)."""


class LazyGroup(click.Group):
    """A group whose commands are imported on first use, each given ``--db``/``--plugin``."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*self.commands, *COMMAND_MODULES})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in COMMAND_MODULES:
            module, _, attribute = COMMAND_MODULES[cmd_name].partition(":")
            command = getattr(importlib.import_module(module), attribute)
            add_global_options(command)
            self.add_command(command, cmd_name)
        return self.commands.get(cmd_name)


@click.group(
    cls=LazyGroup,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.version_option(__version__, prog_name="xmtc-harness")
@click.pass_context
def cli(ctx: click.Context, plugins: tuple[str, ...], db: str) -> None:
    """Evaluate the adversarial robustness of extreme multilabel text classifiers."""
    ctx.obj = AppContext(plugins=plugins, db=db)


cli.params[:0] = [plugin_option(after_subcommand=False), db_option(after_subcommand=False)]


def all_commands() -> list[click.Command]:
    """Every command, imported (the reference and its tests list them all)."""
    with click.Context(cli) as ctx:
        found = [cli.get_command(ctx, name) for name in cli.list_commands(ctx)]
    return [c for c in found if c is not None]


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
