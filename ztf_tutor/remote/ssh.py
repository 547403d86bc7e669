"""Run commands on a remote through the system OpenSSH client.

ztf passes only what it needs on the command line (BatchMode, timeouts and what the remote's
table sets), so the learner's ~/.ssh/config, agent and jump hosts keep working. Every remote
command is a POSIX shell string whose paths and names go through shlex.quote.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from ..errors import ZtfError
from .config import Remote, setting_hint

log = logging.getLogger(__name__)

SSH_FAILED = 255  # ssh's own exit status for a connection or login failure
CONNECT_TIMEOUT_S = 15
# The client notices a dead connection after about ServerAliveInterval * ServerAliveCountMax seconds.
ALIVE_INTERVAL_S = 15
ALIVE_COUNT = 4

UNREACHABLE_SIGNS = (
    "connection refused", "no route to host", "connection timed out", "operation timed out",
    "could not resolve hostname", "name or service not known", "network is unreachable",
    "nodename nor servname", "temporary failure in name resolution",
)
AUTH_SIGNS = ("permission denied", "too many authentication failures", "no supported authentication methods")
HOST_KEY_SIGNS = ("host key verification failed", "remote host identification has changed")
DISK_FULL_SIGNS = ("no space left on device", "disk quota exceeded")
LOST_SIGNS = ("connection closed", "connection reset", "broken pipe", "timeout, server", "closed by remote host")


class RemoteError(ZtfError):
    """A remote could not do its part; never a verdict on the learner's code."""

    title = "Remote problem"


class UnreachableError(RemoteError):
    title = "Remote unreachable"


class AuthenticationError(RemoteError):
    title = "Remote login failed"


class DiskFullError(RemoteError):
    title = "Remote disk full"


class ConnectionLostError(RemoteError):
    title = "Connection lost"


def quote_ssh_value(value: str) -> str:
    """Quote a value for `ssh -o Key=VALUE`, which splits on spaces like a config file line."""
    if '"' in value:
        raise RemoteError(f"The path {value} contains a double quote, which an ssh option value cannot hold.",
                          hint="Set TMPDIR to a folder without quotes, or turn multiplexing off for this remote.")
    if not any(character.isspace() for character in value):
        return value
    return f'"{value}"'


def control_dir() -> Path:
    """Folder of multiplexing sockets; short, because a socket path has about 100 bytes at most."""
    folder = Path(tempfile.gettempdir()) / f"ztf-ssh-{os.getuid()}"
    folder.mkdir(mode=0o700, exist_ok=True)
    return folder


