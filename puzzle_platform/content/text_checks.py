"""Strings a puzzle shows that a TOML escape has silently corrupted: refused with a hint.

In a TOML basic string ("..." or \"\"\"...\"\"\"), `\\b`, `\\f`, `\\t` and `\\n` are escapes, so
LaTeX such as `$\\bar{x}$`, `\\frac`, `\\theta` or `\\nabla` turns into a control character (or a
tab / newline) and scholars read "ar x", "rac", "heta". A control character other than newline
and tab is never meant in a prompt, title or choice, so it is refused; a tab or a newline that
swallowed the start of a LaTeX command inside `$...$` math is refused the same way.
"""
from __future__ import annotations

import re
import unicodedata

# Control characters a TOML escape produces, with the escape letter that made them.
ESCAPES = {"\b": ("b", "backspace"), "\f": ("f", "form feed"), "\t": ("t", "tab"), "\n": ("n", "newline")}
LITERAL = "or use a literal string '...' / '''...''' (no escapes there)"
# Inside math, a tab or newline followed by these letters was a LaTeX command (\theta, \nabla...).
_TAB_TAILS = ("heta", "au", "imes", "ext", "ilde", "op", "riangle", "frac", "anh", "an")
_NEWLINE_TAILS = ("abla", "eq", "ewline", "otin", "exists", "eg", "ot", "orm", "u ", "u}", "u_", "u^")
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


def control_problem(text: str, what: str) -> str | None:
    """Why `text` (the field named `what`) looks corrupted by a TOML escape, or None."""
    for i, char in enumerate(text):
        if char not in "\n\t" and unicodedata.category(char) == "Cc":
            return _hint(text, i, what)
    for match in _MATH.finditer(text):
        start = match.start(1) if match.group(1) is not None else match.start(2)
        body = match.group(1) if match.group(1) is not None else match.group(2)
        for i, char in enumerate(body):
            rest = body[i + 1:]
            if (char == "\t" and rest.startswith(_TAB_TAILS)) or (
                    char == "\n" and rest.startswith(_NEWLINE_TAILS)):
                return _hint(text, start + i, what)
    return None


def check_strings(value: object, what: str) -> None:
    """ValueError(hint) if any string in `value` (a str, list or table, nested) is corrupted."""
    if isinstance(value, str):
        if problem := control_problem(value, what):
            raise ValueError(problem)
    elif isinstance(value, list):
        for item in value:
            check_strings(item, what)
    elif isinstance(value, dict):
        for name, item in value.items():
            check_strings(item, f"{what} {name}" if what else str(name))


def toml_error_hint(message: str) -> str:
    """A TOML decode error, with what to do when it is about a backslash (`\\sum`)."""
    if "Unescaped '\\'" in message or "escape" in message.lower():
        return (f"{message}: a backslash starts an escape in a \"...\" string; write two "
                f"(\"\\\\sum\"), {LITERAL}")
    return message
