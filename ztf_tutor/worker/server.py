"""The warm worker process: `python -m ztf_tutor.worker.server SOCKET FINGERPRINT`.

It imports torch, numpy and the check machinery once, then forks one fresh child per check
run. The child becomes exactly what `python -m ztf_tutor.child SPEC` is: its own session
and process group, stdout and stderr on the runner's pipe, the events pipe, the runner's
environment, default signal handlers, fresh random state, and no learner module imported.

The worker itself never runs a torch operation, so torch's OpenMP and intra-op thread pools
and CUDA are never initialised before a fork. Importing numpy starts OpenBLAS's thread pool,
but OpenBLAS shuts that pool down in a pthread_atfork handler and restarts it lazily, so the
child starts with a single thread (checked with OpenBLAS 0.3.31 as bundled with numpy).

Protocol, over a SOCK_SEQPACKET Unix socket, one JSON object per message:
  client → worker  {"op": "run", "spec": {...}, "env": {...}} with two fds (SCM_RIGHTS):
                   the write ends of the output pipe and of the events pipe
  worker → client  {"pid": N}, or {"error": "..."}
  worker → client  {"exit": returncode} when the child ends (negative: killed by that signal)
  client closes    the worker kills the child's process group and reaps the child
  client → worker  {"op": "status", "workspace": "..."} → {"pid", "threads", "fingerprint", ...}

The worker reaps a child only after its client has closed the connection, so until then the
child's pid and process-group id cannot be reused and the client may `killpg` it safely.
The worker exits when its stdin reaches end of file, which happens when its owner exits.
"""

from __future__ import annotations

import gc
import json
import logging
import os
import selectors
import shutil
import signal
import socket
import sys
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

# Captured before anything else runs, so that a child gets the handlers a fresh interpreter has.
_STARTUP_HANDLERS = {
    number: signal.getsignal(number)
    for number in signal.valid_signals()
    if number not in (signal.SIGKILL, signal.SIGSTOP) and signal.getsignal(number) is not None
}
_STARTUP_MASK = signal.pthread_sigmask(signal.SIG_BLOCK, [])

log = logging.getLogger("ztf_tutor.worker.server")

MESSAGE_LIMIT = 1 << 20
READY_LINE = b"ready\n"
PRIVATE_FOLDER_PREFIX = "ztf-worker-"


def preload() -> None:
    """Import what every check needs, without running any torch operation."""
    import numpy  # noqa: F401
    import numpy.random  # noqa: F401  # numpy imports it lazily; its first import costs ~30 ms
    import torch  # noqa: F401

    from .. import checking, child, verdict  # noqa: F401

    # Move every object imported so far out of the collector's reach, so a child's first
    # collection does not walk (and copy-on-write) the whole of torch's heap.
    gc.collect()
    gc.freeze()


@dataclass
class ChildRun:
    """A forked check child and the client connection that owns it."""

    pid: int
    pidfd: int
    connection: socket.socket | None
    returncode: int | None = None
    reaped: bool = False


def returncode_of(result: os.waitid_result) -> int:
    """Turn a waitid result into subprocess's convention: the exit code, or -signal."""
    if result.si_code == os.CLD_EXITED:
        return result.si_status
    return -result.si_status


