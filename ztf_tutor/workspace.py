"""The learner's workspace: scaffolding it from workspace_template/ and finding it again.

A workspace is a folder with a `.ztf/workspace.json` manifest. The manifest records the
curriculum version the workspace came from and the hash of each template file as it was copied.
With those hashes a later `ztf init` adds new lessons' files and updates untouched stubs, and it
never overwrites a file the learner changed.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

from . import __version__, locations
from .errors import WorkspaceError

log = logging.getLogger(__name__)

MANIFEST_VERSION = 1
LAST_WORKSPACE_FILE = "last_workspace"
# Files in the template that are not copied into a workspace.
TEMPLATE_IGNORED = {"__pycache__", ".DS_Store"}


def file_hash(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def write_json_atomic(path: Path, data: object) -> None:
    """Write JSON through a temporary file and a rename, so a crash never leaves half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    os.replace(temporary, path)


@dataclass
class InitReport:
    """The outcome of `ztf init` for each template file."""

    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)


@dataclass
class Workspace:
    root: Path

    @property
    def tutor_dir(self) -> Path:
        return self.root / locations.TUTOR_DIRNAME

    @property
    def manifest_path(self) -> Path:
        return self.tutor_dir / "workspace.json"

    def manifest(self) -> dict:
        try:
            data = json.loads(self.manifest_path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise WorkspaceError(
                f"{self.root} is not a ztf workspace ({self.manifest_path} is missing).",
                hint=f"Run `ztf init {self.root}` to create one.",
            ) from None
        except (OSError, ValueError) as error:
            raise WorkspaceError(
                f"{self.manifest_path} is unreadable or corrupt ({error}).",
                hint=f"Run `ztf init {self.root}` to rebuild it; your files are kept.",
            ) from None
        if not isinstance(data, dict) or not isinstance(data.get("files"), dict):
            raise WorkspaceError(
                f"{self.manifest_path} has no \"files\" table.",
                hint=f"Run `ztf init {self.root}` to rebuild it; your files are kept.",
            )
        return data

    def path(self, relative: str) -> Path:
        return self.root / relative

    def is_untouched(self, relative: str) -> bool:
        """True when the file is still the stub that ztf init copied."""
        recorded = self.manifest()["files"].get(relative)
        target = self.path(relative)
        return recorded is not None and target.is_file() and file_hash(target) == recorded


def is_workspace(folder: Path) -> bool:
    return (folder / locations.TUTOR_DIRNAME / "workspace.json").is_file()


def template_files(template: Path | None = None) -> list[str]:
    """List every file of the template as a POSIX path relative to it."""
    template = template or locations.template_dir()
    found = []
    for path in sorted(template.rglob("*")):
        relative = path.relative_to(template)
        if path.is_file() and not TEMPLATE_IGNORED.intersection(relative.parts):
            found.append(relative.as_posix())
    return found


def _read_manifest_for_init(workspace: Workspace) -> dict:
    """Read the existing manifest, or start an empty one when it is missing or corrupt (no file is touched)."""
    if not workspace.manifest_path.exists():
        return {"files": {}}
    try:
        return workspace.manifest()
    except WorkspaceError as error:
        log.warning("rebuilding the workspace manifest: %s", error.message)
        return {"files": {}}


def init_workspace(root: Path, template: Path | None = None, remember: bool = True) -> tuple[Workspace, InitReport]:
    """Create or update a workspace. Files the learner changed are never overwritten.

    `remember` records it as the last workspace used; temporary workspaces pass False.
    """
    template = template or locations.template_dir()
    root = root.expanduser().resolve()
    if root.exists() and not root.is_dir():
        raise WorkspaceError(f"{root} exists and is not a folder.", hint="Choose another path for the workspace.")
    workspace = Workspace(root)
    manifest = _read_manifest_for_init(workspace)
    recorded: dict[str, str] = manifest["files"]
    report = InitReport()

    for relative in template_files(template):
        source = template / relative
        target = root / relative
        source_hash = file_hash(source)
        if not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, target)
            recorded[relative] = source_hash
            report.created.append(relative)
            continue
        current = file_hash(target)
        if current == source_hash:
            recorded[relative] = source_hash
            report.unchanged.append(relative)
        elif recorded.get(relative) == current:
            # The learner never touched the old stub, so the new template replaces it.
            shutil.copyfile(source, target)
            recorded[relative] = source_hash
            report.updated.append(relative)
        else:
            report.kept.append(relative)

    manifest.update(
        manifest_version=MANIFEST_VERSION,
        curriculum_version=__version__,
        created=manifest.get("created", time.strftime("%Y-%m-%dT%H:%M:%S%z")),
        updated=time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        files=recorded,
    )
    write_json_atomic(workspace.manifest_path, manifest)
    if remember:
        remember_workspace(root)
    return workspace, report


def remember_workspace(root: Path) -> None:
    """Keep the last workspace used in the state folder; failing to is not worth an error."""
    try:
        state = locations.state_dir()
        state.mkdir(parents=True, exist_ok=True)
        (state / LAST_WORKSPACE_FILE).write_text(str(root) + "\n", encoding="utf-8")
    except OSError as error:
        log.warning("could not record the last workspace: %s", error)


def last_workspace() -> Path | None:
    try:
        text = (locations.state_dir() / LAST_WORKSPACE_FILE).read_text(encoding="utf-8").strip()
    except OSError:
        return None
    return Path(text) if text else None


def find_workspace(explicit: str | Path | None = None, cwd: Path | None = None) -> Workspace:
    """Find the workspace: -w, then ZTF_WORKSPACE, then cwd or a parent, then the last one used."""
    if explicit:
        return _checked(Path(explicit), "the -w/--workspace option")
    from_env = os.environ.get("ZTF_WORKSPACE")
    if from_env:
        return _checked(Path(from_env), "the ZTF_WORKSPACE variable")
    here = (cwd or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if is_workspace(folder):
            return Workspace(folder)
    last = last_workspace()
    if last is not None and is_workspace(last):
        return Workspace(last)
    raise WorkspaceError(
        "No ztf workspace found here, in a parent folder, or from an earlier session.",
        hint="Create one with `ztf init DIR`, or pass -w DIR.",
    )


def _checked(path: Path, source: str) -> Workspace:
    root = path.expanduser().resolve()
    if not is_workspace(root):
        raise WorkspaceError(
            f"{root} (from {source}) is not a ztf workspace.",
            hint=f"Run `ztf init {root}` to create it.",
        )
    return Workspace(root)
