"""The journal's git repository in `<workspace>/.ztf/journal`, and its repair after a crash.

Layout of every commit:

  lessons/<id>/attempt.json      the record of the attempt this commit made (see records.py)
  lessons/<id>/files/<path>      the lesson's learner files exactly as checked
  lessons/<id>/reflections.md    the learner's reflections on the lesson

Each attempt rewrites only its own lesson's folder, so git's content addressing stores a file
again only when it changed, and the repository grows with the changes between attempts.

Every git call runs through GitPython's `Git.execute` with an explicit working directory, so
nothing here changes the process's current directory (GitPython's index API does, which is why
it is not used). The identity is set per command, so the journal works with no git identity
configured anywhere. Callers serialise writers across processes with `JournalLock`.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# Without this, importing GitPython raises when no git executable is found, and every ztf
# command would stop. With it, the journal logs each failed write and the tutor keeps working.
os.environ.setdefault("GIT_PYTHON_REFRESH", "quiet")

import git  # noqa: E402

log = logging.getLogger(__name__)

BRANCH = "main"
IDENTITY = {
    "GIT_AUTHOR_NAME": "ztf journal",
    "GIT_AUTHOR_EMAIL": "journal@ztf.invalid",
    "GIT_COMMITTER_NAME": "ztf journal",
    "GIT_COMMITTER_EMAIL": "journal@ztf.invalid",
}
# Repository settings that keep a user's global git config from changing what is stored or
# from blocking a commit. They turn off signing prompts, hooks and line-ending conversion.
# They also stop `git gc` from detaching into a background process that would outlive the
# command and race the next writer. Git's
# own check after every commit is off (it costs a process each time); the writer runs
# `JournalRepo.maintain` every MAINTAIN_EVERY commits instead.
LOCAL_CONFIG = {
    "commit.gpgsign": "false",
    "core.hooksPath": ".git/no-hooks",
    "core.autocrlf": "false",
    "core.safecrlf": "false",
    "core.fsmonitor": "false",
    "gc.autoDetach": "false",
    "maintenance.auto": "false",
    "user.name": IDENTITY["GIT_AUTHOR_NAME"],
    "user.email": IDENTITY["GIT_AUTHOR_EMAIL"],
}


MAINTAIN_EVERY = 200


class JournalLock:
    """An exclusive flock on `<tutor dir>/journal.lock`, held by every journal writer while it writes."""

    def __init__(self, path: Path) -> None:
        self.path = path

    @contextlib.contextmanager
    def held(self) -> Iterator[int]:
        """Hold the lock; yields the locked file descriptor."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            yield handle.fileno()


@dataclass
class CommitInfo:
    """One commit of the journal as `git log` lists it."""

    sha: str
    time: float
    subject: str
    paths: list[str]


