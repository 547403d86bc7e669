"""Checkpoint for lesson 3.4: sampling filters on hand-made distributions and KV-cache generation.

Every criterion uses the check's own model (the lesson 3.1 reference GPT, loaded by path, in
float64), so a bug in the learner's 3.1 model cannot fail this lesson.
"""

from __future__ import annotations

import importlib.util
import inspect
import math
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from ztf_tutor.checking import Measured, criterion, fail, fmt

MODULE = "phase3.generate"
REFERENCE_GPT = Path(__file__).resolve().parent.parent / "p3_gpt" / "reference" / "phase3" / "gpt.py"
NEG_INF = float("-inf")
# Probabilities chosen so that no cumulative sum lands on a tested p (0.7 on [.5, .2, .15, …] would).
PROBS = torch.tensor([0.05, 0.38, 0.12, 0.27, 0.18], dtype=torch.float64)
# Sorted: .38, .27, .18, .12, .05 → cumulative .38, .65, .83, .95, 1.0.
TOP_P_CASES = [(0.3, {1}), (0.6, {1, 3}), (0.7, {1, 3, 4}), (0.9, {1, 3, 4, 2}), (0.97, {0, 1, 2, 3, 4})]
# 99.9th percentile of the chi-square distribution with 4 and 2 degrees of freedom.
CHI2_999 = {4: 18.467, 2: 13.816}

torch.set_num_threads(1)  # quick on a shared CPU, and timings in the full tier are comparable


def reference_gpt():
    name = "ztf_p3_reference_gpt"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, REFERENCE_GPT)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


def check_model(seed: int = 0, block_size: int = 12, vocab_size: int = 17, n_embd: int = 16, n_layer: int = 2,
                dtype=torch.float64):
    """Build a random GPT with spread-out weights, so that its logits are far from uniform."""
    gpt = reference_gpt()
    torch.manual_seed(seed)
    model = gpt.GPT(gpt.GPTConfig(vocab_size=vocab_size, block_size=block_size, n_layer=n_layer, n_head=4,
                                  n_embd=n_embd, dropout=0.0))
    with torch.no_grad():
        for p in model.parameters():
            if p.dim() >= 2:
                p.mul_(15.0)
    return model.to(dtype).eval()


def prompt(length: int, vocab_size: int = 17, batch: int = 2, seed: int = 1) -> torch.Tensor:
    return torch.randint(0, vocab_size, (batch, length), generator=torch.Generator().manual_seed(seed))


def logits_of(probs: torch.Tensor) -> torch.Tensor:
    return probs.log() + 0.7  # an offset, because logits are only defined up to a constant


def kept(filtered: torch.Tensor) -> set[int]:
    return {i for i, value in enumerate(filtered.tolist()) if value != NEG_INF}


@criterion("apply_temperature divides the logits by the temperature")
def temperature(ctx):
    apply_temperature = ctx.learner(MODULE).apply_temperature
    logits = torch.tensor([[2.0, -1.0, 0.5], [0.0, 3.0, -2.0]], dtype=torch.float64)
    for t in (0.5, 1.0, 2.5):
        got = apply_temperature(logits, t)
        error = (got - logits / t).abs().max().item()
        if not error <= 1e-15:
            fail(f"apply_temperature(logits, {t}) returned {got[0].tolist()} for the row {logits[0].tolist()}; expected "
                 f"{(logits[0] / t).tolist()}. Divide the logits by the temperature: a temperature below 1 sharpens the "
                 f"distribution, above 1 flattens it.", measured=f"max error {fmt(error)}", threshold="≤ 1e-15")
    return Measured("exact at T = 0.5, 1, 2.5")


@criterion("top_k_filter keeps exactly the k largest logits and sets the rest to -inf")
def top_k(ctx):
    top_k_filter = ctx.learner(MODULE).top_k_filter
    logits = logits_of(PROBS)
    for k, expected in ((1, {1}), (2, {1, 3}), (3, {1, 3, 4}), (5, {0, 1, 2, 3, 4}), (9, {0, 1, 2, 3, 4})):
        got = top_k_filter(logits.clone(), k)
        if kept(got) != expected:
            fail(f"top_k_filter(logits, {k}) kept tokens {sorted(kept(got))}; expected {sorted(expected)} (the {k} "
                 f"largest of {[round(v, 3) for v in logits.tolist()]}). Set logits below the k-th largest value to "
                 f"-inf; keep the k-th itself.", measured=f"kept {sorted(kept(got))}", threshold=f"{sorted(expected)}")
        survivors = [i for i in expected]
        if not torch.equal(got[survivors], logits[survivors]):
            fail(f"top_k_filter(logits, {k}) changed the values of the tokens it kept; leave them as they are.")
    batch = torch.stack([logits, logits.flip(0)])
    got = top_k_filter(batch, 2)
    if kept(got[1]) != {3, 1}:
        fail(f"on a batch of two rows, top_k_filter(…, 2) kept {sorted(kept(got[1]))} in the second row; expected "
             f"[1, 3]. Take the top k along the last axis, per row.")
    return Measured("k = 1, 2, 3, 5, 9 exact, batched")


