"""Reference solution for lesson 1.3: an MLP classifier built from tensor operations."""

import math

import numpy as np
import torch

IDX_DTYPES = {0x08: np.uint8}


class Linear:
    """y = x @ weight.T + bias, with weight of shape (out_features, in_features)."""

    def __init__(self, in_features, out_features, generator=None):
        bound = 1 / math.sqrt(in_features)
        weight = (torch.rand(out_features, in_features, generator=generator) * 2 - 1) * bound
        bias = (torch.rand(out_features, generator=generator) * 2 - 1) * bound
        self.weight = weight.requires_grad_()
        self.bias = bias.requires_grad_()

    def __call__(self, x):
        return x @ self.weight.T + self.bias

    def parameters(self):
        return [self.weight, self.bias]


class ReLU:
    def __call__(self, x):
        return x.clamp(min=0)

    def parameters(self):
        return []


def cross_entropy(logits, targets):
    # Subtracting the row maximum keeps exp() from overflowing; it cancels in the ratio.
    shifted = logits - logits.max(dim=1, keepdim=True).values
    log_probs = shifted - shifted.exp().sum(dim=1, keepdim=True).log()
    picked = log_probs[torch.arange(len(targets)), targets]
    return -picked.mean()


class MLP:
    """Linear layers with ReLU between them; the last layer outputs raw logits."""

    def __init__(self, sizes, generator=None):
        self.layers = []
        for i in range(len(sizes) - 1):
            self.layers.append(Linear(sizes[i], sizes[i + 1], generator=generator))
            if i < len(sizes) - 2:
                self.layers.append(ReLU())

    def __call__(self, x):
        for layer in self.layers:
            x = layer(x)
        return x

    def parameters(self):
        return [p for layer in self.layers for p in layer.parameters()]


class SGD:
    def __init__(self, params, lr):
        self.params = list(params)
        self.lr = lr

    def zero_grad(self):
        for p in self.params:
            p.grad = None

    def step(self):
        with torch.no_grad():
            for p in self.params:
                if p.grad is not None:
                    p -= self.lr * p.grad


def train_step(model, optimizer, x, y):
    optimizer.zero_grad()
    loss = cross_entropy(model(x), y)
    loss.backward()
    optimizer.step()
    return loss.item()


def train_epoch(model, optimizer, x, y, batch_size, generator=None):
    order = torch.randperm(len(x), generator=generator)
    losses = []
    for start in range(0, len(x), batch_size):
        batch = order[start:start + batch_size]
        losses.append(train_step(model, optimizer, x[batch], y[batch]))
    return sum(losses) / len(losses)


def accuracy(model, x, y):
    with torch.no_grad():
        return (model(x).argmax(dim=1) == y).float().mean().item()


def read_idx(path):
    with open(path, "rb") as file:
        data = file.read()
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] not in IDX_DTYPES:
        raise ValueError(f"{path}: not an idx file (the first bytes are {data[:4].hex()}, expected 0000 08 nn)")
    ndim = data[3]
    header = 4 + 4 * ndim
    shape = tuple(int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim))
    expected = header + math.prod(shape)
    if len(data) != expected:
        raise ValueError(f"{path}: expected {expected} bytes for shape {shape}, found {len(data)}")
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(shape)
