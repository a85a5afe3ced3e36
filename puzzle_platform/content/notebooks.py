""""Reproduce it yourself": a Jupyter notebook that recomputes a figure's statistics.

Built from the figure's recipe and params and its artifact (statistics and provenance: model,
revision, weights, inputs, seeds), so that after the reveal a scholar can check the truth with
plain TransformerLens and keep exploring. The notebook stands alone (it never imports this
platform): it boots the model with TransformerBridge.boot_transformers at the recorded
revision, rebuilds the inputs exactly as the worker did (prompts inline; random tokens from a
CPU torch.Generator with the recorded seed; BOS prepended or not), checks the token ids' hash,
recomputes the statistics (notebook_recipes.TEMPLATES) and prints them beside the artifact's.
Torch-free: the web process builds it. Serving it before the reveal is the caller's decision
(only mentors may have it then).
"""
from __future__ import annotations

import pprint

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from ..recipes.sources import LOCAL_PREFIX
from .notebook_recipes import TEMPLATES

TOLERANCE = 1e-6  # |recomputed - artifact| <= TOLERANCE * max(1, |artifact|)


def _literal(value: object) -> str:
    """A Python literal of JSON data (floats repr round-trip exactly)."""
    return pprint.pformat(value, width=100, sort_dicts=False)


def _intro(puzzle_title: str, figure_title: str, recipe: str, provenance: dict, exact: bool) -> str:
    model = provenance.get("model") or "?"
    lines = [f"# Reproduce it yourself: {figure_title}",
             f"Puzzle: **{puzzle_title}**. Figure computed by the recipe `{recipe}` on the model "
             f"`{provenance.get('resolved_model') or model}` (revision `{provenance.get('revision') or '?'}`, "
             f"{provenance.get('weights') or '?'} weights, code version `{provenance.get('code_version') or '?'}`).",
             ""]
    if provenance.get("caption"):
        lines += [f"Conventions: {provenance['caption']}", ""]
    if str(model).startswith(LOCAL_PREFIX):
        lines += [f"The model `{model}` is a local folder of the puzzle site, not a hub model: set "
                  "`MODEL` below to the path of your copy of it (a Hugging Face folder saved with "
                  "`save_pretrained`). Its revision is a hash of its config and weights.", ""]
    lines.append("This notebook recomputes the figure's statistics with plain TransformerLens and torch and "
                 "prints them beside the values the puzzle was graded against." if exact else
                 f"An exact recomputation of `{recipe}` is not available in this notebook yet: it loads the "
                 "model and the inputs the puzzle used, and shows the values it was graded against, for "
                 "you to explore (the recipe's exact definitions are in the platform's README).")
    return "\n".join(lines)


def _parameters(provenance: dict) -> str:
    model = provenance.get("resolved_model") or provenance.get("model") or ""
    local = str(provenance.get("model") or "").startswith(LOCAL_PREFIX)
    revision = None if local else provenance.get("revision")
    return ("import torch\n\n"
            f"MODEL = {model!r}{'  # a local folder of the site: the path of your copy' if local else ''}\n"
            f"REVISION = {revision!r}\n"
            f"WEIGHTS = {provenance.get('weights') or 'processed'!r}  # processed: HookedTransformer's "
            "fold_ln and centring\n"
            'DEVICE = "cuda" if torch.cuda.is_available() else "cpu"')


# Notebook code, not this module's: the web process never imports torch (the notebook's first
# lines are joined here so that no line of this file starts with an import of it).
BOOT = "import torch\n" + "from transformer_lens.model_bridge import TransformerBridge\n" + '''
torch.set_grad_enabled(False)
bridge = TransformerBridge.boot_transformers(MODEL, device=DEVICE, dtype=torch.float32,
                                             **({"revision": REVISION} if REVISION else {}))
if WEIGHTS == "processed":
    bridge.enable_compatibility_mode()  # hook names and weights as HookedTransformer's
bridge.eval()
print(bridge.cfg.n_layers, "layers,", bridge.cfg.d_model, "d_model,", bridge.cfg.d_vocab, "tokens")'''


