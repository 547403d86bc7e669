"""Measure how soon a learner gets a verdict, side by side, in one run.

  PYTHONPATH=. python bench/latency.py [--saves 20] [--repeats 5]

Prints, for a trivial check (bench/trivial_check, no torch) and for lesson 1.2's check:
- save-to-verdict latency, warm (child forked from the warm worker) and cold (fresh
  interpreter): from the return of the file write to the verdict being available, as the
  median over --saves saves, with the check's own compute time measured inside the child
  (the sum of its criteria's durations) and the overhead = latency − compute;
- the time from `ztf start` to its first screen (when the TUI exists);
- the time of a cold `ztf check 1.2` and of a cold `python -m pytest` of the same criteria.

Saves are noticed by a real watchdog Observer reacting to the events the OS reports when a
save completes: close-after-write (inotify IN_CLOSE_WRITE, watchdog's FileClosedEvent) for an
in-place write, and a rename into place (FileMovedEvent) for an editor's atomic save. Even
saves write in place and odd saves rename, so both paths are in the median. No fixed debounce
is added; the tutor's watcher should act on the same two events.
"""

from __future__ import annotations

import argparse
import collections
import fcntl
import importlib.util
import os
import platform
import pty
import re
import select
import shutil
import signal
import statistics
import struct
import subprocess
import sys
import tempfile
import termios
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from watchdog.events import FileClosedEvent, FileMovedEvent, FileSystemEvent, FileSystemEventHandler  # noqa: E402
from watchdog.observers import Observer  # noqa: E402

TRIVIAL_FILE = "bench_trivial.py"
TRIVIAL_SOURCE = "def add(a, b):\n    return a + b\n"
LESSON = "1.2"
VERDICT_TIMEOUT_S = 120.0
WORKER_READY_TIMEOUT_S = 120.0
ANSI = re.compile(rb"\x1b(\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(\x07|\x1b\\)|[@-Z\\-_])")


@dataclass
class Sample:
    latency_s: float
    compute_s: float
    via: str
    status: str

    @property
    def overhead_s(self) -> float:
        return self.latency_s - self.compute_s


def isolate(home: Path) -> None:
    """Point ztf's config, state and data folders at a temporary home, like the tests do."""
    for variable, name in (("ZTF_CONFIG_DIR", "config"), ("ZTF_STATE_DIR", "state"), ("ZTF_DATA_DIR", "data")):
        os.environ[variable] = str(home / name)
    os.environ.pop("ZTF_WORKSPACE", None)
    os.environ["PYTHONDONTWRITEBYTECODE"] = "1"  # no __pycache__ in the watched workspace
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))


def prepare_workspace(root: Path):
    """Create a workspace with every reference up to lesson 1.2 solved and the trivial learner file."""
    from ztf_tutor.curriculum import curriculum
    from ztf_tutor.verify import copy_earlier_references, copy_reference
    from ztf_tutor.workspace import init_workspace

    workspace, _ = init_workspace(root, remember=False)
    lesson = curriculum().lesson(LESSON)
    copy_earlier_references(lesson, workspace.root)
    copy_reference(lesson, workspace.root)
    (workspace.root / TRIVIAL_FILE).write_text(TRIVIAL_SOURCE, encoding="utf-8")
    return workspace, lesson


def trivial_lesson() -> SimpleNamespace:
    """Build a lesson-like object for the trivial check, which is not part of the curriculum."""
    from ztf_tutor.curriculum import Tier

    return SimpleNamespace(id="bench-trivial", files=(TRIVIAL_FILE,), check_file=REPO / "bench" / "trivial_check" / "check.py",
                           tiers={"fast": Tier("fast", 60.0)})


class SaveHandler(FileSystemEventHandler):
    """Starts a check when a watched file's save completes, and records when its verdict arrives."""

    def __init__(self, workspace: Path, lesson, file: str, warm: bool) -> None:
        self.target = os.path.realpath(workspace / file)
        self.workspace = workspace
        self.lesson = lesson
        self.warm = warm
        self.done = threading.Event()
        self.sample: Sample | None = None
        self.triggers = 0

    def dispatch(self, event: FileSystemEvent) -> None:
        if isinstance(event, FileClosedEvent) and os.path.realpath(os.fsdecode(event.src_path)) == self.target:
            self._saved()
        elif isinstance(event, FileMovedEvent) and os.path.realpath(os.fsdecode(event.dest_path)) == self.target:
            self._saved()

    def _saved(self) -> None:
        self.triggers += 1
        threading.Thread(target=self._check, daemon=True).start()

    def _check(self) -> None:
        from ztf_tutor.runner import CheckRun

        run = CheckRun(self.workspace, self.lesson, warm=self.warm).start()
        result = run.wait()
        finished = time.perf_counter()
        compute = sum(criterion.duration_s for criterion in result.criteria)
        self.sample = Sample(finished, compute, run.via, result.status)
        self.done.set()


