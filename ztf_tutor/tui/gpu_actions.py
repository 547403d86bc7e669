"""The tutor's "Run on GPU" action and the quit question for a remote job, as a helper the app owns.

The full tier runs on this machine's CUDA GPU when torch detects one, through the same worker and
LessonChecker as every other check. Otherwise it runs on a configured remote through
`RemoteRun`, with its events streamed into the checkpoint panel and its verdict recorded with
trigger "remote". A remote that fails (unreachable, login rejected, no torch) is a notification,
never a verdict.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from textual.worker import Worker, WorkerState

from ..curriculum import Lesson
from ..errors import ZtfError
from ..remote.config import Remote, load_remotes
from ..verdict import CheckResult
from ..watcher import Verdict
from .dialogs.quit_remote import CANCEL, LEAVE, QuitRemoteDialog
from .dialogs.remote_picker import RemotePickerDialog
from .messages import CheckEvent, CheckFinished, CheckStarted, RemoteStatus
from .remote_run import RemoteRun
from .widgets.checkpoint_panel import CheckpointPanel

if TYPE_CHECKING:
    from .app import ZtfApp

log = logging.getLogger(__name__)

NO_GPU_NOTICE = ("torch sees no CUDA GPU on this machine and no remote is configured. Add your GPU machine with "
                 "`ztf remote add NAME USER@HOST`, check it with `ztf remote test NAME`, then press g again.")
REMOTE_GROUP = "remote"


class GpuActions:
    """Full-tier runs on a GPU, local or remote, for one ZtfApp."""

    def __init__(self, app: ZtfApp) -> None:
        self.app = app
        self.remote_run: RemoteRun | None = None
        self.probe_done = False

    def probe_finished(self, gpu_name: str | None) -> None:
        """Remember what the local GPU probe found: a device name, or None."""
        self.app.local_gpu = gpu_name
        self.probe_done = True

    def run_gpu(self) -> None:
        """Run the full tier of the lesson on view on a local GPU, else on a remote, else explain how to add one."""
        app = self.app
        lesson = app.lesson
        if lesson is None or app.checker is None:
            return
        if "full" not in lesson.tiers:
            app.notify(f"Lesson {lesson.id} has no full tier; its fast tier is its whole check.", title="Run on GPU")
            return
        if not self.probe_done:
            app.notify("Still looking for a local GPU (importing torch); press g again in a moment.", title="Run on GPU")
            return
        if app.local_gpu:
            app.checker.cancel(lesson.id, "superseded by a full-tier run")
            app.start_check(lesson, "manual", tier="full")
            app.notify(f"Running the full tier of {lesson.id} on your GPU ({app.local_gpu}).", title="Run on GPU")
            return
        if self.remote_run is not None:
            running = self.remote_run
            app.notify(f"The full tier of {running.lesson.id} is already running on {running.remote.name}; "
                        f"its verdict appears when it ends.", title="Run on GPU", severity="warning")
            return
        try:
            remotes = load_remotes()
        except ZtfError as error:
            app.notify(str(error), title="Invalid remote configuration", severity="error", timeout=30)
            return
        if not remotes:
            app.notify(NO_GPU_NOTICE, title="No GPU", severity="warning", timeout=30)
        elif len(remotes) == 1:
            self.start_remote(lesson, next(iter(remotes.values())))
        else:
            app.push_screen(RemotePickerDialog(lesson.id, list(remotes.values())),
                             lambda name: self.start_remote(lesson, remotes[name]) if name else None)

    def start_remote(self, lesson: Lesson, remote: Remote) -> None:
        """Start the full tier of LESSON on REMOTE in a thread worker."""
        app = self.app
        assert app.workspace is not None

        # Both callbacks run on the worker's thread; post_message is the thread-safe way into the app.
        def forward_event(event: dict[str, Any]) -> None:
            app.post_message(CheckEvent(lesson.id, event))

        def forward_status(text: str) -> None:
            app.post_message(RemoteStatus(lesson.id, text))

        run = RemoteRun(app.workspace, lesson, remote, app.settings, on_event=forward_event, on_status=forward_status)
        self.remote_run = run
        # NOTE: a save of the same lesson during the remote run starts a fast check whose rows share the panel,
        # so the panel shows whichever verdict arrives last.
        app.post_message(CheckStarted(lesson, "remote", tier="full", where=f" on {remote.name}"))
        app.run_worker(run.execute, thread=True, group=REMOTE_GROUP, name=lesson.id,
                        description=f"full tier of {lesson.id} on {remote.name}", exit_on_error=False)

    def show_status(self, message: RemoteStatus) -> None:
        """Show a step of the remote run under the criteria."""
        panel = self._panel_for(message.lesson_id)
        if panel is not None:
            panel.note(message.text)

    def worker_changed(self, event: Worker.StateChanged) -> None:
        """Publish the remote verdict, or turn a remote failure into a notification."""
        app = self.app
        run = self.remote_run
        if run is None or event.state not in (WorkerState.SUCCESS, WorkerState.ERROR, WorkerState.CANCELLED):
            return
        self.remote_run = None
        quitting = run.leaving or run.cancelling
        result = event.worker.result
        if event.state == WorkerState.SUCCESS and isinstance(result, CheckResult):
            source_mtime = max(result.source_mtimes.values(), default=0.0)
            app.post_message(CheckFinished(Verdict(result, "remote", source_mtime, {})))
            return
        panel = self._panel_for(run.lesson.id)
        if panel is not None:
            panel.stop_running(f"The run on {run.remote.name} ended without a verdict.")
        if quitting or event.state != WorkerState.ERROR:
            return
        error = event.worker.error
        log.warning("remote run of %s on %s failed: %s", run.lesson.id, run.remote.name, error)
        title = getattr(error, "title", "Remote run failed")
        app.notify(str(error), title=title, severity="error", timeout=30)
        if panel is not None:
            panel.note(str(error))

    def _panel_for(self, lesson_id: str) -> CheckpointPanel | None:
        app = self.app
        main = app.main()
        if main is None or app.lesson is None or app.lesson.id != lesson_id:
            return None
        return main.query_one(CheckpointPanel)

    def ask_about_remote_job(self) -> None:
        """Ask whether to leave or cancel the running remote job, then quit; staying closes the question."""
        app = self.app
        run = self.remote_run
        assert run is not None
        dialog = QuitRemoteDialog(run.lesson.id, run.remote.name, not run.job_started)
        app.push_screen(dialog, lambda choice: self._quit_with_remote_job(run, choice))

    async def _quit_with_remote_job(self, run: RemoteRun, choice: str | None) -> None:
        app = self.app
        if choice == LEAVE:
            run.leave()
        elif choice == CANCEL:
            app.notify(f"Cancelling the job on {run.remote.name}…", title="Quit")
            try:
                await asyncio.to_thread(run.cancel)
            except ZtfError as error:
                log.warning("cancelling the job on %s failed: %s", run.remote.name, error)
                app.notify(str(error), title="Cancelling failed", severity="error", timeout=30)
                return
        else:
            return
        app.shutdown()
        app.exit(0)
