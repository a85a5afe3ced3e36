"""Throughput and memory of every model recipe on a GPT-2-small-shaped random model.

    python bench/recipes.py [--device cpu|cuda] [--batch 16] [--length 128] [--small]

Builds a random model with GPT-2 small's shape (12 layers, 12 heads, d_model 768, 50,257
tokens, 124M parameters; `--small`: 4 layers, d_model 256, for a quick look) and a word-level
tokenizer, then runs each recipe in its own process, so that the peak memory of one recipe is
not another's. Prints one row per recipe: tokens read, seconds, tokens/s, the process's
resident memory after loading the model, the peak during the run (sampled every 5 ms), and on
CUDA the peak of allocated GPU memory. The recipes stream batches and cache only the hooks they need, so the
working memory (peak - after load) stays bounded whatever the number of sequences.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def build_model(folder: Path, small: bool) -> None:
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

    torch.manual_seed(0)
    shape = dict(n_layer=4, n_embd=256, n_head=8) if small else dict(n_layer=12, n_embd=768, n_head=12)
    GPT2LMHeadModel(GPT2Config(vocab_size=50257, n_positions=1024, bos_token_id=0, eos_token_id=0,
                               pad_token_id=1, **shape)).save_pretrained(folder)
    vocab = {"<bos>": 0, "<pad>": 1, "<unk>": 2, **{f"w{i}": i for i in range(3, 50257)}}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<bos>", pad_token="<pad>",
                            unk_token="<unk>").save_pretrained(folder)


def cases(model: str, device: str, batch: int, length: int) -> dict[str, dict]:
    base = {"model": model, "weights": "processed", "device": device}
    rand = {"random_tokens": {"batch": batch, "length": length, "seed": 0, "repeat": False}}
    prompts = [" ".join(f"w{(7 * i + 13 * j) % 50000 + 3}" for j in range(length - 1)) for i in range(batch)]
    words = {"prompts": prompts}
    return {
        "activation_stats": {**base, **rand, "hook": "blocks.6.hook_resid_post" if "small" not in model
                             else "blocks.2.hook_resid_post"},
        "attention_heads": {**base, "random_tokens": {"batch": batch, "length": length // 2, "seed": 0,
                                                      "repeat": True}},
        "logit_lens": {**base, **words, "targets": ["w5"] * batch},
        "logit_attribution": {**base, **words, "correct": ["w5"] * batch, "incorrect": ["w6"] * batch},
        "ablation": {**base, **rand, "components": ["L0.mlp", "L1.H3"], "method": "mean"},
        "weight_spectrum": {**base, "matrix": "OV", "layer": 1, "head": 3},
        "embedding_neighbors": {**base, "expression": '"w10" - "w11" + "w12"', "target": "w13"},
    }


CHILD = r"""
import json, sys, threading, time
import torch
from puzzle_platform.worker.models_runtime import load_bridge
from puzzle_platform.worker.run_recipe import run_recipe
name, params = sys.argv[1], json.loads(sys.argv[2])
def rss_mb():
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
load_bridge(params["model"], weights=params["weights"], device=params["device"])
import gc; gc.collect()
after_load = rss_mb()
peak, running = [after_load], [True]
def watch():  # the run's own peak (the process's max RSS would include loading's transients)
    while running[0]:
        peak[0] = max(peak[0], rss_mb()); time.sleep(0.005)
watcher = threading.Thread(target=watch, daemon=True); watcher.start()
if params["device"] == "cuda":
    torch.cuda.synchronize(); torch.cuda.reset_peak_memory_stats()
t0 = time.perf_counter()
artifact = run_recipe(name, params)
if params["device"] == "cuda":
    torch.cuda.synchronize()
seconds = time.perf_counter() - t0
running[0] = False; watcher.join()
inputs = artifact["provenance"].get("inputs") or {}
print(json.dumps({"seconds": seconds, "tokens": inputs.get("tokens"), "after_load_mb": after_load,
                  "peak_mb": peak[0],
                  "gpu_peak_mb": torch.cuda.max_memory_allocated() / 2**20 if params["device"] == "cuda" else None}))
"""


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--length", type=int, default=128)
    ap.add_argument("--small", action="store_true", help="4 layers, d_model 256 (a quick run)")
    ap.add_argument("--only", nargs="*", help="recipes to run (default: all)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        name = "gpt2_small_shape" if not args.small else "small_shape"
        t0 = time.perf_counter()
        build_model(Path(tmp) / name, args.small)
        print(f"# random {name} built in {time.perf_counter() - t0:.1f} s; device {args.device}; "
              f"batch {args.batch} x length {args.length}", flush=True)
        env = {**os.environ, "MODELS_DIR": tmp, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(ROOT),
               "MODEL_ALLOWLIST_ONLY": "none"}
        print(f"{'recipe':<22}{'tokens':>8}{'seconds':>9}{'tokens/s':>10}{'RSS after load MB':>19}"
              f"{'peak MB':>9}{'working MB':>12}{'GPU peak MB':>13}")
        for recipe, params in cases(f"models:{name}", args.device, args.batch, args.length).items():
            if args.only and recipe not in args.only:
                continue
            run = subprocess.run([sys.executable, "-c", CHILD, recipe, json.dumps(params)], env=env,
                                 capture_output=True, text=True, cwd=ROOT)
            if run.returncode != 0:
                print(f"{recipe:<22} failed: {(run.stderr.strip().splitlines() or ['?'])[-1]}")
                continue
            r = json.loads(run.stdout.strip().splitlines()[-1])
            tokens = r["tokens"]
            rate = f"{tokens / r['seconds']:,.0f}" if tokens else "-"
            gpu = f"{r['gpu_peak_mb']:,.0f}" if r["gpu_peak_mb"] is not None else "-"
            print(f"{recipe:<22}{tokens or '-':>8}{r['seconds']:>9.2f}{rate:>10}{r['after_load_mb']:>19,.0f}"
                  f"{r['peak_mb']:>9,.0f}{r['peak_mb'] - r['after_load_mb']:>12,.0f}{gpu:>13}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
