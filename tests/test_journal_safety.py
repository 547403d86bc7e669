"""The journal under crashes, concurrency and long sessions: real processes, real kill -9, real git."""

from __future__ import annotations

import fcntl
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from helpers import REPO, run_ztf

from ztf_tutor.attempts import record_activity, record_attempt
from ztf_tutor.curriculum import curriculum
from ztf_tutor.journal import (
    attempt_detail,
    diff_attempts,
    flush_journal,
    index_path,
    journal_dir,
    journal_overview,
)
from ztf_tutor.verdict import FAIL, PASS, CheckResult, CriterionResult
from ztf_tutor.workspace import Workspace

MICROGRAD = "phase1/micrograd.py"

# Records attempts in a loop, as a tutor process would; COUNT 0 loops until killed.
WRITER_SCRIPT = """
import sys, time
from pathlib import Path
from ztf_tutor.attempts import record_activity, record_attempt
from ztf_tutor.curriculum import curriculum
from ztf_tutor.journal import flush_journal
from ztf_tutor.verdict import CheckResult, CriterionResult
from ztf_tutor.workspace import Workspace

root, count, tag = Path(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
workspace = Workspace(root)
lesson = curriculum().lesson("1.2")
target = root / "phase1" / "micrograd.py"
number = 0
while count == 0 or number < count:
    target.write_text(f"# written by {tag}, attempt {number}\\n", encoding="utf-8")
    record_activity(workspace, lesson)
    passed = number % 4
    criteria = [CriterionResult(f"criterion {i}", "pass" if i < passed else "fail") for i in range(3)]
    status = "pass" if passed == 3 else "fail"
    result = CheckResult("1.2", "fast", status, 0.01, criteria, started_at=time.time())
    record_attempt(workspace, lesson, result, trigger="save")
    number += 1
    if count == 0:
        time.sleep(0.005)
flush_journal(workspace)
print("done", number, flush=True)
"""


@pytest.fixture(autouse=True)
def no_git_identity(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty HOME and global git config, so no git identity exists anywhere."""
    home = tmp_path_factory.mktemp("git-home")
    empty = home / "empty-gitconfig"
    empty.write_text("")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(empty))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    for variable in ("GIT_AUTHOR_NAME", "GIT_AUTHOR_EMAIL", "GIT_COMMITTER_NAME", "GIT_COMMITTER_EMAIL", "EMAIL"):
        monkeypatch.delenv(variable, raising=False)
    return home


@pytest.fixture
def writer_script(tmp_path: Path) -> Path:
    path = tmp_path / "journal_writer.py"
    path.write_text(WRITER_SCRIPT, encoding="utf-8")
    return path


def child_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    return env


def start_writer(script: Path, workspace: Workspace, count: int, tag: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, str(script), str(workspace.root), str(count), tag],
                            env=child_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, check=True).stdout


def assert_fsck_clean(repo: Path) -> None:
    checked = subprocess.run(["git", "-C", str(repo), "fsck", "--full", "--strict", "--no-dangling"],
                             capture_output=True, text=True)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    report = (checked.stdout + checked.stderr).lower()
    for problem in ("error", "missing", "broken", "corrupt", "bad "):
        assert problem not in report, report


def index_lines(workspace: Workspace) -> list[dict]:
    text = index_path(workspace.tutor_dir).read_text(encoding="utf-8")
    return [json.loads(line) for line in text.splitlines()]


def assert_index_matches_git(workspace: Workspace) -> list[str]:
    """Every commit appears once in the index, in order; returns the commits oldest first."""
    commits = git(journal_dir(workspace.tutor_dir), "log", "--reverse", "--format=%H").split()
    indexed = [line["commit"] for line in index_lines(workspace) if line.get("commit")]
    assert indexed == commits
    return commits


def synthetic_result(status: str, passed: int, total: int = 4) -> CheckResult:
    criteria = [CriterionResult(f"criterion {number}", PASS if number < passed else FAIL) for number in range(total)]
    return CheckResult("1.2", "fast", status, 0.01, criteria, started_at=time.time())


def child_process_names() -> list[str]:
    """Command names of this process's direct children, from /proc."""
    names = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        name = stat[stat.index("(") + 1 : stat.rindex(")")]
        parent = int(stat[stat.rindex(")") + 2 :].split()[1])
        if parent == os.getpid():
            names.append(name)
    return names


def wait_for_commits(workspace: Workspace, at_least: int, timeout: float = 60) -> None:
    path = index_path(workspace.tutor_dir)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and path.read_bytes().count(b'"commit"') >= at_least:
            return
        time.sleep(0.02)
    raise AssertionError(f"fewer than {at_least} journal commits after {timeout} s")


def test_kill_9_then_repair(workspace: Workspace, writer_script: Path) -> None:
    """Kill a process that records attempts in a loop, three times; the next one repairs and goes on."""
    journal = journal_dir(workspace.tutor_dir)
    chooser = random.Random(4)
    for round_number in range(3):
        before = index_path(workspace.tutor_dir).read_bytes().count(b'"commit"') if round_number else 0
        process = start_writer(writer_script, workspace, 0, f"killed-{round_number}")
        wait_for_commits(workspace, before + 3)
        time.sleep(chooser.uniform(0.0, 0.3))
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
        assert process.returncode == -signal.SIGKILL

    final = start_writer(writer_script, workspace, 5, "final")
    output, errors = final.communicate(timeout=120)
    assert final.returncode == 0, errors
    assert output.strip() == "done 5"

    assert_fsck_clean(journal)
    commits = assert_index_matches_git(workspace)
    assert len(commits) >= 3 * 3 + 5
    assert git(journal, "status", "--porcelain") == ""
    assert not list((journal / ".git").rglob("*.lock"))
    last = git(journal, "show", f"HEAD:lessons/1.2/files/{MICROGRAD}")
    assert last == "# written by final, attempt 4\n"
    shown = run_ztf("journal", "1.2", "--json", "-w", str(workspace.root))
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout)["attempt_count"] == len(commits)


