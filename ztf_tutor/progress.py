"""Per-workspace progress: attempts, last verdicts and hints shown, in `.ztf/progress.json`.

This is the small, fast state that `ztf lessons`, `ztf status` and `ztf hint` read. Every
read-modify-write holds an flock, so two tutor processes on one workspace never lose an update.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass

from .curriculum import Lesson
from .verdict import PASS, CheckResult
from .workspace import Workspace, write_json_atomic

log = logging.getLogger(__name__)

NOT_STARTED, IN_PROGRESS, FAILING, PASSED = "not started", "in progress", "failing", "passed"
# A gap between two activities (a save, a check) longer than this is a break, not work.
IDLE_GAP_S = 5 * 60


@dataclass
class LessonProgress:
    attempts: int = 0
    failed_attempts: int = 0
    last_status: str | None = None
    first_attempt_at: float | None = None
    passed_at: float | None = None
    hints_shown: int = 0
    solution_revealed_at: float | None = None
    active_seconds: float = 0.0
    last_activity_at: float | None = None


class Progress:
    """Reads and updates `.ztf/progress.json` of one workspace."""

    def __init__(self, workspace: Workspace) -> None:
        self.workspace = workspace
        self.path = workspace.tutor_dir / "progress.json"
        self.lock_path = workspace.tutor_dir / "progress.lock"

    @contextlib.contextmanager
    def _locked(self) -> Iterator[dict[str, dict]]:
        self.lock_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.lock_path, "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            data = self._read()
            yield data
            write_json_atomic(self.path, data)

    def _read(self) -> dict[str, dict]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as error:
            # The file only caches what the journal also records; start afresh rather than fail.
            log.warning("%s is corrupt (%s); starting it afresh", self.path, error)
            return {}
        return data if isinstance(data, dict) else {}

    def get(self, lesson_id: str) -> LessonProgress:
        raw = self._read().get(lesson_id, {})
        known = {key: raw[key] for key in LessonProgress.__dataclass_fields__ if key in raw}
        return LessonProgress(**known)

    def record(self, result: CheckResult) -> LessonProgress:
        with self._locked() as data:
            entry = LessonProgress(**data.get(result.lesson, {}))
            entry.attempts += 1
            entry.first_attempt_at = entry.first_attempt_at or result.started_at or time.time()
            entry.last_status = result.status
            if result.status == PASS:
                entry.passed_at = entry.passed_at or time.time()
            else:
                entry.failed_attempts += 1
            data[result.lesson] = asdict(entry)
            return entry

    def update(self, lesson_id: str, change) -> LessonProgress:
        """Apply `change(entry)` to a lesson's entry under the lock and save it."""
        with self._locked() as data:
            entry = LessonProgress(**data.get(lesson_id, {}))
            change(entry)
            data[lesson_id] = asdict(entry)
            return entry

    def touch(self, lesson_id: str, now: float | None = None) -> LessonProgress:
        """Count the time since the last activity on the lesson as work, unless it was an idle gap."""
        now = now or time.time()

        def change(entry: LessonProgress) -> None:
            if entry.last_activity_at is not None and 0 < now - entry.last_activity_at <= IDLE_GAP_S:
                entry.active_seconds += now - entry.last_activity_at
            entry.last_activity_at = now

        return self.update(lesson_id, change)

    def next_hint(self, lesson: Lesson) -> tuple[int, str]:
        """Show one more step of the hint ladder; returns (step number from 1, text)."""
        with self._locked() as data:
            entry = LessonProgress(**data.get(lesson.id, {}))
            step = min(entry.hints_shown + 1, len(lesson.hints))
            entry.hints_shown = step
            data[lesson.id] = asdict(entry)
        return step, lesson.hints[step - 1]

    def state(self, lesson: Lesson) -> str:
        entry = self.get(lesson.id)
        if entry.last_status == PASS:
            return PASSED
        if entry.last_status is not None:
            return FAILING
        if any(not self._untouched(relative) for relative in lesson.files):
            return IN_PROGRESS
        return NOT_STARTED

    def _untouched(self, relative: str) -> bool:
        try:
            return self.workspace.is_untouched(relative)
        except Exception:  # an unreadable manifest means we cannot tell; call it touched
            return False
