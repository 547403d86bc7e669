"""Entry point of the child process that runs one checkpoint: `python -m ztf_tutor.child SPEC`.

SPEC is a JSON object: workspace, check_file, tier, events_fd, scratch, memory_limit_mb,
data_dir and deadline (a time.time() value). The child reports on its own pipe (events_fd) as
JSON lines, so whatever the learner prints on stdout and stderr never mixes with the verdict:

  {"event": "begin", "criteria": [...]}
  {"event": "start", "name": ...}
  {"event": "criterion", "result": {...}}
  {"event": "progress", "fraction": 0.5, "text": ...}
  {"event": "exit_called", "code": 3, "location": "phase1/x.py:5"}
  {"event": "done"}
"""

from __future__ import annotations

import faulthandler
import json
import os
import resource
import sys
import time
import traceback
from pathlib import Path
from typing import Any, NoReturn

_REAL_EXIT = os._exit


class EventWriter:
    """Writes JSON lines to the events pipe; the parent reads them as they come."""

    def __init__(self, fd: int) -> None:
        self.fd = fd

    def send(self, event: str, **fields: Any) -> None:
        line = json.dumps({"event": event, **fields}) + "\n"
        data = line.encode("utf-8")
        while data:
            written = os.write(self.fd, data)
            data = data[written:]


def limit_memory(limit_mb: int | None) -> None:
    """Cap the address space so that a runaway allocation raises MemoryError instead of swapping."""
    if not limit_mb:
        return
    limit = int(limit_mb) * 1024 * 1024
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))


def report_exit_calls(events: EventWriter, workspace: Path) -> None:
    """Wrap os._exit so that an exit from learner code is reported with its file and line."""
    root = str(workspace.resolve())

    def reporting_exit(code: int) -> None:
        location = None
        for frame in reversed(traceback.extract_stack()[:-1]):
            path = os.path.abspath(frame.filename)
            if path.startswith(root + os.sep):
                location = f"{os.path.relpath(path, root)}:{frame.lineno}"
                break
        try:
            events.send("exit_called", code=code, location=location)
        finally:
            _REAL_EXIT(code)

    os._exit = reporting_exit  # type: ignore[assignment]


def run(spec: dict[str, Any]) -> int:
    # Imported here so the module stays cheap to import for the warm worker.
    from .checking import (
        CheckContext,
        criteria_of,
        criterion_name,
        load_check_module,
        run_criterion,
    )

    events = EventWriter(int(spec["events_fd"]))
    workspace = Path(spec["workspace"]).resolve()
    faulthandler.enable(file=sys.stderr, all_threads=False)
    if spec.get("deadline"):
        # Print the stack shortly before the runner's deadline (wall clock, shared with the parent),
        # so that a timeout can name the learner's line.
        remaining = float(spec["deadline"]) - time.time()
        faulthandler.dump_traceback_later(max(0.05, remaining - min(1.0, 0.2 * remaining)), exit=False)
    limit_memory(spec.get("memory_limit_mb"))
    report_exit_calls(events, workspace)

    sys.path.insert(0, str(workspace))
    os.chdir(workspace)
    scratch = Path(spec["scratch"])
    scratch.mkdir(parents=True, exist_ok=True)
    data_dir = Path(spec["data_dir"]) if spec.get("data_dir") else None

    def on_progress(fraction: float, text: str) -> None:
        events.send("progress", fraction=fraction, text=text)

    try:
        module = load_check_module(Path(spec["check_file"]))
    except Exception:
        events.send("check_broken", traceback=traceback.format_exc())
        return 3
    criteria = criteria_of(module, spec["tier"])
    events.send("begin", criteria=[criterion_name(function) for function in criteria])
    context = CheckContext(workspace, spec["tier"], scratch, data_dir, on_progress)
    for function in criteria:
        events.send("start", name=criterion_name(function))
        result = run_criterion(function, context)
        events.send("criterion", result=result.to_json())
    events.send("done")
    return 0


def main() -> None:
    run_and_exit(json.loads(sys.argv[1]))


def run_and_exit(spec: dict[str, Any]) -> NoReturn:
    """Run the check, then end the process; the warm worker's forked children call this too."""
    code = run(spec)
    # Flush what the learner printed, then leave without running their atexit handlers or
    # waiting on threads they started: the verdict is complete.
    sys.stdout.flush()
    sys.stderr.flush()
    os.close(int(spec["events_fd"]))
    _REAL_EXIT(code)


if __name__ == "__main__":
    main()
