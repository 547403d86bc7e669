"""Reference solution for lesson 1.1: a CIFAR-10 loader and minibatch iterator in NumPy."""

from pathlib import Path

import numpy as np

RECORD_BYTES = 1 + 3 * 32 * 32
TRAIN_FILES = [f"data_batch_{i}.bin" for i in range(1, 6)]
TEST_FILE = "test_batch.bin"


def load_batch(path):
    raw = np.fromfile(path, dtype=np.uint8)
    if raw.size == 0 or raw.size % RECORD_BYTES != 0:
        raise ValueError(f"{path}: {raw.size} bytes is not a whole number of {RECORD_BYTES}-byte CIFAR-10 records")
    records = raw.reshape(-1, RECORD_BYTES)
    labels = records[:, 0].astype(np.int64)
    # Each record stores the red plane, then green, then blue: channels first.
    images = records[:, 1:].reshape(-1, 3, 32, 32)
    return images, labels


def load_cifar10(folder):
    folder = Path(folder)
    for name in TRAIN_FILES + [TEST_FILE]:
        if not (folder / name).is_file():
            raise FileNotFoundError(f"{folder / name} is missing")
    parts = [load_batch(folder / name) for name in TRAIN_FILES]
    x_train = np.concatenate([images for images, _ in parts])
    y_train = np.concatenate([labels for _, labels in parts])
    x_test, y_test = load_batch(folder / TEST_FILE)
    return x_train, y_train, x_test, y_test


def channel_stats(images):
    scaled = images.astype(np.float64) / 255.0
    return scaled.mean(axis=(0, 2, 3)), scaled.std(axis=(0, 2, 3))


def normalize(images, mean, std):
    scaled = images.astype(np.float32) / 255.0
    return ((scaled - mean.reshape(1, 3, 1, 1)) / std.reshape(1, 3, 1, 1)).astype(np.float32)


def iterate_minibatches(images, labels, batch_size, shuffle=True, rng=None, drop_last=False):
    if shuffle and rng is None:
        raise ValueError("shuffle=True needs rng, a numpy Generator such as np.random.default_rng(0)")
    order = rng.permutation(len(images)) if shuffle else np.arange(len(images))
    stop = len(images) - len(images) % batch_size if drop_last else len(images)
    for start in range(0, stop, batch_size):
        batch = order[start:start + batch_size]
        yield images[batch], labels[batch]
