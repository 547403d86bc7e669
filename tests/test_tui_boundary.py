"""Only `ztf start` may import Textual: the headless commands run without it."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from helpers import REPO

PROBE = """
import os, signal, sys, threading
from ztf_tutor import cli
argv = sys.argv[1:]
if argv[0] == "watch":
    # ztf watch runs until interrupted; Ctrl+C it once it is watching.
    threading.Timer(2.0, lambda: os.kill(os.getpid(), signal.SIGINT)).start()
code = cli.main(argv)
loaded = sorted(name for name in sys.modules if name == "textual" or name.startswith("textual."))
print("TEXTUAL:" + ",".join(loaded), file=sys.stderr)
"""


@pytest.mark.parametrize("command", [
    ["lessons"], ["status"], ["check", "1.2"], ["hint", "1.2"], ["solution", "1.2"], ["watch", "1.2"], ["watch", "--json"],
])
def test_command_never_imports_textual(workspace, command):
    env = dict(os.environ, PYTHONPATH=str(REPO))
    completed = subprocess.run(
        [sys.executable, "-c", PROBE, *command, "-w", str(workspace.root)],
        capture_output=True, text=True, timeout=120, env=env,
    )
    marker = [line for line in completed.stderr.splitlines() if line.startswith("TEXTUAL:")]
    assert marker, completed.stderr
    assert marker[0] == "TEXTUAL:", f"ztf {' '.join(command)} imported {marker[0]}"


def test_watcher_module_never_imports_textual():
    env = dict(os.environ, PYTHONPATH=str(REPO))
    code = "import sys, ztf_tutor.watcher, ztf_tutor.commands.watch, ztf_tutor.commands.solution; print('textual' in sys.modules)"
    completed = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, env=env)
    assert completed.stdout.strip() == "False", completed.stderr