def test_two_processes_write_concurrently(workspace: Workspace, writer_script: Path) -> None:
    first = start_writer(writer_script, workspace, 15, "first")
    second = start_writer(writer_script, workspace, 15, "second")
    for process in (first, second):
        _, errors = process.communicate(timeout=300)
        assert process.returncode == 0, errors
        assert "Traceback" not in errors

    journal = journal_dir(workspace.tutor_dir)
    assert_fsck_clean(journal)
    commits = assert_index_matches_git(workspace)
    assert len(commits) == 30
    subjects = git(journal, "log", "--format=%s").splitlines()
    assert all(subject.startswith("1.2 micrograd: ") for subject in subjects)
    activity = [line for line in index_lines(workspace) if line["kind"] == "activity"]
    assert len(activity) == 30
    shown = run_ztf("journal", "--json", "-w", str(workspace.root))
    assert json.loads(shown.stdout)["total_attempts"] == 30


def test_no_git_identity_needed(workspace: Workspace, no_git_identity: Path) -> None:
    probe = subprocess.run(["git", "config", "--get", "user.email"], capture_output=True, text=True)
    assert probe.returncode == 1, "the test environment still has a git identity"
    lesson = curriculum().lesson("1.2")
    record_attempt(workspace, lesson, synthetic_result(PASS, 4))
    assert flush_journal(workspace, timeout=60)
    author = git(journal_dir(workspace.tutor_dir), "log", "-1", "--format=%an <%ae>|%cn <%ce>")
    assert author.strip() == "ztf journal <journal@ztf.invalid>|ztf journal <journal@ztf.invalid>"


def test_stale_locks_repaired(workspace: Workspace, writer_script: Path) -> None:
    first = start_writer(writer_script, workspace, 1, "before")
    assert first.communicate(timeout=120)[0].strip() == "done 1"
    journal = journal_dir(workspace.tutor_dir)
    # What a writer killed inside `git add` or `git commit` leaves behind.
    (journal / ".git" / "index.lock").write_bytes(b"half an index")
    (journal / ".git" / "refs" / "heads" / "main.lock").write_bytes(b"")
    (journal / "lessons" / "1.2" / "attempt.json").write_text("{ half a reco", encoding="utf-8")
    (journal / "lessons" / "stray.txt").write_text("left over", encoding="utf-8")

    second = start_writer(writer_script, workspace, 2, "after")
    output, errors = second.communicate(timeout=120)
    assert second.returncode == 0, errors
    assert output.strip() == "done 2"
    assert not (journal / ".git" / "index.lock").exists()
    assert not (journal / ".git" / "refs" / "heads" / "main.lock").exists()
    assert not (journal / "lessons" / "stray.txt").exists()
    assert git(journal, "status", "--porcelain") == ""
    assert len(assert_index_matches_git(workspace)) == 3
    assert_fsck_clean(journal)


def test_no_leaked_git_processes(workspace: Workspace) -> None:
    lesson = curriculum().lesson("1.2")
    target = workspace.root / MICROGRAD
    for number in range(40):
        target.write_text(f"version = {number // 4}\n", encoding="utf-8")
        record_activity(workspace, lesson)
        record_attempt(workspace, lesson, synthetic_result(PASS if number % 5 == 4 else FAIL, number % 5))
        if number % 10 == 9:
            assert flush_journal(workspace, timeout=120)
            journal_overview(workspace)
            attempt_detail(workspace, "1.2", "-1")
            diff_attempts(workspace, "1.2", "1", "-1")
    assert flush_journal(workspace, timeout=120)
    assert "git" not in child_process_names()
    assert len(assert_index_matches_git(workspace)) == 40


