"""The `mofa` command line: a thin layer of click over the session store and the index."""

from __future__ import annotations

import os
import sys


def main() -> None:
    """Console entry point: run `mofa`, and never show a traceback for a failure."""
    import click

    from mofa.cli.commands import cli

    try:
        # Not click's standalone mode: it turns Ctrl-C into "Aborted!" and status 1.
        status = cli.main(prog_name="mofa", standalone_mode=False)
    except click.Abort as abort:
        if isinstance(abort.__context__, KeyboardInterrupt):  # Ctrl-C, at a prompt too
            sys.exit(130)
        click.echo("Aborted!", err=True)
        sys.exit(1)
    except click.ClickException as error:
        error.show()
        sys.exit(error.exit_code)
    except SystemExit:
        raise
    except KeyboardInterrupt:
        sys.exit(130)
    except Exception as error:  # a bug, not an expected failure: one line unless debugging
        if os.environ.get("MOFA_DEBUG"):
            raise
        from mofa.cli.console import error_line

        error_line(f"internal error: {type(error).__name__}: {error} (set MOFA_DEBUG=1 for details)")
        sys.exit(3)
    sys.exit(status if isinstance(status, int) else 0)
