"""The learner's journal: every attempt committed to a git repository in `<workspace>/.ztf/journal`.

Writing goes through `ztf_tutor.attempts` (record_attempt, record_activity, show_next_hint,
record_solution_reveal, save_reflection), which queue jobs for one background writer thread per
workspace (writer.py). Callers that start a check should call `snapshot_files(root, lesson)`
right before starting it, so the journal stores the bytes that were checked.

Headless API for the CLI and the TUI (each returns dataclasses from review.py and never prints;
each reads git or waits for queued writes, so call it from a worker thread in a UI):

  journal_summary(workspace) -> JournalOverview      every lesson's totals and times, no attempts (cached, fast)
  journal_overview(workspace) -> JournalOverview     every lesson with every attempt and times
  lesson_journal(workspace, lesson_id) -> LessonJournal   one lesson's timeline
  attempt_detail(workspace, lesson_id, "3") -> AttemptDetail   full record and files of attempt 3
  diff_attempts(workspace, lesson_id, old=None, new=None) -> AttemptDiff   default: last fail → first pass
  export_markdown(workspace, path) -> Path           the Markdown learning log
  plot_overview(overview, path) -> Path              the PNG charts (Agg, no display needed)
  flush_journal(workspace, timeout) -> bool          wait until queued writes are committed

Times are seconds of active work: events (saves, checks, hints, reflections) closer together than
`progress.IDLE_GAP_S` join into one stretch of work, and longer gaps count as breaks.
"""

from __future__ import annotations

from ..workspace import Workspace
from .export import export_markdown, format_duration, render_markdown
from .plot import plot_overview
from .records import Snapshot, snapshot_files
from .review import (
    AttemptDetail,
    AttemptDiff,
    AttemptSummary,
    HintShown,
    JournalOverview,
    LessonJournal,
    active_seconds,
    attempt_detail,
    diff_attempts,
    journal_overview,
    lesson_journal,
)
from .summary import journal_summary
from .writer import index_path, journal_dir, writer_for


def flush_journal(workspace: Workspace, timeout: float | None = None) -> bool:
    """Wait until every journal write this process queued for the workspace is done."""
    return writer_for(workspace).flush(timeout)


__all__ = [
    "AttemptDetail", "AttemptDiff", "AttemptSummary", "HintShown", "JournalOverview", "LessonJournal",
    "Snapshot", "active_seconds", "attempt_detail", "diff_attempts", "export_markdown", "flush_journal",
    "format_duration", "index_path", "journal_dir", "journal_overview", "journal_summary", "lesson_journal", "plot_overview",
    "render_markdown", "snapshot_files",
]
