"""A check run on a remote: probe the machine, sync, start the detached job, follow it,
and reattach to or cancel it later.

The local side remembers the last job of each remote in the state folder
(remote-jobs/NAME.json), so `ztf remote attach NAME` can find the workspace and lesson
the verdict belongs to, and record it once.
"""

from __future__ import annotations

import json
import logging
import secrets
import shlex
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .. import locations
from ..config import Settings, load_settings
from ..curriculum import Lesson
from ..runner import lesson_mtimes, limits_for
from ..verdict import CheckResult
from ..workspace import write_json_atomic
from . import jobrunner
from .config import Remote, setting_hint
from .ssh import (
    AuthenticationError,
    ConnectionLostError,
    DiskFullError,
    RemoteError,
    SshClient,
    UnreachableError,
    last_line,
)
from .sync import DISK_NEARLY_FULL, sync, sync_entries

log = logging.getLogger(__name__)

EventCallback = Callable[[dict[str, Any]], None]
StatusCallback = Callable[[str], None]
MIN_PYTHON = (3, 10)
JOB_EVENTS = {"begin", "start", "criterion", "progress", "exit_called", "done", "check_broken"}

# Runs with Python 3.3 or newer, so that an interpreter older than 3.10 still gets a clear message.
PROBE_SCRIPT = r"""
import json, os, platform, shutil, sys
info = {"python": platform.python_version(), "executable": sys.executable,
        "version": list(sys.version_info[:2]), "rsync": shutil.which("rsync") is not None}
try:
    stats = os.statvfs(".")
    info["free_bytes"] = stats.f_bavail * stats.f_frsize
except Exception:
    info["free_bytes"] = None
try:
    import torch
    info["torch"] = torch.__version__
    info["cuda"] = torch.version.cuda
    available = torch.cuda.is_available()
    info["gpus"] = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())] if available else []
except Exception as error:
    info["torch"] = None
    info["torch_error"] = "%s: %s" % (type(error).__name__, error)
sys.stdout.write("ZTF-PROBE " + json.dumps(info) + "\n")
"""
PROBE_MARK = "ZTF-PROBE "


class RemoteSetupError(RemoteError):
    """The remote lacks something a check needs (Python, torch)."""

    title = "Remote not ready"


class RemoteCrashError(RemoteError):
    """The job on the remote ended without a verdict."""

    title = "Remote crash"


class JobCancelledError(RemoteError):
    title = "Remote job cancelled"


@dataclass
class RemoteInfo:
    """A remote's Python, torch, CUDA build, GPUs, rsync and free disk space, as the probe reports them."""

    python: str
    executable: str
    version: list[int]
    rsync: bool
    free_bytes: int | None = None
    torch: str | None = None
    torch_error: str | None = None
    cuda: str | None = None
    gpus: list[str] = field(default_factory=list)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RemoteInfo:
        known = {key: data[key] for key in cls.__dataclass_fields__ if key in data}
        return cls(**known)


@dataclass
class JobRecord:
    """The last job started on a remote, as this machine remembers it."""

    remote: str
    job_id: str
    lesson: str
    tier: str
    workspace: str
    started_at: float
    source_mtimes: dict[str, float]
    environment: dict[str, Any]
    ended: bool = False
    recorded: bool = False

    @property
    def job_dir(self) -> str:
        return f"jobs/{self.job_id}"


def record_path(name: str) -> Path:
    return locations.state_dir() / "remote-jobs" / f"{name}.json"


def load_record(name: str) -> JobRecord | None:
    try:
        data = json.loads(record_path(name).read_text(encoding="utf-8"))
        return JobRecord(**data)
    except FileNotFoundError:
        return None
    except (OSError, ValueError, TypeError) as error:
        log.warning("%s is unreadable (%s); ignoring it", record_path(name), error)
        return None


def save_record(record: JobRecord) -> None:
    write_json_atomic(record_path(record.remote), asdict(record))


def jobrunner_command(remote: Remote, action: str, job_dir: str) -> str:
    """Build the shell command that runs a jobrunner action in the remote's folder."""
    return (f"cd {shlex.quote(remote.remote_dir)} && PYTHONDONTWRITEBYTECODE=1 PYTHONPATH=\"$PWD/sync\" "
            f"{shlex.quote(remote.python)} -m ztf_tutor.remote.jobrunner {action} {shlex.quote(job_dir)}")


