"""Run a lesson's checkpoint in a child process and turn whatever happens into a verdict.

Learner code never runs in the tutor's process. The child runs in its own process group, so
a timeout or a cancel kills everything it started. Its output is drained continuously into a
bounded buffer (the first and last parts are kept), so a learner printing 200 MB never blocks
the child on a full pipe and never fills the tutor's memory.

With `warm=True` the child is forked from the workspace's warm worker (ztf_tutor.worker), which
has torch already imported; the child behaves as the cold one does, and the run falls back to a
cold child whenever the worker cannot serve it. GPU tiers always start cold, because CUDA in a
forked child of a process that imported torch is not supported.
"""

from __future__ import annotations

import json
import logging
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .config import Settings, load_settings
from .curriculum import Lesson
from .verdict import (
    ERROR,
    CheckResult,
    EventSummary,
    judge_criteria,
    overall_status,
    summarize_events,
)

if TYPE_CHECKING:
    from .worker import WarmChild

log = logging.getLogger(__name__)

EventCallback = Callable[[dict[str, Any]], None]
FAULT_FRAME = re.compile(r'File "(?P<path>[^"]+)", line (?P<line>\d+) in (?P<function>\S+)')
KILL_GRACE_S = 2.0


class BoundedOutput:
    """Keeps the first `limit` and last `limit` bytes of a stream, and counts the rest."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.head = bytearray()
        self.tail: deque[bytes] = deque()
        self.tail_size = 0
        self.total = 0
        self.lock = threading.Lock()

    def write(self, chunk: bytes) -> None:
        with self.lock:
            self.total += len(chunk)
            room = self.limit - len(self.head)
            if room > 0:
                self.head += chunk[:room]
                chunk = chunk[room:]
            if not chunk:
                return
            self.tail.append(chunk)
            self.tail_size += len(chunk)
            while self.tail and self.tail_size - len(self.tail[0]) >= self.limit:
                self.tail_size -= len(self.tail.popleft())

    def text(self) -> str:
        with self.lock:
            tail = b"".join(self.tail)[-self.limit:] if self.tail else b""
            omitted = self.total - len(self.head) - len(tail)
            head_text = self.head.decode("utf-8", errors="replace")
            if omitted <= 0:
                return head_text + tail.decode("utf-8", errors="replace")
            middle = f"\n… {omitted:,} bytes of output omitted …\n"
            return head_text + middle + tail.decode("utf-8", errors="replace")


@dataclass
class RunLimits:
    """The limits one run is held to."""

    timeout_s: float
    memory_limit_mb: int | None
    output_limit_bytes: int


def limits_for(lesson: Lesson, tier: str, settings: Settings, timeout_s: float | None = None) -> RunLimits:
    """Combine the lesson's tier, the user config and a command-line override."""
    tier_info = lesson.tiers[tier]
    configured = settings.check.timeout_fast if tier == "fast" else settings.check.timeout_full
    timeout = timeout_s or configured or tier_info.timeout_s
    # NOTE: an address-space ceiling breaks CUDA, which reserves huge virtual ranges, so a GPU
    # tier runs without one.
    memory = None if tier_info.gpu else settings.check.memory_limit_mb
    return RunLimits(float(timeout), memory, settings.check.output_limit_kb * 1024)


def lesson_mtimes(workspace: Path, lesson: Lesson) -> dict[str, float]:
    """Modification times of the lesson's learner files, taken just before a run starts."""
    mtimes = {}
    for relative in lesson.files:
        try:
            mtimes[relative] = (workspace / relative).stat().st_mtime
        except OSError:
            mtimes[relative] = 0.0
    return mtimes


def child_environment() -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        PYTHONDONTWRITEBYTECODE="1",  # no __pycache__ in the workspace: stale bytecode and watcher noise
        PYTHONUNBUFFERED="1",
        PYTHONHASHSEED="0",
        MPLBACKEND="Agg",
        PYTHONFAULTHANDLER="1",
    )
    # The package must be importable by the child even when run from a source checkout.
    package_root = str(Path(__file__).resolve().parent.parent)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [package_root, env.get("PYTHONPATH")]))
    return env


