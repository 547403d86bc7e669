"""Checkpoint for lesson 2.3: attention with einsum against PyTorch's own, in float64."""

from __future__ import annotations

import ast
import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # Before the learner's module imports pyplot: no window may open in a check.

import torch
from torch import nn

from ztf_tutor.checking import Measured, criterion, expect_close, fail, fmt

MODULE = "phase2.attention"
SOURCE = "phase2/attention.py"
TOLERANCE = 1e-10
FLOAT32_TOLERANCE = 1e-5
EMBED_DIM, NUM_HEADS = 12, 3  # head size 4, different from both sequence lengths
QUERY_LEN, KEY_LEN = 5, 7
BANNED_ATTRIBUTES = {"MultiheadAttention", "scaled_dot_product_attention", "multi_head_attention_forward"}
HEATMAP_NAME = "2.3-attention-heatmap.png"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def generator(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def randn(*shape: int, seed: int, dtype=torch.float64) -> torch.Tensor:
    return torch.randn(*shape, generator=generator(seed), dtype=dtype)


def max_error(got: torch.Tensor, expected: torch.Tensor) -> float:
    return (got.detach().to(torch.float64) - expected.detach().to(torch.float64)).abs().max().item()


def oracle_attention(q, k, v, mask=None, scale=None, softmax_dim=-1):
    """Compute attention with the check's own code; scale and softmax_dim recompute known mistakes."""
    scores = q @ k.transpose(-2, -1) * (1 / math.sqrt(q.shape[-1]) if scale is None else scale)
    if mask is not None:
        scores = scores.masked_fill(mask, float("-inf"))
    weights = torch.softmax(scores, dim=softmax_dim)
    return weights @ v, weights


def call_attention(module, q, k, v, mask=None):
    """Call the learner's scaled_dot_product_attention and validate what it returns."""
    result = module.scaled_dot_product_attention(q, k, v, mask)
    if not (isinstance(result, tuple) and len(result) == 2):
        fail(f"scaled_dot_product_attention returned {type(result).__name__}; it must return a tuple "
             "(output, weights). Look at the return statement of scaled_dot_product_attention.")
    output, weights = result
    batch = tuple(q.shape[:-2])
    expected_out = (*batch, q.shape[-2], v.shape[-1])
    expected_weights = (*batch, q.shape[-2], k.shape[-2])
    if tuple(output.shape) != expected_out or tuple(weights.shape) != expected_weights:
        fail(f"for q {tuple(q.shape)}, k {tuple(k.shape)}, v {tuple(v.shape)} the output has shape "
             f"{tuple(output.shape)} and the weights {tuple(weights.shape)}; expected {expected_out} and "
             f"{expected_weights}. Scores are (..., Lq, Lk): contract q and k over d_k, then the weights "
             "and v over Lk.", measured=f"output {tuple(output.shape)}", threshold=f"= {expected_out}")
    return output, weights


def diagnose_attention(q, k, v, output) -> str:
    """Name the known mistake whose output matches the learner's, if one does."""
    d_k = q.shape[-1]
    suspects = [
        ("your output matches attention without the 1/√d_k scale: divide the scores by √d_k", 1.0, -1),
        ("your output matches scores divided by d_k instead of √d_k", 1 / d_k, -1),
        ("your output matches a softmax over the query axis: the weights must sum to 1 over the keys "
         "(the last axis), so use softmax(dim=-1)", None, -2),
    ]
    for text, scale, dim in suspects:
        wrong, _ = oracle_attention(q, k, v, scale=scale, softmax_dim=dim)
        if max_error(output, wrong) < 1e-8:
            return text
    return "compare your einsum subscripts with softmax(q kᵀ / √d_k) v, term by term"


@criterion("scaled_dot_product_attention matches softmax(QKᵀ/√d_k)·V within 1e-10 when query length ≠ key length")
def attention_matches(ctx):
    module = ctx.learner(MODULE)
    worst = 0.0
    cases = [((2, QUERY_LEN, 16), (2, KEY_LEN, 16), (2, KEY_LEN, 3)),
             ((2, 3, QUERY_LEN, 4), (2, 3, KEY_LEN, 4), (2, 3, KEY_LEN, 6))]
    for index, (q_shape, k_shape, v_shape) in enumerate(cases):
        q, k, v = randn(*q_shape, seed=10 + index), randn(*k_shape, seed=20 + index), randn(*v_shape, seed=30 + index)
        output, weights = call_attention(module, q, k, v)
        expected, expected_weights = oracle_attention(q, k, v)
        error = max(max_error(output, expected), max_error(weights, expected_weights))
        if not error <= TOLERANCE:
            fail(f"for q {q_shape}, k {k_shape}, v {v_shape}: {diagnose_attention(q, k, v, output)}. "
                 "Look at scaled_dot_product_attention.",
                 measured=f"max |output − torch| = {fmt(error)}", threshold=f"≤ {fmt(TOLERANCE)}")
        worst = max(worst, error)
    return Measured(f"max |output − torch| = {fmt(worst)}", f"≤ {fmt(TOLERANCE)}")


def random_mask(rows: int, cols: int, seed: int) -> torch.Tensor:
    """Draw a boolean mask (True = blocked) that leaves at least one key open in every row."""
    mask = torch.rand(rows, cols, generator=generator(seed)) < 0.4
    mask[torch.arange(rows), torch.arange(rows) % cols] = False
    return mask


@criterion("Attention weights sum to 1 over the keys, and masked entries are exactly 0")
def masked_weights(ctx):
    module = ctx.learner(MODULE)
    q, k, v = randn(2, QUERY_LEN, 8, seed=1), randn(2, KEY_LEN, 8, seed=2), randn(2, KEY_LEN, 5, seed=3)
    mask = random_mask(QUERY_LEN, KEY_LEN, seed=4)
    output, weights = call_attention(module, q, k, v, mask)
    leaked = weights.detach()[:, mask].abs().max().item()
    if leaked != 0.0:
        opened = weights.detach()[:, ~mask].abs().min().item()
        hint = (" Your weights are 0 where the mask is False, so the convention is reversed: True means blocked."
                if opened == 0.0 else "")
        fail(f"a weight where the mask is True is {leaked:.3g}; blocked entries must be exactly 0.{hint} "
             "Fill the blocked scores with -inf (masked_fill) before the softmax.",
             measured=f"max blocked weight = {fmt(leaked)}", threshold="= 0")
    row_error = (weights.detach().sum(-1) - 1).abs().max().item()
    if not row_error <= 1e-12:
        fail(f"with a mask the weights of a query sum to {weights.detach().sum(-1).min().item():.4f} instead of 1: "
             "the mask was applied after the softmax. Mask the scores with -inf first, then take the softmax.",
             measured=f"max |row sum − 1| = {fmt(row_error)}", threshold="≤ 1e-12")
    expected, _ = oracle_attention(q, k, v, mask)
    return expect_close("max |masked output − torch|", max_error(output, expected), TOLERANCE,
                        "with a mask the output differs from torch although the weights look valid. "
                        "Look at how scaled_dot_product_attention combines the weights with v.")


def torch_mha(dtype=torch.float64) -> nn.MultiheadAttention:
    """nn.MultiheadAttention with random weights and non-zero biases, so that every parameter matters."""
    torch.manual_seed(5)
    reference = nn.MultiheadAttention(EMBED_DIM, NUM_HEADS, batch_first=True, dtype=dtype)
    with torch.no_grad():
        reference.in_proj_bias.normal_(0, 0.5)
        reference.out_proj.bias.normal_(0, 0.5)
    return reference


def learner_mha(module, reference: nn.MultiheadAttention) -> nn.Module:
    """Build the learner's MultiHeadAttention and copy torch's weights into it by name."""
    mha = module.MultiHeadAttention(EMBED_DIM, NUM_HEADS).to(reference.in_proj_weight.dtype)
    expected_names = sorted(name for name, _ in reference.named_parameters())
    names = sorted(name for name, _ in mha.named_parameters())
    if names != expected_names:
        fail(f"MultiHeadAttention({EMBED_DIM}, {NUM_HEADS}) has parameters {names}; it needs exactly "
             f"{expected_names}, the names nn.MultiheadAttention uses. Look at MultiHeadAttention.__init__.",
             measured=f"{len(names)} parameters", threshold=f"{len(expected_names)}: {expected_names}")
    for name, parameter in mha.named_parameters():
        expected_shape = dict(reference.named_parameters())[name].shape
        if parameter.shape != expected_shape:
            fail(f"MultiHeadAttention.{name} has shape {tuple(parameter.shape)}; nn.MultiheadAttention's has "
                 f"{tuple(expected_shape)}. Look at MultiHeadAttention.__init__.",
                 measured=f"{tuple(parameter.shape)}", threshold=f"= {tuple(expected_shape)}")
    mha.load_state_dict(reference.state_dict())
    return mha


def mha_inputs(dtype=torch.float64):
    query = randn(2, QUERY_LEN, EMBED_DIM, seed=41, dtype=dtype).requires_grad_()
    key = randn(2, KEY_LEN, EMBED_DIM, seed=42, dtype=dtype)
    value = randn(2, KEY_LEN, EMBED_DIM, seed=43, dtype=dtype)
    return query, key, value


def call_mha(mha, query, key, value, **masks):
    result = mha(query, key, value, **masks)
    if not (isinstance(result, tuple) and len(result) == 2):
        fail(f"MultiHeadAttention.forward returned {type(result).__name__}; it must return (output, weights).")
    output, weights = result
    want_out, want_weights = (query.shape[0], QUERY_LEN, EMBED_DIM), (query.shape[0], NUM_HEADS, QUERY_LEN, KEY_LEN)
    if tuple(output.shape) != want_out or tuple(weights.shape) != want_weights:
        fail(f"MultiHeadAttention returned output {tuple(output.shape)} and weights {tuple(weights.shape)}; "
             f"expected {want_out} and {want_weights} (batch, heads, query length, key length).")
    return output, weights


def compare_mha(mha, reference, message_where: str, **masks) -> float:
    """Compare outputs, per-head weights and input gradients; fail with the likely mistake."""
    query, key, value = mha_inputs(mha.in_proj_weight.dtype)
    output, weights = call_mha(mha, query, key, value, **masks)
    probe = randn(*output.shape, seed=44, dtype=output.dtype)
    (output * probe).sum().backward()
    learner_grad = query.grad.clone()

    query.grad = None
    expected, expected_weights = reference(query, key, value, need_weights=True, average_attn_weights=False, **masks)
    (expected * probe).sum().backward()
    weight_error = max_error(weights, expected_weights)
    output_error = max_error(output, expected)
    grad_error = max_error(learner_grad, query.grad)
    tolerance = TOLERANCE if output.dtype == torch.float64 else FLOAT32_TOLERANCE
    if not weight_error <= tolerance:
        fail(f"{message_where}: the per-head attention weights differ from nn.MultiheadAttention's by "
             f"{weight_error:.3g}. Check that in_proj_weight's thirds are used in the order query, key, value, and "
             "split heads with view(B, L, num_heads, head_dim).transpose(1, 2): a view straight to "
             "(B, num_heads, L, head_dim) mixes positions into heads.",
             measured=f"max |weights − torch| = {fmt(weight_error)}", threshold=f"≤ {fmt(tolerance)}")
    if not output_error <= tolerance:
        fail(f"{message_where}: the weights match, but the output differs by {output_error:.3g}. Merge the heads "
             "back with transpose(1, 2) before reshape(B, L, embed_dim), then apply out_proj.",
             measured=f"max |output − torch| = {fmt(output_error)}", threshold=f"≤ {fmt(tolerance)}")
    if not grad_error <= tolerance * 10:
        fail(f"{message_where}: outputs match but the gradient with respect to the query differs by "
             f"{grad_error:.3g}. Look for .detach() or in-place edits in MultiHeadAttention.forward.",
             measured=f"max |grad − torch| = {fmt(grad_error)}", threshold=f"≤ {fmt(tolerance * 10)}")
    return max(output_error, weight_error)


@criterion("MultiHeadAttention loads nn.MultiheadAttention's weights and matches its output and weights within 1e-10")
def mha_matches(ctx):
    module = ctx.learner(MODULE)
    reference = torch_mha()
    mha = learner_mha(module, reference)
    error = compare_mha(mha, reference, f"with query length {QUERY_LEN} and key length {KEY_LEN}")
    return Measured(f"max |output − torch| = {fmt(error)}", f"≤ {fmt(TOLERANCE)}")


@criterion("attn_mask and key_padding_mask block the same entries as nn.MultiheadAttention")
def mha_masks(ctx):
    module = ctx.learner(MODULE)
    reference = torch_mha()
    mha = learner_mha(module, reference)
    attn_mask = random_mask(QUERY_LEN, KEY_LEN, seed=7)
    padding = torch.zeros(2, KEY_LEN, dtype=torch.bool)
    padding[1, -2:] = True  # the second sequence has two padding keys
    attn_mask[:, 0] = False  # keep one key open in every row once padding is applied
    error = compare_mha(mha, reference, "with attn_mask and key_padding_mask (second sequence: last two keys "
                        "padded)", attn_mask=attn_mask, key_padding_mask=padding)
    return Measured(f"max |output − torch| = {fmt(error)}", f"≤ {fmt(TOLERANCE)}")


@criterion("In float32 MultiHeadAttention stays within 1e-5 of nn.MultiheadAttention")
def mha_float32(ctx):
    module = ctx.learner(MODULE)
    reference = torch_mha(torch.float32)
    mha = learner_mha(module, reference)
    error = compare_mha(mha, reference, "in float32")
    return Measured(f"max |output − torch| = {fmt(error)}", f"≤ {fmt(FLOAT32_TOLERANCE)}")


@criterion("Attention is written with torch.einsum, without torch's attention modules or functions")
def uses_einsum(ctx):
    path = ctx.learner_file(SOURCE)
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    banned = sorted({node.attr for node in ast.walk(tree)
                     if isinstance(node, ast.Attribute) and node.attr in BANNED_ATTRIBUTES})
    if banned:
        fail(f"{SOURCE} uses {', '.join(banned)}; this lesson builds attention itself. "
             "Replace it with your own scaled_dot_product_attention.",
             measured=f"uses {', '.join(banned)}", threshold="none of torch's attention")
    einsums = sum(1 for node in ast.walk(tree) if isinstance(node, ast.Attribute) and node.attr == "einsum")
    if einsums < 2:
        fail(f"{SOURCE} calls einsum {einsums} time(s); write the scores (q·k over d_k) and the weighted sum "
             "of values (weights·v over the keys) as torch.einsum calls.",
             measured=f"{einsums} einsum call(s)", threshold="≥ 2")
    return Measured(f"{einsums} einsum calls", "≥ 2")


def artifacts_dir(ctx) -> Path:
    """Return a workspace folder that outlives the check run, so that the tutor can show its files."""
    folder = ctx.workspace / ".ztf" / "artifacts"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def check_heatmap(module, weights: torch.Tensor, queries: list[str], keys: list[str], path: Path) -> Path:
    """Call attention_heatmap and prove the file is a real, non-blank PNG; return its path."""
    import matplotlib.image
    import matplotlib.pyplot as plt

    path.unlink(missing_ok=True)
    figures_before = set(plt.get_fignums())
    before = weights.clone()
    returned = module.attention_heatmap(weights, queries, keys, path)
    if returned is None or Path(returned) != path:
        fail(f"attention_heatmap returned {returned!r}; it must return the path it wrote, {path}.")
    if not path.is_file():
        fail(f"attention_heatmap did not write {path}. Call figure.savefig(path).")
    if path.read_bytes()[:8] != PNG_SIGNATURE:
        fail(f"{path} is not a PNG file (its first bytes are {path.read_bytes()[:8]!r}). Save with a .png path.")
    if not torch.equal(before, weights):
        fail("attention_heatmap changed the weights tensor it was given; plot a copy.")
    leaked = set(plt.get_fignums()) - figures_before
    if leaked:
        fail(f"attention_heatmap left {len(leaked)} matplotlib figure(s) open; close each with plt.close(figure), "
             "or every save during training keeps another figure in memory.",
             measured=f"{len(leaked)} open figure(s)", threshold="0")
    image = matplotlib.image.imread(path)
    height, width = image.shape[:2]
    if height < 100 or width < 100 or float(image[..., :3].std()) < 0.01:
        fail(f"{path} is {width}×{height} pixels with almost no variation; draw the weights with imshow and a colorbar.",
             measured=f"{width}×{height} px", threshold="≥ 100×100 px, not blank")
    return path


@criterion("attention_heatmap writes a PNG heatmap of the weights and closes its figure")
def heatmap(ctx):
    module = ctx.learner(MODULE)
    words = ["the", "cat", "sat", "on", "the", "mat"]
    x = randn(1, len(words), 8, seed=8)
    causal = torch.ones(len(words), len(words), dtype=torch.bool).triu(1)
    _, weights = oracle_attention(x, x, x, causal)
    path = check_heatmap(module, weights[0], words, words, artifacts_dir(ctx) / HEATMAP_NAME)
    return Measured(f"heatmap written to {path}", "a valid PNG")


def reversal_batch(size: int, length: int, vocab: int, rng: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    tokens = torch.randint(0, vocab, (size, length), generator=rng)
    return tokens, tokens.flip(1)


@criterion("A one-layer attention model trained to reverse sequences gets 95% of tokens right, and its heatmap shows the anti-diagonal",
           tiers=("full",))
def reversal(ctx):
    module = ctx.learner(MODULE)
    length, vocab, dim = 8, 10, 32
    torch.manual_seed(0)
    mha = module.MultiHeadAttention(dim, 4)
    embed, key_positions = nn.Embedding(vocab, dim), nn.Parameter(torch.randn(length, dim) * 0.1)
    query_positions, head = nn.Parameter(torch.randn(length, dim) * 0.1), nn.Linear(dim, vocab)
    parameters = [*mha.parameters(), *embed.parameters(), key_positions, query_positions, *head.parameters()]
    optimizer = torch.optim.Adam(parameters, lr=3e-3)
    rng = generator(0)

    def run(tokens):
        keys = embed(tokens) + key_positions
        queries = query_positions.expand(tokens.shape[0], -1, -1)
        output, weights = mha(queries, keys, keys)
        return head(output), weights

    steps = 600
    for step in range(steps):
        tokens, target = reversal_batch(128, length, vocab, rng)
        logits, _ = run(tokens)
        loss = nn.functional.cross_entropy(logits.reshape(-1, vocab), target.reshape(-1))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if step % 50 == 0:
            ctx.progress(step / steps, f"step {step}, loss {loss.item():.3f}")

    with torch.no_grad():
        tokens, target = reversal_batch(512, length, vocab, generator(1))
        logits, weights = run(tokens)
    accuracy = (logits.argmax(-1) == target).double().mean().item()
    mean_weights = weights.mean(dim=(0, 1))  # (Lq, Lk), averaged over the batch and the heads
    on_anti_diagonal = mean_weights.flip(1).diagonal().mean().item()
    path = check_heatmap(module, mean_weights, [f"out {i}" for i in range(length)],
                         [f"in {i}" for i in range(length)], artifacts_dir(ctx) / "2.3-reversal-heatmap.png")
    if not (accuracy >= 0.95 and on_anti_diagonal >= 0.5):
        fail(f"after {steps} Adam steps the model reverses {accuracy:.1%} of tokens, and query i puts "
             f"{on_anti_diagonal:.2f} of its weight on key {length - 1} − i (heatmap: {path}). "
             "If the MultiHeadAttention criteria pass, look at the gradient flow: a detach() or a parameter "
             "missing from MultiHeadAttention.parameters() stops learning.",
             measured=f"accuracy {accuracy:.1%}, anti-diagonal weight {on_anti_diagonal:.2f}",
             threshold="≥ 95%, ≥ 0.5")
    return Measured(f"accuracy {accuracy:.1%}, anti-diagonal weight {on_anti_diagonal:.2f}, heatmap {path}",
                    "≥ 95%, ≥ 0.5")
