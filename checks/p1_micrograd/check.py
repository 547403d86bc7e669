"""Checkpoint for lesson 1.2: the learner's micrograd engine against PyTorch in float64."""

from __future__ import annotations

import math
import random

import torch

from ztf_tutor.checking import Measured, criterion, expect_close, fail, fmt

MODULE = "phase1.micrograd"
TOLERANCE = 1e-6
# A correct engine reaches a loss near 0.001 on the 4-sample set in these steps, so the check stays
# fast. Gradients that pile up without zero_grad blow the loss up instead.
TRAIN_STEPS = 60
LEARNING_RATE = 0.1

# (name, function on two operands, where to look); operands are Values or torch scalars.
BINARY_OPS = [
    ("a + b", lambda a, b: a + b, "Value.__add__"),
    ("a * b", lambda a, b: a * b, "Value.__mul__"),
    ("a - b", lambda a, b: a - b, "Value.__sub__ and Value.__neg__"),
    ("a / b", lambda a, b: a / b, "Value.__truediv__ and Value.__pow__"),
    ("a ** 3", lambda a, b: a**3, "Value.__pow__"),
    ("a ** -2", lambda a, b: a**-2, "Value.__pow__"),
    ("2 + a", lambda a, b: 2 + a, "Value.__radd__"),
    ("3 * a", lambda a, b: 3 * a, "Value.__rmul__"),
    ("5 - a", lambda a, b: 5 - a, "Value.__rsub__"),
    ("2 / a", lambda a, b: 2 / a, "Value.__rtruediv__"),
    ("-a", lambda a, b: -a, "Value.__neg__"),
]
UNARY_OPS = [
    ("tanh", "Value.tanh: its derivative is 1 - tanh(x)², computed from the output t, not from x"),
    ("exp", "Value.exp: its derivative is exp(x), which is out.data"),
    ("relu", "Value.relu: the derivative is 1 where the output is positive and 0 elsewhere"),
]
POINTS = [(0.7, -1.3), (-0.4, 2.5), (1.9, 0.6)]


def torch_scalar(x: float) -> torch.Tensor:
    return torch.tensor(x, dtype=torch.float64, requires_grad=True)


def learner_grads(Value, op, x: float, y: float) -> tuple[float, float, float]:
    a, b = Value(x), Value(y)
    out = op(a, b)
    out.backward()
    if out.grad != 1.0:
        fail(
            f"after backward() the output's grad is {out.grad}, so every gradient "
            "starts from the wrong value. Look at Value.backward: set self.grad = 1.0 before walking the graph.",
            measured=f"out.grad = {out.grad}", threshold="= 1.0",
        )
    return out.data, a.grad, b.grad


def torch_grads(op, x: float, y: float) -> tuple[float, float, float]:
    a, b = torch_scalar(x), torch_scalar(y)
    out = op(a, b)
    out.backward()
    grad_b = b.grad.item() if b.grad is not None else 0.0
    return out.item(), a.grad.item(), grad_b


def apply_unary(value, name: str):
    if isinstance(value, torch.Tensor):
        return {"tanh": torch.tanh, "exp": torch.exp, "relu": torch.relu}[name](value)
    return getattr(value, name)()


@criterion("Forward values of +, -, *, /, ** and their reflected forms match Python arithmetic")
def forward_values(ctx):
    Value = ctx.learner(MODULE).Value
    worst = 0.0
    for label, op, where in BINARY_OPS:
        for x, y in POINTS:
            got = op(Value(x), Value(y))
            if not hasattr(got, "data"):
                fail(f"{label} returned {type(got).__name__}, not a Value. Look at {where}: it must return a new Value.")
            expected = op(x, y)
            error = abs(got.data - expected)
            if not error <= TOLERANCE * max(1.0, abs(expected)):
                fail(
                    f"{label} with a={x}, b={y}: got {got.data:.6g}, Python gives {expected:.6g}. Look at {where}.",
                    measured=f"|value − expected| = {fmt(error)}",
                    threshold=f"≤ {fmt(TOLERANCE)}",
                )
            worst = max(worst, error)
    return Measured(f"max |value − expected| = {fmt(worst)}", f"≤ {fmt(TOLERANCE)}")


@criterion("Gradients of every operation match PyTorch within 1e-6")
def operation_gradients(ctx):
    Value = ctx.learner(MODULE).Value
    worst = 0.0
    cases = [(label, op, where) for label, op, where in BINARY_OPS]
    cases += [(name, (lambda a, b, name=name: apply_unary(a, name)), where) for name, where in UNARY_OPS]
    for label, op, where in cases:
        for x, y in POINTS:
            _, grad_a, grad_b = learner_grads(Value, op, x, y)
            _, torch_a, torch_b = torch_grads(op, x, y)
            for variable, got, expected in (("a", grad_a, torch_a), ("b", grad_b, torch_b)):
                error = abs(got - expected)
                if not error <= TOLERANCE:
                    fail(
                        f"d/d{variable} of {label} at a={x}, b={y}: got {got:.6g}, PyTorch gives {expected:.6g}. Look at {where}.",
                        measured=f"|grad − torch| = {fmt(error)}",
                        threshold=f"≤ {fmt(TOLERANCE)}",
                    )
                worst = max(worst, error)
    return Measured(f"max |grad − torch| = {fmt(worst)}", f"≤ {fmt(TOLERANCE)}")


