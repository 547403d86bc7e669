"""Lesson 2.3 reference: scaled dot-product and multi-head attention written with einsum."""

import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import torch
from torch import nn


def scaled_dot_product_attention(q, k, v, mask=None):
    """softmax(q kᵀ / √d_k) v over the key axis; mask is True where attention is blocked."""
    d_k = q.shape[-1]
    scores = torch.einsum("...qd,...kd->...qk", q, k) / math.sqrt(d_k)  # (..., Lq, Lk)
    if mask is not None:
        scores = scores.masked_fill(mask, float("-inf"))
    weights = torch.softmax(scores, dim=-1)
    output = torch.einsum("...qk,...kd->...qd", weights, v)  # (..., Lq, d_v)
    return output, weights


class MultiHeadAttention(nn.Module):
    """Multi-head attention with nn.MultiheadAttention(batch_first=True)'s parameter names."""

    def __init__(self, embed_dim, num_heads):
        super().__init__()
        assert embed_dim % num_heads == 0, "embed_dim must be divisible by num_heads"
        self.embed_dim = embed_dim
        self.num_heads = num_heads
        self.head_dim = embed_dim // num_heads
        self.in_proj_weight = nn.Parameter(torch.empty(3 * embed_dim, embed_dim))
        self.in_proj_bias = nn.Parameter(torch.zeros(3 * embed_dim))
        self.out_proj = nn.Linear(embed_dim, embed_dim)
        nn.init.xavier_uniform_(self.in_proj_weight)

    def split_heads(self, x):
        """(B, L, E) -> (B, H, L, head_dim)."""
        batch, length, _ = x.shape
        return x.view(batch, length, self.num_heads, self.head_dim).transpose(1, 2)

    def forward(self, query, key, value, attn_mask=None, key_padding_mask=None):
        """Return (output (B, Lq, E), weights (B, H, Lq, Lk)); masks are True where blocked."""
        w_q, w_k, w_v = self.in_proj_weight.chunk(3)
        b_q, b_k, b_v = self.in_proj_bias.chunk(3)
        q = self.split_heads(torch.einsum("ble,fe->blf", query, w_q) + b_q)
        k = self.split_heads(torch.einsum("ble,fe->blf", key, w_k) + b_k)
        v = self.split_heads(torch.einsum("ble,fe->blf", value, w_v) + b_v)

        mask = None
        if attn_mask is not None:
            mask = attn_mask[None, None]  # (Lq, Lk) -> (1, 1, Lq, Lk)
        if key_padding_mask is not None:
            padding = key_padding_mask[:, None, None, :]  # (B, Lk) -> (B, 1, 1, Lk)
            mask = padding if mask is None else mask | padding

        heads, weights = scaled_dot_product_attention(q, k, v, mask)  # (B, H, Lq, head_dim)
        batch, _, length, _ = heads.shape
        merged = heads.transpose(1, 2).reshape(batch, length, self.embed_dim)
        return self.out_proj(merged), weights


def attention_heatmap(weights, query_labels, key_labels, path):
    """Draw weights (Lq, Lk) as a heatmap with labelled axes, save it as a PNG at path, return the path."""
    weights = weights.detach().cpu().numpy()
    figure, axes = plt.subplots(figsize=(1 + 0.6 * len(key_labels), 1 + 0.6 * len(query_labels)))
    image = axes.imshow(weights, cmap="viridis", vmin=0.0, vmax=1.0)
    axes.set_xticks(range(len(key_labels)), key_labels, rotation=45)
    axes.set_yticks(range(len(query_labels)), query_labels)
    axes.set_xlabel("key")
    axes.set_ylabel("query")
    figure.colorbar(image, ax=axes)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return Path(path)
