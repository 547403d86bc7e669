"""The warm check worker: children forked from it behave as cold children, and it recovers.

These tests use a tiny check written into the test's own folder, so each run costs
milliseconds; tests/test_worker_verdicts.py compares real lessons warm against cold.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from ztf_tutor import worker
from ztf_tutor.curriculum import Tier
from ztf_tutor.runner import CheckRun
from ztf_tutor.verdict import ERROR, PASS

READY_TIMEOUT_S = 120

TINY_CHECK = '''
from ztf_tutor.checking import Measured, criterion, fail


@criterion("answer() returns 42")
def answer_is_42(ctx):
    module = ctx.learner("tinymod")
    got = module.answer()
    if got != 42:
        fail(f"answer() returned {got}, expected 42.", measured=got, threshold=42)
    return Measured(str(getattr(module, "FACTS", "")))
'''

# Facts about the process the learner's code runs in; pids differ, so only relations are kept.
FACTS_MODULE = '''
import json, os, resource, signal, sys

def _handler(number):
    handler = signal.getsignal(number)
    return getattr(handler, "__name__", str(handler))

def _fd_kinds():
    kinds = []
    for name in sorted(os.listdir("/proc/self/fd"), key=int):
        try:
            target = os.readlink(f"/proc/self/fd/{name}")
        except OSError:
            continue
        kinds.append(target.split(":")[0] if ":" in target else target)
    return kinds

FACTS = json.dumps({
    "own_session": os.getsid(0) == os.getpid(),
    "own_group": os.getpgid(0) == os.getpid(),
    "signals": {name: _handler(getattr(signal, name)) for name in ("SIGINT", "SIGTERM", "SIGPIPE", "SIGCHLD", "SIGHUP", "SIGXFSZ")},
    "blocked": sorted(int(s) for s in signal.pthread_sigmask(signal.SIG_BLOCK, [])),
    "memory_limit": resource.getrlimit(resource.RLIMIT_AS)[0],
    "cwd": os.getcwd(),
    "path_head": sys.path[:2],
    "marker": os.environ.get("ZTF_TEST_MARKER"),
    "hashseed": os.environ.get("PYTHONHASHSEED"),
    "hash": hash("ztf"),
    "stdin": os.readlink("/proc/self/fd/0"),
    "fds": _fd_kinds(),
    "threads": len(os.listdir("/proc/self/task")),
    "dont_write_bytecode": sys.dont_write_bytecode,
    "root_handlers": len(__import__("logging").root.handlers),
    "main": sys.modules["__main__"].__spec__.name if sys.modules["__main__"].__spec__ else None,
})

def answer():
    return 42
'''


def tiny_lesson(folder: Path, timeout_s: float = 30, gpu: bool = False) -> SimpleNamespace:
    """A lesson-like object whose check lives in the test's folder, not in checks/."""
    check_file = folder / "tiny_check" / "check.py"
    check_file.parent.mkdir(parents=True, exist_ok=True)
    check_file.write_text(TINY_CHECK, encoding="utf-8")
    return SimpleNamespace(id="tiny", files=("tinymod.py",), check_file=check_file,
                           tiers={"fast": Tier("fast", timeout_s, gpu)})


@pytest.fixture
def warm_workspace(workspace):
    """The workspace, with its warm worker started and ready; every worker stops afterwards."""
    started = worker.prewarm(workspace.root)
    assert started.ready.wait(READY_TIMEOUT_S), started.log_path.read_text()
    yield workspace
    worker.stop_workers()


def write_learner(workspace, source: str) -> None:
    (workspace.root / "tinymod.py").write_text(source, encoding="utf-8")


def run(workspace, lesson, warm: bool = True, timeout_s: float | None = None):
    check = CheckRun(workspace.root, lesson, warm=warm, timeout_s=timeout_s).start()
    return check, check.wait()


def group_gone(pgid: int, within_s: float = 10.0) -> bool:
    """True once no process is left in the group (the worker reaps asynchronously)."""
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.05)
    return False


def test_warm_run_passes_warm(warm_workspace, tmp_path):
    write_learner(warm_workspace, "def answer():\n    return 42\n")
    check, result = run(warm_workspace, tiny_lesson(tmp_path))
    assert check.via == "warm"
    assert result.status == PASS, result.to_json()


def test_warm_child_matches_cold_child(warm_workspace, tmp_path, monkeypatch):
    monkeypatch.setenv("ZTF_TEST_MARKER", "from-the-runner")
    write_learner(warm_workspace, FACTS_MODULE)
    lesson = tiny_lesson(tmp_path)
    warm_check, warm = run(warm_workspace, lesson, warm=True)
    cold_check, cold = run(warm_workspace, lesson, warm=False)
    assert (warm_check.via, cold_check.via) == ("warm", "cold")
    warm_facts = json.loads(warm.criteria[0].measured)
    cold_facts = json.loads(cold.criteria[0].measured)
    assert warm_facts["own_session"] is True
    assert warm_facts["marker"] == "from-the-runner"
    assert warm_facts["cwd"] == str(warm_workspace.root)
    for key in cold_facts:
        assert warm_facts[key] == cold_facts[key], key


