"""The seam where the CLI, the watcher, the TUI and remote runs report what the learner did.

Every caller goes through these functions, so that progress and the journal see the same events.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

from .curriculum import Lesson
from .progress import LessonProgress, Progress
from .verdict import CheckResult
from .workspace import Workspace

log = logging.getLogger(__name__)


def record_attempt(workspace: Workspace, lesson: Lesson, result: CheckResult, *, trigger: str = "manual") -> LessonProgress:
    """Record a verdict. `trigger` is "save", "manual" or "remote"."""
    progress = Progress(workspace)
    progress.touch(lesson.id)
    entry = progress.record(result)
    log.debug("recorded %s %s (%s)", lesson.id, result.summary(), trigger)
    return entry


def record_activity(workspace: Workspace, lesson: Lesson) -> LessonProgress:
    """Note that the learner worked on the lesson now (a save); feeds time on task."""
    return Progress(workspace).touch(lesson.id)


def show_next_hint(workspace: Workspace, lesson: Lesson) -> tuple[int, str]:
    """Reveal and record the next step of the hint ladder: (step from 1, text)."""
    return Progress(workspace).next_hint(lesson)


def record_solution_reveal(workspace: Workspace, lesson: Lesson) -> None:
    def change(entry: LessonProgress) -> None:
        entry.solution_revealed_at = entry.solution_revealed_at or time.time()

    Progress(workspace).update(lesson.id, change)


def reflection_path(workspace: Workspace, lesson: Lesson) -> Path:
    return workspace.tutor_dir / "reflections" / f"{lesson.id}.md"


def save_reflection(workspace: Workspace, lesson: Lesson, text: str) -> Path:
    """Append a dated reflection to the lesson's reflection file and return its path."""
    path = reflection_path(workspace, lesson)
    path.parent.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y-%m-%d %H:%M")
    with path.open("a", encoding="utf-8") as handle:
        if handle.tell() == 0:
            handle.write(f"# Reflections on {lesson.id} {lesson.title}\n")
        handle.write(f"\n## {stamp}\n\n{text.strip()}\n")
    return path