def probe(client: SshClient) -> RemoteInfo:
    """Connect, create the remote folder and report Python, torch, CUDA, GPUs and rsync."""
    remote = client.remote
    folder = shlex.quote(remote.remote_dir)
    command = f"mkdir -p {folder} && cd {folder} && {shlex.quote(remote.python)} -c {shlex.quote(PROBE_SCRIPT)}"
    completed = client.run(command, timeout=180)
    stdout = completed.stdout.decode("utf-8", "replace")
    stderr = completed.stderr.decode("utf-8", "replace")
    for line in stdout.splitlines():
        if line.startswith(PROBE_MARK):
            info = RemoteInfo.from_json(json.loads(line[len(PROBE_MARK):]))
            break
    else:
        raise probe_failure(remote, completed.returncode, stderr)
    if tuple(info.version) < MIN_PYTHON:
        raise RemoteSetupError(
            f"{remote.python} on {remote.name} is Python {info.python}; ztf needs {'.'.join(map(str, MIN_PYTHON))} or newer.",
            hint=f"Install a newer Python there, then {setting_hint(remote, 'python', '/path/to/python3')}.",
        )
    return info


def probe_failure(remote: Remote, returncode: int, stderr: str) -> RemoteError:
    detail = last_line(stderr)
    if returncode in (126, 127):  # the shell's "not executable" and "not found"
        return RemoteSetupError(
            f"Python was not found on {remote.name}: {remote.python} cannot run ({detail}).",
            hint=f"Install Python 3.10 or newer there, or {setting_hint(remote, 'python', '/path/to/python3')}.",
        )
    return RemoteError(f"Preparing {remote.dir} on {remote.name} failed (exit {returncode}): {detail or 'no message'}",
                       hint=f"Check that the folder can be created there, or {setting_hint(remote, 'dir', '/other/folder')}.")


def require_torch(remote: Remote, info: RemoteInfo) -> None:
    if info.torch is None:
        raise RemoteSetupError(
            f"torch is not installed for {info.executable} on {remote.name} ({info.torch_error}).",
            hint=f"Install it there with `{info.executable} -m pip install torch` (a CUDA build for a GPU), "
                 f"or {setting_hint(remote, 'python', '/path/to/python-with-torch')}.",
        )


def environment_of(remote: Remote, info: RemoteInfo) -> dict[str, Any]:
    """Describe where a run happened, for the verdict's `remote` field."""
    return {"remote": remote.name, "host": remote.label, "python": info.python, "torch": info.torch,
            "cuda": info.cuda, "gpus": list(info.gpus)}


def where_text(environment: dict[str, Any]) -> str:
    gpus = ", ".join(environment.get("gpus") or []) or "no GPU"
    cuda = f"CUDA {environment['cuda']}" if environment.get("cuda") else "CPU-only torch"
    return f"remote {environment['remote']} ({environment['host']}): {gpus}, torch {environment['torch']}, {cuda}"


def remote_job_state(client: SshClient, record: JobRecord) -> str:
    """Ask the remote whether the job is "running", "ended" or "missing"."""
    completed = client.run(jobrunner_command(client.remote, "state", record.job_dir), timeout=60)
    for line in completed.stdout.decode("utf-8", "replace").splitlines():
        try:
            return json.loads(line)["state"]
        except (ValueError, KeyError, TypeError):
            continue
    return "missing"


