"""Save detection against a real watchdog observer: each editor's real save pattern gives one save.

Every test does the filesystem operations the editor does, in the same order, on a real
scaffolded workspace; vim, sed and git run for real.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from ztf_tutor.watcher import SavedFile, SaveWatcher, is_ignored
from ztf_tutor.workspace import Workspace

LESSON_FILE = "phase1/micrograd.py"
QUIET_S = 0.6


class Saves:
    """Collects the saves a real watcher reports."""

    def __init__(self) -> None:
        self.items: list[SavedFile] = []
        self.notices: list[str] = []

    def settle(self, expected: int, timeout: float = 5.0) -> list[SavedFile]:
        """Wait until at least `expected` saves arrived and then a quiet period passed."""
        deadline = time.monotonic() + timeout
        while len(self.items) < expected and time.monotonic() < deadline:
            time.sleep(0.02)
        time.sleep(QUIET_S)
        return list(self.items)


@pytest.fixture
def saves(workspace: Workspace):
    collected = Saves()
    watcher = SaveWatcher(workspace.root, collected.items.append, on_notice=collected.notices.append).start()
    time.sleep(0.2)  # let inotify register the watches before the test writes
    yield collected
    watcher.stop()
    assert collected.notices == [], "the real observer must not fall back to polling here"


def target(workspace: Workspace) -> Path:
    return workspace.root / LESSON_FILE


def new_content(workspace: Workspace, tag: str) -> bytes:
    return target(workspace).read_bytes() + f"\n# edited by {tag}\n".encode()


def write_synced(path: Path, data: bytes) -> None:
    with open(path, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())


def run_vim(path: Path, *settings: str) -> None:
    # backupskip's default covers /tmp, where the test workspaces live; clear it so vim makes backups.
    command = ["vim", "-u", "NONE", "-i", "NONE", "-N", "-es", "-c", "set backupskip="]
    for setting in settings:
        command += ["-c", f"set {setting}"]
    command += ["-c", "$put ='# edited in vim'", "-c", "wq", str(path)]
    subprocess.run(command, check=True, timeout=30, cwd=path.parent)


vim_missing = pytest.mark.skipif(shutil.which("vim") is None, reason="vim is not installed")


@vim_missing
def test_vim_backupcopy_yes(workspace, saves):
    run_vim(target(workspace), "backupcopy=yes", "backup", "writebackup", "backupdir=.")
    found = saves.settle(1)
    assert [item.relative for item in found] == [LESSON_FILE]
    assert found[0].digest
    assert (target(workspace).parent / "micrograd.py~").exists(), "vim should have left its backup copy"


@vim_missing
def test_vim_backupcopy_no(workspace, saves):
    run_vim(target(workspace), "backupcopy=no", "backup", "writebackup", "backupdir=.")
    found = saves.settle(1)
    assert [item.relative for item in found] == [LESSON_FILE]
    assert (target(workspace).parent / "micrograd.py~").exists(), "vim should have renamed the original to its backup"


@vim_missing
def test_vim_probe_4913(workspace, saves):
    # backupcopy=auto makes vim create and delete the probe file "4913" next to the file.
    run_vim(target(workspace), "backupcopy=auto", "backup", "writebackup", "backupdir=.")
    assert [item.relative for item in saves.settle(1)] == [LESSON_FILE]


@vim_missing
def test_vim_probe_with_existing_4913(workspace, saves):
    (target(workspace).parent / "4913").write_text("a learner's own file\n")
    time.sleep(0.1)
    run_vim(target(workspace), "backupcopy=auto", "backup", "writebackup", "backupdir=.")
    assert [item.relative for item in saves.settle(1)] == [LESSON_FILE]
    assert (target(workspace).parent / "4913").read_text() == "a learner's own file\n"


def test_probe_file_alone_gives_no_save(workspace, saves):
    probe = target(workspace).parent / "4913"
    probe.write_bytes(b"")
    probe.unlink()
    assert saves.settle(0) == []


def test_emacs_lock_backup_and_autosave(workspace, saves):
    folder = target(workspace).parent
    lock = folder / ".#micrograd.py"
    os.symlink("learner@host.4242:1700000000", lock)  # Emacs' lock: a symlink to a target that does not exist
    autosave = folder / "#micrograd.py#"
    autosave.write_bytes(b"auto-saved draft")
    data = new_content(workspace, "emacs")
    os.rename(target(workspace), folder / "micrograd.py~")  # backup by renaming the original
    write_synced(target(workspace), data)
    autosave.unlink()
    lock.unlink()
    found = saves.settle(1)
    assert [item.relative for item in found] == [LESSON_FILE]


def test_vscode_in_place_write(workspace, saves):
    data = new_content(workspace, "vscode")
    with open(target(workspace), "r+b") as handle:  # truncate, then write the buffer
        handle.truncate(0)
        handle.write(data)
    assert [item.relative for item in saves.settle(1)] == [LESSON_FILE]


def test_vscode_atomic_write(workspace, saves):
    temporary = target(workspace).with_name("micrograd.py.vsctmp")
    write_synced(temporary, new_content(workspace, "vscode atomic"))
    os.replace(temporary, target(workspace))
    assert [item.relative for item in saves.settle(1)] == [LESSON_FILE]


def test_jetbrains_safe_write(workspace, saves):
    folder = target(workspace).parent
    temporary = folder / "micrograd.py___jb_tmp___"
    old = folder / "micrograd.py___jb_old___"
    write_synced(temporary, new_content(workspace, "jetbrains"))
    os.rename(target(workspace), old)
    os.rename(temporary, target(workspace))
    old.unlink()
    assert [item.relative for item in saves.settle(1)] == [LESSON_FILE]


def test_sed_in_place(workspace, saves):
    subprocess.run(["sed", "-i", "s/$/ /", LESSON_FILE], cwd=workspace.root, check=True, timeout=30)
    assert [item.relative for item in saves.settle(1)] == [LESSON_FILE]


def test_git_checkout_of_file(workspace):
    git = ["git", "-c", "user.name=Learner", "-c", "user.email=learner@example.invalid"]
    subprocess.run([*git, "init", "-q"], cwd=workspace.root, check=True)
    subprocess.run([*git, "add", "-A"], cwd=workspace.root, check=True)
    subprocess.run([*git, "commit", "-q", "-m", "stubs"], cwd=workspace.root, check=True)
    target(workspace).write_bytes(new_content(workspace, "a change git will undo"))

    collected = Saves()
    watcher = SaveWatcher(workspace.root, collected.items.append, on_notice=collected.notices.append).start()
    time.sleep(0.2)
    try:
        subprocess.run([*git, "checkout", "--", LESSON_FILE], cwd=workspace.root, check=True, timeout=30)
        found = collected.settle(1)
    finally:
        watcher.stop()
    assert [item.relative for item in found] == [LESSON_FILE]
    assert collected.notices == []


def test_same_content_twice_gives_one_save(workspace, saves):
    data = new_content(workspace, "twice")
    write_synced(target(workspace), data)
    saves.settle(1)
    write_synced(target(workspace), data)
    assert len(saves.settle(1)) == 1


def test_half_written_file_waits_for_close(workspace, saves):
    data = new_content(workspace, "slow writer")
    half = len(data) // 2
    with open(target(workspace), "wb") as handle:
        handle.write(data[:half])
        handle.flush()
        os.fsync(handle.fileno())
        time.sleep(0.4)  # far longer than the settle window: only the close may complete the save
        handle.write(data[half:])
    found = saves.settle(1)
    assert len(found) == 1
    assert found[0].digest == __import__("hashlib").sha256(data).hexdigest()


def test_burst_gives_latest_content(workspace, saves):
    for index in range(10):
        write_synced(target(workspace), new_content(workspace, f"burst {index}"))
    found = saves.settle(1)
    final = __import__("hashlib").sha256(target(workspace).read_bytes()).hexdigest()
    assert found, "the burst must be reported"
    assert found[-1].digest == final


def test_files_outside_lessons_ignored(workspace, saves):
    (workspace.root / ".ztf" / "notes.json").write_text("{}")
    (workspace.root / "phase1" / "scratch.py").write_text("x = 1\n")
    pycache = workspace.root / "phase1" / "__pycache__"
    pycache.mkdir()
    (pycache / "micrograd.cpython-312.pyc").write_bytes(b"\0")
    assert saves.settle(0) == []


@pytest.mark.parametrize("relative", [
    "phase1/.micrograd.py.swp", "phase1/.micrograd.py.swx", "phase1/micrograd.py~", "phase1/4913", "phase1/5036",
    "phase1/.#micrograd.py", "phase1/#micrograd.py#", "phase1/micrograd.py___jb_tmp___",
    "phase1/micrograd.py___jb_old___", "phase1/sedAb12Cd", "phase1/micrograd.py.vsctmp",
    ".ztf/progress.json", ".git/index.lock", "phase1/__pycache__/micrograd.cpython-312.pyc",
])
def test_is_ignored_names(relative):
    assert is_ignored(relative)


@pytest.mark.parametrize("relative", ["phase1/micrograd.py", "phase1/__init__.py", "phase2/sed.py"])
def test_is_ignored_keeps_sources(relative):
    assert not is_ignored(relative)


def vim_swap_dance(folder: Path) -> None:
    """Create and remove the swap file and the .swx probe, as vim does when it opens a file."""
    for name in (".micrograd.py.swp", ".micrograd.py.swx"):
        (folder / name).write_bytes(b"\0" * 64)
    (folder / ".micrograd.py.swx").unlink()


def vim_write_in_place(path: Path, data: bytes) -> None:
    """Open with O_WRONLY|O_CREAT, truncate, write and fsync: vim's final write of the buffer."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o644)
    try:
        os.ftruncate(fd, 0)
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)


def test_vim_syscalls_backupcopy_yes(workspace, saves):
    # The system calls vim 9.0 makes with backupcopy=yes (traced with strace), without needing vim.
    folder = target(workspace).parent
    data = new_content(workspace, "vim sequence yes")
    vim_swap_dance(folder)
    backup = os.open(folder / "micrograd.py~", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    os.write(backup, target(workspace).read_bytes())
    os.close(backup)
    vim_write_in_place(target(workspace), data)
    (folder / ".micrograd.py.swp").unlink()
    assert [item.relative for item in saves.settle(1)] == [LESSON_FILE]


def test_vim_syscalls_backupcopy_no(workspace, saves):
    # The system calls vim 9.0 makes with backupcopy=auto: the 4913 probe, then backup by rename.
    folder = target(workspace).parent
    data = new_content(workspace, "vim sequence no")
    vim_swap_dance(folder)
    probe = os.open(folder / "4913", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o755)
    os.close(probe)
    os.unlink(folder / "4913")
    os.rename(target(workspace), folder / "micrograd.py~")
    vim_write_in_place(target(workspace), data)
    (folder / ".micrograd.py.swp").unlink()
    assert [item.relative for item in saves.settle(1)] == [LESSON_FILE]
