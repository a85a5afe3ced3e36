"""Spec of the `embedding_neighbors` recipe: token arithmetic (`" king" - " man" + " woman"`)
on embedding or unembedding rows, and the tokens nearest the result by cosine.

The expression is parsed here (torch-free) so a malformed one is refused when the puzzle is
loaded; whether each quoted string is exactly one token is checked when it runs, with the
model's tokenizer.
"""
from __future__ import annotations

from typing import Any, Mapping

from ._inputs import MODEL_PARAMS
from ._spec import Param, RecipeSpec, boolean, choice, integer, optional

RUNNER = "puzzle_platform.worker.recipes.embedding_neighbors:run"
MAX_TERMS = 32
MAX_CHARS = 1000


def parse_expression(text: str) -> list[tuple[int, str]]:
    """'"a" - "b" + "c"' -> [(+1, "a"), (-1, "b"), (+1, "c")]. Strings are in double or single
    quotes, taken verbatim (spaces count) except that a backslash escapes the next character;
    terms are joined by + or -, and the first may carry a sign. ValueError naming the column."""
    if not isinstance(text, str) or not text.strip():
        raise ValueError('must be quoted tokens joined by + and -, e.g. \'" king" - " man" + " woman"\'')
    if len(text) > MAX_CHARS or "\n" in text:
        raise ValueError(f"must be one line of at most {MAX_CHARS} characters")
    terms: list[tuple[int, str]] = []
    i, n, sign = 0, len(text), None
    while True:
        while i < n and text[i] in " \t":
            i += 1
        if i < n and text[i] in "+-":
            if sign is not None:
                raise ValueError(f"two signs in a row at column {i + 1}")
            sign = 1 if text[i] == "+" else -1
            i += 1
            continue
        if i == n:
            break
        if text[i] not in "\"'":
            raise ValueError(f"expected a quoted token at column {i + 1}, got {text[i]!r}")
        if terms and sign is None:
            raise ValueError(f"expected + or - before the token at column {i + 1}")
        quote, start, i, chars = text[i], i + 1, i + 1, []
        while i < n and text[i] != quote:
            if text[i] == "\\" and i + 1 < n:
                i += 1
            chars.append(text[i])
            i += 1
        if i == n:
            raise ValueError(f"the string opened at column {start} is not closed")
        if not chars:
            raise ValueError(f"empty string at column {start}")
        terms.append((sign or 1, "".join(chars)))
        sign, i = None, i + 1
        if len(terms) > MAX_TERMS:
            raise ValueError(f"at most {MAX_TERMS} tokens")
    if sign is not None:
        raise ValueError("ends with a sign: a quoted token must follow it")
    if not terms:
        raise ValueError("holds no quoted token")
    return terms


def expression(value: Any) -> str:
    parse_expression(value)
    return value.strip()


def token_string(value: Any) -> str:
    if not isinstance(value, str) or not value or "\n" in value:
        raise ValueError(f"must be one token's text (spaces count), got {value!r}"[:160])
    return value


def _check(params: dict, raw: Mapping[str, Any]) -> None:
    if params["target"] is not None and params["exclude_inputs"]:
        if params["target"] in {s for _, s in parse_expression(params["expression"])}:
            raise ValueError(f"target {params['target']!r} is a token of the expression, which "
                             "exclude_inputs = true leaves out of the ranking")


def _keys(params: dict) -> frozenset[str]:
    keys = {"candidates", "result_norm"} | {f"top.{i}.cos" for i in range(params["top"])}
    if params["target"] is not None:
        keys |= {"rank_of", "cos_of", "top1_is_target"}
    return frozenset(keys)


STATISTICS = (
    ("result_norm", "Euclidean norm of the result vector r = sum of sign * row over the terms"),
    ("candidates", "number of tokens ranked (all rows, less the expression's tokens when "
                   "exclude_inputs)"),
    ("top.{i}.cos", "cosine (float64) of r with the i-th nearest candidate, i = 0 .. top-1; "
                    "candidates are ordered by cosine, descending, ties by token id; a zero row "
                    "has cosine 0"),
    ("rank_of", "with target: 0-based position of the target in that order"),
    ("cos_of", "with target: cosine of r with the target's row"),
    ("top1_is_target", "with target: 1 if the nearest candidate is the target, else 0"),
)

SPEC = RecipeSpec(
    name="embedding_neighbors",
    description="Token arithmetic on embedding (W_E) or unembedding (W_U) rows, such as "
                "\" king\" - \" man\" + \" woman\": the nearest tokens by cosine and the rank of "
                "a target token.",
    params=MODEL_PARAMS + (
        Param("expression", "quoted tokens joined by + and -, e.g. '\" king\" - \" man\" + "
                            "\" woman\"'; each string must be exactly one token (spaces count)",
              expression),
        Param("matrix", "W_E (token embeddings) or W_U (unembedding, one row per token)",
              choice("W_E", "W_U"), "W_E"),
        Param("target", "a token's text whose rank and cosine to report (optional)",
              optional(token_string), None),
        Param("top", "how many nearest tokens to list", integer(1, 1000), 10),
        Param("exclude_inputs", "leave the expression's own tokens out of the ranking",
              boolean, True),
    ),
    runner=RUNNER,
    check=_check,
    keys=_keys,
    statistics=STATISTICS,
    figure="bar chart of the top cosines, labelled by token (the target highlighted)",
)