class RemoteCheck:
    """One check on a remote: `start()` syncs and launches, `wait()` follows it to a verdict."""

    def __init__(self, remote: Remote, workspace: Path, lesson: Lesson, tier: str = "full", *,
                 settings: Settings | None = None, timeout_s: float | None = None,
                 on_event: EventCallback | None = None, on_status: StatusCallback | None = None) -> None:
        self.remote = remote
        self.client = SshClient(remote)
        self.workspace = workspace.resolve()
        self.lesson = lesson
        self.tier = tier
        self.settings = settings or load_settings()
        self.timeout_s = timeout_s
        self.on_event = on_event
        self.on_status = on_status or (lambda text: None)
        self.record: JobRecord | None = None
        self._follower: subprocess.Popen | None = None

    def start(self) -> JobRecord:
        """Probe the remote, sync the files and start the detached job."""
        self.on_status(f"Connecting to {self.remote.name} ({self.remote.label})…")
        info = probe(self.client)
        require_torch(self.remote, info)
        self.refuse_if_running()

        source_mtimes = lesson_mtimes(self.workspace, self.lesson)
        method = sync(self.client, sync_entries(self.workspace, self.lesson), info.rsync)
        self.on_status(f"Copied your files to {self.remote.name} with {method}.")

        limits = limits_for(self.lesson, self.tier, self.settings, self.timeout_s)
        job_id = time.strftime("%Y%m%d-%H%M%S") + "-" + secrets.token_hex(3)
        spec = {"job_id": job_id, "lesson": self.lesson.id, "tier": self.tier, "check": self.lesson.check,
                "timeout_s": limits.timeout_s, "memory_limit_mb": limits.memory_limit_mb,
                "output_limit_bytes": limits.output_limit_bytes}
        record = JobRecord(self.remote.name, job_id, self.lesson.id, self.tier, str(self.workspace), time.time(),
                           source_mtimes, environment_of(self.remote, info))
        launch(self.client, record, spec)
        save_record(record)
        self.record = record
        self.on_status(f"Started job {job_id} on {self.remote.name}; it keeps running if the connection drops.")
        return record

    def refuse_if_running(self) -> None:
        previous = load_record(self.remote.name)
        if previous is None or previous.ended:
            return
        if remote_job_state(self.client, previous) == "running":
            raise RemoteError(
                f"A job for lesson {previous.lesson} is still running on {self.remote.name}.",
                hint=f"Collect it with `ztf remote attach {self.remote.name}` or stop it with "
                     f"`ztf remote cancel {self.remote.name}`.",
            )

    def wait(self) -> CheckResult:
        """Follow the job to its verdict; raises a RemoteError when there is none to record."""
        assert self.record is not None, "call start() first"
        return follow(self.client, self.record, self.on_event, on_follower=self._keep_follower)

    def _keep_follower(self, process: subprocess.Popen) -> None:
        self._follower = process

    def detach(self) -> None:
        """Stop following and leave the job running; `wait()` then raises ConnectionLostError."""
        if self._follower is not None and self._follower.poll() is None:
            self._follower.terminate()

    def cancel(self) -> bool:
        """Kill the job on the remote; True when it was still running."""
        assert self.record is not None, "call start() first"
        return cancel(self.client, self.record)


def launch(client: SshClient, record: JobRecord, spec: dict[str, Any]) -> None:
    remote = client.remote
    job_dir = shlex.quote(record.job_dir)
    # The runner detaches itself (setsid, SIGHUP ignored); nohup and the redirections let the
    # ssh session end at once without taking the runner with it.
    command = (
        f"cd {shlex.quote(remote.remote_dir)} && mkdir -p {job_dir} && cat > {job_dir}/spec.json && "
        f"{{ PYTHONDONTWRITEBYTECODE=1 PYTHONPATH=\"$PWD/sync\" nohup {shlex.quote(remote.python)} -m ztf_tutor.remote.jobrunner run {job_dir} "
        f"</dev/null >{job_dir}/runner.log 2>&1 & }}"
    )
    client.run(command, input=json.dumps(spec).encode("utf-8"), timeout=120)


