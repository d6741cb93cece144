"""Bringing an index up to date with the files: the stat refresh and the bulk cold build."""
