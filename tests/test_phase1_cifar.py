"""Lesson 1.1: the CIFAR-10 loader's checkpoint flips criterion by criterion and reads real data."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from phase1_helpers import check, messages, reference_source, statuses, unfinished

FILE = "phase1/cifar.py"
BATCH = "load_batch returns (N, 3, 32, 32) uint8 images and int64 labels, pixel-exact at channel and row boundaries"
TRUNCATED = "load_batch rejects a truncated file with a ValueError that names the file"
ORDER = "load_cifar10 joins data_batch_1 … data_batch_5 in order and loads test_batch"
NORMALIZE = "channel_stats and normalize give every channel mean 0 and std 1, in float32"
COVERAGE = "iterate_minibatches yields every sample once per epoch, each image with its own label"
SIZES = "The last partial batch is kept, or dropped only when drop_last=True"
SEEDING = "One seed repeats the order, the next epoch reshuffles, and shuffle=False keeps file order"
REAL = "The real CIFAR-10 batches load pixel-exact: 50,000 training and 10,000 test images"
REAL_NORMALIZE = "Normalising the real training set gives every channel mean 0 and std 1"
REAL_EPOCH = "One shuffled epoch over the real training set yields all 50,000 images, each with its own label"

pytestmark = pytest.mark.slow


def test_reference_passes_fast_tier(workspace, reference):
    reference("1.1")

    result = check(workspace.root, "1.1")

    assert result.status == "pass", messages(result)
    assert REAL not in statuses(result)


def test_stub_fails_every_criterion(workspace):
    result = check(workspace.root, "1.1")

    assert set(statuses(result).values()) == {"fail"}
    assert "load_batch is not implemented yet" in messages(result)[BATCH]


def test_criteria_flip_as_functions_are_written(workspace):
    source = reference_source("1.1", FILE)
    path = workspace.root / FILE

    path.write_text(unfinished(source, "load_cifar10", "channel_stats", "iterate_minibatches"), encoding="utf-8")
    loader_only = statuses(check(workspace.root, "1.1"))
    path.write_text(unfinished(source, "iterate_minibatches"), encoding="utf-8")
    without_iterator = statuses(check(workspace.root, "1.1"))

    assert loader_only[BATCH] == loader_only[TRUNCATED] == "pass"
    assert loader_only[ORDER] == loader_only[NORMALIZE] == loader_only[COVERAGE] == "fail"
    assert without_iterator[ORDER] == without_iterator[NORMALIZE] == "pass"
    assert without_iterator[COVERAGE] == without_iterator[SIZES] == without_iterator[SEEDING] == "fail"


def test_hwc_mistake_is_named(workspace):
    source = reference_source("1.1", FILE).replace(
        "records[:, 1:].reshape(-1, 3, 32, 32)", "records[:, 1:].reshape(-1, 32, 32, 3).transpose(0, 3, 1, 2)")
    (workspace.root / FILE).write_text(source, encoding="utf-8")

    result = check(workspace.root, "1.1")

    assert statuses(result)[BATCH] == "fail"
    assert "height-width-channel" in messages(result)[BATCH]
    assert statuses(result)[COVERAGE] == "pass"


def test_full_tier_skips_without_data(workspace, reference):
    reference("1.1")

    result = check(workspace.root, "1.1", tier="full")

    assert statuses(result)[REAL] == statuses(result)[REAL_NORMALIZE] == statuses(result)[REAL_EPOCH] == "skip"
    assert "ztf data get cifar10" in messages(result)[REAL]
    assert statuses(result)[BATCH] == "pass"
    assert result.status == "skip"  # not a pass: the real-data criteria never ran


def write_real_format_batches(folder: Path) -> None:
    """Six files in CIFAR-10's exact size and layout, with 1,000 labels per class per file."""
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    names = [f"data_batch_{i}.bin" for i in range(1, 6)] + ["test_batch.bin"]
    for name in names:
        records = rng.integers(0, 256, size=(10000, 3073), dtype=np.uint8)
        records[:, 0] = np.arange(10000) % 10
        records.tofile(folder / name)


def test_full_tier_reads_real_format_batches(workspace, reference):
    reference("1.1")
    write_real_format_batches(Path(os.environ["ZTF_DATA_DIR"]) / "cifar10" / "cifar-10-batches-bin")

    result = check(workspace.root, "1.1", tier="full")

    assert result.status == "pass", messages(result)
    assert statuses(result)[REAL] == statuses(result)[REAL_EPOCH] == "pass"
