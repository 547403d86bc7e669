"""Remote checks against a real OpenSSH server on loopback, started by a session fixture."""

from __future__ import annotations

import getpass
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.helpers import REPO, run_ztf
from ztf_tutor.curriculum import curriculum
from ztf_tutor.progress import Progress
from ztf_tutor.remote.config import get_remote
from ztf_tutor.remote.job import RemoteCheck
from ztf_tutor.remote.ssh import ConnectionLostError
from ztf_tutor.workspace import Workspace, init_workspace

pytestmark = pytest.mark.slow

# A folder name that breaks any command that does not quote it.
NASTY = "dir with space $(touch pwned) `touch pwned` ;&|'\""
SSHD_START_TIMEOUT_S = 15


@dataclass
class Sshd:
    """A running sshd on 127.0.0.1 and the client files to log in to it."""

    port: int
    key: Path
    wrong_key: Path
    known_hosts: Path
    user: str
    root: Path

    def ssh_options(self) -> list[str]:
        options = [f"UserKnownHostsFile={self.known_hosts}", "StrictHostKeyChecking=accept-new",
                   "IdentitiesOnly=yes", "IdentityAgent=none"]
        return [arg for option in options for arg in ("-o", option)]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def keygen(path: Path) -> None:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "ztf-test", "-f", str(path)], check=True)


