"""What the logit recipes share: one-token targets, activations at each prompt's last real
token, and the model's readout (final norm, unembedding, the adapter's output transform).

Only the last real token matters to them, so the hooks keep that row of each activation and
nothing else: a batch holds [batch, d_model] per hook point, never the whole sequence.
"""
from __future__ import annotations

from typing import Any, Callable, Iterable

import torch

from ...recipes import RecipeError


def one_token_ids(bridge: Any, strings: list[str], prompts: list[str], param: str) -> torch.Tensor:
    """[n] token ids of `strings` (TransformerLens's tokenizer, no BOS); RecipeError naming the
    prompt of the first string that is not exactly one token."""
    ids = []
    for i, (s, prompt) in enumerate(zip(strings, prompts)):
        row = bridge.to_tokens(s, prepend_bos=False, truncate=False)[0]
        if len(row) != 1:
            shown = prompt if len(prompt) <= 40 else prompt[:37] + "..."
            pieces = [bridge.tokenizer.decode([int(t)]) for t in row[:6]]
            hint = " (GPT-2-style tokenizers need the leading space, e.g. \" Paris\")" if (
                not s.startswith(" ")) else ""
            raise RecipeError(f"{param}[{i}] {s!r} for prompt {i} {shown!r} is {len(row)} tokens "
                              f"{pieces!r}, not one{hint}")
        unk = getattr(bridge.tokenizer, "unk_token_id", None)
        if unk is not None and int(row[0]) == int(unk) and s != bridge.tokenizer.unk_token:
            raise RecipeError(f"{param}[{i}] {s!r} is not in the model's vocabulary (it becomes "
                              f"the unknown token {bridge.tokenizer.unk_token!r})")
        ids.append(int(row[0]))
    return torch.tensor(ids, dtype=torch.long)


def require_hooks(bridge: Any, names: Iterable[str], why: str) -> None:
    missing = [n for n in names if n not in bridge.hook_dict]
    if missing:
        raise RecipeError(f"this model has no hook {missing[0]} ({why})")


class LastToken:
    """Forward hooks that keep each named activation at the batch's last real tokens.

    `hooks(last)` gives (hook name, fn) pairs for bridge.hooks(); after the forward pass
    `acts[label]` is [batch, ...] (the activation's trailing dimensions) on the model's device.
    """

    def __init__(self, points: list[tuple[str, str]]) -> None:
        self.points = points  # (label, hook name)
        self.acts: dict[str, torch.Tensor] = {}

    def hooks(self, last: torch.Tensor) -> list[tuple[str, Callable]]:
        self.acts = {}

        def keep(label: str) -> Callable:
            def fn(act: torch.Tensor, hook: Any) -> torch.Tensor:
                rows = torch.arange(act.shape[0], device=act.device)
                self.acts[label] = act[rows, last.to(act.device)].detach()
                return act
            return fn
        return [(name, keep(label)) for label, name in self.points]


def forward_last(bridge: Any, ids: torch.Tensor, lengths: torch.Tensor, capture: LastToken
                 ) -> torch.Tensor:
    """The model's output logits [batch, d_vocab] at each sequence's last real token, with the
    capture's activations filled in."""
    last = (lengths - 1).to(ids.device)
    with torch.no_grad(), bridge.hooks(fwd_hooks=capture.hooks(last)):
        logits = bridge(ids)
    return logits[torch.arange(ids.shape[0], device=logits.device), last]


def readout(bridge: Any, resid: torch.Tensor) -> torch.Tensor:
    """Logits [n, d_vocab] of residual vectors [n, d_model]: the final norm with statistics
    recomputed from each vector (TransformerLens's logit lens), W_U, b_U, then the adapter's
    output transform (identity for most models)."""
    with torch.no_grad():
        x = resid.to(bridge.W_U.dtype)
        ln_final = getattr(bridge, "ln_final", None)
        if ln_final is not None:
            x = ln_final(x.unsqueeze(0)).squeeze(0)  # norms expect [batch, pos, d_model]
        logits = x @ bridge.W_U + bridge.b_U
        transform = getattr(getattr(bridge, "adapter", None), "apply_output_logits_transform", None)
        return transform(logits) if callable(transform) else logits


def check_readout(ours: torch.Tensor, model: torch.Tensor, what: str) -> None:
    """RecipeError when reading the last residual through `readout` does not give the model's
    own log-probabilities: the model's readout is something this recipe does not reproduce."""
    a, b = torch.log_softmax(ours.double(), -1), torch.log_softmax(model.double(), -1)
    worst = float((a - b).abs().max())
    spread = float((b - b.mean(-1, keepdim=True)).abs().max())
    if worst > 1e-3 * max(1.0, spread):
        raise RecipeError(f"{what}: this model's logits are not its final norm and unembedding "
                          f"of the last residual (off by {worst:.3g}), so it cannot be read "
                          "this way")
