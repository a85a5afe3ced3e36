"""The OpenAPI 3.1 document of /api/v1, as a Python dict served at /api/v1/openapi.json.

Kept next to the code it describes and checked against it by tests/test_api_schemathesis.py
(schemathesis drives the real app from this document and validates every response), so a
field added to the API without being added here fails the tests: the schemas are closed.
"""
from __future__ import annotations

from copy import deepcopy


EXAMPLE_SLUG = "suspiciously-similar-embeddings"
EXAMPLE_KEY = "neo_mean_cos"


def _ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict, description: str) -> dict:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _err(name: str) -> dict:
    return {"$ref": f"#/components/responses/{name}"}


def _obj(properties: dict, required: list[str] | None = None) -> dict:
    """A closed object: every property listed, no others allowed."""
    return {"type": "object", "properties": properties,
            "required": list(properties) if required is None else required,
            "additionalProperties": False}


TIME = {"type": "string", "format": "date-time"}
TIME_OR_NULL = {"type": ["string", "null"], "format": "date-time"}
NUMBER_OR_NULL = {"type": ["number", "null"]}
ANSWER_NUMBER = {"type": ["number", "string", "null"],
                 "description": "A finite number, as a JSON number or a string; NaN and infinity are refused."}

SUMMARY = {
    "slug": {"type": "string"}, "number": {"type": "integer"}, "title": {"type": "string"},
    "summary": {"type": "string"},
    "state": {"type": "string", "enum": ["upcoming", "live", "closed", "revealed"]},
    "release_at": TIME, "deadline_at": TIME, "reveal_at": TIME,
}