def test_writes_never_change_cwd(workspace: Workspace) -> None:
    lesson = curriculum().lesson("1.2")
    seen: set[str] = set()
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            seen.add(os.getcwd())

    sampler = threading.Thread(target=sample)
    sampler.start()
    try:
        for number in range(15):
            (workspace.root / MICROGRAD).write_text(f"step = {number}\n", encoding="utf-8")
            record_attempt(workspace, lesson, synthetic_result(FAIL, 1))
        assert flush_journal(workspace, timeout=120)
        journal_overview(workspace)
    finally:
        stop.set()
        sampler.join()
    assert seen == {os.getcwd()}


def test_recording_does_not_wait_for_lock(workspace: Workspace) -> None:
    """While another process holds the journal lock, record_attempt still returns at once."""
    lesson = curriculum().lesson("1.2")
    lock_file = workspace.tutor_dir / "journal.lock"
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import fcntl, sys, time; f = open(sys.argv[1], 'a'); fcntl.flock(f, fcntl.LOCK_EX); "
         "print('locked', flush=True); sys.stdin.read()", str(lock_file)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        record_attempt(workspace, lesson, synthetic_result(PASS, 4))
        assert flush_journal(workspace, timeout=0.5) is False
        assert not index_path(workspace.tutor_dir).exists()
    finally:
        holder.stdin.close()
        holder.wait(timeout=30)
    assert flush_journal(workspace, timeout=60)
    assert len(assert_index_matches_git(workspace)) == 1
    with open(lock_file) as handle:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)


def test_index_rebuilt_from_git(workspace: Workspace) -> None:
    lesson = curriculum().lesson("1.2")
    for number in range(4):
        (workspace.root / MICROGRAD).write_text(f"round = {number}\n", encoding="utf-8")
        record_activity(workspace, lesson)
        time.sleep(0.05)
        record_attempt(workspace, lesson, synthetic_result(PASS if number == 3 else FAIL, number))
    assert flush_journal(workspace, timeout=60)
    expected = journal_overview(workspace).to_json()
    path = index_path(workspace.tutor_dir)

    path.unlink()
    assert journal_overview(workspace).to_json() == expected

    lines = path.read_text(encoding="utf-8").splitlines()
    lines[1] = "{ not json"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert journal_overview(workspace).to_json() == expected

    # A line cut short by a kill is ignored by readers and dropped by the next writer.
    with path.open("a", encoding="utf-8") as handle:
        handle.write('{"kind": "activ')
    assert journal_overview(workspace).to_json() == expected
    record_activity(workspace, lesson)
    assert flush_journal(workspace, timeout=60)
    assert index_lines(workspace)[-1]["kind"] == "activity"
    assert len(assert_index_matches_git(workspace)) == 4


def test_repository_grows_with_changes(workspace: Workspace) -> None:
    """Unchanged files are stored once, and files outside the lesson are never stored."""
    lesson = curriculum().lesson("1.2")
    (workspace.root / "big-dataset.bin").write_bytes(os.urandom(2 * 1024 * 1024))
    reference = (lesson.reference_dir / MICROGRAD).read_text(encoding="utf-8")
    attempts, versions = 40, 4
    for number in range(attempts):
        (workspace.root / MICROGRAD).write_text(reference + f"# version {number // (attempts // versions)}\n",
                                                encoding="utf-8")
        record_attempt(workspace, lesson, synthetic_result(FAIL, 2))
    assert flush_journal(workspace, timeout=120)

    journal = journal_dir(workspace.tutor_dir)
    listed = [line.split(" ", 1) + [""] for line in git(journal, "rev-list", "--objects", "--all").splitlines()]
    shas = [entry[0] for entry in listed]
    sizes = subprocess.run(["git", "-C", str(journal), "cat-file", "--batch-check=%(objectsize)"],
                           input="\n".join(shas) + "\n", capture_output=True, text=True, check=True).stdout.split()
    size_of = dict(zip(shas, map(int, sizes), strict=True))
    snapshot_blobs = {entry[0] for entry in listed if entry[1] == f"lessons/1.2/files/{MICROGRAD}"}
    assert len(snapshot_blobs) == versions
    assert max(size_of.values()) < 100_000
    # Beyond the changed file contents, an attempt adds its record, its trees and its commit.
    snapshot_bytes = sum(size_of[sha] for sha in snapshot_blobs)
    per_attempt = (sum(size_of.values()) - snapshot_bytes) / attempts
    assert per_attempt < 4096
    assert len(shas) <= attempts * 8
