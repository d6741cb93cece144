"""mofa-session: manage the conversation sessions that AI agents leave on disk."""

__version__ = "0.1.0"
