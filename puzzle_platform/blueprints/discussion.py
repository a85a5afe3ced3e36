"""Discussion threads, one per puzzle."""
from __future__ import annotations

from flask import Blueprint

bp = Blueprint("discussion", __name__, url_prefix=None)
