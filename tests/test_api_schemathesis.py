"""Property-based checks of /api/v1 against its own OpenAPI document, in process (WSGI).

schemathesis generates requests for every operation in /api/v1/openapi.json (valid and
invalid parameters and bodies) and sends them with a valid bearer token; every response
must not be a server error and must match the documented status codes, content type,
headers and (closed) schemas. The document's examples name a real live puzzle and question
here, so the happy paths (including graded submissions) are exercised too.
"""
from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (content_type_conformance, response_headers_conformance,
                                               response_schema_conformance, status_code_conformance)

from puzzle_platform.openapi import EXAMPLE_KEY, EXAMPLE_SLUG, PATHS
from tests.helpers import add_artifact, choice_question, issue_token, mean_question, write_puzzle

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_headers_conformance, response_schema_conformance]

QUESTIONS = mean_question(EXAMPLE_KEY, points=10, max_attempts=50) + choice_question()


@pytest.fixture
def api_token(app, puzzles_dir, sync) -> str:
    """A live puzzle under the document's example slug, its ground truth, a scholar's token.

    No wait after wrong answers here, so that generated answers reach the validation and
    grading paths instead of all being told to wait.
    """
    app.config["WRONG_ANSWER_WAITS"] = (0,)
    write_puzzle(puzzles_dir, slug=EXAMPLE_SLUG, questions=QUESTIONS)
    write_puzzle(puzzles_dir, number=2, slug="revealed-one", state="revealed", questions=QUESTIONS)
    sync()
    add_artifact(app, EXAMPLE_SLUG, "fig", {"mean_cos": 0.5})
    return issue_token(app, "fuzz", name="schemathesis")


OPERATIONS = [(path, method.upper()) for path, item in PATHS.items() for method in item]
EXAMPLES = {"slug": EXAMPLE_SLUG, "key": EXAMPLE_KEY}


@pytest.mark.parametrize("path, method", OPERATIONS, ids=[f"{m} {p}" for p, m in OPERATIONS])
def test_api_conforms_to_its_openapi_document(app, api_token, monkeypatch, path, method):
    """Valid and invalid requests (random, from the examples, and with the example puzzle's
    real slug and key); a fresh database per operation, so rate limits start afresh. The
    submission limit is lifted so that generated answers reach validation and grading (the
    limit itself is tested in test_api.py)."""
    app.config.update(API_SUBMISSIONS_PER_MINUTE=10_000, SUBMISSIONS_PER_MINUTE=10_000)
    operation = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)[path][method]
    strategies = [operation.as_strategy(GenerationMode.POSITIVE),
                  operation.as_strategy(GenerationMode.NEGATIVE),
                  *operation.get_strategies_from_examples()]
    params = {name: EXAMPLES[name] for name in EXAMPLES if "{" + name + "}" in path}
    if params:
        strategies.append(operation.as_strategy(GenerationMode.POSITIVE, path_parameters=params))
    headers = {"Authorization": f"Bearer {api_token}"}

    @given(case=st.one_of(strategies))
    @settings(max_examples=100, deadline=None, database=None, derandomize=True,
              suppress_health_check=list(HealthCheck))
    def check(case) -> None:
        case.call_and_validate(headers=headers, checks=CHECKS)

    check()
