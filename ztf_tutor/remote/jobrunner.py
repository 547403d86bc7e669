"""The remote side of a remote check: `python -m ztf_tutor.remote.jobrunner ACTION JOB_DIR`.

This module runs on the learner's GPU machine, so it imports only the standard library and
ztf_tutor.verdict. A job folder (DIR/jobs/ID) holds:

  spec.json      what to run, written by the local side before the runner starts
  pids.json      the runner's pid and process group, and the check process's group
  events.jsonl   the check process's event lines (the same ones the local runner reads)
  status.json    written once, atomically, when the job ends: state and verdict
  runner.log     the runner's own stdout and stderr

Actions:
  run     run the job detached: a new session, SIGHUP ignored, its own deadline
  follow  print the event lines as they come, then one {"event": "job_end"} line
  cancel  stop the job and kill both process groups
  state   print {"state": "running" | "ended" | "missing"}
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from ..verdict import ERROR, CheckResult, judge_criteria, overall_status, summarize_events

POLL_S = 0.2
CANCEL_GRACE_S = 5.0
# A runner that has not written pids.json this long after the follower started never started.
START_GRACE_S = 20.0
FAULT_FRAME = re.compile(r'File "(?P<path>.+?)", line (?P<line>\d+) in (?P<function>\S+)')

DONE, TIMEOUT, CANCELLED, CRASHED, RUNNER_FAILED = "done", "timeout", "cancelled", "crashed", "runner_failed"


def write_json_atomic(path: Path, data: Any) -> None:
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.write_text(json.dumps(data), encoding="utf-8")
    os.replace(temporary, path)


def read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def process_alive(pid: int) -> bool:
    """True while the process exists and is not a zombie."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return fields[0] != "Z"
    except (OSError, IndexError):
        return True  # no /proc (macOS): trust kill(0)


def kill_group(pgid: int | None, sig: int = signal.SIGKILL) -> None:
    if not pgid:
        return
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