def kill_group(process: subprocess.Popen | WarmChild) -> None:
    """Kill the child's whole process group; harmless when it is already gone."""
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


class CheckRun:
    """One checkpoint run in a child process. Call `wait()` for the verdict, `cancel()` to stop it."""

    def __init__(
        self,
        workspace: Path,
        lesson: Lesson,
        tier: str = "fast",
        *,
        settings: Settings | None = None,
        timeout_s: float | None = None,
        on_event: EventCallback | None = None,
        warm: bool = False,
    ) -> None:
        self.workspace = workspace.resolve()
        self.lesson = lesson
        self.tier = tier
        self.settings = settings or load_settings()
        self.limits = limits_for(lesson, tier, self.settings, timeout_s)
        self.on_event = on_event
        self.output = BoundedOutput(self.limits.output_limit_bytes)
        self.events: list[dict[str, Any]] = []
        self.cancelled = threading.Event()
        self.cancel_reason = "cancelled"
        self.process: subprocess.Popen | WarmChild | None = None
        self.warm = warm
        self.via = "cold"
        """How the child started: "warm" (forked from the worker) or "cold" (a fresh interpreter)."""
        self.started_at = time.time()
        self.source_mtimes = lesson_mtimes(self.workspace, lesson)
        self._threads: list[threading.Thread] = []
        self._scratch = tempfile.TemporaryDirectory(prefix="ztf-check-")

    def start(self) -> CheckRun:
        self.started = time.perf_counter()
        read_fd = self._start_warm() if self.warm and not self.lesson.tiers[self.tier].gpu else None
        if read_fd is None:
            read_fd = self._start_cold()
        assert self.process is not None
        log.debug("check %s/%s started %s as pid %s", self.lesson.id, self.tier, self.via, self.process.pid)
        self._threads = [
            threading.Thread(target=self._drain_output, daemon=True, name="ztf-output"),
            threading.Thread(target=self._read_events, args=(read_fd,), daemon=True, name="ztf-events"),
        ]
        for thread in self._threads:
            thread.start()
        return self

    def _spec(self, events_fd: int) -> dict[str, Any]:
        return {
            "workspace": str(self.workspace),
            "check_file": str(self.lesson.check_file),
            "tier": self.tier,
            "events_fd": events_fd,
            "scratch": self._scratch.name,
            "memory_limit_mb": self.limits.memory_limit_mb,
            "data_dir": str(self.settings.data_dir()),
            "deadline": time.time() + self.limits.timeout_s,
        }

    def _start_warm(self) -> int | None:
        """Fork the child from the warm worker; return the events pipe, or None to start cold."""
        from .worker import start_warm_child

        # Each attempt gets its own events pipe, so a child lost in a failed handshake can never
        # write into the cold child's pipe.
        read_fd, write_fd = os.pipe()
        try:
            child = start_warm_child(self.workspace, self._spec(write_fd), child_environment())
        finally:
            os.close(write_fd)
        if child is None:
            os.close(read_fd)
            return None
        self.process = child
        self.via = "warm"
        return read_fd

    def _start_cold(self) -> int:
        """Start `python -m ztf_tutor.child SPEC`; return the read end of its events pipe."""
        read_fd, write_fd = os.pipe()
        spec = self._spec(write_fd)
        try:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "ztf_tutor.child", json.dumps(spec)],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                pass_fds=(write_fd,),
                start_new_session=True,
                env=child_environment(),
                cwd=str(self.workspace),
            )
        finally:
            os.close(write_fd)
        self.via = "cold"
        return read_fd

    def _drain_output(self) -> None:
        assert self.process is not None and self.process.stdout is not None
        stream = self.process.stdout
        while chunk := stream.read1(65536):  # type: ignore[attr-defined]
            self.output.write(chunk)

    def _read_events(self, fd: int) -> None:
        with os.fdopen(fd, "rb") as stream:
            for line in stream:
                try:
                    event = json.loads(line)
                except ValueError:
                    continue  # a learner writing to our pipe; ignore what is not ours
                if not isinstance(event, dict):
                    continue
                self.events.append(event)
                if self.on_event is not None:
                    try:
                        self.on_event(event)
                    except Exception:  # a broken listener must not lose the verdict
                        log.exception("event listener failed on %s", event.get("event"))

    def cancel(self, reason: str = "cancelled") -> None:
        """Stop the run; `wait()` then returns an error verdict with this reason."""
        self.cancel_reason = reason
        self.cancelled.set()

    def wait(self) -> CheckResult:
        assert self.process is not None, "call start() first"
        deadline = self.started + self.limits.timeout_s
        timed_out = False
        while True:
            try:
                self.process.wait(timeout=0.05)
                break
            except subprocess.TimeoutExpired:
                pass
            if self.cancelled.is_set():
                break
            if time.perf_counter() >= deadline:
                timed_out = True
                break
        duration = time.perf_counter() - self.started
        # Kill the group even after a clean exit: learner code may have left children behind.
        kill_group(self.process)
        self.process.wait()
        if self.via == "warm":
            self.process.release()  # type: ignore[union-attr]  # lets the worker reap the child
        for thread in self._threads:
            thread.join(timeout=KILL_GRACE_S)
        self._scratch.cleanup()
        return self._verdict(duration, timed_out)

    def _verdict(self, duration: float, timed_out: bool) -> CheckResult:
        summary = summarize_events(self.events)
        problem = summary.broken
        if not summary.finished or timed_out or self.cancelled.is_set():
            problem = problem or self._describe_abnormal_end(timed_out, summary)
        criteria, problem = judge_criteria(summary, problem)
        status = ERROR if problem else overall_status(criteria)
        return CheckResult(
            lesson=self.lesson.id,
            tier=self.tier,
            status=status,
            duration_s=duration,
            criteria=criteria,
            message=problem or "",
            output=self.output.text(),
            output_bytes=self.output.total,
            started_at=self.started_at,
            source_mtimes=self.source_mtimes,
        )

    def _describe_abnormal_end(self, timed_out: bool, summary: EventSummary) -> str:
        assert self.process is not None
        if timed_out:
            where = self._fault_location()
            at = f"; it was running {where}" if where else ""
            return (f"timed out after {self.limits.timeout_s:g} s{at}. Look for an infinite loop or a loop that "
                    "runs far more steps than needed.")
        if self.cancelled.is_set():
            return self.cancel_reason
        code = self.process.returncode
        if summary.exit_call:
            return summary.exit_call
        if code is None:
            return "the warm check worker stopped during the run, so how the check ended is unknown. Save again to rerun it."
        if code < 0:
            return self._describe_signal(-code)
        return f"the check process exited with code {code} before it finished."

    def _describe_signal(self, number: int) -> str:
        try:
            name = signal.Signals(number).name
        except ValueError:
            name = f"signal {number}"
        where = self._fault_location()
        at = f" at {where}" if where else ""
        if number == signal.SIGSEGV:
            return f"the process crashed with a segmentation fault ({name}){at}. Look for out-of-bounds memory access, e.g. through ctypes or a C extension."
        if number == signal.SIGKILL:
            return f"the process was killed ({name}){at}, most likely by the system for using too much memory."
        return f"the process was killed by {name}{at}."

    def _fault_location(self) -> str | None:
        root = str(self.workspace)
        for match in FAULT_FRAME.finditer(self.output.text()):
            path = os.path.abspath(match.group("path"))
            if path.startswith(root + os.sep):
                return f"{os.path.relpath(path, root)}:{match.group('line')}"
        return None


def run_check(
    workspace: Path,
    lesson: Lesson,
    tier: str = "fast",
    *,
    settings: Settings | None = None,
    timeout_s: float | None = None,
    on_event: EventCallback | None = None,
    warm: bool = False,
) -> CheckResult:
    """Run a lesson's checkpoint to completion and return its verdict."""
    run = CheckRun(workspace, lesson, tier, settings=settings, timeout_s=timeout_s, on_event=on_event, warm=warm)
    return run.start().wait()