@pytest.fixture(scope="session")
def sshd(tmp_path_factory: pytest.TempPathFactory):
    """Start `sshd -D` with a fresh host key and client key; fail, never skip, when it cannot run."""
    binary = shutil.which("sshd") or "/usr/sbin/sshd"
    if not Path(binary).exists():
        pytest.fail("sshd is not installed, so the remote tests cannot run. Install it: "
                    "apt-get install -y openssh-server rsync")
    root = tmp_path_factory.mktemp("sshd")
    keys = root / "client keys 'x'"  # the client key path needs quoting too
    keys.mkdir()
    keygen(root / "host_key")
    keygen(keys / "id")
    keygen(keys / "wrong")
    (root / "authorized_keys").write_text((keys / "id.pub").read_text())
    if os.geteuid() == 0:
        Path("/run/sshd").mkdir(exist_ok=True)  # sshd's privilege-separation folder, which root's sshd requires
    port = free_port()
    config = root / "sshd_config"
    config.write_text("\n".join([
        "ListenAddress 127.0.0.1", f"Port {port}", f"HostKey {root / 'host_key'}",
        f"AuthorizedKeysFile {root / 'authorized_keys'}", f"PidFile {root / 'sshd.pid'}",
        "StrictModes no", "UsePAM no", "PasswordAuthentication no", "KbdInteractiveAuthentication no",
        "PubkeyAuthentication yes", "PermitRootLogin prohibit-password", "PrintMotd no", "LogLevel VERBOSE",
    ]) + "\n")
    log_path = root / "sshd.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen([binary, "-D", "-e", "-f", str(config)], stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + SSHD_START_TIMEOUT_S
    while True:
        if process.poll() is not None:
            pytest.fail(f"sshd exited with code {process.returncode} at start:\n{log_path.read_text()}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            break
        except OSError:
            if time.monotonic() > deadline:
                process.kill()
                pytest.fail(f"sshd did not listen on port {port} within {SSHD_START_TIMEOUT_S} s:\n{log_path.read_text()}")
            time.sleep(0.1)
    yield Sshd(port, keys / "id", keys / "wrong", root / "known_hosts", getpass.getuser(), root)
    process.terminate()
    process.wait(timeout=10)


@pytest.fixture
def remote_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "remote" / NASTY
    folder.parent.mkdir()
    return folder


def add_remote(sshd: Sshd, name: str, folder: Path, *extra: str, key: Path | None = None,
               python: str = sys.executable, port: int | None = None) -> None:
    completed = run_ztf("remote", "add", name, f"{sshd.user}@127.0.0.1", "--port", str(port or sshd.port),
                        "--identity", str(key or sshd.key), "--python", python, "--dir", str(folder),
                        *sshd.ssh_options(), *extra)
    assert completed.returncode == 0, completed.stderr


def nasty_workspace(tmp_path: Path, source: str | None = None) -> Workspace:
    """A workspace whose path needs quoting, with lesson 1.2's reference or SOURCE as the learner file."""
    workspace, _ = init_workspace(tmp_path / f"work {NASTY}", remember=False)
    lesson = curriculum().lesson("1.2")
    reference = (lesson.reference_dir / lesson.files[0]).read_text()
    (workspace.root / lesson.files[0]).write_text(source if source is not None else reference)
    return workspace


def reference_plus(code: str) -> str:
    lesson = curriculum().lesson("1.2")
    return (lesson.reference_dir / lesson.files[0]).read_text() + "\n" + code + "\n"


def check_remote(workspace: Workspace, name: str, *extra: str, timeout: float = 180) -> subprocess.CompletedProcess:
    return run_ztf("check", "-w", str(workspace.root), "1.2", "--tier", "full", "--remote", name, *extra,
                   timeout=timeout)


def attempts(workspace: Workspace) -> int:
    return Progress(workspace).get("1.2").attempts


def no_pwned_files(tmp_path: Path) -> list[Path]:
    """Files an unquoted `$(touch pwned)` would create: in the remote's home, the cwd or the test's folders."""
    found = list(tmp_path.rglob("pwned"))
    return found + [folder / "pwned" for folder in (Path.home(), Path.cwd()) if (folder / "pwned").exists()]


def processes_in_groups(groups: set[int]) -> list[str]:
    """Live (non-zombie) processes whose process group is one of GROUPS, as "pid state command"."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        state, pgrp = fields[0], int(fields[2])
        if pgrp in groups and state != "Z":
            found.append(f"{entry.name} {state} {command}")
    return found


def children_named(pid: int, name: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            command = (entry / "comm").read_text().strip()
        except OSError:
            continue
        if int(fields[1]) == pid and command == name:
            found.append(int(entry.name))
    return found


def wait_for_line(process: subprocess.Popen, fragment: str, timeout: float = 120) -> list[str]:
    """Read the process's stderr until a line contains FRAGMENT; returns the lines read."""
    lines = []
    deadline = time.monotonic() + timeout
    assert process.stderr is not None
    while time.monotonic() < deadline:
        line = process.stderr.readline()
        if not line:
            break
        lines.append(line)
        if fragment in line:
            return lines
    raise AssertionError(f"no line with {fragment!r} in:\n{''.join(lines)}")


def start_check(workspace: Workspace, name: str) -> subprocess.Popen:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    return subprocess.Popen([sys.executable, "-m", "ztf_tutor", "check", "-w", str(workspace.root), "1.2",
                             "--tier", "full", "--remote", name], env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def job_folder(remote_folder: Path) -> Path:
    jobs = sorted((remote_folder / "jobs").iterdir())
    return jobs[-1]


def wait_for_file(path: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} did not appear"
        time.sleep(0.1)


# --- a full run --------------------------------------------------------------------------------


def test_full_run_records_attempt(sshd: Sshd, tmp_path: Path, remote_dir: Path) -> None:
    workspace = nasty_workspace(tmp_path)
    (workspace.root / "phase1" / ".micrograd.py.swp").write_text("swap")
    (workspace.root / "phase1" / "micrograd.py~").write_text("backup")
    add_remote(sshd, "gpu", remote_dir)

    completed = check_remote(workspace, "gpu", "--json")

    assert completed.returncode == 0, completed.stderr
    verdict = json.loads(completed.stdout)
    assert verdict["status"] == "pass"
    assert verdict["where"].startswith("remote gpu (")
    assert verdict["remote"]["torch"] == __import__("torch").__version__
    assert verdict["remote"]["python"] == ".".join(map(str, sys.version_info[:3]))
    entry = Progress(workspace).get("1.2")
    assert entry.attempts == 1
    assert entry.last_status == "pass"
    synced = remote_dir / "sync" / "workspace" / "phase1"
    assert (synced / "micrograd.py").exists()
    assert not (synced / ".micrograd.py.swp").exists()
    assert not (synced / "micrograd.py~").exists()
    assert not (remote_dir / "sync" / "checks" / "p1_micrograd" / "reference").exists()
    assert no_pwned_files(tmp_path) == []


def test_full_run_with_tar_stream(sshd: Sshd, tmp_path: Path, remote_dir: Path) -> None:
    workspace = nasty_workspace(tmp_path)
    add_remote(sshd, "tarbox", remote_dir, "--sync", "tar", "--multiplex")

    completed = run_ztf("-v", "check", "-w", str(workspace.root), "1.2", "--tier", "full", "--remote", "tarbox",
                        timeout=180)

    assert completed.returncode == 0, completed.stderr
    assert "with tar" in completed.stderr
    assert "PASS" in completed.stdout
    assert "PRIVATE KEY" not in completed.stderr  # debug logging shows no key material
    assert (remote_dir / "sync" / "workspace" / "phase1" / "micrograd.py").exists()
    assert no_pwned_files(tmp_path) == []


def test_remote_test_reports_versions(sshd: Sshd, tmp_path: Path, remote_dir: Path) -> None:
    add_remote(sshd, "gpu", remote_dir)

    completed = run_ztf("remote", "test", "gpu", "--json")

    assert completed.returncode == 0, completed.stderr
    info = json.loads(completed.stdout)
    assert info["python"] == ".".join(map(str, sys.version_info[:3]))
    assert info["torch"] == __import__("torch").__version__
    assert info["gpus"] == []
    assert info["rsync"] is True


# --- a dropped connection and a cancel ------------------------------------------------------------


def test_killed_connection_then_attach(sshd: Sshd, tmp_path: Path, remote_dir: Path) -> None:
    workspace = nasty_workspace(tmp_path, reference_plus("import time\ntime.sleep(6)"))
    add_remote(sshd, "gpu", remote_dir)
    process = start_check(workspace, "gpu")
    wait_for_line(process, "Started job")
    time.sleep(1.0)

    followers = children_named(process.pid, "ssh")
    assert len(followers) == 1
    os.kill(followers[0], signal.SIGKILL)
    _, err = process.communicate(timeout=60)

    assert process.returncode == 2, err
    assert "ztf remote attach gpu" in err
    assert attempts(workspace) == 0
    attached = run_ztf("remote", "attach", "gpu", "--json", timeout=120)
    assert attached.returncode == 0, attached.stderr
    assert json.loads(attached.stdout)["status"] == "pass"
    assert attempts(workspace) == 1
    again = run_ztf("remote", "attach", "gpu", "--json", timeout=120)
    assert again.returncode == 0, again.stderr
    assert attempts(workspace) == 1  # a verdict is recorded once, however often it is collected


def test_cancel_leaves_no_process(sshd: Sshd, tmp_path: Path, remote_dir: Path) -> None:
    code = "import subprocess, time\nsubprocess.Popen(['sleep', '300'])\ntime.sleep(300)"
    workspace = nasty_workspace(tmp_path, reference_plus(code))
    add_remote(sshd, "gpu", remote_dir)
    process = start_check(workspace, "gpu")
    wait_for_line(process, "Started job")
    job = job_folder(remote_dir)
    wait_for_file(job / "events.jsonl")
    pids = json.loads((job / "pids.json").read_text())
    groups = {pids["runner_pgid"], pids["child_pgid"]}
    deadline = time.monotonic() + 30
    while not any("sleep 300" in line for line in processes_in_groups(groups)):
        assert time.monotonic() < deadline, "the learner's sleep never started"
        time.sleep(0.2)

    cancelled = run_ztf("remote", "cancel", "gpu")
    _, err = process.communicate(timeout=60)

    assert cancelled.returncode == 0, cancelled.stderr
    assert "Cancelled job" in cancelled.stdout
    assert processes_in_groups(groups) == []
    assert process.returncode == 2
    assert "cancelled" in err
    assert attempts(workspace) == 0


def test_remote_deadline_kills_group(sshd: Sshd, tmp_path: Path, remote_dir: Path) -> None:
    code = "import subprocess, time\nsubprocess.Popen(['sleep', '300'])\ntime.sleep(300)"
    workspace = nasty_workspace(tmp_path, reference_plus(code))
    add_remote(sshd, "gpu", remote_dir)

    completed = check_remote(workspace, "gpu", "--timeout", "5", "--json")

    assert completed.returncode == 1, completed.stderr
    verdict = json.loads(completed.stdout)
    assert verdict["status"] == "error"
    assert "timed out after 5 s on the remote" in verdict["message"]
    pids = json.loads((job_folder(remote_dir) / "pids.json").read_text())
    assert processes_in_groups({pids["runner_pgid"], pids["child_pgid"]}) == []
    assert attempts(workspace) == 1  # running out of time is a verdict on the code, as it is locally


def test_api_detach_then_cancel(sshd: Sshd, tmp_path: Path, remote_dir: Path) -> None:
    workspace = nasty_workspace(tmp_path, reference_plus("import time\ntime.sleep(300)"))
    add_remote(sshd, "gpu", remote_dir)
    events: list[dict] = []
    check = RemoteCheck(get_remote("gpu"), workspace.root, curriculum().lesson("1.2"), "full", on_event=events.append)
    check.start()
    outcome: list[BaseException] = []

    def wait() -> None:
        try:
            check.wait()
        except ConnectionLostError as error:
            outcome.append(error)

    waiter = threading.Thread(target=wait)
    waiter.start()
    deadline = time.monotonic() + 60
    while not any(event.get("event") == "start" for event in events):
        assert time.monotonic() < deadline, "no criterion started"
        time.sleep(0.1)
    check.detach()
    waiter.join(timeout=30)

    assert len(outcome) == 1
    assert "ztf remote attach gpu" in str(outcome[0])
    assert check.cancel() is True
    assert check.cancel() is False


# --- errors a learner understands -----------------------------------------------------------------


def expect_error(completed: subprocess.CompletedProcess, fragment: str) -> None:
    assert completed.returncode == 2, completed.stdout + completed.stderr
    assert fragment in completed.stderr
    assert "Traceback" not in completed.stderr


def test_unreachable_host(sshd: Sshd, tmp_path: Path, remote_dir: Path) -> None:
    workspace = nasty_workspace(tmp_path)
    add_remote(sshd, "gone", remote_dir, port=free_port())

    expect_error(run_ztf("remote", "test", "gone"), "Cannot reach gone")
    expect_error(check_remote(workspace, "gone"), "Cannot reach gone")
    assert attempts(workspace) == 0


def test_authentication_failure(sshd: Sshd, tmp_path: Path, remote_dir: Path) -> None:
    workspace = nasty_workspace(tmp_path)
    add_remote(sshd, "locked", remote_dir, key=sshd.wrong_key)

    completed = check_remote(workspace, "locked")

    expect_error(completed, "rejected the login")
    assert "ssh-add" in completed.stderr
    assert attempts(workspace) == 0


def test_missing_python(sshd: Sshd, tmp_path: Path, remote_dir: Path) -> None:
    workspace = nasty_workspace(tmp_path)
    add_remote(sshd, "bare", remote_dir, python="/nonexistent")

    completed = check_remote(workspace, "bare")

    expect_error(completed, "Python was not found on bare")
    assert 'set python = "/path/to/python3" under [remotes.bare]' in completed.stderr
    assert attempts(workspace) == 0


def test_python_without_torch(sshd: Sshd, tmp_path: Path, remote_dir: Path) -> None:
    venv = tmp_path / "venv without torch"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    workspace = nasty_workspace(tmp_path)
    add_remote(sshd, "notorch", remote_dir, python=str(venv / "bin" / "python"))

    completed = check_remote(workspace, "notorch")

    expect_error(completed, "torch is not installed")
    assert "pip install torch" in completed.stderr
    assert attempts(workspace) == 0


@pytest.fixture
def full_disk(tmp_path: Path):
    """A remote folder on a 64 KiB tmpfs that is already full."""
    mount_point = tmp_path / "tiny disk"
    mount_point.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mount_point)],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"mounting a tmpfs needs root (CAP_SYS_ADMIN); mount said: {mounted.stderr.strip()}")
    folder = mount_point / "ztf"
    folder.mkdir()
    try:
        with (mount_point / "filler").open("wb") as filler:
            while True:
                filler.write(b"\0" * 4096)
                filler.flush()
    except OSError:
        pass
    yield folder
    # The remote side of the last rsync may still be exiting; wait for it before unmounting.
    deadline = time.monotonic() + 10
    while subprocess.run(["umount", str(mount_point)], capture_output=True).returncode != 0:
        if time.monotonic() > deadline:
            subprocess.run(["umount", "--lazy", str(mount_point)], check=True)
            break
        time.sleep(0.2)


