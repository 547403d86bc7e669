"""Checkpoint for lesson 3.1: the learner's GPT against a check-side functional GPT with the same weights."""

from __future__ import annotations

import ast
import importlib.util
import math
import sys
from pathlib import Path

import torch

from ztf_tutor.checking import Measured, criterion, expect_close, fail, fmt

MODULE = "phase3.gpt"
FILE = "phase3/gpt.py"
BANNED = {
    "MultiheadAttention": "nn.MultiheadAttention",
    "scaled_dot_product_attention": "F.scaled_dot_product_attention",
    "LayerNorm": "nn.LayerNorm",
    "layer_norm": "F.layer_norm",
    "TransformerEncoderLayer": "nn.TransformerEncoderLayer",
    "TransformerDecoderLayer": "nn.TransformerDecoderLayer",
    "Transformer": "nn.Transformer",
}
# Small, odd sizes: head size 4 differs from the sequence length 13 and the vocabulary 11, so an
# axis mix-up cannot cancel out, and at C = 8 the unbiased variance is visibly wrong.
SMALL = dict(vocab_size=11, block_size=16, n_layer=2, n_head=2, n_embd=8, dropout=0.0)


def load_oracle():
    """Import oracle.py from this check's folder (checks are loaded by path, not as a package)."""
    name = "ztf_p3_gpt_oracle"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, Path(__file__).with_name("oracle.py"))
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


oracle = load_oracle()


def build(ctx, **overrides):
    """GPT(GPTConfig(...)) from the learner's module, in float64 and eval mode."""
    module = ctx.learner(MODULE)
    settings = {**SMALL, "bias": True, **overrides}
    model = module.GPT(module.GPTConfig(**settings))
    return model.double().eval(), settings


def expected_shapes(s: dict) -> dict[str, tuple[int, ...]]:
    C, V = s["n_embd"], s["vocab_size"]
    shapes = {"wte.weight": (V, C), "wpe.weight": (s["block_size"], C), "ln_f.weight": (C,), "lm_head.weight": (V, C)}
    layers = {"ln_1.weight": (C,), "ln_2.weight": (C,), "attn.c_attn.weight": (3 * C, C), "attn.c_proj.weight": (C, C),
              "mlp.c_fc.weight": (4 * C, C), "mlp.c_proj.weight": (C, 4 * C)}
    if s["bias"]:
        shapes["ln_f.bias"] = (C,)
        layers.update({"ln_1.bias": (C,), "ln_2.bias": (C,), "attn.c_attn.bias": (3 * C,), "attn.c_proj.bias": (C,),
                       "mlp.c_fc.bias": (4 * C,), "mlp.c_proj.bias": (C,)})
    for i in range(s["n_layer"]):
        shapes.update({f"blocks.{i}.{name}": shape for name, shape in layers.items()})
    return shapes


def learner_params(model) -> dict[str, torch.Tensor]:
    return {name: p for name, p in model.named_parameters(remove_duplicate=False)}


