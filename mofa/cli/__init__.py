"""The `mofa` command line: a thin layer of click over the session store and the index."""

from __future__ import annotations

import os
import sys


def main() -> None:
    """Console entry point: run `mofa`, and never show a traceback for a failure."""
    from mofa.cli.commands import cli

    try:
        cli(prog_name="mofa")
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
