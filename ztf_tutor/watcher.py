"""Save-driven checking without a user interface: detect saves, run checks, publish verdicts.

`SaveWatcher` turns filesystem events into one `SavedFile` per real save of a lesson file.
With inotify it acts on close-after-write and on rename-into-place, which are the moments an
editor's write is complete, so a half-written file is never reported. A short settle check
(size and mtime unchanged) and a content hash against the last reported content collapse the
several events that one save can cause (vim with backupcopy=yes, git checkout). Editors'
temporary, swap, backup and lock files are ignored by name before anything else.

`LessonChecker` runs a lesson's checkpoint for a save, cancels the stale run when a newer save
arrives, records verdicts through `attempts`, and drops a verdict whose files changed on disk
while it ran. `ztf watch` and the Textual app both build on these two classes; this module
never imports Textual.
"""

from __future__ import annotations

import errno
import fnmatch
import hashlib
import logging
import os
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from watchdog.events import (
    FileClosedEvent,
    FileCreatedEvent,
    FileModifiedEvent,
    FileMovedEvent,
    FileSystemEvent,
    FileSystemEventHandler,
)
from watchdog.observers import Observer
from watchdog.observers.api import BaseObserver
from watchdog.observers.polling import PollingObserver

from . import locations
from .attempts import record_activity, record_attempt
from .config import Settings, load_settings
from .curriculum import Curriculum, Lesson, curriculum
from .journal.records import read_snapshot
from .runner import CheckRun, EventCallback
from .verdict import CheckResult
from .workspace import Workspace

log = logging.getLogger(__name__)

# Folders whose files never start a check: the tutor's own state, git's, bytecode, editor state.
IGNORED_DIRS = {locations.TUTOR_DIRNAME, ".git", "__pycache__", ".idea", ".vscode", ".ipynb_checkpoints", ".mypy_cache", ".pytest_cache"}
# Editors' temporary, swap, backup and lock files, matched against the file name.
IGNORED_NAMES = (
    "*.swp", "*.swo", "*.swn", "*.swx", "*.swpx",  # vim swap files and its swap-name probe
    "*~",  # vim, Emacs and many others: backup copies
    "#*#", ".#*",  # Emacs auto-save files and lock symlinks
    "*___jb_tmp___", "*___jb_old___",  # JetBrains safe write
    "*.tmp", "*.temp", "*.vsctmp", "*.crswap",  # atomic writes through a temporary file
    "*.orig", "*.rej", "*.bak", ".DS_Store",
)
# vim 9.0 probes whether it may create files with "4913", and with 5036 (4913 + 123) when that name exists.
VIM_PROBE = re.compile(r"^\d+$")
# `sed -i` writes "sed" plus six random characters next to the file, then renames it.
SED_TEMP = re.compile(r"^sed[A-Za-z0-9]{6}$")

CANARY_NAME = "watch-canary"
EVENTS, POLLING = "events", "polling"


def is_ignored(relative: str) -> bool:
    """Return whether a workspace path (POSIX, relative) is an editor's or the tutor's own file."""
    path = PurePosixPath(relative)
    if IGNORED_DIRS.intersection(path.parts[:-1]):
        return True
    name = path.name
    if VIM_PROBE.match(name) or SED_TEMP.match(name):
        return True
    return any(fnmatch.fnmatchcase(name, pattern) for pattern in IGNORED_NAMES)


def content_digest(path: Path) -> str | None:
    """SHA-256 of a file's bytes, or None when it cannot be read (deleted, a broken link)."""
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return None


@dataclass(frozen=True)
class SavedFile:
    """One settled save of a lesson file."""

    relative: str
    lesson: Lesson
    mtime: float
    digest: str
    detected_at: float = field(default_factory=time.perf_counter)


@dataclass
class _Pending:
    deadline: float
    stat: tuple[int, int] | None