SCHEMAS: dict = {
    "Error": _obj({"error": _obj({"status": {"type": "integer"}, "message": {"type": "string"}})}),
    "Me": _obj({"username": {"type": "string"}, "display_name": {"type": "string"},
                "role": {"type": "string", "enum": ["scholar", "mentor", "admin"]}}),
    "PuzzleSummary": _obj(SUMMARY),
    "PuzzleList": _obj({"puzzles": {"type": "array", "items": _ref("PuzzleSummary")}}),
    "Figure": _obj({
        "key": {"type": "string"}, "title": {"type": "string"},
        "figure": {"type": ["object", "null"], "description": "Plotly figure JSON of the latest artifact; null until computed."},
        "provenance": {"type": ["object", "null"], "description": "How the latest artifact was computed (model, revision, weights, ...)."},
        "sealed_until_reveal": {"type": "boolean",
                                "description": "Computed, but it plots the values a question asks for: shown at the reveal."},
        "version": {"type": ["integer", "null"]}, "computed_at": TIME_OR_NULL,
        "job": {"oneOf": [{"type": "null"}, _obj({
            "status": {"type": "string", "enum": ["queued", "running", "succeeded", "failed", "superseded"]},
            "progress": {"type": "integer"}, "stage": {"type": "string"}})]}}),
    "Question": _obj({
        "key": {"type": "string"}, "prompt_md": {"type": "string"},
        "kind": {"type": "string", "enum": ["numeric", "interval", "choice", "text", "explanation"]},
        "mode": {"type": "string", "enum": ["forecast", "challenge"],
                 "description": "forecast: revisable until the deadline, scored at the reveal; "
                                "challenge: right or wrong at once, all-or-nothing points."},
        "current_prediction": {"type": ["object", "null"],
                               "description": "A forecast's prediction in force (your latest)."},
        "choices": {"type": ["array", "null"], "items": {"type": "string"}},
        "unit": {"type": "string"}, "points": {"type": "number"},
        "word_budget": {"type": ["integer", "null"],
                        "description": "Explanations: the length the mentors suggest, in words (longer is allowed)."},
        "max_attempts": {"type": "integer", "minimum": 1},
        "attempts_left": {"type": "integer", "minimum": 0}, "solved": {"type": "boolean"},
        "wait_until": {**TIME_OR_NULL, "description": "After a wrong answer: no attempt before this time."},
        "truth": {"description": "The true value: only after the reveal (mentors: always). Null while not computed."},
    }, required=["key", "prompt_md", "kind", "mode", "choices", "unit", "points", "word_budget", "max_attempts",
                 "attempts_left", "solved", "wait_until", "current_prediction"]),
    "PuzzleDetail": _obj({
        **SUMMARY, "statement_md": {"type": "string"}, "revealed": {"type": "boolean"},
        "figures": {"type": "array", "items": _ref("Figure")},
        "questions": {"type": "array", "items": _ref("Question")},
        "answer_md": {"type": "string", "description": "Only after the reveal (mentors: always)."},
    }, required=[*SUMMARY, "statement_md", "revealed", "figures", "questions"]),
    "AnswerBody": {
        "type": "object",
        "description": "numeric/interval questions: value, and optionally (interval: required) "
                       "lower and upper, a 90% interval containing value; choice: choice; text: text "
                       "(at most 1000 characters); explanation: text, Markdown of at most 5000 "
                       "characters (each submission is a new version, editable until the deadline).",
        "properties": {"value": ANSWER_NUMBER, "lower": ANSWER_NUMBER, "upper": ANSWER_NUMBER,
                       "choice": {"type": "string"}, "text": {"type": "string", "maxLength": 5000}},
        "example": {"value": 0.9, "lower": 0.8, "upper": 0.95},
    },
    "Submission": _obj({
        "id": {"type": "integer"}, "puzzle": {"type": ["string", "null"]},
        "question": {"type": ["string", "null"]},
        "status": {"type": "string", "enum": ["pending", "graded", "rejected", "rate_limited"]},
        "attempt_no": {"type": ["integer", "null"]}, "score": NUMBER_OR_NULL,
        "points": NUMBER_OR_NULL, "correct": {"type": ["boolean", "null"]},
        "feedback": {"type": "string"},
        "payload": {"type": "object", "description": "The answer as stored (as sent, for refused attempts)."},
        "source": {"type": "string"}, "created_at": TIME, "graded_at": TIME_OR_NULL}),
    "SubmissionList": _obj({"submissions": {"type": "array", "items": _ref("Submission")}}),
    "ExplanationVersion": _obj({"id": {"type": "integer"}, "text": {"type": "string"}, "created_at": TIME}),
    "RubricItemApplied": _obj({"key": {"type": "string"}, "description": {"type": "string"},
                               "points": {"type": "number", "description": "Positive: something done well; negative: a mistake."}}),
    "ExplanationGrading": _obj({
        "submission_id": {"type": "integer", "description": "The version graded: your last one before the deadline."},
        "items": {"type": "array", "items": _ref("RubricItemApplied")},
        "comment": {"type": "string"},
        "points": {"type": "number", "description": "The applied items' points, clamped to [0, the question's points]."}}),
    "FeaturedExplanation": _obj({
        "id": {"type": "integer"}, "author": {"type": "string", "description": "A display name, or \"Anonymous scholar\"."},
        "text": {"type": "string", "description": "Markdown."}, "helpful": {"type": "integer", "minimum": 0},
        "reacted": {"type": "boolean", "description": "You marked it helpful."}}),
    "Explanation": _obj({
        "puzzle": {"type": "string"}, "question": {"type": "string"},
        "word_budget": {"type": ["integer", "null"]}, "max_chars": {"type": "integer"},
        "deadline_at": TIME, "revealed": {"type": "boolean"},
        "versions": {"type": "array", "items": _ref("ExplanationVersion"), "description": "Yours, oldest first."},
        "grading": {"oneOf": [{"type": "null"}, _ref("ExplanationGrading")],
                    "description": "Only after the reveal (absent before): null if not graded."},
        "featured": {"type": "array", "items": _ref("FeaturedExplanation"),
                     "description": "Only after the reveal (absent before)."},
    }, required=["puzzle", "question", "word_budget", "max_chars", "deadline_at", "revealed", "versions"]),
    "LeaderboardEntry": _obj({
        "rank": {"type": "integer", "minimum": 1}, "display_name": {"type": "string"},
        "points": {"type": "number"}, "solved": {"type": "integer"}, "answered": {"type": "integer"},
        "reached_at": TIME_OR_NULL}),
    "Leaderboard": _obj({
        "scope": _obj({"puzzle": {"type": ["string", "null"]}, "cohort": {"type": ["string", "null"]}}),
        "rules": {"type": "string"},
        "entries": {"type": "array", "items": _ref("LeaderboardEntry")}}),
}

_ERROR = {"application/json": {"schema": _ref("Error")}}
RESPONSES: dict = {
    "BadRequest": {"description": "Unusable input; the message says why. Nothing was graded.", "content": _ERROR},
    "Unauthorized": {"description": "No token, a malformed header, or an unknown or revoked token.",
                     "headers": {"WWW-Authenticate": {"schema": {"type": "string"}}}, "content": _ERROR},
    "Forbidden": {"description": "Not allowed (closed puzzle, no attempts left, private cohort board).", "content": _ERROR},
    "NotFound": {"description": "No such puzzle, question or cohort, or not released yet.", "content": _ERROR},
    "Conflict": {"description": "Already solved, or a concurrent attempt took this attempt number.", "content": _ERROR},
    "TooManyRequests": {
        "description": "Rate limited: requests and submissions per minute per token and per "
                       "user (the limits are in the message), or the wait after a wrong answer.",
        "headers": {"Retry-After": {"description": "Seconds to wait.", "schema": {"type": "integer"}}},
        "content": _ERROR},
}