def save(path: Path, text: str, atomic: bool) -> float:
    """Write the file as an editor would; return the perf_counter time when the write returned."""
    if atomic:
        temporary = path.with_name(f".{path.name}.saving")
        temporary.write_text(text, encoding="utf-8")
        os.replace(temporary, path)
    else:
        path.write_text(text, encoding="utf-8")
    return time.perf_counter()


def measure_saves(workspace: Path, lesson, file: str, warm: bool, saves: int) -> list[Sample]:
    """Save `file` `saves` times (plus one warm-up save) and time each save's verdict."""
    path = workspace / file
    original = path.read_text(encoding="utf-8")
    handler = SaveHandler(workspace, lesson, file, warm)
    observer = Observer()
    observer.schedule(handler, str(workspace), recursive=True)
    observer.start()
    samples = []
    try:
        for index in range(saves + 1):
            handler.done.clear()
            written = save(path, f"{original}\n# save {index}\n", atomic=index % 2 == 1)
            if not handler.done.wait(VERDICT_TIMEOUT_S):
                raise RuntimeError(f"no verdict {VERDICT_TIMEOUT_S:g} s after save {index} of {file}")
            sample = handler.sample
            assert sample is not None
            if index > 0:  # the first save warms the page cache and the watcher
                samples.append(Sample(sample.latency_s - written, sample.compute_s, sample.via, sample.status))
            time.sleep(0.1)  # let the worker reap the child before the next save
    finally:
        observer.stop()
        observer.join()
        path.write_text(original, encoding="utf-8")
    if handler.triggers != saves + 1:
        print(f"  note: {handler.triggers} checks started for {saves + 1} saves of {file}", file=sys.stderr)
    return samples


def median(values: list[float]) -> float:
    return statistics.median(values)


def counts(counter: collections.Counter) -> str:
    return ", ".join(f"{count} {name}" for name, count in sorted(counter.items()))


def report_saves(label: str, samples: list[Sample]) -> dict[str, float]:
    vias = collections.Counter(sample.via for sample in samples)
    statuses = collections.Counter(sample.status for sample in samples)
    row = {
        "latency": median([s.latency_s for s in samples]),
        "compute": median([s.compute_s for s in samples]),
        "overhead": median([s.overhead_s for s in samples]),
        "p90": statistics.quantiles([s.latency_s for s in samples], n=10)[-1],
    }
    print(f"| {label:<22} | {len(samples):>5} | {row['latency'] * 1000:>9.0f} | {row['compute'] * 1000:>9.0f} | "
          f"{row['overhead'] * 1000:>9.0f} | {row['p90'] * 1000:>7.0f} | {counts(vias)}; {counts(statuses)} |")
    return row


def time_command(command: list[str], cwd: Path, repeats: int, expect_rc: int = 0) -> float:
    """Median wall time of a command run `repeats` times."""
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        done = subprocess.run(command, cwd=cwd, capture_output=True, text=True)
        times.append(time.perf_counter() - started)
        if done.returncode != expect_rc:
            raise RuntimeError(f"{' '.join(command)} exited {done.returncode}:\n{done.stdout[-2000:]}{done.stderr[-2000:]}")
    return median(times)


PYTEST_FILE = '''
"""Each criterion of {check} as a plain pytest test, run in a fresh interpreter."""
import sys
from pathlib import Path

import pytest

sys.path.insert(0, {workspace!r})

from ztf_tutor.checking import CheckContext, criteria_of, load_check_module, seed_everything

MODULE = load_check_module(Path({check!r}))
CONTEXT = CheckContext(Path({workspace!r}), "fast", Path({scratch!r}))


@pytest.mark.parametrize("function", criteria_of(MODULE, "fast"), ids=lambda f: f.__name__)
def test_criterion(function):
    seed_everything()
    function(CONTEXT)
'''


def time_cold_pytest(workspace: Path, check_file: Path, folder: Path, repeats: int) -> float:
    """Median wall time of a cold `python -m pytest` of a generated file running the check's criteria."""
    folder.mkdir(parents=True, exist_ok=True)
    test_file = folder / f"test_{check_file.parent.name}.py"
    test_file.write_text(PYTEST_FILE.format(check=str(check_file), workspace=str(workspace), scratch=str(folder)), encoding="utf-8")
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(test_file)]
    return time_command(command, folder, repeats)


