"""The SQLite index of the sessions root and the watcher that keeps it current."""
