"""Reference solution for lesson 3.4: sampling filters, a KV cache and streaming generation."""

import math

import torch
import torch.nn.functional as F


def apply_temperature(logits, temperature):
    return logits / temperature


def top_k_filter(logits, k):
    if k is None or k >= logits.size(-1):
        return logits
    kth = torch.topk(logits, k, dim=-1).values[..., -1:]
    return logits.masked_fill(logits < kth, float("-inf"))


def top_p_filter(logits, p):
    if p is None or p >= 1.0:
        return logits
    sorted_logits, order = torch.sort(logits, dim=-1, descending=True)
    cumulative = F.softmax(sorted_logits, dim=-1).cumsum(dim=-1)
    # Drop a token when the tokens before it already reach p; the token that crosses p stays.
    drop_sorted = (cumulative - F.softmax(sorted_logits, dim=-1)) >= p
    drop = drop_sorted.scatter(-1, order, drop_sorted)
    return logits.masked_fill(drop, float("-inf"))


def next_token_probs(logits, temperature=1.0, top_k=None, top_p=None):
    if temperature == 0:
        return F.one_hot(logits.argmax(dim=-1), logits.size(-1)).to(logits.dtype)
    logits = apply_temperature(logits, temperature)
    logits = top_k_filter(logits, top_k)
    logits = top_p_filter(logits, top_p)
    return F.softmax(logits, dim=-1)


def sample_next(logits, temperature=1.0, top_k=None, top_p=None, generator=None):
    if temperature == 0:
        return logits.argmax(dim=-1, keepdim=True)
    probs = next_token_probs(logits, temperature, top_k, top_p)
    return torch.multinomial(probs, 1, generator=generator)


class KVCache:
    """Keys and values of every layer for the positions seen so far: (B, n_head, T, head_size) each."""

    def __init__(self, n_layer):
        self.keys = [None] * n_layer
        self.values = [None] * n_layer

    def __len__(self):
        return 0 if self.keys[0] is None else self.keys[0].size(2)

    def append(self, layer, k, v):
        if self.keys[layer] is not None:
            k = torch.cat([self.keys[layer], k], dim=2)
            v = torch.cat([self.values[layer], v], dim=2)
        self.keys[layer], self.values[layer] = k, v
        return k, v


def cached_attention(attn, x, cache, layer, n_head, past):
    B, T, C = x.shape
    q, k, v = attn.c_attn(x).split(C, dim=2)
    q, k, v = (t.view(B, T, n_head, C // n_head).transpose(1, 2) for t in (q, k, v))
    k, v = cache.append(layer, k, v)

    scores = q @ k.transpose(-2, -1) / math.sqrt(k.size(-1))
    # New query i sits at absolute position past + i and may see keys 0..past + i.
    allowed = torch.ones(T, past + T, dtype=torch.bool, device=x.device).tril(diagonal=past)
    scores = scores.masked_fill(~allowed, float("-inf"))
    y = F.softmax(scores, dim=-1) @ v
    return attn.c_proj(y.transpose(1, 2).contiguous().view(B, T, C))


def forward_cached(model, idx, cache):
    past = len(cache)
    T = idx.size(1)
    positions = torch.arange(past, past + T, device=idx.device)
    x = model.wte(idx) + model.wpe(positions)
    for layer, block in enumerate(model.blocks):
        x = x + cached_attention(block.attn, block.ln_1(x), cache, layer, model.config.n_head, past)
        x = x + block.mlp(block.ln_2(x))
    return model.lm_head(model.ln_f(x))


@torch.no_grad()
def stream(model, idx, max_new_tokens, temperature=1.0, top_k=None, top_p=None, generator=None, use_cache=True):
    block_size = model.config.block_size
    model.eval()
    cache = None
    for _ in range(max_new_tokens):
        if not use_cache:
            logits, _ = model(idx[:, -block_size:])
        elif cache is None or len(cache) >= block_size:
            cache = KVCache(len(model.blocks))
            logits = forward_cached(model, idx[:, -block_size:], cache)
        else:
            logits = forward_cached(model, idx[:, -1:], cache)
        token = sample_next(logits[:, -1, :], temperature, top_k, top_p, generator)
        idx = torch.cat([idx, token], dim=1)
        yield token


def generate(model, idx, max_new_tokens, temperature=1.0, top_k=None, top_p=None, generator=None, use_cache=False):
    tokens = stream(model, idx, max_new_tokens, temperature, top_k, top_p, generator, use_cache)
    return torch.cat([idx, *tokens], dim=1)