def test_learner_edit_seen_by_next_warm_run(warm_workspace, tmp_path):
    lesson = tiny_lesson(tmp_path)
    write_learner(warm_workspace, "def answer():\n    return 41\n")
    _, first = run(warm_workspace, lesson)
    write_learner(warm_workspace, "def answer():\n    return 42\n")
    _, second = run(warm_workspace, lesson)
    assert first.status != PASS
    assert "answer() returned 41" in first.criteria[0].message
    assert second.status == PASS


def test_worker_killed_next_run_works(warm_workspace, tmp_path):
    lesson = tiny_lesson(tmp_path)
    write_learner(warm_workspace, "def answer():\n    return 42\n")
    old = worker.worker_for(warm_workspace.root)
    os.kill(old.process.pid, signal.SIGKILL)
    old.process.wait()

    _, after_kill = run(warm_workspace, lesson)
    assert after_kill.status == PASS, after_kill.to_json()

    new = worker.worker_for(warm_workspace.root)
    assert new is not old
    assert new.ready.wait(READY_TIMEOUT_S), new.log_path.read_text()
    check, result = run(warm_workspace, lesson)
    assert check.via == "warm"
    assert result.status == PASS


def test_infinite_loop_times_out_leaves_nothing(warm_workspace, tmp_path):
    write_learner(warm_workspace, (
        "import subprocess\n"
        "subprocess.Popen(['sleep', '300'])  # a grandchild that must not outlive the run\n"
        "while True:\n"
        "    pass\n"
    ))
    check, result = run(warm_workspace, tiny_lesson(tmp_path), timeout_s=3)
    assert check.via == "warm"
    assert result.status == ERROR
    assert "timed out after 3 s" in result.message
    assert group_gone(check.process.pid)


def test_os_exit_at_import_is_named(warm_workspace, tmp_path):
    write_learner(warm_workspace, "import os\nos._exit(3)\n")
    check, result = run(warm_workspace, tiny_lesson(tmp_path))
    assert check.via == "warm"
    assert result.status == ERROR
    assert "os._exit(3)" in result.message
    assert "tinymod.py:2" in result.message


def test_huge_print_output_bounded(warm_workspace, tmp_path):
    write_learner(warm_workspace, (
        "import sys\n"
        "chunk = 'x' * (1 << 20)\n"
        "for _ in range(200):\n"
        "    sys.stdout.write(chunk)\n"
        "def answer():\n"
        "    return 42\n"
    ))
    check, result = run(warm_workspace, tiny_lesson(tmp_path), timeout_s=60)
    limit = check.limits.output_limit_bytes
    assert check.via == "warm"
    assert result.status == PASS
    assert result.output_bytes == 200 * (1 << 20)
    assert len(result.output.encode()) < 2 * limit + 200


def test_gpu_tier_starts_cold(warm_workspace, tmp_path):
    write_learner(warm_workspace, "def answer():\n    return 42\n")
    check, result = run(warm_workspace, tiny_lesson(tmp_path, gpu=True))
    assert check.via == "cold"
    assert result.status == PASS


def baseline_threads() -> int:
    """Threads of a fresh interpreter that only imports what the worker imports."""
    probe = "import os, numpy, torch; print(len(os.listdir('/proc/self/task')))"
    return int(subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout)


def test_worker_never_starts_pools_or_imports_learner(warm_workspace, tmp_path):
    write_learner(warm_workspace, "import torch\ndef answer():\n    return int(torch.ones(64, 64).matmul(torch.ones(64, 64)).sum().item()) // 6144  # 64**3 // 6144 == 42\n")
    for _ in range(2):
        check, result = run(warm_workspace, tiny_lesson(tmp_path))
        assert check.via == "warm"
        assert result.status == PASS, result.to_json()

    status = worker.worker_for(warm_workspace.root).status(warm_workspace.root)
    assert status["learner_modules"] == []
    assert status["cuda_initialized"] is False
    assert status["threads"] <= baseline_threads()


def test_stale_worker_restarts_on_check_change(workspace, tmp_path, monkeypatch):
    content = tmp_path / "content"
    helper = content / "checks" / "shared" / "helper.py"
    helper.parent.mkdir(parents=True)
    helper.write_text("VALUE = 1\n", encoding="utf-8")
    monkeypatch.setenv("ZTF_CONTENT_DIR", str(content))
    try:
        first = worker.prewarm(workspace.root)
        assert worker.prewarm(workspace.root) is first

        later = time.time() + 5
        os.utime(helper, (later, later))
        second = worker.prewarm(workspace.root)
        assert second is not first
        assert first.process.poll() is not None
    finally:
        worker.stop_workers()


def test_worker_killed_mid_run_verdict_arrives(warm_workspace, tmp_path):
    write_learner(warm_workspace, "import time\ntime.sleep(2)\ndef answer():\n    return 42\n")
    check = CheckRun(warm_workspace.root, tiny_lesson(tmp_path), warm=True).start()
    assert check.via == "warm"
    time.sleep(0.5)
    os.kill(worker.worker_for(warm_workspace.root).process.pid, signal.SIGKILL)

    result = check.wait()
    assert check.process.worker_lost is True
    assert result.status == PASS, result.to_json()
