"""`ztf data`: downloads from a loopback server with resume, checksums, errors and unpacking."""

from __future__ import annotations

import gzip
import hashlib
import http.server
import io
import json
import tarfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
from helpers import run_ztf

from ztf_tutor import datasets
from ztf_tutor.datasets import Dataset, DownloadError, RemoteFile


@dataclass
class ServerState:
    """What the fixture server serves and what it saw."""

    files: dict[str, bytes] = field(default_factory=dict)
    status: dict[str, int] = field(default_factory=dict)  # path -> error status to send
    cut_after: dict[str, int] = field(default_factory=dict)  # path -> bytes sent before dropping, once
    ignore_range: bool = False
    requests: list[tuple[str, str | None]] = field(default_factory=list)


class FixtureHandler(http.server.BaseHTTPRequestHandler):
    state: ServerState

    def log_message(self, format: str, *args: object) -> None:  # keep pytest output clean
        pass

    def do_GET(self) -> None:  # noqa: N802 - the name http.server calls
        path = self.path.lstrip("/")
        self.state.requests.append((path, self.headers.get("Range")))
        if path in self.state.status:
            self.send_error(self.state.status[path])
            return
        if path not in self.state.files:
            self.send_error(404)
            return
        body = self.state.files[path]
        start = 0
        range_header = self.headers.get("Range")
        if range_header and not self.state.ignore_range:
            start = int(range_header.removeprefix("bytes=").split("-")[0])
            if start >= len(body):
                self.send_error(416)
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
        else:
            self.send_response(200)
        rest = body[start:]
        self.send_header("Content-Length", str(len(rest)))
        self.end_headers()
        cut = self.state.cut_after.pop(path, None)
        if cut is not None:
            # Promise the whole body, send part of it and hang up: an interrupted transfer.
            self.wfile.write(rest[:cut])
            self.wfile.flush()
            self.close_connection = True
            return
        self.wfile.write(rest)


