"""Lesson 2.2: recurrent networks (RNN, GRU and LSTM cells) and a character-level language model.

Write every function that raises NotImplementedError. `ztf check 2.2` (or saving this file
while `ztf start` runs) tells you which parts are correct. Run `ztf hint 2.2` when stuck.
The cells use torch's parameter names and gate order, so the check can copy torch's weights
into yours. Do not use nn.LSTMCell, nn.GRUCell, nn.RNNCell or nn.LSTM/GRU/RNN here.
"""

import math

import torch
from torch import nn
from torch.nn import functional as F


class RNNCell(nn.Module):
    """A vanilla recurrent cell: h' = tanh(x W_ihᵀ + b_ih + h W_hhᵀ + b_hh).

    Parameters (torch.nn.RNNCell's names): weight_ih (hidden_size, input_size),
    weight_hh (hidden_size, hidden_size), bias_ih (hidden_size,), bias_hh (hidden_size,),
    each initialised uniformly in [-1/√hidden_size, 1/√hidden_size].
    """

    def __init__(self, input_size, hidden_size):
        super().__init__()
        raise NotImplementedError("RNNCell.__init__ is not implemented yet")

    def forward(self, x, h):
        """Advance one step: x (B, input_size), h (B, hidden_size) -> h' (B, hidden_size)."""
        raise NotImplementedError("RNNCell.forward is not implemented yet")


class GRUCell(nn.Module):
    """A gated recurrent unit in torch's form, gates stacked in the order r, z, n.

    Parameters: weight_ih (3 * hidden_size, input_size), weight_hh (3 * hidden_size, hidden_size),
    bias_ih and bias_hh (3 * hidden_size,), each block of hidden_size rows belonging to one gate.

        r  = σ(W_ir x + b_ir + W_hr h + b_hr)
        z  = σ(W_iz x + b_iz + W_hz h + b_hz)
        n  = tanh(W_in x + b_in + r ⊙ (W_hn h + b_hn))
        h' = (1 − z) ⊙ n + z ⊙ h
    """

    def __init__(self, input_size, hidden_size):
        super().__init__()
        raise NotImplementedError("GRUCell.__init__ is not implemented yet")

    def forward(self, x, h):
        """Advance one step: x (B, input_size), h (B, hidden_size) -> h' (B, hidden_size)."""
        raise NotImplementedError("GRUCell.forward is not implemented yet")


class LSTMCell(nn.Module):
    """A long short-term memory cell in torch's form, gates stacked in the order i, f, g, o.

    Parameters: weight_ih (4 * hidden_size, input_size), weight_hh (4 * hidden_size, hidden_size),
    bias_ih and bias_hh (4 * hidden_size,).

        i, f, o = σ(…), g = tanh(…)     (each from W_i· x + b_i· + W_h· h + b_h·)
        c' = f ⊙ c + i ⊙ g
        h' = o ⊙ tanh(c')
    """

    def __init__(self, input_size, hidden_size):
        super().__init__()
        raise NotImplementedError("LSTMCell.__init__ is not implemented yet")

    def forward(self, x, state):
        """Advance one step: x (B, input_size), state = (h, c), each (B, hidden_size) -> (h', c')."""
        raise NotImplementedError("LSTMCell.forward is not implemented yet")


class CharLM(nn.Module):
    """A character-level language model: embedding -> recurrent cell -> linear head.

    Attributes: embedding (nn.Embedding(vocab_size, hidden_size)), cell (your RNNCell, GRUCell
    or LSTMCell with input and hidden size hidden_size, chosen by cell = "rnn", "gru" or "lstm"),
    head (nn.Linear(hidden_size, vocab_size)).
    """

    def __init__(self, vocab_size, hidden_size, cell="lstm"):
        super().__init__()
        raise NotImplementedError("CharLM.__init__ is not implemented yet")

    def forward(self, idx, state=None):
        """Run the cell over idx (B, T) of character ids, one position at a time.

        Start from `state`, or from zeros when state is None (a (h, c) pair for an LSTM, h alone
        otherwise), created on the device of the model's parameters. Return (logits
        (B, T, vocab_size), the state after the last position), so that a second call given that
        state continues the sequence exactly.
        """
        raise NotImplementedError("CharLM.forward is not implemented yet")


def train_char_lm(model, data, steps, batch_size, seq_len, lr):
    """Train with truncated backpropagation through time; return the list of `steps` batch losses.

    Cut the 1-D tensor `data` of character ids into batch_size contiguous streams, and walk along
    them seq_len characters per step: inputs are streams[:, p : p + seq_len], targets the same
    window shifted one character right. Carry the state from one step to the next, detached from
    the previous step's graph. When a stream runs out, start again from its beginning with a
    fresh state. Move the streams to the model's device, so that the full tier can train on a GPU.
    Use Adam with learning rate lr, cross-entropy, and gradient-norm clipping at 1.0.
    """
    raise NotImplementedError("train_char_lm is not implemented yet")


def temperature_probs(logits, temperature):
    """Return softmax(logits / temperature) over the last axis.

    temperature == 0 gives exactly one-hot at the argmax; temperature == math.inf gives the
    uniform distribution. Must stay finite for logits of ±1000.
    """
    raise NotImplementedError("temperature_probs is not implemented yet")


def sample_next(logits, temperature, generator=None):
    """Draw one token id (an int) from temperature_probs(logits, temperature) for 1-D logits.

    At temperature 0 return the argmax without drawing; otherwise use
    torch.multinomial(probs, 1, generator=generator), so that a seeded generator repeats.
    """
    raise NotImplementedError("sample_next is not implemented yet")


def generate(model, prompt, length, temperature, generator=None):
    """Feed the list of ids `prompt` through model, then sample `length` new ids one at a time.

    Carry the state between calls (no re-reading of the whole text), run under torch.no_grad(),
    and return only the new ids as a list of ints.
    """
    raise NotImplementedError("generate is not implemented yet")
