"""Checkpoint for lesson 1.1: a NumPy loader for CIFAR-10's binary batches, normalisation and a
seeded minibatch iterator. The fast tier writes format-exact batch files itself; the full tier
repeats the loading and normalisation on the real batches in the data folder."""

from __future__ import annotations

import numpy as np

from ztf_tutor.checking import Measured, criterion, fail, fmt, skip

MODULE = "phase1.cifar"
RECORD = 1 + 3 * 32 * 32
TRAIN_FILES = [f"data_batch_{i}.bin" for i in range(1, 6)]
TEST_FILE = "test_batch.bin"
REAL_FOLDER = "cifar10/cifar-10-batches-bin"


def fake_images(count: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Random images (N, 3, 32, 32) whose channels differ, and labels 0-9."""
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, size=(count, 3, 32, 32), dtype=np.uint8)
    labels = rng.integers(0, 10, size=count).astype(np.int64)
    return images, labels


def write_batch(path, images: np.ndarray, labels: np.ndarray) -> None:
    """Write records exactly as CIFAR-10 does: label byte, then the R, G and B planes row by row."""
    records = np.concatenate([labels.astype(np.uint8)[:, None], images.reshape(len(images), -1)], axis=1)
    path.write_bytes(records.tobytes())


def describe_layout_bug(got: np.ndarray, raw: np.ndarray) -> str:
    """Name the decoding mistake whose output equals `got`, if one does."""
    pixels = raw[:, 1:]
    guesses = {
        "the bytes were reshaped as (N, 32, 32, 3), height-width-channel, but the file stores whole colour planes: "
        "reshape to (N, 3, 32, 32) directly": pixels.reshape(-1, 32, 32, 3).transpose(0, 3, 1, 2),
        "each image includes its label byte and misses its last blue pixel: skip byte 0 of each record, take bytes 1 to 3072":
            raw[:, :-1].reshape(-1, 3, 32, 32),
        "rows and columns are swapped: the planes are stored row by row": pixels.reshape(-1, 3, 32, 32).transpose(0, 1, 3, 2),
    }
    for text, wrong in guesses.items():
        if got.shape == wrong.shape and np.array_equal(got, wrong):
            return f" Your output matches a known mistake: {text}."
    return " Look at load_batch: drop the label byte of each record, then reshape the 3,072 pixel bytes to (3, 32, 32)."


def check_batch(module, path, images: np.ndarray, labels: np.ndarray) -> None:
    got_images, got_labels = module.load_batch(str(path))
    got_images, got_labels = np.asarray(got_images), np.asarray(got_labels)
    if got_images.shape != images.shape:
        fail(f"load_batch({path.name}) returned images of shape {got_images.shape}; a file of {len(images)} records "
             f"holds {images.shape}, channels first. Look at load_batch.",
             measured=f"shape {got_images.shape}", threshold=f"= {images.shape}")
    if got_images.dtype != np.uint8:
        fail(f"load_batch returned images of dtype {got_images.dtype}; keep the raw uint8 bytes (normalize converts later).")
    if got_labels.shape != labels.shape or not np.issubdtype(got_labels.dtype, np.integer) or got_labels.dtype.itemsize < 8:
        fail(f"load_batch returned labels of shape {got_labels.shape} and dtype {got_labels.dtype}; expected {labels.shape} "
             "int64, so they can index arrays and feed a loss. Look at load_batch: labels.astype(np.int64).")
    if not np.array_equal(got_labels, labels):
        fail(f"load_batch({path.name}) labels {got_labels[:6].tolist()}… differ from the file's {labels[:6].tolist()}…. "
             "The label is the first byte of each 3,073-byte record.")
    if not np.array_equal(got_images, images):
        raw = np.concatenate([labels.astype(np.uint8)[:, None], images.reshape(len(images), -1)], axis=1)
        wrong = np.argwhere(got_images != images)[0]
        fail(f"load_batch({path.name}): {int((got_images != images).sum())} pixels differ; the first at "
             f"[n={wrong[0]}, c={wrong[1]}, row={wrong[2]}, col={wrong[3]}] is {got_images[tuple(wrong)]}, "
             f"the file says {images[tuple(wrong)]}.{describe_layout_bug(got_images, raw)}",
             measured=f"{int((got_images != images).sum())} pixels differ", threshold="= 0")


@criterion("load_batch returns (N, 3, 32, 32) uint8 images and int64 labels, pixel-exact at channel and row boundaries")
def batch_exact(ctx):
    module = ctx.learner(MODULE)
    images, labels = fake_images(7, seed=0)
    # Marker pixels at the plane and row boundaries, where layout mistakes show first.
    images[:, 0, 31, 31], images[:, 1, 0, 0], images[:, 2, 0, 0], images[:, 0, 1, 0] = 11, 22, 33, 44
    write_batch(ctx.scratch / "fake_batch.bin", images, labels)
    check_batch(module, ctx.scratch / "fake_batch.bin", images, labels)
    return Measured(f"{images.size} pixels and {len(labels)} labels exact", "= file")


@criterion("load_batch rejects a truncated file with a ValueError that names the file")
def batch_truncated(ctx):
    module = ctx.learner(MODULE)
    images, labels = fake_images(3, seed=1)
    path = ctx.scratch / "truncated_batch.bin"
    write_batch(path, images, labels)
    path.write_bytes(path.read_bytes()[:-100])
    try:
        result = module.load_batch(str(path))
    except ValueError as error:
        if path.name not in str(error):
            fail(f"load_batch raised ValueError({str(error)!r}) for a file 100 bytes short, but the message does not "
                 f"name the file. Put the path in it, so a learner knows which download to fetch again.")
        return Measured("ValueError naming the file")
    except Exception as error:  # noqa: BLE001 - any other exception is the learner's bug to report
        fail(f"load_batch raised {type(error).__name__} for a file 100 bytes short; raise ValueError naming the file "
             "when its size is not a multiple of 3,073 bytes.")
    shape = getattr(result[0], "shape", "?") if isinstance(result, tuple) else "?"
    fail(f"load_batch accepted a file 100 bytes short of 3 records and returned images of shape {shape}. Check that "
         "the size is a whole number of 3,073-byte records and raise ValueError naming the file otherwise.")


def write_dataset(folder, seed: int) -> tuple[np.ndarray, ...]:
    folder.mkdir(parents=True, exist_ok=True)
    parts = []
    for index, name in enumerate(TRAIN_FILES + [TEST_FILE]):
        images, labels = fake_images(3 + index, seed=seed + index)  # distinct sizes reveal the order
        write_batch(folder / name, images, labels)
        parts.append((images, labels))
    x_train = np.concatenate([images for images, _ in parts[:5]])
    y_train = np.concatenate([labels for _, labels in parts[:5]])
    return x_train, y_train, parts[5][0], parts[5][1]


@criterion("load_cifar10 joins data_batch_1 … data_batch_5 in order and loads test_batch")
def dataset_order(ctx):
    module = ctx.learner(MODULE)
    folder = ctx.scratch / "cifar-10-batches-bin"
    expected = write_dataset(folder, seed=10)
    got = [np.asarray(a) for a in module.load_cifar10(str(folder))]
    names = ["x_train", "y_train", "x_test", "y_test"]
    for name, value, want in zip(names, got, expected):
        if value.shape != want.shape:
            fail(f"load_cifar10 returned {name} of shape {value.shape}; the five training files hold 3+4+5+6+7 = 25 "
                 f"images and test_batch 8, so expected {want.shape}. Load all of data_batch_1 … data_batch_5 "
                 "and only those for training.", measured=f"{name} {value.shape}", threshold=f"= {want.shape}")
        if not np.array_equal(value, want):
            fail(f"load_cifar10's {name} has the right shape but not the file order. Concatenate data_batch_1 … "
                 "data_batch_5 in that order (a sorted glob would also put data_batch_10 before data_batch_2).")
    (folder / "data_batch_3.bin").unlink()
    try:
        module.load_cifar10(str(folder))
    except FileNotFoundError as error:
        if "data_batch_3" not in str(error):
            fail(f"with data_batch_3.bin missing, load_cifar10 raised FileNotFoundError({str(error)!r}), which does not name it.")
    except Exception as error:  # noqa: BLE001 - any other exception is the learner's bug to report
        fail(f"with data_batch_3.bin missing, load_cifar10 raised {type(error).__name__}; raise FileNotFoundError naming the file.")
    else:
        fail("with data_batch_3.bin missing, load_cifar10 returned data instead of raising FileNotFoundError naming the file.")
    return Measured("25 train + 8 test images in file order")


def check_normalized(module, images: np.ndarray, label: str) -> Measured:
    scaled = images.astype(np.float64) / 255.0
    want_mean, want_std = scaled.mean(axis=(0, 2, 3)), scaled.std(axis=(0, 2, 3))
    mean, std = (np.asarray(v, dtype=np.float64) for v in module.channel_stats(images))
    if mean.shape != (3,) or std.shape != (3,):
        fail(f"channel_stats returned mean of shape {mean.shape} and std of shape {std.shape}; expected (3,) each, one "
             "value per channel. Average over axes (0, 2, 3): every image, row and column.",
             measured=f"mean {mean.shape}", threshold="= (3,)")

    if np.allclose(mean, want_mean * 255, rtol=1e-4):
        fail(f"channel_stats gives mean {mean.round(2).tolist()}, 255 × the expected {want_mean.round(4).tolist()}. "
             "Divide the pixels by 255 first.")
    error = max(np.abs(mean - want_mean).max(), np.abs(std - want_std).max())
    if error > 1e-6:
        fail(f"channel_stats on {label} gives mean {mean.round(4).tolist()} and std {std.round(4).tolist()}; "
             f"expected {want_mean.round(4).tolist()} and {want_std.round(4).tolist()}. Look at channel_stats: "
             "one mean and one std per channel, over every image, row and column of it.",
             measured=f"max error = {fmt(error)}", threshold="≤ 1e-6")

    before = images.copy()
    out = np.asarray(module.normalize(images, mean, std))
    if not np.array_equal(images, before):
        fail("normalize changed the images passed to it. Work on a float copy: images.astype(np.float32).")
    if out.dtype != np.float32 or out.shape != images.shape:
        fail(f"normalize returned {out.dtype} of shape {out.shape}; expected float32 of shape {images.shape}.")
    out_mean = out.astype(np.float64).mean(axis=(0, 2, 3))
    out_std = out.astype(np.float64).std(axis=(0, 2, 3))
    worst = max(np.abs(out_mean).max(), np.abs(out_std - 1).max())
    if worst > 1e-3:
        fail(f"after normalize, the channel means are {out_mean.round(3).tolist()} and stds {out_std.round(3).tolist()}; "
             "they should be 0 and 1. Look at normalize: (pixel / 255 − mean[c]) / std[c], with mean and std "
             "reshaped to (1, 3, 1, 1) so they broadcast over channels.",
             measured=f"max |mean|, |std − 1| = {fmt(worst)}", threshold="≤ 1e-3")
    return Measured(f"max |mean|, |std − 1| = {fmt(worst)}", "≤ 1e-3")


@criterion("channel_stats and normalize give every channel mean 0 and std 1, in float32")
def normalization(ctx):
    module = ctx.learner(MODULE)
    images, _ = fake_images(40, seed=2)
    # Give the channels different ranges so per-channel and global statistics differ.
    images[:, 0] //= 2
    images[:, 2] = 128 + images[:, 2] // 4
    return check_normalized(module, images, "40 images")


def indexed_data(count: int) -> tuple[np.ndarray, np.ndarray]:
    """Images whose first two pixels encode the sample index, and labels derived from it."""
    images = np.zeros((count, 3, 32, 32), dtype=np.uint8)
    images[:, 0, 0, 0] = np.arange(count) % 256
    images[:, 0, 0, 1] = np.arange(count) // 256
    return images, (np.arange(count) * 7) % 10


def epoch_indices(module, images, labels, batch_size: int, **options) -> list[np.ndarray]:
    batches = []
    for batch_images, batch_labels in module.iterate_minibatches(images, labels, batch_size, **options):
        batch_images, batch_labels = np.asarray(batch_images), np.asarray(batch_labels)
        indices = batch_images[:, 0, 0, 0].astype(np.int64) + 256 * batch_images[:, 0, 0, 1].astype(np.int64)
        if not np.array_equal(batch_labels, (indices * 7) % 10):
            wrong = int((batch_labels != (indices * 7) % 10).sum())
            fail(f"a batch pairs {wrong} of {len(indices)} images with another image's label. Shuffle with one "
                 "permutation and index both arrays with it: images[order], labels[order]. Look at iterate_minibatches.",
                 measured=f"{wrong} misaligned labels", threshold="= 0")
        batches.append(indices)
    return batches


@criterion("iterate_minibatches yields every sample once per epoch, each image with its own label")
def minibatch_coverage(ctx):
    module = ctx.learner(MODULE)
    images, labels = indexed_data(300)
    batches = epoch_indices(module, images, labels, 32, shuffle=True, rng=np.random.default_rng(0))
    seen = np.concatenate(batches) if batches else np.array([], dtype=np.int64)
    if len(seen) != len(np.unique(seen)):
        fail(f"one epoch yielded {len(seen)} samples but only {len(np.unique(seen))} distinct ones: some repeat. "
             "Draw a permutation (rng.permutation), not independent random indices (rng.integers or choice with replacement).")
    if len(seen) != 300:
        fail(f"one epoch of 300 samples with batch_size 32 yielded {len(seen)} samples; expected all 300 "
             "(9 batches of 32 and one of 12). Look at iterate_minibatches.",
             measured=f"{len(seen)} samples", threshold="= 300")
    if np.array_equal(seen, np.arange(300)):
        fail("with shuffle=True the samples came in file order. Draw a permutation from rng.")
    return Measured("300 of 300 samples, labels aligned", "= 300")


@criterion("The last partial batch is kept, or dropped only when drop_last=True")
def minibatch_sizes(ctx):
    module = ctx.learner(MODULE)
    images, labels = indexed_data(103)
    for drop_last, expected in ((False, [25, 25, 25, 25, 3]), (True, [25, 25, 25, 25])):
        batches = epoch_indices(module, images, labels, 25, shuffle=True, rng=np.random.default_rng(1), drop_last=drop_last)
        sizes = [len(b) for b in batches]
        if sizes != expected:
            fail(f"103 samples with batch_size 25 and drop_last={drop_last} gave batch sizes {sizes}; expected {expected}. "
                 + ("The last 3 samples were lost: keep the final partial batch unless drop_last is True."
                    if not drop_last else "With drop_last=True leave out only the final batch of 3."),
                 measured=f"sizes {sizes}", threshold=f"= {expected}")
    return Measured("[25, 25, 25, 25, 3] and [25, 25, 25, 25]")


@criterion("One seed repeats the order, the next epoch reshuffles, and shuffle=False keeps file order")
def minibatch_seeding(ctx):
    module = ctx.learner(MODULE)
    images, labels = indexed_data(64)

    def order(**options) -> np.ndarray:
        return np.concatenate(epoch_indices(module, images, labels, 16, **options))

    first = order(shuffle=True, rng=np.random.default_rng(42))
    again = order(shuffle=True, rng=np.random.default_rng(42))
    if not np.array_equal(first, again):
        fail("two generators made with the same seed gave different orders. Draw the permutation from the rng argument "
             "(rng.permutation), not from np.random's global state.")
    rng = np.random.default_rng(7)
    epoch_one, epoch_two = order(shuffle=True, rng=rng), order(shuffle=True, rng=rng)
    if np.array_equal(epoch_one, epoch_two):
        fail("two epochs on the same rng gave the same order, so the model sees the same batches every epoch. "
             "Use the rng passed in; do not create a new generator with a fixed seed inside iterate_minibatches.")
    other_seed = order(shuffle=True, rng=np.random.default_rng(43))
    if np.array_equal(first, other_seed):
        fail("seeds 42 and 43 gave the same order. The permutation must come from the rng argument.")
    plain = order(shuffle=False)
    if not np.array_equal(plain, np.arange(64)):
        fail(f"with shuffle=False the order began {plain[:6].tolist()}, not 0, 1, 2, …. Keep file order when shuffle is False.")
    return Measured("same seed same order, new epoch new order")


def real_folder(ctx):
    folder = ctx.data_dir / REAL_FOLDER if ctx.data_dir else None
    if folder is None or not all((folder / name).is_file() for name in TRAIN_FILES + [TEST_FILE]):
        skip(f"the real CIFAR-10 batches are not in {folder}. Run `ztf data get cifar10` (a 162 MB download), "
             "then check again with --tier full.")
    return folder


@criterion("The real CIFAR-10 batches load pixel-exact: 50,000 training and 10,000 test images", tiers=("full",))
def real_batches(ctx):
    module = ctx.learner(MODULE)
    folder = real_folder(ctx)
    x_train, y_train, x_test, y_test = (np.asarray(a) for a in module.load_cifar10(str(folder)))
    if x_train.shape != (50000, 3, 32, 32) or x_test.shape != (10000, 3, 32, 32):
        fail(f"load_cifar10 returned x_train {x_train.shape} and x_test {x_test.shape}; expected (50000, 3, 32, 32) and (10000, 3, 32, 32).")
    for offset, name in ((0, "data_batch_1.bin"), (40000, "data_batch_5.bin"), (None, TEST_FILE)):
        raw = np.fromfile(folder / name, dtype=np.uint8).reshape(-1, RECORD)
        images, labels = (x_test, y_test) if offset is None else (x_train[offset:offset + 10000], y_train[offset:offset + 10000])
        if not np.array_equal(images, raw[:, 1:].reshape(-1, 3, 32, 32)) or not np.array_equal(labels, raw[:, 0]):
            fail(f"the images or labels from {name} differ from the file's records. Look at load_batch and the order in load_cifar10.")
    counts = np.bincount(y_train, minlength=10)
    if counts.tolist() != [5000] * 10:
        fail(f"the training labels per class are {counts.tolist()}; the real set has 5,000 of each.")
    return Measured("60,000 images exact, 5,000 per class", "= files")


@criterion("Normalising the real training set gives every channel mean 0 and std 1", tiers=("full",))
def real_normalization(ctx):
    module = ctx.learner(MODULE)
    folder = real_folder(ctx)
    images, _ = module.load_batch(str(folder / "data_batch_1.bin"))
    return check_normalized(module, np.asarray(images), "data_batch_1")


@criterion("One shuffled epoch over the real training set yields all 50,000 images, each with its own label", tiers=("full",))
def real_epoch(ctx):
    module = ctx.learner(MODULE)
    folder = real_folder(ctx)
    x_train, y_train, _, _ = (np.asarray(a) for a in module.load_cifar10(str(folder)))
    # Passing the row numbers as labels shows exactly which rows each batch took.
    rows = np.arange(len(x_train))
    seen = []
    for batch_images, batch_rows in module.iterate_minibatches(x_train, rows, 128, shuffle=True, rng=np.random.default_rng(0)):
        batch_rows = np.asarray(batch_rows)
        if not np.array_equal(np.asarray(batch_images), x_train[batch_rows]):
            fail("on the real training set a batch paired images with the wrong labels. Index images and labels "
                 "with the same slice of one permutation in iterate_minibatches.")
        seen.append(batch_rows)
    count = sum(len(rows_seen) for rows_seen in seen)
    if count != len(x_train) or len(np.unique(np.concatenate(seen))) != len(x_train):
        fail(f"one epoch over the {len(x_train):,} real training images yielded {count:,} samples, not each image once. "
             "Look at iterate_minibatches.", measured=f"{count:,} samples", threshold=f"= {len(x_train):,}")
    return Measured(f"{count:,} images in {len(seen)} batches", f"= {len(x_train):,}")