def mistaken_top_p(probs: torch.Tensor, p: float, expected: set[int]) -> dict[str, set[int]]:
    """Tokens kept under known top-p mistakes, to name the learner's."""
    order = probs.argsort(descending=True).tolist()
    cumulative = probs[order].cumsum(0).tolist()
    return {
        "it drops the token that crosses p (keep it: the kept set must reach p)":
            {i for i, c in zip(order, cumulative, strict=True) if c <= p},
        "the mask built in sorted order is applied to the unsorted logits (scatter it back with the sort indices)":
            set(range(len(expected))),
    }


@criterion("top_p_filter keeps the smallest set of most likely tokens whose probability reaches p")
def top_p(ctx):
    top_p_filter = ctx.learner(MODULE).top_p_filter
    logits = logits_of(PROBS)
    for p, expected in TOP_P_CASES:
        got = kept(top_p_filter(logits.clone(), p))
        if got != expected:
            named = [label for label, tokens in mistaken_top_p(PROBS, p, expected).items() if tokens == got]
            diagnosis = f" Your result matches a filter in which {named[0]}." if named else ""
            fail(f"for probabilities {PROBS.tolist()} and p = {p}, top_p_filter kept tokens {sorted(got)}; expected "
                 f"{sorted(expected)}. Sort by probability, keep tokens until the cumulative probability reaches p "
                 f"(including the one that crosses it), and set the others to -inf in the original order.{diagnosis}",
                 measured=f"kept {sorted(got)}", threshold=f"{sorted(expected)}")
    batch = torch.stack([logits, logits.flip(0)])
    got = top_p_filter(batch, 0.6)
    if kept(got[0]) != {1, 3} or kept(got[1]) != {1, 3}:
        fail(f"on a batch of two rows (the second reversed), top_p_filter(…, 0.6) kept {sorted(kept(got[0]))} and "
             f"{sorted(kept(got[1]))}; expected [1, 3] in both. Sort, cumulate and scatter along the last axis, per row.")
    return Measured(f"{len(TOP_P_CASES)} values of p exact, batched")


def expected_probs(logits: torch.Tensor, temperature: float, top_k: int | None, top_p: float | None) -> torch.Tensor:
    """Temperature, then top-k, then top-p, then softmax: the order the lesson pins."""
    if temperature == 0:
        return F.one_hot(logits.argmax(-1), logits.size(-1)).to(logits.dtype)
    scaled = logits / temperature
    if top_k is not None and top_k < scaled.size(-1):
        kth = scaled.topk(top_k, dim=-1).values[..., -1:]
        scaled = scaled.masked_fill(scaled < kth, NEG_INF)
    if top_p is not None:
        sorted_logits, order = scaled.sort(dim=-1, descending=True)
        probs = sorted_logits.softmax(-1)
        drop_sorted = probs.cumsum(-1) - probs >= top_p
        scaled = scaled.masked_fill(drop_sorted.scatter(-1, order, drop_sorted), NEG_INF)
    return scaled.softmax(-1)


@criterion("next_token_probs applies temperature, then top-k, then top-p, and temperature 0 puts all probability on the argmax")
def composed(ctx):
    next_token_probs = ctx.learner(MODULE).next_token_probs
    logits = logits_of(PROBS).unsqueeze(0)
    settings = [(1.0, None, None), (0.5, None, None), (2.0, 3, None), (0.6, None, 0.8), (3.0, None, 0.8),
                (1.5, 4, 0.7), (0.0, None, None), (0.0, 2, 0.5)]
    worst = 0.0
    for temperature, k, p in settings:
        got = next_token_probs(logits, temperature=temperature, top_k=k, top_p=p)
        expected = expected_probs(logits, temperature, k, p)
        error = (got - expected).abs().max().item() if got.shape == expected.shape else math.inf
        if not error <= 1e-12:
            hint = ("at temperature 0 return a one-hot vector at the argmax instead of dividing by 0"
                    if temperature == 0 else "apply temperature first, then top_k_filter, then top_p_filter, then softmax")
            fail(f"next_token_probs(temperature={temperature}, top_k={k}, top_p={p}) returned "
                 f"{[round(v, 4) for v in got.flatten().tolist()]}; expected {[round(v, 4) for v in expected.flatten().tolist()]}: "
                 f"{hint}.", measured=f"max error {fmt(error)}", threshold="≤ 1e-12")
        worst = max(worst, error)
    return Measured(f"{len(settings)} settings, max error {fmt(worst)}", "≤ 1e-12")


