"""Markdown -> safe HTML for mentors' and scholars' text.

markdown-it-py parses (raw HTML in the source is escaped, not passed through), `$...$` math
is turned into MathML on the server (renders offline, no JavaScript), `::: spoiler` blocks
become collapsed <details>, and nh3 sanitizes the result as the last guard.
"""
from __future__ import annotations

from functools import lru_cache
from html import escape

import nh3
from latex2mathml.converter import convert as latex_to_mathml
from markdown_it import MarkdownIt
from markupsafe import Markup
from mdit_py_plugins.container import container_plugin
from mdit_py_plugins.dollarmath import dollarmath_plugin

MAX_MARKDOWN_CHARS = 100_000

MATHML_TAGS = {
    "math", "mi", "mn", "mo", "ms", "mspace", "mtext", "mrow", "mfrac", "msqrt", "mroot",
    "msub", "msup", "msubsup", "munder", "mover", "munderover", "mtable", "mtr", "mtd",
    "mstyle", "mpadded", "mphantom", "menclose", "semantics", "annotation",
}
TAGS = set(nh3.ALLOWED_TAGS) | MATHML_TAGS
ATTRIBUTES = {
    **{tag: set(attrs) for tag, attrs in nh3.ALLOWED_ATTRIBUTES.items()},
    "math": {"display", "xmlns"},
    "mo": {"stretchy", "fence", "separator", "lspace", "rspace"},
    "mstyle": {"displaystyle", "scriptlevel"},
    "mtable": {"columnalign"},
    "mspace": {"width"},
    "a": {"href", "title"},
}
ALLOWED_CLASSES = {
    "details": {"spoiler"}, "span": {"math", "inline", "math-error"}, "div": {"math", "block"},
    "code": {"language-python", "language-text"},
}


def _math(latex: str, display: bool) -> str:
    try:
        return latex_to_mathml(latex, display="block" if display else "inline")
    except Exception:  # noqa: BLE001 - a typo in a formula must not break the page
        return f'<span class="math-error">{escape(latex)}</span>'


def _spoiler(self, tokens, idx, options, env) -> str:
    token = tokens[idx]
    if token.nesting == 1:
        title = token.info.strip()[len("spoiler"):].strip() or "Spoiler"
        return f'<details class="spoiler"><summary>{escape(title)}</summary>\n'
    return "</details>\n"


@lru_cache(maxsize=1)
def _parser() -> MarkdownIt:
    md = MarkdownIt("commonmark", {"html": False, "linkify": False}).enable("table")
    md.use(dollarmath_plugin, renderer=lambda content, opts: _math(content, opts.get("display_mode", False)))
    md.use(container_plugin, name="spoiler", render=_spoiler)
    return md


def render_markdown(text: str | None) -> Markup:
    """Render untrusted Markdown to HTML that is safe to insert into a page."""
    if not text:
        return Markup("")
    html = _parser().render(text[:MAX_MARKDOWN_CHARS])
    clean = nh3.clean(
        html,
        tags=TAGS,
        attributes=ATTRIBUTES,
        allowed_classes=ALLOWED_CLASSES,
        url_schemes={"http", "https", "mailto"},
        link_rel="noopener noreferrer nofollow",
    )
    return Markup(clean)
