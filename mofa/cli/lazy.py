"""A click group whose subcommands are imported only when they run (each call pays for the
modules it imports, so `list` does not pay for `query`)."""

from __future__ import annotations

from typing import Any

import click


class LazyGroup(click.Group):
    """`lazy_subcommands` maps a command name to `"module:attribute"`."""

    def __init__(self, *args, lazy_subcommands: dict[str, str] | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.lazy_subcommands = lazy_subcommands or {}

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted([*super().list_commands(ctx), *self.lazy_subcommands])

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name in self.lazy_subcommands:
            module, attribute = self.lazy_subcommands[name].split(":")
            # The import statement's own machinery (not importlib.import_module), so that
            # `python -X importtime` reports the module as every other import.
            return getattr(__import__(module, fromlist=[attribute]), attribute)
        return super().get_command(ctx, name)

    def resolve_command(self, ctx: click.Context, args: list[str]):
        try:
            return super().resolve_command(ctx, args)
        except click.UsageError as error:
            # click suggests a close name among the commands it holds (self.commands), which
            # leaves out the lazy ones: suggest among every command (click 8.4+ suggests at all).
            no_such: Any = getattr(click.exceptions, "NoSuchCommand", None)
            unknown: Any = error  # a NoSuchCommand, a type click before 8.4 does not have
            if no_such is None or type(unknown) is not no_such:
                raise
            raise no_such(
                unknown.command_name, possibilities=self.list_commands(ctx), ctx=ctx
            ) from None
