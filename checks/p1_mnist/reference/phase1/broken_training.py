"""Guided exercise of lesson 1.3, fixed: a minibatch training loop."""

import torch


def fit(model, optimizer, loss_fn, x, y, epochs, batch_size, generator=None):
    """Train for `epochs` passes over (x, y) and return the loss of every batch as floats."""
    history = []
    for _ in range(epochs):
        order = torch.randperm(len(x), generator=generator)
        x_shuffled, y_shuffled = x[order], y[order]
        for start in range(0, len(x), batch_size):
            xb = x_shuffled[start:start + batch_size]
            yb = y_shuffled[start:start + batch_size]
            optimizer.zero_grad()
            loss = loss_fn(model(xb), yb)
            loss.backward()
            optimizer.step()
            history.append(loss.item())
    return history
