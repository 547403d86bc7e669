"""A full-tier run on a remote GPU machine, driven from a Textual thread worker.

`RemoteRun.execute` does what `ztf check LESSON --tier full --remote NAME` does: start the
job, follow it, and record its verdict once with trigger "remote". Quitting the tutor
sets `leaving` (the job keeps running) or `cancelling` (the job is killed). Both also work
while the job is still starting, because `execute` reads them as soon as `start()` returns.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from ..attempts import record_attempt
from ..config import Settings
from ..curriculum import Lesson
from ..remote.config import Remote
from ..remote.job import RemoteCheck, save_record
from ..verdict import CheckResult
from ..workspace import Workspace

log = logging.getLogger(__name__)


class RemoteRun:
    """One remote job started by the tutor, and what the learner chose to do with it on quit."""

    def __init__(self, workspace: Workspace, lesson: Lesson, remote: Remote, settings: Settings, *,
                 on_event: Callable[[dict[str, Any]], None], on_status: Callable[[str], None]) -> None:
        self.workspace = workspace
        self.lesson = lesson
        self.remote = remote
        self.check = RemoteCheck(remote, workspace.root, lesson, "full", settings=settings,
                                 on_event=on_event, on_status=on_status)
        self.leaving = False
        self.cancelling = False
        self.started = threading.Event()

    @property
    def job_started(self) -> bool:
        """Whether the job runs on the remote (so leaving it or cancelling it means something)."""
        return self.check.record is not None

    def execute(self) -> CheckResult | None:
        """Start the job, follow it and record its verdict; None when the learner quit meanwhile."""
        self.check.start()
        self.started.set()
        if self.cancelling:
            self.check.cancel()
            return None
        if self.leaving:
            return None
        result = self.check.wait()
        record = self.check.record
        assert record is not None
        if not record.recorded:
            record_attempt(self.workspace, self.lesson, result, trigger="remote")
            record.recorded = True
            save_record(record)
        return result

    def leave(self) -> None:
        """Stop following and leave the job running; `ztf remote attach NAME` collects it later."""
        self.leaving = True
        self.check.detach()

    def cancel(self) -> None:
        """Kill the job on the remote (blocking: an ssh call), or ask `execute` to once it has started."""
        self.cancelling = True
        if self.job_started:
            self.check.cancel()
