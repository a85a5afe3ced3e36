"""A model's layer and head counts read from its config.json, torch-free.

Recipes whose statistics are per layer or per head (`L{l}.prob`, `L{l}.H{h}`) must name them
when a puzzle is loaded, without booting the model. The numbers come from the config.json of a
local folder inside MODELS_DIR, or of a hub model already in the Hugging Face cache; None when
neither is on this host (the per-layer names are then unknown until a run).
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from .sources import current_policy

# Hugging Face config keys, in the order tried (GPT-2: n_layer, GPT-Neo: num_layers, Llama: ...).
_LAYER_KEYS = ("num_hidden_layers", "n_layer", "num_layers", "n_layers")
_HEAD_KEYS = ("num_attention_heads", "n_head", "num_heads", "n_heads")


@dataclass(frozen=True)
class ModelShape:
    n_layers: int
    n_heads: int


def _from_config(path: Path) -> ModelShape | None:
    try:
        cfg = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if isinstance(cfg.get("text_config"), dict):  # multimodal wrappers keep the LM's here
        cfg = {**cfg, **cfg["text_config"]}
    layers = next((cfg[k] for k in _LAYER_KEYS if isinstance(cfg.get(k), int)), None)
    heads = next((cfg[k] for k in _HEAD_KEYS if isinstance(cfg.get(k), int)), None)
    if not layers or not heads:
        return None
    return ModelShape(int(layers), int(heads))


def _hub_config(name: str, revision: str | None) -> Path | None:
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:
        return None
    from .sources import NAMES_FILE
    aliases = json.loads(NAMES_FILE.read_text(encoding="utf-8"))["aliases"]
    repo = next((official for official, names in aliases.items() if name in names), name)
    try:
        found = try_to_load_from_cache(repo, "config.json", revision=revision)
    except Exception:  # a malformed id or cache: the shape is simply unknown
        return None
    return Path(found) if isinstance(found, str) else None


def model_shape(name: str, revision: str | None = None) -> ModelShape | None:
    """(n_layers, n_heads) of `name` from a config.json on this host, or None."""
    policy = current_policy()
    if policy.problem(name):
        return None
    if policy.is_local(name):
        folder = policy.local_folder(name)
        return _from_config(folder / "config.json") if folder is not None else None
    path = _hub_config(name, revision)
    return _from_config(path) if path is not None else None
