"""The errors that ztf shows to a learner: each has a title and a message with the next step."""

from __future__ import annotations


class ZtfError(Exception):
    """A problem the learner or author can fix; the CLI prints it without a traceback."""

    title = "Error"
    exit_code = 2

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        if self.hint:
            return f"{self.message}\n{self.hint}"
        return self.message


class CurriculumError(ZtfError):
    """One or more lesson files are invalid."""

    title = "Invalid lesson file"

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("\n".join(problems))


class WorkspaceError(ZtfError):
    """The workspace is missing or unreadable."""

    title = "Workspace problem"


class ConfigError(ZtfError):
    """The user config file is invalid."""

    title = "Invalid config"


class UnknownLessonError(ZtfError):
    """A lesson id on the command line matches no lesson."""

    title = "Unknown lesson"
