"""Lesson 1.1: load CIFAR-10 from its binary files and batch it, in NumPy only.

Write every function that raises NotImplementedError. `ztf check 1.1` (or saving this
file while `ztf start` runs) tells you which parts are correct. Run `ztf hint 1.1` when stuck.

The binary format: a batch file is a sequence of 3,073-byte records. Each record is one
label byte (0-9), then 1,024 red, 1,024 green and 1,024 blue bytes, each plane row by row
(32 rows of 32 pixels). A real batch file contains 10,000 records.
"""

from pathlib import Path

import numpy as np

RECORD_BYTES = 1 + 3 * 32 * 32
TRAIN_FILES = [f"data_batch_{i}.bin" for i in range(1, 6)]
TEST_FILE = "test_batch.bin"


def load_batch(path):
    """Read one batch file and return (images, labels).

    Returns:
        images: uint8 array of shape (N, 3, 32, 32), channels first: images[n, c, row, col].
        labels: int64 array of shape (N,).

    Raises:
        ValueError with `path` in its message when the file is empty or its size is not a
        whole number of records (a truncated or corrupt download).
    """
    raise NotImplementedError("load_batch is not implemented yet")


def load_cifar10(folder):
    """Load the whole dataset from a folder holding the six batch files.

    Returns (x_train, y_train, x_test, y_test): the five training batches concatenated
    in order data_batch_1 … data_batch_5 (50,000 images for the real set), then test_batch.

    Raises:
        FileNotFoundError naming the first missing file.
    """
    raise NotImplementedError("load_cifar10 is not implemented yet")


def channel_stats(images):
    """Return (mean, std): two float arrays of shape (3,), one value per colour channel.

    Scale the uint8 pixels to [0, 1] by dividing by 255 first, then average over every
    image, row and column of each channel.
    """
    raise NotImplementedError("channel_stats is not implemented yet")


def normalize(images, mean, std):
    """Return float32 images of the same shape: (pixel / 255 − mean[c]) / std[c] per channel c.

    Do not change `images` in place; use the statistics of the training set for both the
    training and the test images.
    """
    raise NotImplementedError("normalize is not implemented yet")


def iterate_minibatches(images, labels, batch_size, shuffle=True, rng=None, drop_last=False):
    """Yield (image_batch, label_batch) pairs that cover the data once: one epoch.

    Args:
        images, labels: arrays with the same first dimension N.
        batch_size: samples per batch; the last batch contains the remaining N % batch_size
            samples unless drop_last is True, in which case it is left out.
        shuffle: visit the samples in a random order (one permutation for images and
            labels alike) when True, in file order when False.
        rng: a numpy Generator (np.random.default_rng(seed)); required when shuffle is
            True. Draw the permutation from it, so one seed repeats the order and each
            new epoch on the same generator gets a new order.
        drop_last: leave out the last batch when it is smaller than batch_size.
    """
    raise NotImplementedError("iterate_minibatches is not implemented yet")
