"""Lesson 3.3: training a GPT with warmup, cosine decay, AdamW parameter groups and clipping.

Write every function that raises NotImplementedError. The fast check trains its own small GPT
with your functions, so this lesson does not depend on your 3.1 model; the full tier trains
your phase3/gpt.py on Tiny Shakespeare. `ztf hint 3.3` helps when you are stuck.
"""

import math
from dataclasses import dataclass

import torch


@dataclass
class TrainConfig:
    """Settings of one training run; train() reads every field."""

    max_steps: int = 2000
    batch_size: int = 32
    block_size: int = 64
    max_lr: float = 1e-3
    min_lr: float = 1e-4
    warmup_steps: int = 100
    weight_decay: float = 0.1
    betas: tuple = (0.9, 0.95)
    grad_clip: float = 1.0
    eval_interval: int = 200  # evaluate every eval_interval steps and after the last step
    eval_iters: int = 20  # batches averaged per evaluation


def lr_at(step, max_lr, min_lr, warmup_steps, max_steps):
    """Return the learning rate at step (counting from 0).

    step < warmup_steps: max_lr * step / warmup_steps (0 at step 0).
    warmup_steps <= step < max_steps: min_lr + 0.5 * (1 + cos(pi * progress)) * (max_lr - min_lr)
        with progress = (step - warmup_steps) / (max_steps - warmup_steps).
    step >= max_steps: min_lr.
    """
    raise NotImplementedError("lr_at is not implemented yet")


def configure_optimizer(model, lr, weight_decay, betas=(0.9, 0.95)):
    """Return torch.optim.AdamW with two parameter groups.

    Parameters with p.dim() >= 2 (weight matrices, embeddings) get weight_decay; all others
    (biases, LayerNorm weights) get weight_decay 0. Each parameter appears exactly once.
    """
    raise NotImplementedError("configure_optimizer is not implemented yet")


def clip_gradients(parameters, max_norm):
    """Scale all gradients together so that their global L2 norm is at most max_norm.

    The global norm is sqrt(sum of g**2 over every gradient). When it exceeds max_norm,
    multiply every gradient by max_norm / (norm + 1e-6). Return the norm before clipping,
    as a float. Parameters whose .grad is None are skipped. Do not call clip_grad_norm_.
    """
    raise NotImplementedError("clip_gradients is not implemented yet")


def get_batch(data, batch_size, block_size, generator=None):
    """Return (x, y), two (batch_size, block_size) tensors sampled from the 1-D tensor data.

    Draw starts s with torch.randint(0, len(data) - block_size, (batch_size,), generator=generator);
    x holds data[s : s + block_size] and y holds data[s + 1 : s + 1 + block_size].
    """
    raise NotImplementedError("get_batch is not implemented yet")


def estimate_loss(model, data, batch_size, block_size, eval_iters, generator=None):
    """Return the mean of model(x, y)[1].item() over eval_iters batches from get_batch.

    Run in eval mode and without gradients; leave the model in the mode it had before.
    """
    raise NotImplementedError("estimate_loss is not implemented yet")


def train_step(model, optimizer, x, y, lr, grad_clip):
    """Do one optimisation step at learning rate lr and return the loss as a float.

    Set lr in every param group, compute the loss, clear old gradients, backpropagate,
    clip_gradients(..., grad_clip), then optimizer.step().
    """
    raise NotImplementedError("train_step is not implemented yet")


def train(model, train_data, val_data, config, generator=None, on_eval=None):
    """Train model for config.max_steps steps and return its history.

    Each step: lr = lr_at(step, ...), a batch from get_batch on train_data (moved to the
    model's device), train_step. Every config.eval_interval steps and after the last step,
    estimate_loss on val_data and call on_eval(step_count, train_loss, val_loss) if given.
    Return {"train_loss": [loss per step], "val_loss": [(step_count, val_loss), ...]}.
    """
    raise NotImplementedError("train is not implemented yet")
