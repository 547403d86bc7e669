"""Checkpoint for lesson 2.2: recurrent cells against torch's, a character LM, and temperature sampling."""

from __future__ import annotations

import ast
import collections
import itertools
import math
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F

from ztf_tutor.checking import Measured, criterion, fail, fmt, skip

MODULE = "phase2.rnn"
SOURCE = "phase2/rnn.py"
TOLERANCE = 1e-10
STEPS = 20
BATCH, INPUT_SIZE, HIDDEN_SIZE = 3, 5, 7
PASSAGE = Path(__file__).with_name("passage.txt")
BANNED_ATTRIBUTES = {"LSTMCell", "GRUCell", "RNNCell", "LSTM", "GRU", "RNN", "lstm_cell", "gru_cell", "rnn_tanh_cell"}
# Upper 0.1% point of the chi-square distribution with 5 degrees of freedom (6 outcomes).
CHI_SQUARE_CRITICAL = 20.515
SAMPLES = 12000
SHAKESPEARE = "tinyshakespeare/input.txt"


def generator(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def randn(*shape: int, seed: int) -> torch.Tensor:
    return torch.randn(*shape, generator=generator(seed), dtype=torch.float64)


def max_error(got: torch.Tensor, expected: torch.Tensor) -> float:
    return (got.detach().double() - expected.detach().double()).abs().max().item()


def copied_cell(module, name: str, reference: nn.Module) -> nn.Module:
    """Build the learner's cell and copy the torch cell's weights into it by parameter name."""
    cell = getattr(module, name)(INPUT_SIZE, HIDDEN_SIZE).double()
    names = sorted(n for n, _ in cell.named_parameters())
    expected = sorted(n for n, _ in reference.named_parameters())
    if names != expected:
        fail(f"{name}({INPUT_SIZE}, {HIDDEN_SIZE}) has parameters {names}; it needs exactly {expected}, "
             f"the names torch.nn.{name} uses. Look at {name}.__init__.",
             measured=f"{len(names)} parameters", threshold=f"{expected}")
    for parameter_name, parameter in cell.named_parameters():
        expected_shape = dict(reference.named_parameters())[parameter_name].shape
        if parameter.shape != expected_shape:
            fail(f"{name}.{parameter_name} has shape {tuple(parameter.shape)}; torch's has {tuple(expected_shape)} "
                 f"(gates stacked along the first axis). Look at {name}.__init__.",
                 measured=str(tuple(parameter.shape)), threshold=f"= {tuple(expected_shape)}")
    cell.load_state_dict(reference.state_dict())
    return cell


def torch_cell(kind: str) -> nn.Module:
    torch.manual_seed(3)
    return getattr(nn, kind)(INPUT_SIZE, HIDDEN_SIZE).double()


def run_steps(cell, xs: torch.Tensor, state):
    """Run a cell over the time axis of xs; return every step's state."""
    states = []
    for t in range(xs.shape[0]):
        state = cell(xs[t], state)
        states.append(state)
    return states


def lstm_variant(reference: nn.LSTMCell, x, h, c, order: str, tanh_on_cell: bool = True):
    """Compute one LSTM step with the gate blocks read in `order`, to recompute known mistakes."""
    gates = x @ reference.weight_ih.T + reference.bias_ih + h @ reference.weight_hh.T + reference.bias_hh
    blocks = dict(zip(order, gates.chunk(4, dim=1), strict=True))
    c_next = torch.sigmoid(blocks["f"]) * c + torch.sigmoid(blocks["i"]) * torch.tanh(blocks["g"])
    h_next = torch.sigmoid(blocks["o"]) * (torch.tanh(c_next) if tanh_on_cell else c_next)
    return h_next, c_next


def diagnose_lstm(reference, x, h, c, got_h, got_c) -> str:
    """Name the gate order or formula mistake that reproduces the learner's first step."""
    with torch.no_grad():
        if max_error(got_h, lstm_variant(reference, x, h, c, "ifgo", tanh_on_cell=False)[0]) < 1e-8:
            return "your h equals o * c: the output is h = o * tanh(c)"
        for order in ("".join(p) for p in itertools.permutations("ifgo")):
            if order != "ifgo":
                wrong_h, wrong_c = lstm_variant(reference, x, h, c, order)
                if max_error(got_h, wrong_h) < 1e-8 and max_error(got_c, wrong_c) < 1e-8:
                    return (f"your cell reads the gate blocks in the order ({', '.join(order)}); torch stacks them "
                            "as input i, forget f, cell candidate g, output o")
    return "compare each gate with c' = σ(f)·c + σ(i)·tanh(g) and h' = σ(o)·tanh(c'), gates in the order i, f, g, o"


@criterion("LSTMCell matches torch.nn.LSTMCell with copied weights over 20 steps within 1e-10")
def lstm_matches(ctx):
    module = ctx.learner(MODULE)
    reference = torch_cell("LSTMCell")
    cell = copied_cell(module, "LSTMCell", reference)
    xs = randn(STEPS, BATCH, INPUT_SIZE, seed=1)
    h0, c0 = randn(BATCH, HIDDEN_SIZE, seed=2), randn(BATCH, HIDDEN_SIZE, seed=3)
    got = run_steps(cell, xs, (h0, c0))
    expected = run_steps(reference, xs, (h0, c0))
    if not (isinstance(got[0], tuple) and len(got[0]) == 2):
        fail(f"LSTMCell.forward returned {type(got[0]).__name__}; it must return the tuple (h, c).")
    first = max(max_error(got[0][0], expected[0][0]), max_error(got[0][1], expected[0][1]))
    if not first <= TOLERANCE:
        fail(f"after one step: {diagnose_lstm(reference, xs[0], h0, c0, *got[0])}. Look at LSTMCell.forward.",
             measured=f"step 1: max |h, c − torch| = {fmt(first)}", threshold=f"≤ {fmt(TOLERANCE)}")
    worst = max(max(max_error(a, b) for a, b in zip(g, e, strict=True)) for g, e in zip(got, expected, strict=True))
    if not worst <= TOLERANCE:
        fail(f"step 1 matches torch but later steps drift by {worst:.3g}. Feed each step's (h, c) into the next, "
             "and keep the cell state c separate from h.", measured=f"max |h, c − torch| = {fmt(worst)}",
             threshold=f"≤ {fmt(TOLERANCE)}")
    gradient_error = compare_gradients(cell, reference, got[-1][0], expected[-1][0])
    return Measured(f"max |h, c − torch| = {fmt(worst)}, max |grad − torch| = {fmt(gradient_error)}",
                    f"≤ {fmt(TOLERANCE)}")


def compare_gradients(cell, reference, got_h, expected_h) -> float:
    """Backpropagate the same probe through both cells and compare every parameter's gradient."""
    probe = randn(*expected_h.shape, seed=9)
    (got_h * probe).sum().backward()
    (expected_h * probe).sum().backward()
    worst = 0.0
    reference_grads = dict(reference.named_parameters())
    for name, parameter in cell.named_parameters():
        if parameter.grad is None:
            fail(f"{type(cell).__name__}.{name} received no gradient; use the parameter itself, not a detached copy.")
        worst = max(worst, max_error(parameter.grad, reference_grads[name].grad))
    if not worst <= 1e-8:
        fail(f"outputs match torch but the gradients of {type(cell).__name__}'s parameters differ by {worst:.3g}. "
             "Look for .detach(), .data or in-place edits in forward.",
             measured=f"max |grad − torch| = {fmt(worst)}", threshold="≤ 1e-8")
    return worst


def gru_paper_variant(reference: nn.GRUCell, x, h):
    """Compute the original paper's GRU step, in which the reset gate multiplies h before the hidden projection."""
    input_r, input_z, input_n = (x @ reference.weight_ih.T + reference.bias_ih).chunk(3, dim=1)
    weight_r, weight_z, weight_n = reference.weight_hh.chunk(3)
    bias_r, bias_z, bias_n = reference.bias_hh.chunk(3)
    r = torch.sigmoid(input_r + h @ weight_r.T + bias_r)
    z = torch.sigmoid(input_z + h @ weight_z.T + bias_z)
    n = torch.tanh(input_n + (r * h) @ weight_n.T + bias_n)
    return (1 - z) * n + z * h


def _gru(reference, x, h, swapped: bool):
    input_r, input_z, input_n = (x @ reference.weight_ih.T + reference.bias_ih).chunk(3, dim=1)
    hidden_r, hidden_z, hidden_n = (h @ reference.weight_hh.T + reference.bias_hh).chunk(3, dim=1)
    r, z = torch.sigmoid(input_r + hidden_r), torch.sigmoid(input_z + hidden_z)
    n = torch.tanh(input_n + r * hidden_n)
    return z * n + (1 - z) * h if swapped else (1 - z) * n + z * h


def diagnose_gru(reference, x, h, got) -> str:
    with torch.no_grad():
        if max_error(got, gru_paper_variant(reference, x, h)) < 1e-8:
            return ("your cell applies the reset gate to h before the hidden projection (the original paper's form); "
                    "torch computes n = tanh(W_in x + b_in + r ⊙ (W_hn h + b_hn)), the reset gate applied to the "
                    "hidden projection including its bias")
        if max_error(got, _gru(reference, x, h, swapped=True)) < 1e-8:
            return "z and 1 − z are exchanged: torch computes h' = (1 − z) ⊙ n + z ⊙ h"
    return "compare each gate with torch's GRU: r, z, n in that order, h' = (1 − z) ⊙ n + z ⊙ h"


@criterion("GRUCell matches torch.nn.GRUCell with copied weights over 20 steps within 1e-10")
def gru_matches(ctx):
    module = ctx.learner(MODULE)
    reference = torch_cell("GRUCell")
    cell = copied_cell(module, "GRUCell", reference)
    xs, h0 = randn(STEPS, BATCH, INPUT_SIZE, seed=4), randn(BATCH, HIDDEN_SIZE, seed=5)
    got, expected = run_steps(cell, xs, h0), run_steps(reference, xs, h0)
    first = max_error(got[0], expected[0])
    if not first <= TOLERANCE:
        fail(f"after one step: {diagnose_gru(reference, xs[0], h0, got[0])}. Look at GRUCell.forward.",
             measured=f"step 1: max |h − torch| = {fmt(first)}", threshold=f"≤ {fmt(TOLERANCE)}")
    worst = max(max_error(a, b) for a, b in zip(got, expected, strict=True))
    if not worst <= TOLERANCE:
        fail(f"step 1 matches torch but later steps drift by {worst:.3g}. Feed each step's h into the next.",
             measured=f"max |h − torch| = {fmt(worst)}", threshold=f"≤ {fmt(TOLERANCE)}")
    gradient_error = compare_gradients(cell, reference, got[-1], expected[-1])
    return Measured(f"max |h − torch| = {fmt(worst)}, max |grad − torch| = {fmt(gradient_error)}", f"≤ {fmt(TOLERANCE)}")


@criterion("RNNCell matches torch.nn.RNNCell with copied weights over 20 steps within 1e-10")
def rnn_matches(ctx):
    module = ctx.learner(MODULE)
    reference = torch_cell("RNNCell")
    cell = copied_cell(module, "RNNCell", reference)
    xs, h0 = randn(STEPS, BATCH, INPUT_SIZE, seed=6), randn(BATCH, HIDDEN_SIZE, seed=7)
    got, expected = run_steps(cell, xs, h0), run_steps(reference, xs, h0)
    worst = max(max_error(a, b) for a, b in zip(got, expected, strict=True))
    if not worst <= TOLERANCE:
        fail(f"the hidden state differs from torch.nn.RNNCell by {worst:.3g}. It is "
             "h' = tanh(x W_ihᵀ + b_ih + h W_hhᵀ + b_hh), with both biases. Look at RNNCell.forward.",
             measured=f"max |h − torch| = {fmt(worst)}", threshold=f"≤ {fmt(TOLERANCE)}")
    gradient_error = compare_gradients(cell, reference, got[-1], expected[-1])
    return Measured(f"max |h − torch| = {fmt(worst)}, max |grad − torch| = {fmt(gradient_error)}", f"≤ {fmt(TOLERANCE)}")


@criterion("The cells are written from scratch, without torch's recurrent modules")
def from_scratch(ctx):
    path = ctx.learner_file(SOURCE)
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    used = sorted({node.attr for node in ast.walk(tree) if isinstance(node, ast.Attribute) and node.attr in BANNED_ATTRIBUTES})
    if used:
        fail(f"{SOURCE} uses torch's {', '.join(used)}; this lesson builds the cells itself from matrix products, "
             "sigmoid and tanh.", measured=f"uses {', '.join(used)}", threshold="none")
    return Measured("no torch recurrent module used", "none")


def split_state(state):
    return state if isinstance(state, tuple) else (state,)


@criterion("CharLM returns logits of shape (B, T, vocab) and a state that continues the sequence exactly, for all three cells")
def char_lm_state(ctx):
    module = ctx.learner(MODULE)
    vocab, idx = 11, torch.randint(0, 11, (2, 9), generator=generator(8))
    for kind in ("lstm", "gru", "rnn"):
        torch.manual_seed(0)
        model = module.CharLM(vocab, 6, cell=kind).double()
        logits, _ = model(idx)
        if tuple(logits.shape) != (2, 9, vocab):
            fail(f"CharLM(vocab_size={vocab}, hidden_size=6, cell={kind!r}) maps idx (2, 9) to logits of shape "
                 f"{tuple(logits.shape)}; expected (2, 9, {vocab}). Look at CharLM.forward.",
                 measured=str(tuple(logits.shape)), threshold=f"= (2, 9, {vocab})")
        first, state = model(idx[:, :4])
        second, _ = model(idx[:, 4:], state)
        error = max_error(torch.cat([first, second], dim=1), logits)
        if not error <= 1e-12:
            fail(f"with cell={kind!r}, running 4 characters and then the other 5 from the returned state gives "
                 f"logits {error:.3g} away from one run over all 9. CharLM.forward must start from the state it "
                 "is given (a fresh zero state only when state is None) and return the state after the last step.",
                 measured=f"max |chunked − whole| = {fmt(error)}", threshold="≤ 1e-12")
        if len(split_state(state)) != (2 if kind == "lstm" else 1):
            fail(f"with cell={kind!r} the state has {len(split_state(state))} parts; an LSTM carries (h, c), "
                 "a GRU and an RNN carry h alone.")
    return Measured("lstm, gru, rnn: chunked = whole", "≤ 1e-12")


def encode_passage() -> tuple[torch.Tensor, str]:
    text = PASSAGE.read_text(encoding="utf-8")
    vocabulary = sorted(set(text))
    index = {char: i for i, char in enumerate(vocabulary)}
    return torch.tensor([index[char] for char in text]), text


def bigram_entropy(text: str) -> float:
    """Compute H(next | current) in nats, the loss of the best bigram model of this text on this text."""
    pairs = collections.Counter(zip(text, text[1:], strict=False))
    firsts = collections.Counter(text[:-1])
    total = len(text) - 1
    return -sum(count / total * math.log(count / firsts[a]) for (a, _), count in pairs.items())


def call_training(module, model, data, **settings) -> list[float]:
    """Run the learner's train_char_lm, turning a missing detach into a message."""
    try:
        return module.train_char_lm(model, data, **settings)
    except RuntimeError as error:
        if "second time" in str(error) or "freed" in str(error):
            fail("train_char_lm raised 'Trying to backward through the graph a second time': the hidden state "
                 "carried into the next batch still points at the previous batch's graph. Detach it after each "
                 "optimizer step (state = state.detach(), or each part of an LSTM's (h, c)).")
        raise


def sequence_loss(model, data: torch.Tensor) -> float:
    with torch.no_grad():
        logits, _ = model(data[None, :-1].to(model.head.weight.device))
        return F.cross_entropy(logits[0].float().cpu(), data[1:]).item()


@criterion("A character LSTM trained with train_char_lm beats the bigram entropy of its training text by 20%")
def lm_beats_bigram(ctx):
    module = ctx.learner(MODULE)
    torch.set_num_threads(1)  # small matrices: one thread is fastest and repeatable
    data, text = encode_passage()
    bar = 0.8 * bigram_entropy(text)
    torch.manual_seed(0)
    model = module.CharLM(int(data.max()) + 1, 64, cell="lstm")
    losses = call_training(module, model, data, steps=60, batch_size=8, seq_len=32, lr=1e-2)
    if not (isinstance(losses, list) and len(losses) == 60):
        fail(f"train_char_lm(steps=60, ...) returned {type(losses).__name__} of length "
             f"{len(losses) if hasattr(losses, '__len__') else '?'}; it must return the list of 60 batch losses.")
    loss = sequence_loss(model, data)
    if not loss < bar:
        fail(f"after 60 steps the model's loss on its {len(text)}-character training text is {loss:.3f} nats per "
             f"character (batch losses {losses[0]:.2f} → {losses[-1]:.2f}); a bigram table gets "
             f"{bigram_entropy(text):.3f}. Check that train_char_lm calls zero_grad, backward and step every batch, "
             "targets are the inputs shifted by one character, and CharLM.forward carries the state.",
             measured=f"loss = {loss:.3f} nats", threshold=f"< {bar:.3f} (0.8 × bigram entropy)")
    return Measured(f"loss = {loss:.3f} nats (bigram {bigram_entropy(text):.3f})", f"< {bar:.3f}")


HAND_LOGITS = torch.tensor([1.5, -0.3, 0.0, 2.2, -1.1, 0.7], dtype=torch.float64)


@criterion("temperature_probs equals softmax(logits / T) within 1e-12, is one-hot at T = 0 and uniform at T = ∞")
def temperature_exact(ctx):
    module = ctx.learner(MODULE)
    worst = 0.0
    for temperature in (1.0, 0.5, 2.0, 0.05):
        got = module.temperature_probs(HAND_LOGITS, temperature)
        error = max_error(got, torch.softmax(HAND_LOGITS / temperature, dim=-1))
        if not error <= 1e-12:
            total = got.sum().item()
            why = (f" The probabilities sum to {total:.4f}: the temperature was applied to the probabilities; "
                   "divide the logits by T before the softmax." if abs(total - 1) > 1e-9 else
                   " Divide the logits by T (not multiply) before the softmax.")
            fail(f"temperature_probs(logits, {temperature}) is {error:.3g} away from softmax(logits / {temperature})."
                 f"{why}", measured=f"max |p − softmax(l/T)| = {fmt(error)}", threshold="≤ 1e-12")
        worst = max(worst, error)

    extreme = torch.tensor([1000.0, -1000.0, 999.0], dtype=torch.float32)
    got = module.temperature_probs(extreme, 0.5)
    if not torch.isfinite(got).all():
        fail(f"temperature_probs([1000, -1000, 999], 0.5) gives {got.tolist()}: exp overflowed. Use torch.softmax, "
             "or subtract the largest logit before exp.", measured="not finite", threshold="finite")

    one_hot = module.temperature_probs(HAND_LOGITS, 0)
    expected = F.one_hot(torch.tensor(3), 6).double()
    if not torch.equal(one_hot.double(), expected):
        fail(f"temperature_probs(logits, 0) is {one_hot.tolist()}; at T = 0 it must be exactly 1 at the argmax "
             "(index 3) and 0 elsewhere. Handle temperature == 0 before dividing.",
             measured=str([round(v, 3) for v in one_hot.tolist()]), threshold="one-hot at index 3")

    uniform = module.temperature_probs(HAND_LOGITS, math.inf)
    error = max_error(uniform, torch.full((6,), 1 / 6, dtype=torch.float64))
    if not error <= 1e-12:
        fail(f"temperature_probs(logits, inf) is {uniform.tolist()}; as T grows the distribution flattens to "
             "uniform, and at T = ∞ it is exactly 1/6 each.", measured=f"max |p − 1/6| = {fmt(error)}",
             threshold="≤ 1e-12")
    return Measured(f"max |p − softmax(l/T)| = {fmt(worst)}; T=0 one-hot; T=∞ uniform", "≤ 1e-12")


def chi_square(counts: torch.Tensor, probs: torch.Tensor) -> float:
    expected = probs * counts.sum()
    return ((counts - expected) ** 2 / expected).sum().item()


@criterion("sample_next is argmax at T = 0 and its frequencies match the softmax at T = 1 and T = 0.5 (chi-square, fixed generator)")
def sampling_distribution(ctx):
    module = ctx.learner(MODULE)
    for seed in range(20):
        logits = randn(6, seed=100 + seed)
        got = module.sample_next(logits, 0, generator(seed))
        if got != int(logits.argmax()):
            fail(f"sample_next(logits, temperature=0) returned {got}; the argmax is {int(logits.argmax())}. "
                 "At T = 0 return the argmax, without drawing.", measured=f"token {got}",
                 threshold=f"= {int(logits.argmax())}")
    statistics = []
    for temperature in (1.0, 0.5):
        rng = generator(int(temperature * 10))
        counts = torch.zeros(6, dtype=torch.float64)
        for _ in range(SAMPLES):
            counts[module.sample_next(HAND_LOGITS, temperature, rng)] += 1
        probs = torch.softmax(HAND_LOGITS / temperature, dim=-1)
        statistic = chi_square(counts, probs)
        if not statistic <= CHI_SQUARE_CRITICAL:
            observed = ", ".join(f"{value / SAMPLES:.3f}" for value in counts.tolist())
            wanted = ", ".join(f"{value:.3f}" for value in probs.tolist())
            fail(f"at T = {temperature}, {SAMPLES} draws of sample_next give frequencies [{observed}]; "
                 f"softmax(logits / {temperature}) is [{wanted}]. Sample from temperature_probs(logits, T) with "
                 "torch.multinomial(probs, 1, generator=generator).",
                 measured=f"χ² = {statistic:.1f}", threshold=f"≤ {CHI_SQUARE_CRITICAL} (p = 0.001, 5 dof)")
        statistics.append(statistic)
    return Measured(f"χ² = {statistics[0]:.1f} (T = 1), {statistics[1]:.1f} (T = 0.5)", f"≤ {CHI_SQUARE_CRITICAL}")


@criterion("generate at temperature 0 continues the prompt greedily, token for token, and a fixed generator repeats its samples")
def greedy_generation(ctx):
    module = ctx.learner(MODULE)
    torch.manual_seed(1)
    model = module.CharLM(13, 16, cell="lstm").double()
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.mul_(3)  # sharpen the untrained model so that the argmax is well separated
    prompt = [3, 1, 4, 1, 5]
    got = module.generate(model, prompt, 12, 0, generator(0))
    sequence = list(prompt)
    with torch.no_grad():
        for _ in range(12):
            logits, _ = model(torch.tensor([sequence]))
            sequence.append(int(logits[0, -1].argmax()))
    expected = sequence[len(prompt):]
    if list(got) != expected:
        fail(f"generate(model, {prompt}, 12, temperature=0) returned {list(got)}; greedy decoding from the full "
             f"sequence gives {expected}. Feed the prompt first, then each new token with the state from the "
             "previous call, and return only the new tokens.",
             measured=f"{sum(a == b for a, b in zip(got, expected, strict=False))}/12 tokens equal", threshold="12/12")
    first = module.generate(model, prompt, 12, 1.0, generator(5))
    second = module.generate(model, prompt, 12, 1.0, generator(5))
    if list(first) != list(second):
        fail(f"generate(..., temperature=1.0, generator) with two generators seeded alike returned {list(first)} "
             f"and {list(second)}. Pass the generator through to sample_next and torch.multinomial.")
    return Measured("12/12 greedy tokens equal; seeded samples repeat", "12/12")


def shakespeare_losses(ctx, module, text: str, device: str, steps: int, hidden_size: int,
                       validation_chars: int = 20_000) -> tuple[dict[str, float], str]:
    """Train an LSTM, a GRU and an RNN on 90% of text; return each validation loss and an LSTM sample."""
    vocabulary = sorted(set(text))
    index = {char: i for i, char in enumerate(vocabulary)}
    data = torch.tensor([index[char] for char in text])
    split = int(0.9 * len(data))
    losses, model = {}, None
    for number, kind in enumerate(("lstm", "gru", "rnn")):
        torch.manual_seed(0)
        trained = module.CharLM(len(vocabulary), hidden_size, cell=kind).to(device)
        ctx.progress(number / 3, f"training the {kind.upper()} model")
        call_training(module, trained, data[:split], steps=steps, batch_size=64, seq_len=100, lr=2e-3)
        losses[kind] = sequence_loss(trained, data[split : split + validation_chars])
        model = trained if kind == "lstm" else model
    start = index.get("\n", 0)
    sample = "".join(vocabulary[i] for i in module.generate(model, [start], 300, 0.8, generator(0)))
    return losses, sample


@criterion("On Tiny Shakespeare an LSTM language model reaches a validation loss below 1.75 nats per character (GRU and RNN reported)",
           tiers=("full",))
def shakespeare(ctx):
    path = ctx.data_dir / SHAKESPEARE if ctx.data_dir else None
    if path is None or not path.is_file():
        fail(f"Tiny Shakespeare is missing ({path}). Run `ztf data get tinyshakespeare`, then check again.")
    if not torch.cuda.is_available():
        skip("this criterion trains three models with hidden size 512 on Tiny Shakespeare and needs a CUDA GPU; "
             "run the full tier on a GPU remote.")
    module = ctx.learner(MODULE)
    # NOTE: 2,500 steps at hidden size 512 is an estimate of what fits the 600 s tier on one GPU;
    # the 1.75 bar has not been measured on a GPU yet.
    losses, sample = shakespeare_losses(ctx, module, path.read_text(encoding="utf-8"), "cuda", 2500, 512)
    artifacts = ctx.workspace / ".ztf" / "artifacts"
    artifacts.mkdir(parents=True, exist_ok=True)
    (artifacts / "2.2-rnn-sample.txt").write_text(sample, encoding="utf-8")
    summary = ", ".join(f"{kind.upper()} {loss:.3f}" for kind, loss in losses.items())
    if not losses["lstm"] < 1.75:
        fail(f"validation losses after 2,500 steps: {summary}. The LSTM should reach 1.75; check the learning "
             "rate, gradient clipping and that the state is carried (and detached) between batches.",
             measured=f"LSTM {losses['lstm']:.3f}", threshold="< 1.75")
    return Measured(f"validation loss {summary} nats/char; sample in {artifacts / '2.2-rnn-sample.txt'}", "LSTM < 1.75")
