"""The child process behind the tutor's text generator (lesson 3.4).

It imports the learner's `phase3.gpt` and `phase3.generate` from the workspace, so learner code
never runs in the tutor's process. Two jobs, chosen by the spec's "job" key:

- "generate": load a checkpoint (`{"model", "config", "chars"}`, as lesson 3.3 saves it) and call
  the learner's `stream`, writing one `{"event": "piece", "text": ...}` line per token.
- "train_tiny": train a small GPT (the learner's class, a plain AdamW loop) for a few hundred
  steps on a text file and save it in the same format, so the generator has a model before
  lesson 3.3's GPU run exists.

Events are JSON lines on the original stdout; anything the learner prints goes to stderr, so it
cannot corrupt them. Usage: `python -m ztf_tutor.generation_child SPEC_JSON`.
"""

from __future__ import annotations

import json
import os
import sys
import time
import traceback
from pathlib import Path
from typing import Any, TextIO

# The tiny model: big enough to pick up the letters and common words of one lesson page in a few seconds.
TINY_CONFIG = {"block_size": 64, "n_layer": 2, "n_head": 4, "n_embd": 64, "dropout": 0.0, "bias": True}
TINY_STEPS = 300
TINY_SECONDS = 10.0  # training stops at TINY_STEPS or after this long, whichever comes first
TINY_BATCH = 16
TINY_LR = 3e-3


class Events:
    """JSON lines on a private copy of stdout."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream

    def send(self, event: str, **fields: Any) -> None:
        self.stream.write(json.dumps({"event": event, **fields}) + "\n")
        self.stream.flush()


def private_stdout() -> TextIO:
    """Keep a private handle on stdout for events and send fd 1 (and so the learner's prints) to stderr."""
    events = os.fdopen(os.dup(1), "w", encoding="utf-8", buffering=1)
    os.dup2(2, 1)
    return events


def learner_error(error: BaseException, workspace: Path) -> dict[str, Any]:
    """Describe an exception for the learner: the message and the innermost line in the workspace."""
    from .checking import learner_location

    location, function = learner_location(error.__traceback__, workspace)
    if isinstance(error, SyntaxError) and error.filename:
        location = f"{error.filename}:{error.lineno}"
    if isinstance(error, NotImplementedError):
        message = f"{function or 'a function'} is not implemented yet ({error or 'NotImplementedError'})."
    else:
        message = f"{type(error).__name__}: {error}"
    return {"message": message, "location": location}


def encode(prompt: str, chars: list[str]) -> list[int]:
    """Map the prompt to token ids; characters the model never saw are an error that names them."""
    index = {char: i for i, char in enumerate(chars)}
    unknown = sorted({char for char in prompt if char not in index})
    if unknown:
        raise ValueError(f"the model does not know the characters {''.join(unknown)!r}; "
                         f"its vocabulary is the {len(chars)} characters of its training text.")
    return [index[char] for char in prompt]


def load_model(path: Path, gpt: Any) -> tuple[Any, list[str]]:
    """Rebuild the learner's GPT from a checkpoint on the CPU."""
    import torch

    checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    model = gpt.GPT(gpt.GPTConfig(**checkpoint["config"]))
    model.load_state_dict(checkpoint["model"])
    model.eval()
    return model, list(checkpoint["chars"])


def generate(spec: dict[str, Any], events: Events) -> None:
    """Stream tokens from the learner's `stream` as decoded pieces."""
    import torch
    from phase3 import generate as sampling  # the learner's module
    from phase3 import gpt

    model, chars = load_model(Path(spec["model"]), gpt)
    prompt = spec["prompt"] or "\n"
    idx = torch.tensor([encode(prompt, chars)], dtype=torch.long)
    generator = torch.Generator().manual_seed(int(spec.get("seed", 0)))
    events.send("ready", vocab=len(chars), block_size=model.config.block_size)

    started = time.perf_counter()
    count = 0
    tokens = sampling.stream(model, idx, int(spec["max_new_tokens"]), float(spec["temperature"]), None,
                             float(spec["top_p"]), generator, use_cache=True)
    for token in tokens:
        events.send("piece", text=chars[int(token.reshape(-1)[0])])
        count += 1
    events.send("done", tokens=count, seconds=time.perf_counter() - started)


def train_tiny(spec: dict[str, Any], events: Events) -> None:
    """Train the learner's GPT briefly on a text file and save it as a generator checkpoint."""
    import torch
    import torch.nn.functional as F
    from phase3 import gpt

    text = Path(spec["text"]).read_text(encoding="utf-8")
    chars = sorted(set(text))
    data = torch.tensor([chars.index(char) for char in text], dtype=torch.long)
    torch.manual_seed(0)
    config = gpt.GPTConfig(vocab_size=len(chars), **TINY_CONFIG)
    model = gpt.GPT(config)
    optimizer = torch.optim.AdamW(model.parameters(), lr=TINY_LR)
    generator = torch.Generator().manual_seed(0)
    steps = int(spec.get("steps", TINY_STEPS))
    block = int(TINY_CONFIG["block_size"])
    deadline = time.perf_counter() + float(spec.get("seconds", TINY_SECONDS))

    model.train()
    loss = torch.tensor(float("nan"))
    for step in range(steps):
        if time.perf_counter() > deadline:
            break
        starts = torch.randint(0, len(data) - block - 1, (TINY_BATCH,), generator=generator)
        x = torch.stack([data[s : s + block] for s in starts])
        y = torch.stack([data[s + 1 : s + 1 + block] for s in starts])
        logits, _ = model(x)
        # The loss is computed here, not by the learner's forward, so a tiny model needs only GPT to work.
        loss = F.cross_entropy(logits.reshape(-1, logits.size(-1)), y.reshape(-1))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if step % 20 == 0:
            events.send("progress", fraction=step / steps, text=f"step {step}/{steps}, loss {loss.item():.2f}")

    output = Path(spec["output"])
    output.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"model": model.state_dict(), "config": vars(config), "chars": chars}, output)
    events.send("saved", path=str(output), loss=loss.item())


def main() -> int:
    spec = json.loads(sys.argv[1])
    events = Events(private_stdout())
    import torch

    # A small model gains nothing from several threads, and one thread keeps the tutor's machine responsive.
    torch.set_num_threads(1)
    workspace = Path(spec["workspace"]).resolve()
    sys.path.insert(0, str(workspace))
    os.chdir(workspace)
    job = train_tiny if spec.get("job") == "train_tiny" else generate
    try:
        job(spec, events)
    except Exception as error:  # any failure in learner code or the checkpoint goes to the screen
        events.send("error", **learner_error(error, workspace))
        traceback.print_exc()
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
