"""The Textual tutor driven by Pilot on a real workspace with a real file watcher."""

from __future__ import annotations

import os
import time
from pathlib import Path

from textual.widgets import Input, TextArea
from tui_support import SIZE, make_app, run_async, wait_until

from ztf_tutor.attempts import record_activity, record_attempt
from ztf_tutor.curriculum import curriculum
from ztf_tutor.progress import Progress
from ztf_tutor.runner import run_check
from ztf_tutor.tui.dialogs.create_workspace import CreateWorkspaceDialog
from ztf_tutor.tui.dialogs.hint import HintDialog
from ztf_tutor.tui.dialogs.output import OutputDialog
from ztf_tutor.tui.dialogs.reflection import ReflectionDialog
from ztf_tutor.tui.dialogs.solution import SolutionDialog
from ztf_tutor.tui.screens.help import HelpScreen
from ztf_tutor.tui.screens.journal import JournalScreen
from ztf_tutor.tui.screens.main import MainScreen
from ztf_tutor.tui.screens.welcome import WelcomeScreen
from ztf_tutor.tui.state import load_state
from ztf_tutor.tui.widgets.checkpoint_panel import CheckpointPanel, CriterionRow
from ztf_tutor.tui.widgets.curriculum_tree import CurriculumTree
from ztf_tutor.workspace import is_workspace

LESSON_FILE = "phase1/micrograd.py"


def reference_bytes() -> bytes:
    return (curriculum().lesson("1.2").reference_dir / LESSON_FILE).read_bytes()


def write_synced(path: Path, data: bytes) -> None:
    with open(path, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())


@run_async
async def test_welcome_on_first_start_only(workspace):
    app = make_app(workspace, welcome_seen=False)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert isinstance(app.screen, WelcomeScreen)
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, MainScreen)
        assert app.lesson is not None and app.lesson.id == "1.2"
        await pilot.press("q")
    state = load_state(workspace)
    assert state.welcome_seen
    assert state.last_lesson == "1.2"

    again = make_app(workspace, welcome_seen=False)
    async with again.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert isinstance(again.screen, MainScreen)
        await pilot.press("q")


@run_async
async def test_tree_selects_lesson_by_keys(workspace):
    app = make_app(workspace)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        app.lesson = None
        tree = app.screen.query_one(CurriculumTree)
        tree.focus()
        tree.move_cursor(tree.root.children[0])
        await pilot.press("down", "enter")
        await pilot.pause()
        assert app.lesson is not None and app.lesson.id == "1.2"
        panel = app.screen.query_one(CheckpointPanel)
        assert len(panel.query(CriterionRow)) == len(curriculum().lesson("1.2").criteria_names())


@run_async
async def test_tree_selects_lesson_by_mouse(workspace):
    app = make_app(workspace)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        app.lesson = None
        # Row 0 is phase 1, row 1 its first lesson; the tree starts below the one-line header.
        await pilot.click(CurriculumTree, offset=(8, 1))
        await pilot.pause()
        assert app.lesson is not None and app.lesson.id == "1.2"


@run_async
async def test_help_journal_and_theme(workspace):
    app = make_app(workspace)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        await pilot.press("escape")
        await pilot.press("j")
        await pilot.pause()
        assert isinstance(app.screen, JournalScreen)
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, MainScreen)
        await pilot.press("t")
        assert app.theme == "textual-light"
        await pilot.press("t")
        assert app.theme == "textual-dark"


@run_async
async def test_palette_lists_every_action(workspace):
    app = make_app(workspace)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        titles = [command.title for command in app.get_system_commands(app.screen)]
    for title in ("Run the check", "Show the next hint", "Show the solution", "Open the editor", "Reflect",
                  "Open the journal", "Open lesson 1.2 Micrograd: an autograd engine from scratch"):
        assert title in titles


@run_async
async def test_hint_is_shown_and_recorded(workspace):
    app = make_app(workspace)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("h")
        await pilot.pause()
        assert isinstance(app.screen, HintDialog)
        assert app.screen.title_text.startswith("Hint 1/")
        await pilot.press("escape")
    assert Progress(workspace).get("1.2").hints_shown == 1


@run_async
async def test_solution_locked_without_attempt(workspace):
    app = make_app(workspace)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("s")
        await pilot.pause()
        assert isinstance(app.screen, MainScreen)
        assert any("unlocks after" in notice.message for notice in app._notifications)
    assert Progress(workspace).get("1.2").solution_revealed_at is None


@run_async
async def test_solution_side_by_side_after_attempt(workspace, isolated_home):
    config = isolated_home / "config" / "config.toml"
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text("[learning]\nsolution_min_minutes = 0.01\n")  # 0.6 s of work
    lesson = curriculum().lesson("1.2")
    record_activity(workspace, lesson)
    time.sleep(0.7)
    record_attempt(workspace, lesson, run_check(workspace.root, lesson), trigger="manual")
    app = make_app(workspace)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("s")
        await pilot.pause()
        assert isinstance(app.screen, SolutionDialog)
        assert app.screen.files[0].reference == reference_bytes().decode()
    assert Progress(workspace).get("1.2").solution_revealed_at is not None


