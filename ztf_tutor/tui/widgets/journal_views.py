"""Renderers for the journal screen: table rows, summaries, criteria and diffs built from the journal's dataclasses.

These are pure functions without Textual state, so the screen module deals only with loading and keys.
"""

from __future__ import annotations

import time
from typing import Any

from rich.console import Group, RenderableType
from rich.markup import escape
from rich.syntax import Syntax
from rich.table import Table
from rich.text import Text

from ...errors import ZtfError
from ...journal import AttemptDetail, AttemptDiff, AttemptSummary, LessonJournal, format_duration
from ...verdict import PASS
from .checkpoint_panel import MARK

LESSON_COLUMNS = ("lesson", "title", "attempts", "passes", "time on task", "time to pass", "struggle", "hints")
ATTEMPT_COLUMNS = ("#", "time", "verdict", "trigger", "duration", "first failing criterion")
STATUS_STYLE = {"pass": "green", "fail": "red", "error": "bold red", "skip": "yellow"}
TITLE_WIDTH = 40
ERROR_DETAIL_WIDTH = 200


def clock(stamp: float | None) -> str:
    """Format a Unix time as local "2026-01-05 10:00:03", or "–" when there is none."""
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(stamp)) if stamp else "–"


def hints_used(journal: LessonJournal) -> int:
    """Return the highest hint step shown, which is how many steps of the ladder the learner has seen."""
    return max((hint.step for hint in journal.hints), default=0)


def lesson_row(journal: LessonJournal) -> tuple[str, ...]:
    """Build one row of the lessons table, in LESSON_COLUMNS order."""
    title = journal.title if len(journal.title) <= TITLE_WIDTH else journal.title[: TITLE_WIDTH - 1] + "…"
    return (
        journal.lesson,
        title,
        str(journal.attempt_count),
        str(journal.pass_count),
        format_duration(journal.time_on_task_s),
        format_duration(journal.time_to_pass_s),
        format_duration(journal.struggle_s),
        str(hints_used(journal)),
    )


def verdict_text(status: str, summary: str) -> Text:
    """Colour an attempt's summary ("fail 6/7") by its status."""
    return Text(summary or status, style=STATUS_STYLE.get(status, ""))


def attempt_row(attempt: AttemptSummary) -> tuple[str | Text, ...]:
    """Build one row of the attempts timeline, in ATTEMPT_COLUMNS order."""
    trigger = f"{attempt.where} ({attempt.trigger})" if attempt.trigger else attempt.where
    return (
        str(attempt.number),
        clock(attempt.started_at),
        verdict_text(attempt.status, attempt.summary),
        trigger,
        f"{attempt.duration_s:.1f} s",
        attempt.first_failing or "",
    )


def lesson_summary(journal: LessonJournal) -> str:
    """Describe the lesson's totals in one or two sentences, as Textual markup."""
    title = f"[b]{escape(journal.lesson)} {escape(journal.title)}[/b]"
    if not journal.attempts:
        return f"{title}: no attempts recorded yet. Save a lesson file, or press r in the tutor, to run its check."
    counts = f"{journal.attempt_count} attempts ({journal.failed_count} failing), " \
             f"{format_duration(journal.time_on_task_s)} on task"
    if journal.first_pass is not None:
        outcome = (f"passed at attempt {journal.first_pass.number} after {format_duration(journal.time_to_pass_s)} "
                   f"of work, struggle time {format_duration(journal.struggle_s)}")
    else:
        outcome = f"not passed yet, struggle time so far {format_duration(journal.struggle_s)}"
    extras = []
    if journal.hints:
        extras.append(f"{hints_used(journal)} hint steps shown")
    if journal.solution_revealed_at:
        extras.append("reference solution shown")
    tail = f"; {', '.join(extras)}" if extras else ""
    return f"{title}: {counts}; {outcome}{tail}."


