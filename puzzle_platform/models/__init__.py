"""Typed SQLAlchemy models, one module per concern; import from here."""
from .artifact import Artifact
from .job import Job
from .puzzle import Figure, Puzzle, Question
from .site import Setting
from .submission import GradeChange, Score, Submission
from .user import ApiToken, Cohort, CohortMember, User

__all__ = [
    "ApiToken", "Artifact", "Cohort", "CohortMember", "Figure", "GradeChange", "Job",
    "Puzzle", "Question", "Score", "Setting", "Submission", "User",
]
