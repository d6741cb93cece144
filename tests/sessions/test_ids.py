import pytest

from mofa.errors import InvalidSessionId
from mofa.ids import SessionId, parse_session_id


@pytest.mark.parametrize(
    "text, expected",
    [
        ("agent-001:session-123", SessionId("agent-001", "session-123")),
        ("session-123", SessionId(None, "session-123")),
        ("telegram:chat:42", SessionId("telegram", "chat:42")),
        ("agent_é:séance-1", SessionId("agent_é", "séance-1")),
        ("a:b..c", SessionId("a", "b..c")),
    ],
)
def test_valid_ids(text, expected):
    assert parse_session_id(text) == expected
    assert parse_session_id(text).full == text


@pytest.mark.parametrize(
    "text, problem",
    [
        ("", "is empty"),
        (":", "is empty"),
        (":session", "agent part is empty"),
        ("agent:", "session part is empty"),
        ("..", "starts with '.'"),
        (".", "starts with '.'"),
        ("..:x", "agent part starts with '.'"),
        ("agent:..", "session part starts with '.'"),
        ("agent:.hidden", "starts with '.'"),
        ("/etc/passwd", "path separator"),
        ("agent:../../etc/passwd", "starts with '.'"),
        ("agent:a/b", "path separator"),
        ("agent:a\\b", "path separator"),
        ("ag/ent:x", "path separator"),
        ("agent:x\x00y", "control character"),
        ("agent:x\ny", "control character"),
        ("agent:\x1b[31m", "control character"),
        ("agent:x\x9by", "control character"),
    ],
)
def test_invalid_ids(text, problem):
    with pytest.raises(InvalidSessionId, match="invalid session id") as caught:
        parse_session_id(text)
    assert problem in str(caught.value)
