"""Reading the journal back: per-lesson timelines, time on task, one attempt's record and diffs.

Timelines and times come from the index (see index.py), so nothing walks git history. Only an
attempt's full record, its files and diffs come from git. Nothing here prints.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from typing import Any

from ..errors import ZtfError
from ..progress import IDLE_GAP_S
from ..verdict import PASS
from ..workspace import Workspace
from .index import (
    IndexCorrupt,
    JournalIndex,
    last_commit_in,
    lesson_lines,
    parse_lines,
    read_complete,
    synchronise,
)
from .repo import JournalRepo
from .writer import index_path, journal_dir, writer_for

POINT_KINDS = ("activity", "hint", "reveal", "reflection")


@dataclass
class AttemptSummary:
    """One attempt as the index has it. `number` counts the lesson's attempts from 1."""

    number: int
    lesson: str
    commit: str
    started_at: float
    finished_at: float
    duration_s: float
    status: str
    passed: int
    total: int
    summary: str
    tier: str
    where: str
    trigger: str
    hints_shown: int
    first_failing: str | None


@dataclass
class HintShown:
    step: int
    at: float


@dataclass
class LessonJournal:
    """A lesson's timeline and totals. Times are seconds; `*_at` are Unix timestamps.

    `attempts` is empty in a summary (see summary.py), whose counts are still complete.
    """

    lesson: str
    title: str = ""
    phase: int = 0
    phase_title: str = ""
    attempts: list[AttemptSummary] = field(default_factory=list)
    attempt_count: int = 0
    failed_count: int = 0
    pass_count: int = 0
    first_pass_number: int | None = None
    first_activity_at: float | None = None
    first_attempt_at: float | None = None
    first_pass_at: float | None = None
    time_on_task_s: float = 0.0
    time_to_pass_s: float | None = None
    struggle_s: float = 0.0
    hints: list[HintShown] = field(default_factory=list)
    solution_revealed_at: float | None = None
    reflections: str = ""
    reflection_count: int = 0

    @property
    def first_pass(self) -> AttemptSummary | None:
        if self.first_pass_number is None or not self.attempts:
            return None
        return self.attempts[self.first_pass_number - 1]

    @property
    def passed(self) -> bool:
        return self.first_pass_number is not None

    def to_json(self, include_attempts: bool = True) -> dict[str, Any]:
        # Shallow copies: `asdict` deep-copies every attempt, which is slow for thousands of them.
        data = {name: getattr(self, name) for name in self.__dataclass_fields__}
        data["hints"] = [dict(vars(hint)) for hint in self.hints]
        if include_attempts:
            data["attempts"] = [dict(vars(attempt)) for attempt in self.attempts]
        else:
            data.pop("attempts")
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> LessonJournal:
        known = {key: data[key] for key in cls.__dataclass_fields__ if key in data}
        known["attempts"] = [AttemptSummary(**attempt) for attempt in known.get("attempts", [])]
        known["hints"] = [HintShown(**hint) for hint in known.get("hints", [])]
        return cls(**known)


@dataclass
class JournalOverview:
    """Every lesson that has anything recorded, in curriculum order where known."""

    lessons: list[LessonJournal]

    @property
    def total_attempts(self) -> int:
        return sum(lesson.attempt_count for lesson in self.lessons)

    @property
    def total_time_s(self) -> float:
        # NOTE: a sum of per-lesson times, so minutes spent on two lessons at once (saves in one
        # while another's check runs) count twice.
        return sum(lesson.time_on_task_s for lesson in self.lessons)

    def lesson(self, lesson_id: str) -> LessonJournal | None:
        return next((lesson for lesson in self.lessons if lesson.lesson == lesson_id), None)

    def to_json(self) -> dict[str, Any]:
        return {
            "total_attempts": self.total_attempts,
            "total_time_s": round(self.total_time_s, 3),
            "lessons": [lesson.to_json() for lesson in self.lessons],
        }


@dataclass
class AttemptDetail:
    """One attempt's full record from git and the files as checked (None marks a missing file)."""

    summary: AttemptSummary
    record: dict[str, Any]
    files: dict[str, bytes | None]


@dataclass
class AttemptDiff:
    """The change in a lesson's files between two attempts, as a unified diff."""

    old: AttemptSummary
    new: AttemptSummary
    text: str


def active_seconds(intervals: list[tuple[float, float]], start: float = -math.inf, end: float = math.inf) -> float:
    """Seconds of work in `intervals` clipped to [start, end]: gaps up to IDLE_GAP_S count, longer ones do not."""
    clipped = sorted((max(low, start), min(high, end)) for low, high in intervals if high >= start and low <= end)
    total = 0.0
    current: list[float] | None = None
    for low, high in clipped:
        if current is None:
            current = [low, high]
        elif low - current[1] <= IDLE_GAP_S:
            current[1] = max(current[1], high)
        else:
            total += current[1] - current[0]
            current = [low, high]
    if current is not None:
        total += current[1] - current[0]
    return total


