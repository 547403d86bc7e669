"""Reference solution for lesson 3.3: a training loop with warmup, cosine decay, AdamW groups and clipping."""

import math
from dataclasses import dataclass

import torch


@dataclass
class TrainConfig:
    max_steps: int = 2000
    batch_size: int = 32
    block_size: int = 64
    max_lr: float = 1e-3
    min_lr: float = 1e-4
    warmup_steps: int = 100
    weight_decay: float = 0.1
    betas: tuple = (0.9, 0.95)
    grad_clip: float = 1.0
    eval_interval: int = 200
    eval_iters: int = 20


def lr_at(step, max_lr, min_lr, warmup_steps, max_steps):
    """Linear warmup from 0 to max_lr, then a cosine decay to min_lr at max_steps, then min_lr."""
    if step < warmup_steps:
        return max_lr * step / warmup_steps
    if step >= max_steps:
        return min_lr
    progress = (step - warmup_steps) / (max_steps - warmup_steps)
    return min_lr + 0.5 * (1.0 + math.cos(math.pi * progress)) * (max_lr - min_lr)


def configure_optimizer(model, lr, weight_decay, betas=(0.9, 0.95)):
    """AdamW with weight decay on matrices and embeddings only, none on biases and LayerNorm gains."""
    decay = [p for p in model.parameters() if p.requires_grad and p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.requires_grad and p.dim() < 2]
    groups = [
        {"params": decay, "weight_decay": weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]
    return torch.optim.AdamW(groups, lr=lr, betas=betas)


def clip_gradients(parameters, max_norm):
    """Scale all gradients together so that their global L2 norm is at most max_norm; return the norm before."""
    grads = [p.grad for p in parameters if p.grad is not None]
    if not grads:
        return 0.0
    total = torch.sqrt(sum((g.detach().double() ** 2).sum() for g in grads)).item()
    scale = max_norm / (total + 1e-6)
    if scale < 1.0:
        for g in grads:
            g.mul_(scale)
    return total


def get_batch(data, batch_size, block_size, generator=None):
    """Sample batch_size windows from a 1-D tensor of token ids; targets are the inputs shifted by one."""
    starts = torch.randint(0, len(data) - block_size, (batch_size,), generator=generator)
    x = torch.stack([data[s : s + block_size] for s in starts.tolist()])
    y = torch.stack([data[s + 1 : s + 1 + block_size] for s in starts.tolist()])
    return x, y


@torch.no_grad()
def estimate_loss(model, data, batch_size, block_size, eval_iters, generator=None):
    """Mean loss over eval_iters random batches in eval mode; the model's mode is restored afterwards."""
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    total = 0.0
    for _ in range(eval_iters):
        x, y = get_batch(data, batch_size, block_size, generator)
        _, loss = model(x.to(device), y.to(device))
        total += loss.item()
    model.train(was_training)
    return total / eval_iters


def train_step(model, optimizer, x, y, lr, grad_clip):
    """One optimisation step at learning rate lr; returns the loss before the step."""
    for group in optimizer.param_groups:
        group["lr"] = lr
    model.train()
    _, loss = model(x, y)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    clip_gradients(list(model.parameters()), grad_clip)
    optimizer.step()
    return loss.item()


def train(model, train_data, val_data, config, generator=None, on_eval=None):
    """Train for config.max_steps; return {"train_loss": [...], "val_loss": [(step, loss), ...]}."""
    device = next(model.parameters()).device
    optimizer = configure_optimizer(model, config.max_lr, config.weight_decay, config.betas)
    history = {"train_loss": [], "val_loss": []}
    for step in range(config.max_steps):
        lr = lr_at(step, config.max_lr, config.min_lr, config.warmup_steps, config.max_steps)
        x, y = get_batch(train_data, config.batch_size, config.block_size, generator)
        loss = train_step(model, optimizer, x.to(device), y.to(device), lr, config.grad_clip)
        history["train_loss"].append(loss)
        last = step == config.max_steps - 1
        if (step + 1) % config.eval_interval == 0 or last:
            val = estimate_loss(model, val_data, config.batch_size, config.block_size, config.eval_iters, generator)
            history["val_loss"].append((step + 1, val))
            if on_eval is not None:
                on_eval(step + 1, loss, val)
    return history