class TailBuffer:
    """Keeps the first and last `limit` bytes of the check's output."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.head = bytearray()
        self.tail = bytearray()
        self.total = 0

    def write(self, chunk: bytes) -> None:
        self.total += len(chunk)
        room = self.limit - len(self.head)
        if room > 0:
            self.head += chunk[:room]
            chunk = chunk[room:]
        self.tail += chunk
        if len(self.tail) > 2 * self.limit:
            del self.tail[:-self.limit]

    def text(self) -> str:
        tail = bytes(self.tail[-self.limit:])
        omitted = self.total - len(self.head) - len(tail)
        middle = f"\n… {omitted:,} bytes of output omitted …\n" if omitted > 0 else ""
        return self.head.decode("utf-8", "replace") + middle + tail.decode("utf-8", "replace")


def child_environment(package_root: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(PYTHONDONTWRITEBYTECODE="1", PYTHONUNBUFFERED="1", PYTHONHASHSEED="0",
               MPLBACKEND="Agg", PYTHONFAULTHANDLER="1")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(package_root), env.get("PYTHONPATH")]))
    return env


def read_events(path: Path) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    try:
        lines = path.read_bytes().splitlines()
    except OSError:
        return events
    for line in lines:
        try:
            event = json.loads(line)
        except ValueError:
            continue
        if isinstance(event, dict):
            events.append(event)
    return events


def describe_signal(number: int, location: str | None) -> str:
    try:
        name = signal.Signals(number).name
    except ValueError:
        name = f"signal {number}"
    at = f" at {location}" if location else ""
    if number == signal.SIGSEGV:
        return (f"the check process crashed with a segmentation fault ({name}){at}. Look for out-of-bounds "
                "memory access, e.g. through ctypes or a C extension.")
    if number == signal.SIGKILL:
        return f"the check process was killed ({name}){at}, most likely by the system for using too much memory."
    return f"the check process was killed by {name}{at}."


def fault_location(output: str, workspace: Path) -> str | None:
    root = str(workspace)
    for match in FAULT_FRAME.finditer(output):
        path = os.path.abspath(match.group("path"))
        if path.startswith(root + os.sep):
            return f"{os.path.relpath(path, root)}:{match.group('line')}"
    return None


def build_verdict(spec: dict[str, Any], events: list[dict[str, Any]], problem: str | None) -> CheckResult:
    """Combine the event lines into a verdict, the way the local runner does."""
    summary = summarize_events(events)
    problem = problem or summary.broken or summary.exit_call
    if not summary.finished and not problem:
        problem = "the check process exited before it finished."
    criteria, problem = judge_criteria(summary, problem)
    return CheckResult(lesson=spec.get("lesson", ""), tier=spec["tier"],
                       status=ERROR if problem else overall_status(criteria),
                       duration_s=0.0, criteria=criteria, message=problem or "")


def run_job(job_dir: Path) -> int:
    """Run the check of JOB_DIR/spec.json to its end, its deadline or a cancel."""
    try:
        os.setsid()  # leave the ssh session's process group: a dropped connection cannot reach us
    except OSError:
        pass  # already a session leader (started through setsid)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    cancelled = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: cancelled.set())

    job_dir = job_dir.resolve()
    base = job_dir.parent.parent
    spec = json.loads((job_dir / "spec.json").read_text(encoding="utf-8"))
    write_json_atomic(job_dir / "pids.json", {"runner": os.getpid(), "runner_pgid": os.getpgid(0)})
    try:
        state, result = supervise(job_dir, base, spec, cancelled)
    except Exception as error:  # a bug here must still end the job with a status
        import traceback

        traceback.print_exc()
        state, result = RUNNER_FAILED, CheckResult(spec.get("lesson", ""), spec.get("tier", "full"), ERROR, 0.0,
                                                   message=f"the remote job runner failed: {type(error).__name__}: {error}")
    write_json_atomic(job_dir / "status.json", {"state": state, "result": result.to_json(include_output=True),
                                               "finished_at": time.time()})
    return 0


def supervise(job_dir: Path, base: Path, spec: dict[str, Any], cancelled: threading.Event) -> tuple[str, CheckResult]:
    workspace = base / "sync" / "workspace"
    scratch = job_dir / "scratch"
    events_path = job_dir / "events.jsonl"
    events_fd = os.open(events_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    child_spec = {
        "workspace": str(workspace),
        "check_file": str(base / "sync" / "checks" / spec["check"] / "check.py"),
        "tier": spec["tier"],
        "events_fd": events_fd,
        "scratch": str(scratch),
        "memory_limit_mb": spec.get("memory_limit_mb"),
        "data_dir": str(base / "data"),
    }
    started = time.monotonic()
    try:
        process = subprocess.Popen(
            [sys.executable, "-m", "ztf_tutor.child", json.dumps(child_spec)],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            pass_fds=(events_fd,), start_new_session=True, cwd=str(workspace),
            env=child_environment(base / "sync"),
        )
    finally:
        os.close(events_fd)
    pids = read_json(job_dir / "pids.json") or {}
    write_json_atomic(job_dir / "pids.json", {**pids, "child_pgid": process.pid})

    output = TailBuffer(int(spec.get("output_limit_bytes", 65536)))
    drain = threading.Thread(target=drain_output, args=(process, output), daemon=True)
    drain.start()
    deadline = started + float(spec["timeout_s"])
    timed_out = False
    while True:
        try:
            process.wait(timeout=POLL_S)
            break
        except subprocess.TimeoutExpired:
            pass
        if cancelled.is_set():
            break
        if time.monotonic() >= deadline:
            timed_out = True
            break
    # Kill the group even after a clean exit: learner code may have left children behind.
    kill_group(process.pid)
    process.wait()
    drain.join(timeout=2.0)
    duration = time.monotonic() - started
    _remove_tree(scratch)

    text = output.text()
    state, problem = DONE, None
    if cancelled.is_set():
        state, problem = CANCELLED, "the job was cancelled."
    elif timed_out:
        state = TIMEOUT
        problem = (f"timed out after {float(spec['timeout_s']):g} s on the remote. Look for an infinite loop "
                   "or a loop that runs far more steps than needed.")
    elif process.returncode < 0:
        state, problem = CRASHED, describe_signal(-process.returncode, fault_location(text, workspace))
    result = build_verdict(spec, read_events(events_path), problem)
    result.duration_s = duration
    result.output = text
    result.output_bytes = output.total
    return state, result


def drain_output(process: subprocess.Popen, output: TailBuffer) -> None:
    assert process.stdout is not None
    while chunk := process.stdout.read1(65536):  # type: ignore[attr-defined]
        output.write(chunk)


def _remove_tree(path: Path) -> None:
    import shutil

    shutil.rmtree(path, ignore_errors=True)


def emit(data: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(data) + "\n")
    sys.stdout.flush()


def follow_job(job_dir: Path) -> int:
    """Stream the job's event lines to stdout until its status appears."""
    if not job_dir.is_dir():
        emit({"event": "job_missing"})
        return 0
    events_path, status_path = job_dir / "events.jsonl", job_dir / "status.json"
    position = 0
    pending = b""
    began = time.monotonic()
    while True:
        ended = status_path.exists()  # look before reading, so no event written before the end is missed
        try:
            with events_path.open("rb") as stream:
                stream.seek(position)
                chunk = stream.read()
        except FileNotFoundError:
            chunk = b""
        position += len(chunk)
        pending += chunk
        *lines, pending = pending.split(b"\n")
        for line in lines:
            if line.strip():
                sys.stdout.write(line.decode("utf-8", "replace") + "\n")
        sys.stdout.flush()
        if ended:
            emit({"event": "job_end", **(read_json(status_path) or {"state": RUNNER_FAILED})})
            return 0
        if not runner_running(job_dir, began):
            if status_path.exists():
                continue
            # Without its runner nothing enforces the deadline, so the orphaned check must go too.
            kill_group((read_json(job_dir / "pids.json") or {}).get("child_pgid"))
            emit({"event": "job_lost", "free_bytes": free_bytes(job_dir), "log": log_tail(job_dir)})
            return 0
        time.sleep(POLL_S)


