"""Per-lesson totals of the journal, cached so that `ztf journal` stays fast at any size.

`<workspace>/.ztf/journal-summary.json` stores each lesson's `LessonJournal` without its
attempts, together with the index file's inode, length and modification time it was computed
from. The index only grows by appended lines, so a reader parses just the lines added since,
and recomputes only the lessons those lines mention, each from its own lines (found by a byte
search, see `index.lesson_lines`). Any other change to the index (a rebuild, a truncation)
recomputes every lesson. Deleting the cache is safe, because the next reader recomputes it from the index.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

from ..workspace import Workspace, write_json_atomic
from .index import IndexCorrupt, lesson_lines, parse_lines
from .review import (
    JournalOverview,
    LessonJournal,
    attach_curriculum,
    build_lessons,
    read_reflections,
    synced_index,
)

log = logging.getLogger(__name__)

CACHE_FORMAT = 1


def summary_path(workspace: Workspace) -> Path:
    return workspace.tutor_dir / "journal-summary.json"


def _read_cache(path: Path) -> dict[str, Any] | None:
    try:
        cache = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as error:
        log.warning("ignoring the unreadable journal summary %s (%s)", path, error)
        return None
    if not isinstance(cache, dict) or cache.get("format") != CACHE_FORMAT or not isinstance(cache.get("lessons"), dict):
        return None
    return cache


def _recompute(data: bytes, lesson_ids: set[str] | None) -> dict[str, dict[str, Any]]:
    """Compute the totals of the given lessons (every lesson when None) from the index bytes."""
    if lesson_ids is None:
        lessons = build_lessons(parse_lines(data)).lessons
    else:
        lessons = []
        for lesson_id in lesson_ids:
            events = [event for event in parse_lines(lesson_lines(data, lesson_id)) if event.get("lesson") == lesson_id]
            lessons += build_lessons(events).lessons
    totals = {}
    for lesson in lessons:
        entry = lesson.to_json(include_attempts=False)
        entry.pop("reflections")  # read fresh from the files each time
        totals[lesson.lesson] = entry
    return totals


def _updated_totals(data: bytes, status: os.stat_result | None, cache: dict[str, Any] | None) -> dict[str, dict[str, Any]]:
    if cache is None or status is None:
        return _recompute(data, None)
    offset = cache.get("offset", -1)
    same_file = cache.get("inode") == status.st_ino and 0 <= offset <= len(data)
    if same_file and offset == len(data) and cache.get("mtime_ns") == status.st_mtime_ns:
        return cache["lessons"]
    # Same length but a newer file means an edit in place, which appending never does.
    if not same_file or offset == len(data):
        return _recompute(data, None)
    touched = {event.get("lesson") for event in parse_lines(data[offset:])}
    totals = dict(cache["lessons"])
    totals.update(_recompute(data, {lesson for lesson in touched if isinstance(lesson, str)}))
    return totals


def journal_summary(workspace: Workspace) -> JournalOverview:
    """Return every lesson's totals and times, without the attempts, from the cache where it is current."""
    path = summary_path(workspace)
    cache = _read_cache(path)
    for force in (False, True):
        data, status = synced_index(workspace, force=force)
        try:
            totals = _updated_totals(data, status, cache)
            break
        except IndexCorrupt:
            if force:
                raise
            cache = None
    if status is not None:
        new_cache = {"format": CACHE_FORMAT, "inode": status.st_ino, "offset": len(data),
                     "mtime_ns": status.st_mtime_ns, "lessons": totals}
        try:
            write_json_atomic(path, new_cache)
        except OSError as error:
            log.warning("cannot write the journal summary %s (%s)", path, error)
    lessons = [LessonJournal.from_json(entry) for entry in totals.values()]
    attach_curriculum(lessons)
    for lesson in lessons:
        lesson.reflections = read_reflections(workspace, lesson.lesson)
    return JournalOverview(lessons)