class JournalRepo:
    """The journal repository. Open it on one thread; it starts no long-lived git process."""

    def __init__(self, path: Path, lock_fd: int | None = None) -> None:
        self.path = path
        self.git_dir = path / ".git"
        self._git = git.Git(str(path))
        # Each git child inherits the journal lock's descriptor, so the flock stays held until
        # the child exits, even when this process is killed mid-command. The next writer then
        # waits for that orphaned git instead of deleting its lock files from under it.
        self._pass_fds = (lock_fd,) if lock_fd is not None else ()

    def run(self, *args: str, extra_env: dict[str, str] | None = None, strip: bool = True) -> str:
        """Run `git ARGS` in the journal and return its stdout."""
        env = dict(IDENTITY)
        env.update(extra_env or {})
        output = self._git.execute(["git", *args], env=env, strip_newline_in_stdout=False, pass_fds=self._pass_fds)
        return output.strip() if strip else output

    def exists(self) -> bool:
        return (self.git_dir / "HEAD").is_file()

    def ensure(self) -> None:
        """Create the repository when it is missing, and repair it after a crash."""
        if not self.exists():
            self.path.mkdir(parents=True, exist_ok=True)
            git.Git(str(self.path)).execute(["git", "init", "-q", f"--initial-branch={BRANCH}", str(self.path)])
            log.info("created the journal repository %s", self.path)
        current = dict(line.split("=", 1) for line in self.run("config", "--local", "--list").splitlines() if "=" in line)
        for key, value in LOCAL_CONFIG.items():
            if current.get(key.lower()) != value:
                self.run("config", key, value)
        self.repair()

    def repair(self) -> None:
        """Undo what a killed writer left behind. Call only while holding the journal lock.

        Every writer holds the lock, so any git lock file found now belongs to a dead process.
        A half-done attempt is dropped: the index and working tree go back to the last commit.
        """
        stale = list(self.git_dir.glob("*.lock")) + list((self.git_dir / "refs").rglob("*.lock"))
        removed = []
        for path in stale:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
                removed.append(path.name)
        # Loose objects are written to a temporary file first; a kill can leave one behind.
        for leftover in (self.git_dir / "objects").glob("*/tmp_obj_*"):
            with contextlib.suppress(FileNotFoundError):
                leftover.unlink()
        if removed:
            log.warning("removed stale git lock files in the journal: %s", ", ".join(removed))
        if self.head() is not None:
            self.run("reset", "-q", "--hard", "HEAD")
        self.run("clean", "-q", "-f", "-d")

    def head(self) -> str | None:
        """Return the sha of the last commit, or None before the first."""
        try:
            return self.run("rev-parse", "--verify", "-q", f"refs/heads/{BRANCH}")
        except git.GitCommandError:
            return None

    def commit(self, lesson_id: str, changes: dict[str, bytes | None], message: str, when: float) -> str:
        """Write `changes` (path in the repository → bytes, None deletes) and commit them; return the sha."""
        for relative, data in changes.items():
            target = self.path / relative
            if data is None:
                with contextlib.suppress(FileNotFoundError):
                    target.unlink()
                continue
            # A write cut short by a kill is harmless: repair resets the working tree to HEAD.
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
        self.run("add", "-A", "--", f"lessons/{lesson_id}")
        stamp = f"@{int(when)} +0000"
        self.run(
            "commit", "-q", "--no-verify", "--allow-empty", "--cleanup=whitespace", "-m", message,
            extra_env={"GIT_AUTHOR_DATE": stamp, "GIT_COMMITTER_DATE": stamp},
        )
        return self._new_head()

    def _new_head(self) -> str:
        """Return the sha `git commit` just wrote, read from its loose ref file to save a process."""
        try:
            sha = (self.git_dir / "refs" / "heads" / BRANCH).read_text(encoding="ascii").strip()
        except OSError:
            sha = ""
        if len(sha) == 40:
            return sha
        head = self.head()
        if head is None:
            raise git.GitCommandError(["git", "commit"], 1, b"the journal branch has no commit after committing")
        return head

    def commits_after(self, since: str | None) -> list[CommitInfo]:
        """Commits after `since` (all when None), oldest first, with the paths each changed."""
        revisions = f"{since}..refs/heads/{BRANCH}" if since else f"refs/heads/{BRANCH}"
        output = self.run("log", "--reverse", "--no-renames", "--format=%x1e%H %ct %s", "--name-only",
                          revisions, strip=False)
        commits = []
        for block in output.split("\x1e")[1:]:
            first, _, rest = block.partition("\n")
            sha, stamp, subject = (first.split(" ", 2) + [""])[:3]
            paths = [line for line in rest.splitlines() if line]
            commits.append(CommitInfo(sha, float(stamp), subject, paths))
        return commits

    def is_ancestor(self, sha: str) -> bool:
        """True when `sha` is a commit on the journal's branch."""
        try:
            self.run("merge-base", "--is-ancestor", sha, f"refs/heads/{BRANCH}")
        except git.GitCommandError:
            return False
        return True

    def read_blobs(self, specs: list[str]) -> dict[str, bytes | None]:
        """Read many `<sha>:<path>` objects through one `git cat-file --batch` process."""
        found: dict[str, bytes | None] = {}
        try:
            for spec in specs:
                try:
                    _, _, _, stream = self._git.stream_object_data(spec)
                    found[spec] = stream.read()
                except (ValueError, git.GitCommandError):
                    found[spec] = None
        finally:
            # Ends the persistent cat-file process, so a long session never accumulates them.
            self._git.clear_cache()
        return found

    def show(self, sha: str, path: str) -> bytes | None:
        """Return the bytes of `path` at commit `sha`, or None when it did not exist there."""
        return self.read_blobs([f"{sha}:{path}"])[f"{sha}:{path}"]

    def record_at(self, sha: str, lesson_id: str) -> dict[str, Any] | None:
        data = self.show(sha, f"lessons/{lesson_id}/attempt.json")
        return json.loads(data) if data else None

    def diff(self, old: str, new: str, lesson_id: str) -> str:
        """Return the unified diff of the lesson's files between two commits, with workspace-relative paths."""
        return self.run("diff", "--no-color", "--no-ext-diff", f"--relative=lessons/{lesson_id}/files/",
                        old, new, strip=False)

    def maintain(self) -> None:
        """Pack loose objects once enough have piled up (`git gc --auto`, in the foreground)."""
        self.run("gc", "--auto", "--quiet")