def default_attempt(journal: LessonJournal) -> int | None:
    """Return the attempt the detail opens on: the first pass when a failure came before it, else the last attempt.

    The first pass after a failure is the one `ztf journal diff` shows by default (last failing
    attempt against first passing one), because the attempt before a first pass never passed.
    """
    if not journal.attempts:
        return None
    first_pass = journal.first_pass
    if first_pass is not None and first_pass.number > 1:
        return first_pass.number
    return journal.attempts[-1].number


def attempt_heading(summary: AttemptSummary) -> str:
    """Build the detail's heading as Textual markup, e.g. "Attempt 3 of 1.2: pass 7/7 …"."""
    style = STATUS_STYLE.get(summary.status, "")
    verdict = f"[{style}]{escape(summary.summary or summary.status)}[/]" if style else escape(summary.summary)
    return (f"[b]Attempt {summary.number} of {escape(summary.lesson)}[/b]: {verdict}, {clock(summary.started_at)}, "
            f"{summary.tier} tier, {escape(summary.where)} ({escape(summary.trigger)}), {summary.duration_s:.1f} s")


def criteria_table(detail: AttemptDetail) -> RenderableType:
    """Tabulate the attempt's criteria: status, measured value and threshold, and the message of each failure."""
    criteria: list[dict[str, Any]] = detail.record.get("criteria") or []
    if not criteria:
        message = detail.record.get("message") or "The attempt recorded no criteria."
        return Text(str(message))
    table = Table(box=None, pad_edge=False, expand=True, show_edge=False)
    table.add_column("", no_wrap=True, width=1)
    table.add_column("criterion", ratio=3)
    table.add_column("measured", ratio=2)
    table.add_column("threshold", ratio=1)
    for criterion in criteria:
        status = str(criterion.get("status", ""))
        style = STATUS_STYLE.get(status, "")
        name = Text(str(criterion.get("name", "")))
        if status != PASS and criterion.get("message"):
            name.append(f"\n{criterion['message']}", style="dim")
        table.add_row(Text(MARK.get(status, "?"), style=style), name, str(criterion.get("measured") or "–"),
                      str(criterion.get("threshold") or "–"))
    return table


def diff_view(number: int, diff: AttemptDiff | None, *, dark: bool = True) -> RenderableType:
    """Highlight the code changes since the previous attempt as a unified diff, under a heading."""
    if diff is None:
        return Text(f"Attempt {number} is the first, so there is no earlier code to compare.", style="dim")
    heading = Text.assemble(
        ("Code changes", "bold"),
        f" from attempt {diff.old.number} (",
        verdict_text(diff.old.status, diff.old.summary),
        f") to attempt {diff.new.number} (",
        verdict_text(diff.new.status, diff.new.summary),
        "):",
    )
    if not diff.text.strip():
        return Group(heading, Text("The files are the same in both attempts.", style="dim"))
    # The ANSI themes colour tokens from the terminal's palette and keep its background.
    theme = "ansi_dark" if dark else "ansi_light"
    syntax = Syntax(diff.text.rstrip("\n"), "diff", theme=theme, background_color="default", word_wrap=True)
    return Group(heading, syntax)


def error_message(error: BaseException, action: str) -> str:
    """Describe a failed journal read and the next step in one line, for the screen's message line."""
    if isinstance(error, ZtfError):
        return f"Could not {action}: {error.message}" + (f" {error.hint}" if error.hint else "")
    # GitPython's GitCommandError keeps git's message in `stderr`, wrapped as "stderr: '…'", and its str()
    # starts with the command line, so the stderr text is the useful part.
    detail = " ".join(str(getattr(error, "stderr", "") or error).split())
    if detail.startswith("stderr: '") and detail.endswith("'"):
        detail = detail[len("stderr: '"):-1]
    if len(detail) > ERROR_DETAIL_WIDTH:
        detail = detail[: ERROR_DETAIL_WIDTH - 1] + "…"
    return (f"Could not {action} ({type(error).__name__}: {detail}). "
            "Press r to try again; `ztf journal` in a shell reads the same journal.")
