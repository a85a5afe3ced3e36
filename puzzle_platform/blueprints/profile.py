"""The profile page: API tokens."""
from __future__ import annotations

from flask import Blueprint

bp = Blueprint("profile", __name__, url_prefix=None)