def synced_index(workspace: Workspace, force: bool = False) -> tuple[bytes, os.stat_result | None]:
    """Return the index's complete lines and file status, after bringing the index in line with git.

    Jobs this process queued are written first, because the caller expects to see them. The
    index is synchronised under the journal lock when its last commit is not git's HEAD, or
    always when `force` is set (after a caller found a corrupt line).
    """
    writer = writer_for(workspace)
    writer.flush()
    path = index_path(workspace.tutor_dir)
    data, status = read_complete(path)
    repo = JournalRepo(journal_dir(workspace.tutor_dir))
    if force or last_commit_in(data) != (repo.head() if repo.exists() else None):
        with writer.lock.held():
            synchronise(repo, JournalIndex(path))
        data, status = read_complete(path)
    return data, status


def load_events(workspace: Workspace, lesson_id: str | None = None) -> list[dict[str, Any]]:
    """Return the journal's events (only the lesson's when given), oldest first."""
    data, _ = synced_index(workspace)
    for force in (False, True):
        if force:
            data, _ = synced_index(workspace, force=True)
        selected = lesson_lines(data, lesson_id) if lesson_id is not None else data
        try:
            events = parse_lines(selected)
        except IndexCorrupt:
            if force:
                raise
            continue
        if lesson_id is None:
            return events
        return [event for event in events if event.get("lesson") == lesson_id]
    return []


def build_lessons(events: list[dict[str, Any]], workspace: Workspace | None = None) -> JournalOverview:
    """Group events by lesson and compute each lesson's timeline and times."""
    grouped: dict[str, list[dict[str, Any]]] = {}
    for event in events:
        lesson_id = event.get("lesson")
        if isinstance(lesson_id, str) and isinstance(event.get("at"), (int, float)):
            grouped.setdefault(lesson_id, []).append(event)
    lessons = [_lesson_journal(lesson_id, members) for lesson_id, members in grouped.items()]
    attach_curriculum(lessons)
    if workspace is not None:
        for lesson in lessons:
            lesson.reflections = read_reflections(workspace, lesson.lesson)
    return JournalOverview(lessons)


def _lesson_journal(lesson_id: str, events: list[dict[str, Any]]) -> LessonJournal:
    events = sorted(events, key=lambda event: event["at"])
    journal = LessonJournal(lesson_id)
    intervals = []
    for event in events:
        kind = event.get("kind")
        if kind == "attempt":
            attempt = _attempt_summary(len(journal.attempts) + 1, event)
            journal.attempts.append(attempt)
            intervals.append((attempt.started_at, attempt.finished_at))
            continue
        if kind not in POINT_KINDS:
            continue
        intervals.append((event["at"], event["at"]))
        if kind == "hint":
            journal.hints.append(HintShown(int(event.get("step", 0)), event["at"]))
        elif kind == "reveal":
            journal.solution_revealed_at = journal.solution_revealed_at or event["at"]
        elif kind == "reflection":
            journal.reflection_count += 1

    if intervals:
        journal.first_activity_at = min(low for low, _ in intervals)
    journal.time_on_task_s = active_seconds(intervals)
    if journal.attempts:
        journal.first_attempt_at = journal.attempts[0].started_at
    journal.attempt_count = len(journal.attempts)
    journal.pass_count = sum(attempt.status == PASS for attempt in journal.attempts)
    journal.failed_count = journal.attempt_count - journal.pass_count

    first_pass = next((attempt for attempt in journal.attempts if attempt.status == PASS), None)
    if first_pass is not None:
        journal.first_pass_number = first_pass.number
    if first_pass is not None:
        journal.first_pass_at = first_pass.finished_at
        journal.time_to_pass_s = active_seconds(intervals, end=first_pass.finished_at)
    first_failure = next((attempt for attempt in journal.attempts if attempt.status != PASS), None)
    if first_failure is not None and (first_pass is None or first_failure.number < first_pass.number):
        end = first_pass.finished_at if first_pass is not None else math.inf
        journal.struggle_s = active_seconds(intervals, start=first_failure.started_at, end=end)
    return journal


def _attempt_summary(number: int, event: dict[str, Any]) -> AttemptSummary:
    started = float(event["at"])
    duration = float(event.get("duration_s") or 0.0)
    return AttemptSummary(
        number=number,
        lesson=event["lesson"],
        commit=str(event.get("commit", "")),
        started_at=started,
        finished_at=float(event.get("end") or started + duration),
        duration_s=duration,
        status=str(event.get("status", "")),
        passed=int(event.get("passed") or 0),
        total=int(event.get("total") or 0),
        summary=str(event.get("summary", "")),
        tier=str(event.get("tier", "")),
        where=str(event.get("where", "")),
        trigger=str(event.get("trigger", "")),
        hints_shown=int(event.get("hints_shown") or 0),
        first_failing=event.get("first_failing"),
    )


def attach_curriculum(lessons: list[LessonJournal]) -> None:
    """Fill in titles and phases, and sort lessons in curriculum order (unknown ones last)."""
    from ..curriculum import curriculum

    try:
        known = {lesson.id: lesson for lesson in curriculum().lessons}
    except ZtfError:
        known = {}
    for journal in lessons:
        lesson = known.get(journal.lesson)
        if lesson is not None:
            journal.title, journal.phase, journal.phase_title = lesson.title, lesson.phase, lesson.phase_title
    order = {lesson_id: position for position, lesson_id in enumerate(known)}
    lessons.sort(key=lambda journal: (order.get(journal.lesson, len(order)), _numeric_key(journal.lesson)))


