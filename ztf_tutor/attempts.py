"""The seam where the CLI, the watcher, the TUI and remote runs report what the learner did.

Every caller goes through these functions, so that progress and the journal see the same events.
Progress (`.ztf/progress.json`) is updated at once; the journal is written by a background
thread (see `ztf_tutor.journal`), so none of these functions waits for git. Both count time on
task from the same events with the same idle-gap rule: the journal is the record that
`ztf journal` reviews, and progress is the fast copy that the tutor and the solution lock read.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

from .curriculum import Lesson
from .journal.records import Snapshot, attempt_record, commit_subject, lesson_slug, snapshot_for
from .journal.writer import AttemptJob, EventJob, ReflectionJob, writer_for
from .progress import LessonProgress, Progress
from .verdict import CheckResult
from .workspace import Workspace

log = logging.getLogger(__name__)


def record_attempt(
    workspace: Workspace,
    lesson: Lesson,
    result: CheckResult,
    *,
    trigger: str = "manual",
    snapshot: Snapshot | None = None,
) -> LessonProgress:
    """Record a verdict in progress and the journal. `trigger` is "save", "manual" or "remote".

    `snapshot` is the lesson's files as read before the check started; without it the snapshot
    kept by `journal.snapshot_files` is used, and failing that the files are read now.
    """
    progress = Progress(workspace)
    progress.touch(lesson.id)
    entry = progress.record(result)
    if snapshot is not None:
        kind = "before-run" if not result.source_mtimes or snapshot.matches(result.source_mtimes) else "after-run"
    else:
        snapshot, kind = snapshot_for(workspace.root, lesson, result)
    record = attempt_record(
        lesson, result, snapshot, kind,
        trigger=trigger,
        hints_shown=entry.hints_shown,
        solution_revealed=entry.solution_revealed_at is not None,
    )
    gpu_tier = bool(lesson.tiers.get(result.tier) and lesson.tiers[result.tier].gpu)
    writer_for(workspace).submit(AttemptJob(record, dict(snapshot.files), commit_subject(lesson, result), gpu_tier))
    log.debug("recorded %s %s (%s)", lesson.id, result.summary(), trigger)
    return entry


def _journal_event(workspace: Workspace, lesson: Lesson, kind: str, **fields: object) -> None:
    writer_for(workspace).submit(EventJob({"kind": kind, "lesson": lesson.id, "at": time.time(), **fields}))


def record_activity(workspace: Workspace, lesson: Lesson) -> LessonProgress:
    """Note that the learner worked on the lesson now (a save); feeds time on task."""
    _journal_event(workspace, lesson, "activity")
    return Progress(workspace).touch(lesson.id)


def show_next_hint(workspace: Workspace, lesson: Lesson) -> tuple[int, str]:
    """Reveal and record the next step of the hint ladder: (step from 1, text)."""
    progress = Progress(workspace)
    progress.touch(lesson.id)
    step, text = progress.next_hint(lesson)
    _journal_event(workspace, lesson, "hint", step=step)
    return step, text


def record_solution_reveal(workspace: Workspace, lesson: Lesson) -> None:
    """Note that the reference solution was shown."""
    def change(entry: LessonProgress) -> None:
        entry.solution_revealed_at = entry.solution_revealed_at or time.time()

    Progress(workspace).update(lesson.id, change)
    _journal_event(workspace, lesson, "reveal")


def reflection_path(workspace: Workspace, lesson: Lesson) -> Path:
    return workspace.tutor_dir / "reflections" / f"{lesson.id}.md"


def save_reflection(workspace: Workspace, lesson: Lesson, text: str) -> Path:
    """Append a dated reflection to the lesson's reflection file, commit it to the journal, return its path."""
    path = reflection_path(workspace, lesson)
    path.parent.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y-%m-%d %H:%M")
    with path.open("a", encoding="utf-8") as handle:
        if handle.tell() == 0:
            handle.write(f"# Reflections on {lesson.id} {lesson.title}\n")
        handle.write(f"\n## {stamp}\n\n{text.strip()}\n")
    Progress(workspace).touch(lesson.id)
    subject = f"{lesson.id} {lesson_slug(lesson)}: reflection"
    writer_for(workspace).submit(ReflectionJob(lesson.id, path.read_bytes(), subject, time.time()))
    return path