@pytest.fixture
def server() -> Iterator[tuple[str, ServerState]]:
    """A loopback HTTP server started by the test; yields its base URL and its state."""
    state = ServerState()
    handler = type("Handler", (FixtureHandler,), {"state": state})
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", state
    httpd.shutdown()
    httpd.server_close()
    thread.join()


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def payload(size: int) -> bytes:
    return bytes((i * 7 + i // 256) % 256 for i in range(size))


def gz_dataset(files: dict[str, bytes], base: str, expected: dict[str, int], md5s: dict[str, str] | None = None) -> Dataset:
    remotes = tuple(RemoteFile(name, (f"{base}/{name}",), md5=(md5s or {}).get(name, md5(data))) for name, data in files.items())
    return Dataset("fixture", "fixture data", "fixture", remotes, "gunzip", expected, "1 kB")


def test_download_reports_progress(server, tmp_path):
    base, state = server
    state.files["blob.bin"] = payload(200_000)
    seen = []
    remote = RemoteFile("blob.bin", (f"{base}/blob.bin",), size=200_000, md5=md5(state.files["blob.bin"]))

    path = datasets.download(remote, tmp_path, on_progress=lambda name, done, total: seen.append((done, total)))

    assert path.read_bytes() == state.files["blob.bin"]
    assert seen[-1] == (200_000, 200_000)
    assert len(seen) > 2
    assert [done for done, _ in seen] == sorted(done for done, _ in seen)


def test_download_resumes_after_interruption(server, tmp_path):
    base, state = server
    state.files["blob.bin"] = payload(300_000)
    state.cut_after["blob.bin"] = 120_000
    remote = RemoteFile("blob.bin", (f"{base}/blob.bin",), md5=md5(state.files["blob.bin"]))

    with pytest.raises(DownloadError, match="run the same command again to resume"):
        datasets.download(remote, tmp_path)
    part = tmp_path / "blob.bin.part"
    assert part.stat().st_size == 120_000
    assert not (tmp_path / "blob.bin").exists()

    path = datasets.download(remote, tmp_path)

    assert path.read_bytes() == state.files["blob.bin"]
    assert state.requests[-1] == ("blob.bin", "bytes=120000-")
    assert not part.exists()


def test_download_restarts_when_range_ignored(server, tmp_path):
    base, state = server
    state.files["blob.bin"] = payload(50_000)
    state.ignore_range = True
    (tmp_path / "blob.bin.part").write_bytes(b"stale bytes from another file")
    remote = RemoteFile("blob.bin", (f"{base}/blob.bin",), md5=md5(state.files["blob.bin"]))

    path = datasets.download(remote, tmp_path)

    assert path.read_bytes() == state.files["blob.bin"]


def test_bad_checksum_is_deleted(server, tmp_path):
    base, state = server
    state.files["blob.bin"] = payload(10_000)
    remote = RemoteFile("blob.bin", (f"{base}/blob.bin",), md5="0" * 32)

    with pytest.raises(DownloadError, match="MD5 checksum does not match"):
        datasets.download(remote, tmp_path)

    assert list(tmp_path.iterdir()) == []


def test_wrong_size_is_deleted(server, tmp_path):
    base, state = server
    state.files["blob.bin"] = payload(10_000)
    remote = RemoteFile("blob.bin", (f"{base}/blob.bin",), size=12_345)

    with pytest.raises(DownloadError, match="10,000 bytes, expected 12,345"):
        datasets.download(remote, tmp_path)

    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("status", [404, 500])
def test_server_error_is_reported(server, tmp_path, status):
    base, state = server
    state.status["blob.bin"] = status
    remote = RemoteFile("blob.bin", (f"{base}/blob.bin",))

    with pytest.raises(DownloadError, match=f"HTTP {status}"):
        datasets.download(remote, tmp_path)

    assert not (tmp_path / "blob.bin").exists()


def test_mirror_used_after_server_error(server, tmp_path):
    base, state = server
    state.status["down/blob.bin"] = 500
    state.files["mirror/blob.bin"] = payload(5_000)
    remote = RemoteFile("blob.bin", (f"{base}/down/blob.bin", f"{base}/mirror/blob.bin"), md5=md5(payload(5_000)))

    path = datasets.download(remote, tmp_path)

    assert path.read_bytes() == payload(5_000)
    assert [p for p, _ in state.requests] == ["down/blob.bin", "mirror/blob.bin"]


def test_install_unpacks_gzip(server, tmp_path):
    base, state = server
    raw = {"train-a": payload(3_000), "train-b": payload(1_000)}
    state.files = {f"{name}.gz": gzip.compress(data) for name, data in raw.items()}
    dataset = gz_dataset(state.files, base, {name: len(data) for name, data in raw.items()})

    target = datasets.install(dataset, tmp_path)

    assert target == tmp_path / "fixture"
    assert (target / "train-a").read_bytes() == raw["train-a"]
    assert dataset.is_installed(tmp_path)
    assert list((tmp_path / datasets.DOWNLOADS).iterdir()) == []


def test_install_unpacks_tar(server, tmp_path):
    base, state = server
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        info = tarfile.TarInfo("batches/data_batch_1.bin")
        info.size = 3073 * 2
        archive.addfile(info, io.BytesIO(payload(3073 * 2)))
    state.files["archive.tar.gz"] = buffer.getvalue()
    remote = RemoteFile("archive.tar.gz", (f"{base}/archive.tar.gz",), md5=md5(buffer.getvalue()))
    dataset = Dataset("fixture", "fixture", "fixture", (remote,), "tar", {"batches/data_batch_1.bin": 3073 * 2}, "1 kB")

    target = datasets.install(dataset, tmp_path)

    assert (target / "batches/data_batch_1.bin").read_bytes() == payload(3073 * 2)


def test_corrupt_archive_never_used(server, tmp_path):
    base, state = server
    state.files["train-a.gz"] = b"this is not gzip data"
    dataset = gz_dataset(state.files, base, {"train-a": 10})

    with pytest.raises(DownloadError, match="unpacking failed"):
        datasets.install(dataset, tmp_path)

    assert not dataset.path(tmp_path).exists()
    assert not dataset.is_installed(tmp_path)
    assert [p.name for p in tmp_path.iterdir()] == [datasets.DOWNLOADS]


def test_wrong_unpacked_size_never_used(server, tmp_path):
    base, state = server
    state.files["train-a.gz"] = gzip.compress(payload(500))
    dataset = gz_dataset(state.files, base, {"train-a": 600})

    with pytest.raises(DownloadError, match="500 bytes, expected 600"):
        datasets.install(dataset, tmp_path)

    assert not dataset.is_installed(tmp_path)


def shakespeare_fixture() -> bytes:
    """Text of Tiny Shakespeare's exact size and first line, so the real registry entry accepts it."""
    head = b"First Citizen:\nBefore we proceed any further, hear me speak.\n"
    filler = b"All:\nSpeak, speak.\n"
    body = head + filler * ((1115394 - len(head)) // len(filler) + 1)
    return body[:1115394]


def test_cli_get_installs_and_lists(server, tmp_path):
    base, state = server
    state.files["input.txt"] = shakespeare_fixture()
    env = {datasets.BASE_URL_VARIABLE: base}

    got = run_ztf("data", "get", "tinyshakespeare", "--dir", str(tmp_path), env=env)
    listed = run_ztf("data", "list", "--dir", str(tmp_path), "--json", env=env)

    assert got.returncode == 0, got.stderr
    assert "installed" in got.stdout
    assert "input.txt" in got.stderr  # the progress bar's label
    assert (tmp_path / "tinyshakespeare" / "input.txt").read_bytes() == state.files["input.txt"]
    rows = {row["name"]: row for row in json.loads(listed.stdout)["datasets"]}
    assert rows["tinyshakespeare"]["installed"] is True
    assert rows["mnist"]["installed"] is False


def test_cli_bad_checksum_exits_2(server, tmp_path):
    base, state = server
    state.files["t10k-labels-idx1-ubyte.gz"] = gzip.compress(b"not mnist")
    state.files.update({name: b"x" for name in ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
                                                 "t10k-images-idx3-ubyte.gz")})

    got = run_ztf("data", "get", "mnist", "--dir", str(tmp_path), env={datasets.BASE_URL_VARIABLE: base})

    assert got.returncode == 2
    assert "checksum does not match" in got.stderr
    assert not (tmp_path / "mnist").exists()


def test_cli_server_error_exits_2(server, tmp_path):
    base, state = server
    state.status["input.txt"] = 500

    got = run_ztf("data", "get", "tinyshakespeare", "--dir", str(tmp_path), env={datasets.BASE_URL_VARIABLE: base})

    assert got.returncode == 2
    assert "HTTP 500" in got.stderr
    assert not (tmp_path / "tinyshakespeare").exists()


def test_cli_unknown_dataset(tmp_path):
    got = run_ztf("data", "get", "imagenet", "--dir", str(tmp_path))

    assert got.returncode == 2
    assert "mnist, cifar10, tinyshakespeare" in got.stderr


def test_default_folder_from_config(tmp_path, isolated_home):
    config = isolated_home / "config"
    config.mkdir(exist_ok=True)
    (config / "config.toml").write_text(f'[data]\ndir = "{tmp_path / "mine"}"\n', encoding="utf-8")

    listed = run_ztf("data", "list", "--json")

    assert json.loads(listed.stdout)["data_dir"] == str(tmp_path / "mine")
