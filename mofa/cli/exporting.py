"""`export`: the format from the suffix, and an atomic write."""

from __future__ import annotations

import os
import sys
import tempfile

import click

from mofa.documents import export_document, to_json, to_yaml
from mofa.errors import SessionPermissionError, StoreError
from mofa.session import Session

SUFFIXES = {".json": "json", ".yaml": "yaml", ".yml": "yaml", ".md": "markdown"}


def format_from_suffix(output: str) -> str:
    suffix = os.path.splitext(output)[1].lower()
    if suffix not in SUFFIXES:
        raise click.UsageError(
            f"cannot tell the format from {output!r}: give --format json|yaml|markdown "
            "or an output ending in .json, .yaml, .yml or .md")
    return SUFFIXES[suffix]


def write(session: Session, fmt: str, output: str) -> None:
    if fmt == "markdown":
        from mofa.markdown import session_markdown

        text = session_markdown(session)
    else:
        document = export_document(session)
        text = to_json(document) if fmt == "json" else to_yaml(document)
    if output == "-":
        sys.stdout.write(text)
        return
    write_atomically(output, text.encode("utf-8"))


def write_atomically(path: str, data: bytes) -> None:
    """Write `data` to `path` through a temporary file renamed over it: all or nothing."""
    directory = os.path.dirname(os.path.abspath(path))
    try:
        os.makedirs(directory, exist_ok=True)
        handle, temporary = tempfile.mkstemp(prefix=".mofa-export-", suffix=".tmp", dir=directory)
    except PermissionError:
        raise SessionPermissionError(f"permission denied: cannot write in {directory}") from None
    except OSError as error:
        raise StoreError(f"cannot write {path}: {error.strerror or error}") from None
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
            stream.flush()
            os.fsync(stream.fileno())
        os.chmod(temporary, 0o666 & ~_umask())
        os.replace(temporary, path)
    except BaseException as error:
        try:
            os.unlink(temporary)
        except OSError:
            pass
        if isinstance(error, PermissionError):
            raise SessionPermissionError(f"permission denied: cannot write {path}") from None
        if isinstance(error, OSError):
            raise StoreError(f"cannot write {path}: {error.strerror or error}") from None
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