@criterion("backward() starts from a gradient of 1 at the output")
def output_seeded(ctx):
    Value = ctx.learner(MODULE).Value
    x = Value(1.5)
    out = x * 2
    out.backward()
    if out.grad != 1.0:
        fail(
            f"after out.backward(), out.grad is {out.grad}; it must be 1.0 because d(out)/d(out) = 1. "
            "Look at Value.backward: set self.grad = 1.0 before walking the graph.",
            measured=f"out.grad = {out.grad}", threshold="= 1.0",
        )
    if x.grad != 2.0:
        fail(f"for out = x * 2, x.grad is {x.grad}; it must be 2.0. Look at Value.backward.",
             measured=f"x.grad = {x.grad}", threshold="= 2.0")
    return Measured("out.grad = 1.0", "= 1.0")


@criterion("A node used twice accumulates its gradient (a*a, a+a, a diamond graph)")
def reused_nodes(ctx):
    Value = ctx.learner(MODULE).Value
    cases = [
        ("a * a", lambda a: a * a),
        ("a + a", lambda a: a + a),
        ("diamond: b = 2a, c = a + 1, out = b * c", lambda a: (a * 2) * (a + 1)),
        ("a * a * a", lambda a: a * a * a),
    ]
    for label, build in cases:
        for x in (0.8, -1.7):
            a = Value(x)
            build(a).backward()
            t = torch_scalar(x)
            build(t).backward()
            error = abs(a.grad - t.grad.item())
            if not error <= TOLERANCE:
                fail(
                    f"{label} at a={x}: a.grad is {a.grad:.6g}, PyTorch gives {t.grad.item():.6g}. A node used twice "
                    "must receive both contributions: use += in every _backward, never =.",
                    measured=f"|grad − torch| = {fmt(error)}", threshold=f"≤ {fmt(TOLERANCE)}",
                )
    return Measured("all 8 cases match", f"≤ {fmt(TOLERANCE)}")


def random_graph(rng: random.Random, leaves: list, unary):
    """Build a random expression in which earlier nodes are reused; returns the output."""
    nodes = list(leaves)
    for _ in range(25):
        a, b = rng.choice(nodes), rng.choice(nodes)
        kind = rng.randrange(5)
        if kind == 0:
            node = a + b
        elif kind == 1:
            node = a * b
        elif kind == 2:
            node = unary(a, "tanh")
        elif kind == 3:
            node = a - b * 0.5
        else:
            node = unary(a * 0.3, "exp")
        nodes.append(node)
    total = nodes[-1]
    for node in nodes[-6:-1]:
        total = total + node
    return total


@criterion("Random graphs with shared nodes match PyTorch within 1e-6, so backward() follows a topological order")
def random_graphs(ctx):
    Value = ctx.learner(MODULE).Value
    worst = 0.0
    for seed in range(20):
        xs = [random.Random(seed).uniform(-1, 1) + i * 0.1 for i in range(4)]
        values = [Value(x) for x in xs]
        out = random_graph(random.Random(seed), values, apply_unary)
        out.backward()
        tensors = [torch_scalar(x) for x in xs]
        random_graph(random.Random(seed), tensors, apply_unary).backward()
        for i, (value, tensor) in enumerate(zip(values, tensors)):
            expected = tensor.grad.item() if tensor.grad is not None else 0.0
            error = abs(value.grad - expected)
            scale = max(1.0, abs(expected))
            if not error <= TOLERANCE * scale:
                fail(
                    f"graph {seed}, leaf {i}: grad {value.grad:.6g}, PyTorch gives {expected:.6g}. "
                    "In graphs where nodes are shared, each _backward must run exactly once and only after every "
                    "node that uses it. Look at Value.backward: build a topological order with a visited set.",
                    measured=f"|grad − torch| = {fmt(error)}", threshold=f"≤ {fmt(TOLERANCE)} × max(1, |grad|)",
                )
            worst = max(worst, error / scale)
    return Measured(f"max relative |grad − torch| = {fmt(worst)}", f"≤ {fmt(TOLERANCE)}")


