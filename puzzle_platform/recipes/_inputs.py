"""Parameters every model recipe shares, declared once (torch-free).

- the model: `model`, `revision`, `weights` (processed | raw), `device`;
- the text it reads (activation recipes): `prompts` (a list of strings), or `prompts_file`
  (a file inside the puzzle folder, one prompt per line or JSONL with a "text" field: read when
  the puzzle folder is loaded and stored inline, so the worker never reads the folder and a
  changed file is a changed figure), or `random_tokens = { batch, length, seed, repeat }`
  (seeded uniform token ids; `repeat = true` gives each sequence twice in a row);
- `prepend_bos` (default true, as TransformerLens does) and `batch_size` (default: chosen
  from the model's size and the sequence length).
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Mapping

from ._spec import Param, boolean, choice, integer, optional, text

MAX_PROMPTS = 10_000
MAX_PROMPT_CHARS = 10_000
MAX_RANDOM_TOKENS = 4_000_000  # batch x length (x 2 with repeat)
MAX_FILE_BYTES = 5_000_000

MODEL_DOC = ("TransformerLens model name or alias (gpt2-small, gpt-neo-small, ...) on the site's "
             "allow-list, or a local Hugging Face model folder inside MODELS_DIR, written "
             "models:<folder>")


def prompt_list(value: Any) -> list[str]:
    if not isinstance(value, list) or not value:
        raise ValueError("must be a non-empty array of strings")
    if len(value) > MAX_PROMPTS:
        raise ValueError(f"at most {MAX_PROMPTS:,} prompts, got {len(value):,}")
    for i, item in enumerate(value):
        if not isinstance(item, str) or not item.strip():
            raise ValueError(f"item {i} must be a non-empty string, got {item!r}"[:120])
        if len(item) > MAX_PROMPT_CHARS:
            raise ValueError(f"item {i} has {len(item):,} characters; at most {MAX_PROMPT_CHARS:,}")
        if any(ord(c) < 32 and c not in "\t\n" for c in item):
            raise ValueError(f"item {i} holds a control character")
    return list(value)


def random_tokens(value: Any) -> dict:
    """{batch, length, seed = 0, repeat = false} with bounds."""
    if not isinstance(value, Mapping):
        raise ValueError("must be a table { batch = 8, length = 64, seed = 0, repeat = false }")
    unknown = sorted(set(value) - {"batch", "length", "seed", "repeat"})
    if unknown:
        raise ValueError(f"unknown key(s) {', '.join(map(repr, unknown))}; known: batch, length, seed, repeat")
    out = {"batch": integer(1, 100_000)(value.get("batch")) if "batch" in value else None,
           "length": integer(1, 100_000)(value.get("length")) if "length" in value else None,
           "seed": integer(0, 2**63 - 1)(value.get("seed", 0)),
           "repeat": boolean(value.get("repeat", False))}
    if out["batch"] is None or out["length"] is None:
        raise ValueError("needs batch and length, e.g. { batch = 8, length = 64 }")
    total = out["batch"] * out["length"] * (2 if out["repeat"] else 1)
    if total > MAX_RANDOM_TOKENS:
        raise ValueError(f"{total:,} tokens in all; at most {MAX_RANDOM_TOKENS:,}")
    return out


MODEL_PARAMS = (
    Param("model", MODEL_DOC, text),
    Param("revision", "Hugging Face revision (branch, tag or commit) of a hub model", optional(text), None),
    Param("weights", "processed (TransformerLens's fold_ln, centring: as HookedTransformer) or raw",
          choice("processed", "raw"), "processed"),
    Param("device", "auto (cuda when available), cpu or cuda", choice("auto", "cpu", "cuda"), "auto"),
)

INPUT_PARAMS = (
    Param("prompts", "the text the model reads: an array of strings", optional(prompt_list), None),
    Param("prompts_file", "a file in the puzzle folder, one prompt per line or JSONL with a "
                          '"text" field (puzzle folders only; read when the folder is loaded)',
          optional(text), None),
    Param("random_tokens", "instead of prompts: { batch, length, seed = 0, repeat = false }, "
                           "seeded uniform token ids; repeat gives each sequence twice in a row",
          optional(random_tokens), None),
    Param("prepend_bos", "prepend the BOS token to every sequence (TransformerLens's default)",
          boolean, True),
    Param("batch_size", "sequences per forward pass (default: chosen from memory)",
          optional(integer(1, 4096)), None),
)


def check_inputs(params: dict, raw: Mapping[str, Any]) -> None:
    """Exactly one source of text; a prompts_file only as loaded from a puzzle folder."""
    if params["prompts_file"] is not None and params["prompts"] is None:
        raise ValueError("prompts_file is read from a puzzle folder (manage.py puzzles sync); in the "
                         "web form write the prompts themselves: prompts = [\"...\", ...]")
    if (params["prompts"] is None) == (params["random_tokens"] is None):
        raise ValueError("give either prompts (or prompts_file) or random_tokens, not both or neither")


def read_prompts_file(folder: Path, name: str) -> list[str]:
    """The prompts of `name` inside `folder`: one per non-empty line, or JSONL objects with a
    "text" field (a file ending .jsonl). ValueError with the reason."""
    base = folder.resolve()
    path = (base / name).resolve()
    if not path.is_relative_to(base) or path == base:
        raise ValueError(f"prompts_file {name!r} must be a file inside the puzzle folder")
    if not path.is_file():
        raise ValueError(f"prompts_file {name!r} does not exist in the puzzle folder")
    if path.stat().st_size > MAX_FILE_BYTES:
        raise ValueError(f"prompts_file {name!r} is over {MAX_FILE_BYTES // 1_000_000} MB")
    try:
        body = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise ValueError(f"prompts_file {name!r} is not UTF-8 text") from None
    prompts = []
    for number, line in enumerate(body.splitlines(), 1):
        if not line.strip():
            continue
        if path.suffix == ".jsonl":
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ValueError(f"prompts_file {name!r} line {number}: not JSON ({exc.msg})") from None
            if not isinstance(row, dict) or not isinstance(row.get("text"), str):
                raise ValueError(f'prompts_file {name!r} line {number}: needs a "text" string')
            prompts.append(row["text"])
        else:
            prompts.append(line)
    try:
        return prompt_list(prompts)
    except ValueError as exc:
        raise ValueError(f"prompts_file {name!r}: {exc}") from None


def inline_prompts_file(params: Mapping[str, Any], folder: Path | None) -> dict:
    """Raw figure params with a prompts_file read into `prompts` (when loading a puzzle
    folder); unchanged otherwise."""
    raw = dict(params)
    name = raw.get("prompts_file")
    if folder is None or name is None:
        return raw
    if "prompts" in raw:
        raise ValueError("give prompts or prompts_file, not both (prompts_file is read into prompts)")
    if not isinstance(name, str):
        raise ValueError("prompts_file must be a file name")
    raw["prompts"] = read_prompts_file(folder, name)
    return raw
