"""The SQLite index of a sessions root: its schema, rows, queries, search data and checks."""
