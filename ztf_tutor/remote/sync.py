"""Copy what a remote check needs to DIR/sync on the remote: rsync when both sides have it,
else a tar stream over ssh.

DIR/sync mirrors three things: the child-side modules of ztf_tutor, the lesson's check folder
(without the reference solution) and the workspace folders that hold the learner files of this
lesson and every earlier one, since later checks import earlier lessons' code.
"""

from __future__ import annotations

import fnmatch
import io
import logging
import os
import re
import shlex
import shutil
import subprocess
import tarfile
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from ..curriculum import Lesson, curriculum
from .config import Remote
from .ssh import RemoteError, SshClient

log = logging.getLogger(__name__)

PACKAGE_DIR = Path(__file__).resolve().parent.parent
# The modules the remote imports: the child entry point and what it imports, and the job runner.
PACKAGE_FILES = ("__init__.py", "child.py", "checking.py", "verdict.py", "remote/__init__.py", "remote/jobrunner.py")
# Editor temporary files, caches and tutor state never leave the machine.
EXCLUDED_NAMES = ("*.swp", "*.swo", "*.swx", "*.swpx", "*~", ".#*", "#*#", ".*.kate-swp", "4913", ".~lock.*",
                  "*.tmp", ".DS_Store", "*.pyc", "__pycache__", ".ipynb_checkpoints", ".ztf", ".git")
# Check folder parts the run does not use: the reference solution and the known-bug variants.
EXCLUDED_CHECK_PARTS = ("reference", "variants.toml")
# Less free space than this after a failed copy means the disk was full.
DISK_NEARLY_FULL = 1024 * 1024
RSYNC_VANISHED = 24  # rsync: some source files vanished before they were transferred
RSYNC_SAFE_WORD = re.compile(r"^[\w@%+=:,./-]+$")


@dataclass(frozen=True)
class SyncEntry:
    """A local file or folder and its path under DIR/sync on the remote."""

    target: str
    source: Path
    is_check: bool = False


def sync_entries(workspace: Path, lesson: Lesson) -> list[SyncEntry]:
    """Everything a run of LESSON needs, as (remote path, local path) entries."""
    entries = [SyncEntry(f"ztf_tutor/{name}", PACKAGE_DIR / name) for name in PACKAGE_FILES]
    entries.append(SyncEntry(f"checks/{lesson.check}", lesson.check_dir, is_check=True))
    tops: list[str] = []
    for earlier in curriculum().lessons:
        for relative in earlier.files:
            top = relative.split("/", 1)[0]
            if top not in tops and (workspace / top).exists():
                tops.append(top)
        if earlier.id == lesson.id:
            break
    entries += [SyncEntry(f"workspace/{top}", workspace / top) for top in tops]
    return entries


def excluded(name: str) -> bool:
    return any(fnmatch.fnmatch(name, pattern) for pattern in EXCLUDED_NAMES)


def iter_files(entries: list[SyncEntry]) -> Iterator[tuple[str, Path]]:
    """Yield every file to send as (path under sync/, local path), skipping excluded names."""
    for entry in entries:
        if entry.source.is_file():
            yield entry.target, entry.source
            continue
        for folder, dirs, files in os.walk(entry.source, followlinks=True):
            relative = Path(folder).relative_to(entry.source)
            dirs[:] = sorted(name for name in dirs if not excluded(name)
                             and not (entry.is_check and relative == Path(".") and name in EXCLUDED_CHECK_PARTS))
            for name in sorted(files):
                if excluded(name) or (entry.is_check and relative == Path(".") and name in EXCLUDED_CHECK_PARTS):
                    continue
                yield (Path(entry.target) / relative / name).as_posix(), Path(folder) / name


def rsync_word(argument: str) -> str:
    """Quote one word of rsync's -e command, which honours quotes but not backslashes."""
    if RSYNC_SAFE_WORD.match(argument):
        return argument
    return "'" + argument.replace("'", "''") + "'"


def sync(client: SshClient, entries: list[SyncEntry], remote_rsync: bool) -> str:
    """Mirror the entries into DIR/sync on the remote; returns the method used ("rsync" or "tar")."""
    mode = client.remote.sync
    use_rsync = mode == "rsync" or (mode == "auto" and remote_rsync and shutil.which("rsync") is not None)
    if use_rsync:
        sync_rsync(client, entries)
        return "rsync"
    sync_tar(client, entries)
    return "tar"


