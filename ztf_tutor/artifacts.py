"""Images that checks write (an attention heatmap, a loss curve) and opening them for the learner."""

from __future__ import annotations

import logging
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from .verdict import CheckResult

log = logging.getLogger(__name__)

IMAGE_PATH = re.compile(r"(/[^\s'\"`]+\.png)\b")


def image_paths(result: CheckResult, artifacts_dir: Path | None = None) -> list[Path]:
    """List the PNG files a run produced that exist on disk.

    Those are the paths named in measured values and messages, and the PNGs that the run wrote
    into `artifacts_dir` (the workspace's `.ztf/artifacts`), which also covers paths with spaces.
    """
    found: list[Path] = []
    if artifacts_dir is not None and artifacts_dir.is_dir():
        for path in sorted(artifacts_dir.glob("*.png"), key=lambda item: item.stat().st_mtime):
            if path.stat().st_mtime >= result.started_at:
                found.append(path)
    for criterion in result.criteria:
        for text in (criterion.measured or "", criterion.message or ""):
            for match in IMAGE_PATH.finditer(text):
                path = Path(match.group(1))
                if path.is_file() and path not in found:
                    found.append(path)
    return found


def viewer_command() -> list[str] | None:
    """Return the system's command for opening a file, or None where there is none."""
    if sys.platform == "darwin":
        return ["open"]
    if os.name == "nt":
        return ["explorer"]
    if not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        return None
    opener = shutil.which("xdg-open")
    return [opener] if opener else None


def open_in_viewer(path: Path) -> str | None:
    """Open a file in the system viewer; return why it could not be opened, or None on success."""
    command = viewer_command()
    if command is None:
        return "no graphical display or viewer was found"
    try:
        subprocess.Popen([*command, str(path)], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL, start_new_session=True)
    except OSError as error:
        log.warning("opening %s with %s failed: %s", path, command[0], error)
        return f"{command[0]} failed: {error.strerror}"
    return None
