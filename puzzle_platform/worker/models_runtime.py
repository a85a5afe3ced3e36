"""Load a model's embedding matrices through TransformerLens: offline-safe, with a warm cache.

- Hub names (and TransformerLens aliases, resolved from its alias table) are looked up in the
  Hugging Face cache first and loaded from the cached snapshot folder, so a cached model never
  touches the network. Not cached: fail at once, with one line saying what to do, when offline
  (HF_HUB_OFFLINE) or when a 3-second probe cannot reach the hub; download otherwise.
- Every reference is checked against the site's model policy first (recipes/sources.py: the
  hub allow-list, local folders only inside MODELS_DIR), again here because the policy may
  have changed since the puzzle was saved; a hub model whose weight files exceed MODEL_MAX_GB
  is refused from the hub's file list, before anything is downloaded.
- A local directory is booted as is; its revision is a short sha256 of its config and weights.
  It is named `models:<folder>` in everything shown, never by its absolute path.
- Only the matrices (W_E, W_U transposed so rows are tokens, W_pos) are kept, not the bridge:
  a fraction of the model's memory, and all a recipe needs. They sit in a per-process LRU
  cache bounded by WORKER_MODEL_CACHE_MB (default 4096), so a second job on the same
  (model, revision, weights, device) does not reload.
"""
from __future__ import annotations

import fnmatch
import gc
import hashlib
import importlib.util
import json
import os
import threading
import urllib.error
import urllib.request
import warnings
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import torch

from ..recipes import RecipeError
from ..recipes.sources import ModelPolicy, current_policy
from .errors import ModelUnavailable

MATRICES = ("W_E", "W_U", "W_pos")
_WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth")
_HUB_PROBE_TIMEOUT_S = 3.0
_SIDE_FILES = ("*.json", "*.txt", "*.model")           # config and tokenizer files fetched
_WEIGHT_PATTERNS = ("*.safetensors", "*.bin")          # safetensors when the repo has them


@dataclass(frozen=True)
class LoadedModel:
    """A model's embedding matrices (float32, rows = tokens or positions) and where they came from."""

    name: str            # as asked for (a local folder: models:<folder>)
    resolved_name: str   # hub repo id, or models:<folder> of a local directory
    revision: str        # hub commit hash, or "sha256:<12 hex>" of a local directory
    weights: str         # "raw" | "processed"
    device: str
    dtype: str
    matrices: Mapping[str, torch.Tensor]
    missing: Mapping[str, str] = field(default_factory=dict)  # matrix -> why the model lacks it
    load_warnings: tuple[str, ...] = ()

    def matrix(self, name: str) -> torch.Tensor:
        """The (rows, d_model) matrix, or RecipeError saying the model has none."""
        if name in self.matrices:
            return self.matrices[name]
        reason = self.missing.get(name, f"known matrices: {', '.join(MATRICES)}")
        raise RecipeError(f"model {self.name!r} has no {name}: {reason}")

    @property
    def nbytes(self) -> int:
        """Bytes held, counting shared storage (tied W_E / W_U) once."""
        storages = {t.untyped_storage().data_ptr(): t.untyped_storage().nbytes()
                    for t in self.matrices.values()}
        return sum(storages.values())


@dataclass(frozen=True)
class LoadedBridge:
    """A whole model booted through TransformerLens (hooks, run_with_cache, cfg, tokenizer),
    for the recipes that run it; named like LoadedModel."""

    name: str
    resolved_name: str
    revision: str
    weights: str
    device: str
    dtype: str
    bridge: Any  # transformer_lens.model_bridge.TransformerBridge
    load_warnings: tuple[str, ...] = ()

    @property
    def nbytes(self) -> int:
        seen: dict[int, int] = {}
        for t in list(self.bridge.parameters()) + list(self.bridge.buffers()):
            seen[t.untyped_storage().data_ptr()] = t.untyped_storage().nbytes()
        return sum(seen.values())


def resolve_device(device: str) -> str:
    """"auto" -> cuda when available, else cpu; "cuda" without CUDA is an error."""
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise RecipeError("device 'cuda' was asked for but CUDA is not available on this worker")
    if device not in ("cpu", "cuda"):
        raise RecipeError(f"device must be auto, cpu or cuda, got {device!r}")
    return device


# --- where the files are -------------------------------------------------------------------

def _alias_table() -> dict[str, str]:
    """TransformerLens alias -> hub name, read from its data file without importing it (slow)."""
    spec = importlib.util.find_spec("transformer_lens")
    if spec is None or not spec.submodule_search_locations:
        return {}
    path = Path(list(spec.submodule_search_locations)[0],
                "tools", "model_registry", "data", "model_aliases.json")
    try:
        table = json.loads(path.read_text())["aliases"]
    except (OSError, KeyError, ValueError):
        return {}
    return {alias: official for official, aliases in table.items() for alias in aliases}