class SaveWatcher:
    """Watches a workspace and calls `on_save` once per settled save of a lesson file.

    `on_notice` receives sentences the learner should see, such as the switch to polling.
    Callbacks run on the watcher's own thread.
    """

    def __init__(
        self,
        root: Path,
        on_save: Callable[[SavedFile], None],
        *,
        on_notice: Callable[[str], None] | None = None,
        lessons: Curriculum | None = None,
        only_lesson: str | None = None,
        settle_s: float = 0.015,
        polling_settle_s: float = 0.25,
        polling_interval_s: float = 0.5,
        canary_timeout_s: float = 3.0,
        observer_factory: Callable[[], BaseObserver] | None = None,
    ) -> None:
        self.root = root.resolve()
        self.on_save = on_save
        self.on_notice = on_notice or (lambda text: log.warning("%s", text))
        self.lessons = lessons or curriculum()
        self.only_lesson = only_lesson
        self.settle_s = settle_s
        self.polling_settle_s = polling_settle_s
        self.polling_interval_s = polling_interval_s
        self.canary_timeout_s = canary_timeout_s
        self.observer_factory = observer_factory or Observer
        self.mode = EVENTS
        self.observer: BaseObserver | None = None
        self._pending: dict[str, _Pending] = {}
        self._writing: set[str] = set()
        self._last_digest: dict[str, str] = {}
        self._condition = threading.Condition()
        self._stopping = False
        self._canary_seen = threading.Event()
        self._dispatcher = threading.Thread(target=self._dispatch_loop, daemon=True, name="ztf-save-settle")
        self._supervisor = threading.Thread(target=self._supervise, daemon=True, name="ztf-watch-supervisor")

    # Life cycle

    def start(self) -> SaveWatcher:
        """Start the observer, falling back to polling when the system refuses an event watch."""
        self._dispatcher.start()
        try:
            self._start_observer(self.observer_factory)
        except OSError as error:
            self._fall_back(self._describe_start_error(error))
            return self
        self._supervisor.start()
        return self

    def stop(self) -> None:
        """Stop watching; safe to call twice."""
        with self._condition:
            self._stopping = True
            self._condition.notify_all()
        observer = self.observer
        if observer is not None:
            observer.stop()
            if observer.is_alive():
                observer.join(timeout=2)

    def forget(self, relative: str) -> None:
        """Forget the last reported content of a file, so that the next save is reported even if unchanged."""
        with self._condition:
            self._last_digest.pop(relative, None)

    def _start_observer(self, factory: Callable[[], BaseObserver]) -> None:
        observer = factory()
        observer.schedule(_Handler(self), str(self.root), recursive=True)
        observer.start()
        self.observer = observer

    def _describe_start_error(self, error: OSError) -> str:
        if error.errno in (errno.ENOSPC, errno.EMFILE):
            return (f"The system refused to watch {self.root} for changes ({error.strerror}): the inotify watch limit "
                    "is reached. Checking by polling every half second instead; raise fs.inotify.max_user_watches "
                    "to get instant checks.")
        return f"Watching {self.root} for changes failed ({error}). Checking by polling every half second instead."

    def _fall_back(self, notice: str) -> None:
        """Replace the event observer with a polling one and tell the learner why."""
        old = self.observer
        if old is not None:
            old.stop()
        self.mode = POLLING
        self._start_observer(lambda: PollingObserver(timeout=self.polling_interval_s))
        log.warning("watcher fell back to polling: %s", notice)
        self.on_notice(notice)

    def _supervise(self) -> None:
        """Check that events arrive (a canary file) and that the observer stays alive."""
        canary = self.root / locations.TUTOR_DIRNAME / CANARY_NAME
        try:
            canary.parent.mkdir(parents=True, exist_ok=True)
            canary.write_text(f"{time.time()}\n", encoding="utf-8")
        except OSError as error:
            log.warning("could not write the watch canary %s: %s", canary, error)
            self._canary_seen.set()
        if not self._canary_seen.wait(self.canary_timeout_s) and not self._stopping:
            self._fall_back(f"No file events arrived from {self.root} (a network drive or a Windows drive under WSL "
                            "sends none). Checking by polling every half second instead.")
            return
        while not self._stopping:
            with self._condition:
                self._condition.wait(1.0)
            observer = self.observer
            if not self._stopping and self.mode == EVENTS and observer is not None and not _observer_alive(observer):
                self._fall_back("The file watcher stopped unexpectedly. Checking by polling every half second instead.")
                return

    # Events, on the observer's thread

    def handle(self, event: FileSystemEvent) -> None:
        """Classify one filesystem event; complete writes are scheduled for a settle check."""
        if event.is_directory:
            return
        if isinstance(event, FileMovedEvent):
            source = self._relative(event.src_path)
            if source is not None:
                self._forget_pending(source)
            path = event.dest_path
        else:
            path = event.src_path
        relative = self._relative(path)
        if relative is None:
            return
        if relative == f"{locations.TUTOR_DIRNAME}/{CANARY_NAME}":
            self._canary_seen.set()
            return
        if is_ignored(relative) or not self._watched(relative):
            return
        if self.mode == POLLING:
            if isinstance(event, (FileModifiedEvent, FileCreatedEvent, FileMovedEvent)):
                self._schedule(relative, self.polling_settle_s)
            return
        self._classify_inotify(relative, event)

    def _classify_inotify(self, relative: str, event: FileSystemEvent) -> None:
        # A modification means a writer has the file open; its close-after-write completes the save.
        # A creation or a rename into place is complete unless a modification follows.
        with self._condition:
            if isinstance(event, FileModifiedEvent):
                self._writing.add(relative)
                self._pending.pop(relative, None)
                return
        if isinstance(event, FileClosedEvent):
            with self._condition:
                self._writing.discard(relative)
            self._schedule(relative, self.settle_s)
        elif isinstance(event, FileMovedEvent):
            with self._condition:
                self._writing.discard(relative)
            self._schedule(relative, self.settle_s)
        elif isinstance(event, FileCreatedEvent):
            with self._condition:
                writing = relative in self._writing
            if not writing:
                self._schedule(relative, self.settle_s)

    def _relative(self, path: str | bytes) -> str | None:
        text = os.fsdecode(path)
        try:
            return Path(text).relative_to(self.root).as_posix()
        except ValueError:
            return None

    def _watched(self, relative: str) -> bool:
        lesson = self.lessons.lesson_for_file(relative)
        return lesson is not None and (self.only_lesson is None or lesson.id == self.only_lesson)

    def _schedule(self, relative: str, settle_s: float) -> None:
        with self._condition:
            self._pending[relative] = _Pending(time.perf_counter() + settle_s, self._stat(relative))
            self._condition.notify_all()

    def _forget_pending(self, relative: str) -> None:
        with self._condition:
            self._pending.pop(relative, None)
            self._writing.discard(relative)

    def _stat(self, relative: str) -> tuple[int, int] | None:
        try:
            info = os.lstat(self.root / relative)
        except OSError:
            return None
        if not os.path.isfile(self.root / relative) or os.path.islink(self.root / relative):
            return None
        return info.st_size, info.st_mtime_ns

    # Settle checks, on the dispatcher thread

    def _dispatch_loop(self) -> None:
        while True:
            due = self._next_due()
            if due is None:
                return
            for relative, pending in due:
                self._settle(relative, pending)

    def _next_due(self) -> list[tuple[str, _Pending]] | None:
        """Block until some pending saves are due; None once the watcher stops."""
        with self._condition:
            while not self._stopping:
                now = time.perf_counter()
                due = [(path, item) for path, item in self._pending.items() if item.deadline <= now]
                if due:
                    for path, _ in due:
                        del self._pending[path]
                    return due
                deadlines = [item.deadline for item in self._pending.values()]
                self._condition.wait(min(deadlines) - now if deadlines else None)
        return None

    def _settle(self, relative: str, pending: _Pending) -> None:
        """Report the save when the file stopped changing and its content differs from the last report."""
        current = self._stat(relative)
        if current is None:
            return  # deleted, renamed away, or replaced by a link in the meantime
        if current != pending.stat:
            settle = self.polling_settle_s if self.mode == POLLING else self.settle_s
            self._schedule(relative, settle)
            return
        path = self.root / relative
        digest = content_digest(path)
        if digest is None:
            return
        with self._condition:
            if self._last_digest.get(relative) == digest:
                log.debug("ignoring %s: content unchanged since the last check", relative)
                return
            self._last_digest[relative] = digest
        lesson = self.lessons.lesson_for_file(relative)
        assert lesson is not None  # _watched() admitted only lesson files
        saved = SavedFile(relative, lesson, current[1] / 1e9, digest)
        try:
            self.on_save(saved)
        except Exception:  # a failing listener must not stop the watcher
            log.exception("save listener failed for %s", relative)


