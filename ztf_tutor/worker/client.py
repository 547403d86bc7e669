"""The tutor's side of the warm worker: start, reuse, replace, and fork check children from it.

One worker runs per workspace for as long as the tutor process that started it. A run calls
`start_warm_child`, which returns None whenever the worker cannot serve the run right now
(still importing torch, dead, stale, or refusing), and the runner then starts a cold child.
A dead or stale worker is replaced in the background, so the next run finds a warm one.
"""

from __future__ import annotations

import atexit
import json
import logging
import os
import select
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import IO, Any

from .fingerprint import code_fingerprint
from .server import PRIVATE_FOLDER_PREFIX

log = logging.getLogger(__name__)

MESSAGE_LIMIT = 1 << 20
HANDSHAKE_TIMEOUT_S = 5.0
STOP_GRACE_S = 2.0
# A worker that dies before it is ready (a broken torch install, say) is retried this often.
FAILED_START_RETRY_S = 60.0


def warm_supported() -> bool:
    """Report whether this system can fork warm children: Linux with pidfd_open (kernel 5.3 or later)."""
    global _SUPPORTED
    if _SUPPORTED is None:
        try:
            os.close(os.pidfd_open(os.getpid()))
            _SUPPORTED = True
        except (AttributeError, OSError):
            _SUPPORTED = False
    return _SUPPORTED


_SUPPORTED: bool | None = None


class WorkerUnavailable(Exception):
    """The worker could not start a child; the caller falls back to a cold one."""


class WarmChild:
    """A check child forked by the worker, with the subset of subprocess.Popen the runner uses.

    The exit status comes from the worker over `connection`. `pidfd` refers to the child itself,
    so if the worker dies mid-run the client can still wait for the child to end.

    NOTE: once the worker is lost, the orphaned child is reaped by init, so the runner's final
    killpg by pid could in principle reach a new group that reused the pid.
    """

    def __init__(self, connection: socket.socket, pid: int, stdout_fd: int) -> None:
        self.connection = connection
        self.pid = pid
        self.stdout: IO[Any] = os.fdopen(stdout_fd, "rb")  # typed as Popen.stdout is
        self.returncode: int | None = None
        self.worker_lost = False
        self.pidfd: int | None = os.pidfd_open(pid)

    def poll(self) -> int | None:
        self._receive(0)
        return self.returncode

    def wait(self, timeout: float | None = None) -> int | None:
        """Wait for the child to end; returncode stays None only when the worker died mid-run."""
        if not self._receive(timeout):
            raise subprocess.TimeoutExpired(f"warm check child {self.pid}", timeout or 0)
        return self.returncode

    def _receive(self, timeout: float | None) -> bool:
        """Read the worker's exit report; True when the child has ended."""
        if self.returncode is not None or self.worker_lost and self._child_ended(0):
            return True
        if self.worker_lost:
            return self._child_ended(timeout)
        ready, _, _ = select.select([self.connection], [], [], timeout)
        if not ready:
            return False
        try:
            data = self.connection.recv(MESSAGE_LIMIT)
        except OSError:
            data = b""
        if not data:
            log.warning("warm worker closed the connection while child %s ran", self.pid)
            self.worker_lost = True
            return self._child_ended(timeout)
        self.returncode = int(json.loads(data)["exit"])
        return True

    def _child_ended(self, timeout: float | None) -> bool:
        assert self.pidfd is not None
        ready, _, _ = select.select([self.pidfd], [], [], timeout)
        return bool(ready)

    def release(self) -> None:
        """Tell the worker the run is over, so it kills what is left of the group and reaps the child."""
        self.connection.close()
        if self.pidfd is not None:
            os.close(self.pidfd)
            self.pidfd = None


