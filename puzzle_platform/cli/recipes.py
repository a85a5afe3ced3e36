"""`manage.py recipes list|show|run`: the recipe registry from the command line.

`list` and `show` read only the torch-free specs; `run` imports the worker (and so torch)
inside the command, so registering this group never loads torch into the web process.
Parameters are written `--param key=value` with a TOML value (scalar, array or inline table);
a bare word that is not TOML is taken as a string, so `--param model=gpt2-small` works.
"""
from __future__ import annotations

import json
import sys
import tomllib
from pathlib import Path
from typing import Any

import click
from flask.cli import with_appcontext

from ..recipes import RECIPES, RecipeError, RecipeSpec, get_recipe

PLOTLY_PAGE = """<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>{title}</title>
<script>{plotly}</script></head>
<body><div id="figure" style="width:100%;height:90vh"></div>
<script>var fig = {figure}; Plotly.newPlot("figure", fig.data, fig.layout || {{}});</script>
</body></html>
"""


def parse_value(text: str) -> Any:
    """A TOML scalar, array or inline table; a bare word that is not TOML is a string."""
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        if text.strip() and "\n" not in text:
            return text
        raise click.UsageError(f"--param value {text!r} is not a TOML value") from None


def parse_params(pairs: tuple[str, ...]) -> dict:
    params: dict = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise click.UsageError(f"--param {pair!r}: write key=value, e.g. --param model=gpt2-small")
        if key.strip() in params:
            raise click.UsageError(f"--param {key.strip()!r} given twice")
        params[key.strip()] = parse_value(value)
    return params


def _spec(name: str) -> RecipeSpec:
    try:
        return get_recipe(name)
    except RecipeError as exc:
        raise click.ClickException(str(exc)) from None


def _default(value: Any) -> str:
    if value is None:
        return "none"
    return value if isinstance(value, str) else json.dumps(value)


@click.group()
def recipes() -> None:
    """List, document and run compute recipes."""


@recipes.command("list")
def list_() -> None:
    """Each recipe's name and description."""
    for spec in sorted(RECIPES.values(), key=lambda s: s.name):
        click.echo(f"{spec.name}\n    {spec.description}")


@recipes.command("show")
@click.argument("name")
def show(name: str) -> None:
    """NAME's parameters, statistics (with their definitions) and figure."""
    spec = _spec(name)
    click.echo(f"{spec.name}: {spec.description}\n\nparameters:")
    for p in spec.params:
        default = "required" if p.required else f"default {_default(p.default)}"
        click.echo(f"  {p.name} ({default})\n      {p.doc}")
    click.echo("\nstatistics:")
    for stat, definition in spec.statistics:
        click.echo(f"  {stat}\n      {definition}")
    if not spec.statistics:
        click.echo("  (not documented)")
    if spec.figure:
        click.echo(f"\nfigure: {spec.figure}")


def _progress(pct: int, stage: str) -> None:
    click.echo(f"[{pct:>3}%] {stage}", err=True)


def write_figure(figure: dict | None, path: Path, title: str) -> None:
    """Plotly JSON, or (a path ending .html) a standalone page with plotly.js inlined."""
    if figure is None:
        raise click.ClickException("this run produced no figure")
    body = json.dumps(figure)
    if path.suffix.lower() in (".html", ".htm"):
        from ..blueprints.vendor import _plotly_dir
        js = _plotly_dir() / "plotly.min.js"
        if not js.is_file():
            raise click.ClickException("plotly.min.js is not bundled with the installed plotly package")
        body = PLOTLY_PAGE.format(title=title, plotly=js.read_text(encoding="utf-8"),
                                  figure=body.replace("</", "<\\/"))
    path.write_text(body, encoding="utf-8")


@recipes.command("run")
@click.argument("name")
@click.option("--param", "pairs", multiple=True, metavar="KEY=VALUE",
              help="A parameter; VALUE is TOML (1, 0.5, true, \"x\", [..], {..}) or a bare word.")
@click.option("--json", "one_line", is_flag=True, help="Print the result as one line of JSON.")
@click.option("--figure", "figure_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the figure: plotly JSON, or a standalone HTML page if FILE ends .html.")
@with_appcontext
def run(name: str, pairs: tuple[str, ...], one_line: bool, figure_path: Path | None) -> None:
    """Run NAME outside any puzzle; prints {statistics, provenance} as JSON."""
    from ..content.files import figure_model_problem

    spec = _spec(name)
    try:
        params = spec.validate_params(parse_params(pairs))
    except RecipeError as exc:
        raise click.ClickException(str(exc)) from None
    if problem := figure_model_problem(spec.name, params):
        raise click.ClickException(problem)
    from ..worker.run_recipe import run_recipe  # torch lives behind this import
    try:
        result = run_recipe(spec.name, params, progress=_progress)
    except Exception as exc:  # noqa: BLE001 - one line for the user, no traceback
        message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise click.ClickException(f"{spec.name} failed: {message}") from None
    if figure_path is not None:
        write_figure(result.get("figure"), figure_path, spec.name)
        click.echo(f"figure written to {figure_path}", err=True)
    out = {"statistics": result.get("statistics"), "provenance": result.get("provenance")}
    click.echo(json.dumps(out, default=str) if one_line else json.dumps(out, indent=2, default=str))
    sys.stdout.flush()
