"""Lesson 3.4: text generation with temperature, top-k, top-p and a KV cache.

Write every function that raises NotImplementedError. The check runs your functions on its own
GPT (the lesson 3.1 reference, same attribute names as yours), so this lesson does not depend on
your 3.1 model. `ztf hint 3.4` helps when you are stuck.

All logits have shape (B, vocab_size) unless stated; token ids have dtype torch.long.
"""

import math

import torch
import torch.nn.functional as F


def apply_temperature(logits, temperature):
    """Return logits / temperature (temperature > 0)."""
    raise NotImplementedError("apply_temperature is not implemented yet")


def top_k_filter(logits, k):
    """Return logits with every value below the k-th largest of its row set to -inf.

    k None, or k >= vocab_size, returns logits unchanged. The kept values are not modified.
    """
    raise NotImplementedError("top_k_filter is not implemented yet")


def top_p_filter(logits, p):
    """Return logits with everything outside the nucleus set to -inf.

    The nucleus is the smallest set of most likely tokens whose probabilities sum to at least p:
    sort by probability, keep tokens while the probability of the tokens before them is below p
    (so the token that crosses p is kept). p None or p >= 1 returns logits unchanged.
    """
    raise NotImplementedError("top_p_filter is not implemented yet")


def next_token_probs(logits, temperature=1.0, top_k=None, top_p=None):
    """Return the sampling distribution (B, vocab_size): temperature, then top-k, then top-p, then softmax.

    Temperature 0 means greedy: return a one-hot vector at the argmax of each row.
    """
    raise NotImplementedError("next_token_probs is not implemented yet")


def sample_next(logits, temperature=1.0, top_k=None, top_p=None, generator=None):
    """Return one token id per row, shape (B, 1), drawn from next_token_probs.

    Use torch.multinomial(probs, 1, generator=generator); at temperature 0 return the argmax.
    """
    raise NotImplementedError("sample_next is not implemented yet")


class KVCache:
    """The keys and values of every layer for the positions processed so far.

    keys[layer] and values[layer] are None before the first call, then tensors of shape
    (B, n_head, positions, head_size). len(cache) is the number of cached positions.
    """

    def __init__(self, n_layer):
        self.keys = [None] * n_layer
        self.values = [None] * n_layer

    def __len__(self):
        raise NotImplementedError("KVCache.__len__ is not implemented yet")

    def append(self, layer, k, v):
        """Append new keys and values (B, n_head, T_new, head_size) for a layer; return all of them."""
        raise NotImplementedError("KVCache.append is not implemented yet")


def forward_cached(model, idx, cache):
    """Run model on the new tokens idx (B, T_new) after the cached ones; return logits (B, T_new, vocab_size).

    Use the model's own modules (model.wte, model.wpe, model.blocks[i].ln_1, .attn.c_attn,
    .attn.c_proj, .ln_2, .mlp, model.ln_f, model.lm_head) and model.config.n_head. The new tokens
    sit at positions len(cache) .. len(cache) + T_new - 1; new query i may attend to cached keys
    and to new keys up to itself. Append each layer's new keys and values to the cache.
    """
    raise NotImplementedError("forward_cached is not implemented yet")


def stream(model, idx, max_new_tokens, temperature=1.0, top_k=None, top_p=None, generator=None, use_cache=True):
    """Yield max_new_tokens new tokens, one (B, 1) tensor per step, without gradients and in eval mode.

    Without the cache: logits of idx[:, -block_size:]. With the cache: the first step (and any step
    at which the cache holds block_size positions) starts a fresh KVCache and runs forward_cached on
    idx[:, -block_size:]; every other step runs forward_cached on the newest token only. Sample
    from the last position's logits with sample_next and append the token to idx.
    """
    raise NotImplementedError("stream is not implemented yet")


def generate(model, idx, max_new_tokens, temperature=1.0, top_k=None, top_p=None, generator=None, use_cache=False):
    """Return idx followed by max_new_tokens tokens from stream: shape (B, T + max_new_tokens)."""
    raise NotImplementedError("generate is not implemented yet")
