"""Checkpoint for lesson 1.3: Linear, ReLU, cross-entropy, SGD, an MLP and an idx parser from
tensor operations, then training on real handwritten digits, plus the broken-loop exercise."""

from __future__ import annotations

import ast
import math

import numpy as np
import torch
import torch.nn.functional as F

from ztf_tutor.checking import Measured, criterion, expect_close, fail, fmt, skip

MODULE = "phase1.mnist_mlp"
EXERCISE = "phase1.broken_training"
MODEL_FILE = "phase1/mnist_mlp.py"
TOLERANCE = 1e-10
DIGITS_BAR = 0.90
MNIST_BAR = 0.97

# Attribute and imported names that would do the lesson's work for the learner.
BANNED = {
    "Linear": "nn.Linear", "Sequential": "nn.Sequential", "ReLU": "nn.ReLU",
    "CrossEntropyLoss": "nn.CrossEntropyLoss", "NLLLoss": "nn.NLLLoss",
    "cross_entropy": "F.cross_entropy", "nll_loss": "F.nll_loss", "log_softmax": "log_softmax",
    "logsumexp": "logsumexp", "linear": "F.linear", "optim": "torch.optim", "relu": "torch.relu/F.relu",
}
# Banned as a method on any object (a tensor's .logsumexp()); the rest only under these modules.
ALWAYS_BANNED = {"cross_entropy", "nll_loss", "log_softmax", "logsumexp"}
TORCH_MODULES = {"torch", "nn", "F", "functional", "optim", "torch.nn", "nn.functional", "torch.nn.functional", "torch.optim"}

torch.set_num_threads(1)


def f64(tensor: torch.Tensor) -> torch.Tensor:
    return tensor.detach().to(torch.float64).clone().requires_grad_()


def learner_linear(module, fan_in: int, fan_out: int):
    layer = module.Linear(fan_in, fan_out, generator=torch.Generator().manual_seed(0))
    for name, shape in (("weight", (fan_out, fan_in)), ("bias", (fan_out,))):
        value = getattr(layer, name, None)
        if not isinstance(value, torch.Tensor):
            fail(f"Linear({fan_in}, {fan_out}) has no tensor attribute `{name}`. Look at Linear.__init__: "
                 f"store self.{name} as a tensor of shape {shape}.")
        if tuple(value.shape) != shape:
            hint = " It is transposed: weight is (out_features, in_features)." if tuple(value.shape) == shape[::-1] else ""
            fail(f"Linear({fan_in}, {fan_out}).{name} has shape {tuple(value.shape)}, expected {shape}.{hint} "
                 "Look at Linear.__init__.", measured=f"shape {tuple(value.shape)}", threshold=f"= {shape}")
        if not value.requires_grad:
            fail(f"Linear.{name} has requires_grad=False, so no gradient reaches it. Call .requires_grad_() on it in Linear.__init__.")
    return layer


@criterion("Linear stores weight (out, in) and bias (out,) and matches F.linear with copied weights")
def linear_matches(ctx):
    module = ctx.learner(MODULE)
    layer = learner_linear(module, 7, 5)
    weight = torch.randn(5, 7, dtype=torch.float64)
    bias = torch.randn(5, dtype=torch.float64)
    layer.weight, layer.bias = f64(weight), f64(bias)
    x = torch.randn(4, 7, dtype=torch.float64)
    got = layer(x)
    if not isinstance(got, torch.Tensor) or tuple(got.shape) != (4, 5):
        fail(f"Linear(7, 5) on input (4, 7) returned {getattr(got, 'shape', type(got).__name__)}; expected shape (4, 5). "
             "Look at Linear.__call__: x @ weight.T + bias.")
    expected = F.linear(x, weight, bias)
    if torch.allclose(got, x @ weight.T, atol=1e-9):
        fail("Linear's output equals x @ weight.T without the bias. Look at Linear.__call__: add self.bias.")
    error = (got - expected).abs().max().item()
    if error > TOLERANCE:
        fail(f"Linear(7, 5) differs from F.linear with the same weight and bias by {fmt(error)}. "
             "Look at Linear.__call__: the formula is x @ weight.T + bias.",
             measured=f"max |y − torch| = {fmt(error)}", threshold=f"≤ {fmt(TOLERANCE)}")
    params = layer.parameters()
    if len(params) != 2 or params[0] is not layer.weight or params[1] is not layer.bias:
        fail("Linear.parameters() must return [self.weight, self.bias] in that order, so the optimizer updates both.")
    return Measured(f"max |y − torch| = {fmt(error)}", f"≤ {fmt(TOLERANCE)}")


