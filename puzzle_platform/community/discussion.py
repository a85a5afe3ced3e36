"""Discussion: one thread per puzzle, opened to a scholar by solving or by the reveal.

The gate keeps spoilers away from those still working: a scholar reads and writes only
after solving a challenge question of the puzzle, or once the puzzle is revealed; mentors
always. Hidden posts stay in the database (moderation is reversible).
"""
from __future__ import annotations

import sqlalchemy as sa

from ..extensions import db
from ..models import Post, Puzzle, User
from ..access.ratelimit import hit
from ..models import Score
from ..timeutil import utcnow

MAX_POST_CHARS = 20_000
MAX_REASON_CHARS = 500
POST_LIMIT = 10          # posts per user ...
POST_WINDOW = 600        # ... per 10 minutes


class DiscussionError(Exception):
    """A refused discussion action; `status` is the HTTP status, the message is shown as is."""

    def __init__(self, status: int, message: str, retry_after: int | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.retry_after = retry_after


def solved_any(user: User, puzzle: Puzzle) -> bool:
    """A question of the puzzle counts as solved for the scholar (before the reveal only
    challenges can be: forecasts are not scored until then)."""
    return db.session.scalar(sa.select(Score.id).where(
        Score.user_id == user.id, Score.puzzle_id == puzzle.id, Score.solved.is_(True)).limit(1)) is not None


def may_discuss(user: User, puzzle: Puzzle) -> bool:
    """Mentors always; scholars after solving a question of the puzzle or after its reveal."""
    return user.is_mentor or puzzle.is_revealed() or solved_any(user, puzzle)


def closed_message(puzzle: Puzzle) -> str:
    when = puzzle.reveal_at.strftime("%Y-%m-%d %H:%M UTC")
    return (f"The discussion of this puzzle opens to you once you solve one of its questions; "
            f"solve a question or wait for the reveal on {when}.")


def check_access(user: User, puzzle: Puzzle) -> None:
    if not may_discuss(user, puzzle):
        raise DiscussionError(403, closed_message(puzzle))


def thread(puzzle: Puzzle) -> list[Post]:
    """Every post of the puzzle, hidden ones included (the page decides what to show), newest last."""
    return list(db.session.scalars(
        sa.select(Post).where(Post.puzzle_id == puzzle.id).order_by(Post.created_at, Post.id)))


def validate_body(body: str | None) -> str:
    text = (body or "").replace("\r\n", "\n")
    if not text.strip():
        raise DiscussionError(400, "The post is empty: write something first.")
    if len(text) > MAX_POST_CHARS:
        raise DiscussionError(400, f"Posts are limited to {MAX_POST_CHARS:,} characters; "
                                   f"this one has {len(text):,}.")
    return text


def add_post(user: User, puzzle: Puzzle, body: str | None) -> Post:
    """Check the gate, the body and the rate limit (in that order), then store the post."""
    check_access(user, puzzle)
    text = validate_body(body)
    retry = hit(f"post:{user.id}", POST_LIMIT, POST_WINDOW)
    if retry is not None:
        raise DiscussionError(429, f"You have posted {POST_LIMIT} times in the last "
                                   f"{POST_WINDOW // 60} minutes: wait {retry} s.", retry)
    post = Post(puzzle_id=puzzle.id, user_id=user.id, body_md=text)
    db.session.add(post)
    db.session.commit()
    return post


def get_post(puzzle: Puzzle, post_id: int) -> Post:
    post = db.session.get(Post, post_id)
    if post is None or post.puzzle_id != puzzle.id:
        raise DiscussionError(404, "No such post in this thread.")
    return post


def hide(post: Post, mentor: User, reason: str | None) -> None:
    reason = (reason or "").strip()
    if not reason:
        raise DiscussionError(400, "Give a reason for hiding the post (its author sees it).")
    if len(reason) > MAX_REASON_CHARS:
        raise DiscussionError(400, f"The reason is limited to {MAX_REASON_CHARS} characters.")
    post.hidden, post.hidden_by, post.hidden_at, post.hidden_reason = True, mentor.id, utcnow(), reason
    db.session.commit()


def unhide(post: Post) -> None:
    """Show the post again; the moderation fields are cleared with it."""
    post.hidden, post.hidden_by, post.hidden_at, post.hidden_reason = False, None, None, None
    db.session.commit()
