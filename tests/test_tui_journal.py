"""The journal screen driven by Pilot on workspaces whose git journal contains recorded attempts of lesson 1.2.

Most tests share one workspace with three real checks (the stub, the `=` instead of `+=` bug,
the reference) and a reflection. The snapshot and the error test record verdicts with fixed
times instead, because their screens must not depend on the clock or on the speed of a check.
"""

from __future__ import annotations

import io
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from rich.console import Console
from textual.widgets import DataTable, Markdown, Static, TabbedContent
from tui_support import SIZE, make_app, run_async, wait_until

from ztf_tutor.attempts import record_attempt, save_reflection
from ztf_tutor.curriculum import curriculum
from ztf_tutor.journal import flush_journal, journal_dir
from ztf_tutor.runner import run_check
from ztf_tutor.tui.dialogs.hint import HintDialog
from ztf_tutor.tui.screens.journal import EMPTY, JournalScreen
from ztf_tutor.tui.screens.main import MainScreen
from ztf_tutor.verdict import CheckResult, CriterionResult
from ztf_tutor.verify import apply_variant, load_variants
from ztf_tutor.workspace import Workspace, init_workspace

LESSON = "1.2"
MICROGRAD = "phase1/micrograd.py"
BUG = "gradient-assigned-not-accumulated"
FIX_LINE = "+            self.grad += out.grad"
BUG_LINE = "-            self.grad = out.grad"
REFLECTION = "A node used twice needs += in its backward, not =."
READS = ("summary", "lesson", "attempt", "chart")
# 2026-01-05 10:00:00 UTC, the start of the first fixed-time attempt.
FIXED_START = 1767607200.0
FIXED_ROOT = Path(tempfile.gettempdir()) / "ztf-journal-snapshot-workspace"


def write_buggy(workspace: Workspace) -> None:
    """Write the reference with the `=` instead of `+=` bug from the lesson's variants."""
    lesson = curriculum().lesson(LESSON)
    variant = next(variant for variant in load_variants(lesson) if variant.name == BUG)
    assert apply_variant(lesson, variant, workspace.root) is None


def write_reference(workspace: Workspace) -> None:
    lesson = curriculum().lesson(LESSON)
    for relative in lesson.files:
        (workspace.root / relative).write_bytes((lesson.reference_dir / relative).read_bytes())


