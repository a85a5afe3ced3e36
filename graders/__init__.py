"""Auto-grading rules for puzzle answers (pure Python, no framework imports).

    g = get_grader("interval")
    params = g.validate_params({"scale": 2.0})
    g.validate_truth(3.7, params)
    grade = g.grade({"value": 3.1, "lower": 2.0, "upper": 4.0}, 3.7, params)

Importing this package registers the built-in graders in GRADERS.
"""

from graders.base import (
    GRADERS,
    Grade,
    Grader,
    GraderParamsError,
    UnknownGrader,
    get_grader,
    grader_names,
    register,
)
from graders import categorical, interval, numeric  # noqa: F401  (registers built-ins)
from graders.interval import interval_score, weighted_interval_score

__all__ = [
    "GRADERS",
    "Grade",
    "Grader",
    "GraderParamsError",
    "UnknownGrader",
    "get_grader",
    "grader_names",
    "register",
    "interval_score",
    "weighted_interval_score",
]
