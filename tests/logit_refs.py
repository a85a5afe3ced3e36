"""Independent references for the logit recipes: Hugging Face transformers run in float64 on
the same token ids, with the residual stream split by forward hooks on HF's own modules.

Nothing here touches TransformerLens or the code under test.
"""
from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import numpy as np
import torch

TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json")


def perturbed_copy(src: Path, dst: Path, seed: int = 5, vocab: int | None = None) -> Path:
    """`src` with random LayerNorm weights and biases and random linear biases, so that folding
    the norms (processed weights) and every bias term matter; tokenizer files copied. `vocab`:
    keep only that many token ids (e.g. the tokenizer's, so that every id can be named)."""
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(str(src))
    if vocab is not None:
        model.resize_token_embeddings(vocab)
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "ln" in name or "bias" in name:
                p.add_(0.3 * torch.randn(p.shape, generator=gen))
    model.save_pretrained(dst)
    for f in TOKENIZER_FILES:
        if (src / f).exists():
            shutil.copy(src / f, dst / f)
    return dst


def token_ids(folder: Path, prompt: str, bos: bool = True) -> list[int]:
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(folder))
    ids = tok(prompt, add_special_tokens=False)["input_ids"]
    return ([tok.bos_token_id] if bos else []) + list(ids)


def ids_hash(rows: list[list[int]]) -> str:
    """The provenance's token_ids_sha256, recomputed from the ids themselves."""
    digest = hashlib.sha256()
    for row in rows:
        digest.update(len(row).to_bytes(8, "little"))
        digest.update(np.asarray(row, dtype="<i8").tobytes())
    return "sha256:" + digest.hexdigest()


def _parts(model):
    """(blocks, final norm, attention output projection of a block as (W [in, out], b))."""
    tr = model.transformer
    if hasattr(tr.h[0].attn, "c_proj"):  # GPT-2: Conv1D, weight [in, out]
        proj = lambda blk: (blk.attn.c_proj.weight, blk.attn.c_proj.bias)  # noqa: E731
    else:  # GPT-Neo: nn.Linear, weight [out, in]
        proj = lambda blk: (blk.attn.attention.out_proj.weight.T, blk.attn.attention.out_proj.bias)  # noqa: E731
    return tr.h, tr.ln_f, proj


def hf_float64(folder: Path, ids: list[int]) -> dict:
    """Everything the references need at the last token of one unpadded sequence, float64:
    residuals (embeddings, each block's mid and post), the pieces that write to the residual,
    the model's logits, and the final norm's parameters and unembedding."""
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(str(folder), attn_implementation="eager").double().eval()
    blocks, ln_f, proj = _parts(model)
    n_heads = model.config.num_attention_heads if hasattr(model.config, "num_attention_heads") else model.config.n_head
    seen: dict[str, torch.Tensor] = {}
    handles = []
    for l, blk in enumerate(blocks):
        W, _ = proj(blk)
        out_proj = blk.attn.c_proj if hasattr(blk.attn, "c_proj") else blk.attn.attention.out_proj
        handles.append(out_proj.register_forward_pre_hook(
            lambda m, args, l=l: seen.__setitem__(f"z{l}", args[0][0, -1].detach())))
        handles.append(blk.attn.register_forward_hook(
            lambda m, args, out, l=l: seen.__setitem__(f"attn{l}", out[0][0, -1].detach())))
        handles.append(blk.mlp.register_forward_hook(
            lambda m, args, out, l=l: seen.__setitem__(f"mlp{l}", out[0, -1].detach())))
    x = torch.tensor([ids])
    with torch.no_grad():
        out = model(x, output_hidden_states=True)
    for h in handles:
        h.remove()
    tr = model.transformer
    L = len(blocks)
    embed = tr.wte.weight[ids[-1]].detach()
    pos = tr.wpe.weight[len(ids) - 1].detach()
    resid = [out.hidden_states[l][0, -1] for l in range(L)]  # input of block l
    resid.append(resid[-1] + seen[f"attn{L - 1}"] + seen[f"mlp{L - 1}"])  # HF's last is after ln_f
    mids = [resid[l] + seen[f"attn{l}"] for l in range(L)]
    heads = []
    for l, blk in enumerate(blocks):
        W, b = proj(blk)
        z = seen[f"z{l}"].reshape(n_heads, -1)
        d_head = z.shape[1]
        heads.append(torch.stack([z[h] @ W[h * d_head:(h + 1) * d_head] for h in range(n_heads)]).detach())
    lm_b = model.lm_head.bias if model.lm_head.bias is not None else torch.zeros(model.lm_head.weight.shape[0], dtype=torch.float64)
    return {"resid": resid, "mids": mids, "embed": embed, "pos": pos, "heads": heads,
            "attn_b": [proj(blk)[1].detach() for blk in blocks],
            "mlp": [seen[f"mlp{l}"] for l in range(L)], "logits": out.logits[0, -1],
            "ln_w": ln_f.weight.detach(), "ln_b": ln_f.bias.detach(), "eps": ln_f.eps,
            "W_U": model.lm_head.weight.detach().T, "b_U": lm_b.detach(),
            "readout": lambda r: model.lm_head(ln_f(r))}


def measures(logits: torch.Tensor, target: int) -> tuple[float, float, float]:
    """(logit, softmax probability, number of strictly larger logits) in float64."""
    lg = logits.detach().double()
    t = lg[target]
    return float(t), float(torch.softmax(lg, -1)[target]), float((lg > t).sum())