class WarmWorker:
    """One worker process, its private folder (socket and log) and its readiness."""

    def __init__(self, environment: dict[str, str]) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix=PRIVATE_FOLDER_PREFIX))
        self.socket_path = self.folder / "socket"
        self.log_path = self.folder / "worker.log"
        self.fingerprint = code_fingerprint(environment)
        self.ready = threading.Event()
        self.ended = threading.Event()
        self.ever_ready = False
        self.started_at = time.monotonic()
        with open(self.log_path, "wb") as log_file:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "ztf_tutor.worker.server", str(self.socket_path), self.fingerprint],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=log_file,
                cwd=self.folder,
                env=environment,
                start_new_session=True,  # the terminal's Ctrl-C goes to the tutor, not to the worker
            )
        threading.Thread(target=self._watch, daemon=True, name=f"ztf-worker-{self.process.pid}").start()
        log.info("starting warm worker %s (log %s)", self.process.pid, self.log_path)

    def _watch(self) -> None:
        """Mark the worker ready when it prints its ready line, and ended when its stdout closes."""
        assert self.process.stdout is not None
        if self.process.stdout.readline() == b"ready\n":
            self.ever_ready = True
            self.ready.set()
        self.process.stdout.read()
        self.ended.set()
        self.ready.clear()
        code = self.process.wait()
        if self.ever_ready:
            log.info("warm worker %s ended with code %s", self.process.pid, code)
        else:
            log.warning("warm worker %s failed to start (code %s); see %s", self.process.pid, code, self.log_path)

    def usable(self) -> bool:
        return self.ready.is_set() and not self.ended.is_set() and self.process.poll() is None

    def _connect(self) -> socket.socket:
        connection = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        connection.settimeout(HANDSHAKE_TIMEOUT_S)
        try:
            connection.connect(str(self.socket_path))
        except OSError:
            connection.close()
            raise
        return connection

    def _reply(self, connection: socket.socket) -> dict[str, Any]:
        data = connection.recv(MESSAGE_LIMIT)
        if not data:
            raise WorkerUnavailable("the worker closed the connection")
        reply = json.loads(data)
        if "error" in reply:
            raise WorkerUnavailable(reply["error"])
        return reply

    def spawn(self, spec: dict[str, Any], environment: dict[str, str]) -> WarmChild:
        """Fork a check child; its stdout/stderr pipe is created here, events_fd comes in spec."""
        output_read, output_write = os.pipe()
        try:
            connection = self._connect()
            try:
                request = json.dumps({"op": "run", "spec": spec, "env": environment}).encode()
                socket.send_fds(connection, [request], [output_write, int(spec["events_fd"])])
                pid = int(self._reply(connection)["pid"])
            except BaseException:
                connection.close()
                raise
        except (OSError, ValueError, KeyError) as error:
            os.close(output_read)
            raise WorkerUnavailable(str(error)) from error
        except BaseException:
            os.close(output_read)
            raise
        finally:
            os.close(output_write)
        connection.settimeout(None)
        return WarmChild(connection, pid, output_read)

    def status(self, workspace: Path | None = None) -> dict[str, Any]:
        """Request the worker's own report: pid, thread count, CUDA state, learner modules it imported."""
        connection = self._connect()
        try:
            connection.send(json.dumps({"op": "status", "workspace": str(workspace or "")}).encode())
            return self._reply(connection)
        finally:
            connection.close()

    def stop(self) -> None:
        """Close the worker's stdin (it kills its children and exits), then remove its folder."""
        try:
            if self.process.stdin is not None:
                self.process.stdin.close()
            self.process.wait(timeout=STOP_GRACE_S)
        except (OSError, subprocess.TimeoutExpired):
            self.process.kill()
            self.process.wait()
        shutil.rmtree(self.folder, ignore_errors=True)


_workers: dict[Path, WarmWorker] = {}
_lock = threading.Lock()


def prewarm(workspace: Path, environment: dict[str, str] | None = None) -> WarmWorker | None:
    """Start the workspace's worker now (if none is running or starting), so the first save is warm.

    Returns None where warm children are not supported (see warm_supported).
    """
    from ..runner import child_environment

    if not warm_supported():
        return None
    key = workspace.resolve()
    environment = environment or child_environment()
    with _lock:
        worker = _workers.get(key)
        if worker is not None and not worker.ended.is_set() and worker.process.poll() is None:
            if worker.fingerprint == code_fingerprint(environment):
                return worker
            log.info("check code or packages changed; restarting warm worker %s", worker.process.pid)
        elif worker is not None and not worker.ever_ready and time.monotonic() - worker.started_at < FAILED_START_RETRY_S:
            return worker  # it failed to start; runs stay cold until the retry delay has passed
        elif worker is not None:
            log.info("warm worker %s is gone; starting a new one", worker.process.pid)
        if worker is not None:
            worker.stop()
        worker = WarmWorker(environment)
        _workers[key] = worker
        return worker


def start_warm_child(workspace: Path, spec: dict[str, Any], environment: dict[str, str]) -> WarmChild | None:
    """Fork the run's child from the workspace's warm worker, or return None to run cold.

    A missing, dead or stale worker is (re)started in the background for the next run.
    """
    worker = prewarm(workspace, environment)
    if worker is None:
        return None
    if not worker.usable():
        log.info("warm worker %s is not ready; this run starts cold", worker.process.pid)
        return None
    try:
        return worker.spawn(spec, environment)
    except WorkerUnavailable as error:
        log.info("warm worker %s failed (%s); this run starts cold and the worker restarts", worker.process.pid, error)
        worker.process.kill()
        worker.process.wait()
        prewarm(workspace, environment)
        return None


def worker_for(workspace: Path) -> WarmWorker | None:
    """Return the workspace's current worker, if one was started."""
    with _lock:
        return _workers.get(workspace.resolve())


def stop_worker(workspace: Path) -> None:
    """Stop the workspace's worker, if this process started one."""
    with _lock:
        worker = _workers.pop(workspace.resolve(), None)
    if worker is not None:
        worker.stop()


def stop_workers() -> None:
    """Stop every worker this process started."""
    with _lock:
        workers = list(_workers.values())
        _workers.clear()
    for worker in workers:
        worker.stop()


atexit.register(stop_workers)