@criterion("Linear initialises its weights with a spread near 1/√in_features")
def linear_init_scale(ctx):
    module = ctx.learner(MODULE)
    fan_in = 400
    layer = learner_linear(module, fan_in, 300)
    ratio = layer.weight.detach().double().std().item() * math.sqrt(fan_in)
    if not 0.3 <= ratio <= 1.6:
        fail(f"Linear({fan_in}, 300).weight has std {layer.weight.detach().double().std().item():.4g}, which is "
             f"{ratio:.3g} × 1/√in_features. Too large and activations explode layer after layer; too small and "
             "they vanish. Look at Linear.__init__: draw uniformly from [-1/√in_features, 1/√in_features].",
             measured=f"std × √in = {ratio:.3g}", threshold="in [0.3, 1.6]")
    mean = layer.weight.detach().double().mean().item() * math.sqrt(fan_in)
    if abs(mean) > 0.05:
        fail(f"Linear's weights have mean {mean:.3g}/√in_features; they should be centred on 0. "
             "Look at Linear.__init__: torch.rand gives [0, 1), so scale it to [-1, 1) first.",
             measured=f"mean × √in = {mean:.3g}", threshold="|·| ≤ 0.05")
    return Measured(f"std × √in = {ratio:.3g}", "in [0.3, 1.6]")


@criterion("ReLU matches torch.relu, and its gradient is 0 for negative inputs")
def relu_matches(ctx):
    module = ctx.learner(MODULE)
    x = torch.tensor([[-2.0, -0.5, 0.0, 0.5, 3.0]], dtype=torch.float64, requires_grad=True)
    out = module.ReLU()(x)
    if not isinstance(out, torch.Tensor) or out.shape != x.shape:
        fail(f"ReLU on a (1, 5) tensor returned {getattr(out, 'shape', type(out).__name__)}. Look at ReLU.__call__: it keeps the shape.")
    expected = torch.relu(x.detach())
    if not torch.equal(out.detach(), expected):
        fail(f"ReLU({x.detach().tolist()[0]}) gave {out.detach().tolist()[0]}, expected {expected.tolist()[0]}. "
             "Look at ReLU.__call__: negative entries become 0, the rest stay.")
    out.sum().backward()
    grad = x.grad.tolist()[0]
    if grad[0] != 0 or grad[1] != 0 or grad[3] != 1 or grad[4] != 1:
        fail(f"the gradient of ReLU at {x.detach().tolist()[0]} is {grad}; expected [0, 0, ·, 1, 1]. "
             "Build ReLU from tensor operations that autograd can follow, such as x.clamp(min=0).")
    return Measured("exact match", "= torch.relu")