def chi_square(counts: torch.Tensor, probs: torch.Tensor) -> tuple[float, int]:
    support = probs > 0
    expected = probs[support] * counts.sum()
    return (((counts[support] - expected) ** 2) / expected).sum().item(), int(support.sum()) - 1


@criterion("sample_next draws from next_token_probs: frequencies pass a chi-square test and a seeded generator repeats")
def sampling(ctx):
    sample_next = ctx.learner(MODULE).sample_next
    logits = logits_of(PROBS).unsqueeze(0).expand(20000, -1).contiguous()
    for temperature, k, p in ((1.0, None, None), (0.7, 3, None)):
        tokens = sample_next(logits, temperature=temperature, top_k=k, top_p=p, generator=torch.Generator().manual_seed(5))
        if tuple(tokens.shape) != (20000, 1):
            fail(f"sample_next on logits of shape (20000, 5) returned shape {tuple(tokens.shape)}; return (B, 1) token ids.")
        counts = torch.bincount(tokens.flatten(), minlength=5).double()
        probs = expected_probs(logits[:1], temperature, k, p)[0]
        if (counts[probs == 0] > 0).any():
            fail(f"with top_k={k}, sample_next drew tokens that the filter removes: counts {counts.int().tolist()}.")
        statistic, dof = chi_square(counts, probs)
        if not statistic <= CHI2_999[dof]:
            fail(f"20,000 draws at temperature {temperature}, top_k={k} gave counts {counts.int().tolist()}; the "
                 f"probabilities are {[round(v, 3) for v in probs.tolist()]}. The chi-square statistic {statistic:.1f} is "
                 f"above {CHI2_999[dof]} (a 0.1% chance for correct sampling). Draw with torch.multinomial(probs, 1, "
                 f"generator=generator) from next_token_probs, not with argmax.",
                 measured=f"chi² = {statistic:.1f}", threshold=f"≤ {CHI2_999[dof]}")
    first = sample_next(logits[:50], generator=torch.Generator().manual_seed(9))
    second = sample_next(logits[:50], generator=torch.Generator().manual_seed(9))
    if not torch.equal(first, second):
        fail("two calls of sample_next with generators of the same seed drew different tokens. Pass the generator "
             "to torch.multinomial.")
    greedy = sample_next(logits[:3], temperature=0.0)
    if greedy.flatten().tolist() != [1, 1, 1]:
        fail(f"sample_next at temperature 0 returned {greedy.flatten().tolist()}; expected the argmax [1, 1, 1].")
    return Measured(f"chi² = {statistic:.1f} with {dof} degrees of freedom", f"≤ {CHI2_999[dof]}")


def greedy_by_hand(model, idx: torch.Tensor, steps: int) -> torch.Tensor:
    block = model.config.block_size
    with torch.no_grad():
        for _ in range(steps):
            logits, _ = model(idx[:, -block:])
            idx = torch.cat([idx, logits[:, -1].argmax(-1, keepdim=True)], dim=1)
    return idx


@criterion("generate without the cache crops the context to block_size and matches greedy decoding by hand")
def plain_generation(ctx):
    generate = ctx.learner(MODULE).generate
    model = check_model(2)
    start = prompt(5, seed=2)
    steps = 14  # 5 + 14 tokens exceed block_size 12, so the context must be cropped
    try:
        got = generate(model, start, steps, temperature=0.0, use_cache=False)
    except ValueError as error:
        fail(f"generate raised ValueError once the sequence grew past block_size ({error}). Feed the model only the "
             f"last block_size tokens: idx[:, -block_size:].")
    expected = greedy_by_hand(model, start, steps)
    if tuple(got.shape) != tuple(expected.shape):
        fail(f"generate(model, idx of shape {tuple(start.shape)}, {steps}) returned shape {tuple(got.shape)}; expected "
             f"{tuple(expected.shape)}: the prompt followed by the new tokens.")
    if not torch.equal(got, expected):
        first = (got != expected).any(0).nonzero()[0].item()
        fail(f"greedy generate without the cache differs from greedy decoding by hand at position {first}: "
             f"{got[0, first:first + 4].tolist()} vs {expected[0, first:first + 4].tolist()}. Each step: logits of "
             f"idx[:, -block_size:], the last position's row, the argmax appended to idx.",
             measured=f"first difference at {first}", threshold="identical")
    return Measured(f"{steps} greedy tokens identical, cropped at block_size 12")


