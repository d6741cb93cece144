"""The one writer of a files root: `import` and the Python API's `save`/`append` write where
the id says, never through a link, never over another session, and keep numbers exact."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from mofa import errors
from mofa.numbers import exact_float
from mofa.stores.files import FileSessionStore
from tests.helpers import message, run, write_jsonl, write_session

EXACT = '{"big": 1e400, "long": 0.10000000000000000555, "tiny": 1e-400, "neg": -2.5E+3}'


def strict(text: str):
    """Parse as strict JSON: NaN and Infinity are refused."""

    def refuse(name):
        raise ValueError(f"not JSON: {name}")

    return json.loads(text, parse_constant=refuse, parse_float=exact_float)


def export(session_id: str, path) -> str:
    result = run("session", "export", session_id, "-o", str(path))
    assert result.exit_code == 0, result.stderr
    return path.read_text()


def import_document(tmp_path, document: dict, *options: str, name: str = "in.json"):
    source = tmp_path / name
    source.write_text(json.dumps(document) if isinstance(document, dict) else document)
    return run("session", "import", *options, str(source))


def tree_of(path) -> dict:
    found = {}
    for directory, dirs, files in os.walk(path):
        for item in dirs + files:
            full = os.path.join(directory, item)
            if os.path.islink(full):
                found[full] = os.readlink(full)
            else:
                found[full] = Path(full).read_bytes() if os.path.isfile(full) else None
    return found


def test_import_refuses_a_symlinked_agent_directory(root, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "config.json").write_text('{"secret": true}')
    os.symlink(elsewhere, root / "evil")
    before = tree_of(tmp_path / "elsewhere"), tree_of(root)
    for options in ((), ("--replace",)):
        result = import_document(tmp_path, {"session_id": "evil:config", "messages": []}, *options)
        assert result.exit_code == 2, result.stderr
        assert result.stderr.count("Error:") == 1 and "not a real directory" in result.stderr
    assert (tree_of(tmp_path / "elsewhere"), tree_of(root)) == before


def test_import_refuses_an_agent_entry_that_is_a_file(root, tmp_path):
    (root / "evil").write_text("not a directory")
    result = import_document(tmp_path, {"session_id": "evil:x", "messages": []})
    assert result.exit_code == 2, result.stderr
    assert (root / "evil").read_text() == "not a directory"
    assert sorted(os.listdir(root)) == ["evil"]


def test_save_refuses_a_symlinked_agent_directory(root, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    os.symlink(elsewhere, root / "evil")
    with pytest.raises(errors.RefusedPath):
        FileSessionStore(str(root)).save("evil:x", {"messages": []})
    assert os.listdir(elsewhere) == []


def test_import_refuses_a_mofa_key_whose_file_holds_another_key(root, tmp_path):
    path = write_jsonl(root, "a.b", file_stem="a_b")
    before = path.read_bytes()
    for options in ((), ("--replace",)):
        result = import_document(
            tmp_path, {"session_id": "a/b", "key": "a/b", "messages": []}, *options
        )
        assert result.exit_code == 1, result.stderr
        assert "'a/b'" in result.stderr and "'a.b'" in result.stderr, result.stderr
        assert "Imported 0 sessions" in result.stderr
    assert path.read_bytes() == before
    assert sorted(os.listdir(root)) == ["a_b.jsonl"]
    with pytest.raises(errors.SessionExists):
        FileSessionStore(str(root)).save("a/b", {"key": "a/b", "messages": []})
    assert path.read_bytes() == before


def test_import_replace_of_a_key_writes_where_the_reader_finds_it(root, tmp_path):
    write_session(root, "bot", "s", [message("user", "old")])
    document = {"session_id": "bot:s", "key": "bot:s", "messages": [message("user", "new")]}
    result = import_document(tmp_path, document, "--replace")
    assert result.exit_code == 0, result.stderr
    assert "1 replaced" in result.stderr
    shown = run("session", "show", "bot:s", "-f", "json")
    assert [item["content"] for item in json.loads(shown.stdout)["messages"]] == ["new"]
    assert not (root / "bot:s.jsonl").exists()
    assert json.loads(export("bot:s", tmp_path / "out.json")) == document


def test_import_replace_writes_over_the_mofa_file_that_wins_the_id(root, tmp_path):
    # The key's own file name is not taken: the winner is the file in byte order.
    winner = write_jsonl(root, "u/1", file_stem="other", messages=[message("user", "old")])
    document = {"session_id": "u/1", "key": "u/1", "messages": [message("user", "new")]}
    result = import_document(tmp_path, document, "--replace")
    assert result.exit_code == 0, result.stderr
    assert sorted(os.listdir(root)) == ["other.jsonl"]
    assert "new" in winner.read_text()
    listed = run("session", "list", "-f", "json")
    assert [row["session_id"] for row in json.loads(listed.stdout)] == ["u/1"]


@pytest.mark.parametrize("session_id", ["agent:s", "telegram/chat-1"])
def test_import_keeps_numbers_as_their_text_and_files_strict_json(root, tmp_path, session_id):
    document = {"session_id": session_id}
    if "/" in session_id:
        document["key"] = session_id
    document.update({"metadata": {"n": "__"}, "messages": [message("user", "x", stats="__")]})
    source = tmp_path / "in.json"
    source.write_text(as_export(document))
    result = run("session", "import", str(source))
    assert result.exit_code == 0, result.stderr
    files = [p for p in root.rglob("*") if p.is_file() and not p.name.startswith(".")]
    assert len(files) == 1
    text = files[0].read_text()
    assert "Infinity" not in text and "1e400" in text and "0.10000000000000000555" in text
    assert "1e-400" in text and "-2.5E+3" in text
    for line in text.splitlines() if files[0].suffix == ".jsonl" else [text]:
        strict(line)
    assert export(session_id, tmp_path / "out.json") == source.read_text()


def as_export(document: dict) -> str:
    """The document as `export` writes it, each `"__"` replaced by the exact numbers."""
    from mofa.documents import to_json

    return to_json(strict(json.dumps(document).replace('"__"', EXACT)))


def test_save_and_append_keep_numbers_exact(root):
    store = FileSessionStore(str(root))
    numbers = strict(EXACT)
    for session_id, document in (
        ("a:s", {"metadata": {"n": numbers}, "messages": []}),
        ("k/1", {"key": "k/1", "metadata": {"n": numbers}}),
    ):
        ref = store.save(session_id, document)
        store.append(ref, message("user", "x", n=numbers))
        path = store.path_of(ref.handle)
        text = Path(path).read_text(encoding="utf-8")
        assert "Infinity" not in text and text.count("1e400") == 2, text
        assert text.count("0.10000000000000000555") == 2 and text.count("1e-400") == 2
        for line in text.splitlines() if path.endswith(".jsonl") else [text]:
            strict(line)


def test_append_refuses_a_line_mofa_would_skip(root):
    store = FileSessionStore(str(root))
    ref = store.save("k/2", {"key": "k/2"})
    path = store.path_of(ref.handle)
    before = Path(path).read_bytes()
    with pytest.raises(errors.UnstorableSession):
        store.append(ref, {"role": "user", "content": 5})
    assert Path(path).read_bytes() == before


def test_import_refuses_what_would_not_read_back_the_same(root, tmp_path):
    # A MoFA file cannot hold a message without string content: MoFA would skip its line.
    document = {"session_id": "k/3", "key": "k/3", "messages": [{"role": "user", "content": 1}]}
    result = import_document(tmp_path, document)
    assert result.exit_code == 1, result.stderr
    assert "nothing written" in result.stderr
    assert os.listdir(root) == []


def test_import_leaves_no_temporary_file(root, tmp_path):
    assert import_document(tmp_path, {"session_id": "a:s", "messages": []}).exit_code == 0
    assert os.listdir(root / "a") == ["s.json"]


def test_import_refuses_an_id_that_is_not_valid_utf8(root, tmp_path):
    for text in ('"a\\ud800:s"', '"k\\udcff"'):
        source = tmp_path / "s.json"
        source.write_text(f'{{"session_id": {text}, "key": {text}, "messages": []}}')
        result = run("session", "import", str(source))
        assert result.exit_code == 1, result.stderr
        assert "not valid UTF-8" in result.stderr and "internal error" not in result.stderr
    assert os.listdir(root) == []


def test_a_failed_import_leaves_no_agent_directory_behind(root, tmp_path):
    import resource
    import signal

    from tests.helpers import run_installed

    source = tmp_path / "big.json"
    source.write_text(
        json.dumps({"session_id": "fresh:s", "messages": [message("user", "x" * 100_000)]})
    )

    def limit_file_size():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (20_000, 20_000))

    result = run_installed("session", "import", str(source), preexec_fn=limit_file_size)
    assert result.returncode == 3, result.stderr
    assert "Error: cannot write" in result.stderr and "Traceback" not in result.stderr
    assert not (root / "fresh").exists()


class FlushLog:
    """What os.fsync was called on, in order (the real os.fsync still runs): whether a file
    reached the disk before it was put in place cannot be observed otherwise."""

    def __init__(self, monkeypatch):
        self.paths: list[str] = []
        real = os.fsync

        def fsync(fd: int) -> None:
            self.paths.append(os.readlink(f"/proc/self/fd/{fd}"))
            real(fd)

        monkeypatch.setattr(os, "fsync", fsync)

    def directories(self) -> list[str]:
        return [path for path in self.paths if os.path.isdir(path)]


def test_saving_many_flushes_each_file_at_once_and_each_directory_once(root, monkeypatch):
    store = FileSessionStore(str(root))
    log = FlushLog(monkeypatch)
    with store.saving_many():
        for number in range(6):
            store.save(f"agent-{number % 2}:s{number}", {"messages": [message("user", "hi")]})
        assert log.directories() == []  # not yet: once each, at the end
        files = [path for path in log.paths if ".mofa-write-" in path]
        assert len(files) == 6  # every file flushed before it was put in place
    # the root too, once: it got the new agent directories' entries
    assert sorted(log.directories()) == [str(root), str(root / "agent-0"), str(root / "agent-1")]
    assert sorted(p.name for p in (root / "agent-0").iterdir()) == ["s0.json", "s2.json", "s4.json"]


def test_saving_many_flushes_what_was_written_when_it_ends_by_an_error(root, monkeypatch):
    store = FileSessionStore(str(root))
    log = FlushLog(monkeypatch)
    with pytest.raises(errors.SessionExists):
        with store.saving_many():
            store.save("agent:one", {"messages": []})
            store.save("agent:one", {"messages": []})  # taken: the batch ends by an error
    assert sorted(log.directories()) == [str(root), str(root / "agent")]
    assert (root / "agent" / "one.json").is_file()


def test_a_directory_removed_before_the_batch_ends_is_no_error(root):
    store = FileSessionStore(str(root))
    with store.saving_many():
        store.save("gone:one", {"messages": []})
        ref = store.resolve("gone:one")
        store.delete(ref)  # its agent directory, left empty, is removed
    assert not (root / "gone").exists()


def test_one_save_alone_flushes_its_directory_at_once(root, monkeypatch):
    (root / "agent").mkdir()
    log = FlushLog(monkeypatch)
    FileSessionStore(str(root)).save("agent:one", {"messages": []})
    assert log.directories() == [str(root / "agent")]


def test_a_new_agent_directory_is_flushed_into_the_root_as_well(root, monkeypatch):
    """Its entry in the root reaches the disk with the session in it: a crash right after the
    save cannot take the directory, and the session with it, away."""
    log = FlushLog(monkeypatch)
    FileSessionStore(str(root)).save("agent:one", {"messages": []})
    assert sorted(log.directories()) == [str(root), str(root / "agent")]
    log.paths.clear()
    FileSessionStore(str(root)).save("agent:two", {"messages": []})  # the directory exists now
    assert log.directories() == [str(root / "agent")]


def test_import_flushes_each_directory_once(root, tmp_path, monkeypatch):
    source = tmp_path / "source"
    for number in range(5):
        write_session(source, f"agent-{number % 2}", f"s{number}", [message("user", "hi")])
    log = FlushLog(monkeypatch)
    result = run("session", "import", "--from-dir", str(source))
    assert result.exit_code == 0, result.stderr
    assert sorted(log.directories()) == [str(root), str(root / "agent-0"), str(root / "agent-1")]
