"""The tutor in a real terminal: tmux at 120x40, a save from outside, no key pressed."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import time

import pytest
from helpers import REPO

from ztf_tutor.curriculum import curriculum
from ztf_tutor.progress import Progress

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")


class Tmux:
    """One tmux server on a private socket, so the test never touches the user's sessions."""

    def __init__(self, socket: str) -> None:
        self.base = ["tmux", "-L", socket]

    def run(self, *args: str) -> str:
        return subprocess.run([*self.base, *args], capture_output=True, text=True, timeout=10).stdout

    def screen(self) -> str:
        return self.run("capture-pane", "-p", "-t", "ztf")

    def wait_for(self, text: str, timeout: float) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            screen = self.screen()
            if text in screen:
                return screen
            time.sleep(0.1)
        raise AssertionError(f"{text!r} did not appear within {timeout} s; the screen shows:\n{self.screen()}")

    def alive(self) -> bool:
        return subprocess.run([*self.base, "has-session", "-t", "ztf"], capture_output=True).returncode == 0


def process_running(pid: int) -> bool:
    """Whether a process exists and is not a zombie waiting to be reaped."""
    try:
        status = open(f"/proc/{pid}/status").read()
    except FileNotFoundError:
        return False
    return "\nState:\tZ" not in status


def start_in_tmux(tmux: Tmux, workspace, pid_file, extra: dict[str, str] | None = None) -> None:
    """Start `ztf start -w WS` in a 120x40 tmux pane with the test's isolated folders."""
    variables = {name: os.environ[name] for name in ("ZTF_CONFIG_DIR", "ZTF_STATE_DIR", "ZTF_DATA_DIR")}
    variables["PYTHONPATH"] = str(REPO)
    variables.update(extra or {})
    command = " ".join([
        # COLUMNS and LINES from the test runner would override the pane's real size.
        "env", "-u", "COLUMNS", "-u", "LINES", *(f"{name}={shlex.quote(value)}" for name, value in variables.items()),
        "sh", "-c", shlex.quote(f"echo $$ > {pid_file}; exec {shlex.quote(sys.executable)} -m ztf_tutor start -w "
                                f"{shlex.quote(str(workspace.root))}"),
    ])
    tmux.run("new-session", "-d", "-s", "ztf", "-x", "120", "-y", "40", command)


def select_micrograd(tmux: Tmux) -> None:
    """Move the tree's cursor from the first lesson (1.1) to 1.2 and open it, as a learner would."""
    tmux.run("send-keys", "-t", "ztf", "Down")
    tmux.run("send-keys", "-t", "ztf", "Enter")
    tmux.wait_for("1.2 Micrograd: an autograd engine from scratch", timeout=10)


def test_save_from_outside_passes_in_tmux(workspace, isolated_home, tmp_path):
    tmux = Tmux(f"ztf-test-{os.getpid()}")
    pid_file = tmp_path / "ztf.pid"
    start_in_tmux(tmux, workspace, pid_file)
    try:
        tmux.wait_for("Welcome to Zero-to-Frontier", timeout=30)
        tmux.run("send-keys", "-t", "ztf", "Enter")
        tmux.wait_for("Not checked yet", timeout=15)
        select_micrograd(tmux)
        pid = int(pid_file.read_text())

        lesson = curriculum().lesson("1.2")
        (workspace.root / "phase1/micrograd.py").write_bytes((lesson.reference_dir / "phase1/micrograd.py").read_bytes())
        screen = tmux.wait_for("1.2 passed. Reflect for a minute?", timeout=30)
        assert "✓ 1.2 Micrograd" in screen
        assert "What surprised you about how little code" in screen  # the lesson's own Reflect questions
        assert Progress(workspace).get("1.2").last_status == "pass"

        tmux.run("send-keys", "-t", "ztf", "Escape")
        tmux.wait_for("PASS", timeout=5)
        tmux.run("send-keys", "-t", "ztf", "q")
        deadline = time.monotonic() + 5
        while tmux.alive() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not tmux.alive(), "ztf start did not exit after q"
        assert not process_running(pid), "the ztf process outlived its pane"
    finally:
        tmux.run("kill-server")


def test_editor_key_saves_and_passes(workspace, isolated_home, tmp_path):
    # `cp REFERENCE` replaces an editor: the app suspends, runs it on the lesson file, and resumes.
    reference = curriculum().lesson("1.2").reference_dir / "phase1/micrograd.py"
    tmux = Tmux(f"ztf-test-editor-{os.getpid()}")
    start_in_tmux(tmux, workspace, tmp_path / "ztf.pid", {"VISUAL": f"cp {shlex.quote(str(reference))}"})
    try:
        tmux.wait_for("Welcome to Zero-to-Frontier", timeout=30)
        tmux.run("send-keys", "-t", "ztf", "Enter")
        tmux.wait_for("Not checked yet", timeout=15)
        select_micrograd(tmux)
        tmux.run("send-keys", "-t", "ztf", "e")
        tmux.wait_for("1.2 passed. Reflect for a minute?", timeout=30)
        assert (workspace.root / "phase1/micrograd.py").read_bytes() == reference.read_bytes()
    finally:
        tmux.run("kill-server")
