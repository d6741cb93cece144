"""Store URLs as they may be shown: a password is never printed, errors included."""

from __future__ import annotations

import re

_USERINFO = re.compile(
    r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)(?P<user>[^:@/]*):(?P<password>[^@/]*)@"
)
_KEYWORD = re.compile(r"(?i)(password\s*=\s*)('[^']*'|[^\s&]+)")


def masked(text: str) -> str:
    """`text` (a URL, a conninfo string, or a message quoting one) with every password
    replaced by `***`."""
    text = _USERINFO.sub(lambda match: f"{match['scheme']}{match['user']}:***@", text)
    return _KEYWORD.sub(lambda match: f"{match.group(1)}***", text)
