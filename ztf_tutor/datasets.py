"""Real datasets for the full tiers: a registry, resumable verified downloads and extraction.

`install(dataset, data_dir)` downloads each file into `data_dir/.downloads/NAME.part`,
resuming with an HTTP Range request after an interruption, verifies the size and checksum,
and only then extracts into a temporary folder that is renamed to `data_dir/<folder>` once
the extracted files pass a format check. A partial or corrupt download therefore never
reaches the folder that the checks read.
"""

from __future__ import annotations

import gzip
import hashlib
import http.client
import logging
import os
import shutil
import tarfile
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .errors import ZtfError

log = logging.getLogger(__name__)

CHUNK_BYTES = 1 << 16
TIMEOUT_S = 60
DOWNLOADS = ".downloads"
COMPLETE_MARKER = ".ztf-complete"
# Tests point every download at their own loopback server with this variable.
BASE_URL_VARIABLE = "ZTF_DATA_BASE_URL"

ProgressCallback = Callable[[str, int, int | None], None]


class DownloadError(ZtfError):
    """A download failed, was interrupted or did not match its checksum."""

    title = "Download failed"


@dataclass(frozen=True)
class RemoteFile:
    """One file to download: its canonical URL first, then mirrors."""

    name: str
    urls: tuple[str, ...]
    size: int | None = None
    md5: str | None = None
    sha256: str | None = None


@dataclass(frozen=True)
class Dataset:
    """A dataset as `ztf data get` installs it."""

    name: str
    title: str
    folder: str
    files: tuple[RemoteFile, ...]
    unpack: str  # "gunzip" (each .gz to its stem), "tar" (a .tar.gz archive) or "copy"
    expected: dict[str, int]  # extracted path relative to the folder -> exact size in bytes
    download_size: str
    validate: Callable[[Path], None] | None = None

    def path(self, data_dir: Path) -> Path:
        return data_dir / self.folder

    def is_installed(self, data_dir: Path) -> bool:
        return (self.path(data_dir) / COMPLETE_MARKER).is_file()


def _mnist_file(name: str, md5: str) -> RemoteFile:
    return RemoteFile(
        name,
        (f"http://yann.lecun.com/exdb/mnist/{name}", f"https://ossci-datasets.s3.amazonaws.com/mnist/{name}"),
        md5=md5,
    )


def _check_shakespeare(folder: Path) -> None:
    text = (folder / "input.txt").read_bytes()
    try:
        decoded = text.decode("utf-8")
    except UnicodeDecodeError as error:
        raise DownloadError(f"{folder / 'input.txt'} is not UTF-8 text ({error}).") from None
    if not decoded.startswith("First Citizen:"):
        raise DownloadError(f"{folder / 'input.txt'} does not start with 'First Citizen:', so it is not Tiny Shakespeare.")


def _check_idx(folder: Path) -> None:
    for name, size in MNIST.expected.items():
        header = (folder / name).read_bytes()[:8]
        count = (size - 8) // 784 if "images" in name else size - 8
        magic = 2051 if "images" in name else 2049
        if int.from_bytes(header[:4], "big") != magic or int.from_bytes(header[4:8], "big") != count:
            raise DownloadError(f"{folder / name} has an invalid idx header {header.hex()}; expected magic {magic} and {count} items.")


# The MD5 digests are the published ones: CIFAR-10's from its download page, MNIST's as
# torchvision lists them. A match proves that the file is the original, byte for byte.
MNIST = Dataset(
    name="mnist",
    title="MNIST handwritten digits (idx format)",
    folder="mnist",
    files=(
        _mnist_file("train-images-idx3-ubyte.gz", "f68b3c2dcbeaaa9fbdd348bbdeb94873"),
        _mnist_file("train-labels-idx1-ubyte.gz", "d53e105ee54ea40749a09fcbcd1e9432"),
        _mnist_file("t10k-images-idx3-ubyte.gz", "9fb629c4189551a2d022fa330f9573f3"),
        _mnist_file("t10k-labels-idx1-ubyte.gz", "ec29112dd5afa0611ce80d1b7f02629c"),
    ),
    unpack="gunzip",
    # 16-byte header + 28 × 28 bytes per image; 8-byte header + 1 byte per label.
    expected={
        "train-images-idx3-ubyte": 16 + 60000 * 784,
        "train-labels-idx1-ubyte": 8 + 60000,
        "t10k-images-idx3-ubyte": 16 + 10000 * 784,
        "t10k-labels-idx1-ubyte": 8 + 10000,
    },
    download_size="11 MB",
    validate=_check_idx,
)

