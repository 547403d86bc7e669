"""The user config: a TOML file in platformdirs' config folder, validated into typed settings."""

from __future__ import annotations

import difflib
import sys
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from . import locations
from .errors import ConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib


@dataclass
class CheckSettings:
    """Limits for checks on this machine."""

    timeout_fast: float | None = None
    """Seconds a fast tier may run; unset uses the lesson's own value."""
    timeout_full: float | None = None
    """Seconds a full tier may run; unset uses the lesson's own value."""
    memory_limit_mb: int = 6144
    """Address-space ceiling of a CPU check's process, in MiB. A runaway allocation stops here."""
    output_limit_kb: int = 64
    """How much of a check's printed output is kept from the start and from the end, in KiB each."""


@dataclass
class LearningSettings:
    """When the reference solution unlocks."""

    solution_min_failed_attempts: int = 1
    """Recorded failing attempts needed before the reference solution can be shown."""
    solution_min_minutes: float = 30.0
    """Minutes of work on a lesson needed before the reference solution can be shown."""


@dataclass
class DataSettings:
    """The location of the real datasets."""

    dir: str | None = None
    """Folder of downloaded datasets; unset uses platformdirs' data folder."""


@dataclass
class Settings:
    """All user settings; `extra` keeps tables owned by other parts (such as remotes)."""

    check: CheckSettings = field(default_factory=CheckSettings)
    learning: LearningSettings = field(default_factory=LearningSettings)
    data: DataSettings = field(default_factory=DataSettings)
    editor: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    path: Path | None = None

    def data_dir(self) -> Path:
        return Path(self.data.dir).expanduser() if self.data.dir else locations.data_dir()


# Tables other modules own and validate themselves.
FREE_TABLES = {"remotes"}

_SECTIONS = {"check": CheckSettings, "learning": LearningSettings, "data": DataSettings}
_TOP_LEVEL = {"editor": str}


def _type_ok(value: Any, annotation: str) -> bool:
    if value is None:
        return True
    if "float" in annotation:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if "int" in annotation:
        return isinstance(value, int) and not isinstance(value, bool)
    if "str" in annotation:
        return isinstance(value, str)
    return True


def _unknown_key(path: Path, key: str, known: list[str]) -> str:
    close = difflib.get_close_matches(key, known, n=1)
    suggestion = f' Did you mean "{close[0]}"?' if close else f" Known keys: {', '.join(sorted(known))}."
    return f'{path}: unknown key "{key}".{suggestion}'


def _parse_section(path: Path, name: str, table: Any, cls: type, problems: list[str]) -> Any:
    if not isinstance(table, dict):
        problems.append(f"{path}: [{name}] must be a table, got {table!r}.")
        return cls()
    known = {f.name: f for f in fields(cls)}
    values = {}
    for key, value in table.items():
        if key not in known:
            problems.append(_unknown_key(path, f"{name}.{key}", [f"{name}.{k}" for k in known]))
            continue
        annotation = str(known[key].type)
        if not _type_ok(value, annotation):
            problems.append(
                f"{path}: {name}.{key} = {value!r} is invalid; expected {annotation.replace(' | None', '')}."
            )
            continue
        if isinstance(value, (int, float)) and not isinstance(value, bool) and value <= 0:
            problems.append(f"{path}: {name}.{key} = {value!r} is invalid; use a positive number.")
            continue
        values[key] = value
    return cls(**values)


def parse_settings(raw: dict[str, Any], path: Path) -> Settings:
    """Validate a parsed TOML document, collecting every problem before raising."""
    problems: list[str] = []
    settings = Settings(path=path)
    for key, value in raw.items():
        if key in _SECTIONS:
            setattr(settings, key, _parse_section(path, key, value, _SECTIONS[key], problems))
        elif key in _TOP_LEVEL:
            if not isinstance(value, _TOP_LEVEL[key]):
                problems.append(f"{path}: {key} = {value!r} is invalid; expected a string.")
            else:
                setattr(settings, key, value)
        elif key in FREE_TABLES:
            settings.extra[key] = value
        else:
            problems.append(_unknown_key(path, key, [*_SECTIONS, *_TOP_LEVEL, *FREE_TABLES]))
    if problems:
        raise ConfigError("\n".join(problems), hint=f"Fix or delete {path} and run the command again.")
    return settings


def load_settings(path: Path | None = None) -> Settings:
    """Read the user config; a missing file gives the defaults."""
    path = path or locations.config_file()
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return Settings(path=path)
    except OSError as error:
        raise ConfigError(f"{path}: cannot be read ({error.strerror}).") from None
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{path}: invalid TOML: {error}.", hint="Fix the line it names.") from None
    return parse_settings(raw, path)
