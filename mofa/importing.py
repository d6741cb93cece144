"""Reading sessions back from what `export` wrote (json or yaml), for `import`."""

from __future__ import annotations

import json
import math
import os
import re
import stat
from typing import NamedTuple

from mofa.errors import CorruptSession, InvalidSessionId, RefusedInput
from mofa.numbers import ExactFloat, exact_float
from mofa.reading import read_bytes


class ExportedSession(NamedTuple):
    """One exported session: its id and every stored field (with `messages`)."""

    source: str
    session_id: str
    document: dict


def read_export(path: str, data: bytes | None = None) -> ExportedSession:
    """The session in an export file; raises CorruptSession when it is not one."""
    if data is None:
        data = read_bytes(path)
    return _exported(path, _decode(path, data))


def _exported(path: str, document) -> ExportedSession:
    if not isinstance(document, dict):
        raise CorruptSession(path, "not an exported session (not a JSON or YAML mapping)")
    session_id = document.get("session_id", document.get("key"))
    if not isinstance(session_id, str) or not session_id:
        raise InvalidSessionId(f"{path}: the export names no session_id")
    messages = document.get("messages", [])
    if not isinstance(messages, list) or not all(isinstance(item, dict) for item in messages):
        raise CorruptSession(path, "'messages' is not a list of JSON objects")
    return ExportedSession(path, session_id, document)


JSONL_SUFFIX = ".jsonl"


def is_jsonl_export(path: str) -> bool:
    """Whether `path` names a file of `export -f jsonl` (one export per line), by its suffix."""
    return os.path.splitext(path)[1].lower() == JSONL_SUFFIX


def read_jsonl_exports(path: str):
    """(source, ExportedSession or the MofaError that stops it) for each line of a file that
    `export -f jsonl` wrote, in order, streamed; the source names the line. A file whose first
    line names no session_id is no such file (a MoFA session file, say): one CorruptSession."""
    from mofa import tree
    from mofa.errors import MofaError

    limit = tree.max_session_bytes()
    first = True
    with _opened(path) as handle:
        for number, (line, size) in enumerate(_lines(path, handle, limit + 1), 1):
            if not line.strip():
                continue
            source = f"{path}, line {number}"
            failure: MofaError | None
            try:
                tree.check_size(source, size, limit)
                document = json.loads(line, parse_float=exact_float)
            except MofaError as error:
                document, failure = None, error
            except (ValueError, RecursionError) as error:
                document, failure = None, CorruptSession(source, f"invalid JSON ({error})")
            else:
                failure = None
            if first and not (isinstance(document, dict) and "session_id" in document):
                yield (
                    path,
                    failure
                    or CorruptSession(
                        path,
                        "not a file of `export -f jsonl`: its first line is no export with a"
                        " session_id (a files root is imported with --from-dir)",
                    ),
                )
                return
            first = False
            if failure is not None:
                yield source, failure
                continue
            try:
                yield source, _exported(source, document)
            except MofaError as error:
                yield source, error


def _opened(path: str):
    from mofa.errors import SessionNotFound, SessionPermissionError, StoreError

    try:
        handle = open(path, "rb")  # noqa: SIM115  (closed by the caller's with)
        if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
            handle.close()
            raise CorruptSession(path, "is not a regular file")
        return handle
    except FileNotFoundError:
        raise SessionNotFound(f"no such file: {path}") from None
    except PermissionError:
        raise SessionPermissionError(f"permission denied: {path}") from None
    except OSError as error:
        raise StoreError(f"cannot read {path}: {error.strerror or error}") from None


def _lines(path: str, handle, most: int):
    """(line, its size without the line break) for each line of the file; a line of `most`
    bytes or more is skipped to its end, its size given with a non-blank stand-in, so that a
    line without end never fills the memory."""
    from mofa.errors import StoreError

    try:
        while line := handle.readline(most):
            if len(line) < most or line.endswith(b"\n"):
                yield line, len(line.rstrip(b"\n"))
                continue
            size = len(line)
            while line and not line.endswith(b"\n"):
                line = handle.readline(most)
                size += len(line.rstrip(b"\n"))
            yield b"-", size
    except OSError as error:
        raise StoreError(f"cannot read {path}: {error.strerror or error}") from None