@pytest.fixture(scope="module")
def checked_workspace(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    """A workspace with three real checks of 1.2 (fail, fail, pass) and one reflection, all committed."""
    home = tmp_path_factory.mktemp("journal-home")
    with pytest.MonkeyPatch.context() as patch:
        for variable, name in (("ZTF_CONFIG_DIR", "config"), ("ZTF_STATE_DIR", "state"), ("ZTF_DATA_DIR", "data")):
            patch.setenv(variable, str(home / name))
        workspace, _ = init_workspace(home / "ws", remember=False)
        lesson = curriculum().lesson(LESSON)
        statuses = []
        for prepare, trigger in ((None, "manual"), (write_buggy, "save"), (write_reference, "save")):
            if prepare is not None:
                prepare(workspace)
            result = run_check(workspace.root, lesson)
            statuses.append(result.status)
            record_attempt(workspace, lesson, result, trigger=trigger)
        assert statuses == ["fail", "fail", "pass"]
        save_reflection(workspace, lesson, REFLECTION)
        assert flush_journal(workspace, timeout=60)
    return workspace


def fixed_result(status: str, failing: list[int], started_at: float) -> CheckResult:
    """A 1.2 verdict with fixed measured values and times; criteria at the `failing` positions fail."""
    names = curriculum().lesson(LESSON).criteria_names()
    criteria = []
    for position, name in enumerate(names):
        if position in failing:
            criteria.append(CriterionResult(name, "fail", measured="a.grad = 3.0", threshold="6.0",
                                            message="a.grad is 3.0 but should be 6.0: use += in every _backward."))
        else:
            criteria.append(CriterionResult(name, "pass", measured="max |error| = 2.2e-16", threshold="≤ 1.0e-06"))
    return CheckResult(LESSON, "fast", status, 2.5, criteria=criteria, started_at=started_at)


def record_fixed_attempts(workspace: Workspace) -> None:
    """Record the stub, the bug and the reference with verdicts at fixed times, 40 s apart."""
    lesson = curriculum().lesson(LESSON)
    steps = ((None, "fail", list(range(7)), "manual"), (write_buggy, "fail", [3], "save"),
             (write_reference, "pass", [], "save"))
    for index, (prepare, status, failing, trigger) in enumerate(steps):
        if prepare is not None:
            prepare(workspace)
        record_attempt(workspace, lesson, fixed_result(status, failing, FIXED_START + 40 * index), trigger=trigger)
    assert flush_journal(workspace, timeout=60)


@pytest.fixture
def utc() -> Iterator[None]:
    """Show local times as UTC, so the fixed times read the same on every machine."""
    saved = os.environ.get("TZ")
    os.environ["TZ"] = "UTC"
    time.tzset()
    yield
    if saved is None:
        os.environ.pop("TZ", None)
    else:
        os.environ["TZ"] = saved
    time.tzset()


def shown_text(widget: Static) -> str:
    """The text a Static shows, rendered by rich at a fixed width."""
    console = Console(width=200, file=io.StringIO(), record=True, color_system=None)
    console.print(widget.content)
    return console.export_text()


def cells(table: DataTable, key: str) -> list[str]:
    return [str(cell) for cell in table.get_row(key)]


def journal_idle(screen: JournalScreen) -> bool:
    """True once the screen has no journal read left running."""
    return not any(screen.is_reading(name) for name in READS)


async def open_journal(pilot) -> JournalScreen:
    """Press j and wait until the lessons, the lesson and its default attempt are shown."""
    await pilot.pause()
    await pilot.press("j")
    screen = pilot.app.screen
    assert isinstance(screen, JournalScreen)
    assert await wait_until(pilot, lambda: screen.reads.get("summary") is not None and journal_idle(screen))
    return screen


@pytest.mark.slow
@run_async
async def test_lessons_table_counts(checked_workspace):
    app = make_app(checked_workspace)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_journal(pilot)
        lessons = screen.query_one("#journal-lessons", DataTable)
        assert lessons.row_count == 1
        row = cells(lessons, LESSON)
        assert row[0] == LESSON
        assert row[1].startswith("Micrograd")
        assert row[2] == "3"
        assert row[3] == "1"
        # Time on task, time to pass and struggle time: three real checks take seconds, so each reads "N s".
        for value in row[4:7]:
            assert value.endswith(" s")
            assert value != "0 s"
        assert row[7] == "0"


@pytest.mark.slow
@run_async
async def test_timeline_lists_attempts(checked_workspace):
    app = make_app(checked_workspace)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_journal(pilot)
        attempts = screen.query_one("#journal-attempts", DataTable)
        assert attempts.row_count == 3
        rows = [cells(attempts, str(number)) for number in (1, 2, 3)]
        assert [row[0] for row in rows] == ["1", "2", "3"]
        assert [row[2].split()[0] for row in rows] == ["fail", "fail", "pass"]
        assert rows[2][2] == "pass 7/7"
        assert [row[3] for row in rows] == ["local (manual)", "local (save)", "local (save)"]
        for row in rows:
            assert time.strptime(row[1], "%Y-%m-%d %H:%M:%S")
            assert row[4].endswith(" s")
        assert rows[1][5].startswith("A node used twice accumulates its gradient")
        assert rows[2][5] == ""
        # The cursor starts on the first pass, the attempt `ztf journal diff` shows by default.
        assert attempts.cursor_row == 2
        summary = shown_text(screen.query_one("#journal-lesson-summary", Static))
        assert "3 attempts (2 failing)" in summary
        assert "passed at attempt 3" in summary


@pytest.mark.slow
@run_async
async def test_detail_shows_fix(checked_workspace):
    app = make_app(checked_workspace)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_journal(pilot)
        await pilot.press("d")
        assert screen.query_one(TabbedContent).active == "detail"
        heading = shown_text(screen.query_one("#journal-attempt-heading", Static))
        assert heading.startswith("Attempt 3 of 1.2: pass 7/7")
        criteria = shown_text(screen.query_one("#journal-criteria", Static))
        assert criteria.count("✓") == 7
        assert "out.grad = 1.0" in criteria
        diff = screen.query_one("#journal-diff", Static)
        text = shown_text(diff)
        assert "from attempt 2 (fail 5/7) to attempt 3 (pass 7/7)" in text
        assert FIX_LINE in text
        assert BUG_LINE in text
        syntax = diff.content.renderables[1]
        assert syntax.lexer.name == "Diff"


@pytest.mark.slow
@run_async
async def test_detail_follows_timeline(checked_workspace):
    app = make_app(checked_workspace)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_journal(pilot)
        await pilot.press("a", "up", "enter")
        assert await wait_until(pilot, lambda: screen.attempt_number == 2 and journal_idle(screen))
        assert screen.query_one(TabbedContent).active == "detail"
        heading = shown_text(screen.query_one("#journal-attempt-heading", Static))
        assert heading.startswith("Attempt 2 of 1.2: fail 5/7")
        criteria = shown_text(screen.query_one("#journal-criteria", Static))
        assert criteria.count("✗") == 2
        assert "A node used twice accumulates its gradient" in criteria
        assert "use += in" in criteria
        diff = shown_text(screen.query_one("#journal-diff", Static))
        assert "from attempt 1 (fail 0/7) to attempt 2 (fail 5/7)" in diff
        assert "+            self.grad = out.grad" in diff

        await pilot.press("a", "up")
        assert await wait_until(pilot, lambda: screen.attempt_number == 1 and journal_idle(screen))
        first = shown_text(screen.query_one("#journal-diff", Static))
        assert "Attempt 1 is the first, so there is no earlier code to compare." in first


@pytest.mark.slow
@run_async
async def test_reflections_tab(checked_workspace):
    app = make_app(checked_workspace)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_journal(pilot)
        await pilot.press("f")
        assert screen.query_one(TabbedContent).active == "reflections"
        source = screen.query_one("#journal-reflections", Markdown).source
        assert source.startswith("# Reflections on 1.2 Micrograd")
        assert REFLECTION in source


@pytest.mark.slow
@run_async
async def test_chart_written_and_shown(checked_workspace, monkeypatch):
    # Without a display, opening a viewer fails and the screen must show why.
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    chart = checked_workspace.tutor_dir / "journal.png"
    chart.unlink(missing_ok=True)
    app = make_app(checked_workspace)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_journal(pilot)
        await pilot.press("o")
        assert await wait_until(pilot, lambda: screen.chart_path is not None and journal_idle(screen))
        assert screen.chart_path == chart
        assert chart.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert screen.query_one(TabbedContent).active == "chart"
        assert str(chart) in shown_text(screen.query_one("#journal-chart", Static))
        message = screen.query_one("#journal-message", Static)
        assert "no graphical display or viewer was found" in shown_text(message)
        assert str(chart) in shown_text(message)
        assert message.has_class("-error")


@pytest.mark.slow
@run_async
async def test_escape_closes_journal(checked_workspace):
    app = make_app(checked_workspace)
    async with app.run_test(size=SIZE) as pilot:
        await open_journal(pilot)
        # The tutor's lesson keys do not act behind the journal.
        await pilot.press("h")
        await pilot.pause()
        assert isinstance(app.screen, JournalScreen)
        assert not any(isinstance(screen, HintDialog) for screen in app.screen_stack)
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, MainScreen)