def _observer_alive(observer: BaseObserver) -> bool:
    """Return whether the observer's dispatch thread and every emitter thread (one per watch) still run."""
    return observer.is_alive() and all(emitter.is_alive() for emitter in observer.emitters)


class _Handler(FileSystemEventHandler):
    """Forwards every event to the watcher."""

    def __init__(self, watcher: SaveWatcher) -> None:
        self.watcher = watcher

    def on_any_event(self, event: FileSystemEvent) -> None:
        self.watcher.handle(event)


@dataclass
class Verdict:
    """A published verdict: the result and the content it was computed on."""

    result: CheckResult
    trigger: str
    source_mtime: float
    digests: dict[str, str | None]

    def to_json(self) -> dict[str, Any]:
        """Build the `ztf watch --json` record."""
        data = self.result.to_json()
        return {
            "lesson": data["lesson"],
            "status": data["status"],
            "criteria": data["criteria"],
            "duration_s": data["duration_s"],
            "source_mtime": self.source_mtime,
            "trigger": self.trigger,
            "message": data["message"],
        }


class LessonChecker:
    """Runs lesson checks for saves and manual requests; the newest request per lesson wins."""

    def __init__(
        self,
        workspace: Workspace,
        *,
        settings: Settings | None = None,
        on_verdict: Callable[[Verdict], None] | None = None,
        on_event: Callable[[str, dict[str, Any]], None] | None = None,
    ) -> None:
        self.workspace = workspace
        self.settings = settings or load_settings()
        self.on_verdict = on_verdict
        self.on_event = on_event
        self._runs: dict[str, CheckRun] = {}
        self._generation: dict[str, int] = {}
        self._lock = threading.Lock()
        self.started_runs = 0

    def check(self, lesson: Lesson, trigger: str = "save", tier: str = "fast") -> Verdict | None:
        """Run the lesson's check and publish the verdict; None when a newer request superseded it."""
        run, generation = self._begin(lesson, tier)
        try:
            digests = self._digests(lesson)
            snapshot = read_snapshot(self.workspace.root, lesson)
            run.start()
            result = run.wait()
        finally:
            with self._lock:
                if self._runs.get(lesson.id) is run:
                    del self._runs[lesson.id]
        with self._lock:
            superseded = self._generation[lesson.id] != generation
        if superseded or run.cancelled.is_set():
            log.debug("dropping the %s verdict of %s: %s", lesson.id, trigger, run.cancel_reason)
            return None
        if self._digests(lesson) != digests:
            # The files changed while the check ran; the save that changed them brings its own run.
            log.debug("dropping the %s verdict: its files changed during the run", lesson.id)
            return None
        record_attempt(self.workspace, lesson, result, trigger=trigger, snapshot=snapshot)
        source_mtime = max(result.source_mtimes.values(), default=0.0)
        verdict = Verdict(result, trigger, source_mtime, digests)
        if self.on_verdict is not None:
            self.on_verdict(verdict)
        return verdict

    def saved(self, save: SavedFile) -> None:
        """Note a save as activity and cancel the lesson's stale run; the caller then runs `check`."""
        record_activity(self.workspace, save.lesson)
        self.cancel(save.lesson.id, "superseded by a newer save")

    def cancel(self, lesson_id: str, reason: str = "cancelled") -> None:
        """Cancel the lesson's running check, if any."""
        with self._lock:
            self._generation[lesson_id] = self._generation.get(lesson_id, 0) + 1
            run = self._runs.get(lesson_id)
        if run is not None:
            run.cancel(reason)

    def prewarm(self) -> None:
        """Start the workspace's warm worker now, so the first save does not pay for importing torch."""
        from .worker import prewarm

        prewarm(self.workspace.root)

    def close(self, reason: str = "the tutor is closing") -> None:
        """Cancel every running check and stop the warm worker, whose process keeps torch loaded in memory."""
        from .worker import stop_worker

        self.cancel_all(reason)
        stop_worker(self.workspace.root)

    def cancel_all(self, reason: str = "the tutor is closing") -> None:
        """Cancel every running check."""
        with self._lock:
            lesson_ids = list(self._runs)
        for lesson_id in lesson_ids:
            self.cancel(lesson_id, reason)

    def running(self) -> list[str]:
        """Ids of the lessons whose check is running."""
        with self._lock:
            return list(self._runs)

    def _begin(self, lesson: Lesson, tier: str) -> tuple[CheckRun, int]:
        callback: EventCallback | None = None
        if self.on_event is not None:
            on_event = self.on_event
            callback = lambda event: on_event(lesson.id, event)  # noqa: E731
        # Saves take their child from the workspace's warm worker; it falls back to a cold child by itself.
        run = CheckRun(self.workspace.root, lesson, tier, settings=self.settings, on_event=callback, warm=True)
        with self._lock:
            previous = self._runs.get(lesson.id)
            self._generation[lesson.id] = self._generation.get(lesson.id, 0) + 1
            generation = self._generation[lesson.id]
            self._runs[lesson.id] = run
            self.started_runs += 1
        if previous is not None:
            previous.cancel("superseded by a newer run")
        return run, generation

    def _digests(self, lesson: Lesson) -> dict[str, str | None]:
        return {relative: content_digest(self.workspace.root / relative) for relative in lesson.files}


class WatchSession:
    """A watcher and a checker wired together: every save runs its lesson's check on a thread."""

    def __init__(self, workspace: Workspace, checker: LessonChecker, **watcher_options: Any) -> None:
        self.checker = checker
        self.watcher = SaveWatcher(workspace.root, self._on_save, **watcher_options)
        self._threads: list[threading.Thread] = []

    def start(self) -> WatchSession:
        self.checker.prewarm()
        self.watcher.start()
        return self

    def stop(self, reason: str = "stopped watching") -> None:
        """Stop watching, cancel running checks and wait for their threads."""
        self.watcher.stop()
        self.checker.close(reason)
        for thread in self._threads:
            thread.join(timeout=5)

    def _on_save(self, save: SavedFile) -> None:
        self.checker.saved(save)
        # One thread per run, so that a newer save can cancel a run that is still going.
        thread = threading.Thread(target=self.checker.check, args=(save.lesson, "save"), daemon=True, name="ztf-check")
        self._threads = [item for item in self._threads if item.is_alive()] + [thread]
        thread.start()
