"""Mentor area: authoring puzzles."""
from __future__ import annotations

from flask import Blueprint

bp = Blueprint("mentor", __name__, url_prefix="/mentor")