@criterion("cross_entropy matches F.cross_entropy and its gradient within 1e-10, averaged over the batch")
def cross_entropy_matches(ctx):
    module = ctx.learner(MODULE)
    logits = torch.randn(6, 4, dtype=torch.float64) * 3
    targets = torch.tensor([0, 3, 1, 1, 2, 0])
    mine = logits.clone().requires_grad_()
    loss = module.cross_entropy(mine, targets)
    if not isinstance(loss, torch.Tensor) or loss.dim() != 0:
        fail(f"cross_entropy returned {getattr(loss, 'shape', type(loss).__name__)}; it must return a scalar tensor "
             "(shape ()). Look at cross_entropy: average the per-row losses with .mean().")

    theirs = logits.clone().requires_grad_()
    expected = F.cross_entropy(theirs, targets)
    ratio = loss.item() / expected.item()
    if abs(ratio - len(targets)) < 1e-6:
        fail(f"your loss is {loss.item():.6g}, exactly {len(targets)} × PyTorch's {expected.item():.6g}: you sum the "
             "per-row losses. Take the mean over the batch so the step size does not depend on the batch size.",
             measured=f"loss / torch = {ratio:.4g}", threshold="= 1")
    error = abs(loss.item() - expected.item())
    if error > TOLERANCE:
        wrong_pick = F.cross_entropy(logits, targets.flip(0)).item()
        detail = " It matches the loss with targets reversed: index rows with torch.arange(B) and targets together." \
            if abs(loss.item() - wrong_pick) < 1e-9 else ""
        fail(f"cross_entropy gives {loss.item():.8g}, F.cross_entropy gives {expected.item():.8g} for the same logits.{detail} "
             "Look at cross_entropy: the loss of a row is log Σ exp(z) − z[target].",
             measured=f"|loss − torch| = {fmt(error)}", threshold=f"≤ {fmt(TOLERANCE)}")

    loss.backward()
    expected.backward()
    if mine.grad is None:
        fail("no gradient reached the logits. Build cross_entropy from differentiable tensor operations and do not call .item() or .detach() inside it.")
    grad_error = (mine.grad - theirs.grad).abs().max().item()
    return expect_close("max |grad − torch|", max(error, grad_error), TOLERANCE,
                        "the loss matches but the gradient does not. Look for a detached tensor in cross_entropy.")


@criterion("cross_entropy stays finite and exact for logits of ±1000")
def cross_entropy_stable(ctx):
    module = ctx.learner(MODULE)
    logits = torch.tensor([[1000.0, -1000.0, 0.0], [-1000.0, 999.0, 1000.0]], dtype=torch.float64)
    targets = torch.tensor([0, 1])
    loss = module.cross_entropy(logits, targets)
    expected = F.cross_entropy(logits, targets).item()
    value = float(loss)
    if not math.isfinite(value):
        fail(f"cross_entropy on logits of ±1000 gave {value}: exp(1000) overflows to inf. "
             "Subtract each row's maximum from the logits before exp(); it cancels out in log Σ exp.",
             measured=f"loss = {value}", threshold="finite")
    return expect_close("|loss − torch|", abs(value - expected), 1e-9,
                        f"cross_entropy on logits of ±1000 gave {value:.6g}, expected {expected:.6g}. "
                        "Look at how you add the row maximum back: log Σ exp(z) = m + log Σ exp(z − m).")


@criterion("MLP stacks Linear and ReLU layers and matches a PyTorch reference with copied weights")
def mlp_matches(ctx):
    module = ctx.learner(MODULE)
    model = module.MLP([9, 8, 6, 3], generator=torch.Generator().manual_seed(1))
    layers = getattr(model, "layers", None)
    kinds = [type(layer).__name__ for layer in layers or []]
    if kinds != ["Linear", "ReLU", "Linear", "ReLU", "Linear"]:
        fail(f"MLP([9, 8, 6, 3]).layers is {kinds}; expected ['Linear', 'ReLU', 'Linear', 'ReLU', 'Linear']. "
             "Look at MLP.__init__: a ReLU between consecutive Linear layers and none after the last, "
             "so the logits can be negative.")
    linears = [layer for layer, kind in zip(layers, kinds) if kind == "Linear"]
    weights = [(torch.randn(layer.weight.shape, dtype=torch.float64), torch.randn(layer.bias.shape, dtype=torch.float64))
               for layer in linears]
    for layer, (weight, bias) in zip(linears, weights):
        layer.weight, layer.bias = f64(weight), f64(bias)
    params = model.parameters()
    if len(params) != 6 or any(p is not q for p, q in zip(params, [t for layer in linears for t in (layer.weight, layer.bias)])):
        fail(f"MLP.parameters() returned {len(params)} tensors; expected the 6 weights and biases, layer by layer. "
             "Look at MLP.parameters: collect each layer's parameters().")
    x = torch.randn(5, 9, dtype=torch.float64)
    expected = x
    for i, (weight, bias) in enumerate(weights):
        expected = F.linear(expected, weight, bias)
        if i < len(weights) - 1:
            expected = torch.relu(expected)
    error = (model(x) - expected).abs().max().item()
    return expect_close("max |logits − torch|", error, TOLERANCE,
                        "MLP's logits differ from Linear → ReLU → Linear → ReLU → Linear with the same weights. "
                        "Look at MLP.__call__: apply every layer in order.")


