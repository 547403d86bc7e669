"""Messages the tutor's threads and widgets post; each carries data, never a widget."""

from __future__ import annotations

from typing import Any

from textual.message import Message

from ..curriculum import Lesson
from ..watcher import SavedFile, Verdict


class SourceSaved(Message):
    """A lesson file was saved and settled on disk."""

    def __init__(self, save: SavedFile) -> None:
        super().__init__()
        self.save = save

    def can_replace(self, message: Message) -> bool:
        # A newer save of the same file makes an older one still in the queue pointless.
        return isinstance(message, SourceSaved) and message.save.relative == self.save.relative


class CheckStarted(Message):
    """A check run began for a lesson."""

    def __init__(self, lesson: Lesson, trigger: str) -> None:
        super().__init__()
        self.lesson = lesson
        self.trigger = trigger


class CheckEvent(Message):
    """One event streamed by a running check (criterion, progress). Progress bursts collapse to the newest."""

    def __init__(self, lesson_id: str, event: dict[str, Any]) -> None:
        super().__init__()
        self.lesson_id = lesson_id
        self.event = event

    def can_replace(self, message: Message) -> bool:
        return (
            isinstance(message, CheckEvent)
            and message.lesson_id == self.lesson_id
            and message.event.get("event") == "progress"
            and self.event.get("event") == "progress"
        )


class CheckFinished(Message):
    """A check published its verdict on the current content of the lesson's files."""

    def __init__(self, verdict: Verdict) -> None:
        super().__init__()
        self.verdict = verdict


class CheckSuperseded(Message):
    """A check ended without a verdict, because a newer save or a quit cancelled it."""

    def __init__(self, lesson_id: str) -> None:
        super().__init__()
        self.lesson_id = lesson_id


class WatchNotice(Message):
    """The watcher has something the learner must know, such as the switch to polling."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text


class LessonChosen(Message):
    """The learner picked a lesson in the curriculum tree or the command palette."""

    def __init__(self, lesson: Lesson) -> None:
        super().__init__()
        self.lesson = lesson
