"""Typed SQLAlchemy models, one module per concern; import from here."""
from .artifact import Artifact
from .discussion import Post
from .explanation import ExplanationGrade, Reaction, RubricApplication, RubricItem
from .job import Job
from .puzzle import Figure, Puzzle, Question
from .ratelimit import RateCounter
from .site import Counter, Setting
from .submission import GradeChange, Score, Submission, UserTotal
from .user import ApiToken, Cohort, CohortMember, Notification, User, UserSession

__all__ = [
    "ApiToken", "Artifact", "Cohort", "Counter", "CohortMember", "ExplanationGrade", "Reaction",
    "RubricApplication", "RubricItem", "Figure", "GradeChange", "Job", "Notification",
    "Post", "Puzzle", "Question", "RateCounter", "Score", "Setting", "Submission", "User", "UserSession", "UserTotal",
]