@criterion("SGD.step moves each parameter by −lr × grad, and zero_grad clears the gradients")
def sgd_updates(ctx):
    module = ctx.learner(MODULE)
    p = torch.tensor([1.0, -2.0, 3.0], dtype=torch.float64, requires_grad=True)
    q = torch.tensor([[0.5, 0.25]], dtype=torch.float64, requires_grad=True)
    optimizer = module.SGD([p, q], lr=0.1)
    ((p**2).sum() + (q * 4).sum()).backward()
    optimizer.step()
    expected_p = torch.tensor([0.8, -1.6, 2.4], dtype=torch.float64)
    expected_q = torch.tensor([[0.1, -0.15]], dtype=torch.float64)
    if torch.allclose(p.detach(), torch.tensor([1.2, -2.4, 3.6], dtype=torch.float64)):
        fail("SGD.step moved p from [1, -2, 3] to [1.2, -2.4, 3.6], uphill: the update is p ← p − lr · grad, with a minus.")
    error = max((p.detach() - expected_p).abs().max().item(), (q.detach() - expected_q).abs().max().item())
    if error > TOLERANCE:
        fail(f"after one SGD step with lr 0.1, p = {p.detach().tolist()}, expected {expected_p.tolist()}. "
             "Look at SGD.step: update every parameter in place under torch.no_grad(): p -= lr * p.grad.",
             measured=f"max |p − expected| = {fmt(error)}", threshold=f"≤ {fmt(TOLERANCE)}")
    if not (p.is_leaf and q.is_leaf):
        fail("after SGD.step the parameters are no longer leaf tensors. Update them in place (p -= ...) inside torch.no_grad().")
    optimizer.zero_grad()
    leftover = [t.grad for t in (p, q) if t.grad is not None and t.grad.abs().max().item() != 0]
    if leftover:
        fail("after SGD.zero_grad() a parameter still has a non-zero .grad. Set each p.grad to None (or zero it) in SGD.zero_grad.")
    return Measured(f"max |p − expected| = {fmt(error)}", f"≤ {fmt(TOLERANCE)}")


def reference_steps(weights, batches, lr: float) -> list[torch.Tensor]:
    """Two SGD steps of a one-hidden-layer MLP in plain PyTorch; returns the final parameters."""
    params = [f64(t) for t in weights]
    for x, y in batches:
        for t in params:
            t.grad = None
        hidden = torch.relu(F.linear(x, params[0], params[1]))
        F.cross_entropy(F.linear(hidden, params[2], params[3]), y).backward()
        with torch.no_grad():
            for t in params:
                t -= lr * t.grad
    return params