def build_stage(entries: list[SyncEntry], stage: Path) -> None:
    """Lay out symlinks to the entries in the shape of DIR/sync, for one rsync call."""
    for entry in entries:
        link = stage / entry.target
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(entry.source)


def sync_rsync(client: SshClient, entries: list[SyncEntry]) -> None:
    remote: Remote = client.remote
    assert client.executable is not None
    shell = " ".join(rsync_word(word) for word in [client.executable, *client.options()])
    excludes = [f"--exclude={pattern}" for pattern in EXCLUDED_NAMES]
    excludes += [f"--exclude=/checks/*/{part}" for part in EXCLUDED_CHECK_PARTS]
    with tempfile.TemporaryDirectory(prefix="ztf-sync-") as stage:
        build_stage(entries, Path(stage))
        # -L sends what the stage's symlinks point to; -s passes the remote path without a shell.
        argv = ["rsync", "-rtpL", "-s", "--delete", *excludes, "-e", shell,
                f"{stage}/", f"{remote.destination}:{remote.remote_dir}/sync/"]
        log.debug("rsync to %s", remote.name)
        completed = subprocess.run(argv, capture_output=True, stdin=subprocess.DEVNULL)
    stderr = completed.stderr.decode("utf-8", "replace")
    if completed.returncode in (0, RSYNC_VANISHED):
        return
    client.raise_for_ssh(completed.returncode, stderr)
    raise_if_disk_full(client)
    raise RemoteError(f"Copying your files to {remote.name} with rsync failed (exit {completed.returncode}): "
                      f"{stderr.strip()[-500:]}",
                      hint=f"Run `ztf remote test {remote.name}`, or set sync = \"tar\" for this remote.")


def sync_tar(client: SshClient, entries: list[SyncEntry]) -> None:
    remote = client.remote
    folder = shlex.quote(remote.remote_dir)
    # Unpack beside the old copy and swap, so files deleted locally disappear remotely too.
    command = (f"cd {folder} && rm -rf sync.new && mkdir sync.new && tar -xmf - -C sync.new "
               "&& rm -rf sync && mv sync.new sync")
    process = client.popen(command, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    assert process.stdin is not None and process.stderr is not None
    # Drain stderr beside the writer, so a remote that reports many errors cannot block on a full pipe.
    errors: list[bytes] = []
    error_stream = process.stderr
    assert error_stream is not None
    reader = threading.Thread(target=lambda: errors.append(error_stream.read()), daemon=True)
    reader.start()
    try:
        with tarfile.open(fileobj=process.stdin, mode="w|") as archive:
            for name, path in iter_files(entries):
                add_file(archive, name, path)
        process.stdin.close()
    except BrokenPipeError:
        pass  # the remote side stopped reading; its stderr has the reason
    returncode = process.wait()
    reader.join()
    stderr = b"".join(errors).decode("utf-8", "replace")
    if returncode == 0:
        return
    client.raise_for_ssh(returncode, stderr)
    raise_if_disk_full(client)
    raise RemoteError(f"Copying your files to {remote.name} with tar failed (exit {returncode}): {stderr.strip()[-500:]}",
                      hint=f"Run `ztf remote test {remote.name}` to check the remote.")


def raise_if_disk_full(client: SshClient) -> None:
    """After a failed copy, check the remote's free space: rsync may fail on a full disk without saying why."""
    folder = shlex.quote(client.remote.remote_dir)
    completed = client.run(f"df -Pk {folder} | tail -n 1", timeout=60)
    fields = completed.stdout.decode("utf-8", "replace").split()
    if len(fields) >= 4 and fields[3].isdigit() and int(fields[3]) * 1024 < DISK_NEARLY_FULL:
        client.raise_for_ssh(1, "No space left on device")


def add_file(archive: tarfile.TarFile, name: str, path: Path) -> None:
    """Add one file, reading it whole first, so a file that vanishes or changes is skipped cleanly."""
    # NOTE: each file is held in memory while it is added; fine for code, slow for huge data files.
    try:
        stat = path.stat()
        data = path.read_bytes()
    except FileNotFoundError:
        log.debug("%s vanished during the sync; skipped", path)
        return
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mtime = int(stat.st_mtime)
    info.mode = stat.st_mode & 0o777
    archive.addfile(info, io.BytesIO(data))