def jsonl_export_count(path: str) -> int:
    """How many exports a jsonl file holds (its lines; export writes no blank one), at least
    1 (for the failure that reading an unreadable file reports)."""
    count, last = 0, b"\n"
    try:
        with open(path, "rb") as handle:
            while chunk := handle.read(1 << 20):
                count += chunk.count(b"\n")
                last = chunk[-1:]
    except OSError:
        return 1
    return max(1, count + (last != b"\n"))


def _decode(path: str, data: bytes):
    suffix = os.path.splitext(path)[1].lower()
    if suffix not in (".yaml", ".yml"):
        try:
            return json.loads(data, parse_float=exact_float, parse_constant=_not_json)
        except (ValueError, RecursionError) as error:
            if suffix == ".json":
                raise CorruptSession(path, f"invalid JSON ({error})") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise CorruptSession(path, "not valid UTF-8") from None
    from ruamel.yaml.error import YAMLError

    yaml = _exact_yaml()
    try:
        _refuse_anchors(path, yaml, text)
        return yaml.load(text)
    except (YAMLError, RecursionError) as error:
        raise CorruptSession(path, f"invalid YAML ({str(error).splitlines()[0]})") from None


def _not_json(constant: str):
    # Python's reader takes NaN and Infinity, which no JSON holds and no export writes.
    raise ValueError(f"{constant} is not a JSON number")


# JSON's number syntax: what an export writes for a number with a fraction or an exponent.
_JSON_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?")


def _exact_yaml():
    """A safe YAML loader that reads a number written as JSON as an ExactFloat, its text kept
    (`1e400` stays 1e400, never infinity), as the JSON reader does."""
    from ruamel.yaml import YAML
    from ruamel.yaml.constructor import ConstructorError, SafeConstructor

    class ExactConstructor(SafeConstructor):
        def construct_yaml_float(self, node):
            text = self.construct_scalar(node)
            if isinstance(text, str) and _JSON_NUMBER.fullmatch(text):
                return ExactFloat(text)
            value = super().construct_yaml_float(node)
            if not math.isfinite(value):  # `.inf`, `.nan`: JSON holds no such number
                raise ConstructorError(None, None, f"{text} is not a JSON number", node.start_mark)
            return value

    ExactConstructor.add_constructor(
        "tag:yaml.org,2002:float", ExactConstructor.construct_yaml_float
    )
    yaml = YAML(typ="safe", pure=True)
    yaml.Constructor = ExactConstructor
    return yaml


_FLOW_DEPTH = 100  # an export nests none: its collections are written in block style


def _refuse_anchors(path: str, yaml, text: str) -> None:
    """Exports never hold YAML anchors or aliases; an alias can make a small file expand to
    gigabytes, so they are refused from the event stream, before anything is built."""
    from ruamel.yaml.events import AliasEvent, CollectionEndEvent, CollectionStartEvent

    flow = []  # for each open collection, whether it is written in flow style (`[`, `{`)
    depth = 0
    for event in yaml.parse(text):
        if isinstance(event, AliasEvent) or getattr(event, "anchor", None) is not None:
            raise RefusedInput(
                f"{path}: YAML anchors and aliases are not accepted (exports never hold them)"
            )
        if isinstance(event, CollectionStartEvent):
            flow.append(bool(event.flow_style))
            depth += flow[-1]
            if depth > _FLOW_DEPTH:
                # The YAML reader takes time growing with the square of this depth.
                raise RefusedInput(
                    f"{path}: YAML nested more than {_FLOW_DEPTH} levels deep in [ ] or {{ }}"
                    " is not accepted (exports never hold it)"
                )
        elif isinstance(event, CollectionEndEvent):
            depth -= flow.pop()
