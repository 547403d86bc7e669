"""Lesson 1.3, guided exercise: a training loop with three bugs.

This loop runs without an error and even prints falling numbers now and then, yet it does
not train a model properly. Find and fix the three bugs; `ztf check 1.3` has one criterion
per bug, so each fix turns one of them to pass. Do not change the signature of `fit`.
"""

import torch


def fit(model, optimizer, loss_fn, x, y, epochs, batch_size, generator=None):
    """Train for `epochs` passes over (x, y) and return the loss of every batch as floats.

    Args:
        model: a callable mapping a batch of inputs (B, features) to logits (B, classes),
            whose parameters the optimizer updates.
        optimizer: an object with `zero_grad()` and `step()`, like your SGD.
        loss_fn: a function (logits, targets) -> scalar tensor, like your cross_entropy.
        x: inputs, a tensor of shape (N, features).
        y: integer class labels, a tensor of shape (N,).
        epochs: how many passes over the data.
        batch_size: samples per step; the last batch of an epoch may be smaller.
        generator: a torch.Generator that makes the shuffling reproducible.

    Returns:
        A list with one Python float per step: the loss of that step's batch.
    """
    history = []
    for _ in range(epochs):
        x_shuffled = x[torch.randperm(len(x), generator=generator)]
        y_shuffled = y[torch.randperm(len(y), generator=generator)]
        for start in range(0, len(x), batch_size):
            xb = x_shuffled[start:start + batch_size]
            yb = y_shuffled[start:start + batch_size]
            loss = loss_fn(model(xb), yb)
            loss.backward()
            optimizer.step()
            history.append(loss)
    return history