CIFAR10 = Dataset(
    name="cifar10",
    title="CIFAR-10, binary version (32×32 colour images, 10 classes)",
    folder="cifar10",
    # NOTE: the dataset authors publish no mirror of the binary version.
    files=(RemoteFile("cifar-10-binary.tar.gz", ("https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz",),
                      size=170052171, md5="c32a1d4ab5d03f1284b67883e8d87530"),),
    unpack="tar",
    expected={f"cifar-10-batches-bin/{name}": 10000 * 3073
              for name in [f"data_batch_{i}.bin" for i in range(1, 6)] + ["test_batch.bin"]},
    download_size="162 MB",
)

TINY_SHAKESPEARE = Dataset(
    name="tinyshakespeare",
    title="Tiny Shakespeare (1.1 MB of plain text)",
    folder="tinyshakespeare",
    # NOTE: no checksum is published for this file, so none is recorded here. The exact size,
    # a UTF-8 decode and the first line stand in for one.
    files=(RemoteFile("input.txt", ("https://raw.githubusercontent.com/karpathy/char-rnn/master/data/tinyshakespeare/input.txt",),
                      size=1115394),),
    unpack="copy",
    expected={"input.txt": 1115394},
    download_size="1.1 MB",
    validate=_check_shakespeare,
)

REGISTRY = {dataset.name: dataset for dataset in (MNIST, CIFAR10, TINY_SHAKESPEARE)}


def find_dataset(name: str) -> Dataset:
    """Look a dataset up by name, with a clear error listing the known ones."""
    key = name.lower().replace("-", "").replace("_", "")
    if key not in REGISTRY:
        raise ZtfError(f'No dataset "{name}".', hint=f"Known datasets: {', '.join(REGISTRY)}. Run `ztf data list`.")
    return REGISTRY[key]


def file_urls(remote: RemoteFile, base_url: str | None = None) -> tuple[str, ...]:
    """Return the URLs to try in order. A base URL (argument or environment) replaces them all."""
    base = base_url or os.environ.get(BASE_URL_VARIABLE)
    if base:
        return (f"{base.rstrip('/')}/{remote.name}",)
    return remote.urls


def digest(path: Path, algorithm: str) -> str:
    hasher = hashlib.new(algorithm)
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            hasher.update(block)
    return hasher.hexdigest()


def _fetch(url: str, part: Path, name: str, on_progress: ProgressCallback | None) -> None:
    """Append the rest of `url` to `part`, asking the server to skip the bytes already there."""
    have = part.stat().st_size if part.exists() else 0
    request = urllib.request.Request(url, headers={"User-Agent": "ztf-tutor"})
    if have:
        request.add_header("Range", f"bytes={have}-")
    try:
        response = urllib.request.urlopen(request, timeout=TIMEOUT_S)  # noqa: S310 - https/http URLs from the registry
    except urllib.error.HTTPError as error:
        if error.code == 416 and have:
            log.info("%s: the server has no bytes after %d; verifying what is there", url, have)
            return
        raise
    with response:
        if have and response.status != 206:
            log.info("%s ignored the Range request; downloading from the start", url)
            have = 0
        length = response.headers.get("Content-Length")
        total = have + int(length) if length is not None else None
        log.info("downloading %s from byte %d of %s", url, have, total)
        with part.open("ab" if have else "wb") as out:
            done = have
            if on_progress:
                on_progress(name, done, total)
            while chunk := response.read(CHUNK_BYTES):
                out.write(chunk)
                done += len(chunk)
                if on_progress:
                    on_progress(name, done, total)
        if total is not None and done < total:
            raise http.client.IncompleteRead(b"", total - done)


