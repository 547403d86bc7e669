"""The journal's single writer thread: callers queue jobs and return at once.

One daemon thread per workspace and process does every git call, so recording never delays a
verdict, and no git work ever runs on the thread that starts a check. Each batch of jobs runs
under the inter-process journal lock, so two tutor processes on one workspace take turns. An
`atexit` hook flushes the queue, so a short-lived command such as `ztf check` records its attempt
before the process ends.
"""

from __future__ import annotations

import atexit
import json
import logging
import queue
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import git

from ..workspace import Workspace
from .index import JournalIndex, attempt_line, synchronise
from .records import commit_body, local_environment
from .repo import MAINTAIN_EVERY, JournalLock, JournalRepo

log = logging.getLogger(__name__)

EXIT_FLUSH_TIMEOUT_S = 60.0


def journal_dir(tutor_dir: Path) -> Path:
    return tutor_dir / "journal"


def index_path(tutor_dir: Path) -> Path:
    return tutor_dir / "journal-index.jsonl"


def lock_path(tutor_dir: Path) -> Path:
    return tutor_dir / "journal.lock"


@dataclass
class AttemptJob:
    """Commit one attempt: its record (see records.py) and the snapshot of the lesson's files."""

    record: dict[str, Any]
    files: dict[str, bytes | None]
    subject: str
    gpu_tier: bool


@dataclass
class ReflectionJob:
    """Commit a lesson's whole reflection file."""

    lesson: str
    content: bytes
    subject: str
    at: float


@dataclass
class EventJob:
    """Append an activity, hint or reveal event to the index; git gets it with the next attempt."""

    event: dict[str, Any]


Job = AttemptJob | ReflectionJob | EventJob


class JournalWriter:
    """Queue of journal jobs for one workspace, drained by one background thread."""

    def __init__(self, tutor_dir: Path) -> None:
        self.tutor_dir = tutor_dir
        self.lock = JournalLock(lock_path(tutor_dir))
        self._queue: queue.Queue[Job | None] = queue.Queue()
        self._pending = 0
        self._done = threading.Condition()
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()
        self._repaired = False
        # Kept across batches, so each batch reads only the lines appended since the last one.
        self._index = JournalIndex(index_path(tutor_dir))
        self._commits = 0
        self.errors = 0
        self.last_error: str | None = None

    def submit(self, job: Job) -> None:
        """Queue a job; returns at once."""
        with self._done:
            self._pending += 1
        self._ensure_thread()
        self._queue.put(job)

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until every queued job is written; False when `timeout` seconds passed first."""
        with self._done:
            return self._done.wait_for(lambda: self._pending == 0, timeout)

    def close(self, timeout: float | None = None) -> bool:
        """Flush, then stop the thread."""
        flushed = self.flush(timeout)
        thread = self._thread
        if thread is not None and thread.is_alive():
            self._queue.put(None)
            thread.join(timeout)
        self._thread = None
        return flushed

    def _ensure_thread(self) -> None:
        with self._start_lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._loop, name="ztf-journal", daemon=True)
                self._thread.start()

    def _loop(self) -> None:
        while True:
            job = self._queue.get()
            if job is None:
                return
            batch = [job]
            # Take whatever else is queued, so a burst of events costs one lock and one sync.
            while True:
                try:
                    extra = self._queue.get_nowait()
                except queue.Empty:
                    break
                if extra is None:
                    self._queue.put(None)
                    break
                batch.append(extra)
            try:
                self._write(batch)
            finally:
                with self._done:
                    self._pending -= len(batch)
                    self._done.notify_all()

    def _write(self, batch: list[Job]) -> None:
        try:
            with self.lock.held() as lock_fd:
                repo = JournalRepo(journal_dir(self.tutor_dir), lock_fd)
                index = self._index
                if not self._repaired:
                    repo.ensure()
                    self._repaired = True
                synchronise(repo, index)
                for job in batch:
                    try:
                        self._apply_with_retry(repo, index, job)
                    except Exception as error:  # one bad job must not cost the rest of the batch
                        self._note_error(error, type(job).__name__)
        except Exception as error:  # the journal must never take the tutor down
            self._note_error(error, f"batch of {len(batch)} jobs")

    def _note_error(self, error: Exception, what: str) -> None:
        self.errors += 1
        self.last_error = f"{type(error).__name__}: {error}"
        log.error("journal write failed in %s (%s): %s", self.tutor_dir, what, self.last_error, exc_info=error)

    def _apply_with_retry(self, repo: JournalRepo, index: JournalIndex, job: Job) -> None:
        try:
            self._apply(repo, index, job)
        except git.GitCommandError as error:
            # Another process may have been killed mid-commit since this one repaired.
            log.warning("journal git command failed (%s); repairing and retrying once", error)
            repo.repair()
            synchronise(repo, index)
            self._apply(repo, index, job)

    def _apply(self, repo: JournalRepo, index: JournalIndex, job: Job) -> None:
        if isinstance(job, EventJob):
            index.append([job.event])
        elif isinstance(job, ReflectionJob):
            sha = repo.commit(job.lesson, {f"lessons/{job.lesson}/reflections.md": job.content}, job.subject, job.at)
            index.append([{"kind": "reflection", "lesson": job.lesson, "at": job.at, "commit": sha}])
        else:
            self._apply_attempt(repo, index, job)

    def _apply_attempt(self, repo: JournalRepo, index: JournalIndex, job: AttemptJob) -> None:
        record = job.record
        lesson_id = record["lesson"]
        if not record["environment"] and record["where"] == "local":
            record["environment"] = local_environment(job.gpu_tier)
        record["events"] = index.pending_events(lesson_id)
        changes = {f"lessons/{lesson_id}/files/{relative}": data for relative, data in job.files.items()}
        changes[f"lessons/{lesson_id}/attempt.json"] = _json_bytes(record)
        message = f"{job.subject}\n\n{commit_body(record)}"
        sha = repo.commit(lesson_id, changes, message, record["finished_at"])
        index.append([attempt_line(record, sha)])
        self._commits += 1
        if self._commits % MAINTAIN_EVERY == 0:
            repo.maintain()


def _json_bytes(data: dict[str, Any]) -> bytes:
    return (json.dumps(data, indent=2, ensure_ascii=False, sort_keys=True) + "\n").encode("utf-8")


_writers: dict[str, JournalWriter] = {}
_writers_lock = threading.Lock()


def writer_for(workspace: Workspace) -> JournalWriter:
    """Return the process's writer for this workspace, creating it on first use."""
    key = str(workspace.tutor_dir.resolve())
    with _writers_lock:
        writer = _writers.get(key)
        if writer is None:
            writer = _writers[key] = JournalWriter(workspace.tutor_dir.resolve())
        return writer


def flush_all(timeout: float | None = EXIT_FLUSH_TIMEOUT_S) -> bool:
    """Wait for every writer of this process; True when all finished within `timeout` seconds each."""
    with _writers_lock:
        writers = list(_writers.values())
    finished = True
    for writer in writers:
        started = time.monotonic()
        if not writer.flush(timeout):
            finished = False
            log.warning("the journal of %s still had unwritten jobs after %.0f s", writer.tutor_dir,
                        time.monotonic() - started)
    return finished


atexit.register(flush_all)
