"""Mentor area: grading control."""
from __future__ import annotations

from flask import Blueprint

bp = Blueprint("mentor_grading", __name__, url_prefix="/mentor")