def verify_file(path: Path, remote: RemoteFile) -> None:
    """Raise DownloadError unless the file has the registry's size and checksums."""
    size = path.stat().st_size
    if remote.size is not None and size != remote.size:
        raise DownloadError(f"{remote.name}: the download has {size:,} bytes, expected {remote.size:,}.")
    for algorithm in ("md5", "sha256"):
        expected = getattr(remote, algorithm)
        if expected and digest(path, algorithm) != expected:
            raise DownloadError(f"{remote.name}: the {algorithm.upper()} checksum does not match {expected}; the file is corrupt.")


def download(remote: RemoteFile, folder: Path, base_url: str | None = None,
             on_progress: ProgressCallback | None = None) -> Path:
    """Download one file into `folder`, resuming a `.part` file, and return the verified file."""
    folder.mkdir(parents=True, exist_ok=True)
    final = folder / remote.name
    if final.is_file():
        return final
    part = folder / f"{remote.name}.part"
    failures = []
    for url in file_urls(remote, base_url):
        try:
            _fetch(url, part, remote.name, on_progress)
        except urllib.error.HTTPError as error:
            failures.append(f"{url}: HTTP {error.code} {error.reason}")
            log.warning("download of %s failed: HTTP %s", url, error.code)
            continue
        except (urllib.error.URLError, OSError, http.client.HTTPException) as error:
            failures.append(f"{url}: {getattr(error, 'reason', None) or error!r}")
            log.warning("download of %s interrupted: %r", url, error)
            continue
        try:
            verify_file(part, remote)
        except DownloadError:
            part.unlink()
            raise
        part.rename(final)
        return final
    kept = part.stat().st_size if part.exists() else 0
    resume = f" {kept:,} bytes are kept in {part}; run the same command again to resume." if kept else ""
    raise DownloadError(f"could not download {remote.name}: " + "; ".join(failures) + "." + resume,
                        hint="Check your connection, or download the file yourself into that folder.")


def _unpack(dataset: Dataset, files: list[Path], target: Path) -> None:
    target.mkdir(parents=True)
    for path in files:
        if dataset.unpack == "gunzip":
            with gzip.open(path, "rb") as source, (target / path.name.removesuffix(".gz")).open("wb") as out:
                shutil.copyfileobj(source, out)
        elif dataset.unpack == "tar":
            with tarfile.open(path, "r:gz") as archive:
                archive.extractall(target, filter="data")
        else:
            shutil.copyfile(path, target / path.name)


def check_extracted(dataset: Dataset, folder: Path) -> None:
    """Raise DownloadError unless every expected file exists with its exact size."""
    for relative, size in dataset.expected.items():
        path = folder / relative
        if not path.is_file():
            raise DownloadError(f"{dataset.name}: {relative} is missing from the unpacked download.")
        if path.stat().st_size != size:
            raise DownloadError(f"{dataset.name}: {relative} has {path.stat().st_size:,} bytes, expected {size:,}.")
    if dataset.validate:
        dataset.validate(folder)


def install(dataset: Dataset, data_dir: Path, base_url: str | None = None,
            on_progress: ProgressCallback | None = None, force: bool = False) -> Path:
    """Download, verify and unpack a dataset into `data_dir/<folder>`; return that folder."""
    target = dataset.path(data_dir)
    if dataset.is_installed(data_dir) and not force:
        return target
    downloads = data_dir / DOWNLOADS
    files = [download(remote, downloads, base_url, on_progress) for remote in dataset.files]

    staging = data_dir / f".{dataset.folder}.unpacking"
    shutil.rmtree(staging, ignore_errors=True)
    try:
        _unpack(dataset, files, staging)
        check_extracted(dataset, staging)
    except (OSError, EOFError, tarfile.TarError, gzip.BadGzipFile) as error:
        shutil.rmtree(staging, ignore_errors=True)
        for path in files:
            path.unlink()
        raise DownloadError(f"{dataset.name}: unpacking failed ({error}); the download was removed.",
                            hint=f"Run `ztf data get {dataset.name}` again.") from None
    except DownloadError:
        shutil.rmtree(staging, ignore_errors=True)
        for path in files:
            path.unlink()
        raise

    (staging / COMPLETE_MARKER).write_text("\n".join(path.name for path in files) + "\n", encoding="utf-8")
    shutil.rmtree(target, ignore_errors=True)
    staging.rename(target)
    for path in files:
        path.unlink()
    log.info("installed %s into %s", dataset.name, target)
    return target
