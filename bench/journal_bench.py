"""Benchmark the journal: record many attempts through the real writer, then time `ztf journal`.

    PYTHONPATH=. python bench/journal_bench.py [--attempts 10000] [--lessons 50] [--runs 5]

Steps, each timed on this machine:
  1. record ATTEMPTS attempts spread over LESSONS lessons with `attempts.record_attempt` (one git
     commit each, written by the background writer), flushing every 100;
  2. run `ztf journal`, `ztf journal --json` and `ztf journal LESSON` as child processes, RUNS
     times each, and report the median and the fastest run. Each includes Python's start-up.
     Then time `ztf journal` with its per-lesson summary cache deleted before each run;
  3. delete the index and time the `ztf journal --json` that rebuilds it from git;
  4. report the repository's object count and size (`git count-objects -v`).
Lessons other than the curriculum's are copies of lesson 1.2 with other ids, so the index and
the repository look like a learner's after many lessons.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from ztf_tutor.attempts import record_activity, record_attempt  # noqa: E402
from ztf_tutor.curriculum import curriculum  # noqa: E402
from ztf_tutor.journal import flush_journal, index_path, journal_dir  # noqa: E402
from ztf_tutor.journal.summary import summary_path  # noqa: E402
from ztf_tutor.verdict import FAIL, PASS, CheckResult, CriterionResult  # noqa: E402
from ztf_tutor.workspace import init_workspace  # noqa: E402


def machine() -> str:
    model = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    git_version = subprocess.run(["git", "--version"], capture_output=True, text=True).stdout.strip()
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return (f"{platform.platform(terse=True)}, Python {platform.python_version()}, {git_version}, "
            f"{model}, {os.cpu_count()} logical CPUs, load average {load:.1f} at start")


def result_for(lesson_id: str, number: int) -> CheckResult:
    passed = min(number % 6, 5)
    criteria = [CriterionResult(f"criterion {index}", PASS if index < passed else FAIL, measured=f"{index * 0.1:.2e}")
                for index in range(5)]
    return CheckResult(lesson_id, "fast", PASS if passed == 5 else FAIL, 0.8, criteria, started_at=time.time())


def record_attempts(workspace, attempts: int, lesson_count: int) -> float:
    """Record the attempts; returns seconds taken, including the final flush."""
    base = curriculum().lesson("1.2")
    lessons = [dataclasses.replace(base, id=f"{1 + index // 10}.{index % 10 + 1}") for index in range(lesson_count)]
    reference = (base.reference_dir / base.files[0]).read_text(encoding="utf-8")
    target = workspace.root / base.files[0]
    started = time.perf_counter()
    for number in range(attempts):
        lesson = lessons[number % lesson_count]
        # Edit one line per attempt, as a learner would between saves.
        target.write_text(reference + f"# edit {number}\n", encoding="utf-8")
        record_activity(workspace, lesson)
        record_attempt(workspace, lesson, result_for(lesson.id, number), trigger="save")
        if number % 100 == 99:
            flush_journal(workspace)
            done = number + 1
            rate = done / (time.perf_counter() - started)
            print(f"\r  recorded {done:,}/{attempts:,} ({rate:.0f} attempts/s)", end="", file=sys.stderr, flush=True)
    flush_journal(workspace)
    print(file=sys.stderr)
    return time.perf_counter() - started


def time_command(args: list[str], runs: int, env: dict[str, str]) -> list[float]:
    timings = []
    for _ in range(runs):
        started = time.perf_counter()
        completed = subprocess.run([sys.executable, "-m", "ztf_tutor", *args], env=env, capture_output=True, text=True)
        timings.append(time.perf_counter() - started)
        if completed.returncode != 0:
            raise SystemExit(f"ztf {' '.join(args)} failed:\n{completed.stderr}")
    return timings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--attempts", type=int, default=10_000, help="attempts to record (default: 10000)")
    parser.add_argument("--lessons", type=int, default=50, help="lessons to spread them over (default: 50)")
    parser.add_argument("--runs", type=int, default=5, help="timed runs of each command (default: 5)")
    parser.add_argument("--keep", metavar="DIR", type=Path,
                        help="use and keep this folder; a second run on it skips recording (default: a temporary folder)")
    options = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="ztf-journal-bench-") as folder:
        root = options.keep.resolve() if options.keep else Path(folder)
        for variable, name in (("ZTF_CONFIG_DIR", "config"), ("ZTF_STATE_DIR", "state"), ("ZTF_DATA_DIR", "data")):
            os.environ[variable] = str(root / name)
        recorded = index_path(root / "ws" / ".ztf").exists()
        workspace, _ = init_workspace(root / "ws", remember=False)
        env = dict(os.environ, PYTHONPATH=str(REPO), COLUMNS="160")
        print(f"machine: {machine()}")

        if recorded:
            print(f"reusing the attempts recorded in {workspace.root}")
        else:
            seconds = record_attempts(workspace, options.attempts, options.lessons)
            print(f"record {options.attempts:,} attempts: {seconds:.1f} s "
                  f"({seconds / options.attempts * 1000:.1f} ms per attempt)")

        workspace_option = ["-w", str(workspace.root)]
        rows = [
            ("ztf --version (Python start-up alone)", ["--version"]),
            ("ztf journal", ["journal", *workspace_option]),
            ("ztf journal --json", ["journal", "--json", *workspace_option]),
            ("ztf journal 1.2", ["journal", "1.2", *workspace_option]),
        ]
        for label, args in rows:
            timings = time_command(args, options.runs, env)
            print(f"{label:<40} median {statistics.median(timings):.3f} s, fastest {min(timings):.3f} s")

        cold = []
        for _ in range(options.runs):
            summary_path(workspace).unlink(missing_ok=True)
            cold += time_command(["journal", *workspace_option], 1, env)
        print(f"{'ztf journal, summary cache deleted':<40} median {statistics.median(cold):.3f} s, fastest {min(cold):.3f} s")

        index_path(workspace.tutor_dir).rename(root / "index-backup.jsonl")
        rebuild = time_command(["journal", "--json", *workspace_option], 1, env)[0]
        print(f"{'ztf journal --json rebuilding the index':<40} {rebuild:.3f} s")

        counted = subprocess.run(["git", "-C", str(journal_dir(workspace.tutor_dir)), "count-objects", "-v"],
                                 capture_output=True, text=True, check=True).stdout
        fields = dict(line.split(": ") for line in counted.splitlines())
        objects = int(fields["count"]) + int(fields["in-pack"])
        kib = int(fields["size"]) + int(fields["size-pack"])
        index_kib = index_path(workspace.tutor_dir).stat().st_size / 1024
        print(f"repository: {objects:,} objects, {kib / 1024:.1f} MiB on disk ({kib / options.attempts:.2f} KiB per attempt); "
              f"index {index_kib / 1024:.1f} MiB")


if __name__ == "__main__":
    main()