@criterion("forward_cached on a whole prompt matches the model's logits within 1e-10 and caches every position")
def prefill(ctx):
    module = ctx.learner(MODULE)
    model = check_model(3)
    idx = prompt(9, seed=3)
    cache = module.KVCache(len(model.blocks))
    with torch.no_grad():
        got = module.forward_cached(model, idx, cache)
        expected, _ = model(idx)
    if tuple(got.shape) != tuple(expected.shape):
        fail(f"forward_cached on 9 tokens returned shape {tuple(got.shape)}; expected {tuple(expected.shape)} "
             f"(batch, new tokens, vocab_size).")
    error = (got - expected).abs().max().item()
    if not error <= 1e-10:
        fail(f"forward_cached on an empty cache gives logits that differ from model(idx) by {fmt(error)}. With an empty "
             f"cache it must compute exactly the model's forward pass: positions 0..T−1, the causal mask among the "
             f"new tokens (query i sees keys 0..past + i), ln_f, lm_head.",
             measured=f"max |logits − model| = {fmt(error)}", threshold="≤ 1e-10")
    layer_keys = getattr(cache, "keys", None)
    if len(cache) != 9 or layer_keys is None or layer_keys[0] is None or tuple(layer_keys[0].shape) != (2, 4, 9, 4):
        shape = None if not layer_keys or layer_keys[0] is None else tuple(layer_keys[0].shape)
        fail(f"after a 9-token prompt, len(cache) is {len(cache)} and cache.keys[0] has shape {shape}; expected 9 and "
             f"(2, 4, 9, 4) (batch, n_head, positions, head_size). Store each layer's keys and values in the cache.")
    return Measured(f"max |logits − model| = {fmt(error)}", "≤ 1e-10")