_SLUG = {"name": "slug", "in": "path", "required": True, "schema": {"type": "string"},
         "example": EXAMPLE_SLUG}
_KEY = {"name": "key", "in": "path", "required": True, "schema": {"type": "string"},
        "example": EXAMPLE_KEY}
_Q_PUZZLE = {"name": "puzzle", "in": "query", "required": False, "schema": {"type": "string"},
             "description": "A puzzle slug.", "example": EXAMPLE_SLUG}
_Q_COHORT = {"name": "cohort", "in": "query", "required": False, "schema": {"type": "string"},
             "description": "A cohort slug."}
_AUTHED = {"401": _err("Unauthorized"), "429": _err("TooManyRequests")}

PATHS: dict = {
    "/api/v1/openapi.json": {"get": {
        "operationId": "openapi", "summary": "This document (no token needed).", "security": [],
        "responses": {"200": {"description": "The OpenAPI document.",
                              "content": {"application/json": {"schema": {"type": "object"}}}}}}},
    "/api/v1/me": {"get": {
        "operationId": "me", "summary": "Who the token belongs to.",
        "responses": {"200": _json(_ref("Me"), "The caller."), **_AUTHED}}},
    "/api/v1/puzzles": {"get": {
        "operationId": "listPuzzles", "summary": "Released puzzles (mentors: all), by number.",
        "responses": {"200": _json(_ref("PuzzleList"), "The puzzles."), **_AUTHED}}},
    "/api/v1/puzzles/{slug}": {"get": {
        "operationId": "getPuzzle",
        "summary": "A puzzle: statement, figures, questions with the caller's attempts left; "
                   "truth and answer only after the reveal.",
        "parameters": [_SLUG],
        "responses": {"200": _json(_ref("PuzzleDetail"), "The puzzle."), "404": _err("NotFound"), **_AUTHED}}},
    "/api/v1/puzzles/{slug}/questions/{key}/submissions": {"post": {
        "operationId": "submitAnswer",
        "summary": "Submit an answer: graded at once (201) or pending until the truth is computed (202).",
        "parameters": [_SLUG, _KEY],
        "requestBody": {"required": True, "content": {"application/json": {"schema": _ref("AnswerBody")}}},
        "responses": {"201": _json(_ref("Submission"), "Graded."),
                      "202": _json(_ref("Submission"), "Pending: graded automatically when the truth arrives."),
                      "400": _err("BadRequest"), "403": _err("Forbidden"), "404": _err("NotFound"),
                      "409": _err("Conflict"), **_AUTHED}}},
    "/api/v1/puzzles/{slug}/questions/{key}/explanation": {"get": {
        "operationId": "myExplanation",
        "summary": "Your versions of an explanation question; after the reveal also your grading "
                   "(rubric items applied, comment, points) and the featured explanations. Submit a "
                   "version with submitAnswer and {\"text\": \"<markdown>\"}.",
        "parameters": [_SLUG, _KEY],
        "responses": {"200": _json(_ref("Explanation"), "Your explanation."), "404": _err("NotFound"), **_AUTHED}}},
    "/api/v1/me/submissions": {"get": {
        "operationId": "mySubmissions", "summary": "The caller's own attempts, oldest first.",
        "parameters": [_Q_PUZZLE],
        "responses": {"200": _json(_ref("SubmissionList"), "The attempts."), "404": _err("NotFound"), **_AUTHED}}},
    "/api/v1/leaderboard": {"get": {
        "operationId": "leaderboard", "summary": "Season, puzzle or cohort standings (scholars only are ranked).",
        "parameters": [_Q_PUZZLE, _Q_COHORT],
        "responses": {"200": _json(_ref("Leaderboard"), "The standings."), "403": _err("Forbidden"),
                      "404": _err("NotFound"), **_AUTHED}}},
}

DOCUMENT: dict = {
    "openapi": "3.1.0",
    "info": {
        "title": "Mech Interp Puzzles API", "version": "1.0.0",
        "description": "Read puzzles and submit answers from a notebook. Authenticate with "
                       "'Authorization: Bearer <token>' (create a token on your profile page). "
                       "Errors are {\"error\": {\"status\", \"message\"}}.",
    },
    "security": [{"bearerAuth": []}],
    "paths": PATHS,
    "components": {
        "securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer",
                                           "description": "An API token from the profile page."}},
        "schemas": SCHEMAS,
        "responses": RESPONSES,
    },
}


def document() -> dict:
    """A copy of the document (callers may not change the shared one)."""
    return deepcopy(DOCUMENT)
