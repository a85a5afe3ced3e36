"""The token ids a recipe feeds the model, in batches, and their provenance.

Tokenization is TransformerLens's own (`bridge.to_tokens`, one prompt at a time so that no
padding is decided by the tokenizer); sequences are padded on the right, and every batch
carries a mask of its real tokens. With right padding and causal attention a real position
never sees a pad, so statistics over masked positions are exactly those of the unpadded
prompts: padding never enters a statistic.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any, Iterator

import torch

from ..recipes import RecipeError

# Activations a forward pass may hold at once when batch_size is not given (bytes).
DEFAULT_BATCH_BYTES = 512 * 2**20


@dataclass(frozen=True)
class Tokens:
    """All sequences, right-padded: ids [n, L] (int64), lengths [n], and how they were made."""

    ids: torch.Tensor
    lengths: torch.Tensor
    provenance: dict

    @property
    def mask(self) -> torch.Tensor:
        """[n, L] True at real tokens."""
        return torch.arange(self.ids.shape[1])[None, :] < self.lengths[:, None]


@dataclass(frozen=True)
class Batch:
    start: int              # index of the batch's first sequence
    ids: torch.Tensor       # [b, L_batch] on the model's device, padded on the right
    mask: torch.Tensor      # [b, L_batch] bool, True at real tokens
    lengths: torch.Tensor   # [b]


def _pad_id(bridge: Any) -> int:
    tok = getattr(bridge, "tokenizer", None)
    for attr in ("pad_token_id", "eos_token_id", "bos_token_id"):
        value = getattr(tok, attr, None) if tok is not None else None
        if value is not None:
            return int(value)
    return 0


def _bos_id(bridge: Any) -> int:
    tok = getattr(bridge, "tokenizer", None)
    value = getattr(tok, "bos_token_id", None) if tok is not None else None
    if value is None:
        raise RecipeError("this model's tokenizer has no BOS token: set prepend_bos = false")
    return int(value)


def _pad(rows: list[torch.Tensor], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    lengths = torch.tensor([len(r) for r in rows], dtype=torch.long)
    ids = torch.full((len(rows), int(lengths.max())), pad_id, dtype=torch.long)
    for i, row in enumerate(rows):
        ids[i, :len(row)] = row
    return ids, lengths


def _hash(ids: torch.Tensor, lengths: torch.Tensor) -> str:
    """sha256 over every sequence's real ids (int64 little-endian), each prefixed by its length."""
    digest = hashlib.sha256()
    for row, n in zip(ids, lengths.tolist()):
        digest.update(int(n).to_bytes(8, "little"))
        digest.update(row[:n].to(torch.int64).numpy().astype("<i8").tobytes())
    return "sha256:" + digest.hexdigest()


def build_tokens(bridge: Any, params: dict) -> Tokens:
    """The sequences of a recipe's `prompts` or `random_tokens`, with `prepend_bos`."""
    bos = bool(params.get("prepend_bos", True))
    n_ctx = int(getattr(bridge.cfg, "n_ctx", 0) or 0)
    if params.get("prompts") is not None:
        rows = [bridge.to_tokens(p, prepend_bos=bos, truncate=False)[0].cpu() for p in params["prompts"]]
        if any(len(r) == 0 for r in rows):
            raise RecipeError("a prompt tokenizes to no tokens (and prepend_bos is false)")
        ids, lengths = _pad(rows, _pad_id(bridge))
        source = {"kind": "prompts", "prompts": len(rows),
                  "prompts_file": params.get("prompts_file")}
    else:
        spec = params["random_tokens"]
        gen = torch.Generator().manual_seed(int(spec["seed"]))
        body = torch.randint(0, int(bridge.cfg.d_vocab), (spec["batch"], spec["length"]), generator=gen)
        if spec["repeat"]:
            body = torch.cat([body, body], dim=1)
        if bos:
            body = torch.cat([torch.full((spec["batch"], 1), _bos_id(bridge), dtype=torch.long), body], dim=1)
        ids, lengths = body, torch.full((spec["batch"],), body.shape[1], dtype=torch.long)
        source = {"kind": "random_tokens", **spec}
    if n_ctx and ids.shape[1] > n_ctx:
        raise RecipeError(f"sequences of {ids.shape[1]} tokens are longer than the model's context "
                          f"of {n_ctx}: shorten the prompts or random_tokens.length")
    provenance = {**source, "prepend_bos": bos, "sequences": int(ids.shape[0]),
                  "tokens": int(lengths.sum()), "max_length": int(ids.shape[1]),
                  "token_ids_sha256": _hash(ids, lengths)}
    return Tokens(ids, lengths, provenance)


def default_batch_size(bridge: Any, seq_len: int) -> int:
    """Sequences per forward pass so that one pass's activations stay within
    DEFAULT_BATCH_BYTES: the widest activation of every layer (residual, MLP or attention
    pattern) and the logits, counted three times (a float64 log-softmax beside them)."""
    cfg = bridge.cfg
    widest = max(int(cfg.d_model), int(getattr(cfg, "d_mlp", 0) or 0), int(cfg.n_heads) * seq_len)
    per_seq = 4 * seq_len * (widest * (int(cfg.n_layers) + 1) + 3 * int(cfg.d_vocab))
    return max(1, min(256, DEFAULT_BATCH_BYTES // max(1, per_seq)))


def batches(tokens: Tokens, batch_size: int | None, bridge: Any, device: str) -> Iterator[Batch]:
    """The sequences in order, `batch_size` at a time (trimmed to the batch's longest)."""
    size = batch_size or default_batch_size(bridge, int(tokens.ids.shape[1]))
    for start in range(0, tokens.ids.shape[0], size):
        lengths = tokens.lengths[start:start + size]
        width = int(lengths.max())
        ids = tokens.ids[start:start + size, :width]
        mask = torch.arange(width)[None, :] < lengths[:, None]
        yield Batch(start, ids.to(device), mask.to(device), lengths)