def test_disk_full(sshd: Sshd, tmp_path: Path, full_disk: Path) -> None:
    workspace = nasty_workspace(tmp_path)
    add_remote(sshd, "full", full_disk)

    completed = check_remote(workspace, "full")

    expect_error(completed, "The disk of full is full")
    assert attempts(workspace) == 0


def test_crash_on_remote(sshd: Sshd, tmp_path: Path, remote_dir: Path) -> None:
    workspace = nasty_workspace(tmp_path, reference_plus("import ctypes\nctypes.string_at(0)"))
    add_remote(sshd, "gpu", remote_dir)

    completed = check_remote(workspace, "gpu")

    expect_error(completed, "segmentation fault")
    assert "phase1/micrograd.py:" in completed.stderr
    assert attempts(workspace) == 0


def test_runner_killed_is_crash(sshd: Sshd, tmp_path: Path, remote_dir: Path) -> None:
    workspace = nasty_workspace(tmp_path, reference_plus("import time\ntime.sleep(300)"))
    add_remote(sshd, "gpu", remote_dir)
    process = start_check(workspace, "gpu")
    wait_for_line(process, "Started job")
    job = job_folder(remote_dir)
    wait_for_file(job / "events.jsonl")
    pids = json.loads((job / "pids.json").read_text())

    os.kill(pids["runner"], signal.SIGKILL)  # as the out-of-memory killer would
    _, err = process.communicate(timeout=60)

    assert process.returncode == 2, err
    assert "stopped without a verdict" in err
    assert processes_in_groups({pids["runner_pgid"], pids["child_pgid"]}) == []
    assert attempts(workspace) == 0


def test_second_job_refused_while_running(sshd: Sshd, tmp_path: Path, remote_dir: Path) -> None:
    workspace = nasty_workspace(tmp_path, reference_plus("import time\ntime.sleep(300)"))
    add_remote(sshd, "gpu", remote_dir)
    process = start_check(workspace, "gpu")
    wait_for_line(process, "Started job")

    second = check_remote(workspace, "gpu")
    run_ztf("remote", "cancel", "gpu")
    process.communicate(timeout=60)

    expect_error(second, "still running on gpu")
