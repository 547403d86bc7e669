"""`ztf journal export`: the journal as a Markdown learning log, by phase and lesson."""

from __future__ import annotations

import time
from pathlib import Path

from ..workspace import Workspace
from .repo import JournalRepo
from .review import JournalOverview, LessonJournal, journal_overview
from .writer import journal_dir

FENCE_LANGUAGES = {".py": "python", ".md": "markdown", ".toml": "toml", ".json": "json", ".yaml": "yaml"}


def format_duration(seconds: float | None) -> str:
    """"1 h 05 min", "12 min 30 s", "45 s"; "–" for None."""
    if seconds is None:
        return "–"
    seconds = int(round(seconds))
    if seconds >= 3600:
        return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"
    if seconds >= 60:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds} s"


def format_time(stamp: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(stamp)) if stamp else "–"


def _fence(text: str) -> str:
    """Return a backtick fence longer than any run of backticks in `text`."""
    longest = run = 0
    for character in text:
        run = run + 1 if character == "`" else 0
        longest = max(longest, run)
    return "`" * max(3, longest + 1)


def _code_at_first_pass(repo: JournalRepo, lesson: LessonJournal) -> list[str]:
    first_pass = lesson.first_pass
    if first_pass is None:
        return ["Not passed yet."]
    record = repo.record_at(first_pass.commit, lesson.lesson) or {}
    paths = [path for path, entry in record.get("files", {}).items() if not entry.get("missing")]
    specs = {path: f"{first_pass.commit}:lessons/{lesson.lesson}/files/{path}" for path in paths}
    blobs = repo.read_blobs(list(specs.values()))
    lines = []
    for path in paths:
        text = (blobs[specs[path]] or b"").decode("utf-8", errors="replace")
        fence = _fence(text)
        language = FENCE_LANGUAGES.get(Path(path).suffix, "")
        lines += [f"`{path}` at attempt {first_pass.number} ({first_pass.commit[:10]}):", "",
                  f"{fence}{language}", text.rstrip("\n"), fence, ""]
    return lines


def _lesson_section(repo: JournalRepo, lesson: LessonJournal) -> list[str]:
    title = f"{lesson.lesson} {lesson.title}".strip()
    lines = [f"### {title}", ""]
    lines += [
        f"- Time on task: {format_duration(lesson.time_on_task_s)}",
        f"- Attempts: {lesson.attempt_count} ({lesson.failed_count} failing, {lesson.pass_count} passing)",
        f"- First attempt: {format_time(lesson.first_attempt_at)}",
        f"- First pass: {format_time(lesson.first_pass_at)}, after {format_duration(lesson.time_to_pass_s)} of work",
        f"- Struggle time (from the first failing attempt to the first pass): {format_duration(lesson.struggle_s)}",
        f"- Hints shown: {max((hint.step for hint in lesson.hints), default=0)}",
        "",
    ]
    if lesson.attempts:
        lines += ["| # | when | verdict | first failing criterion |", "|---|---|---|---|"]
        for attempt in lesson.attempts:
            failing = (attempt.first_failing or "").replace("|", "\\|")
            lines.append(f"| {attempt.number} | {format_time(attempt.started_at)} | {attempt.summary} | {failing} |")
        lines.append("")
    lines += ["#### Reflections", ""]
    reflections = lesson.reflections.strip()
    if reflections:
        # Demote the file's own headings so they nest under this lesson's heading.
        lines += [f"###{line}" if line.startswith("#") else line for line in reflections.splitlines()[1:]]
    else:
        lines.append("No reflections yet.")
    lines += ["", "#### Code at the first pass", ""]
    lines += _code_at_first_pass(repo, lesson)
    return lines


def render_markdown(workspace: Workspace, overview: JournalOverview) -> str:
    """Render the learning log as Markdown text."""
    repo = JournalRepo(journal_dir(workspace.tutor_dir))
    lines = [
        "# Learning log",
        "",
        f"Written by `ztf journal export` on {format_time(time.time())} from {workspace.root}.",
        f"{overview.total_attempts} attempts, {format_duration(overview.total_time_s)} of active work.",
        "",
    ]
    phase = None
    for lesson in overview.lessons:
        if lesson.phase != phase:
            phase = lesson.phase
            heading = f"Phase {phase}: {lesson.phase_title}" if phase else "Lessons not in the curriculum"
            lines += [f"## {heading}", ""]
        lines += _lesson_section(repo, lesson)
    if not overview.lessons:
        lines.append("Nothing is recorded yet. Run a lesson's checkpoint with `ztf check LESSON`.")
    return "\n".join(lines).rstrip() + "\n"


def export_markdown(workspace: Workspace, path: Path) -> Path:
    """Write the learning log to `path` and return it."""
    text = render_markdown(workspace, journal_overview(workspace))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path
