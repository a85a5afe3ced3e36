"""A small client for the Mech Interp Puzzles API, for notebooks (Colab, Jupyter) and scripts.

Standard library only (urllib + json), one file, nothing to install: the site serves it at
/client/mip_client.py (and its version at /client/version). Create a token on the site's
profile page, then:

    import urllib.request
    urllib.request.urlretrieve("https://puzzles.example.org/client/mip_client.py", "mip_client.py")
    from mip_client import Client
    client = Client("https://puzzles.example.org", "mip_...")
    puzzle = client.puzzle("suspiciously-similar-embeddings")
    result = client.submit(puzzle["slug"], "neo_mean_cos", value=0.9, lower=0.8, upper=0.95)
    print(result["status"], result["points"], result["feedback"])

Every refusal raises MIPError with the server's HTTP status and reason (and, for 429, the
seconds to wait). The API's full contract is served at /api/v1/openapi.json.
"""
from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

__all__ = ["Client", "MIPError"]
__version__ = "1.0.0"

API_PREFIX = "/api/v1"


class MIPError(Exception):
    """The server refused a request (or could not be reached: status 0).

    Attributes: status (the HTTP status), message (the server's reason, as shown on the
    site), retry_after (seconds to wait before trying again, for 429; else None).
    """

    def __init__(self, status: int, message: str, retry_after: int | None = None) -> None:
        super().__init__(f"{status}: {message}" if status else message)
        self.status = status
        self.message = message
        self.retry_after = retry_after


def _number(x: Any) -> Any:
    """Numbers as JSON numbers (numpy and torch scalars included); strings and booleans as given."""
    if x is None or isinstance(x, (str, bool)):
        return x
    if hasattr(x, "item"):  # numpy / torch scalars
        x = x.item()
    return float(x)


class Client:
    """One site and one token. All methods return the API's JSON as dicts and lists."""

    def __init__(self, base_url: str, token: str, timeout: float = 30.0) -> None:
        base = base_url.strip().rstrip("/")
        if base.endswith(API_PREFIX):
            base = base[: -len(API_PREFIX)]
        if not base.startswith(("http://", "https://")):
            raise ValueError(f"base_url must start with http:// or https://, got {base_url!r}")
        self.base_url = base
        self._token = token.strip()
        self.timeout = timeout

    def __repr__(self) -> str:  # never print the token itself in a shared notebook
        return f"Client({self.base_url!r}, token='{self._token[:8]}…')"

    # --- transport ----------------------------------------------------------------------

    def _request(self, method: str, path: str, params: dict[str, Any] | None = None,
                 body: dict[str, Any] | None = None) -> Any:
        url = self.base_url + API_PREFIX + path
        query = {k: v for k, v in (params or {}).items() if v is not None}
        if query:
            url += "?" + urllib.parse.urlencode(query)
        data = None if body is None else json.dumps(body).encode("utf-8")
        req = urllib.request.Request(url, data=data, method=method, headers={
            "Authorization": f"Bearer {self._token}", "Accept": "application/json",
            "User-Agent": f"mip-client/{__version__}",
            **({"Content-Type": "application/json"} if data is not None else {}),
        })
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                return json.loads(resp.read().decode("utf-8"))
        except urllib.error.HTTPError as exc:
            raise self._error(exc) from None
        except urllib.error.URLError as exc:
            raise MIPError(0, f"Could not reach {self.base_url}: {exc.reason}") from None

    @staticmethod
    def _error(exc: urllib.error.HTTPError) -> MIPError:
        raw = exc.read().decode("utf-8", "replace")
        try:
            message = json.loads(raw)["error"]["message"]
        except (ValueError, KeyError, TypeError):
            message = raw.strip()[:500] or exc.reason or "HTTP error"
        retry = exc.headers.get("Retry-After") if exc.headers else None
        return MIPError(exc.code, str(message), int(retry) if retry and retry.isdigit() else None)

    @staticmethod
    def _seg(value: str) -> str:
        return urllib.parse.quote(str(value), safe="")

    # --- the API ------------------------------------------------------------------------

    def me(self) -> dict:
        """Who the token belongs to: username, display_name, role."""
        return self._request("GET", "/me")

    def puzzles(self) -> list[dict]:
        """Released puzzles (slug, number, title, summary, state and schedule), by number."""
        return self._request("GET", "/puzzles")["puzzles"]

    def puzzle(self, slug: str) -> dict:
        """One puzzle: statement_md, figures (plotly JSON + provenance), questions with your
        attempts_left and solved; after the reveal also each question's truth and answer_md."""
        return self._request("GET", f"/puzzles/{self._seg(slug)}")

    def submit(self, slug: str, key: str, value: float | str | None = None,
               lower: float | str | None = None, upper: float | str | None = None,
               choice: str | None = None, text: str | None = None) -> dict:
        """Answer question `key` of puzzle `slug`; returns the submission.

        Numeric questions take `value` and optionally a 90% interval `lower`..`upper`
        (interval questions require it); choice questions `choice`; text questions `text`.
        The submission's status is "graded" (a challenge: score, points, correct, feedback) or
        "pending": a forecast, scored at the reveal (submit again to revise it), or an attempt
        graded automatically once the ground truth is computed. A refused attempt
        raises MIPError (400 bad answer, 403 closed or no attempts left, 404 unknown, 409
        already solved, 429 wait: see retry_after).
        """
        body = {"value": _number(value), "lower": _number(lower), "upper": _number(upper),
                "choice": choice, "text": text}
        return self._request("POST", f"/puzzles/{self._seg(slug)}/questions/{self._seg(key)}/submissions",
                             body={k: v for k, v in body.items() if v is not None})

    def submit_explanation(self, slug: str, key: str, text: str) -> dict:
        """Save a new version of your explanation (Markdown, at most 5000 characters) to
        question `key` of puzzle `slug`; returns the submission (status "pending": mentors
        grade your last version before the deadline, and you see the grading at the reveal)."""
        return self._request("POST", f"/puzzles/{self._seg(slug)}/questions/{self._seg(key)}/submissions",
                             body={"text": text})

    def my_explanation(self, slug: str, key: str) -> dict:
        """Your versions of explanation question `key` ("versions": text and created_at, oldest
        first; "word_budget"); after the reveal also "grading" (rubric "items" applied,
        "comment", "points"; null if not graded) and the "featured" explanations."""
        return self._request("GET", f"/puzzles/{self._seg(slug)}/questions/{self._seg(key)}/explanation")

    def my_submissions(self, slug: str | None = None) -> list[dict]:
        """Your own attempts (every status), oldest first; `slug` narrows to one puzzle."""
        return self._request("GET", "/me/submissions", params={"puzzle": slug})["submissions"]

    def leaderboard(self, puzzle: str | None = None, cohort: str | None = None) -> dict:
        """Standings: {"scope", "rules", "entries": [{rank, display_name, points, ...}]}."""
        return self._request("GET", "/leaderboard", params={"puzzle": puzzle, "cohort": cohort})
