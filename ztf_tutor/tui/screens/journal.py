"""The journal screen: each lesson's totals, a lesson's attempts, one attempt's criteria and diff,
the reflections and the charts, all read from the git-backed journal.

Every journal read runs in a thread worker, because it reads git or waits for queued writes. The
worker's result returns to the screen as a `Worker.StateChanged` message, and a loading indicator
covers the widget it will fill until then. A failed read shows its error on the message line.

The screen is modal, so the tutor's lesson keys (hint, solution, check) do not act behind it and
the footer lists only the journal's own keys.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widget import Widget
from textual.widgets import DataTable, Footer, Header, Markdown, Static, TabbedContent, TabPane
from textual.worker import Worker, WorkerState

from ...artifacts import open_in_viewer
from ...curriculum import Curriculum
from ...journal import (
    AttemptDetail,
    AttemptDiff,
    JournalOverview,
    LessonJournal,
    attempt_detail,
    diff_attempts,
    journal_overview,
    journal_summary,
    lesson_journal,
    plot_overview,
)
from ...workspace import Workspace
from ..widgets.journal_views import (
    ATTEMPT_COLUMNS,
    LESSON_COLUMNS,
    attempt_heading,
    attempt_row,
    criteria_table,
    default_attempt,
    diff_view,
    error_message,
    lesson_row,
    lesson_summary,
)

log = logging.getLogger(__name__)

GUIDE = "↑↓ picks a lesson or an attempt; Enter on an attempt shows its criteria and the code it changed."
EMPTY = "Nothing is recorded yet. Save a lesson file, or press r in the tutor, to run your first check."
NO_REFLECTIONS = "No reflections on this lesson yet. Press f in the tutor to write one."
CHART_NAME = "journal.png"
FOCUS_IN_TAB = {"timeline": "journal-attempts", "detail": "journal-detail", "reflections": "journal-reflections-scroll",
                "chart": "journal-chart-scroll"}

# The action of each journal read, as the error message names it when that read fails.
READS = {
    "summary": "read the journal",
    "lesson": "read the lesson's attempts",
    "attempt": "read the attempt",
    "chart": "write the charts",
}


class JournalScreen(ModalScreen[None]):
    """The journal, read-only: lessons, attempts, an attempt's criteria and diff, reflections and charts."""

    BINDINGS = [
        Binding("escape", "dismiss", "Back"),
        Binding("l", "focus_lessons", "Lessons"),
        Binding("a", "show_tab('timeline')", "Attempts"),
        Binding("d", "show_tab('detail')", "Detail"),
        Binding("f", "show_tab('reflections')", "Reflections"),
        Binding("c", "chart", "Chart"),
        Binding("o", "open_chart", "Open chart"),
        Binding("r", "reload", "Reload"),
        Binding("q", "app.quit", "Quit"),
        Binding("j", "dismiss", "Back", show=False),
    ]

    def __init__(self, workspace: Workspace, lessons: Curriculum) -> None:
        super().__init__()
        self.workspace = workspace
        self.lessons = lessons
        self.lesson_id: str | None = None
        self.journal: LessonJournal | None = None
        self.attempt_number: int | None = None
        self.chart_path: Path | None = None
        self.open_after_chart = False
        self.failed_read: str | None = None
        self.reads: dict[str, Worker[Any]] = {}
        self.pending: set[str] = set()
        self.loading_targets: dict[str, tuple[Widget, ...]] = {}

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(GUIDE, id="journal-message", markup=False)
        yield DataTable(id="journal-lessons", cursor_type="row", zebra_stripes=True)
        with TabbedContent(id="journal-tabs", initial="timeline"):
            with TabPane("Attempts", id="timeline"):
                yield Static("", id="journal-lesson-summary")
                yield DataTable(id="journal-attempts", cursor_type="row", zebra_stripes=True)
            with TabPane("Detail", id="detail"), VerticalScroll(id="journal-detail"):
                yield Static("Pick an attempt in the Attempts tab.", id="journal-attempt-heading")
                yield Static("", id="journal-criteria")
                yield Static("", id="journal-diff")
            with TabPane("Reflections", id="reflections"), VerticalScroll(id="journal-reflections-scroll"):
                yield Markdown("", id="journal-reflections")
            with TabPane("Chart", id="chart"), VerticalScroll(id="journal-chart-scroll"):
                yield Static("Press c to draw the charts.", id="journal-chart")
        yield Footer()

    def on_mount(self) -> None:
        """Set up both tables and start reading the lessons' totals."""
        self.query_one("#journal-lessons", DataTable).add_columns(*LESSON_COLUMNS)
        self.query_one("#journal-attempts", DataTable).add_columns(*ATTEMPT_COLUMNS)
        self.query_one("#journal-lessons", DataTable).focus()
        self.load_summary()

    # Reading in workers

    def read(self, name: str, work: Callable[[], Any], *targets: Widget) -> None:
        """Run `work` in a thread worker named `name`, replacing a running one, with `targets` shown as loading."""
        for widget in self.loading_targets.get(name, ()):
            widget.loading = False
        for widget in targets:
            widget.loading = True
        self.loading_targets[name] = targets
        self.pending.add(name)
        self.reads[name] = self.run_worker(work, name=name, group=f"journal-{name}", thread=True, exclusive=True,
                                             exit_on_error=False, description=READS[name])

    def is_reading(self, name: str) -> bool:
        """Return whether the read `name` has started and its result or error is not shown yet."""
        return name in self.pending

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """Show a finished read, or its error; results of replaced workers are dropped."""
        worker = event.worker
        name = worker.name
        if self.reads.get(name) is not worker or event.state not in (WorkerState.SUCCESS, WorkerState.ERROR):
            return
        self.pending.discard(name)
        for widget in self.loading_targets.pop(name, ()):
            widget.loading = False
        if event.state == WorkerState.ERROR:
            log.error("journal worker %s failed: %r", name, worker.error)
            self.failed_read = name
            self.show_message(error_message(worker.error or RuntimeError("unknown error"), READS[name]), error=True)
            return
        if self.failed_read == name:
            # The read that failed worked this time, so its error no longer applies.
            self.failed_read = None
            self.show_message(GUIDE)
        handler: Callable[[Any], None] = getattr(self, f"show_{name}")
        handler(worker.result)

    def show_message(self, text: str, *, error: bool = False) -> None:
        """Put `text` on the message line; an error is shown in the error colour."""
        line = self.query_one("#journal-message", Static)
        line.update(Text(text))
        line.set_class(error, "-error")

    # Lessons

    def load_summary(self) -> None:
        """Read every lesson's totals (cached by the journal, so fast at any size)."""
        workspace = self.workspace
        self.read("summary", lambda: journal_summary(workspace), self.query_one("#journal-lessons"))

    def show_summary(self, overview: JournalOverview) -> None:
        """Fill the lessons table and open the lesson on view in the tutor, or else the first one."""
        table = self.query_one("#journal-lessons", DataTable)
        table.clear()
        for journal in overview.lessons:
            table.add_row(*lesson_row(journal), key=journal.lesson)
        if not overview.lessons:
            self.show_message(EMPTY)
            self.query_one("#journal-lesson-summary", Static).update(EMPTY)
            return
        self.show_message(GUIDE)
        ids = [journal.lesson for journal in overview.lessons]
        current = getattr(self.app, "lesson", None)
        preferred = [self.lesson_id, current.id if current is not None else None]
        chosen = next((lesson_id for lesson_id in preferred if lesson_id in ids), ids[0])
        table.move_cursor(row=ids.index(chosen))
        self.load_lesson(chosen)

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        """Follow the cursor: a lesson row opens that lesson, an attempt row opens that attempt."""
        key = event.row_key.value
        # Filling a table queues highlights of rows the cursor has already left; only the last one counts.
        if key is None or event.cursor_row != event.data_table.cursor_row:
            return
        if event.data_table.id == "journal-lessons" and key != self.lesson_id:
            self.load_lesson(key)
        elif event.data_table.id == "journal-attempts" and self.journal is not None and int(key) != self.attempt_number:
            self.load_attempt(self.journal.lesson, int(key))

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        """Enter on a lesson shows its attempts; Enter on an attempt shows its detail."""
        if event.data_table.id == "journal-lessons":
            self.action_show_tab("timeline")
        elif event.data_table.id == "journal-attempts":
            self.action_show_tab("detail")

    # One lesson

    def load_lesson(self, lesson_id: str) -> None:
        """Read one lesson's timeline and reflections."""
        self.lesson_id = lesson_id
        workspace = self.workspace
        self.read("lesson", lambda: lesson_journal(workspace, lesson_id), self.query_one("#journal-attempts"),
                  self.query_one("#journal-reflections-scroll"))

    def show_lesson(self, journal: LessonJournal) -> None:
        """Fill the timeline and reflections, and open the attempt the detail starts on."""
        if journal.lesson != self.lesson_id:
            return
        same_lesson = self.journal is not None and self.journal.lesson == journal.lesson
        self.journal = journal
        self.query_one("#journal-lesson-summary", Static).update(lesson_summary(journal))
        table = self.query_one("#journal-attempts", DataTable)
        table.clear()
        for attempt in journal.attempts:
            table.add_row(*attempt_row(attempt), key=str(attempt.number))
        self.query_one("#journal-reflections", Markdown).update(journal.reflections.strip() or NO_REFLECTIONS)

        # A reload keeps the attempt on view; a newly opened lesson starts on its default one.
        on_view = self.attempt_number if same_lesson else None
        number = on_view if on_view is not None and on_view <= journal.attempt_count else default_attempt(journal)
        if number is None:
            self.attempt_number = None
            self.query_one("#journal-attempt-heading", Static).update(lesson_summary(journal))
            self.query_one("#journal-criteria", Static).update("")
            self.query_one("#journal-diff", Static).update("")
            return
        self.attempt_number = number
        table.move_cursor(row=number - 1)
        self.load_attempt(journal.lesson, number)

    # One attempt

    def load_attempt(self, lesson_id: str, number: int) -> None:
        """Read attempt `number`'s record and its diff against the attempt before it."""
        self.attempt_number = number
        workspace = self.workspace

        def read_attempt() -> tuple[AttemptDetail, AttemptDiff | None]:
            detail = attempt_detail(workspace, lesson_id, str(number))
            diff = diff_attempts(workspace, lesson_id, str(number - 1), str(number)) if number > 1 else None
            return detail, diff

        self.read("attempt", read_attempt, self.query_one("#journal-detail"))

    def show_attempt(self, loaded: tuple[AttemptDetail, AttemptDiff | None]) -> None:
        """Show the attempt's heading, criteria and diff."""
        detail, diff = loaded
        if detail.summary.lesson != self.lesson_id or detail.summary.number != self.attempt_number:
            return
        self.query_one("#journal-attempt-heading", Static).update(attempt_heading(detail.summary))
        self.query_one("#journal-criteria", Static).update(criteria_table(detail))
        dark = self.app.current_theme.dark
        self.query_one("#journal-diff", Static).update(diff_view(detail.summary.number, diff, dark=dark))

    # Charts

    def write_chart(self) -> None:
        """Draw the charts of every lesson into `.ztf/journal.png`, as `ztf journal plot` does."""
        workspace = self.workspace
        path = workspace.tutor_dir / CHART_NAME
        self.read("chart", lambda: plot_overview(journal_overview(workspace), path), self.query_one("#journal-chart"))

    def show_chart(self, path: Path) -> None:
        """Show where the charts are, and open them when o asked for that before they existed."""
        self.chart_path = path
        self.query_one("#journal-chart", Static).update(Text.assemble(
            ("Charts written", "bold"), " (active time per lesson, attempts and passes per day) to\n\n",
            (str(path), "bold"),
            "\n\nThe terminal cannot draw images here. Press o to open the file in your image viewer, "
            "or c to draw it again with the latest attempts.",
        ))
        if self.open_after_chart:
            self.open_after_chart = False
            self.action_open_chart()

    def on_tabbed_content_tab_activated(self, event: TabbedContent.TabActivated) -> None:
        """Draw the charts the first time their tab opens."""
        if event.pane.id == "chart" and self.chart_path is None and not self.is_reading("chart"):
            self.write_chart()

    # Actions

    def action_focus_lessons(self) -> None:
        """Move the cursor to the lessons table."""
        self.query_one("#journal-lessons", DataTable).focus()

    def action_show_tab(self, tab: str) -> None:
        """Open a tab and focus what it shows, so the arrow keys move or scroll it."""
        self.query_one(TabbedContent).active = tab
        self.query_one(f"#{FOCUS_IN_TAB[tab]}").focus()

    def action_chart(self) -> None:
        """Open the chart tab and draw the charts again."""
        self.action_show_tab("chart")
        if not self.is_reading("chart"):
            self.write_chart()

    def action_open_chart(self) -> None:
        """Open the charts in the system's image viewer, drawing them first when needed."""
        if self.chart_path is None or not self.chart_path.is_file():
            self.open_after_chart = True
            self.action_chart()
            return
        problem = open_in_viewer(self.chart_path)
        if problem is None:
            self.show_message(f"Opened {self.chart_path} in your image viewer.")
        else:
            self.show_message(f"Could not open an image viewer ({problem}). Open {self.chart_path} yourself.",
                              error=True)

    def action_reload(self) -> None:
        """Read everything again, for attempts recorded while the journal was open."""
        self.chart_path = None
        self.query_one("#journal-chart", Static).update("Press c to draw the charts.")
        self.load_summary()
