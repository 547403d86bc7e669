"""Lesson 3.1: a GPT language model from scratch.

Write every method that raises NotImplementedError. The check copies your weights into its own
GPT by parameter name, so keep the attribute names below. `ztf check 3.1` (or saving this file
while `ztf start` runs) shows which parts are correct; `ztf hint 3.1` helps when you are stuck.
"""

import math
from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F


@dataclass
class GPTConfig:
    """The sizes of a GPT. The defaults suit a character-level model trained on a CPU."""

    vocab_size: int = 65  # number of distinct tokens
    block_size: int = 64  # the longest sequence the model accepts (number of position embeddings)
    n_layer: int = 4  # transformer blocks
    n_head: int = 4  # attention heads per block; n_embd must be divisible by n_head
    n_embd: int = 128  # width C of the residual stream
    dropout: float = 0.0  # dropout probability, applied only in train mode
    bias: bool = True  # whether Linear layers and LayerNorms have a bias


class LayerNorm(nn.Module):
    """LayerNorm over the last axis: (x - mean) / sqrt(var + eps) * weight + bias.

    Attributes:
        weight: nn.Parameter of shape (ndim,), initialised to ones.
        bias: nn.Parameter of shape (ndim,) initialised to zeros, or None when bias=False.
    """

    def __init__(self, ndim, bias=True, eps=1e-5):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(ndim))
        self.bias = nn.Parameter(torch.zeros(ndim)) if bias else None

    def forward(self, x):
        """Normalise x (..., ndim) with the biased variance (divide by ndim, not ndim - 1)."""
        raise NotImplementedError("LayerNorm.forward is not implemented yet")


class CausalSelfAttention(nn.Module):
    """Multi-head self-attention in which position t attends only to positions 0..t.

    Create these attributes in __init__:
        c_attn: nn.Linear(n_embd, 3 * n_embd, bias=config.bias), producing q, k and v side by side.
        c_proj: nn.Linear(n_embd, n_embd, bias=config.bias), mixing the heads' outputs.
        attn_dropout, resid_dropout: nn.Dropout(config.dropout).
        a causal mask for block_size positions, registered with register_buffer(..., persistent=False).
    """

    def __init__(self, config):
        super().__init__()
        raise NotImplementedError("CausalSelfAttention.__init__ is not implemented yet")

    def forward(self, x):
        """Map x (B, T, C) to (B, T, C).

        Split c_attn(x) into q, k, v; reshape each to (B, n_head, T, head_size) with view then
        transpose(1, 2); scores = q @ k^T / sqrt(head_size); set scores above the diagonal to -inf;
        softmax over the last axis; dropout; weights @ v; put the heads back to (B, T, C); c_proj;
        dropout.
        """
        raise NotImplementedError("CausalSelfAttention.forward is not implemented yet")


class MLP(nn.Module):
    """The feed-forward part of a block: c_fc (C → 4C), exact GELU, c_proj (4C → C), dropout.

    Attributes: c_fc and c_proj (nn.Linear with bias=config.bias), dropout (nn.Dropout).
    """

    def __init__(self, config):
        super().__init__()
        raise NotImplementedError("MLP.__init__ is not implemented yet")

    def forward(self, x):
        """Return dropout(c_proj(gelu(c_fc(x)))), with the exact (erf) GELU: F.gelu(x)."""
        raise NotImplementedError("MLP.forward is not implemented yet")


class Block(nn.Module):
    """A pre-norm transformer block with attributes ln_1, attn, ln_2 and mlp.

    forward: x = x + attn(ln_1(x)), then x = x + mlp(ln_2(x)).
    """

    def __init__(self, config):
        super().__init__()
        raise NotImplementedError("Block.__init__ is not implemented yet")

    def forward(self, x):
        raise NotImplementedError("Block.forward is not implemented yet")


class GPT(nn.Module):
    """A decoder-only transformer that predicts the next token at every position.

    Attributes:
        config: the GPTConfig.
        wte: nn.Embedding(vocab_size, n_embd), the token embedding.
        wpe: nn.Embedding(block_size, n_embd), the position embedding.
        drop: nn.Dropout(config.dropout), applied to wte + wpe.
        blocks: nn.ModuleList of n_layer Block modules.
        ln_f: the final LayerNorm.
        lm_head: nn.Linear(n_embd, vocab_size, bias=False) whose weight IS wte.weight (tied).
    """

    def __init__(self, config):
        super().__init__()
        raise NotImplementedError("GPT.__init__ is not implemented yet")

    def _init_weights(self, module):
        """Initialise Linear and Embedding weights from N(0, 0.02²) and Linear biases to zero."""
        raise NotImplementedError("GPT._init_weights is not implemented yet")

    def forward(self, idx, targets=None):
        """Return (logits, loss) for token ids idx of shape (B, T).

        logits has shape (B, T, vocab_size). loss is the mean cross-entropy over all B·T
        positions when targets (B, T) is given, else None. Raise ValueError when T > block_size.
        """
        raise NotImplementedError("GPT.forward is not implemented yet")


def gpt_param_count(config):
    """Return the number of distinct parameters of GPT(config) from a closed formula.

    Work it out on paper from the shapes: do not build the model. The tied lm_head counts once.
    """
    raise NotImplementedError("gpt_param_count is not implemented yet")