@criterion("Two train_step calls match a PyTorch reference step for step")
def train_step_matches(ctx):
    module = ctx.learner(MODULE)
    model = module.MLP([6, 5, 3], generator=torch.Generator().manual_seed(2))
    weights = [torch.randn(5, 6, dtype=torch.float64), torch.randn(5, dtype=torch.float64),
               torch.randn(3, 5, dtype=torch.float64), torch.randn(3, dtype=torch.float64)]
    model.layers[0].weight, model.layers[0].bias = f64(weights[0]), f64(weights[1])
    model.layers[2].weight, model.layers[2].bias = f64(weights[2]), f64(weights[3])
    optimizer = module.SGD(model.parameters(), lr=0.5)

    batches = [(torch.randn(4, 6, dtype=torch.float64), torch.tensor([0, 2, 1, 2])) for _ in range(2)]
    losses = [module.train_step(model, optimizer, x, y) for x, y in batches]
    if not all(isinstance(loss, float) for loss in losses):
        fail(f"train_step returned {type(losses[0]).__name__}; it must return the loss as a Python float (loss.item()).")
    expected = reference_steps(weights, batches, 0.5)
    after_one = reference_steps(weights, batches[:1], 0.5)

    got = model.parameters()
    error = max((a.detach() - b.detach()).abs().max().item() for a, b in zip(got, expected))
    if error > 1e-9:
        # The first step matches but the second does not: the old gradient was still there.
        first = module.MLP([6, 5, 3])
        first.layers[0].weight, first.layers[0].bias = f64(weights[0]), f64(weights[1])
        first.layers[2].weight, first.layers[2].bias = f64(weights[2]), f64(weights[3])
        module.train_step(first, module.SGD(first.parameters(), lr=0.5), *batches[0])
        first_error = max((a.detach() - b.detach()).abs().max().item() for a, b in zip(first.parameters(), after_one))
        if first_error <= 1e-9:
            fail("one train_step matches PyTorch but two do not: the second step also used the first step's gradient. "
                 "Call optimizer.zero_grad() at the start of train_step, before backward().",
                 measured=f"max |param − torch| = {fmt(error)}", threshold="≤ 1e-9")
        fail(f"after one train_step the parameters differ from PyTorch's by {fmt(first_error)}. "
             "train_step must run zero_grad, cross_entropy(model(x), y), backward() and optimizer.step(), in that order.",
             measured=f"max |param − torch| = {fmt(first_error)}", threshold="≤ 1e-9")
    return Measured(f"max |param − torch| = {fmt(error)}", "≤ 1e-9")


def write_idx(path, array: np.ndarray, magic_ndim: int | None = None, truncate: int = 0) -> None:
    header = bytes([0, 0, 0x08, magic_ndim if magic_ndim is not None else array.ndim])
    header += b"".join(int(n).to_bytes(4, "big") for n in array.shape)
    data = header + array.astype(np.uint8).tobytes()
    path.write_bytes(data[:len(data) - truncate])


@criterion("read_idx parses idx image and label files written by the check, and rejects broken ones")
def idx_parser(ctx):
    module = ctx.learner(MODULE)
    rng = np.random.default_rng(3)
    images = rng.integers(0, 256, size=(7, 5, 3), dtype=np.uint8)  # 5 ≠ 3 catches swapped dimensions
    labels = rng.integers(0, 10, size=7, dtype=np.uint8)
    write_idx(ctx.scratch / "images.idx", images)
    write_idx(ctx.scratch / "labels.idx", labels)
    for name, expected in (("images.idx", images), ("labels.idx", labels)):
        try:
            got = np.asarray(module.read_idx(str(ctx.scratch / name)))
        except ValueError as error:
            fail(f"read_idx rejected the valid file {name} {expected.shape}: {error}. The header's sizes are big-endian "
                 "32-bit integers: read them with int.from_bytes(four_bytes, 'big'). Look at read_idx.")
        if got.shape != expected.shape:
            fail(f"read_idx({name}) returned shape {got.shape}; the header says {expected.shape}. "
                 "Look at read_idx: read one big-endian 4-byte size per dimension (int.from_bytes(..., 'big')).",
                 measured=f"shape {got.shape}", threshold=f"= {expected.shape}")
        if not np.array_equal(got, expected):
            fail(f"read_idx({name}) has the right shape but wrong values ({int((got != expected).sum())} differ). "
                 "Look at read_idx: the data starts right after the header, at byte 4 + 4 × ndim.")
    broken = {
        "truncated.idx": (images, None, 5, "is 5 bytes shorter than its header says"),
        "not_idx.idx": (images, 200, 0, "has a header byte of 200 dimensions, which is not an idx header"),
    }
    for name, (array, ndim, cut, what) in broken.items():
        write_idx(ctx.scratch / name, array, ndim, cut)
        try:
            module.read_idx(str(ctx.scratch / name))
        except ValueError as error:
            if name not in str(error):
                fail(f"read_idx raised ValueError for a file that {what}, but the message {str(error)!r} does not name "
                     "the file. Put the path in the message so the learner knows which download is broken.")
            continue
        except Exception as error:  # noqa: BLE001 - any other exception is the learner's bug to report
            fail(f"read_idx raised {type(error).__name__} for a file that {what}; raise ValueError naming the file instead.")
        fail(f"read_idx accepted a file that {what}. Check the header and compare the file size with "
             "4 + 4 × ndim + the product of the sizes; raise ValueError naming the file.")
    return Measured("2 files parsed exactly, 2 broken files rejected")


