"""The journal's record format: snapshots of learner files, attempt records and commit messages.

An attempt record is one JSON object, stored as `lessons/<id>/attempt.json` in the commit of
that attempt. Its keys (format 1):

  format, kind ("attempt"), lesson, title, phase, phase_title, tier, where, trigger,
  status, passed, total, summary, message, criteria [{name, status, measured, threshold, message}],
  started_at, finished_at, duration_s (epoch seconds and seconds), hints_shown, solution_revealed,
  environment {python, torch, cuda, device, platform}, files {path: {sha256, bytes, missing}},
  snapshot ("before-run" when the bytes were read before the check started, "after-run" when they
  were read when the verdict was recorded), files_changed_during_check,
  events [index lines of saves, hints and reveals on this lesson since its previous attempt].
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import logging
import platform
import re
import shutil
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..curriculum import Lesson
from ..verdict import ERROR, FAIL, PASS, CheckResult

log = logging.getLogger(__name__)

RECORD_FORMAT = 1
SUBJECT_DETAIL_MAX = 60
# Snapshots taken by `snapshot_files`, keyed by (workspace root, lesson id); record time looks them up.
_snapshots: dict[tuple[str, str], Snapshot] = {}
_snapshots_lock = threading.Lock()


@dataclass
class Snapshot:
    """The bytes of a lesson's learner files at one moment; None marks a missing file."""

    lesson: str
    files: dict[str, bytes | None]
    mtimes: dict[str, float]
    taken_at: float = field(default_factory=time.time)

    def matches(self, mtimes: dict[str, float]) -> bool:
        """True when the files had these modification times when the snapshot was taken."""
        if set(mtimes) != set(self.mtimes):
            return False
        return all(abs(self.mtimes[name] - mtimes[name]) < 1e-6 for name in mtimes)


def read_snapshot(workspace_root: Path, lesson: Lesson) -> Snapshot:
    """Read the lesson's learner files now, with their modification times."""
    files: dict[str, bytes | None] = {}
    mtimes: dict[str, float] = {}
    for relative in lesson.files:
        path = workspace_root / relative
        try:
            mtimes[relative] = path.stat().st_mtime
            files[relative] = path.read_bytes()
        except OSError:
            mtimes[relative] = 0.0
            files[relative] = None
    return Snapshot(lesson.id, files, mtimes)


def snapshot_files(workspace_root: Path, lesson: Lesson) -> Snapshot:
    """Read the lesson's files just before a check starts, and keep them for `record_attempt`.

    Callers that start a check (CLI, watcher, TUI) call this right before `CheckRun.start()`, so
    the journal stores the bytes that were checked even when the learner saves again mid-run.
    """
    snapshot = read_snapshot(workspace_root, lesson)
    with _snapshots_lock:
        _snapshots[(str(workspace_root.resolve()), lesson.id)] = snapshot
    return snapshot


def snapshot_for(workspace_root: Path, lesson: Lesson, result: CheckResult) -> tuple[Snapshot, str]:
    """Return the snapshot to record with `result`, and whether it was taken before or after the run."""
    with _snapshots_lock:
        kept = _snapshots.pop((str(workspace_root.resolve()), lesson.id), None)
    if kept is not None and (not result.source_mtimes or kept.matches(result.source_mtimes)):
        return kept, "before-run"
    return read_snapshot(workspace_root, lesson), "after-run"


def lesson_slug(lesson: Lesson) -> str:
    """Return the short name in the lesson's file name: "micrograd" for 1.2-micrograd.md."""
    stem = lesson.path.stem
    prefix = f"{lesson.id}-"
    return stem[len(prefix):] if stem.startswith(prefix) else stem


def first_failing(result: CheckResult) -> str | None:
    for criterion in result.criteria:
        if criterion.status in (FAIL, ERROR):
            return criterion.name
    return None


def _shorten(text: str, limit: int = SUBJECT_DETAIL_MAX) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def commit_subject(lesson: Lesson, result: CheckResult) -> str:
    """Format the `git log` subject: "1.2 micrograd: fail 3/5, tanh's gradient matches PyTorch"."""
    head = f"{lesson.id} {lesson_slug(lesson)}"
    counts = result.counts()
    if result.status == ERROR and result.message:
        return f"{head}: error, {_shorten(result.message.splitlines()[0])}"
    score = f"{result.status} {counts[PASS]}/{len(result.criteria)}"
    failing = first_failing(result)
    return f"{head}: {score}, {_shorten(failing)}" if failing else f"{head}: {score}"


def commit_body(record: dict[str, Any]) -> str:
    """Format the commit message body: where and how the check ran, then one line per criterion."""
    lines = [
        f"tier {record['tier']}, ran {record['where']} on {record['environment'].get('device') or 'unknown device'}, "
        f"trigger {record['trigger']}, {record['duration_s']:.1f} s, hints shown {record['hints_shown']}",
        "",
    ]
    marks = {"pass": "+", "fail": "-", "error": "!", "skip": "~"}
    for criterion in record["criteria"]:
        measured = f": {criterion['measured']}" if criterion.get("measured") else ""
        threshold = f" (threshold {criterion['threshold']})" if criterion.get("threshold") else ""
        lines.append(f"{marks.get(criterion['status'], '?')} {criterion['name']}{measured}{threshold}")
    if record.get("message"):
        lines += ["", record["message"].splitlines()[0]]
    return "\n".join(lines)