class Worker:
    """The accept-fork-reap loop. Single-threaded, so a fork never copies another thread."""

    def __init__(self, socket_path: Path, fingerprint: str) -> None:
        self.socket_path = socket_path
        self.fingerprint = fingerprint
        self.selector = selectors.DefaultSelector()
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.listener.bind(str(socket_path))
        self.listener.listen(16)
        self.connections: dict[socket.socket, ChildRun | None] = {}
        self.by_pidfd: dict[int, ChildRun] = {}
        # sys.path as a fresh interpreter started by the runner would have it, less its first
        # entry (the current folder), which main() dropped and a child sets to the workspace.
        self.base_path = list(sys.path)
        self.running = True

    def serve(self) -> None:
        self.selector.register(self.listener, selectors.EVENT_READ, self._accept)
        self.selector.register(sys.stdin.fileno(), selectors.EVENT_READ, self._owner_input)
        os.write(sys.stdout.fileno(), READY_LINE)
        log.info("worker %s ready on %s", os.getpid(), self.socket_path)
        while self.running:
            for key, _ in self.selector.select():
                key.data(key.fileobj)
        self._shutdown()

    def _accept(self, listener: socket.socket) -> None:
        connection, _ = listener.accept()
        self.connections[connection] = None
        self.selector.register(connection, selectors.EVENT_READ, self._request)

    def _owner_input(self, fd: int) -> None:
        if not os.read(fd, 4096):
            log.info("owner closed stdin; worker %s stops", os.getpid())
            self.running = False

    def _request(self, connection: socket.socket) -> None:
        try:
            data, fds, _, _ = socket.recv_fds(connection, MESSAGE_LIMIT, 2)
        except OSError as error:
            log.warning("reading a request failed: %s", error)
            data, fds = b"", []
        if not data:
            for fd in fds:
                os.close(fd)
            self._close(connection)
            return
        try:
            request = json.loads(data)
            if request.get("op") == "run":
                self._start_child(connection, request, fds)
            elif request.get("op") == "status":
                connection.send(json.dumps(self._status(request.get("workspace"))).encode())
            else:
                connection.send(json.dumps({"error": f"unknown request {request.get('op')!r}"}).encode())
        finally:
            for fd in fds:
                os.close(fd)

    def _start_child(self, connection: socket.socket, request: dict[str, Any], fds: list[int]) -> None:
        if self.connections.get(connection) is not None or len(fds) != 2:
            connection.send(json.dumps({"error": "a run needs a new connection and two fds"}).encode())
            return
        pid = os.fork()
        if pid == 0:
            become_check_child(self, request, fds)
        pidfd = os.pidfd_open(pid)
        run = ChildRun(pid, pidfd, connection)
        self.connections[connection] = run
        self.by_pidfd[pidfd] = run
        self.selector.register(pidfd, selectors.EVENT_READ, self._child_exited)
        connection.send(json.dumps({"pid": pid}).encode())
        log.debug("forked check child %s", pid)

    def _child_exited(self, pidfd: int) -> None:
        run = self.by_pidfd[pidfd]
        self.selector.unregister(pidfd)
        # WNOWAIT leaves the child a zombie: its pid and group stay reserved for the client.
        result = os.waitid(os.P_PID, run.pid, os.WEXITED | os.WNOWAIT)
        assert result is not None  # None comes only with WNOHANG, and the pidfd reported the exit
        run.returncode = returncode_of(result)
        if run.connection is None:
            self._reap(run)
            return
        try:
            run.connection.send(json.dumps({"exit": run.returncode}).encode())
        except OSError:
            self._close(run.connection)

    def _close(self, connection: socket.socket) -> None:
        """Kill what is left of the client's run and reap the child, because the client is done or gone."""
        run = self.connections.pop(connection, None)
        self.selector.unregister(connection)
        connection.close()
        if run is None:
            return
        run.connection = None
        kill_group(run.pid)
        if run.returncode is not None:
            self._reap(run)  # otherwise _child_exited reaps it once the SIGKILL lands

    def _reap(self, run: ChildRun) -> None:
        os.waitpid(run.pid, 0)
        os.close(run.pidfd)
        self.by_pidfd.pop(run.pidfd, None)
        run.reaped = True

    def _status(self, workspace: str | None) -> dict[str, Any]:
        import torch

        learner_modules = []
        if workspace:
            root = os.path.realpath(workspace) + os.sep
            for name, module in list(sys.modules.items()):
                filename = getattr(module, "__file__", None)
                if filename and os.path.realpath(filename).startswith(root):
                    learner_modules.append(name)
        return {
            "pid": os.getpid(),
            "fingerprint": self.fingerprint,
            "threads": len(os.listdir("/proc/self/task")),
            "cuda_initialized": bool(torch.cuda.is_initialized()),
            "learner_modules": learner_modules,
            "children": len(self.by_pidfd),
        }

    def _shutdown(self) -> None:
        for run in list(self.by_pidfd.values()):
            kill_group(run.pid)
            self._reap(run)
        self.listener.close()
        self.socket_path.unlink(missing_ok=True)
        # WarmWorker's private folder (socket and log) would outlive an owner that was killed.
        if self.socket_path.parent.name.startswith(PRIVATE_FOLDER_PREFIX):
            shutil.rmtree(self.socket_path.parent, ignore_errors=True)