def dotted_name(node: ast.AST) -> str:
    """The dotted text of a Name/Attribute chain (torch.nn.functional), or "" for anything else."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        base = dotted_name(node.value)
        return f"{base}.{node.attr}" if base else ""
    return ""


def banned_uses(source: str) -> list[str]:
    """Lines where the source reaches for a torch shortcut the lesson has the learner write."""
    uses = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Attribute) and node.attr in BANNED:
            # `self.linear` is the learner's own name; only torch's modules and loss methods count.
            if node.attr in ALWAYS_BANNED or dotted_name(node.value) in TORCH_MODULES:
                uses.append(f"line {node.lineno}: {BANNED[node.attr]}")
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "torch":
            for alias in node.names:
                if alias.name in BANNED or (node.module or "").startswith("torch.optim"):
                    uses.append(f"line {node.lineno}: import of {alias.name} from {node.module}")
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("torch.optim"):
                    uses.append(f"line {node.lineno}: import of {alias.name}")
    return uses


@criterion("The model code uses no nn.Linear, nn.Sequential, F.cross_entropy or torch.optim")
def no_shortcuts(ctx):
    path = ctx.learner_file(MODEL_FILE)
    uses = banned_uses(path.read_text(encoding="utf-8"))
    if uses:
        fail(f"{MODEL_FILE} uses framework shortcuts that this lesson asks you to write yourself: {'; '.join(uses)}. "
             "Replace them with tensor operations (@, .exp(), .log(), .max(), .clamp()).",
             measured=f"{len(uses)} banned uses", threshold="= 0")
    ctx.learner(MODULE)  # the check only counts once the file also imports
    return Measured("0 banned uses", "= 0")


def digits_split() -> tuple[torch.Tensor, ...]:
    try:
        from sklearn.datasets import load_digits
    except ImportError:
        fail("this criterion trains on scikit-learn's digits, and scikit-learn is not installed. "
             "Run `pip install scikit-learn` (or `ztf doctor` to see every missing package).")
    digits = load_digits()
    x = torch.tensor(digits.data / 16.0, dtype=torch.float32)
    y = torch.tensor(digits.target, dtype=torch.int64)
    order = torch.randperm(len(x), generator=torch.Generator().manual_seed(0))
    test, train = order[:360], order[360:]
    return x[train], y[train], x[test], y[test]


def train_and_score(ctx, module, data, sizes, epochs: int, lr: float, batch_size: int, label: str) -> float:
    x_train, y_train, x_test, y_test = data
    generator = torch.Generator().manual_seed(0)
    model = module.MLP(sizes, generator=generator)
    optimizer = module.SGD(model.parameters(), lr=lr)
    for epoch in range(epochs):
        loss = module.train_epoch(model, optimizer, x_train, y_train, batch_size, generator=generator)
        if not math.isfinite(float(loss)):
            fail(f"the mean training loss became {loss} in epoch {epoch + 1} on {label}. "
                 "Look at Linear's initial scale and cross_entropy's stability.")
        ctx.progress((epoch + 1) / epochs, f"{label}: epoch {epoch + 1}/{epochs}, loss {float(loss):.4f}")
    return float(module.accuracy(model, x_test, y_test))


@criterion("Training MLP([64, 64, 10]) on scikit-learn's digits reaches 90% test accuracy", tiers=("fast",))
def digits_accuracy(ctx):
    module = ctx.learner(MODULE)
    score = train_and_score(ctx, module, digits_split(), [64, 64, 10], epochs=30, lr=0.1, batch_size=32,
                            label="digits")
    if not score >= DIGITS_BAR:
        fail(f"after 30 epochs (SGD, lr 0.1, batch 32) the test accuracy is {score:.1%}. Every part passing above "
             "and this failing points at train_epoch (shuffle x and y with the same permutation, visit every sample) "
             "or accuracy (argmax over dim 1).",
             measured=f"test accuracy = {score:.1%}", threshold=f"≥ {DIGITS_BAR:.0%}")
    return Measured(f"test accuracy = {score:.1%}", f"≥ {DIGITS_BAR:.0%}")


def mnist_folder(ctx):
    folder = (ctx.data_dir / "mnist") if ctx.data_dir else None
    names = ["train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"]
    if folder is None or not all((folder / name).is_file() for name in names):
        skip(f"real MNIST is not in {folder}. Run `ztf data get mnist` (about 11 MB) and check again with --tier full.")
    return folder


@criterion("Training on real MNIST reaches 97% test accuracy", tiers=("full",))
def mnist_accuracy(ctx):
    module = ctx.learner(MODULE)
    folder = mnist_folder(ctx)
    arrays = [np.asarray(module.read_idx(str(folder / name))) for name in
              ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")]
    shapes = [a.shape for a in arrays]
    if shapes != [(60000, 28, 28), (60000,), (10000, 28, 28), (10000,)]:
        fail(f"read_idx gave shapes {shapes} for the MNIST files; expected (60000, 28, 28), (60000,), (10000, 28, 28), (10000,).")
    data = (torch.tensor(arrays[0].reshape(60000, -1) / 255.0, dtype=torch.float32), torch.tensor(arrays[1], dtype=torch.int64),
            torch.tensor(arrays[2].reshape(10000, -1) / 255.0, dtype=torch.float32), torch.tensor(arrays[3], dtype=torch.int64))
    score = train_and_score(ctx, module, data, [784, 256, 10], epochs=10, lr=0.1, batch_size=64, label="MNIST")
    if not score >= MNIST_BAR:
        fail(f"after 10 epochs on MNIST (SGD, lr 0.1, batch 64) the test accuracy is {score:.2%}. The check scales "
             "read_idx's pixels by 1/255; if the digits criterion passes in the fast tier, compare read_idx's first "
             "image with the file's bytes 16 to 800 and look at train_epoch's shuffling.",
             measured=f"test accuracy = {score:.2%}", threshold=f"≥ {MNIST_BAR:.0%}")
    return Measured(f"test accuracy = {score:.2%}", f"≥ {MNIST_BAR:.0%}")


class SpyRun:
    """A check-side model, loss and optimizer that record what the learner's fit loop does with them."""

    def __init__(self, n: int = 23, features: int = 3, classes: int = 5) -> None:
        generator = torch.Generator().manual_seed(4)
        # Column 0 contains the sample's index, so every batch reveals which samples it contains.
        self.x = torch.cat([torch.arange(n, dtype=torch.float64)[:, None],
                            torch.randn(n, features - 1, dtype=torch.float64, generator=generator)], dim=1)
        self.y = (torch.arange(n) * 3) % classes
        self.weight = (torch.randn(classes, features, dtype=torch.float64, generator=generator) * 0.1).requires_grad_()
        self.bias = torch.zeros(classes, dtype=torch.float64, requires_grad=True)
        self.batches: list[tuple[list[int], list[int]]] = []
        self.inputs: list[torch.Tensor] = []
        self.expected_grads: list[torch.Tensor] | None = None
        self.problems: list[str] = []
        self.steps = 0

    def model(self, xb: torch.Tensor) -> torch.Tensor:
        self.inputs.append(xb)
        return xb @ self.weight.T + self.bias

    def loss_fn(self, logits: torch.Tensor, yb: torch.Tensor) -> torch.Tensor:
        indices = [int(round(v)) for v in self.inputs[-1][:, 0].tolist()]
        self.batches.append((indices, [int(v) for v in yb.tolist()]))
        loss = F.cross_entropy(logits, yb)
        self.expected_grads = [g.detach() for g in torch.autograd.grad(loss, [self.weight, self.bias], retain_graph=True)]
        return loss

    def zero_grad(self) -> None:
        self.weight.grad = None
        self.bias.grad = None

    def step(self) -> None:
        self.steps += 1
        with torch.no_grad():
            for param, expected in zip((self.weight, self.bias), self.expected_grads or []):
                if param.grad is None:
                    self.problems.append(f"at step {self.steps} the gradient was empty when step() ran")
                elif (param.grad - expected).abs().max().item() > 1e-10:
                    ratio = (param.grad.norm() / expected.norm()).item() if expected.norm() > 0 else float("nan")
                    self.problems.append(f"at step {self.steps} the gradient was {ratio:.3g} × this batch's own gradient")
                if param.grad is not None:
                    param -= 0.1 * param.grad

    def fit(self, ctx, epochs: int = 2, batch_size: int = 5):
        module = ctx.learner(EXERCISE)
        optimizer = self
        return module.fit(self.model, optimizer, self.loss_fn, self.x, self.y, epochs, batch_size,
                          generator=torch.Generator().manual_seed(5))


