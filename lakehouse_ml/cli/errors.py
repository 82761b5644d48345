"""The one place where `lakehouse-ml` turns an error into one line on stderr.

Exit code 2 for a usage error (what was typed is malformed: an unknown option, a bad table
name, date or number, a reversed range), 1 for a failure (a missing table or version, no
champion, a refused model artifact, anything unexpected). The traceback is shown only with
`lakehouse-ml --debug <command>` (or `LAKEHOUSE_DEBUG=1`).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any

import click
from typer.core import TyperGroup

USAGE, FAILURE = 2, 1
USAGE_ERRORS: tuple[type[Exception], ...] = (ValueError,)
"""Raised for malformed input: InvalidTableName, date and number parsing, reversed ranges."""


def one_line(error: BaseException) -> str:
    """The error's message with every run of whitespace (newlines included) made one space."""
    return " ".join(str(error).split()) or type(error).__name__


class CommandError(click.ClickException):
    """An error of a command, already reduced to one line and an exit code."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def repeated_option(command: click.Command, args: Sequence[str]) -> str | None:
    """The first option `args` give `command` twice though it takes one value (click would
    keep the last silently), else None."""
    options = {name: param for param in command.params if isinstance(param, click.Option)
               for name in (*param.opts, *param.secondary_opts)}
    seen: set[str | None] = set()
    tokens = iter(args)
    for token in tokens:
        if token == "--":
            break
        name = token.split("=", 1)[0]
        option = options.get(name)
        if option is None:
            continue
        if not option.is_flag and "=" not in token:
            next(tokens, None)  # its value, whatever it looks like
        if option.multiple or option.count:
            continue
        if option.name in seen:
            return name
        seen.add(option.name)
    return None


class OneLineErrors(TyperGroup):
    """A command group (the root, and groups under it): maps every error of a command to
    CommandError (unless `--debug`), refuses an option given twice that takes one value (a
    usage error), and prints any click error as `<command>: <message>` on one line."""

    def resolve_command(self, ctx: click.Context, args: list[str]
                        ) -> tuple[str | None, click.Command | None, list[str]]:
        name, command, rest = super().resolve_command(ctx, args)
        twice = (None if command is None or isinstance(command, click.Group)
                 else repeated_option(command, rest))
        if twice is not None:
            raise CommandError(f"{ctx.command_path} {name}: option {twice} is given more than "
                               "once: give it once (see --help)", USAGE)
        return name, command, rest

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except Exception as error:
            if ctx.params.get("debug"):
                raise
            code = USAGE if isinstance(error, USAGE_ERRORS) else FAILURE
            command = " ".join(filter(None, (ctx.command_path, ctx.invoked_subcommand)))
            raise CommandError(f"{command}: {one_line(error)}", code) from error

    def main(self, args: Sequence[str] | None = None, prog_name: str | None = None,
             complete_var: str | None = None, standalone_mode: bool = True, **extra: Any
             ) -> Any:
        if not standalone_mode:  # the caller handles errors itself
            return super().main(args, prog_name, complete_var, standalone_mode, **extra)
        try:
            code = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except click.exceptions.NoArgsIsHelpError as error:  # the help is already printed
            code = error.exit_code
        except CommandError as error:
            click.echo(error.format_message(), err=True)
            code = error.exit_code
        except click.ClickException as error:  # usage errors found while parsing
            where = error.ctx.command_path if getattr(error, "ctx", None) else "lakehouse-ml"
            click.echo(f"{where}: {one_line(error.format_message())} (see --help)", err=True)
            code = error.exit_code
        except click.Abort:
            click.echo("aborted", err=True)
            code = FAILURE
        sys.exit(code if isinstance(code, int) else 0)