def spread_weights(model, seed: int) -> None:
    """Give every parameter, LayerNorm gains and biases included, a distinct random value."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=generator, dtype=p.dtype) * 0.4 + (1.0 if p.dim() == 1 else 0.0) * 0.5)


def tokens(batch: int, length: int, vocab: int, seed: int) -> torch.Tensor:
    return torch.randint(0, vocab, (batch, length), generator=torch.Generator().manual_seed(seed))


@criterion("gpt.py defines GPTConfig, GPT and gpt_param_count, and GPT has the parameter names and shapes of the lesson")
def structure(ctx):
    module = ctx.learner(MODULE)
    for name in ("GPTConfig", "GPT", "gpt_param_count"):
        if not hasattr(module, name):
            fail(f"phase3/gpt.py has no `{name}`. Define it with the signature given in the Build-Along.")
    for bias in (True, False):
        model, settings = build(ctx, bias=bias)
        got = {name: tuple(p.shape) for name, p in learner_params(model).items()}
        expected = expected_shapes(settings)
        missing = sorted(set(expected) - set(got))
        extra = sorted(set(got) - set(expected))
        if missing or extra:
            fail(f"with bias={bias}, GPT's parameters differ from the lesson's names. Missing: {missing[:6]}; "
                 f"unexpected: {extra[:6]}. Use the attribute names of the Build-Along (wte, wpe, blocks, ln_1, "
                 f"attn.c_attn, attn.c_proj, ln_2, mlp.c_fc, mlp.c_proj, ln_f, lm_head); with bias=False, Linear "
                 f"layers and LayerNorm have no bias.", measured=f"{len(missing)} missing, {len(extra)} unexpected")
        wrong = [(name, got[name], shape) for name, shape in expected.items() if got[name] != shape]
        if wrong:
            name, have, want = wrong[0]
            fail(f"{name} has shape {have}; it should be {want} for n_embd={settings['n_embd']}, "
                 f"vocab_size={settings['vocab_size']}. Look at the module that owns it.",
                 measured=f"{name}: {have}", threshold=f"{want}")
    return Measured(f"{len(expected_shapes({**SMALL, 'bias': True}))} named parameters with the right shapes")


@criterion("The model builds attention and LayerNorm itself: no nn.MultiheadAttention, F.scaled_dot_product_attention or nn.LayerNorm")
def from_scratch(ctx):
    module = ctx.learner(MODULE)  # first, so that a syntax error is reported with its location
    path = ctx.learner_file(FILE)
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    for node in ast.walk(tree):
        found = None
        if isinstance(node, ast.Attribute) and node.attr in BANNED:
            found = node.attr
        elif isinstance(node, ast.ImportFrom):
            found = next((alias.name for alias in node.names if alias.name in BANNED), None)
        if found:
            fail(f"phase3/gpt.py line {node.lineno} uses {BANNED[found]}. This lesson is about writing it: "
                 f"build it from tensor operations (matmul, softmax, mean) instead.", measured=BANNED[found], threshold="not used")
    # The scan alone would pass an empty stub, so also run the two modules it is about.
    config = module.GPTConfig(**SMALL, bias=True)
    module.LayerNorm(8)(torch.randn(2, 8))
    module.CausalSelfAttention(config)(torch.randn(2, 5, 8))
    return Measured("no built-in attention or LayerNorm")


def compare_to_oracle(model, settings: dict, idx: torch.Tensor) -> tuple[float, torch.Tensor, dict]:
    params = {name: p.detach() for name, p in model.state_dict().items()}
    with torch.no_grad():
        logits, _ = model(idx)
        expected = oracle.oracle_logits(params, settings["n_layer"], settings["n_head"], idx)
    if tuple(logits.shape) != tuple(expected.shape):
        fail(f"GPT(idx) for idx of shape {tuple(idx.shape)} returned logits of shape {tuple(logits.shape)}; "
             f"expected {tuple(expected.shape)} (batch, time, vocab_size). Look at GPT.forward.")
    return (logits - expected).abs().max().item(), logits, params


def name_the_mistake(logits: torch.Tensor, params: dict, settings: dict, idx: torch.Tensor) -> str:
    for mistake, explanation in oracle.SIGNATURES:
        with torch.no_grad():
            candidate = oracle.oracle_logits(params, settings["n_layer"], settings["n_head"], idx, mistake)
        if (logits - candidate).abs().max().item() < 1e-8:
            return f"Your logits match a GPT in which {explanation}."
    return ("Compare your code with the Build-Along step by step: pre-norm blocks, biased LayerNorm variance, "
            "heads split with view then transpose(1, 2), scores divided by sqrt(head_size), the causal mask, "
            "exact GELU, and ln_f before lm_head.")


@criterion("Logits match a reference GPT with the same weights within 1e-10 in float64 and 1e-5 in float32")
def matches_oracle(ctx):
    worst = 0.0
    for seed, bias in ((1, True), (2, False)):
        model, settings = build(ctx, bias=bias)
        spread_weights(model, seed)
        idx = tokens(3, 13, settings["vocab_size"], seed)
        error, logits, params = compare_to_oracle(model, settings, idx)
        if not error <= 1e-10:
            fail(f"with bias={bias}, the logits differ from the reference GPT with your weights by {fmt(error)}. "
                 + name_the_mistake(logits, params, settings, idx),
                 measured=f"max |logits − reference| = {fmt(error)}", threshold="≤ 1e-10")
        worst = max(worst, error)

    model, settings = build(ctx)
    spread_weights(model, 3)
    model = model.float()
    idx = tokens(2, 16, settings["vocab_size"], 3)
    error32, _, _ = compare_to_oracle(model, settings, idx)
    if not error32 <= 1e-5:
        fail(f"in float64 your GPT matches, but in float32 its logits differ by {fmt(error32)}. Look for a constant "
             f"created as float64 (torch.tensor(..., dtype=torch.float64)) or an eps added in the wrong place.",
             measured=f"float32 max error = {fmt(error32)}", threshold="≤ 1e-5")
    return Measured(f"float64 {fmt(worst)}, float32 {fmt(error32)}", "≤ 1e-10, ≤ 1e-5")


@criterion("The loss is the mean cross-entropy of the logits over every position, and None without targets")
def loss_value(ctx):
    model, settings = build(ctx)
    spread_weights(model, 4)
    idx = tokens(3, 12, settings["vocab_size"], 4)
    targets = tokens(3, 12, settings["vocab_size"], 5)
    logits, loss = model(idx, targets)
    if loss is None:
        fail("GPT(idx, targets) returned loss None. When targets are given, return the cross-entropy. Look at GPT.forward.")
    expected = oracle.expected_loss(logits.detach(), targets)
    error = abs(loss.item() - expected.item())
    if not error <= 1e-10:
        last_only = oracle.expected_loss(logits.detach()[:, -1:], targets[:, -1:])
        hint = (" It matches the loss of the last position only: average over all B·T positions."
                if abs(loss.item() - last_only.item()) < 1e-10 else
                " Flatten logits to (B·T, vocab) and targets to (B·T,) and take the mean cross-entropy.")
        fail(f"GPT(idx, targets) gave loss {loss.item():.6f}; the mean cross-entropy of its own logits is "
             f"{expected.item():.6f}.{hint} Look at GPT.forward.",
             measured=f"|loss − expected| = {fmt(error)}", threshold="≤ 1e-10")
    _, none_loss = model(idx)
    if none_loss is not None:
        fail(f"GPT(idx) without targets returned loss {none_loss!r}; it should be None. Look at GPT.forward.")
    return Measured(f"|loss − expected| = {fmt(error)}", "≤ 1e-10")


@criterion("Every parameter gets a nonzero gradient from the loss")
def gradients_flow(ctx):
    model, settings = build(ctx)
    spread_weights(model, 6)
    model.train()
    idx = tokens(2, 10, settings["vocab_size"], 6)
    _, loss = model(idx, tokens(2, 10, settings["vocab_size"], 7))
    loss.backward()
    dead = [name for name, p in model.named_parameters() if p.grad is None or p.grad.abs().max().item() == 0.0]
    if dead:
        fail(f"after loss.backward(), these parameters have no gradient: {dead[:5]}. Each must take part in the "
             f"forward pass; look for a module that is created but never called, or a tensor that is detached.",
             measured=f"{len(dead)} without gradient", threshold="0")
    return Measured("all parameters receive a gradient")


@criterion("Changing the tokens after position t leaves the logits at positions 0..t bit-identical")
def causality(ctx):
    model, settings = build(ctx)
    spread_weights(model, 8)
    idx = tokens(2, 14, settings["vocab_size"], 8)
    with torch.no_grad():
        base, _ = model(idx)
        for t in (0, 5, 12):
            changed = idx.clone()
            changed[:, t + 1:] = (changed[:, t + 1:] + 3) % settings["vocab_size"]
            other, _ = model(changed)
            if not torch.equal(base[:, : t + 1], other[:, : t + 1]):
                diff = (base[:, : t + 1] - other[:, : t + 1]).abs().max().item()
                fail(f"changing tokens after position {t} changed the logits at positions ≤ {t} by {fmt(diff)}, so "
                     f"the model looks into the future. Look at the mask in CausalSelfAttention.forward: position t "
                     f"may attend to 0..t only (torch.tril, masked_fill with -inf before the softmax).",
                     measured=f"max change = {fmt(diff)}", threshold="= 0 (bit-identical)")
    return Measured("max change = 0", "= 0 (bit-identical)")


@criterion("lm_head.weight and wte.weight are one shared tensor (weight tying)")
def weight_tying(ctx):
    model, _ = build(ctx)
    if model.lm_head.weight is not model.wte.weight:
        fail("lm_head.weight and wte.weight are two different tensors. Tie them in GPT.__init__ with "
             "`self.lm_head.weight = self.wte.weight`, so that the output layer reuses the token embedding.",
             measured="two tensors", threshold="one tensor")
    return Measured("one tensor")


@criterion("The number of parameters equals gpt_param_count(config) and the closed form, with and without biases")
def parameter_count(ctx):
    module = ctx.learner(MODULE)
    configs = [
        dict(vocab_size=11, block_size=16, n_layer=2, n_head=2, n_embd=8, bias=True),
        dict(vocab_size=11, block_size=16, n_layer=2, n_head=2, n_embd=8, bias=False),
        dict(vocab_size=50, block_size=32, n_layer=3, n_head=4, n_embd=24, bias=True),
    ]
    for settings in configs:
        config = module.GPTConfig(**settings, dropout=0.0)
        actual = sum(p.numel() for p in module.GPT(config).parameters())
        closed_form = oracle.expected_param_count(settings["vocab_size"], settings["block_size"], settings["n_layer"],
                                                  settings["n_embd"], settings["bias"])
        if actual != closed_form:
            fail(f"GPT({settings}) has {actual} parameters; the closed form gives {closed_form}. Look at which "
                 f"modules exist and whether the embedding is counted twice.", measured=f"{actual}", threshold=f"= {closed_form}")
        formula = module.gpt_param_count(config)
        if formula != closed_form:
            fail(f"gpt_param_count for {settings} returned {formula}; the model has {closed_form}. Per block count "
                 f"12·C² weights, plus 13·C biases and LayerNorm parameters (2·C without biases); add the two "
                 f"embeddings and the final LayerNorm, and count the tied lm_head once.",
                 measured=f"{formula}", threshold=f"= {closed_form}")
    return Measured(f"{len(configs)} configurations agree")


@criterion("The loss at initialisation is within 0.1 of ln(vocab_size)")
def initial_loss(ctx):
    module = ctx.learner(MODULE)
    torch.manual_seed(0)
    config = module.GPTConfig(vocab_size=65, block_size=32, n_layer=2, n_head=4, n_embd=64, dropout=0.0, bias=True)
    model = module.GPT(config).eval()
    idx = tokens(8, 32, 65, 9)
    with torch.no_grad():
        _, loss = model(idx, tokens(8, 32, 65, 10))
    return expect_close(
        "|loss − ln 65|", abs(loss.item() - math.log(65)), 0.1,
        f"a fresh GPT gives loss {loss.item():.3f}; a model that knows nothing should predict every token with "
        f"probability about 1/65, which is loss ln 65 = {math.log(65):.3f}. The initial weights are too large: "
        f"initialise Linear and Embedding weights from N(0, 0.02²) and biases at zero (GPT._init_weights).",
    )


@criterion("Eval-mode forwards repeat exactly, and dropout changes the output only in train mode")
def dropout_modes(ctx):
    model, settings = build(ctx, dropout=0.5)
    spread_weights(model, 11)
    idx = tokens(2, 12, settings["vocab_size"], 11)
    with torch.no_grad():
        first, _ = model.eval()(idx)
        second, _ = model(idx)
        if not torch.equal(first, second):
            fail("with dropout=0.5 in eval mode, two forward passes on the same input differ. Dropout must be off "
                 "in eval mode: use nn.Dropout modules, or pass training=self.training to F.dropout.",
                 measured="outputs differ", threshold="identical")
        model.train()
        third, _ = model(idx)
        fourth, _ = model(idx)
    if torch.equal(third, fourth):
        fail("with dropout=0.5 in train mode, two forward passes are identical, so dropout does nothing. Apply "
             "config.dropout after the embeddings, to the attention weights and after each residual branch.",
             measured="outputs identical", threshold="differ")
    return Measured("eval repeats exactly; train differs")


@criterion("A sequence longer than block_size raises ValueError")
def block_size_limit(ctx):
    model, settings = build(ctx)
    idx = tokens(1, settings["block_size"] + 1, settings["vocab_size"], 12)
    try:
        model(idx)
    except ValueError:
        return Measured(f"length {settings['block_size'] + 1} rejected")
    except Exception as error:
        fail(f"GPT(idx) with {settings['block_size'] + 1} tokens (block_size {settings['block_size']}) raised "
             f"{type(error).__name__}: {error}. Check the length first in GPT.forward and raise ValueError that "
             f"names block_size.")
    fail(f"GPT(idx) accepted {settings['block_size'] + 1} tokens although block_size is {settings['block_size']}. "
         f"Raise ValueError in GPT.forward when T > block_size.")