def file_entries(snapshot: Snapshot) -> dict[str, dict[str, Any]]:
    entries: dict[str, dict[str, Any]] = {}
    for relative, data in snapshot.files.items():
        if data is None:
            entries[relative] = {"missing": True}
        else:
            entries[relative] = {"sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data), "missing": False}
    return entries


def attempt_record(
    lesson: Lesson,
    result: CheckResult,
    snapshot: Snapshot,
    snapshot_kind: str,
    *,
    trigger: str,
    hints_shown: int,
    solution_revealed: bool,
) -> dict[str, Any]:
    """Build the attempt record; the writer fills in `environment` and `events`."""
    counts = result.counts()
    started_at = result.started_at or (time.time() - result.duration_s)
    changed = bool(result.source_mtimes) and not snapshot.matches(result.source_mtimes)
    return {
        "format": RECORD_FORMAT,
        "kind": "attempt",
        "lesson": lesson.id,
        "title": lesson.title,
        "phase": lesson.phase,
        "phase_title": lesson.phase_title,
        "tier": result.tier,
        "where": result.where,
        "trigger": trigger,
        "status": result.status,
        "passed": counts[PASS],
        "total": len(result.criteria),
        "summary": result.summary(),
        "message": result.message,
        "criteria": [
            {key: getattr(criterion, key) for key in ("name", "status", "measured", "threshold", "message")}
            for criterion in result.criteria
        ],
        "first_failing": first_failing(result),
        "started_at": started_at,
        "finished_at": started_at + result.duration_s,
        "duration_s": round(result.duration_s, 3),
        "hints_shown": hints_shown,
        "solution_revealed": solution_revealed,
        "environment": reported_environment(result),
        "files": file_entries(snapshot),
        "snapshot": snapshot_kind,
        "files_changed_during_check": changed,
        "events": [],
    }


def reported_environment(result: CheckResult) -> dict[str, Any]:
    """Return the environment a remote run reported as `result.environment`, with a `device` key added.

    `CheckResult` has no environment field, so a remote runner sets the attribute, e.g. to
    {"python", "torch", "cuda", "gpus": [names]}. A local run leaves it unset; the writer fills it in.
    """
    environment = dict(getattr(result, "environment", None) or {})
    if environment and not environment.get("device"):
        gpus = environment.get("gpus") or []
        environment["device"] = f"cuda:0 ({gpus[0]})" if gpus and environment.get("cuda") else "cpu"
    return environment


def _torch_cuda_version() -> str | None:
    """CUDA version torch was built with, read from torch/version.py without importing torch."""
    spec = importlib.util.find_spec("torch")
    if spec is None or not spec.submodule_search_locations:
        return None
    version_file = Path(list(spec.submodule_search_locations)[0]) / "version.py"
    try:
        text = version_file.read_text(encoding="utf-8")
    except OSError:
        return None
    match = re.search(r"^cuda\s*(?::[^=]*)?=\s*['\"]([^'\"]+)['\"]", text, re.MULTILINE)
    return match.group(1) if match else None


def _gpu_name() -> str | None:
    """Name of the first GPU from nvidia-smi, or None where there is none."""
    if shutil.which("nvidia-smi") is None:
        return None
    try:
        output = subprocess.run(
            ["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"],
            capture_output=True, text=True, timeout=10, check=True,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    names = [line.strip() for line in output.splitlines() if line.strip()]
    return names[0] if names else None


_local_environment: dict[str, Any] | None = None


def local_environment(gpu_tier: bool) -> dict[str, Any]:
    """Python, torch and CUDA versions and the device of a check that ran on this machine.

    Torch is never imported here: importing it (and initialising CUDA) in the tutor's own process
    would cost seconds and GPU memory, so the versions come from package metadata.
    """
    global _local_environment
    if _local_environment is None:
        try:
            torch_version = importlib.metadata.version("torch")
        except importlib.metadata.PackageNotFoundError:
            torch_version = None
        cuda = _torch_cuda_version()
        _local_environment = {
            "python": platform.python_version(),
            "torch": torch_version,
            "cuda": cuda,
            "gpu": _gpu_name() if cuda else None,
            "platform": platform.platform(terse=True),
        }
    environment = {key: value for key, value in _local_environment.items() if key != "gpu"}
    # NOTE: the child does not report which device its criteria used, so a GPU tier is assumed to
    # run on the first GPU whenever torch has CUDA and nvidia-smi lists one.
    gpu = _local_environment["gpu"]
    environment["device"] = f"cuda:0 ({gpu})" if gpu_tier and gpu else "cpu"
    return environment
