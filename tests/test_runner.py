"""The runner against real child processes: verdicts for correct, wrong and misbehaving learner code."""

from __future__ import annotations

import os
import signal
import time

import pytest

from ztf_tutor import checking
from ztf_tutor.checking import CheckContext, fail, run_criterion
from ztf_tutor.config import Settings
from ztf_tutor.curriculum import curriculum
from ztf_tutor.runner import BoundedOutput, CheckRun, run_check

LEARNER_FILE = "phase1/micrograd.py"


@pytest.fixture
def lesson():
    return curriculum().lesson("1.2")


def write_learner(workspace, source: str) -> None:
    (workspace.root / LEARNER_FILE).write_text(source, encoding="utf-8")


def processes_in_group(pgid: int) -> list[int]:
    """Pids of live processes whose process group is pgid (zombies excluded)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            found.append(int(entry))
    return found


def test_stub_fails_every_criterion_with_message(workspace, lesson):
    result = run_check(workspace.root, lesson)
    assert result.status == "fail"
    assert len(result.criteria) == len(lesson.criteria_names())
    for criterion in result.criteria:
        assert criterion.status == "fail", criterion
        assert "is not implemented yet" in criterion.message
        assert criterion.location and criterion.location.startswith(LEARNER_FILE)


def test_reference_passes_with_measured_values(workspace, lesson, reference):
    reference("1.2")
    result = run_check(workspace.root, lesson)
    assert result.status == "pass", [c.message for c in result.criteria]
    gradients = next(c for c in result.criteria if c.name.startswith("Gradients of every operation"))
    assert gradients.measured.startswith("max |grad − torch| = ")
    assert gradients.threshold == "≤ 1.0e-06"


def test_infinite_loop_times_out_and_leaves_no_process(workspace, lesson):
    write_learner(workspace, "import os\nopen('pid', 'w').write(str(os.getpid()))\nwhile True:\n    pass\n")
    started = time.monotonic()
    run = CheckRun(workspace.root, lesson, timeout_s=6).start()
    pgid = run.process.pid
    result = run.wait()
    elapsed = time.monotonic() - started
    assert result.status == "error"
    assert result.message.startswith("timed out after 6 s; it was running phase1/micrograd.py:3")
    assert elapsed < 6 + 5
    assert processes_in_group(pgid) == []


def test_children_of_learner_code_are_killed(workspace, lesson):
    write_learner(workspace, "import subprocess\nsubprocess.Popen(['sleep', '300'])\nwhile True:\n    pass\n")
    run = CheckRun(workspace.root, lesson, timeout_s=3).start()
    pgid = run.process.pid
    run.wait()
    assert processes_in_group(pgid) == []


def test_flood_of_output_is_bounded(workspace, lesson):
    # 200 MB in 1 MB lines: the runner must drain the pipe and keep only the ends.
    write_learner(workspace, "import sys\nline = 'x' * (1 << 20) + '\\n'\nfor _ in range(200):\n    sys.stdout.write(line)\nprint('THE END')\n")
    settings = Settings()
    result = run_check(workspace.root, lesson, settings=settings, timeout_s=60)
    assert result.output_bytes >= 200 * (1 << 20)
    assert len(result.output) < 3 * settings.check.output_limit_kb * 1024
    assert "bytes of output omitted" in result.output
    assert result.output.rstrip().endswith("THE END")
    # The flooding module defines no Value class, so every criterion reports that, not a hang.
    assert result.status == "error"
    assert "AttributeError" in result.criteria[0].message


def test_os_exit_at_import_names_the_exit(workspace, lesson):
    write_learner(workspace, "import os\n\nos._exit(3)\n")
    result = run_check(workspace.root, lesson)
    assert result.status == "error"
    assert "os._exit(3)" in result.message
    assert f"{LEARNER_FILE}:3" in result.message


def test_segfault_names_the_crash_and_line(workspace, lesson):
    write_learner(workspace, "import ctypes\n\nctypes.string_at(0)\n")
    result = run_check(workspace.root, lesson)
    assert result.status == "error"
    assert "segmentation fault" in result.message
    assert f"{LEARNER_FILE}:3" in result.message


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("import sys\nsys.exit(4)\n", "SystemExit(4)"),
        ("raise KeyboardInterrupt\n", "KeyboardInterrupt"),
        ("def broken(:\n    pass\n", "SyntaxError"),
        ("import no_such_module_here\n", "ModuleNotFoundError"),
    ],
    ids=["system-exit", "keyboard-interrupt", "syntax-error", "import-error"],
)
def test_import_time_failures_become_errors(workspace, lesson, source, expected):
    write_learner(workspace, source)
    result = run_check(workspace.root, lesson)
    assert result.status == "error"
    for criterion in result.criteria:
        assert criterion.status == "error"
        assert expected in criterion.message
        assert LEARNER_FILE in criterion.message


def test_runaway_allocation_hits_memory_ceiling(workspace, lesson):
    write_learner(workspace, "chunks = []\nwhile True:\n    chunks.append(bytearray(50 * 1024 * 1024))\n")
    settings = Settings()
    settings.check.memory_limit_mb = 1536
    result = run_check(workspace.root, lesson, settings=settings, timeout_s=60)
    assert result.status == "error"
    assert all("ran out of memory" in criterion.message for criterion in result.criteria)


def test_cancel_stops_the_run(workspace, lesson):
    write_learner(workspace, "while True:\n    pass\n")
    run = CheckRun(workspace.root, lesson, timeout_s=60).start()
    time.sleep(0.5)
    run.cancel("superseded by a newer save")
    result = run.wait()
    assert result.status == "error"
    assert result.message == "superseded by a newer save"
    assert processes_in_group(run.process.pid) == []


def test_same_code_same_verdict(workspace, lesson, reference):
    reference("1.2")
    first = run_check(workspace.root, lesson).to_json()
    second = run_check(workspace.root, lesson).to_json()
    for data in (first, second):
        data.pop("duration_s")
        data.pop("started_at")
        for criterion in data["criteria"]:
            criterion.pop("duration_s")
    assert first == second


def test_progress_events_reach_listener(workspace, lesson, reference):
    reference("1.2")
    events = []
    run_check(workspace.root, lesson, on_event=events.append)
    kinds = [event["event"] for event in events]
    assert kinds[0] == "begin"
    assert kinds[-1] == "done"
    assert "progress" in kinds


def test_bounded_output_keeps_head_and_tail():
    output = BoundedOutput(limit=10)
    for chunk in (b"0123456789", b"abcdefghij", b"KLMNOPQRST", b"uvwxyz"):
        output.write(chunk)
    text = output.text()
    assert text.startswith("0123456789")
    assert text.endswith("QRSTuvwxyz")
    assert "16 bytes of output omitted" in text
    assert output.total == 36


def test_no_process_left_after_clean_run(workspace, lesson, reference):
    reference("1.2")
    run = CheckRun(workspace.root, lesson).start()
    run.wait()
    assert processes_in_group(run.process.pid) == []
    with pytest.raises(ProcessLookupError):
        os.killpg(run.process.pid, signal.SIGKILL)


def test_sigterm_sent_to_child_is_reported(workspace, lesson):
    write_learner(workspace, "import os, signal\nos.kill(os.getpid(), signal.SIGTERM)\n")
    result = run_check(workspace.root, lesson)
    assert result.status == "error"
    assert "SIGTERM" in result.message


def test_learner_subprocess_output_is_captured(workspace, lesson):
    write_learner(workspace, "import subprocess\nsubprocess.run(['echo', 'from a child'])\n")
    result = run_check(workspace.root, lesson)
    assert "from a child" in result.output


def test_scratch_path_hidden_from_verdict(tmp_path):
    scratch = tmp_path / "ztf-check-random123"
    context = CheckContext(tmp_path, "fast", scratch)

    @checking.criterion("Names a file in the scratch folder")
    def names_scratch(ctx):
        fail(f"could not read {ctx.scratch / 'images.idx'}", measured=str(ctx.scratch))

    result = run_criterion(names_scratch, context)
    assert result.message == "could not read <check's temporary folder>/images.idx"
    assert result.measured == "<check's temporary folder>"