def runner_running(job_dir: Path, began: float) -> bool:
    pids = read_json(job_dir / "pids.json")
    if not pids:
        return time.monotonic() - began < START_GRACE_S
    return process_alive(int(pids["runner"]))


def free_bytes(path: Path) -> int:
    stats = os.statvfs(path)
    return stats.f_bavail * stats.f_frsize


def log_tail(job_dir: Path, limit: int = 2000) -> str:
    try:
        return (job_dir / "runner.log").read_text(encoding="utf-8", errors="replace")[-limit:]
    except OSError:
        return ""


def cancel_job(job_dir: Path) -> int:
    """Stop the runner, kill both process groups and make sure a status is written."""
    status_path = job_dir / "status.json"
    pids = read_json(job_dir / "pids.json") or {}
    already_ended = status_path.exists()
    if pids.get("runner") and not already_ended:
        try:
            os.kill(int(pids["runner"]), signal.SIGTERM)
        except ProcessLookupError:
            pass
        limit = time.monotonic() + CANCEL_GRACE_S
        while time.monotonic() < limit and not status_path.exists():
            time.sleep(POLL_S)
    # Whatever the runner did, nothing of the job may survive.
    kill_group(pids.get("child_pgid"))
    kill_group(pids.get("runner_pgid"))
    if not status_path.exists() and job_dir.is_dir():
        spec = read_json(job_dir / "spec.json") or {}
        result = CheckResult(spec.get("lesson", ""), spec.get("tier", "full"), ERROR, 0.0, message="the job was cancelled.")
        write_json_atomic(status_path, {"state": CANCELLED, "result": result.to_json(), "finished_at": time.time()})
    emit({"cancelled": not already_ended, "state": (read_json(status_path) or {}).get("state")})
    return 0


def job_state(job_dir: Path) -> int:
    if not job_dir.is_dir():
        state = "missing"
    elif (job_dir / "status.json").exists():
        state = "ended"
    else:
        state = "running" if runner_running(job_dir, time.monotonic()) else "ended"
    emit({"state": state})
    return 0


ACTIONS = {"run": run_job, "follow": follow_job, "cancel": cancel_job, "state": job_state}


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[0] not in ACTIONS:
        sys.stderr.write(f"usage: python -m ztf_tutor.remote.jobrunner {{{','.join(ACTIONS)}}} JOB_DIR\n")
        return 2
    return ACTIONS[argv[0]](Path(argv[1]))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