def logits_with_positions(model, idx: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
    """Compute the logits with position embedding positions[t] for token t, to recognise a position mistake."""
    x = model.wte(idx) + model.wpe(positions)
    for block in model.blocks:
        x = block(x)
    return model.lm_head(model.ln_f(x))


@criterion("Each cached step adds one position to the cache, and positions continue from the cache length")
def cached_steps(ctx):
    module = ctx.learner(MODULE)
    model = check_model(4)
    idx = prompt(11, seed=4)
    cache = module.KVCache(len(model.blocks))
    worst = 0.0
    with torch.no_grad():
        module.forward_cached(model, idx[:, :4], cache)
        for t in range(4, 11):
            before = len(cache)
            try:
                got = module.forward_cached(model, idx[:, t : t + 1], cache)
            except RuntimeError as error:
                fail(f"forward_cached on one new token after {before} cached positions raised RuntimeError: {error}. "
                     f"The cache must hold every earlier position: append the new keys and values of every layer "
                     f"(torch.cat on the time axis), and build the mask with shape (T_new, past + T_new).")
            if len(cache) != t + 1:
                fail(f"after a 4-token prompt and {t - 3} single-token steps, len(cache) is {len(cache)}; expected "
                     f"{t + 1}. Each call must append the new keys and values of every layer (torch.cat on the time axis).",
                     measured=f"len(cache) = {len(cache)}", threshold=f"= {t + 1}")
            expected, _ = model(idx[:, : t + 1])
            error = (got[:, -1] - expected[:, -1]).abs().max().item()
            if not error <= 1e-10:
                positions = torch.arange(t + 1)
                positions[-1] = 0
                restarted = logits_with_positions(model, idx[:, : t + 1], positions)[:, -1]
                if (got[:, -1] - restarted).abs().max().item() < 1e-8:
                    explanation = ("Your logits match a model in which the new token gets position 0: positions restart at 0. "
                           "The new token's position is len(cache) before the call: torch.arange(past, past + T).")
                else:
                    explanation = ("Check that the new token attends to every cached key and to itself, and that its "
                           "position is len(cache).")
                fail(f"the cached step for token {t} gives logits that differ from the full forward pass by {fmt(error)}. "
                     f"{explanation}", measured=f"max |logits − model| = {fmt(error)}", threshold="≤ 1e-10")
            worst = max(worst, error)
    return Measured(f"7 steps, max |logits − model| = {fmt(worst)}", "≤ 1e-10")


@criterion("Generation with the KV cache equals generation without it, token for token, also beyond block_size")
def cache_equivalence(ctx):
    generate = ctx.learner(MODULE).generate
    model = check_model(5)
    start = prompt(4, seed=5)
    settings = [(0.0, None, None), (1.0, None, None), (0.8, 5, 0.9)]
    for temperature, k, p in settings:
        plain = generate(model, start, 20, temperature=temperature, top_k=k, top_p=p,
                         generator=torch.Generator().manual_seed(11), use_cache=False)
        cached = generate(model, start, 20, temperature=temperature, top_k=k, top_p=p,
                          generator=torch.Generator().manual_seed(11), use_cache=True)
        if not torch.equal(plain, cached):
            first = (plain != cached).any(0).nonzero()[0].item()
            beyond = " This is past block_size 12: when the cache is full, rebuild it from idx[:, -block_size:]." if first >= 12 else ""
            fail(f"with temperature={temperature}, top_k={k}, top_p={p}, the cached and uncached generations first "
                 f"differ at position {first} ({cached[0, first].item()} vs {plain[0, first].item()}).{beyond} Look at "
                 f"stream and forward_cached: positions continue from len(cache), and each step feeds only the newest "
                 f"token.", measured=f"first difference at {first}", threshold="identical")
    return Measured(f"{len(settings)} settings × 20 tokens identical, block_size 12")


@criterion("stream yields one (B, 1) token tensor per step, and generate returns the prompt followed by them")
def streaming_api(ctx):
    module = ctx.learner(MODULE)
    if not inspect.isgeneratorfunction(module.stream):
        fail("stream is not a generator function; write it with `yield token` so that a caller can show tokens as "
             "they arrive.")
    model = check_model(6)
    start = prompt(3, seed=6)
    tokens = list(module.stream(model, start, 5, temperature=0.0, use_cache=True))
    if len(tokens) != 5 or any(tuple(t.shape) != (2, 1) for t in tokens):
        fail(f"stream(model, idx of shape (2, 3), 5) yielded {len(tokens)} items of shapes "
             f"{[tuple(t.shape) for t in tokens]}; expected 5 tensors of shape (2, 1).")
    whole = module.generate(model, start, 5, temperature=0.0, use_cache=True)
    if not torch.equal(whole, torch.cat([start, *tokens], dim=1)):
        fail("generate's output is not the prompt followed by the tokens stream yields for the same settings.")
    return Measured("5 tokens streamed")


def seconds_per_token(generate, model, start: torch.Tensor, new_tokens: int, use_cache: bool) -> float:
    generate(model, start, 2, temperature=0.0, use_cache=use_cache)  # warm-up
    started = time.perf_counter()
    generate(model, start, new_tokens, temperature=0.0, use_cache=use_cache)
    return (time.perf_counter() - started) / new_tokens


@criterion("At a context of 500 tokens the KV cache makes each new token at least 2x faster (measured)", tiers=("full",))
def speed_up(ctx):
    generate = ctx.learner(MODULE).generate
    model = check_model(7, block_size=512, vocab_size=65, n_embd=128, n_layer=4, dtype=torch.float32)
    report = []
    for length in (100, 250, 500):
        start = prompt(length, vocab_size=65, batch=1, seed=7)
        plain = seconds_per_token(generate, model, start, 10, use_cache=False)
        cached = seconds_per_token(generate, model, start, 10, use_cache=True)
        report.append((length, plain, cached))
        ctx.progress(length / 500, f"context {length}: {plain * 1e3:.1f} ms vs {cached * 1e3:.1f} ms per token")
    table = ", ".join(f"{n}: {p * 1e3:.1f}→{c * 1e3:.1f} ms" for n, p, c in report)
    ratio = report[-1][1] / report[-1][2]
    if not ratio >= 2.0:
        fail(f"per-token time without → with the cache ({table}, 10 new tokens each, including the prompt's prefill) "
             f"gives a speed-up of only {ratio:.2f}x at 500 tokens. With a working cache each step processes one "
             f"token instead of the whole context; check that stream feeds idx[:, -1:] after the first step.",
             measured=f"{ratio:.2f}x", threshold="≥ 2x")
    return Measured(f"{ratio:.1f}x at 500 tokens ({table})", "≥ 2x")