@run_async
async def test_reload_shows_new_attempt(workspace):
    record_fixed_attempts(workspace)
    app = make_app(workspace)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_journal(pilot)
        assert screen.attempt_number == 3
        lesson = curriculum().lesson(LESSON)
        record_attempt(workspace, lesson, fixed_result("pass", [], FIXED_START + 120), trigger="manual")
        assert flush_journal(workspace, timeout=60)
        await pilot.press("r")
        assert await wait_until(pilot, lambda: screen.query_one("#journal-attempts", DataTable).row_count == 4)
        assert await wait_until(pilot, lambda: journal_idle(screen))
        assert cells(screen.query_one("#journal-lessons", DataTable), LESSON)[3] == "2"
        # A reload keeps the attempt on view instead of jumping back to the default one.
        assert screen.attempt_number == 3
        assert screen.query_one("#journal-attempts", DataTable).cursor_row == 2


@run_async
async def test_empty_journal_message(workspace):
    app = make_app(workspace)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_journal(pilot)
        assert screen.query_one("#journal-lessons", DataTable).row_count == 0
        assert shown_text(screen.query_one("#journal-message", Static)).strip() == EMPTY


@run_async
async def test_broken_journal_shows_error(workspace):
    record_fixed_attempts(workspace)
    # Without its objects the repository still names its commits, but git can read none of them.
    objects = journal_dir(workspace.tutor_dir) / ".git" / "objects"
    shutil.rmtree(objects)
    objects.mkdir()
    app = make_app(workspace)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_journal(pilot)
        message = screen.query_one("#journal-message", Static)
        assert await wait_until(pilot, lambda: message.has_class("-error"), timeout=20)
        assert shown_text(message).startswith("Could not")
        assert isinstance(app.screen, JournalScreen)
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, MainScreen)


@pytest.fixture
def fixed_workspace() -> Iterator[Workspace]:
    shutil.rmtree(FIXED_ROOT, ignore_errors=True)
    created, _ = init_workspace(FIXED_ROOT, remember=False)
    yield created
    shutil.rmtree(FIXED_ROOT, ignore_errors=True)


def test_snapshot_journal_detail(fixed_workspace, utc, snap_compare):
    record_fixed_attempts(fixed_workspace)

    async def show_detail(pilot):
        screen = await open_journal(pilot)
        await pilot.press("d")
        assert await wait_until(pilot, lambda: journal_idle(screen))
        await pilot.pause()

    assert snap_compare(make_app(fixed_workspace), terminal_size=SIZE, run_before=show_detail)
