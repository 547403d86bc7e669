"""Checks driven by saves: the latest save wins, stale verdicts never publish, polling takes over."""

from __future__ import annotations

import errno
import hashlib
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

from helpers import REPO
from watchdog.observers import Observer

from ztf_tutor.curriculum import curriculum
from ztf_tutor.progress import Progress
from ztf_tutor.watcher import POLLING, LessonChecker, Verdict, WatchSession
from ztf_tutor.workspace import Workspace

LESSON_FILE = "phase1/micrograd.py"


def reference_bytes() -> bytes:
    lesson = curriculum().lesson("1.2")
    return (lesson.reference_dir / LESSON_FILE).read_bytes()


class Verdicts:
    def __init__(self) -> None:
        self.items: list[Verdict] = []
        self.notices: list[str] = []
        self.event = threading.Event()

    def add(self, verdict: Verdict) -> None:
        self.items.append(verdict)
        self.event.set()

    def wait(self, count: int, timeout: float = 90.0) -> list[Verdict]:
        deadline = time.monotonic() + timeout
        while len(self.items) < count and time.monotonic() < deadline:
            time.sleep(0.05)
        return list(self.items)


def start_session(workspace: Workspace, verdicts: Verdicts, **options) -> WatchSession:
    checker = LessonChecker(workspace, on_verdict=verdicts.add)
    session = WatchSession(workspace, checker, on_notice=verdicts.notices.append, **options).start()
    time.sleep(0.2)
    return session


def write(path: Path, data: bytes) -> None:
    with open(path, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())


def test_save_gives_recorded_verdict(workspace):
    verdicts = Verdicts()
    session = start_session(workspace, verdicts)
    try:
        write(workspace.root / LESSON_FILE, reference_bytes())
        found = verdicts.wait(1)
        time.sleep(0.5)
    finally:
        session.stop()
    assert len(verdicts.items) == 1
    assert found[0].result.status == "pass"
    assert found[0].trigger == "save"
    assert found[0].source_mtime == (workspace.root / LESSON_FILE).stat().st_mtime
    entry = Progress(workspace).get("1.2")
    assert entry.attempts == 1
    assert entry.last_status == "pass"


def test_burst_gives_one_verdict_on_latest(workspace):
    verdicts = Verdicts()
    session = start_session(workspace, verdicts)
    stub = (workspace.root / LESSON_FILE).read_bytes()
    try:
        for index in range(6):
            write(workspace.root / LESSON_FILE, stub + f"\n# draft {index}\n".encode())
        write(workspace.root / LESSON_FILE, reference_bytes())
        verdicts.wait(1)
        time.sleep(2.0)  # any stale run would have published by now
    finally:
        session.stop()
    assert len(verdicts.items) == 1
    assert verdicts.items[0].result.status == "pass"
    assert verdicts.items[0].digests[LESSON_FILE] == hashlib.sha256(reference_bytes()).hexdigest()
    assert Progress(workspace).get("1.2").attempts == 1


def test_save_during_run_cancels_stale_run(workspace):
    verdicts = Verdicts()
    checker = LessonChecker(workspace, on_verdict=verdicts.add)
    session = WatchSession(workspace, checker, on_notice=verdicts.notices.append).start()
    time.sleep(0.2)
    hanging = reference_bytes() + b"\nimport time\ntime.sleep(600)\n"
    try:
        write(workspace.root / LESSON_FILE, hanging)
        deadline = time.monotonic() + 30
        while not checker.running() and time.monotonic() < deadline:
            time.sleep(0.02)
        assert checker.running() == ["1.2"], "the first save should have started a run"
        time.sleep(0.5)
        write(workspace.root / LESSON_FILE, reference_bytes())
        found = verdicts.wait(1)
        time.sleep(1.0)
    finally:
        session.stop()
    assert checker.started_runs == 2
    assert [item.result.status for item in found] == ["pass"]
    assert Progress(workspace).get("1.2").attempts == 1


