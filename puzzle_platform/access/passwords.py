"""Password rules for every place a password is chosen (registration, password change, the
CLI): a length range and zxcvbn's strength estimate, which knows the 30,000 most common
passwords, names, dictionary words, keyboard walks ("qwertyuiop"), sequences ("12345678901"),
dates and l33t substitutions, and the user's own name and email."""
from __future__ import annotations

from zxcvbn import zxcvbn

MIN_PASSWORD = 10
MAX_PASSWORD = 256
ZXCVBN_LENGTH = 72
MIN_SCORE = 3  # zxcvbn's 0-4 scale: 3 is "safely unguessable: moderate protection from offline attacks"


def password_problem(password: str, user_inputs: list[str] | tuple[str, ...] = ()) -> str | None:
    """Why this password is refused, as one sentence for the person choosing it; None if fine."""
    if len(password) < MIN_PASSWORD:
        return f"At least {MIN_PASSWORD} characters."
    if len(password) > MAX_PASSWORD:
        return f"At most {MAX_PASSWORD} characters."
    if any(ord(c) < 32 or ord(c) == 127 for c in password):
        return "The password may not contain control characters."
    inputs = [s for s in user_inputs if s]
    lowered = password.lower()
    for text in inputs:
        if len(text) >= 3 and text.lower() in lowered:
            return "The password must not contain your username or email."
    # zxcvbn's matching is quadratic in the length and it refuses more than 72 characters:
    # the first 72 decide (a longer password only adds to them).
    result = zxcvbn(password[:ZXCVBN_LENGTH], user_inputs=inputs + [p for s in inputs for p in s.split("@")],
                    max_length=ZXCVBN_LENGTH)
    if result["score"] >= MIN_SCORE:
        return None
    feedback = result.get("feedback") or {}
    hint = " ".join(filter(None, [feedback.get("warning"), *(feedback.get("suggestions") or [])[:1]]))
    return "This password is too easy to guess" + (f": {hint}" if hint else ".")
