"""Lesson 1.3: the MNIST lesson's checkpoint, its ban list and the broken-loop exercise."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from phase1_helpers import check, messages, reference_source, statuses, unfinished
from sklearn.datasets import load_digits

from ztf_tutor.checking import load_check_module
from ztf_tutor.curriculum import curriculum
from ztf_tutor.locations import template_dir

MODEL = "phase1/mnist_mlp.py"
EXERCISE = "phase1/broken_training.py"
LINEAR = "Linear stores weight (out, in) and bias (out,) and matches F.linear with copied weights"
RELU = "ReLU matches torch.relu, and its gradient is 0 for negative inputs"
LOSS = "cross_entropy matches F.cross_entropy and its gradient within 1e-10, averaged over the batch"
STABLE = "cross_entropy stays finite and exact for logits of ±1000"
BANNED = "The model code uses no nn.Linear, nn.Sequential, F.cross_entropy or torch.optim"
DIGITS = "Training MLP([64, 64, 10]) on scikit-learn's digits reaches 90% test accuracy"
MNIST = "Training on real MNIST reaches 97% test accuracy"
ALIGNED = "broken_training.fit keeps each image with its label when it shuffles"
ZERO_GRAD = "broken_training.fit clears the gradients before each backward pass"
HISTORY = "broken_training.fit returns one plain float per batch"

pytestmark = pytest.mark.slow


def test_reference_passes_fast_tier(workspace, reference):
    reference("1.3")

    result = check(workspace.root, "1.3")

    assert result.status == "pass", messages(result)
    digits = next(c for c in result.criteria if c.name == DIGITS)
    assert float(digits.measured.removeprefix("test accuracy = ").rstrip("%")) >= 90


def test_parts_pass_before_the_loss_is_written(workspace):
    source = reference_source("1.3", MODEL)
    (workspace.root / MODEL).write_text(unfinished(source, "cross_entropy", "train_step", "train_epoch"), encoding="utf-8")

    result = statuses(check(workspace.root, "1.3"))

    assert result[LINEAR] == result[RELU] == result[BANNED] == "pass"
    assert result[LOSS] == result[STABLE] == result[DIGITS] == "fail"


def test_exercise_criteria_flip_one_fix_at_a_time(workspace, reference):
    reference("1.3")
    path = workspace.root / EXERCISE
    broken = (template_dir() / EXERCISE).read_text(encoding="utf-8")
    fixes = [
        ("        x_shuffled = x[torch.randperm(len(x), generator=generator)]\n"
         "        y_shuffled = y[torch.randperm(len(y), generator=generator)]\n",
         "        order = torch.randperm(len(x), generator=generator)\n"
         "        x_shuffled, y_shuffled = x[order], y[order]\n"),
        ("            loss = loss_fn(model(xb), yb)\n",
         "            optimizer.zero_grad()\n            loss = loss_fn(model(xb), yb)\n"),
        ("history.append(loss)", "history.append(loss.item())"),
    ]
    seen = []

    path.write_text(broken, encoding="utf-8")
    seen.append(statuses(check(workspace.root, "1.3")))
    for old, new in fixes:
        assert old in broken
        broken = broken.replace(old, new)
        path.write_text(broken, encoding="utf-8")
        seen.append(statuses(check(workspace.root, "1.3")))

    assert [(s[ALIGNED], s[ZERO_GRAD], s[HISTORY]) for s in seen] == [
        ("fail", "fail", "fail"), ("pass", "fail", "fail"), ("pass", "pass", "fail"), ("pass", "pass", "pass"),
    ]
    assert all(s[LINEAR] == "pass" for s in seen)


def test_framework_layer_is_rejected_with_its_line(workspace, reference):
    reference("1.3")
    source = reference_source("1.3", MODEL) + "\n\ndef shortcut(n):\n    return torch.nn.Linear(n, n)\n"
    (workspace.root / MODEL).write_text(source, encoding="utf-8")

    result = check(workspace.root, "1.3")

    assert statuses(result)[BANNED] == "fail"
    assert "nn.Linear" in messages(result)[BANNED]
    assert f"line {len(source.splitlines())}" in messages(result)[BANNED]


def test_full_tier_skips_without_mnist(workspace, reference):
    reference("1.3")

    result = check(workspace.root, "1.3", tier="full")

    assert statuses(result)[MNIST] == "skip"
    assert "ztf data get mnist" in messages(result)[MNIST]
    assert DIGITS not in statuses(result)
    assert result.status == "skip"  # not a pass: the MNIST criterion never ran


def write_idx(path, array: np.ndarray) -> None:
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(n.to_bytes(4, "big") for n in array.shape)
    path.write_bytes(header + array.astype(np.uint8).tobytes())


def test_full_tier_trains_on_mnist_format_files(workspace, reference):
    """Digits enlarged to 28 × 28 and repeated to MNIST's sizes stand in for the real download."""
    reference("1.3")
    digits = load_digits()
    images = np.pad(np.kron(digits.images, np.ones((3, 3))), ((0, 0), (2, 2), (2, 2))) * 255 / 16
    folder = Path(os.environ["ZTF_DATA_DIR"]) / "mnist"
    folder.mkdir(parents=True)
    for prefix, count in (("train", 60000), ("t10k", 10000)):
        picks = np.arange(count) % len(images)
        write_idx(folder / f"{prefix}-images-idx3-ubyte", images[picks])
        write_idx(folder / f"{prefix}-labels-idx1-ubyte", digits.target[picks])

    result = check(workspace.root, "1.3", tier="full")

    assert statuses(result)[MNIST] == "pass", messages(result)[MNIST]


@pytest.mark.parametrize(("source", "expected"), [
    ("import torch.nn as nn\nlayer = nn.Linear(2, 3)\n", ["line 2: nn.Linear"]),
    ("import torch\nloss = torch.nn.functional.cross_entropy(z, t)\n", ["line 2: F.cross_entropy"]),
    ("from torch.nn import Sequential\n", ["line 1: import of Sequential from torch.nn"]),
    ("import torch.optim\n", ["line 1: import of torch.optim"]),
    ("total = logits.logsumexp(dim=1)\n", ["line 1: logsumexp"]),
    ("self.linear = Linear(4, 5)\nself.relu = ReLU()\n", []),
])
def test_ban_list_spares_learner_names(source, expected):
    check_module = load_check_module(curriculum().lesson("1.3").check_file)

    assert check_module.banned_uses(source) == expected
