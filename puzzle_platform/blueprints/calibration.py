"""Calibration profiles."""
from __future__ import annotations

from flask import Blueprint

bp = Blueprint("calibration", __name__, url_prefix=None)