def time_first_screen(workspace: Path, marker: str, timeout_s: float) -> tuple[float | None, str]:
    """Seconds from starting `ztf start` in a terminal to `marker` being drawn, or None and why."""
    if importlib.util.find_spec("ztf_tutor.tui.app") is None:
        return None, "not available: this checkout has no ztf_tutor/tui/app.py"
    environment = dict(os.environ, TERM="xterm-256color", COLUMNS="160", LINES="40")
    command = [sys.executable, "-m", "ztf_tutor", "start", "--workspace", str(workspace)]
    started = time.perf_counter()
    pid, fd = pty.fork()
    if pid == 0:
        os.execve(sys.executable, command, environment)
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 160, 0, 0))
    output = bytearray()
    try:
        while time.perf_counter() - started < timeout_s:
            ready, _, _ = select.select([fd], [], [], 0.05)
            if not ready:
                continue
            try:
                chunk = os.read(fd, 65536)
            except OSError:
                break  # the program ended and closed the terminal
            if not chunk:
                break
            output += chunk
            if marker.encode() in ANSI.sub(b"", bytes(output)):
                return time.perf_counter() - started, f"until {marker!r} was drawn"
        tail = ANSI.sub(b"", bytes(output))[-300:].decode(errors="replace")
        return None, f"{marker!r} not drawn within {timeout_s:g} s; last output: {tail!r}"
    finally:
        try:
            os.killpg(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        os.waitpid(pid, 0)
        os.close(fd)


def describe_machine() -> str:
    model = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import torch

    load = ", ".join(f"{value:.2f}" for value in os.getloadavg())
    return (f"{platform.node()}: {os.cpu_count()} CPUs ({model}), {platform.system()} {platform.release()}, "
            f"Python {platform.python_version()}, torch {torch.__version__}; load average {load}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--saves", type=int, default=20, help="saves per check and mode (default: 20)")
    parser.add_argument("--repeats", type=int, default=5, help="runs of each cold command (default: 5)")
    parser.add_argument("--start-marker", default="palette",
                        help="text whose drawing marks ztf start's first screen "
                        "(default: Textual's command palette hint at the right end of the footer, drawn last)")
    parser.add_argument("--start-timeout", type=float, default=60.0, help="seconds to wait for the first screen")
    args = parser.parse_args()
    if args.saves < 2:
        parser.error("--saves must be at least 2")

    home = Path(tempfile.mkdtemp(prefix="ztf-bench-"))
    isolate(home)
    try:
        return run_benchmark(args, home)
    finally:
        shutil.rmtree(home, ignore_errors=True)


def run_benchmark(args: argparse.Namespace, home: Path) -> int:
    from ztf_tutor import worker

    workspace, lesson = prepare_workspace(home / "ws")
    root = workspace.root
    print(f"machine: {describe_machine()}")
    print(f"workspace: {root}\n")

    started = worker.prewarm(root)
    if not started.ready.wait(WORKER_READY_TIMEOUT_S):
        print(f"the warm worker did not start; its log:\n{started.log_path.read_text()}", file=sys.stderr)
        return 1

    print("Save-to-verdict (ms, medians; overhead = latency − the check's compute time in the child)\n")
    print("| check, mode            | saves |   latency |   compute |  overhead |     p90 | child started; verdicts |")
    print("|------------------------|-------|-----------|-----------|-----------|---------|-------------------------|")
    rows = {}
    for name, check_lesson, file in (("trivial", trivial_lesson(), TRIVIAL_FILE), (LESSON, lesson, lesson.files[0])):
        for warm in (True, False):
            mode = "warm" if warm else "cold"
            samples = measure_saves(root, check_lesson, file, warm, args.saves)
            rows[name, mode] = report_saves(f"{name}, {mode}", samples)

    print()
    for name in ("trivial", LESSON):
        warm, cold = rows[name, "warm"], rows[name, "cold"]
        print(f"{name}: cold/warm latency {cold['latency'] / warm['latency']:.1f}×, "
              f"cold/warm overhead {cold['overhead'] / warm['overhead']:.1f}×")

    print("\nCold commands (s, medians)\n")
    check_command = [sys.executable, "-m", "ztf_tutor", "check", LESSON, "--workspace", str(root), "--json"]
    ztf_check = time_command(check_command, root, args.repeats)
    print(f"cold `ztf check {LESSON}`: {ztf_check:.2f} s")
    # The workspace's own test_checkpoints.py runs every lesson's criteria under pytest.
    pytest_command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-k", LESSON, "test_checkpoints.py"]
    pytest_lesson = time_command(pytest_command, root, args.repeats)
    pytest_trivial = time_cold_pytest(root, trivial_lesson().check_file, home / "pytest-trivial", args.repeats)
    print(f"cold `python -m pytest -k {LESSON} test_checkpoints.py` in the workspace: {pytest_lesson:.2f} s")
    print(f"cold `python -m pytest` of a file running the trivial criterion: {pytest_trivial:.2f} s")
    for name, cold_pytest in (("trivial", pytest_trivial), (LESSON, pytest_lesson)):
        warm = rows[name, "warm"]
        print(f"{name}: cold pytest / warm save-to-verdict = {cold_pytest / warm['latency']:.1f}×; "
              f"cold pytest / warm overhead = {cold_pytest / warm['overhead']:.1f}×")

    first_screen, how = time_first_screen(root, args.start_marker, args.start_timeout)
    shown = f"{first_screen:.2f} s ({how})" if first_screen is not None else how
    print(f"\n`ztf start` to first screen: {shown}")
    load = ", ".join(f"{value:.2f}" for value in os.getloadavg())
    print(f"load average at the end: {load}")
    worker.stop_workers()
    return 0


if __name__ == "__main__":
    sys.exit(main())
