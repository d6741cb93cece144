"""The reference page's "Common Workflows", run as real shell pipelines."""

import json
import os
import shutil
import subprocess

import pytest

from tests.helpers import BIN, message, write_session

pytestmark = pytest.mark.skipif(shutil.which("jq") is None, reason="jq is not installed")


def sh(script: str, cwd) -> subprocess.CompletedProcess:
    env = dict(os.environ, PATH=f"{BIN}:{os.environ['PATH']}")
    result = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    return result


@pytest.fixture
def agents(root):
    write_session(root, "my-agent", "session-1", [message("user", "a"), message("assistant", "b")])
    write_session(
        root,
        "my-agent",
        "session-2",
        [message("user", "c"), message("user", "d"), message("assistant", "e")],
    )
    write_session(root, "other", "session-3")
    return root


def test_audit_an_agent_by_exporting_all_its_sessions(agents, tmp_path):
    sh(
        """mkdir -p exports
for session in $(mofa session list --agent my-agent --output-format json |
                  jq -r '.[].session_id'); do
  mofa session export $session -o "exports/${session}.json" --format json
done""",
        tmp_path,
    )
    exported = sorted(os.listdir(tmp_path / "exports"))
    assert exported == ["my-agent:session-1.json", "my-agent:session-2.json"]
    assert len(json.loads((tmp_path / "exports" / exported[1]).read_text())["messages"]) == 3


def test_batch_delete_with_xargs(agents, tmp_path):
    sh(
        """mofa session list --agent my-agent --output-format json | \\
  jq -r '.[].session_id' | \\
  xargs -I {} mofa session delete {} --force""",
        tmp_path,
    )
    listed = sh("mofa session list --output-format json | jq -r '.[].session_id'", tmp_path)
    assert listed.stdout.split() == ["other:session-3"]


def test_debug_a_conversation_with_jq(agents, tmp_path):
    users = sh(
        "mofa session show session-2 --format json"
        """ | jq -c '.messages[] | select(.role == "user") | .content'""",
        tmp_path,
    )
    assert users.stdout.split() == ['"c"', '"d"']
    counts = sh(
        """mofa session show session-2 --format json | \\
  jq -c '.messages | group_by(.role) | map({role: .[0].role, count: length})'""",
        tmp_path,
    )
    assert json.loads(counts.stdout) == [
        {"role": "assistant", "count": 1},
        {"role": "user", "count": 2},
    ]


def test_review_recent_conversations(agents, tmp_path):
    result = sh(
        "mofa session list --limit 10 && mofa session show my-agent:session-1 && "
        "mofa session export my-agent:session-1 -o analysis.json --format json",
        tmp_path,
    )
    assert "my-agent:session-1" in result.stdout
    assert (
        json.loads((tmp_path / "analysis.json").read_text())["session_id"] == "my-agent:session-1"
    )
