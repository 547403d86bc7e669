"""The journal's index: an append-only JSON-lines file that `ztf journal` reads instead of git history.

`<workspace>/.ztf/journal-index.jsonl` has one event per line, oldest first:

  {"kind": "attempt", "lesson", "at", "end", "status", "passed", "total", "duration_s", "tier",
   "where", "trigger", "hints_shown", "first_failing", "summary", "commit"}
  {"kind": "reflection", "lesson", "at", "commit"}
  {"kind": "activity", "lesson", "at"}          a save of one of the lesson's files
  {"kind": "hint", "lesson", "at", "step"}
  {"kind": "reveal", "lesson", "at"}            the reference solution was shown

Git is the source of truth: every attempt and reflection line names its commit, and the attempt
commits also carry the activity, hint and reveal events that preceded them. So a missing or
corrupt index is rebuilt from git, losing only the events after the last attempt. Writers append
while holding the journal lock. Readers take no lock and ignore a last line without its newline,
because it is an append still in progress or one cut short by a kill, which the next writer
truncates.
"""

from __future__ import annotations

import json
import logging
import os
import re
from pathlib import Path
from typing import Any

from .repo import CommitInfo, JournalRepo

log = logging.getLogger(__name__)

ATTEMPT_PATH = re.compile(r"^lessons/(?P<lesson>[^/]+)/attempt\.json$")
REFLECTION_PATH = re.compile(r"^lessons/(?P<lesson>[^/]+)/reflections\.md$")
ATTEMPT_LINE_KEYS = ("lesson", "status", "passed", "total", "duration_s", "tier", "where", "trigger",
                     "hints_shown", "first_failing", "summary")


class IndexCorrupt(Exception):
    """A complete line of the index is not a JSON object."""


def attempt_line(record: dict[str, Any], sha: str) -> dict[str, Any]:
    """Build the index line of an attempt record committed as `sha`."""
    line = {"kind": "attempt", "at": record["started_at"], "end": record["finished_at"]}
    line.update({key: record.get(key) for key in ATTEMPT_LINE_KEYS})
    line["commit"] = sha
    return line


class JournalIndex:
    """The parsed index file, read incrementally from where the last read stopped."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.events: list[dict[str, Any]] = []
        self.offset = 0
        self.inode: int | None = None

    def refresh(self) -> None:
        """Read the lines appended since the last call. Raises IndexCorrupt on an unreadable line."""
        try:
            with open(self.path, "rb") as handle:
                status = os.fstat(handle.fileno())
                # Another process rewrote the file (a rebuild), so the old offset means nothing.
                if status.st_ino != self.inode or status.st_size < self.offset:
                    self.events, self.offset, self.inode = [], 0, status.st_ino
                handle.seek(self.offset)
                data = handle.read()
        except FileNotFoundError:
            self.events, self.offset, self.inode = [], 0, None
            return
        complete = data.rfind(b"\n") + 1
        for number, raw in enumerate(data[:complete].splitlines()):
            try:
                event = json.loads(raw)
            except ValueError as error:
                raise IndexCorrupt(f"{self.path}: line {len(self.events) + number + 1} is not JSON ({error})") from None
            if not isinstance(event, dict):
                raise IndexCorrupt(f"{self.path}: line {len(self.events) + number + 1} is not a JSON object")
            self.events.append(event)
        self.offset += complete

    def last_commit(self) -> str | None:
        for event in reversed(self.events):
            if event.get("commit"):
                return event["commit"]
        return None

    def append(self, lines: list[dict[str, Any]]) -> None:
        """Append events. Call only while holding the journal lock, after `refresh()`."""
        if not lines:
            return
        payload = "".join(json.dumps(line, ensure_ascii=False, sort_keys=True) + "\n" for line in lines)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "ab") as handle:
            self.inode = os.fstat(handle.fileno()).st_ino
            # A line cut short by a killed writer is dropped here; its commit, if any, is in git.
            if handle.tell() > self.offset:
                handle.truncate(self.offset)
            handle.write(payload.encode("utf-8"))
        self.events.extend(lines)
        self.offset += len(payload.encode("utf-8"))

    def rewrite(self, lines: list[dict[str, Any]]) -> None:
        """Replace the whole index through a temporary file and a rename."""
        payload = "".join(json.dumps(line, ensure_ascii=False, sort_keys=True) + "\n" for line in lines)
        temporary = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        temporary.write_text(payload, encoding="utf-8")
        os.replace(temporary, self.path)
        self.inode = self.path.stat().st_ino
        self.events = list(lines)
        self.offset = len(payload.encode("utf-8"))

    def pending_events(self, lesson_id: str) -> list[dict[str, Any]]:
        """Return the lesson's activity, hint and reveal events since its last attempt, oldest first."""
        found = []
        for event in reversed(self.events):
            if event.get("lesson") != lesson_id:
                continue
            if event.get("kind") == "attempt":
                break
            if event.get("kind") in ("activity", "hint", "reveal"):
                found.append(event)
        found.reverse()
        return found