def _numeric_key(lesson_id: str) -> tuple[tuple[int, int | str], ...]:
    """Sort "1.10" after "1.9"; parts that are not numbers sort after numbers, as text."""
    return tuple((0, int(part)) if part.isdigit() else (1, part) for part in lesson_id.split("."))


def read_reflections(workspace: Workspace, lesson_id: str) -> str:
    """Read the lesson's reflection file from the workspace, or else from the journal's last commit."""
    for path in (workspace.tutor_dir / "reflections" / f"{lesson_id}.md",
                 journal_dir(workspace.tutor_dir) / "lessons" / lesson_id / "reflections.md"):
        try:
            return path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            continue
    return ""


def journal_overview(workspace: Workspace) -> JournalOverview:
    """Build every lesson's timeline and times, with every attempt (see summary.py for totals only)."""
    return build_lessons(load_events(workspace), workspace)


def lesson_journal(workspace: Workspace, lesson_id: str) -> LessonJournal:
    """Build one lesson's timeline and times (empty when nothing is recorded yet)."""
    events = load_events(workspace, lesson_id)
    overview = build_lessons(events, workspace)
    return overview.lesson(lesson_id) or LessonJournal(lesson_id)


def find_attempt(journal: LessonJournal, reference: str) -> AttemptSummary:
    """Find an attempt by number (1 is the first, -1 the last) or by a commit sha prefix."""
    if not journal.attempts:
        raise ZtfError(f"lesson {journal.lesson} has no recorded attempts.", hint="Run `ztf check LESSON` first.")
    try:
        number = int(reference)
    except ValueError:
        matches = [attempt for attempt in journal.attempts if len(reference) >= 4 and attempt.commit.startswith(reference)]
        if len(matches) == 1:
            return matches[0]
        raise ZtfError(
            f'"{reference}" is neither an attempt number nor a commit of lesson {journal.lesson}.',
            hint=f"Give a number from 1 to {journal.attempt_count} (or -1 for the last), or a commit from `ztf journal {journal.lesson}`.",
        ) from None
    count = journal.attempt_count
    if 1 <= number <= count:
        return journal.attempts[number - 1]
    if -count <= number <= -1:
        return journal.attempts[number]
    raise ZtfError(f"lesson {journal.lesson} has no attempt {number}.", hint=f"Its attempts are numbered 1 to {count}.")


def attempt_detail(workspace: Workspace, lesson_id: str, reference: str) -> AttemptDetail:
    """Read an attempt's full record and files from its commit."""
    summary = find_attempt(lesson_journal(workspace, lesson_id), reference)
    repo = JournalRepo(journal_dir(workspace.tutor_dir))
    raw = repo.show(summary.commit, f"lessons/{lesson_id}/attempt.json")
    record = json.loads(raw) if raw else {}
    paths = [path for path, entry in record.get("files", {}).items() if not entry.get("missing")]
    specs = [f"{summary.commit}:lessons/{lesson_id}/files/{path}" for path in paths]
    blobs = repo.read_blobs(specs)
    files: dict[str, bytes | None] = {path: None for path in record.get("files", {})}
    for path, spec in zip(paths, specs, strict=True):
        files[path] = blobs[spec]
    return AttemptDetail(summary, record, files)


def default_diff_pair(journal: LessonJournal) -> tuple[AttemptSummary, AttemptSummary]:
    """Return the last failing attempt before the first pass, and that first pass."""
    first_pass = journal.first_pass
    if first_pass is None:
        raise ZtfError(
            f"lesson {journal.lesson} has no passing attempt yet, so there is no fix to show.",
            hint=f"Name two attempts: `ztf journal diff {journal.lesson} A B` (numbers 1 to {journal.attempt_count}).",
        )
    failing = [attempt for attempt in journal.attempts[: first_pass.number - 1] if attempt.status != PASS]
    if not failing:
        raise ZtfError(
            f"lesson {journal.lesson} passed on its first attempt, so there is no failing attempt to compare.",
            hint=f"Name two attempts: `ztf journal diff {journal.lesson} A B`.",
        )
    return failing[-1], first_pass


def diff_attempts(workspace: Workspace, lesson_id: str, old: str | None = None, new: str | None = None) -> AttemptDiff:
    """Diff the lesson's files between two attempts (default: last fail → first pass)."""
    journal = lesson_journal(workspace, lesson_id)
    if (old is None) != (new is None):
        raise ZtfError("give both attempts to compare, or neither.", hint=f"For example `ztf journal diff {lesson_id} 2 3`.")
    if old is None or new is None:
        before, after = default_diff_pair(journal)
    else:
        before, after = find_attempt(journal, old), find_attempt(journal, new)
    text = JournalRepo(journal_dir(workspace.tutor_dir)).diff(before.commit, after.commit, lesson_id)
    return AttemptDiff(before, after, text)
