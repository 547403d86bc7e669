"""Checkpoint for lesson 2.1: a U-Net for denoising, checked by shapes, invariants and training."""

from __future__ import annotations

import copy

import torch
from torch.nn import functional as F

from ztf_tutor.checking import Measured, criterion, expect_close, fail, fmt

MODULE = "phase2.unet"

# Small convolutions run fastest on one thread, and a shared CPU gives the same speed every run.
torch.set_num_threads(1)
BASE, DEPTH = 8, 2


def generator(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def build(module, **settings):
    """Construct the learner's UNet with a fixed seed, so that every run starts from the same weights."""
    torch.manual_seed(0)
    return module.UNet(**settings)


def run_model(model, x: torch.Tensor) -> torch.Tensor:
    """Call the model, turning a shape error inside forward into a message about the levels."""
    try:
        return model(x)
    except RuntimeError as error:
        fail(f"UNet.forward raised on an input of shape {tuple(x.shape)}: {str(error).splitlines()[0]}. "
             "This usually means an upsampled tensor and its skip connection differ in height or width (take "
             "each skip from the encoder output before pooling, and pair the deepest skip with the first "
             "decoder), or a decoder's in_channels is not the upsampled channels plus the skip channels.")


def shapes_image(count: int, size: int, rng: torch.Generator) -> torch.Tensor:
    """Synthetic images: two discs or rectangles of random brightness in [0.5, 1] on black."""
    rows, cols = torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij")
    images = torch.zeros(count, 1, size, size)
    for index in range(count):
        for _ in range(2):
            row, col, radius, brightness, kind = torch.rand(5, generator=rng).tolist()
            row, col, radius = row * size, col * size, 2 + radius * size / 4
            if kind < 0.5:
                inside = (rows - row) ** 2 + (cols - col) ** 2 < radius**2
            else:
                inside = ((rows - row).abs() < radius) & ((cols - col).abs() < 0.7 * radius)
            images[index, 0][inside] = 0.5 + 0.5 * brightness
    return images


@criterion("UNet keeps the input's shape: (N, C, H, W) in, (N, out_channels, H, W) out, for several image sizes")
def output_shape(ctx):
    module = ctx.learner(MODULE)
    cases = [((2, 1, 16, 16), {}), ((1, 1, 32, 32), {}), ((2, 1, 24, 40), {}),
             ((2, 3, 16, 24), {"in_channels": 3, "out_channels": 3})]
    for shape, settings in cases:
        model = build(module, **settings).eval()
        with torch.no_grad():
            output = run_model(model, torch.randn(*shape))
        expected = (shape[0], settings.get("out_channels", 1), *shape[2:])
        if tuple(output.shape) != expected:
            fail(f"UNet({settings or ''}) maps {shape} to {tuple(output.shape)}; expected {expected}. Pad the 3×3 "
                 "convolutions with padding=1 and make each upsampling exactly undo one pooling.",
                 measured=str(tuple(output.shape)), threshold=f"= {expected}")
    return Measured("4 input shapes preserved", "output shape = input shape")


def level_shapes(model, x: torch.Tensor) -> dict[str, tuple[int, ...]]:
    """Record the output shape of every encoder, the bottleneck and every decoder with forward hooks."""
    seen: dict[str, tuple[int, ...]] = {}
    handles = []
    for name in ("encoders", "decoders"):
        for index, block in enumerate(getattr(model, name)):
            handles.append(block.register_forward_hook(
                lambda _m, _i, out, key=f"{name}[{index}]": seen.__setitem__(key, tuple(out.shape))))
    handles.append(model.bottleneck.register_forward_hook(
        lambda _m, _i, out: seen.__setitem__("bottleneck", tuple(out.shape))))
    try:
        with torch.no_grad():
            run_model(model, x)
    finally:
        for handle in handles:
            handle.remove()
    return seen


@criterion("Every level has the expected shape: encoder i gives 8·2^i channels at H/2^i, the bottleneck 32 at H/4, decoders mirror the encoders")
def level_shapes_match(ctx):
    module = ctx.learner(MODULE)
    model = build(module, base_channels=BASE, depth=DEPTH).eval()
    for name in ("encoders", "bottleneck", "decoders", "upsamples", "head"):
        if not hasattr(model, name):
            fail(f"UNet has no attribute {name!r}; the check finds the levels through encoders, bottleneck, "
                 "upsamples, decoders and head. Look at UNet.__init__.")
    if len(model.encoders) != DEPTH or len(model.decoders) != DEPTH:
        fail(f"UNet(depth={DEPTH}) has {len(model.encoders)} encoders and {len(model.decoders)} decoders; "
             f"it needs {DEPTH} of each.", measured=f"{len(model.encoders)}, {len(model.decoders)}",
             threshold=f"{DEPTH}, {DEPTH}")
    size = 16
    seen = level_shapes(model, torch.randn(2, 1, size, size))
    expected = {f"encoders[{level}]": (2, BASE * 2**level, size // 2**level, size // 2**level) for level in range(DEPTH)}
    expected["bottleneck"] = (2, BASE * 2**DEPTH, size // 2**DEPTH, size // 2**DEPTH)
    for index in range(DEPTH):
        level = DEPTH - 1 - index
        expected[f"decoders[{index}]"] = (2, BASE * 2**level, size // 2**level, size // 2**level)
    for key, shape in expected.items():
        if seen.get(key) != shape:
            fail(f"for an input (2, 1, {size}, {size}) with base_channels={BASE}, {key} outputs {seen.get(key)}; "
                 f"expected {shape}. Each level down doubles the channels and halves height and width; each "
                 "decoder returns to its encoder's channels and size.",
                 measured=f"{key}: {seen.get(key)}", threshold=f"= {shape}")
    return Measured(f"{len(expected)} levels match", "(N, 8·2^i, H/2^i, W/2^i)")


@criterion("Skip connections carry the image: with the bottleneck zeroed, the output still depends on the input")
def skips_carry(ctx):
    module = ctx.learner(MODULE)
    model = build(module).eval()
    first, second = torch.randn(1, 1, 16, 16, generator=generator(1)), torch.randn(1, 1, 16, 16, generator=generator(2))
    handle = model.bottleneck.register_forward_hook(lambda _m, _i, out: torch.zeros_like(out))
    try:
        with torch.no_grad():
            difference = (run_model(model, first) - run_model(model, second)).abs().max().item()
    finally:
        handle.remove()
    if not difference > 1e-4:
        fail(f"with the bottleneck's output replaced by zeros, two different inputs give outputs that differ by "
             f"only {difference:.2g}: nothing reaches the decoder except through the bottleneck. Concatenate each "
             "encoder's output (the skip connection) with the upsampled tensor: torch.cat([x, skip], dim=1).",
             measured=f"max |Δ output| = {fmt(difference)}", threshold="> 1e-4")
    with torch.no_grad():
        with_bottleneck = run_model(model, first)
        handle = model.bottleneck.register_forward_hook(lambda _m, _i, out: torch.zeros_like(out))
        try:
            without = run_model(model, first)
        finally:
            handle.remove()
    if not (with_bottleneck - without).abs().max().item() > 1e-4:
        fail("zeroing the bottleneck does not change the output: the decoder must start from the bottleneck's output.")
    return Measured(f"max |Δ output| = {fmt(difference)} with the bottleneck zeroed", "> 1e-4")


@criterion("The output layer is linear: a 1×1 head with zero weights and bias −1 outputs exactly −1")
def linear_output(ctx):
    module = ctx.learner(MODULE)
    model = build(module).eval()
    head = model.head
    if not isinstance(head, torch.nn.Conv2d) or head.kernel_size != (1, 1):
        fail(f"UNet.head is {head!r}; it must be nn.Conv2d(base_channels, out_channels, kernel_size=1).")
    with torch.no_grad():
        head.weight.zero_()
        head.bias.fill_(-1.0)
        output = run_model(model, torch.randn(2, 1, 16, 16))
    error = (output + 1).abs().max().item()
    if not error <= 1e-6:
        fail(f"with the head's weights set to 0 and its bias to −1 the output is {output.flatten()[0].item():.4g} "
             "instead of −1: a final activation (ReLU, sigmoid) follows the head. Remove it: denoised pixel "
             "values, and the noise around them, can be negative.",
             measured=f"output = {output.flatten()[0].item():.4g}", threshold="= −1")
    return Measured("output = −1 exactly", "= −1")


def reference_sgd_steps(model, clean: torch.Tensor, steps: int, lr: float) -> torch.nn.Module:
    """Two plain SGD steps on MSE(model(clean), clean) in training mode, as the check computes them."""
    model = copy.deepcopy(model).train()
    optimizer = torch.optim.SGD(model.parameters(), lr=lr)
    for _ in range(steps):
        loss = F.mse_loss(model(clean), clean)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return model


@criterion("train_step trains in training mode: two SGD steps equal the check's own within 1e-5")
def train_step_exact(ctx):
    module = ctx.learner(MODULE)
    model = build(module).eval()  # as denoise leaves it: train_step must switch back itself
    clean = shapes_image(4, 16, generator(3))
    expected = reference_sgd_steps(model, clean, 2, 0.1)
    first_expected = F.mse_loss(copy.deepcopy(model).train()(clean), clean).item()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    first = module.train_step(model, optimizer, clean, 0.0, generator(4))
    if not model.training:
        fail("after train_step the model is still in evaluation mode, so batch norm used its running statistics "
             "and did not update them. Call model.train() at the start of train_step.",
             measured="model.training = False", threshold="True")
    module.train_step(model, optimizer, clean, 0.0, generator(5))
    if not isinstance(first, float):
        fail(f"train_step returned {type(first).__name__}; return the loss as a Python float (loss.item()).")
    loss_error = abs(first - first_expected)
    if not loss_error <= 1e-5:
        fail(f"with noise_std=0, train_step returned a loss of {first:.6g}; the MSE between the model's output and "
             f"the clean images is {first_expected:.6g}. Compute F.mse_loss(model(noisy), clean).",
             measured=f"|loss − expected| = {fmt(loss_error)}", threshold="≤ 1e-5")
    expected_parameters = dict(expected.named_parameters())
    worst = max((parameter - expected_parameters[name]).abs().max().item() for name, parameter in model.named_parameters())
    return expect_close("max |parameter − reference after 2 steps|", worst, 1e-5,
                        f"after two train_step calls the parameters differ from two plain SGD steps by {worst:.3g}. "
                        "Call optimizer.zero_grad() before loss.backward() in every step, or gradients from the "
                        "previous step are added to the new ones; then call optimizer.step() once.")


@criterion("denoise runs in evaluation mode without gradients: an image's output does not depend on the rest of its batch")
def denoise_eval(ctx):
    module = ctx.learner(MODULE)
    model = build(module)
    clean = shapes_image(8, 16, generator(6))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    module.train_step(model, optimizer, clean, 0.3, generator(7))  # leaves the model in training mode
    noisy = clean + 0.3 * torch.randn(clean.shape, generator=generator(8))
    batch = module.denoise(model, noisy)
    alone = module.denoise(model, noisy[:1])
    if batch.requires_grad:
        fail("denoise returned a tensor that requires grad: it built a graph for nothing. Decorate denoise with "
             "@torch.no_grad() or wrap the call in `with torch.no_grad():`.")
    error = (batch[:1] - alone).abs().max().item()
    if not error <= 1e-5:
        fail(f"the first image denoised in a batch of 8 differs by {error:.3g} from the same image denoised alone: "
             "batch norm is still in training mode and normalises with the batch's statistics. Call model.eval() "
             "in denoise.", measured=f"max |batch − alone| = {fmt(error)}", threshold="≤ 1e-5")
    return Measured(f"max |batch − alone| = {fmt(error)}", "≤ 1e-5")


def train_and_measure(ctx, module, model, size: int, steps: int, noise_std: float, lr: float, device: str) -> tuple[float, float]:
    """Train with the learner's train_step on fresh synthetic shapes; return (denoised MSE, noisy MSE)."""
    model = model.to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    train_images = shapes_image(256, size, generator(10)).to(device)
    test_images = shapes_image(64, size, generator(11)).to(device)
    noisy = test_images + noise_std * torch.randn(test_images.shape, generator=generator(12)).to(device)
    rng = generator(13)
    for step in range(steps):
        batch = train_images[torch.randint(0, len(train_images), (32,), generator=rng).to(device)]
        loss = module.train_step(model, optimizer, batch, noise_std, torch.Generator(device=device).manual_seed(step))
        if step % 10 == 0:
            ctx.progress(step / steps, f"step {step}, loss {loss:.4f}")
    denoised = module.denoise(model, noisy)
    return F.mse_loss(denoised, test_images).item(), F.mse_loss(noisy, test_images).item()


@criterion("After 100 training steps on noisy synthetic shapes, denoise at least halves the noisy input's MSE")
def denoising_works(ctx):
    module = ctx.learner(MODULE)
    model = build(module)
    denoised, noisy = train_and_measure(ctx, module, model, 16, 100, 0.3, 3e-3, "cpu")
    ratio = denoised / noisy
    if not ratio < 0.5:
        fail(f"after 100 Adam steps (lr 3e-3, noise std 0.3) the denoised MSE is {denoised:.4f} against "
             f"{noisy:.4f} for the noisy input. Check that train_step compares the output with the clean images "
             "(not the noisy ones) and adds noise_std · N(0, 1) noise.",
             measured=f"MSE ratio = {ratio:.3f}", threshold="< 0.5")
    return Measured(f"MSE {noisy:.4f} → {denoised:.4f} (ratio {ratio:.3f})", "ratio < 0.5")


@criterion("On 32×32 shapes with noise std 0.5, a depth-3 U-Net trained for 400 steps cuts the MSE to a tenth",
           tiers=("full",))
def denoising_full(ctx):
    module = ctx.learner(MODULE)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    model = build(module, base_channels=16, depth=3)
    denoised, noisy = train_and_measure(ctx, module, model, 32, 400, 0.5, 2e-3, device)
    ratio = denoised / noisy
    if not ratio < 0.1:
        fail(f"after 400 Adam steps the denoised MSE is {denoised:.4f} against {noisy:.4f} for the noisy input "
             f"(ratio {ratio:.3f}). If the fast tier passes, look at the deeper levels: depth=3 adds a level whose "
             "skip and channels must follow the same rule.", measured=f"MSE ratio = {ratio:.3f}", threshold="< 0.1")
    return Measured(f"MSE {noisy:.4f} → {denoised:.4f} (ratio {ratio:.3f}) on {device}", "ratio < 0.1")