def follow(client: SshClient, record: JobRecord, on_event: EventCallback | None = None, *,
           on_follower: Callable[[subprocess.Popen], None] | None = None) -> CheckResult:
    """Stream the job's events until it ends, and turn its end into a verdict or an error."""
    remote = client.remote
    process = client.popen(jobrunner_command(remote, "follow", record.job_dir),
                           stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if on_follower is not None:
        on_follower(process)
    assert process.stdout is not None and process.stderr is not None
    errors: list[bytes] = []
    error_stream = process.stderr
    reader = threading.Thread(target=lambda: errors.append(error_stream.read()), daemon=True)
    reader.start()
    end: dict[str, Any] | None = None
    seen_events = False
    try:
        for raw in process.stdout:
            try:
                event = json.loads(raw)
            except ValueError:
                continue  # a login banner or similar
            if not isinstance(event, dict):
                continue
            kind = event.get("event")
            if kind in JOB_EVENTS:
                seen_events = True
                if on_event is not None:
                    on_event(event)
            elif kind in ("job_end", "job_lost", "job_missing"):
                end = event
    finally:
        if process.poll() is None and end is None:
            process.terminate()
        returncode = process.wait()
        reader.join(timeout=5)
    stderr = b"".join(errors).decode("utf-8", "replace")
    if end is None:
        raise lost_connection(client, returncode, stderr, seen_events)
    return finish(client, record, end)


def lost_connection(client: SshClient, returncode: int, stderr: str, seen_events: bool) -> RemoteError:
    remote = client.remote
    if returncode == 255:
        failure = client.classify_failure(stderr)
        if isinstance(failure, (UnreachableError, AuthenticationError)) and not seen_events:
            return failure
    if returncode == 255 or returncode < 0:
        return ConnectionLostError(
            f"The connection to {remote.name} ({remote.label}) was lost, but the job keeps running there.",
            hint=f"Reattach to collect its verdict: `ztf remote attach {remote.name}` "
                 f"(or stop it: `ztf remote cancel {remote.name}`).",
        )
    client.raise_for_ssh(returncode, stderr)
    return RemoteCrashError(f"Following the job on {remote.name} failed (exit {returncode}): {last_line(stderr)}",
                            hint=f"Try `ztf remote attach {remote.name}` again.")


def finish(client: SshClient, record: JobRecord, end: dict[str, Any]) -> CheckResult:
    """Turn the follower's last line into a verdict to record, or an error that is not recorded."""
    remote = client.remote
    kind = end.get("event")
    record.ended = True
    save_record(record)
    if kind == "job_missing":
        raise RemoteError(f"Job {record.job_id} no longer exists on {remote.name} (its folder was deleted).",
                          hint=f"Run the check again: `ztf check {record.lesson} --tier {record.tier} --remote {remote.name}`.")
    if kind == "job_lost":
        free = end.get("free_bytes")
        if free is not None and free < DISK_NEARLY_FULL:
            raise DiskFullError(f"The disk of {remote.name} is full, and job {record.job_id} stopped without a verdict.",
                                hint=f"Free space in {remote.remote_dir} on the remote, then run the check again.")
        log_text = (end.get("log") or "").strip()
        raise RemoteCrashError(
            f"The job runner on {remote.name} stopped without a verdict."
            + (f" Its last output:\n{log_text}" if log_text else ""),
            hint=f"Run `ztf remote test {remote.name}`, then the check again. This run is not recorded.",
        )

    state = end.get("state")
    result = CheckResult.from_json(end.get("result") or {"lesson": record.lesson, "status": "error", "tier": record.tier})
    result.lesson = record.lesson
    result.where = where_text(record.environment)
    result.remote = dict(record.environment)
    result.started_at = record.started_at
    result.source_mtimes = dict(record.source_mtimes)
    if state == jobrunner.CANCELLED:
        raise JobCancelledError(f"Job {record.job_id} on {remote.name} was cancelled, so there is no verdict.",
                                hint=f"Run it again: `ztf check {record.lesson} --tier {record.tier} --remote {remote.name}`.")
    if state in (jobrunner.CRASHED, jobrunner.RUNNER_FAILED):
        raise RemoteCrashError(
            f"The check crashed on {remote.name}: {result.message}",
            hint=f"This run is not recorded. Run `ztf check {record.lesson}` here to reproduce it on the CPU."
                 + (f"\nLast output:\n{tail_lines(result.output)}" if result.output.strip() else ""),
        )
    return result


def tail_lines(text: str, count: int = 10) -> str:
    return "\n".join(text.rstrip().splitlines()[-count:])


def cancel(client: SshClient, record: JobRecord) -> bool:
    """Stop the job on the remote; True when it was still running."""
    completed = client.run(jobrunner_command(client.remote, "cancel", record.job_dir), timeout=120)
    record.ended = True
    save_record(record)
    for line in completed.stdout.decode("utf-8", "replace").splitlines():
        try:
            return bool(json.loads(line)["cancelled"])
        except (ValueError, KeyError, TypeError):
            continue
    raise RemoteError(f"Cancelling job {record.job_id} on {client.remote.name} returned no result: "
                      f"{last_line(completed.stderr.decode('utf-8', 'replace'))}",
                      hint=f"Try again, or log in with ssh and look in {client.remote.remote_dir}/{record.job_dir}.")
