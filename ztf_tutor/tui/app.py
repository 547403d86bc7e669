"""The Textual tutor: wires the watcher, the checker, the screens and the dialogs together."""

from __future__ import annotations

import argparse
import logging
import os
import shlex
import subprocess
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.logging import TextualHandler
from textual.screen import Screen
from textual.worker import Worker, WorkerState

from ..artifacts import image_paths, open_in_viewer
from ..attempts import record_solution_reveal, save_reflection, show_next_hint
from ..commands.solution import solution_files, solution_lock_reason
from ..config import Settings, load_settings
from ..curriculum import Curriculum, Lesson, checkpoint_items, curriculum
from ..errors import WorkspaceError
from ..progress import Progress
from ..verdict import CheckResult
from ..watcher import LessonChecker, SavedFile, SaveWatcher, Verdict
from ..workspace import Workspace, find_workspace, init_workspace, remember_workspace
from .dialogs.create_workspace import CreateWorkspaceDialog
from .dialogs.hint import HintDialog
from .dialogs.output import OutputDialog
from .dialogs.reflection import DEFAULT_QUESTIONS, ReflectionDialog
from .dialogs.solution import SolutionDialog
from .generation import GENERATION_LESSON
from .gpu_actions import REMOTE_GROUP, GpuActions
from .messages import (
    CheckEvent,
    CheckFinished,
    CheckStarted,
    CheckSuperseded,
    LessonChosen,
    RemoteStatus,
    SourceSaved,
    WatchNotice,
)
from .screens.generate import GenerateScreen
from .screens.help import HelpScreen
from .screens.journal import JournalScreen
from .screens.main import MainScreen
from .screens.welcome import WelcomeScreen
from .state import TutorState, load_state, save_state
from .widgets.checkpoint_panel import CheckpointPanel
from .widgets.curriculum_tree import CurriculumTree
from .widgets.lesson_view import LessonView

log = logging.getLogger(__name__)
THEMES = ("textual-dark", "textual-light")


