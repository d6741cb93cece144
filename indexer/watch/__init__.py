"""mofa-indexd: the watcher that keeps an index current, and its handshake with commands."""
