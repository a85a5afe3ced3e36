"""Worker exception types, torch-free so the web process and CLI can catch them cheaply."""
from __future__ import annotations


class ModelUnavailable(RuntimeError):
    """The model cannot be loaded here (not cached and hub unreachable, not found, bad local dir).

    str() is ONE line naming the model and the fix: it is shown to operators as-is.
    """
