"""What the tutor remembers per workspace between sessions, in `.ztf/tui.json`."""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass

from ..workspace import Workspace, write_json_atomic

log = logging.getLogger(__name__)


@dataclass
class TutorState:
    """The last lesson open and whether the welcome screen was shown."""

    last_lesson: str | None = None
    welcome_seen: bool = False


def load_state(workspace: Workspace) -> TutorState:
    """Read the tutor state; a missing or corrupt file gives the defaults."""
    path = workspace.tutor_dir / "tui.json"
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return TutorState()
    except (OSError, ValueError) as error:
        log.warning("%s is unreadable (%s); starting from the welcome screen", path, error)
        return TutorState()
    if not isinstance(raw, dict):
        return TutorState()
    return TutorState(
        last_lesson=raw.get("last_lesson") if isinstance(raw.get("last_lesson"), str) else None,
        welcome_seen=bool(raw.get("welcome_seen", False)),
    )


def save_state(workspace: Workspace, state: TutorState) -> None:
    """Write the tutor state; failing to is logged, not raised, because it only costs convenience."""
    try:
        write_json_atomic(workspace.tutor_dir / "tui.json", asdict(state))
    except OSError as error:
        log.warning("could not save the tutor state: %s", error)