def test_verdict_for_changed_file_dropped(workspace, reference):
    reference("1.2")
    verdicts = Verdicts()
    checker = LessonChecker(workspace, on_verdict=verdicts.add)
    target = workspace.root / LESSON_FILE

    def change_during_run(lesson_id: str, event: dict) -> None:
        if event.get("event") == "begin":
            write(target, reference_bytes() + b"\n# saved while the check ran\n")

    checker.on_event = change_during_run
    result = checker.check(curriculum().lesson("1.2"), trigger="manual")
    assert result is None
    assert verdicts.items == []
    assert Progress(workspace).get("1.2").attempts == 0


class SilentObserver(Observer):
    """A real inotify observer whose events never reach the handlers, like a network drive."""

    def dispatch_events(self, event_queue) -> None:
        event_queue.get(block=True)
        event_queue.task_done()


class LimitedObserver(Observer):
    """A real observer whose watch is refused the way the kernel refuses it at the inotify limit."""

    def schedule(self, *args, **kwargs):
        raise OSError(errno.ENOSPC, "inotify watch limit reached")


def test_silent_filesystem_falls_back_to_polling(workspace):
    verdicts = Verdicts()
    session = start_session(workspace, verdicts, observer_factory=SilentObserver, canary_timeout_s=1.0,
                            polling_interval_s=0.2)
    try:
        deadline = time.monotonic() + 10
        while not verdicts.notices and time.monotonic() < deadline:
            time.sleep(0.05)
        assert session.watcher.mode == POLLING
        time.sleep(0.5)  # the polling observer takes its first snapshot
        write(workspace.root / LESSON_FILE, reference_bytes())
        found = verdicts.wait(1)
        time.sleep(1.0)
    finally:
        session.stop()
    assert len(verdicts.notices) == 1
    assert "polling" in verdicts.notices[0]
    assert len(found) == 1
    assert found[0].result.status == "pass"


def test_inotify_limit_falls_back_to_polling(workspace):
    verdicts = Verdicts()
    session = start_session(workspace, verdicts, observer_factory=LimitedObserver, polling_interval_s=0.2)
    try:
        assert session.watcher.mode == POLLING
        time.sleep(0.5)
        write(workspace.root / LESSON_FILE, reference_bytes())
        found = verdicts.wait(1)
    finally:
        session.stop()
    assert "inotify watch limit" in verdicts.notices[0]
    assert [item.result.status for item in found] == ["pass"]


def test_watch_command_json(workspace):
    env = dict(os.environ, PYTHONPATH=str(REPO))
    process = subprocess.Popen(
        [sys.executable, "-m", "ztf_tutor", "watch", "1.2", "--json", "-w", str(workspace.root)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )
    try:
        assert "Watching" in process.stderr.readline()
        time.sleep(0.3)
        write(workspace.root / LESSON_FILE, reference_bytes())
        line = process.stdout.readline()
    finally:
        process.terminate()
        process.wait(timeout=10)
    record = json.loads(line)
    assert record["lesson"] == "1.2"
    assert record["status"] == "pass"
    assert record["source_mtime"] == (workspace.root / LESSON_FILE).stat().st_mtime
    assert record["duration_s"] > 0
    assert {item["status"] for item in record["criteria"]} == {"pass"}
    assert process.returncode == 0


def test_dead_emitter_falls_back_to_polling(workspace):
    verdicts = Verdicts()
    session = start_session(workspace, verdicts, polling_interval_s=0.2)
    try:
        time.sleep(0.5)  # the canary has arrived; the supervisor now checks the threads every second
        observer = session.watcher.observer
        for emitter in list(observer.emitters):
            emitter.stop()  # the inotify reader thread ends, as it does when its watch breaks
        deadline = time.monotonic() + 5
        while session.watcher.mode != POLLING and time.monotonic() < deadline:
            time.sleep(0.05)
        assert session.watcher.mode == POLLING
        time.sleep(0.5)
        write(workspace.root / LESSON_FILE, reference_bytes())
        found = verdicts.wait(1)
    finally:
        session.stop()
    assert "stopped unexpectedly" in verdicts.notices[0]
    assert [item.result.status for item in found] == ["pass"]
