"""Lesson 2.3: attention with einsum.

Write every function that raises NotImplementedError. `ztf check 2.3` (or saving this file
while `ztf start` runs) tells you which parts are correct. Run `ztf hint 2.3` when stuck.
Masks follow nn.MultiheadAttention's convention: a boolean True means "blocked, may not attend".
"""

import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # Write image files only; never open a window.

import matplotlib.pyplot as plt
import torch
from torch import nn


def scaled_dot_product_attention(q, k, v, mask=None):
    """Attend from every query to every key: softmax(q kᵀ / √d_k) v.

    Args:
        q: queries, shape (..., Lq, d_k); any leading batch or head axes.
        k: keys, shape (..., Lk, d_k).
        v: values, shape (..., Lk, d_v).
        mask: None, or a bool tensor broadcastable to (..., Lq, Lk); True marks a blocked pair,
            whose weight must be exactly 0.

    Returns:
        (output, weights): output (..., Lq, d_v) and weights (..., Lq, Lk), each row of weights
        summing to 1 over the keys. Write both products with torch.einsum.
    """
    raise NotImplementedError("scaled_dot_product_attention is not implemented yet")


class MultiHeadAttention(nn.Module):
    """Multi-head attention whose parameters load from nn.MultiheadAttention(batch_first=True).

    Parameters (the names and shapes torch uses, so load_state_dict works both ways):
        in_proj_weight: (3 * embed_dim, embed_dim), the query, key and value projections stacked
            in that order; in_proj_bias: (3 * embed_dim,);
        out_proj: an nn.Linear(embed_dim, embed_dim) applied after the heads are merged.
    """

    def __init__(self, embed_dim, num_heads):
        """Create the parameters; embed_dim must be divisible by num_heads."""
        super().__init__()
        raise NotImplementedError("MultiHeadAttention.__init__ is not implemented yet")

    def forward(self, query, key, value, attn_mask=None, key_padding_mask=None):
        """Project, split into heads, attend, merge the heads and project out.

        Args:
            query: (B, Lq, embed_dim); key and value: (B, Lk, embed_dim).
            attn_mask: None or bool (Lq, Lk), True where query i may not attend to key j.
            key_padding_mask: None or bool (B, Lk), True where a key is padding.

        Returns:
            (output, weights): output (B, Lq, embed_dim) and the per-head weights (B, num_heads, Lq, Lk).
        """
        raise NotImplementedError("MultiHeadAttention.forward is not implemented yet")


def attention_heatmap(weights, query_labels, key_labels, path):
    """Draw an attention matrix as a heatmap and save it as a PNG.

    Args:
        weights: a (Lq, Lk) tensor of attention weights; leave it unchanged.
        query_labels: Lq strings for the rows; key_labels: Lk strings for the columns.
        path: where to write the PNG.

    Returns:
        The path written, as a pathlib.Path. Close the figure before returning.
    """
    raise NotImplementedError("attention_heatmap is not implemented yet")
