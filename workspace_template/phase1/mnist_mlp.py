"""Lesson 1.3: an MNIST classifier from scratch, built from tensor operations.

Write every function and method that raises NotImplementedError. Use plain tensor
operations: `@`, `.exp()`, `.log()`, `.max()`, `.clamp()` and indexing. The check rejects
this file if it uses `nn.Linear`, `nn.Sequential`, `nn.ReLU`, `F.linear`, `torch.relu`,
`F.relu`, `F.cross_entropy`, `log_softmax`, `logsumexp` or `torch.optim`, because those
are what you are building.
`ztf check 1.3` (or saving while `ztf start` runs) shows which parts are correct.
"""

import math

import numpy as np
import torch


class Linear:
    """A fully connected layer: y = x @ weight.T + bias.

    Attributes:
        weight: a float32 tensor of shape (out_features, in_features) with requires_grad=True,
            drawn uniformly from [-1/√in_features, 1/√in_features].
        bias: a float32 tensor of shape (out_features,) with requires_grad=True, drawn from
            the same range.
    """

    def __init__(self, in_features, out_features, generator=None):
        """Create weight and bias; pass `generator` to every torch.rand call so runs repeat."""
        raise NotImplementedError("Linear.__init__ is not implemented yet")

    def __call__(self, x):
        """Map a batch x of shape (B, in_features) to (B, out_features)."""
        raise NotImplementedError("Linear.__call__ is not implemented yet")

    def parameters(self):
        """Return [weight, bias]."""
        raise NotImplementedError("Linear.parameters is not implemented yet")


class ReLU:
    """max(0, x), element by element. It has no parameters."""

    def __call__(self, x):
        """Return a tensor of the same shape with every negative entry replaced by 0."""
        raise NotImplementedError("ReLU.__call__ is not implemented yet")

    def parameters(self):
        """Return an empty list: ReLU learns nothing."""
        return []


def cross_entropy(logits, targets):
    """Return the mean cross-entropy loss of a batch, as a scalar tensor.

    Args:
        logits: float tensor of shape (B, C), raw scores for C classes.
        targets: int64 tensor of shape (B,), the correct class of each row.

    The loss of one row is log(Σⱼ exp(zⱼ)) − z_target. Subtract the row maximum before
    exp() so logits of 1000 do not overflow, and average over the batch.
    """
    raise NotImplementedError("cross_entropy is not implemented yet")


class MLP:
    """Linear layers with a ReLU between consecutive ones; the last layer outputs logits.

    MLP([64, 32, 10]) has the layers [Linear(64, 32), ReLU(), Linear(32, 10)].

    Attributes:
        layers: the list of Linear and ReLU objects, in order.
    """

    def __init__(self, sizes, generator=None):
        """Build the layers for consecutive pairs of `sizes`, passing `generator` to each Linear."""
        raise NotImplementedError("MLP.__init__ is not implemented yet")

    def __call__(self, x):
        """Apply every layer in order and return the logits."""
        raise NotImplementedError("MLP.__call__ is not implemented yet")

    def parameters(self):
        """Return all parameters, layer by layer (weight then bias)."""
        raise NotImplementedError("MLP.parameters is not implemented yet")


class SGD:
    """Plain stochastic gradient descent: p ← p − lr · ∂loss/∂p."""

    def __init__(self, params, lr):
        """Keep the list of parameters and the learning rate."""
        raise NotImplementedError("SGD.__init__ is not implemented yet")

    def zero_grad(self):
        """Clear every parameter's gradient (set .grad to None or to zeros)."""
        raise NotImplementedError("SGD.zero_grad is not implemented yet")

    def step(self):
        """Move every parameter against its gradient, in place, inside torch.no_grad()."""
        raise NotImplementedError("SGD.step is not implemented yet")


def train_step(model, optimizer, x, y):
    """Run one step: clear gradients, compute cross_entropy(model(x), y), backward, update.

    Returns the loss as a Python float.
    """
    raise NotImplementedError("train_step is not implemented yet")


def train_epoch(model, optimizer, x, y, batch_size, generator=None):
    """Shuffle the data with torch.randperm(len(x), generator=generator), run train_step on
    consecutive batches of `batch_size` (the last one may be smaller), and return the mean
    of the step losses as a float.
    """
    raise NotImplementedError("train_epoch is not implemented yet")


def accuracy(model, x, y):
    """Return the fraction of rows whose largest logit is the correct class, as a float."""
    raise NotImplementedError("accuracy is not implemented yet")


def read_idx(path):
    """Read an idx file (the MNIST format) and return its contents as a NumPy uint8 array.

    Layout: two zero bytes, a type byte (0x08 = unsigned byte), a byte with the number of
    dimensions n, then n big-endian 32-bit sizes, then the data in row-major order. Images
    have magic 2051 (0x00000803, shape (N, 28, 28)); labels 2049 (0x00000801, shape (N,)).

    Raise ValueError with the path in its message when the header is not an idx header or
    the file has fewer or more bytes than the header's sizes require.
    """
    raise NotImplementedError("read_idx is not implemented yet")
