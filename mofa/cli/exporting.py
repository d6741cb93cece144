"""`export`: the format from the suffix, the output path's checks, and the write."""

from __future__ import annotations

import os
import stat

import click

from mofa.documents import export_document, to_json, to_yaml
from mofa.errors import RefusedPath, SessionPermissionError, StoreError
from mofa.session import Session
from mofa.stores.writing import write_atomically

EXPORT_PREFIX = ".mofa-export-"  # the temporary file's name: hidden, so never a session

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
        from mofa.cli.console import document as write_stdout

        write_stdout(text)
        return
    write_file(output, text.encode("utf-8"))


def check_outside_root(output: str, root: str | None) -> None:
    """Refuse (RefusedPath) an output inside the sessions root, however it is named: through
    symlinks, `..`, or another mount of the same directory; the file need not exist yet. A
    store with no root (a database) has nothing to protect here."""
    if output == "-" or root is None:
        return
    real = os.path.realpath(output)
    real_root = os.path.realpath(root)
    inside = real == real_root or real.startswith(real_root.rstrip(os.sep) + os.sep)
    if not inside:
        try:
            root_stat = os.stat(real_root)
        except OSError:
            return  # no root: nothing to protect
        probe = os.path.dirname(real)
        while not inside:
            try:
                st = os.stat(probe)
                inside = (st.st_dev, st.st_ino) == (root_stat.st_dev, root_stat.st_ino)
            except OSError:
                pass
            parent = os.path.dirname(probe)
            if parent == probe:
                break
            probe = parent
    if inside:
        raise RefusedPath(f"refusing to write {output}: it is inside the sessions root {root}"
                          " (an export never overwrites or creates a session)")


def write_file(path: str, data: bytes) -> None:
    """Write `data` to `path`: into a device or FIFO (or a symlink to one) as it is; else
    replacing the file atomically, with the permission bits it had."""
    try:
        st = os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        st = None
    except PermissionError:
        raise SessionPermissionError(f"permission denied: cannot write {path}") from None
    except OSError as error:
        raise StoreError(f"cannot write {path}: {error.strerror or error}") from None
    if st is not None and not stat.S_ISREG(st.st_mode):
        if stat.S_ISDIR(st.st_mode):
            raise RefusedPath(f"cannot write {path}: it is a directory")
        write_into(path, data)
        return
    # A symlink to a regular file: replace the file it names, keep the link.
    target = os.path.realpath(path) if os.path.islink(path) else path
    write_atomically(target, data, None if st is None else stat.S_IMODE(st.st_mode), EXPORT_PREFIX)


def write_into(path: str, data: bytes) -> None:
    """Write into an existing special file (/dev/null, a terminal, a FIFO): never replaced."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_NOCTTY | os.O_CLOEXEC)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
        finally:
            os.close(fd)
    except PermissionError:
        raise SessionPermissionError(f"permission denied: cannot write {path}") from None
    except OSError as error:
        raise StoreError(f"cannot write {path}: {error.strerror or error}") from None
