"""The `[remotes.NAME]` tables of the user config: reading, validating and writing them."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import tomli_w

from .. import locations
from ..config import load_settings, tomllib
from ..errors import ConfigError, ZtfError

NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
SYNC_MODES = ("auto", "rsync", "tar")
DEFAULT_PYTHON = "python3"
# Relative to the remote user's home folder, because ssh runs remote commands there.
DEFAULT_DIR = "ztf-remote"

_KEYS = {
    "host": str, "user": str, "port": int, "identity": str, "python": str, "dir": str,
    "options": list, "multiplex": bool, "sync": str,
}


@dataclass
class Remote:
    """One remote machine as the user config stores it."""

    name: str
    host: str
    user: str | None = None
    port: int | None = None
    identity: str | None = None
    python: str = DEFAULT_PYTHON
    dir: str = DEFAULT_DIR
    options: list[str] = field(default_factory=list)
    """Extra `ssh -o Key=Value` options; ~/.ssh/config already applies without them."""
    multiplex: bool = False
    """Share one ssh connection between the commands of a run (ControlMaster)."""
    sync: str = "auto"

    @property
    def destination(self) -> str:
        """The ssh destination: HOST or USER@HOST."""
        return f"{self.user}@{self.host}" if self.user else self.host

    @property
    def label(self) -> str:
        port = f":{self.port}" if self.port else ""
        return f"{self.destination}{port}"

    @property
    def remote_dir(self) -> str:
        """The remote folder without a leading `~/`, which a quoted path would not expand."""
        if self.dir in ("~", "~/"):
            return "."
        if self.dir.startswith("~/"):
            return self.dir[2:]
        return self.dir

    def to_table(self) -> dict[str, Any]:
        table: dict[str, Any] = {"host": self.host}
        for key in ("user", "port", "identity"):
            if getattr(self, key) is not None:
                table[key] = getattr(self, key)
        if self.python != DEFAULT_PYTHON:
            table["python"] = self.python
        if self.dir != DEFAULT_DIR:
            table["dir"] = self.dir
        if self.options:
            table["options"] = list(self.options)
        if self.multiplex:
            table["multiplex"] = True
        if self.sync != "auto":
            table["sync"] = self.sync
        return table


def setting_hint(remote: Remote, key: str, example: str) -> str:
    """Describe how to change one key of a stored remote while keeping its other keys."""
    return f'set {key} = "{example}" under [remotes.{remote.name}] in {locations.config_file()}'


def check_name(name: str) -> str:
    """Reject a remote name that is not a short word, since it names files and TOML keys."""
    if not NAME_PATTERN.match(name):
        raise ZtfError(
            f'"{name}" is not a valid remote name.',
            hint="Use letters, digits, '-', '_' and '.', starting with a letter or digit, e.g. gpu1.",
        )
    return name


def split_destination(destination: str) -> tuple[str | None, str]:
    """Split `[USER@]HOST` into (user, host), rejecting what ssh would read as an option."""
    user, _, host = destination.rpartition("@")
    if not host or host.startswith("-") or (user and user.startswith("-")) or any(c.isspace() for c in destination):
        raise ZtfError(
            f'"{destination}" is not a valid ssh destination.',
            hint="Give HOST or USER@HOST, e.g. ubuntu@203.0.113.7 or a Host alias from ~/.ssh/config.",
        )
    return (user or None), host


def _validate(name: str, table: Any, path: Path) -> tuple[Remote | None, list[str]]:
    where = f"{path}: [remotes.{name}]"
    if not NAME_PATTERN.match(name):
        return None, [f"{where}: the name is invalid; use letters, digits, '-', '_' and '.'."]
    if not isinstance(table, dict):
        return None, [f"{where} must be a table, got {table!r}."]
    problems = []
    for key, value in table.items():
        expected = _KEYS.get(key)
        if expected is None:
            problems.append(f"{where}: unknown key \"{key}\". Known keys: {', '.join(sorted(_KEYS))}.")
        elif not isinstance(value, expected) or (expected is int and isinstance(value, bool)):
            problems.append(f"{where}: {key} = {value!r} is invalid; expected {expected.__name__}.")
    if "host" not in table:
        problems.append(f"{where}: the host key is missing. Add host = \"HOSTNAME\".")
    port = table.get("port")
    if isinstance(port, int) and not 0 < port < 65536:
        problems.append(f"{where}: port = {port} is invalid; use 1 to 65535.")
    if table.get("sync", "auto") not in SYNC_MODES:
        problems.append(f"{where}: sync = {table['sync']!r} is invalid; use one of {', '.join(SYNC_MODES)}.")
    options = table.get("options", [])
    if isinstance(options, list) and not all(isinstance(item, str) and "=" in item for item in options):
        problems.append(f"{where}: options = {options!r} is invalid; expected a list of \"Key=Value\" strings.")
    if problems:
        return None, problems
    known = {key: table[key] for key in _KEYS if key in table}
    return Remote(name=name, **known), []


def load_remotes() -> dict[str, Remote]:
    """Load and validate every remote in the user config; raise ConfigError naming each problem."""
    settings = load_settings()
    path = settings.path or locations.config_file()
    tables = settings.extra.get("remotes", {})
    if not isinstance(tables, dict):
        raise ConfigError(f"{path}: [remotes] must be a table of tables, got {tables!r}.")
    remotes, problems = {}, []
    for name, table in tables.items():
        remote, found = _validate(name, table, path)
        problems += found
        if remote is not None:
            remotes[name] = remote
    if problems:
        raise ConfigError("\n".join(problems), hint=f"Fix {path}, or remove the remote and add it again.")
    return remotes


def get_remote(name: str) -> Remote:
    """Find the remote called NAME, or raise an error that lists the known ones."""
    remotes = load_remotes()
    if name not in remotes:
        known = ", ".join(sorted(remotes)) or "none yet"
        raise ZtfError(f'No remote called "{name}" (known: {known}).',
                       hint="Add one with `ztf remote add NAME [USER@]HOST`.")
    return remotes[name]


def _read_raw(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{path}: invalid TOML: {error}.", hint="Fix the line it names.") from None


def _write_raw(path: Path, raw: dict[str, Any]) -> None:
    # NOTE: rewriting the file drops any comments the user wrote in it; tomli-w cannot keep them.
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.write_text(tomli_w.dumps(raw), encoding="utf-8")
    os.replace(temporary, path)


def save_remote(remote: Remote, *, replace: bool = False) -> Path:
    """Store a remote in the user config file and return the file's path."""
    load_settings()  # reject rewriting a config that is already invalid
    path = locations.config_file()
    raw = _read_raw(path)
    remotes = raw.setdefault("remotes", {})
    if remote.name in remotes and not replace:
        raise ZtfError(f'A remote called "{remote.name}" already exists.',
                       hint=f"Remove it first with `ztf remote remove {remote.name}`, or pass --replace.")
    remotes[remote.name] = remote.to_table()
    _write_raw(path, raw)
    return path


def remove_remote(name: str) -> Path:
    """Delete a remote from the user config file."""
    get_remote(name)
    path = locations.config_file()
    raw = _read_raw(path)
    del raw["remotes"][name]
    if not raw["remotes"]:
        del raw["remotes"]
    _write_raw(path, raw)
    return path
