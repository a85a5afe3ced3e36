"""Strings a puzzle shows that a TOML escape has silently corrupted: refused with a hint.

In a TOML basic string ("..." or \"\"\"...\"\"\"), `\\b`, `\\f`, `\\t` and `\\n` are escapes, so
LaTeX such as `$\\bar{x}$`, `\\frac`, `\\theta` or `\\nabla` turns into a control character (or a
tab / newline) and scholars read "ar x", "rac", "heta". A control character other than newline
and tab is never meant in a prompt, title or choice, so it is refused everywhere. A tab or a
newline is often meant, so it is refused only where it was written as a `\\t` / `\\n` escape
in a basic string of TOML text and swallowed the start of a LaTeX command inside `$...$` math
(`escape_views` finds those strings; real line breaks, literal strings and the structured
form's fields are never suspected).
"""
from __future__ import annotations

import re
import unicodedata
from typing import Mapping

import tomlkit
from tomlkit.exceptions import TOMLKitError
from tomlkit.items import String, StringType

# Control characters a TOML escape produces, with the escape letter that made them.
ESCAPES = {"\b": ("b", "backspace"), "\f": ("f", "form feed"), "\t": ("t", "tab"), "\n": ("n", "newline")}
LITERAL = "or use a literal string '...' / '''...''' (no escapes there)"
# Inside math, an escaped tab or newline followed by exactly one of these words (the letters up
# to the next non-letter) was a LaTeX command: \theta, \nabla, \nu_t; "\nequation" is not one.
_TAB_TAILS = frozenset({"heta", "au", "imes", "ext", "extbf", "extit", "extrm", "ilde", "op", "o",
                        "riangle", "frac", "anh", "an"})
_NEWLINE_TAILS = frozenset({"abla", "eq", "ewline", "otin", "exists", "eg", "ot", "orm", "u"})
# One piece of a basic string's source: a line-ending backslash, an escape, or a real tab/newline.
_SOURCE = re.compile(r'\\[ \t]*\n[ \t\n]*|\\u[0-9A-Fa-f]{4}|\\U[0-9A-Fa-f]{8}|\\.|[\t\n]', re.S)
_SIMPLE = {"b": "\b", "t": "\t", "n": "\n", "f": "\f", "r": "\r", '"': '"', "\\": "\\", "e": "\x1b"}
_MATH = re.compile(r"\$\$(.+?)\$\$|\$(.+?)\$", re.S)


def _hint(text: str, at: int, what: str) -> str:
    char = text[at]
    word = re.match(r"[A-Za-z]*", text[at + 1:]).group(0)
    code = f"U+{ord(char):04X}"
    if char in ESCAPES:
        letter, name = ESCAPES[char]
        typed = f"\\{letter}{word}"
        return (f"{what} contains a control character ({code} {name}, which \"\\{letter}\" in "
                f"\"{typed}\" becomes in a TOML basic string): write \"\\{typed}\", {LITERAL}")
    name = unicodedata.name(char, "control character").lower()
    return f"{what} contains a control character ({code} {name}): remove it"


def _escaped_only(body: str) -> str:
    """A basic string's source decoded, but with its real tabs and newlines as spaces: the tabs
    and newlines left are the ones written as `\\t` / `\\n` escapes."""
    def piece(match: re.Match) -> str:
        text = match.group(0)
        if text in "\t\n":
            return " "
        if text[1] in " \t\n":  # a line-ending backslash joins the lines
            return ""
        if text[1] in "uU":
            return chr(int(text[2:], 16))
        return _SIMPLE.get(text[1], text[1])
    return _SOURCE.sub(piece, body)


def escape_views(toml_text: str) -> dict[str, str]:
    """Each basic string of `toml_text` that has a `\\t` or `\\n` escape: its value -> the value
    as `_escaped_only` sees it (what `check_strings` suspects). Literal strings are left out."""
    try:
        doc = tomlkit.parse(toml_text)
    except (TOMLKitError, ValueError):  # tomllib read it; without tomlkit no escape is suspected
        return {}
    views: dict[str, str] = {}

    def walk(item: object) -> None:
        if isinstance(item, String):
            if item.type in (StringType.SLB, StringType.MLB):
                quotes = 3 if item.type is StringType.MLB else 1
                source = item.as_string()[quotes:-quotes]
                if re.search(r"(?<!\\)(?:\\\\)*\\[tn]", source):
                    views[str(item)] = _escaped_only(source)
        elif isinstance(item, dict):
            for value in item.values():
                walk(value)
        elif isinstance(item, list):
            for value in item:
                walk(value)

    walk(doc)
    return views


def control_problem(text: str, what: str, escaped: str | None = None) -> str | None:
    """Why `text` (the field named `what`) looks corrupted by a TOML escape, or None; `escaped`
    is its `escape_views` view when it was a basic string with `\\t` / `\\n` escapes."""
    for i, char in enumerate(text):
        if char not in "\n\t" and unicodedata.category(char) == "Cc":
            return _hint(text, i, what)
    if escaped is None:
        return None
    for match in _MATH.finditer(escaped):
        start = match.start(1) if match.group(1) is not None else match.start(2)
        body = match.group(1) if match.group(1) is not None else match.group(2)
        for i, char in enumerate(body):
            word = re.match(r"[A-Za-z]*", body[i + 1:]).group(0)
            if (char == "\t" and word in _TAB_TAILS) or (char == "\n" and word in _NEWLINE_TAILS):
                return _hint(escaped, start + i, what)
    return None


def check_strings(value: object, what: str, escaped: Mapping[str, str] | None = None) -> None:
    """ValueError(hint) if any string in `value` (a str, list or table, nested) is corrupted;
    `escaped` is `escape_views` of the TOML text `value` was read from (None: not from TOML)."""
    if isinstance(value, str):
        if problem := control_problem(value, what, (escaped or {}).get(value)):
            raise ValueError(problem)
    elif isinstance(value, list):
        for item in value:
            check_strings(item, what, escaped)
    elif isinstance(value, dict):
        for name, item in value.items():
            check_strings(item, f"{what} {name}" if what else str(name), escaped)


def toml_error_hint(message: str) -> str:
    """A TOML decode error, with what to do when it is about a backslash (`\\sum`)."""
    if "Unescaped '\\'" in message or "escape" in message.lower():
        return (f"{message}: a backslash starts an escape in a \"...\" string; write two "
                f"(\"\\\\sum\"), {LITERAL}")
    return message