class ZtfApp(App[int]):
    """The tutor on one workspace; every save of a lesson file reruns that lesson's fast tier."""

    TITLE = "ztf"
    CSS_PATH = "styles/ztf.tcss"
    BINDINGS = [
        Binding("r", "run_check", "Check"),
        Binding("h", "hint", "Hint"),
        Binding("s", "solution", "Solution"),
        Binding("e", "open_editor", "Edit"),
        Binding("o", "output", "Output"),
        Binding("v", "view_image", "Image"),
        # Left out of the footer, because at 120 columns one more entry pushes Quit off the line.
        # The lesson text names these keys where they apply, and the help screen lists them.
        Binding("g", "run_gpu", "GPU run", show=False),
        Binding("p", "generate", "Generate", show=False),
        Binding("f", "reflect", "Reflect"),
        Binding("j", "journal", "Journal"),
        Binding("t", "toggle_theme", "Theme"),
        Binding("question_mark", "help", "Help", key_display="?"),
        Binding("q", "quit", "Quit"),
    ]

    def __init__(
        self,
        lessons: Curriculum,
        settings: Settings,
        workspace: Workspace | None,
        *,
        missing_reason: str = "",
        suggested_root: Path | None = None,
        watcher_options: dict[str, Any] | None = None,
    ) -> None:
        super().__init__()
        self.lessons = lessons
        self.settings = settings
        self.workspace = workspace
        self.missing_reason = missing_reason
        self.suggested_root = suggested_root or Path.home() / "ztf-workspace"
        self.watcher_options = watcher_options or {}
        self.lesson: Lesson | None = None
        self.state = TutorState()
        self.statuses: dict[str, str | None] = {}
        self.results: dict[str, CheckResult] = {}
        self.checker: LessonChecker | None = None
        self.watcher: SaveWatcher | None = None
        self.local_gpu: str | None = None
        self.gpu = GpuActions(self)

    # Start and stop

    def on_mount(self) -> None:
        """Open the tutor, or offer to create a workspace first."""
        self.theme = THEMES[0]
        if self.workspace is None:
            self.push_screen(CreateWorkspaceDialog(self.suggested_root, self.missing_reason), self._on_create_answer)
        else:
            self.open_workspace(self.workspace)

    def _on_create_answer(self, root: Path | None) -> None:
        if root is None:
            self.exit(2)
            return
        try:
            workspace, _ = init_workspace(root)
        except WorkspaceError as error:
            self.notify(f"{error.message} {error.hint or ''}", title="Could not create the workspace", severity="error")
            self.push_screen(CreateWorkspaceDialog(root, error.message), self._on_create_answer)
            return
        self.open_workspace(workspace)

    def open_workspace(self, workspace: Workspace) -> None:
        """Show the lessons, start watching and restore the last lesson."""
        self.workspace = workspace
        self.sub_title = str(workspace.root)
        progress = Progress(workspace)
        self.statuses = {lesson.id: progress.get(lesson.id).last_status for lesson in self.lessons.lessons}
        self.checker = LessonChecker(workspace, settings=self.settings, on_event=self._forward_check_event)
        self.checker.prewarm()
        self.watcher = SaveWatcher(workspace.root, self._post_save, on_notice=self._post_notice, lessons=self.lessons,
                                   **self.watcher_options)
        self.watcher.start()
        self.state = load_state(workspace)
        self.push_screen(MainScreen(self.lessons, progress))
        self.call_after_refresh(self._show_first_lesson)
        if not self.state.welcome_seen:
            self.push_screen(WelcomeScreen(workspace, self.settings.learning), self._on_welcome_closed)
        self.run_worker(_local_gpu_name, thread=True, group="gpu", description="look for a local GPU",
                        exit_on_error=False)

    def _post_save(self, save: SavedFile) -> None:
        # Runs on the watcher's thread; post_message is thread-safe.
        self.post_message(SourceSaved(save))

    def _post_notice(self, text: str) -> None:
        self.post_message(WatchNotice(text))

    def _show_first_lesson(self) -> None:
        lessons = self.lessons.lessons
        known = {lesson.id: lesson for lesson in lessons}
        chosen = known.get(self.state.last_lesson or "") or (lessons[0] if lessons else None)
        if chosen is not None:
            self.show_lesson(chosen)

    def _on_welcome_closed(self, _: None) -> None:
        self.state.welcome_seen = True
        self._save_state()

    def _save_state(self) -> None:
        if self.workspace is not None:
            save_state(self.workspace, self.state)

    async def action_quit(self) -> None:
        """Stop watching, kill any running check and leave. A running remote job first opens a dialog: leave it or cancel it."""
        if self.gpu.remote_run is not None:
            self.gpu.ask_about_remote_job()
            return
        self.shutdown()
        self.exit(0)

    def shutdown(self) -> None:
        """Stop the watcher and cancel every check, leaving a remote job running; safe to call twice."""
        run = self.gpu.remote_run
        if run is not None and not (run.leaving or run.cancelling):
            run.leave()  # the safe default when the app closes without asking: the job can still be attached
        if self.checker is not None:
            self.checker.close("the tutor is closing")
        if self.watcher is not None:
            self.watcher.stop()
            self.watcher = None

    def on_unmount(self) -> None:
        """Make sure no check outlives the app."""
        self.shutdown()

    # Lessons

    def main(self) -> MainScreen | None:
        """The main screen, wherever it sits in the stack."""
        for screen in self.screen_stack:
            if isinstance(screen, MainScreen):
                return screen
        return None

    def show_lesson(self, lesson: Lesson) -> None:
        """Open a lesson in the main screen and remember it."""
        main = self.main()
        if main is None or self.workspace is None:
            return
        self.lesson = lesson
        self.state.last_lesson = lesson.id
        self._save_state()
        main.query_one(CurriculumTree).select_lesson(lesson.id)
        main.query_one(LessonView).show(self.workspace, lesson, self._remotes(), self.local_gpu)
        panel = main.query_one(CheckpointPanel)
        panel.show_lesson(lesson, self.results.get(lesson.id), self.statuses.get(lesson.id))
        if self.checker is not None and lesson.id in self.checker.running():
            panel.begin()
        remote_run = self.gpu.remote_run
        if remote_run is not None and remote_run.lesson.id == lesson.id:
            panel.begin("full", f" on {remote_run.remote.name}")
        self._refresh_time()
        self.refresh_bindings()

    def on_lesson_chosen(self, message: LessonChosen) -> None:
        """Open the lesson picked in the tree or the palette."""
        self.show_lesson(message.lesson)

    def _remotes(self) -> list[str]:
        remotes = self.settings.extra.get("remotes")
        return sorted(remotes) if isinstance(remotes, dict) else []

    def _refresh_time(self) -> None:
        main = self.main()
        if main is None or self.lesson is None or self.workspace is None:
            return
        seconds = Progress(self.workspace).get(self.lesson.id).active_seconds
        main.query_one(CheckpointPanel).set_time_on_lesson(seconds)

    def _refresh_tree(self) -> None:
        main = self.main()
        if main is not None:
            main.query_one(CurriculumTree).refresh_states()

    # Checks

    def on_source_saved(self, message: SourceSaved) -> None:
        """Record the save as activity and rerun the saved lesson's check."""
        assert self.checker is not None
        self.checker.saved(message.save)
        self.start_check(message.save.lesson, "save")

    def start_check(self, lesson: Lesson, trigger: str, tier: str = "fast") -> None:
        """Run a tier of the lesson's check in a worker; a newer run of the same lesson replaces it."""
        assert self.checker is not None
        checker = self.checker
        self.post_message(CheckStarted(lesson, trigger, tier))
        self.run_worker(lambda: checker.check(lesson, trigger, tier), thread=True, exclusive=True,
                        group=f"check-{lesson.id}", name=lesson.id, description=f"check {lesson.id} {tier} ({trigger})",
                        exit_on_error=False)

    def _forward_check_event(self, lesson_id: str, event: dict[str, Any]) -> None:
        # Runs on the checker's event thread; post_message is the thread-safe way in.
        self.post_message(CheckEvent(lesson_id, event))

    def on_check_started(self, message: CheckStarted) -> None:
        """Show the running indicator when the check is for the lesson on view."""
        main = self.main()
        if main is not None and self.lesson is not None and message.lesson.id == self.lesson.id:
            main.query_one(CheckpointPanel).begin(message.tier, message.where)

    def on_check_event(self, message: CheckEvent) -> None:
        """Update criteria and progress live."""
        main = self.main()
        if main is not None and self.lesson is not None and message.lesson_id == self.lesson.id:
            main.query_one(CheckpointPanel).event(message.event)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """Turn a finished check worker into CheckFinished, and a crashed one into a notice."""
        worker = event.worker
        if worker.group == REMOTE_GROUP:
            self.gpu.worker_changed(event)
            return
        if not (worker.group or "").startswith("check-"):
            if worker.group == "gpu" and event.state in (WorkerState.SUCCESS, WorkerState.ERROR):
                self.gpu.probe_finished(worker.result if event.state == WorkerState.SUCCESS else None)
            return
        if event.state == WorkerState.SUCCESS:
            if isinstance(worker.result, Verdict):
                self.post_message(CheckFinished(worker.result))
            else:
                self.post_message(CheckSuperseded(worker.name))
        elif event.state == WorkerState.ERROR:
            log.error("check %s failed: %s", worker.name, worker.error)
            self.notify(f"The check of {worker.name} could not run: {worker.error}", title="Check failed to run",
                        severity="error")
            self.post_message(CheckSuperseded(worker.name))

    def on_check_superseded(self, message: CheckSuperseded) -> None:
        """Clear the running indicator unless a newer run of the lesson is still going."""
        main = self.main()
        running = self.checker.running() if self.checker else []
        if main is not None and self.lesson is not None and message.lesson_id == self.lesson.id and message.lesson_id not in running:
            main.query_one(CheckpointPanel).stop_running()

    def on_check_finished(self, message: CheckFinished) -> None:
        """Show the verdict, refresh the tree, and ask for a reflection on a new pass."""
        result = message.verdict.result
        previous = self.statuses.get(result.lesson)
        self.statuses[result.lesson] = result.status
        self.results[result.lesson] = result
        self._refresh_tree()
        if isinstance(self.screen, JournalScreen):
            self.screen.action_reload()
        main = self.main()
        if main is None or self.lesson is None or result.lesson != self.lesson.id:
            return
        main.query_one(CheckpointPanel).finish(result)
        self._refresh_time()
        if result.passed and previous != "pass" and self._first_pass(result):
            self.action_reflect(just_passed=True)

    def on_watch_notice(self, message: WatchNotice) -> None:
        """Show the watcher's notice, such as the switch to polling."""
        self.notify(message.text, title="File watching", severity="warning", timeout=15)

    # Actions

    def action_run_check(self) -> None:
        """Run the check of the lesson on view now."""
        if self.lesson is not None and self.checker is not None:
            self.checker.cancel(self.lesson.id, "superseded by a manual run")
            self.start_check(self.lesson, "manual")

    def action_hint(self) -> None:
        """Reveal and record the next hint step."""
        if self.lesson is None or self.workspace is None:
            return
        step, text = show_next_hint(self.workspace, self.lesson)
        self.push_screen(HintDialog(self.lesson.id, step, len(self.lesson.hints), text))

    def action_solution(self) -> None:
        """Show the reference beside the learner's code once it is unlocked, and record the reveal."""
        if self.lesson is None or self.workspace is None:
            return
        reason = solution_lock_reason(self.workspace, self.lesson, self.settings)
        if reason is not None:
            self.notify(reason, title="Solution locked", timeout=10)
            return
        files = solution_files(self.workspace, self.lesson)
        record_solution_reveal(self.workspace, self.lesson)
        self.push_screen(SolutionDialog(self.lesson.id, files))

    def _first_pass(self, result: CheckResult) -> bool:
        """True when this verdict is the lesson's first pass ever, so the prompt is not repeated."""
        if self.workspace is None:
            return False
        passed_at = Progress(self.workspace).get(result.lesson).passed_at
        return passed_at is not None and passed_at >= result.started_at

    def action_reflect(self, just_passed: bool = False) -> None:
        """Ask the lesson's reflection questions."""
        if self.lesson is None:
            return
        lesson = self.lesson
        questions = checkpoint_items(lesson.sections.get("Reflect", "")) or list(DEFAULT_QUESTIONS)
        dialog = ReflectionDialog(lesson.id, lesson.title, questions, just_passed=just_passed)
        self.push_screen(dialog, lambda text: self._on_reflection(lesson, questions, text))

    def _on_reflection(self, lesson: Lesson, questions: list[str], text: str | None) -> None:
        if text and self.workspace is not None:
            # Keep the questions with the answer, so the journal reads on its own later.
            text = "\n".join(f"> {question}" for question in questions) + "\n\n" + text.strip()
            path = save_reflection(self.workspace, lesson, text)
            self.notify(f"Saved to {path}", title="Reflection saved")

    def action_output(self) -> None:
        """Show what the learner's code printed during the last check."""
        if self.lesson is None:
            return
        result = self.results.get(self.lesson.id)
        if result is None:
            self.notify("No check of this lesson has run since the tutor started. Save a file or press r.",
                        title="Output")
            return
        self.push_screen(OutputDialog(self.lesson.id, result.output))

    def action_view_image(self) -> None:
        """Open the image the last check wrote (such as an attention heatmap) in the system viewer."""
        if self.lesson is None:
            return
        result = self.results.get(self.lesson.id)
        artifacts = self.workspace.tutor_dir / "artifacts" if self.workspace else None
        images = image_paths(result, artifacts) if result else []
        if not images:
            self.notify("The last check of this lesson wrote no image.", title="Image")
            return
        # NOTE: the image is not drawn inside the terminal; the path is shown and a viewer opened.
        problem = open_in_viewer(images[-1])
        detail = f"Could not open a viewer ({problem}); open the file yourself." if problem else "Opened in your viewer."
        self.notify(f"{images[-1]}\n{detail}", title="Image", timeout=20)

    def action_journal(self) -> None:
        """Open the journal screen."""
        if self.workspace is not None:
            self.push_screen(JournalScreen(self.workspace, self.lessons))

    def action_run_gpu(self) -> None:
        """Run the full tier of the lesson on view on a GPU: this machine's, else a remote's."""
        self.gpu.run_gpu()

    def on_remote_status(self, message: RemoteStatus) -> None:
        """Show a step of a remote run under the criteria."""
        self.gpu.show_status(message)

    def action_generate(self) -> None:
        """Open the text generator of lesson 3.4 on the learner's own code."""
        if self.workspace is not None:
            lesson = self.lessons.lesson(GENERATION_LESSON)
            self.push_screen(GenerateScreen(self.workspace, lesson.path))

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Offer the GPU run only on a lesson with a full tier, and the generator only on lesson 3.4."""
        if action == "run_gpu":
            return self.lesson is not None and "full" in self.lesson.tiers
        if action == "generate":
            return self.lesson is not None and self.lesson.id == GENERATION_LESSON
        return True

    def action_help(self) -> None:
        """Show the keys."""
        self.push_screen(HelpScreen())

    def action_toggle_theme(self) -> None:
        """Switch between the dark and the light theme."""
        self.theme = THEMES[1] if self.theme == THEMES[0] else THEMES[0]

    def action_open_editor(self) -> None:
        """Open the lesson's first file in the configured editor, $VISUAL or $EDITOR."""
        if self.lesson is None or self.workspace is None or not self.lesson.files:
            return
        # NOTE: a lesson with several files opens only the first; the palette has no per-file entry yet.
        path = self.workspace.path(self.lesson.files[0])
        editor = self.settings.editor or os.environ.get("VISUAL") or os.environ.get("EDITOR") or "vi"
        try:
            with self.suspend():
                subprocess.run([*shlex.split(editor), str(path)], check=False)
        except Exception as error:  # SuspendNotSupported under test, FileNotFoundError for a missing editor
            log.warning("opening %s in %s failed: %s", path, editor, error)
            self.notify(f"Could not open {path} in `{editor}` ({error}). Set $EDITOR or `editor` in the config.",
                        title="Editor", severity="error")

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        """Palette entries for every action and a jump to every lesson."""
        yield from super().get_system_commands(screen)
        yield SystemCommand("Run the check", "Run the lesson's fast tier now (r)", self.action_run_check)
        yield SystemCommand("Show the next hint", "Reveal one more hint step (h)", self.action_hint)
        yield SystemCommand("Show the solution", "Reference beside your code, once unlocked (s)", self.action_solution)
        yield SystemCommand("Open the editor", "Open the lesson's file in $VISUAL or $EDITOR (e)", self.action_open_editor)
        yield SystemCommand("Show the output", "What your code printed in the last check (o)", self.action_output)
        yield SystemCommand("View the image", "Open the image the last check wrote (v)", self.action_view_image)
        yield SystemCommand("Reflect", "Answer the reflection questions (f)", self.action_reflect)
        yield SystemCommand("Run on GPU", "The full tier on your GPU or a remote (g)", self.action_run_gpu)
        yield SystemCommand("Generate text", "Sample from your GPT with your lesson 3.4 code (p on 3.4)",
                            self.action_generate)
        yield SystemCommand("Open the journal", "Attempts, diffs, reflections and charts (j)", self.action_journal)
        yield SystemCommand("Toggle the theme", "Dark or light (t)", self.action_toggle_theme)
        for lesson in self.lessons.lessons:
            yield SystemCommand(f"Open lesson {lesson.id} {lesson.title}", f"Phase {lesson.phase}: {lesson.phase_title}",
                                lambda lesson=lesson: self.show_lesson(lesson))