@criterion("broken_training.fit keeps each image with its label when it shuffles")
def exercise_alignment(ctx):
    spy = SpyRun()
    spy.fit(ctx)
    n = len(spy.y)
    for number, (indices, labels) in enumerate(spy.batches):
        expected = [int(spy.y[i]) for i in indices]
        if labels != expected:
            wrong = sum(a != b for a, b in zip(labels, expected))
            fail(f"in batch {number + 1}, {wrong} of {len(labels)} samples came with another sample's label. "
                 "Look at fit in phase1/broken_training.py: x and y are shuffled with two different permutations. "
                 "Draw one permutation per epoch and index both x and y with it.",
                 measured=f"{wrong} misaligned labels", threshold="= 0")
    seen = [i for indices, _ in spy.batches for i in indices]
    if sorted(seen) != sorted(list(range(n)) * 2):
        fail(f"over 2 epochs of {n} samples, fit fed {len(seen)} samples to the model, not each sample exactly once per epoch. "
             "Look at fit's batch loop in phase1/broken_training.py.")
    return Measured(f"{len(spy.batches)} batches, 0 misaligned labels", "= 0")


@criterion("broken_training.fit clears the gradients before each backward pass")
def exercise_zero_grad(ctx):
    spy = SpyRun()
    spy.fit(ctx)
    if spy.steps == 0:
        fail("fit never called optimizer.step(). Look at fit in phase1/broken_training.py.")
    if spy.problems:
        fail(f"{spy.problems[0]}. Gradients add up across backward() calls until something clears them: call "
             "optimizer.zero_grad() in fit in phase1/broken_training.py before loss.backward() on every batch.",
             measured=f"{len(spy.problems)} of {spy.steps} steps used a stale gradient", threshold="= 0")
    return Measured(f"{spy.steps} steps, each with its own batch's gradient", "0 stale")


@criterion("broken_training.fit returns one plain float per batch")
def exercise_history(ctx):
    spy = SpyRun()
    history = spy.fit(ctx)
    expected = 2 * math.ceil(len(spy.y) / 5)
    if not isinstance(history, list) or len(history) != expected:
        fail(f"fit returned {type(history).__name__} of length {len(history) if hasattr(history, '__len__') else '?'}; "
             f"expected a list of {expected} losses (2 epochs × {math.ceil(len(spy.y) / 5)} batches).")
    kinds = sorted({type(value).__name__ for value in history})
    if kinds != ["float"]:
        fail(f"fit's history holds {', '.join(kinds)} values. A loss tensor keeps its whole computation graph alive, "
             "so memory grows every step: append loss.item() in fit in phase1/broken_training.py.",
             measured=f"types {kinds}", threshold="float")
    return Measured(f"{len(history)} floats", f"= {expected}")