@run_async
async def test_save_flow_passes_and_asks_reflection(workspace):
    app = make_app(workspace)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause(0.3)
        write_synced(workspace.root / LESSON_FILE, reference_bytes())
        assert await wait_until(pilot, lambda: isinstance(app.screen, ReflectionDialog))
        main = next(screen for screen in app.screen_stack if isinstance(screen, MainScreen))
        rows = list(main.query(CriterionRow))
        assert rows and all(row.has_class("-passed") for row in rows)
        assert main.query_one(CheckpointPanel).has_class("-passed")
        app.screen.query_one(TextArea).insert("Reused nodes need +=, not =.")
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert isinstance(app.screen, MainScreen)
    reflections = (workspace.tutor_dir / "reflections" / "1.2.md").read_text()
    assert "Reused nodes need +=" in reflections
    entry = Progress(workspace).get("1.2")
    assert entry.attempts == 1
    assert entry.last_status == "pass"


@run_async
async def test_failing_save_shows_messages_and_output(workspace):
    app = make_app(workspace)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause(0.3)
        broken = reference_bytes() + b"\nprint('debug line from the learner')\n"
        broken = broken.replace(b"self.grad += out.grad", b"self.grad = out.grad", 1)
        write_synced(workspace.root / LESSON_FILE, broken)
        panel = app.screen.query_one(CheckpointPanel)
        assert await wait_until(pilot, lambda: panel.has_class("-failed"))
        assert isinstance(app.screen, MainScreen), "a failing check must not ask for a reflection"
        assert any(row.has_class("-failed") for row in panel.query(CriterionRow))
        await pilot.press("o")
        await pilot.pause()
        assert isinstance(app.screen, OutputDialog)
        assert "debug line from the learner" in app.screen.output


@run_async
async def test_quit_during_check_kills_it(workspace):
    app = make_app(workspace)
    hanging = reference_bytes() + b"\nimport time\ntime.sleep(600)\n"
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause(0.3)
        write_synced(workspace.root / LESSON_FILE, hanging)
        assert await wait_until(pilot, lambda: bool(app.checker.running()) and app.checker._runs["1.2"].process is not None)
        process = app.checker._runs["1.2"].process
        await pilot.press("q")
    assert process.wait(timeout=2) is not None


@run_async
async def test_offers_workspace_when_none(tmp_path):
    target = tmp_path / "new-ws"
    app = make_app(None, missing_reason="No ztf workspace found.", suggested_root=target)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert isinstance(app.screen, CreateWorkspaceDialog)
        assert app.screen.query_one(Input).value == str(target)
        await pilot.press("enter")
        await pilot.pause(0.5)
        assert is_workspace(target)
        assert isinstance(app.screen, WelcomeScreen)


@run_async
async def test_flooding_check_keeps_app_responsive(workspace):
    app = make_app(workspace)
    flooding = reference_bytes() + b"\nimport sys\nfor _ in range(200000):\n    sys.stdout.write('x' * 1000 + '\\n')\n"
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause(0.3)
        write_synced(workspace.root / LESSON_FILE, flooding)
        assert await wait_until(pilot, lambda: bool(app.checker.running()))
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen), "the app must answer keys while the check floods its output"
        await pilot.press("escape")
        panel = app.screen.query_one(CheckpointPanel)
        assert await wait_until(pilot, lambda: panel.result is not None)
        assert panel.result.output_bytes > 100_000_000


@run_async
async def test_polling_fallback_shows_notice(workspace):
    from test_watch_checks import SilentObserver

    options = {"observer_factory": SilentObserver, "canary_timeout_s": 0.5, "polling_interval_s": 0.2}
    app = make_app(workspace, watcher_options=options)
    async with app.run_test(size=SIZE) as pilot:
        assert await wait_until(pilot, lambda: any("polling" in notice.message for notice in app._notifications),
                                timeout=10)
        await pilot.pause(0.5)
        write_synced(workspace.root / LESSON_FILE, reference_bytes())
        assert await wait_until(pilot, lambda: isinstance(app.screen, ReflectionDialog))


def test_gpu_note_names_remote_and_local_gpu():
    from dataclasses import replace

    from ztf_tutor.curriculum import Tier
    from ztf_tutor.tui.widgets.lesson_view import gpu_markdown

    lesson = curriculum().lesson("1.2")
    gpu_lesson = replace(lesson, tiers={**lesson.tiers, "full": Tier("full", 600, gpu=True)})
    note = gpu_markdown(gpu_lesson, ["lab"], "NVIDIA H200")
    assert "needs a GPU" in note
    assert "ztf check 1.2 --tier full --remote lab" in note
    assert "Your GPU (NVIDIA H200)" in note
    assert gpu_markdown(lesson, ["lab"], None) == ""
