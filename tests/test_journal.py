"""The journal end to end: real `ztf check` runs, a real git repository, `ztf journal` in a child process."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import time
from pathlib import Path

import pytest
from helpers import run_ztf

from ztf_tutor.attempts import record_activity, record_attempt, save_reflection, show_next_hint
from ztf_tutor.curriculum import curriculum
from ztf_tutor.journal import (
    active_seconds,
    attempt_detail,
    diff_attempts,
    flush_journal,
    journal_dir,
    journal_overview,
    lesson_journal,
    snapshot_files,
)
from ztf_tutor.journal.review import build_lessons
from ztf_tutor.progress import IDLE_GAP_S
from ztf_tutor.verdict import FAIL, PASS, CheckResult, CriterionResult
from ztf_tutor.workspace import Workspace

MICROGRAD = "phase1/micrograd.py"
BUGGY = "            self.grad = out.grad\n            other.grad = out.grad"
FIXED = "            self.grad += out.grad\n            other.grad += out.grad"


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


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, check=True).stdout


def synthetic_result(status: str, passed: int, total: int = 5, *, started_at: float, duration: float = 0.5) -> CheckResult:
    criteria = [CriterionResult(f"criterion {number}", PASS, measured="ok") for number in range(passed)]
    criteria += [CriterionResult(f"criterion {number}", FAIL, measured="bad", message="wrong")
                 for number in range(passed, total)]
    return CheckResult("1.2", "fast", status, duration, criteria, started_at=started_at)


def buggy_reference() -> str:
    reference = (curriculum().lesson("1.2").reference_dir / MICROGRAD).read_text(encoding="utf-8")
    assert reference.count(FIXED) == 1
    return reference.replace(FIXED, BUGGY)


@pytest.mark.slow
def test_check_sequence_timeline(workspace: Workspace, reference) -> None:
    """Stub, buggy and fixed code through the real `ztf check`, then a reflection."""
    lesson = curriculum().lesson("1.2")
    verdicts = []
    first = run_ztf("check", "1.2", "--json", "-w", str(workspace.root))
    verdicts.append(json.loads(first.stdout))
    (workspace.root / MICROGRAD).write_text(buggy_reference(), encoding="utf-8")
    second = run_ztf("check", "1.2", "--json", "-w", str(workspace.root))
    verdicts.append(json.loads(second.stdout))
    reference("1.2")
    third = run_ztf("check", "1.2", "--json", "-w", str(workspace.root))
    verdicts.append(json.loads(third.stdout))
    assert [verdict["status"] for verdict in verdicts] == ["fail", "fail", "pass"]

    save_reflection(workspace, lesson, "A node used twice needs += in its backward.")
    assert flush_journal(workspace, timeout=60)

    shown = run_ztf("journal", "--json", "-w", str(workspace.root))
    assert shown.returncode == 0, shown.stderr
    overview = json.loads(shown.stdout)
    assert overview["total_attempts"] == 3
    entry = overview["lessons"][0]
    assert entry["lesson"] == "1.2"
    assert entry["attempt_count"] == 3
    assert entry["failed_count"] == 2
    assert entry["pass_count"] == 1
    assert entry["reflection_count"] == 1
    assert "needs += in its backward" in entry["reflections"]
    attempts = entry["attempts"]
    assert [attempt["number"] for attempt in attempts] == [1, 2, 3]
    assert [attempt["status"] for attempt in attempts] == ["fail", "fail", "pass"]
    for attempt, verdict in zip(attempts, verdicts, strict=True):
        assert attempt["duration_s"] == pytest.approx(verdict["duration_s"], abs=0.002)
        assert attempt["started_at"] == pytest.approx(verdict["started_at"], abs=0.001)
        assert attempt["passed"] == sum(criterion["status"] == "pass" for criterion in verdict["criteria"])
    assert entry["first_attempt_at"] == pytest.approx(attempts[0]["started_at"])
    assert entry["first_pass_at"] == pytest.approx(attempts[2]["finished_at"])
    # The three runs follow each other within seconds, far below the idle gap, so all of it is work.
    assert entry["time_to_pass_s"] == pytest.approx(attempts[2]["finished_at"] - attempts[0]["started_at"], abs=0.01)
    assert entry["struggle_s"] == pytest.approx(entry["time_to_pass_s"], abs=0.01)
    assert entry["time_on_task_s"] > entry["time_to_pass_s"]

    journal = journal_dir(workspace.tutor_dir)
    subjects = git(journal, "log", "--format=%s").splitlines()
    assert len(subjects) == 4
    assert subjects[0] == "1.2 micrograd: reflection"
    attempt_subjects = subjects[1:]
    assert attempt_subjects[0] == "1.2 micrograd: pass 7/7"
    assert attempt_subjects[1].startswith("1.2 micrograd: fail ")
    assert "A node used twice accumulates its gradient" in attempt_subjects[1]
    assert attempt_subjects[2] == "1.2 micrograd: fail 0/7, Forward values of +, -, *, /, ** and their reflected forms…"
    assert git(journal, "status", "--porcelain") == ""


@pytest.mark.slow
def test_diff_shows_fix(workspace: Workspace, reference) -> None:
    (workspace.root / MICROGRAD).write_text(buggy_reference(), encoding="utf-8")
    assert run_ztf("check", "1.2", "-w", str(workspace.root)).returncode == 1
    reference("1.2")
    assert run_ztf("check", "1.2", "-w", str(workspace.root)).returncode == 0

    shown = run_ztf("journal", "diff", "1.2", "-w", str(workspace.root))
    assert shown.returncode == 0, shown.stderr
    assert "attempt 1 (fail" in shown.stdout
    assert "attempt 2 (pass 7/7" in shown.stdout
    assert "--- a/phase1/micrograd.py" in shown.stdout
    assert "-            self.grad = out.grad" in shown.stdout
    assert "+            self.grad += out.grad" in shown.stdout


def test_export_and_plot_write_files(workspace: Workspace, tmp_path: Path) -> None:
    lesson = curriculum().lesson("1.2")
    now = time.time()
    record_attempt(workspace, lesson, synthetic_result(FAIL, 2, started_at=now - 30))
    (workspace.root / MICROGRAD).write_text("# the fix\n", encoding="utf-8")
    record_attempt(workspace, lesson, synthetic_result(PASS, 5, started_at=now - 10))
    save_reflection(workspace, lesson, "Learned about topological order.")
    assert flush_journal(workspace, timeout=60)

    log_path = tmp_path / "out" / "log.md"
    exported = run_ztf("journal", "export", "-o", str(log_path), "-w", str(workspace.root))
    assert exported.returncode == 0, exported.stderr
    text = log_path.read_text(encoding="utf-8")
    assert "## Phase 1: Foundations" in text
    assert "### 1.2 Micrograd" in text
    assert "- Attempts: 2 (1 failing, 1 passing)" in text
    assert "Learned about topological order." in text
    assert "```python\n# the fix\n```" in text

    png = tmp_path / "charts.png"
    plotted = run_ztf("journal", "plot", "-o", str(png), "-w", str(workspace.root))
    assert plotted.returncode == 0, plotted.stderr
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert png.stat().st_size > 10_000


def test_record_contents(workspace: Workspace) -> None:
    """A record contains the verdict, criteria, hints, environment and the files as checked."""
    lesson = curriculum().lesson("1.2")
    target = workspace.root / MICROGRAD
    target.write_text("checked = 1\n", encoding="utf-8")
    show_next_hint(workspace, lesson)
    snapshot_files(workspace.root, lesson)
    result = synthetic_result(FAIL, 3, started_at=time.time())
    result.source_mtimes = {MICROGRAD: target.stat().st_mtime}
    # The learner saves again while the check runs; the journal keeps the bytes that were checked.
    target.write_text("saved during the check = 2\n", encoding="utf-8")
    record_attempt(workspace, lesson, result, trigger="save")
    assert flush_journal(workspace, timeout=60)

    detail = attempt_detail(workspace, "1.2", "1")
    assert detail.files == {MICROGRAD: b"checked = 1\n"}
    record = detail.record
    assert record["snapshot"] == "before-run"
    assert record["status"] == "fail"
    assert record["passed"] == 3
    assert record["total"] == 5
    assert record["criteria"][4] == {"name": "criterion 4", "status": "fail", "measured": "bad",
                                     "threshold": None, "message": "wrong"}
    assert record["hints_shown"] == 1
    assert record["trigger"] == "save"
    assert record["where"] == "local"
    assert record["tier"] == "fast"
    assert record["environment"]["python"]
    assert record["environment"]["torch"].startswith("2.")
    assert record["environment"]["device"] == "cpu"
    assert [event["kind"] for event in record["events"]] == ["hint"]
    subject = git(journal_dir(workspace.tutor_dir), "log", "-1", "--format=%s")
    assert subject.strip() == "1.2 micrograd: fail 3/5, criterion 3"


def test_snapshot_read_after_run_without_snapshot(workspace: Workspace) -> None:
    lesson = curriculum().lesson("1.2")
    (workspace.root / MICROGRAD).write_text("late = 1\n", encoding="utf-8")
    record_attempt(workspace, lesson, synthetic_result(PASS, 5, started_at=time.time()))
    assert flush_journal(workspace, timeout=60)
    detail = attempt_detail(workspace, "1.2", "-1")
    assert detail.record["snapshot"] == "after-run"
    assert detail.files == {MICROGRAD: b"late = 1\n"}


def test_activity_counts_toward_time(workspace: Workspace) -> None:
    lesson = curriculum().lesson("1.2")
    record_activity(workspace, lesson)
    time.sleep(0.3)
    record_attempt(workspace, lesson, synthetic_result(PASS, 5, started_at=time.time(), duration=0.2))
    assert flush_journal(workspace, timeout=60)
    journal = lesson_journal(workspace, "1.2")
    assert journal.attempt_count == 1
    assert journal.time_on_task_s >= 0.5
    assert journal.time_to_pass_s == pytest.approx(journal.time_on_task_s)
    assert journal.struggle_s == 0.0


def test_idle_gaps_excluded() -> None:
    start = 1_700_000_000.0
    events = [
        {"kind": "activity", "lesson": "1.2", "at": start},
        {"kind": "activity", "lesson": "1.2", "at": start + 60},
        {"kind": "attempt", "lesson": "1.2", "at": start + 100, "end": start + 105, "duration_s": 5,
         "status": "fail", "commit": "a" * 40},
        {"kind": "hint", "lesson": "1.2", "at": start + 110, "step": 1},
        {"kind": "activity", "lesson": "1.2", "at": start + 110 + IDLE_GAP_S + 1},
        {"kind": "attempt", "lesson": "1.2", "at": start + 200 + IDLE_GAP_S, "end": start + 230 + IDLE_GAP_S,
         "duration_s": 30, "status": "pass", "commit": "b" * 40},
        {"kind": "activity", "lesson": "2.1", "at": start + 50},
    ]
    overview = build_lessons(events)
    journal = overview.lesson("1.2")
    assert journal is not None
    first_stretch = 110.0
    second_stretch = (230 + IDLE_GAP_S) - (110 + IDLE_GAP_S + 1)
    assert journal.time_on_task_s == pytest.approx(first_stretch + second_stretch)
    assert journal.time_to_pass_s == pytest.approx(first_stretch + second_stretch)
    assert journal.struggle_s == pytest.approx(10 + second_stretch)
    assert journal.hints[0].step == 1
    assert journal.failed_count == 1
    assert overview.lesson("2.1").time_on_task_s == 0.0


def test_active_seconds_clips_to_window() -> None:
    intervals = [(0.0, 10.0), (20.0, 30.0), (30.0 + IDLE_GAP_S + 1, 40.0 + IDLE_GAP_S)]
    assert active_seconds(intervals) == pytest.approx(30.0 + 9.0)
    assert active_seconds(intervals, start=5.0, end=25.0) == pytest.approx(20.0)
    assert active_seconds([]) == 0.0


def test_diff_needs_passing_attempt(workspace: Workspace) -> None:
    lesson = curriculum().lesson("1.2")
    record_attempt(workspace, lesson, synthetic_result(FAIL, 1, started_at=time.time()))
    assert flush_journal(workspace, timeout=60)
    shown = run_ztf("journal", "diff", "1.2", "-w", str(workspace.root))
    assert shown.returncode == 2
    assert "no passing attempt yet" in shown.stderr
    assert "ztf journal diff 1.2 A B" in shown.stderr
    numbered = run_ztf("journal", "diff", "1.2", "1", "9", "-w", str(workspace.root))
    assert numbered.returncode == 2
    assert "has no attempt 9" in numbered.stderr


def test_lesson_timeline_text(workspace: Workspace) -> None:
    lesson = curriculum().lesson("1.2")
    record_attempt(workspace, lesson, synthetic_result(FAIL, 1, started_at=time.time()))
    record_attempt(workspace, lesson, synthetic_result(PASS, 5, started_at=time.time()))
    assert flush_journal(workspace, timeout=60)
    shown = run_ztf("journal", "micrograd", "-w", str(workspace.root), env={"COLUMNS": "160"})
    assert shown.returncode == 0, shown.stderr
    assert "passed at attempt 2" in shown.stdout
    assert "fail 1/5" in shown.stdout
    overview = run_ztf("journal", "-w", str(workspace.root), env={"COLUMNS": "160"})
    assert overview.returncode == 0, overview.stderr
    assert "2 attempts" in overview.stdout


def test_empty_journal(workspace: Workspace) -> None:
    shown = run_ztf("journal", "--json", "-w", str(workspace.root))
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout) == {"total_attempts": 0, "total_time_s": 0, "lessons": []}
    assert journal_overview(workspace).lessons == []
    with pytest.raises(Exception, match="no recorded attempts"):
        diff_attempts(workspace, "1.2", "1", "2")


def test_remote_attempt_keeps_its_environment(workspace: Workspace) -> None:
    lesson = curriculum().lesson("1.2")
    result = synthetic_result(PASS, 5, started_at=time.time())
    result.where = "gpu-box"
    result.environment = {"python": "3.12.1", "torch": "2.5.0", "cuda": "12.4", "device": "cuda:0 (NVIDIA H100)"}
    record_attempt(workspace, lesson, result, trigger="remote")
    assert flush_journal(workspace, timeout=60)
    record = attempt_detail(workspace, "1.2", "1").record
    assert record["where"] == "gpu-box"
    assert record["trigger"] == "remote"
    assert record["environment"]["device"] == "cuda:0 (NVIDIA H100)"
    body = git(journal_dir(workspace.tutor_dir), "log", "-1", "--format=%b")
    assert "ran gpu-box on cuda:0 (NVIDIA H100)" in body


def test_remote_gpu_list_becomes_device(workspace: Workspace) -> None:
    lesson = curriculum().lesson("1.2")
    result = synthetic_result(FAIL, 2, started_at=time.time())
    result.where = "remote box (box.example)"
    result.environment = {"remote": "box", "python": "3.11.9", "torch": "2.5.0", "cuda": "12.4",
                          "gpus": ["NVIDIA H200", "NVIDIA H200"]}
    record_attempt(workspace, lesson, result, trigger="remote")
    assert flush_journal(workspace, timeout=60)
    record = attempt_detail(workspace, "1.2", "1").record
    assert record["environment"]["device"] == "cuda:0 (NVIDIA H200)"
    assert record["environment"]["gpus"] == ["NVIDIA H200", "NVIDIA H200"]


def totals_of(overview) -> list[dict]:
    return [lesson.to_json(include_attempts=False) | {"reflections": ""} for lesson in overview.lessons]


def test_summary_cache_matches_full(workspace: Workspace) -> None:
    """The cached totals equal a full computation after every kind of change to the index."""
    from ztf_tutor.journal import index_path, journal_summary

    lesson = curriculum().lesson("1.2")
    other = dataclasses.replace(lesson, id="2.1")
    record_attempt(workspace, lesson, synthetic_result(FAIL, 1, started_at=time.time()))
    assert flush_journal(workspace, timeout=60)
    assert totals_of(journal_summary(workspace)) == totals_of(journal_overview(workspace))

    for current in (lesson, other, lesson):
        record_activity(workspace, current)
        record_attempt(workspace, current, synthetic_result(PASS, 5, started_at=time.time()))
        assert flush_journal(workspace, timeout=60)
        assert totals_of(journal_summary(workspace)) == totals_of(journal_overview(workspace))
    summary = journal_summary(workspace)
    assert [entry.lesson for entry in summary.lessons] == ["1.2", "2.1"]
    assert summary.lessons[0].attempt_count == 3
    assert summary.lessons[0].first_pass_number == 2
    assert summary.lessons[1].pass_count == 1

    index_path(workspace.tutor_dir).unlink()
    assert totals_of(journal_summary(workspace)) == totals_of(journal_overview(workspace))
    (workspace.tutor_dir / "journal-summary.json").write_text("{ broken", encoding="utf-8")
    assert totals_of(journal_summary(workspace)) == totals_of(journal_overview(workspace))


def test_solution_reveal_recorded(workspace: Workspace) -> None:
    from ztf_tutor.attempts import record_solution_reveal

    lesson = curriculum().lesson("1.2")
    record_attempt(workspace, lesson, synthetic_result(FAIL, 1, started_at=time.time()))
    record_solution_reveal(workspace, lesson)
    record_attempt(workspace, lesson, synthetic_result(PASS, 5, started_at=time.time()))
    assert flush_journal(workspace, timeout=60)
    journal = lesson_journal(workspace, "1.2")
    assert journal.solution_revealed_at is not None
    assert journal.attempts[0].started_at < journal.solution_revealed_at < journal.attempts[1].started_at
    first = attempt_detail(workspace, "1.2", "1").record
    second = attempt_detail(workspace, "1.2", "2").record
    assert first["solution_revealed"] is False
    assert second["solution_revealed"] is True
    assert [event["kind"] for event in second["events"]] == ["reveal"]