def copy_mlp_to_torch(mlp) -> list[tuple[torch.Tensor, torch.Tensor, bool]]:
    layers = []
    for index, layer in enumerate(mlp.layers):
        weight = torch.tensor([[w.data for w in neuron.w] for neuron in layer.neurons], dtype=torch.float64, requires_grad=True)
        bias = torch.tensor([neuron.b.data for neuron in layer.neurons], dtype=torch.float64, requires_grad=True)
        layers.append((weight, bias, index < len(mlp.layers) - 1))
    return layers


def torch_mlp(layers, x: list[float]) -> torch.Tensor:
    h = torch.tensor(x, dtype=torch.float64)
    for weight, bias, nonlinear in layers:
        h = weight @ h + bias
        if nonlinear:
            h = torch.tanh(h)
    return h


@criterion("An MLP built from Value matches PyTorch's forward pass and gradients within 1e-6")
def mlp_matches_torch(ctx):
    module = ctx.learner(MODULE)
    mlp = module.MLP(3, [4, 4, 1])
    n_params = len(mlp.parameters())
    if n_params != 41:
        fail(
            f"MLP(3, [4, 4, 1]) has {n_params} parameters; it should have 41 (16 + 20 + 5). "
            "Look at Neuron.parameters and Layer.parameters: each neuron owns n_inputs weights and one bias.",
            measured=f"{n_params} parameters", threshold="= 41",
        )
    # Spread the parameters, biases included, so that a wrong nonlinearity cannot hide near 0.
    rng = random.Random(7)
    for p in mlp.parameters():
        p.data = rng.uniform(-1.5, 1.5)
    layers = copy_mlp_to_torch(mlp)
    inputs = [[0.5, -1.2, 2.0], [1.5, 0.3, -0.7], [-2.0, 1.0, 0.2], [0.0, 0.0, 0.0]]
    for x in inputs:
        out = mlp(x)
        if not isinstance(out, list) or len(out) != 1:
            fail(f"MLP(3, [4, 4, 1])(x) returned {type(out).__name__} of length {len(out) if hasattr(out, '__len__') else '?'}; "
                 "it should be a list holding one Value. Look at MLP.__call__.")
        expected = torch_mlp(layers, x)
        forward_error = abs(out[0].data - expected[0].item())
        if not forward_error <= TOLERANCE:
            fail(
                f"for x = {x} the output is {out[0].data:.6g}, PyTorch gives {expected[0].item():.6g} with the same weights. "
                "Check that hidden layers apply tanh, the last layer is linear, and a neuron computes w · x + b.",
                measured=f"|output − torch| = {fmt(forward_error)}", threshold=f"≤ {fmt(TOLERANCE)}",
            )
    mlp.zero_grad()
    out[0].backward()
    expected[0].backward()
    torch_grads = [g for weight, bias, _ in layers for row_w, row_b in zip(weight.grad, bias.grad) for g in [*row_w.tolist(), row_b.item()]]
    worst = max(abs(p.grad - g) for p, g in zip(mlp.parameters(), torch_grads))
    return expect_close("max |grad − torch|", worst, TOLERANCE,
                        "parameter gradients differ from PyTorch's. Check MLP.parameters' order (layer by layer, "
                        "each neuron's weights then its bias) and that zero_grad resets every parameter.")


@criterion("Gradient descent on your MLP brings the loss on a small dataset below 0.05")
def mlp_trains(ctx):
    module = ctx.learner(MODULE)
    random.seed(0)
    mlp = module.MLP(3, [4, 4, 1])
    xs = [[2.0, 3.0, -1.0], [3.0, -1.0, 0.5], [0.5, 1.0, 1.0], [1.0, 1.0, -1.0]]
    ys = [1.0, -1.0, -1.0, 1.0]
    first_loss = loss_value = None
    for step in range(TRAIN_STEPS):
        predictions = [mlp(x)[0] for x in xs]
        loss = sum(((p - y) ** 2 for p, y in zip(predictions, ys)), module.Value(0.0))
        loss_value = loss.data
        first_loss = first_loss if first_loss is not None else loss_value
        mlp.zero_grad()
        loss.backward()
        for p in mlp.parameters():
            p.data -= LEARNING_RATE * p.grad
        ctx.progress((step + 1) / TRAIN_STEPS, f"step {step + 1}, loss {loss_value:.4f}")
        if not math.isfinite(loss_value):
            fail(f"the loss became {loss_value} at step {step}. Look for a gradient with the wrong sign or size.",
                 measured=f"loss = {loss_value}", threshold="< 0.05")
    if not loss_value < 0.05:
        fail(
            f"after {TRAIN_STEPS} steps of gradient descent (lr {LEARNING_RATE}) the loss went from {first_loss:.4f} to {loss_value:.4f}. "
            "Check MLP.zero_grad is called and resets every grad, and that parameters() returns every weight and bias.",
            measured=f"final loss = {loss_value:.4f}", threshold="< 0.05",
        )
    return Measured(f"loss {first_loss:.3f} → {loss_value:.4f}", "< 0.05")
