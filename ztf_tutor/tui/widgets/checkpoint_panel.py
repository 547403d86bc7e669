"""The checkpoint panel: each criterion's live status, measured value, threshold and message."""

from __future__ import annotations

import time
from typing import Any

from rich.markup import escape
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.reactive import reactive
from textual.widgets import ProgressBar, Static

from ...curriculum import Lesson
from ...verdict import CheckResult, CriterionResult
from ..format import duration

MARK = {"pass": "✓", "fail": "✗", "error": "!", "skip": "–", "running": "…", "pending": "○"}
STATE_CLASSES = ("-passed", "-failed", "-running", "-pending", "-skipped")
CLASS_FOR = {"pass": "-passed", "fail": "-failed", "error": "-failed", "skip": "-skipped", "running": "-running",
             "pending": "-pending"}


class CriterionRow(Static):
    """One criterion: mark, name, measured against threshold, and the message when it did not pass."""

    def show(self, name: str, status: str, result: CriterionResult | None = None) -> None:
        """Render the row for a status; `result` carries the measured value and the message."""
        self.remove_class(*STATE_CLASSES)
        self.add_class(CLASS_FOR[status])
        text = f"{MARK[status]} {escape(name)}"
        if result is not None and (result.measured or result.threshold):
            text += f"\n   measured {escape(result.measured or '–')}  ·  threshold {escape(result.threshold or '–')}"
        if result is not None and result.status != "pass" and result.message:
            text += f"\n   {escape(result.message)}"
        self.update(text)


class CheckpointPanel(Vertical):
    """Criteria of the lesson on view, the run state and the time spent on the lesson."""

    elapsed: reactive[float] = reactive(0.0)

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.lesson: Lesson | None = None
        self.names: list[str] = []
        self.result: CheckResult | None = None
        self.running_since: float | None = None
        self.rows: dict[str, CriterionRow] = {}

    def compose(self) -> ComposeResult:
        with Horizontal(id="check-status-line"):
            yield Static("", id="check-status")
            yield Static("", id="lesson-time")
        yield ProgressBar(total=1.0, show_eta=False, id="check-progress")
        yield VerticalScroll(id="criteria")
        yield Static("", id="check-message")

    def on_mount(self) -> None:
        """Tick the elapsed time while a check runs."""
        self.query_one("#check-progress", ProgressBar).display = False
        self.set_interval(0.2, self._tick)

    def show_lesson(self, lesson: Lesson, last: CheckResult | None = None, last_status: str | None = None) -> None:
        """Reset the panel for a lesson, showing its last verdict, or the last recorded status from an earlier session."""
        self.lesson = lesson
        self.names = lesson.criteria_names()
        self.result = None
        self.running_since = None
        container = self.query_one("#criteria", VerticalScroll)
        container.remove_children()
        # Rows are found through this list, not by id, because the removal above completes asynchronously.
        self.rows = {name: CriterionRow(classes="criterion") for name in self.names}
        container.mount_all(list(self.rows.values()))
        self._render_rows()
        if last_status is None:
            self._set_status("Not checked yet. Save a file of this lesson, or press r.", "-pending")
        else:
            state = "-passed" if last_status == "pass" else "-failed"
            self._set_status(f"Last check: {last_status}, in an earlier session. Save or press r to rerun.", state)
        self.query_one("#check-message", Static).update("")
        self.query_one("#check-progress", ProgressBar).display = False
        if last is not None:
            self.finish(last)

    def set_time_on_lesson(self, seconds: float) -> None:
        """Show how long the learner has worked on the lesson."""
        self.query_one("#lesson-time", Static).update(f"time on lesson {duration(seconds)}")

    def begin(self) -> None:
        """Mark every criterion pending and start the running indicator."""
        self.running_since = time.monotonic()
        self.result = None
        self.remove_class("-passed", "-failed")
        self.add_class("-running")
        bar = self.query_one("#check-progress", ProgressBar)
        bar.update(progress=0.0)
        bar.display = False
        self.query_one("#check-message", Static).update("")
        self._render_rows(pending="pending")
        self._tick()

    def event(self, event: dict[str, Any]) -> None:
        """Apply one streamed event: a criterion starting or finishing, or progress."""
        kind = event.get("event")
        if kind == "start" and event.get("name") in self.names:
            self._row(event["name"]).show(event["name"], "running")
        elif kind == "criterion":
            result = CriterionResult.from_json(event["result"])
            if result.name in self.names:
                self._row(result.name).show(result.name, result.status, result)
        elif kind == "progress":
            bar = self.query_one("#check-progress", ProgressBar)
            bar.display = True
            bar.update(progress=float(event.get("fraction", 0.0)))

    def finish(self, result: CheckResult) -> None:
        """Show a verdict and stop the running indicator."""
        self.running_since = None
        self.result = result
        self.remove_class("-running", "-passed", "-failed")
        self.add_class("-passed" if result.passed else "-failed")
        self.query_one("#check-progress", ProgressBar).display = False
        self._render_rows()
        counts = result.counts()
        verdict = f"{result.status.upper()}  {counts['pass']}/{len(result.criteria)} criteria passed in {result.duration_s:.1f} s"
        self._set_status(verdict, "-passed" if result.passed else "-failed")
        message = escape(result.message) if result.message else ""
        if result.output_bytes:
            message += ("\n" if message else "") + f"Your code printed {result.output_bytes:,} bytes; press o to see them."
        self.query_one("#check-message", Static).update(message)

    def stop_running(self) -> None:
        """Leave the running state without a verdict (the run was superseded)."""
        self.running_since = None
        self.remove_class("-running")

    def _render_rows(self, pending: str = "pending") -> None:
        results = {item.name: item for item in self.result.criteria} if self.result else {}
        for name in self.names:
            result = results.get(name)
            self.rows[name].show(name, result.status if result else pending, result)

    def _row(self, name: str) -> CriterionRow:
        return self.rows[name]

    def _set_status(self, text: str, state: str) -> None:
        status = self.query_one("#check-status", Static)
        status.remove_class(*STATE_CLASSES)
        status.add_class(state)
        status.update(text)

    def _tick(self) -> None:
        if self.running_since is not None:
            self.elapsed = time.monotonic() - self.running_since
            self._set_status(f"Running the fast tier… {self.elapsed:.1f} s", "-running")
