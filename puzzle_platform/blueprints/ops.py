"""Operations: health endpoint."""
from __future__ import annotations

from flask import Blueprint

bp = Blueprint("ops", __name__, url_prefix=None)
