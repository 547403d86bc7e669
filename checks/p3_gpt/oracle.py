"""A check-side GPT written as one function over a state dict, with switches for known mistakes.

It uses torch's own building blocks (F.layer_norm, F.gelu, F.scaled_dot_product_attention), so it
shares no code with the learner's model. The switches recompute the logits under a known
mistake; when the learner's logits match one of them, the check names the mistake.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class Mistake:
    """One way to compute the logits: all defaults give the correct GPT."""

    pre_norm: bool = True
    unbiased_variance: bool = False
    final_norm: bool = True
    gelu: str = "none"  # "none" is the exact erf form; "tanh" is the approximation
    scaled: bool = True
    causal: bool = True
    positions: bool = True


SIGNATURES = [
    (Mistake(pre_norm=False), "the blocks are post-norm (x = ln(x + attn(x))); GPT uses pre-norm: x = x + attn(ln_1(x)), then x = x + mlp(ln_2(x)). Look at Block.forward"),
    (Mistake(unbiased_variance=True), "LayerNorm uses the unbiased variance (divides by C - 1); use the biased one: ((x - mean)**2).mean(-1). Look at LayerNorm.forward"),
    (Mistake(final_norm=False), "the final LayerNorm is missing: apply ln_f to the last block's output before lm_head. Look at GPT.forward"),
    (Mistake(gelu="tanh"), "the MLP uses the tanh approximation of GELU; use the exact form F.gelu(x) (erf). Look at MLP.forward"),
    (Mistake(scaled=False), "the attention scores are not divided by sqrt(head_size). Look at CausalSelfAttention.forward"),
    (Mistake(causal=False), "the attention has no causal mask: position t sees later tokens. Look at CausalSelfAttention.forward"),
    (Mistake(positions=False), "the position embedding wpe is not added to the token embedding. Look at GPT.forward"),
]


def layer_norm(x: torch.Tensor, params: dict, name: str, unbiased: bool) -> torch.Tensor:
    weight = params[f"{name}.weight"]
    bias = params.get(f"{name}.bias")
    if not unbiased:
        return F.layer_norm(x, (x.size(-1),), weight, bias, eps=1e-5)
    centred = x - x.mean(-1, keepdim=True)
    out = centred / torch.sqrt(x.var(-1, unbiased=True, keepdim=True) + 1e-5) * weight
    return out if bias is None else out + bias


def attention(x: torch.Tensor, params: dict, prefix: str, n_head: int, mistake: Mistake) -> torch.Tensor:
    B, T, C = x.shape
    qkv = F.linear(x, params[f"{prefix}.c_attn.weight"], params.get(f"{prefix}.c_attn.bias"))
    q, k, v = (part.reshape(B, T, n_head, C // n_head).permute(0, 2, 1, 3) for part in qkv.chunk(3, dim=-1))
    scale = None if mistake.scaled else 1.0
    y = F.scaled_dot_product_attention(q, k, v, is_causal=mistake.causal, scale=scale)
    y = y.permute(0, 2, 1, 3).reshape(B, T, C)
    return F.linear(y, params[f"{prefix}.c_proj.weight"], params.get(f"{prefix}.c_proj.bias"))


def mlp(x: torch.Tensor, params: dict, prefix: str, mistake: Mistake) -> torch.Tensor:
    hidden = F.linear(x, params[f"{prefix}.c_fc.weight"], params.get(f"{prefix}.c_fc.bias"))
    hidden = F.gelu(hidden, approximate=mistake.gelu)
    return F.linear(hidden, params[f"{prefix}.c_proj.weight"], params.get(f"{prefix}.c_proj.bias"))


def oracle_logits(params: dict, n_layer: int, n_head: int, idx: torch.Tensor, mistake: Mistake = Mistake()) -> torch.Tensor:
    """Logits (B, T, vocab) of the GPT whose weights are `params`, computed under `mistake`."""
    T = idx.size(1)
    x = F.embedding(idx, params["wte.weight"])
    if mistake.positions:
        x = x + params["wpe.weight"][:T]
    unbiased = mistake.unbiased_variance
    for i in range(n_layer):
        p = f"blocks.{i}"
        if mistake.pre_norm:
            x = x + attention(layer_norm(x, params, f"{p}.ln_1", unbiased), params, f"{p}.attn", n_head, mistake)
            x = x + mlp(layer_norm(x, params, f"{p}.ln_2", unbiased), params, f"{p}.mlp", mistake)
        else:
            x = layer_norm(x + attention(x, params, f"{p}.attn", n_head, mistake), params, f"{p}.ln_1", unbiased)
            x = layer_norm(x + mlp(x, params, f"{p}.mlp", mistake), params, f"{p}.ln_2", unbiased)
    if mistake.final_norm:
        x = layer_norm(x, params, "ln_f", unbiased)
    return F.linear(x, params.get("lm_head.weight", params["wte.weight"]))


def expected_param_count(vocab_size: int, block_size: int, n_layer: int, n_embd: int, bias: bool) -> int:
    """Closed form: embeddings + L · (12C² + 13C) + 2C with biases, L · (12C² + 2C) + C without."""
    C = n_embd
    if bias:
        return vocab_size * C + block_size * C + n_layer * (12 * C * C + 13 * C) + 2 * C
    return vocab_size * C + block_size * C + n_layer * (12 * C * C + 2 * C) + C


def expected_loss(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy over every position, written out as log-sum-exp minus the target logit."""
    flat = logits.reshape(-1, logits.size(-1))
    picked = flat.gather(1, targets.reshape(-1, 1)).squeeze(1)
    return (torch.logsumexp(flat, dim=1) - picked).mean()