def _offline() -> bool:
    flags = (os.environ.get(k, "") for k in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"))
    return any(f.strip().lower() in ("1", "true", "yes", "on") for f in flags)


def _hub_reachable() -> bool:
    """One HEAD request with a short timeout: any HTTP answer means reachable."""
    from huggingface_hub import constants
    try:
        urllib.request.urlopen(urllib.request.Request(constants.ENDPOINT, method="HEAD"),
                               timeout=_HUB_PROBE_TIMEOUT_S).close()
    except urllib.error.HTTPError:
        return True
    except (OSError, ValueError):
        return False
    return True


def _has_weights(folder: Path) -> bool:
    return (folder / "config.json").is_file() and any(
        p.suffix in _WEIGHT_SUFFIXES for p in folder.iterdir())


def _cached_snapshot(repo_id: str, revision: str | None) -> Path | None:
    """The cached snapshot with what `_download` fetches (config, tokenizer, one kind of weight
    files), asked for with those patterns: huggingface_hub checks a cached snapshot against the
    commit's file list and calls it incomplete when any file it was asked for is missing, so
    without them a README.md never downloaded would make every cached model a miss."""
    from huggingface_hub import snapshot_download
    for weights in _WEIGHT_PATTERNS:
        try:
            folder = Path(snapshot_download(repo_id, revision=revision, local_files_only=True,
                                            allow_patterns=[*_SIDE_FILES, weights]))
        except (OSError, ValueError):  # LocalEntryNotFoundError is an OSError
            continue
        if _has_weights(folder):
            return folder
    return None


def _download(name: str, repo_id: str, revision: str | None, max_bytes: int) -> Path:
    """Fetch the config, tokenizer and weight files (safetensors when there are, else .bin),
    refusing first, from the hub's file list, when the weights exceed `max_bytes`."""
    from huggingface_hub import HfApi, snapshot_download
    try:
        info = HfApi().model_info(repo_id, revision=revision, files_metadata=True)
        files = {s.rfilename: s.size or 0 for s in info.siblings or ()}
    except Exception as exc:  # hub errors are many types; all mean "cannot get it"
        raise ModelUnavailable(f"model {name!r} ({repo_id}) could not be looked up on the "
                               f"Hugging Face hub: {_first_line(exc)}") from None
    weights = _WEIGHT_PATTERNS[0] if any(f.endswith(".safetensors") for f in files) else _WEIGHT_PATTERNS[1]
    size = sum(n for f, n in files.items() if fnmatch.fnmatch(f, weights))
    if size > max_bytes:
        raise ModelUnavailable(f"model {name!r} ({repo_id}) has {size / 1e9:,.1f} GB of weight "
                               f"files, over this site's limit of {max_bytes / 1e9:g} GB "
                               "(MODEL_MAX_GB); nothing was downloaded")
    try:
        return Path(snapshot_download(repo_id, revision=revision,
                                      allow_patterns=[*_SIDE_FILES, weights]))
    except Exception as exc:  # hub errors are many types; all mean "cannot get it"
        raise ModelUnavailable(f"model {name!r} ({repo_id}) could not be downloaded from the "
                               f"Hugging Face hub: {_first_line(exc)}") from None


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


_REVISION_MEMO: dict[tuple, str] = {}


def _dir_revision(folder: Path) -> str:
    """Short sha256 of config.json and the weight files (memoised on their size and mtime)."""
    files = sorted(p for p in folder.iterdir() if p.is_file()
                   and (p.name == "config.json" or p.suffix in _WEIGHT_SUFFIXES))
    key = tuple((str(p), p.stat().st_size, p.stat().st_mtime_ns) for p in files)
    if key not in _REVISION_MEMO:
        digest = hashlib.sha256()
        for p in files:
            digest.update(p.name.encode() + b"\0")
            with p.open("rb") as fh:
                while chunk := fh.read(1 << 22):
                    digest.update(chunk)
        _REVISION_MEMO[key] = "sha256:" + digest.hexdigest()[:12]
    return _REVISION_MEMO[key]


def locate(name: str, revision: str | None = None,
           policy: ModelPolicy | None = None) -> tuple[Path, str, str]:
    """(folder to boot, name to show, revision) without loading anything; ModelUnavailable if
    the policy (default: the current one) refuses the model, or the files are not here and
    cannot be fetched."""
    policy = policy or current_policy()
    if problem := policy.problem(name):
        raise ModelUnavailable(problem)
    if policy.is_local(name):
        path, shown = policy.local_folder(name), policy.shown_name(name)
        if path is None or not path.is_dir():
            raise ModelUnavailable(f"model {name!r}: there is no folder {shown} in the site's "
                                   "models folder (MODELS_DIR): check the name")
        if revision is not None:
            raise RecipeError(f"revision {revision!r} applies to hub models, not to the local "
                              f"directory {name!r}")
        if not _has_weights(path):
            raise ModelUnavailable(f"local directory {shown} has no config.json and weight "
                                   f"files: save the model there with save_pretrained()")
        return path, shown, _dir_revision(path)
    snapshot = _hub_snapshot(name, revision, policy)
    return snapshot.folder, snapshot.repo_id, snapshot.revision


@dataclass(frozen=True)
class HubSnapshot:
    """A hub model's files in the Hugging Face cache, and whether this call downloaded them."""

    folder: Path
    repo_id: str
    revision: str   # the commit hash
    downloaded: bool

    @property
    def nbytes(self) -> int:
        """Bytes of the snapshot's files (the cache's symlinks followed)."""
        return sum(p.stat().st_size for p in self.folder.rglob("*") if p.is_file())


def _hub_snapshot(name: str, revision: str | None, policy: ModelPolicy) -> HubSnapshot:
    """The cached snapshot of hub name `name` (a TransformerLens alias is resolved), downloaded
    when missing and the hub may and can be reached; ModelUnavailable, one line, otherwise."""
    repo_id = _alias_table().get(name, name)
    folder = _cached_snapshot(repo_id, revision)
    if folder is not None:
        return HubSnapshot(folder, repo_id, folder.name, downloaded=False)
    label = f"model {name!r}" + (f" ({repo_id})" if repo_id != name else "")
    why = "HF_HUB_OFFLINE is set" if _offline() else (
        None if _hub_reachable() else "the hub cannot be reached")
    if why is not None:
        raise ModelUnavailable(
            f"{label} is not in the Hugging Face cache and {why}: pre-download it "
            f"(manage.py models fetch {name}, or hf download {repo_id}) on a machine with "
            "internet, set HF_HOME to a cache that has it, or use a local folder (models:<folder>)")
    folder = _download(name, repo_id, revision, policy.max_bytes)
    return HubSnapshot(folder, repo_id, folder.name, downloaded=True)


def fetch_hub_model(name: str, revision: str | None = None,
                    policy: ModelPolicy | None = None) -> HubSnapshot:
    """Put hub model `name` into the Hugging Face cache ahead of time (`manage.py models
    fetch`), through the very path a worker takes: the site's policy and MODEL_MAX_GB first."""
    policy = policy or current_policy()
    if problem := policy.problem(name):
        raise ModelUnavailable(problem)
    if policy.is_local(name):
        raise ModelUnavailable(f"model {name!r} is a local folder (MODELS_DIR): there is "
                               "nothing to fetch from the hub")
    return _hub_snapshot(name, revision, policy)


# --- loading and the warm cache ------------------------------------------------------------

def _tokenizer_for(folder: Path):
    """None (TransformerLens loads the folder's own tokenizer), or a one-token placeholder when
    the folder has none that loads: only the weights matter here, but boot_transformers needs a
    tokenizer (GPT-2/GPT-Neo dirs without tokenizer files get an empty one; Llama dirs fail)."""
    from transformers import AutoTokenizer, PreTrainedTokenizerFast
    try:
        AutoTokenizer.from_pretrained(str(folder))
        return None
    except Exception:  # missing files, sentencepiece absent, ...: all mean "no usable tokenizer"
        from tokenizers import Tokenizer, models
        return PreTrainedTokenizerFast(unk_token="<unk>", tokenizer_object=Tokenizer(
            models.WordLevel({"<unk>": 0}, unk_token="<unk>")))


def _boot(folder: Path, shown: str, weights: str, device: str) -> tuple[Any, tuple[str, ...]]:
    """Boot the TransformerBridge (processed weights: HookedTransformer's compatibility mode,
    with its hook names) and the load warnings, paths replaced by the name shown."""
    from transformer_lens.model_bridge import TransformerBridge
    from transformers.utils import logging as hf_logging

    bars = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            bridge = TransformerBridge.boot_transformers(
                str(folder), device=device, dtype=torch.float32, tokenizer=_tokenizer_for(folder))
            if weights == "processed":
                bridge.enable_compatibility_mode(disable_warnings=True)
    except (OSError, ValueError, KeyError) as exc:
        reason = _first_line(exc).replace(str(folder), shown)  # no server paths in messages
        raise ModelUnavailable(f"{shown} could not be loaded by TransformerLens: {reason}") from None
    finally:
        if bars:
            hf_logging.enable_progress_bar()
    bridge.eval()
    notes = tuple(dict.fromkeys(str(w.message).splitlines()[0].replace(str(folder), shown)
                                for w in caught))
    return bridge, notes


def _extract(folder: Path, shown: str, weights: str, device: str
             ) -> tuple[dict, dict, tuple[str, ...]]:
    """Boot the bridge, optionally process weights, and keep only the embedding matrices."""
    bridge, notes = _boot(folder, shown, weights, device)
    matrices, missing = {}, {}
    with torch.no_grad():
        for name in MATRICES:
            try:
                t = getattr(bridge, name)
            except Exception as exc:  # the bridge raises various types for absent components
                missing[name] = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
                continue
            t = (t.T if name == "W_U" else t).detach()
            if t.untyped_storage().nbytes() > t.numel() * t.element_size():
                t = t.clone()  # a view of a larger buffer would keep all of it alive
            matrices[name] = t
    del bridge
    gc.collect()
    return matrices, missing, notes


_lock = threading.Lock()
_cache: OrderedDict[tuple, LoadedModel | LoadedBridge] = OrderedDict()
_stats = {"loads": 0, "hits": 0}


def _budget_bytes() -> int:
    return int(float(os.environ.get("WORKER_MODEL_CACHE_MB", "4096")) * 2**20)


def load_model(name_or_dir: str, *, weights: str = "processed", device: str = "auto",
               revision: str | None = None, policy: ModelPolicy | None = None) -> LoadedModel:
    """The model's embedding matrices, from the warm cache when possible."""
    if weights not in ("raw", "processed"):
        raise RecipeError(f"weights must be raw or processed, got {weights!r}")
    dev = resolve_device(device)
    folder, resolved, rev = locate(name_or_dir, revision, policy)
    if ModelPolicy.is_local(name_or_dir):
        name_or_dir = resolved  # models:<folder>, whatever path was written
    key = (str(folder), rev, weights, dev)
    with _lock:
        if key in _cache:
            _stats["hits"] += 1
            _cache.move_to_end(key)
            hit = _cache[key]
            return LoadedModel(name_or_dir, hit.resolved_name, hit.revision, weights, dev,
                               hit.dtype, hit.matrices, hit.missing, hit.load_warnings)
        matrices, missing, notes = _extract(folder, resolved, weights, dev)
        _stats["loads"] += 1
        loaded = LoadedModel(name_or_dir, resolved, rev, weights, dev, "float32",
                             matrices, missing, notes)
        _remember(key, loaded)
        return loaded


def load_bridge(name_or_dir: str, *, weights: str = "processed", device: str = "auto",
                revision: str | None = None, policy: ModelPolicy | None = None) -> LoadedBridge:
    """The whole model, booted once per worker (the warm cache holds it within
    WORKER_MODEL_CACHE_MB, beside the embedding matrices of load_model)."""
    if weights not in ("raw", "processed"):
        raise RecipeError(f"weights must be raw or processed, got {weights!r}")
    dev = resolve_device(device)
    folder, resolved, rev = locate(name_or_dir, revision, policy)
    if ModelPolicy.is_local(name_or_dir):
        name_or_dir = resolved
    key = ("bridge", str(folder), rev, weights, dev)
    with _lock:
        if key in _cache:
            _stats["hits"] += 1
            _cache.move_to_end(key)
            hit = _cache[key]
            return LoadedBridge(name_or_dir, hit.resolved_name, hit.revision, weights, dev, hit.dtype,
                                hit.bridge, hit.load_warnings)
        bridge, notes = _boot(folder, resolved, weights, dev)
        _stats["loads"] += 1
        loaded = LoadedBridge(name_or_dir, resolved, rev, weights, dev, "float32", bridge, notes)
        _remember(key, loaded)
        return loaded


def _remember(key: tuple, loaded: Any) -> None:
    """Keep `loaded` warm unless it alone is over the budget; drop the oldest beyond it.
    Called with _lock held."""
    budget = _budget_bytes()
    if loaded.nbytes <= budget:
        _cache[key] = loaded
        while sum(m.nbytes for m in _cache.values()) > budget:
            _cache.popitem(last=False)


def cache_info() -> dict:
    """Counters for tests and logs: loads, hits, entries, bytes held, budget."""
    with _lock:
        return {**_stats, "entries": len(_cache), "bytes": sum(m.nbytes for m in _cache.values()),
                "budget_bytes": _budget_bytes()}


def clear_model_cache() -> None:
    with _lock:
        _cache.clear()
