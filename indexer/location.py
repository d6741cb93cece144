"""Where the index of a sessions root lives: MOFA_INDEX_PATH, else one file per root in the
user's cache directory, outside the watched tree."""

from __future__ import annotations

import os
import re
from hashlib import sha256


def cache_home(environ=os.environ) -> str:
    configured = environ.get("XDG_CACHE_HOME")
    if configured and os.path.isabs(configured):
        return configured
    return os.path.join(os.path.expanduser("~"), ".cache")


def default_index_path(root: str, environ=os.environ) -> str:
    configured = environ.get("MOFA_INDEX_PATH")
    if configured:
        return os.path.abspath(os.path.expanduser(configured))
    real = os.path.realpath(root)
    digest = sha256(os.fsencode(real)).hexdigest()[:16]
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "-", os.path.basename(real.rstrip("/")) or "root")[:40]
    return os.path.join(cache_home(environ), "mofa", "index", f"{slug}-{digest}.sqlite3")