class SshClient:
    """Builds ssh command lines for one remote and runs them."""

    def __init__(self, remote: Remote, executable: str | None = None) -> None:
        self.remote = remote
        self.executable = executable or shutil.which("ssh")
        if self.executable is None:
            raise RemoteError("The ssh command was not found on this machine.",
                              hint="Install the OpenSSH client (e.g. `apt install openssh-client`).")
        self._effective: dict[str, str] | None = None

    def options(self) -> list[str]:
        """Return every ssh option but the destination; rsync's remote shell uses them too."""
        args = self._remote_options()
        return ["-o", "BatchMode=yes", *args, *self._timeout_options(args)]

    def _remote_options(self) -> list[str]:
        args = []
        if self.remote.port:
            args += ["-p", str(self.remote.port)]
        if self.remote.identity:
            args += ["-i", str(Path(self.remote.identity).expanduser())]
        if self.remote.multiplex:
            control_path = quote_ssh_value(str(control_dir() / "%C"))
            args += ["-o", "ControlMaster=auto", "-o", f"ControlPath={control_path}", "-o", "ControlPersist=60"]
        for option in self.remote.options:
            args += ["-o", option]
        return args

    def _timeout_options(self, args: list[str]) -> list[str]:
        """Add a connect timeout and keepalives, unless the user's ssh config already sets them.

        `ssh -G` prints the effective config without connecting. Its defaults ("none" and 0)
        mean the user set nothing, so ztf's values apply. ARGS must not hold BatchMode=yes,
        which makes ssh report a default keepalive interval of 300 s.
        """
        if self._effective is None:
            self._effective = effective_config(self.executable, args, self.remote.destination)
        extra = []
        if self._effective.get("connecttimeout", "none") == "none":
            extra += ["-o", f"ConnectTimeout={CONNECT_TIMEOUT_S}"]
        if self._effective.get("serveraliveinterval", "0") == "0":
            extra += ["-o", f"ServerAliveInterval={ALIVE_INTERVAL_S}", "-o", f"ServerAliveCountMax={ALIVE_COUNT}"]
        return extra

    def argv(self, command: str) -> list[str]:
        """Build the ssh command line that runs COMMAND (a shell string) on the remote."""
        assert self.executable is not None
        return [self.executable, *self.options(), self.remote.destination, command]

    def run(self, command: str, *, input: bytes | None = None, timeout: float | None = 120) -> subprocess.CompletedProcess:
        """Run a command to completion, capturing its output; raises on ssh's own failures."""
        log.debug("ssh %s: %s", self.remote.name, command)
        try:
            completed = subprocess.run(self.argv(command), input=input, capture_output=True, timeout=timeout,
                                       stdin=None if input is not None else subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            raise ConnectionLostError(
                f"{self.remote.name} ({self.remote.label}) did not respond within {timeout:g} s.",
                hint=f"Check the machine and your network, then run `ztf remote test {self.remote.name}`.",
            ) from None
        self.raise_for_ssh(completed.returncode, completed.stderr.decode("utf-8", "replace"))
        return completed

    def popen(self, command: str, **kwargs) -> subprocess.Popen:
        """Start a command without waiting; the caller reads its stdout."""
        log.debug("ssh %s (streaming): %s", self.remote.name, command)
        return subprocess.Popen(self.argv(command), **kwargs)

    def raise_for_ssh(self, returncode: int, stderr: str) -> None:
        """Turn ssh's own failures (exit 255) and a full disk into errors with a next step."""
        text = stderr.lower()
        if any(sign in text for sign in DISK_FULL_SIGNS):
            raise DiskFullError(
                f"The disk of {self.remote.name} is full: writing to {self.remote.remote_dir} failed.",
                hint=f"Free space there (`df -h` on the remote shows it), or "
                     f"{setting_hint(self.remote, 'dir', '/folder/on/a/larger/disk')}.",
            )
        if returncode != SSH_FAILED:
            return
        raise self.classify_failure(stderr)

    def classify_failure(self, stderr: str) -> RemoteError:
        """Classify a failed ssh connection by what ssh printed on stderr."""
        name, label = self.remote.name, self.remote.label
        text = stderr.lower()
        detail = last_line(stderr)
        by_hand = f"`ssh{' -p ' + str(self.remote.port) if self.remote.port else ''} {self.remote.destination}`"
        if any(sign in text for sign in UNREACHABLE_SIGNS):
            return UnreachableError(
                f"Cannot reach {name} at {label}: {detail}",
                hint=f"Check that the machine is running and the address and port are right; try {by_hand}.",
            )
        if any(sign in text for sign in AUTH_SIGNS):
            return AuthenticationError(
                f"{name} ({label}) rejected the login: {detail}",
                hint="ztf runs ssh with BatchMode=yes, so it cannot type a password or a key passphrase. "
                     f"Load your key into the agent (`ssh-add KEYFILE`) or {setting_hint(self.remote, 'identity', '~/.ssh/id_ed25519')}, "
                     f"then try {by_hand}.",
            )
        if any(sign in text for sign in HOST_KEY_SIGNS):
            return RemoteError(
                f"The host key of {name} ({label}) could not be verified: {detail}",
                hint=f"Connect once by hand with {by_hand} to check and accept the host key.",
            )
        if any(sign in text for sign in LOST_SIGNS):
            return ConnectionLostError(f"The connection to {name} ({label}) was lost: {detail}",
                                       hint=f"Run `ztf remote test {name}` to check the connection.")
        return RemoteError(f"ssh to {name} ({label}) failed: {detail or 'no message'}",
                           hint=f"Try {by_hand} to see the problem.")


def effective_config(executable: str | None, args: list[str], destination: str) -> dict[str, str]:
    """Read ssh's effective settings for a destination with `ssh -G`; empty when that fails."""
    try:
        completed = subprocess.run([executable or "ssh", "-G", *args, destination], capture_output=True,
                                   text=True, timeout=10, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired) as error:
        log.debug("ssh -G failed: %s", error)
        return {}
    settings = {}
    for line in completed.stdout.splitlines():
        key, _, value = line.partition(" ")
        settings[key.lower()] = value.strip()
    return settings


def last_line(text: str) -> str:
    """Return the last non-empty line of ssh's stderr, skipping its known-hosts notices."""
    lines = [line.strip() for line in text.splitlines()
             if line.strip() and not line.startswith("Warning: Permanently added")]
    return lines[-1] if lines else ""