def kill_group(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def become_check_child(worker: Worker, request: dict[str, Any], fds: list[int]) -> NoReturn:
    """Turn a freshly forked copy of the worker into a check child; never returns."""
    try:
        output_fd, events_fd = fds
        os.setsid()
        restore_signals()
        redirect_streams(output_fd)
        close_worker_fds(worker, keep={events_fd})
        reset_interpreter_state(request, worker.base_path)

        from .. import child

        spec = dict(request["spec"], events_fd=events_fd)
        sys.argv = [child.__file__, json.dumps(spec)]
        # As under `python -m ztf_tutor.child`; multiprocessing's spawn re-imports __main__.
        sys.modules["__main__"] = child
        child.run_and_exit(spec)
    except BaseException:  # noqa: BLE001 - the fork must never return into the worker's loop
        try:
            traceback.print_exc()
            sys.stderr.flush()
        finally:
            os._exit(70)


def restore_signals() -> None:
    for number, handler in _STARTUP_HANDLERS.items():
        try:
            signal.signal(number, handler)
        except (OSError, ValueError):
            continue  # a signal Python may not set; it keeps the inherited disposition
    signal.pthread_sigmask(signal.SIG_SETMASK, _STARTUP_MASK)


def redirect_streams(output_fd: int) -> None:
    """stdin from /dev/null, stdout and stderr to the runner's output pipe, as in a cold child."""
    sys.stdout.flush()
    sys.stderr.flush()
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    os.dup2(output_fd, 1)
    os.dup2(output_fd, 2)
    os.close(output_fd)


def close_worker_fds(worker: Worker, keep: set[int]) -> None:
    """Close the worker's sockets, selector and pidfds, which the child must not hold."""
    worker.listener.close()
    for connection in worker.connections:
        connection.close()
    for pidfd in worker.by_pidfd:
        if pidfd not in keep:
            os.close(pidfd)
    worker.selector.close()


def reset_interpreter_state(request: dict[str, Any], base_path: list[str]) -> None:
    """Give the child the runner's environment, the workspace's import path and fresh seeds."""
    import random

    import numpy

    os.environ.clear()
    os.environ.update(request["env"])
    workspace = request["spec"]["workspace"]
    os.chdir(workspace)
    sys.path[:] = [workspace, *base_path]

    # A fresh interpreter seeds these from the OS; a fork would repeat the worker's state.
    # torch's default generator is untouched in the worker, so it already matches a fresh import.
    random.seed()
    numpy.random.seed()

    logging.root.handlers.clear()
    logging.root.setLevel(logging.WARNING)


def main() -> None:
    socket_path, fingerprint = Path(sys.argv[1]), sys.argv[2]
    # `-m` put the current folder (the worker's private folder) first; a child puts the
    # workspace there instead, as `python -m ztf_tutor.child` run in the workspace does.
    if sys.path and os.path.realpath(sys.path[0] or ".") == os.path.realpath(os.getcwd()):
        sys.path.pop(0)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    preload()
    Worker(socket_path, fingerprint).serve()


if __name__ == "__main__":
    main()