def _inputs(params: dict, provenance: dict) -> str | None:
    """Code leaving `sequences` (1-D token-id tensors) as the worker built them, or None."""
    if params.get("prompts") is None and params.get("random_tokens") is None:
        return None
    recorded = (provenance.get("inputs") or {}).get("token_ids_sha256")
    head = f"PREPEND_BOS = {bool(params.get('prepend_bos', True))!r}\n"
    if params.get("prompts") is not None:
        head += (f"PROMPTS = {_literal(params['prompts'])}\n"
                 "sequences = [bridge.to_tokens(p, prepend_bos=PREPEND_BOS, truncate=False)[0].cpu() "
                 "for p in PROMPTS]\n")
    else:
        spec = params["random_tokens"]
        head += (f"RANDOM_TOKENS = {_literal(spec)}\n"
                 "# uniform ids from a CPU generator seeded with `seed`; repeat: each sequence twice in a row\n"
                 'gen = torch.Generator().manual_seed(RANDOM_TOKENS["seed"])\n'
                 'body = torch.randint(0, bridge.cfg.d_vocab, (RANDOM_TOKENS["batch"], RANDOM_TOKENS["length"]), '
                 "generator=gen)\n"
                 'if RANDOM_TOKENS["repeat"]:\n    body = torch.cat([body, body], dim=1)\n'
                 "if PREPEND_BOS:\n"
                 "    body = torch.cat([torch.full((body.shape[0], 1), bridge.tokenizer.bos_token_id), body], dim=1)\n"
                 "sequences = list(body)\n")
    return head + f'''
import hashlib

digest = hashlib.sha256()  # each sequence: its length, then its ids, as little-endian int64
for seq in sequences:
    digest.update(len(seq).to_bytes(8, "little"))
    digest.update(seq.to(torch.int64).numpy().astype("<i8").tobytes())
RECORDED = {recorded!r}
print(len(sequences), "sequences,", sum(len(s) for s in sequences), "tokens;",
      "token ids identical to the puzzle's" if "sha256:" + digest.hexdigest() == RECORDED
      else "token ids DIFFER from the puzzle's (another tokenizer version?)")'''


CHECK = f'''import json

TOLERANCE = {TOLERANCE!r}
rows_ok = []
print(f"{{'statistic':32}} {{'puzzle':>22}} {{'recomputed':>22}}")
for name, value in ARTIFACT.items():
    mine = recomputed.get(name)
    ok = mine is not None and abs(mine - value) <= TOLERANCE * max(1.0, abs(value))
    rows_ok.append(ok or mine is None)
    print(f"{{name:32}} {{value!r:>22}} {{'(not recomputed)' if mine is None else repr(mine):>22}}"
          f"{{'' if ok or mine is None else '   <-- differs'}}")
print(json.dumps({{"recomputed": recomputed, "all_match": all(rows_ok)}}))'''

EXPLORE = '''## Keep exploring

`bridge` is a TransformerBridge: `bridge.run_with_cache(tokens)` returns the logits and an
ActivationCache (hook names such as `blocks.0.hook_resid_post`, `blocks.0.attn.hook_pattern`
with processed weights), `bridge.W_E`, `bridge.W_U`, `bridge.W_pos` and the per-layer weights
are tensors you can slice, and `bridge.to_str_tokens(...)` shows what the model reads.'''


def build_notebook(*, puzzle_title: str, figure_title: str, recipe: str, params: dict,
                   statistics: dict, provenance: dict) -> nbformat.NotebookNode:
    """The notebook of one figure's artifact (validated against the nbformat schema)."""
    template = TEMPLATES.get(recipe)
    if provenance.get("model"):  # the name as shown (models:<folder>), never a server path
        params = {**params, "model": provenance["model"]}
    numbers = {k: v for k, v in statistics.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
    cells = [
        new_markdown_cell(_intro(puzzle_title, figure_title, recipe, provenance, template is not None)),
        new_code_cell("# Needs TransformerLens 4 (and torch); uncomment to install:\n"
                      "# %pip install transformer-lens plotly"),
        new_code_cell(_parameters(provenance), metadata={"tags": ["parameters"]}),
        new_code_cell(f"# What the puzzle was graded against (the artifact's statistics)\nARTIFACT = {_literal(numbers)}"),
        new_code_cell(BOOT),
    ]
    inputs = _inputs(params, provenance)
    if inputs is not None:
        cells += [new_markdown_cell("## The inputs, rebuilt as the puzzle's worker built them"),
                  new_code_cell(inputs)]
    if template is not None:
        cells += [new_markdown_cell("## The statistics\n\n" + template.method),
                  new_code_cell(template.compute(params)),
                  new_markdown_cell("## Check against the puzzle's values"),
                  new_code_cell(CHECK, metadata={"tags": ["check"]})]
        if template.figure is not None:
            cells += [new_markdown_cell("## The figure"), new_code_cell(template.figure(params))]
    else:
        cells += [new_code_cell("ARTIFACT  # the statistics to explore against")]
    cells.append(new_markdown_cell(EXPLORE))
    nb = new_notebook(cells=cells, metadata={
        "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
        "language_info": {"name": "python"},
        "puzzle": {"recipe": recipe, "params": params, "provenance": provenance}})
    nbformat.validate(nb)
    return nb


def notebook_bytes(nb: nbformat.NotebookNode) -> bytes:
    return nbformat.writes(nb).encode("utf-8")
