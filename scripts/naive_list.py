#!/usr/bin/env python3
"""The naive baseline: read and parse every session file, filter, sort, keep the newest N.

python scripts/naive_list.py ROOT [--agent AGENT] [--limit 10]
"""

import json
import os
import sys


def main() -> None:
    root = sys.argv[1]
    agent = sys.argv[sys.argv.index("--agent") + 1] if "--agent" in sys.argv else None
    limit = int(sys.argv[sys.argv.index("--limit") + 1]) if "--limit" in sys.argv else 10
    rows = []
    for directory in sorted(os.listdir(root)):
        path = os.path.join(root, directory)
        if directory.startswith(".") or not os.path.isdir(path):
            continue
        for name in os.listdir(path):
            if not name.endswith(".json"):
                continue
            with open(os.path.join(path, name), "rb") as handle:
                document = json.loads(handle.read())
            session_agent = document.get("metadata", {}).get("agent_id", directory)
            if agent is None or session_agent == agent:
                rows.append(
                    (
                        document.get("created_at", ""),
                        f"{directory}:{name[:-5]}",
                        len(document.get("messages", [])),
                        document.get("status", "active"),
                    )
                )
    rows.sort()
    json.dump(
        [
            {"session_id": r[1], "created_at": r[0], "message_count": r[2], "status": r[3]}
            for r in rows[-limit:]
        ],
        sys.stdout,
        indent=2,
    )


if __name__ == "__main__":
    main()
