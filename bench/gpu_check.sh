#!/usr/bin/env bash
# GPU-path checks for the embedding-cosine worker, then the benchmark's GPU (and CPU) rows.
#
# For a lent H100/H200 (x86-64; the image's python3 has torch but no transformer_lens or
# plotly): packages the image lacks are installed from carried wheels in .whl/ (see
# /work/.library/device/README.md). Without CUDA it runs the same checks on the CPU and says so.
#   bash bench/gpu_check.sh [extra args for bench/embedding_stats.py, default --full]
# Exit status: 0 when every check passed.
set -uo pipefail
cd "$(dirname "$0")/.."

PY=${PYTHON:-python3}
if ! "$PY" -c 'import torch' 2>/dev/null && [ -x .venv/bin/python ]; then PY=.venv/bin/python; fi
"$PY" -c 'import torch' || { echo "gpu_check: no python with torch found"; exit 2; }

missing=$("$PY" -c 'import importlib.util as u; print(" ".join(m for m in ("transformer_lens", "plotly", "datasets", "flask") if u.find_spec(m) is None))')
if [ -n "$missing" ]; then
  if ls .whl/*.whl >/dev/null 2>&1; then
    echo "gpu_check: missing [$missing]: installing carried wheels from .whl/"
    "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
      --target /tmp/site .whl/*.whl && export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH}
  else
    echo "gpu_check: missing [$missing] and no .whl/: checks needing them are skipped"
  fi
fi
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null || true

"$PY" - <<'EOF'
"""Correctness of the worker's GPU path against the CPU path (and a float64 reference)."""
import importlib.util, os, sys, tempfile, time
import torch
from puzzle_platform.worker.embedding_stats import (closed_form_stats, exact_histogram,
                                                    sampled_histogram)

dev = "cuda" if torch.cuda.is_available() else "cpu"
print(f"torch {torch.__version__} · device {torch.cuda.get_device_name() if dev == 'cuda' else 'cpu (no CUDA: checks compare CPU with itself)'}")
results = []


def check(name, ok, detail):
    results.append((name, "PASS" if ok else "FAIL", detail))


def ambiguous(X, bins=200, tol=1e-5):
    """Off-diagonal entries whose float64 cosine is within tol of an inner bin edge."""
    X64 = X.to(dev, torch.float64)
    U = X64 / X64.norm(dim=1, keepdim=True)
    total = 0
    for a in range(0, U.shape[0], 2048):
        t = (U[a:a + 2048] @ U.T + 1) * (bins / 2)
        t[torch.arange(t.shape[0]), torch.arange(a, a + t.shape[0])] = 0.5  # diagonal: never
        k = t.round()
        total += int((((k >= 1) & (k <= bins - 1)) & ((t - k).abs() < tol * bins / 2)).sum())
    return total


g = torch.Generator().manual_seed(0)
mats = {"neo-like 8000x768": 0.1 * torch.randn(8000, 768, generator=g) + 0.3 * torch.randn(768, generator=g),
        "isotropic 6001x256": torch.randn(6001, 256, generator=g)}
for name, X in mats.items():
    n = X.shape[0]
    cpu = exact_histogram(X, 200)[1]
    t = time.perf_counter(); gpu = exact_histogram(X.to(dev), 200)[1]; sec = time.perf_counter() - t
    gpu_odd = exact_histogram(X.to(dev), 200, chunk_rows=777)[1]
    amb = ambiguous(X)
    l1 = sum(abs(a - b) for a, b in zip(cpu, gpu))
    check(f"exact histogram {dev} vs cpu, {name}", sum(gpu) == sum(cpu) == n * (n - 1) and l1 <= 2 * amb,
          f"totals {sum(gpu):,}; L1 diff {l1} <= 2 x {amb} entries within 1e-5 of an edge; {sec:.2f} s")
    check(f"{dev} repeat with chunk_rows=777 is identical, {name}",
          gpu_odd == exact_histogram(X.to(dev), 200, chunk_rows=777)[1] and sum(gpu_odd) == n * (n - 1),
          f"L1 vs auto chunking {sum(abs(a - b) for a, b in zip(gpu, gpu_odd))}")
    a, b = closed_form_stats(X), closed_form_stats(X.to(dev))
    worst = max(abs(a[k] - b[k]) for k in a)
    check(f"closed forms {dev} vs cpu, {name}", worst < 1e-6, f"max |diff| {worst:.2e}")
    sa, sb = sampled_histogram(X, sample=2000, seed=1), sampled_histogram(X.to(dev), sample=2000, seed=1)
    check(f"sampled histogram {dev} vs cpu, {name}",
          abs(sa.mean_cos - sb.mean_cos) < 1e-9 and abs(sa.stderr - sb.stderr) < 1e-9
          and sum(sa.counts) == sum(sb.counts),
          f"mean diff {abs(sa.mean_cos - sb.mean_cos):.1e}, counts L1 {sum(abs(p - q) for p, q in zip(sa.counts, sb.counts))}")

if importlib.util.find_spec("transformer_lens") is None:
    check("run_recipe on a tiny GPT-2", False, "SKIPPED: transformer_lens not importable here")
else:
    from transformers import GPT2Config, GPT2LMHeadModel
    from transformers.utils import logging as hf_logging
    from puzzle_platform.worker.models_runtime import load_model
    from puzzle_platform.worker.run_recipe import run_recipe
    hf_logging.disable_progress_bar()
    folder = tempfile.mkdtemp(prefix="tiny_gpt2_")
    os.environ["MODELS_DIR"] = os.path.dirname(folder)  # local models load only from MODELS_DIR
    torch.manual_seed(0)
    GPT2LMHeadModel(GPT2Config(vocab_size=300, n_embd=32, n_layer=2, n_head=4, n_positions=64,
                               bos_token_id=0, eos_token_id=1)).save_pretrained(folder)
    for weights in ("raw", "processed"):
        p = {"model": folder, "weights": weights, "center": True}
        try:
            on_dev, on_cpu = run_recipe("embedding_cosine", {**p, "device": dev}), run_recipe("embedding_cosine", {**p, "device": "cpu"})
        except Exception as exc:  # report, don't lose the table: e.g. a TL/transformers mismatch
            check(f"run_recipe tiny GPT-2 ({weights})", False, f"ERROR {type(exc).__name__}: {' '.join(str(exc).split())[:300]}")
            continue
        sd, sc = on_dev["statistics"], on_cpu["statistics"]
        worst = max(abs(sd[k] - sc[k]) for k in sc)
        l1 = sum(abs(x - y) for x, y in zip(on_dev["histogram"]["counts"], on_cpu["histogram"]["counts"]))
        W = load_model(folder, weights=weights, device="cpu").matrix("W_E").double()
        amb = ambiguous(W - W.mean(0))
        check(f"run_recipe tiny GPT-2 ({weights}) {dev} vs cpu",
              on_dev["provenance"]["device"] == dev and worst < 1e-6 and l1 <= 2 * amb,
              f"max |stat diff| {worst:.1e}, counts L1 {l1} <= 2 x {amb}, revision {on_dev['provenance']['revision']}")

print("\n| check | result | detail |\n| --- | --- | --- |")
for name, status, detail in results:
    print(f"| {name} | {status} | {detail} |")
sys.exit(0 if all(r[1] == "PASS" for r in results) else 1)
EOF
status=$?

echo
"$PY" bench/embedding_stats.py "${@:---full}"
echo
"$PY" bench/recipes.py --device cuda --batch 32 --length 256   # the same rows as on CPU
exit $status