def _local_gpu_name() -> str | None:
    """Return the name of the GPU that torch detects, or None. Importing torch takes a second, so a worker calls this."""
    try:
        import torch
    except ImportError:
        return None
    return torch.cuda.get_device_name(0) if torch.cuda.is_available() else None


def build_app(args: argparse.Namespace) -> ZtfApp:
    """Create the app for `ztf start`, with or without an existing workspace."""
    settings = load_settings()
    lessons = curriculum()
    explicit = getattr(args, "workspace", None)
    try:
        workspace = find_workspace(explicit)
        workspace.manifest()
        remember_workspace(workspace.root)
    except WorkspaceError as error:
        suggested = Path(explicit).expanduser().resolve() if explicit else None
        return ZtfApp(lessons, settings, None, missing_reason=error.message, suggested_root=suggested)
    return ZtfApp(lessons, settings, workspace)


def run_app(args: argparse.Namespace) -> int:
    """Run `ztf start` and return its exit code."""
    app = build_app(args)
    # While the app owns the terminal, log records go to Textual's log (`textual console`), not stderr.
    root = logging.getLogger()
    saved_handlers = root.handlers[:]
    root.handlers = [TextualHandler()]
    try:
        code = app.run()
    finally:
        root.handlers = saved_handlers
    return code if isinstance(code, int) else 0