def events_from_commits(repo: JournalRepo, commits: list[CommitInfo]) -> list[dict[str, Any]]:
    """Build index lines for these commits from the records they contain."""
    wanted = {}
    for commit in commits:
        for path in commit.paths:
            if ATTEMPT_PATH.match(path):
                wanted[commit.sha] = f"{commit.sha}:{path}"
    blobs = repo.read_blobs(list(wanted.values()))
    lines: list[dict[str, Any]] = []
    for commit in commits:
        spec = wanted.get(commit.sha)
        if spec is not None:
            try:
                record = json.loads(blobs[spec] or b"")
            except ValueError:
                log.warning("journal commit %s has an unreadable attempt record; skipped", commit.sha[:10])
                continue
            lines.extend(record.get("events", []))
            lines.append(attempt_line(record, commit.sha))
            continue
        for path in commit.paths:
            match = REFLECTION_PATH.match(path)
            if match:
                lines.append({"kind": "reflection", "lesson": match.group("lesson"), "at": commit.time, "commit": commit.sha})
    return lines


def synchronise(repo: JournalRepo, index: JournalIndex) -> None:
    """Bring the index in line with the repository. Call only while holding the journal lock."""
    try:
        index.refresh()
    except IndexCorrupt as error:
        log.warning("%s; rebuilding the journal index from git", error)
        index.events, index.offset = [], 0
        index.rewrite(events_from_commits(repo, repo.commits_after(None)) if repo.exists() else [])
        return
    head = repo.head() if repo.exists() else None
    last = index.last_commit()
    if last == head:
        return
    if head is None:
        log.warning("the journal repository has no commits but its index names some; starting the index afresh")
        index.rewrite([event for event in index.events if not event.get("commit")])
    elif last is None or repo.is_ancestor(last):
        index.append(events_from_commits(repo, repo.commits_after(last)))
    else:
        log.warning("the journal index names commit %s, which is not in the repository; rebuilding it", last[:10])
        index.rewrite(events_from_commits(repo, repo.commits_after(None)))


def read_complete(path: Path) -> tuple[bytes, os.stat_result | None]:
    """Read the index's complete lines as bytes, with the file's status (None when it is missing)."""
    try:
        with open(path, "rb") as handle:
            status = os.fstat(handle.fileno())
            data = handle.read()
    except FileNotFoundError:
        return b"", None
    return data[: data.rfind(b"\n") + 1], status


def parse_lines(data: bytes) -> list[dict[str, Any]]:
    """Parse index lines. Raises IndexCorrupt when one is not a JSON object."""
    events = []
    for number, raw in enumerate(data.splitlines(), start=1):
        try:
            event = json.loads(raw)
        except ValueError as error:
            raise IndexCorrupt(f"index line {number} is not JSON ({error})") from None
        if not isinstance(event, dict):
            raise IndexCorrupt(f"index line {number} is not a JSON object")
        events.append(event)
    return events


def lesson_lines(data: bytes, lesson_id: str) -> bytes:
    """Select the lines that mention the lesson without parsing the others.

    Every line is written by `json.dumps` with the same settings, so a lesson's lines contain
    its `"lesson": "<id>"` pair verbatim; callers still check the parsed value.
    """
    marker = json.dumps({"lesson": lesson_id}, ensure_ascii=False)[1:-1].encode("utf-8")
    return b"".join(line + b"\n" for line in data.splitlines() if marker in line)


def last_commit_in(data: bytes) -> str | None:
    """Return the commit named by the last line that names one."""
    end = len(data)
    while end > 0:
        start = data.rfind(b"\n", 0, end - 1) + 1
        line = data[start:end]
        if b'"commit"' in line:
            try:
                return json.loads(line).get("commit")
            except (ValueError, AttributeError):
                return None
        end = start
    return None
