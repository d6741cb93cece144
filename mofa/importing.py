"""Reading sessions back from what `export` wrote (json or yaml), for `import`."""

from __future__ import annotations

import json
import os
import re
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
    document = _decode(path, data)
    if not isinstance(document, dict):
        raise CorruptSession(path, "not an exported session (not a JSON or YAML mapping)")
    session_id = document.get("session_id", document.get("key"))
    if not isinstance(session_id, str) or not session_id:
        raise InvalidSessionId(f"{path}: the export names no session_id")
    messages = document.get("messages", [])
    if not isinstance(messages, list) or not all(isinstance(item, dict) for item in messages):
        raise CorruptSession(path, "'messages' is not a list of JSON objects")
    return ExportedSession(path, session_id, document)


def _decode(path: str, data: bytes):
    suffix = os.path.splitext(path)[1].lower()
    if suffix not in (".yaml", ".yml"):
        try:
            return json.loads(data, parse_float=exact_float)
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


# JSON's number syntax: what an export writes for a number with a fraction or an exponent.
_JSON_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?")


def _exact_yaml():
    """A safe YAML loader that reads a number written as JSON as an ExactFloat, its text kept
    (`1e400` stays 1e400, never infinity), as the JSON reader does."""
    from ruamel.yaml import YAML
    from ruamel.yaml.constructor import SafeConstructor

    class ExactConstructor(SafeConstructor):
        def construct_yaml_float(self, node):
            text = self.construct_scalar(node)
            if isinstance(text, str) and _JSON_NUMBER.fullmatch(text):
                return ExactFloat(text)
            return super().construct_yaml_float(node)

    ExactConstructor.add_constructor(
        "tag:yaml.org,2002:float", ExactConstructor.construct_yaml_float
    )
    yaml = YAML(typ="safe", pure=True)
    yaml.Constructor = ExactConstructor
    return yaml


def _refuse_anchors(path: str, yaml, text: str) -> None:
    """Exports never hold YAML anchors or aliases; an alias can make a small file expand to
    gigabytes, so they are refused from the event stream, before anything is built."""
    from ruamel.yaml.events import AliasEvent

    for event in yaml.parse(text):
        if isinstance(event, AliasEvent) or getattr(event, "anchor", None) is not None:
            raise RefusedInput(
                f"{path}: YAML anchors and aliases are not accepted (exports never hold them)"
            )
