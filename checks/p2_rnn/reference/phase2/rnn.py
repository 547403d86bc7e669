"""Lesson 2.2 reference: RNN, GRU and LSTM cells, a character-level language model, and sampling."""

import math

import torch
from torch import nn
from torch.nn import functional as F


def uniform_parameter(*shape, bound):
    return nn.Parameter(torch.empty(*shape).uniform_(-bound, bound))


class RNNCell(nn.Module):
    """h' = tanh(W_ih x + b_ih + W_hh h + b_hh)."""

    gates = 1

    def __init__(self, input_size, hidden_size):
        super().__init__()
        bound = 1 / math.sqrt(hidden_size)
        rows = self.gates * hidden_size
        self.weight_ih = uniform_parameter(rows, input_size, bound=bound)
        self.weight_hh = uniform_parameter(rows, hidden_size, bound=bound)
        self.bias_ih = uniform_parameter(rows, bound=bound)
        self.bias_hh = uniform_parameter(rows, bound=bound)

    def projections(self, x, h):
        """Compute the input and hidden projections, each (B, gates * hidden_size)."""
        return x @ self.weight_ih.T + self.bias_ih, h @ self.weight_hh.T + self.bias_hh

    def forward(self, x, h):
        from_input, from_hidden = self.projections(x, h)
        return torch.tanh(from_input + from_hidden)


class GRUCell(RNNCell):
    """Gates in torch's order: reset r, update z, candidate n."""

    gates = 3

    def forward(self, x, h):
        from_input, from_hidden = self.projections(x, h)
        input_r, input_z, input_n = from_input.chunk(3, dim=1)
        hidden_r, hidden_z, hidden_n = from_hidden.chunk(3, dim=1)
        r = torch.sigmoid(input_r + hidden_r)
        z = torch.sigmoid(input_z + hidden_z)
        n = torch.tanh(input_n + r * hidden_n)  # r scales the hidden projection, bias included
        return (1 - z) * n + z * h


class LSTMCell(RNNCell):
    """Gates in torch's order: input i, forget f, cell candidate g, output o."""

    gates = 4

    def forward(self, x, state):
        h, c = state
        from_input, from_hidden = self.projections(x, h)
        i, f, g, o = (from_input + from_hidden).chunk(4, dim=1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        h = torch.sigmoid(o) * torch.tanh(c)
        return h, c


CELLS = {"rnn": RNNCell, "gru": GRUCell, "lstm": LSTMCell}


class CharLM(nn.Module):
    """Embedding → recurrent cell → linear head, one character at a time."""

    def __init__(self, vocab_size, hidden_size, cell="lstm"):
        super().__init__()
        self.cell_type = cell
        self.hidden_size = hidden_size
        self.embedding = nn.Embedding(vocab_size, hidden_size)
        self.cell = CELLS[cell](hidden_size, hidden_size)
        self.head = nn.Linear(hidden_size, vocab_size)

    def initial_state(self, batch_size):
        zeros = torch.zeros(batch_size, self.hidden_size, device=self.head.weight.device, dtype=self.head.weight.dtype)
        return (zeros, zeros.clone()) if self.cell_type == "lstm" else zeros

    def forward(self, idx, state=None):
        """idx (B, T) of ints → logits (B, T, vocab) and the state after the last step."""
        if state is None:
            state = self.initial_state(idx.shape[0])
        x = self.embedding(idx)  # (B, T, hidden)
        outputs = []
        for t in range(idx.shape[1]):
            state = self.cell(x[:, t], state)
            outputs.append(state[0] if self.cell_type == "lstm" else state)
        return self.head(torch.stack(outputs, dim=1)), state


def detach_state(state):
    if isinstance(state, tuple):
        return tuple(part.detach() for part in state)
    return state.detach()


def train_char_lm(model, data, steps, batch_size, seq_len, lr):
    """Truncated backpropagation through time over batch_size parallel streams of data; returns the losses."""
    device = model.head.weight.device
    stream_len = len(data) // batch_size
    if stream_len < seq_len + 1:
        raise ValueError(f"{len(data)} characters make streams of {stream_len}; seq_len {seq_len} needs {seq_len + 1}")
    streams = data[: stream_len * batch_size].view(batch_size, stream_len).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    state, position, losses = None, 0, []
    for _ in range(steps):
        if position + seq_len + 1 > stream_len:  # wrap around: start the streams again from a fresh state
            state, position = None, 0
        inputs = streams[:, position : position + seq_len]
        targets = streams[:, position + 1 : position + seq_len + 1]
        logits, state = model(inputs, state)
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1))
        optimizer.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        state = detach_state(state)  # keep the values, cut the graph: the next backward stops here
        position += seq_len
        losses.append(loss.item())
    return losses


def temperature_probs(logits, temperature):
    """softmax(logits / temperature) over the last axis; one-hot at the argmax when temperature is 0."""
    if temperature == 0:
        return F.one_hot(logits.argmax(dim=-1), logits.shape[-1]).to(logits.dtype)
    return torch.softmax(logits / temperature, dim=-1)


def sample_next(logits, temperature, generator=None):
    """Draw one token id from temperature_probs(logits, temperature); argmax, without a draw, at 0."""
    if temperature == 0:
        return int(logits.argmax())
    return int(torch.multinomial(temperature_probs(logits, temperature), 1, generator=generator))


@torch.no_grad()
def generate(model, prompt, length, temperature, generator=None):
    """Feed the prompt ids, then sample `length` new ids one at a time, carrying the state."""
    device = model.head.weight.device
    logits, state = model(torch.tensor([prompt], device=device))
    new_ids = []
    for _ in range(length):
        next_id = sample_next(logits[0, -1].cpu(), temperature, generator)
        new_ids.append(next_id)
        logits, state = model(torch.tensor([[next_id]], device=device), state)
    return new_ids
