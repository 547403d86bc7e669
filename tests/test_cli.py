"""The `ztf` command line as a learner runs it: real child processes, real workspaces."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest
from helpers import REPO, run_ztf

from ztf_tutor.cli import build_parser


def subcommand_paths() -> list[list[str]]:
    """Every command and nested subcommand, e.g. ["check"], ["dev", "verify"]."""
    paths = []

    def walk(parser, prefix):
        for action in parser._actions:
            if action.__class__.__name__ == "_SubParsersAction":
                for name, child in action.choices.items():
                    paths.append([*prefix, name])
                    walk(child, [*prefix, name])

    walk(build_parser(), [])
    return paths


@pytest.mark.parametrize("path", subcommand_paths(), ids=lambda path: " ".join(path))
def test_every_subcommand_has_help(path):
    result = run_ztf(*path, "--help")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("usage: ztf")


def test_headless_commands_never_import_textual(workspace):
    script = textwrap.dedent(f"""
        import sys, contextlib, io
        from ztf_tutor.cli import main
        for argv in (["lessons", "-w", {str(workspace.root)!r}], ["status", "-w", {str(workspace.root)!r}],
                     ["hint", "1.2", "-w", {str(workspace.root)!r}], ["dev", "lint"], ["init", {str(workspace.root)!r}],
                     ["check", "1.2", "-w", {str(workspace.root)!r}, "--json"]):
            with contextlib.redirect_stdout(io.StringIO()):
                main(argv)
        loaded = sorted(name for name in sys.modules if name == "textual" or name.startswith("textual."))
        print("TEXTUAL:", loaded)
    """)
    completed = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=REPO, timeout=120)
    assert completed.returncode == 0, completed.stderr
    assert "TEXTUAL: []" in completed.stdout


def test_done_when_stub_fails_then_reference_passes(workspace, reference):
    failing = run_ztf("check", "1.2", "-w", str(workspace.root), "--json")
    assert failing.returncode == 1, failing.stderr
    verdict = json.loads(failing.stdout)
    assert set(verdict) >= {"lesson", "status", "duration_s", "criteria"}
    assert verdict["lesson"] == "1.2"
    assert verdict["status"] == "fail"
    for criterion in verdict["criteria"]:
        assert set(criterion) >= {"name", "status", "measured", "threshold", "message"}
        assert criterion["status"] == "fail"
        assert criterion["message"]

    reference("1.2")
    passing = run_ztf("check", "1.2", "-w", str(workspace.root), "--json")
    assert passing.returncode == 0, passing.stdout
    assert json.loads(passing.stdout)["status"] == "pass"


def test_check_text_output_shows_measured_and_summary(workspace, reference):
    reference("1.2")
    result = run_ztf("check", "1.2", "-w", str(workspace.root))
    assert result.returncode == 0
    assert "max |grad − torch|" in result.stdout
    assert "PASS  7/7 criteria passed" in result.stdout
    assert "Checking 1.2" in result.stderr


def test_check_timeout_option(workspace):
    (workspace.root / "phase1/micrograd.py").write_text("while True:\n    pass\n")
    result = run_ztf("check", "1.2", "-w", str(workspace.root), "--timeout", "2", "--json")
    assert result.returncode == 1
    verdict = json.loads(result.stdout)
    assert verdict["status"] == "error"
    assert verdict["message"].startswith("timed out after 2 s")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["check", "7.7"], 'No lesson "7.7"'),
        (["check", "1.2", "--tier", "huge"], "invalid choice: 'huge'"),
        (["check", "1.2", "--timeout", "0"], "--timeout 0 is invalid"),
        (["frobnicate"], "invalid choice: 'frobnicate'"),
    ],
    ids=["unknown-lesson", "unknown-tier", "bad-timeout", "unknown-command"],
)
def test_usage_errors_exit_2(workspace, args, message):
    result = run_ztf(*args, "-w", str(workspace.root)) if args[0] == "check" else run_ztf(*args)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_missing_workspace_exits_2_with_fix(tmp_path):
    result = run_ztf("check", "1.2", cwd=tmp_path)
    assert result.returncode == 2
    assert "ztf init" in result.stderr


def test_init_then_lessons_json(tmp_path):
    created = run_ztf("init", str(tmp_path / "ws"))
    assert created.returncode == 0
    assert "phase1/micrograd.py" in created.stdout
    listed = run_ztf("lessons", "--json", cwd=tmp_path / "ws" / "phase1")
    assert listed.returncode == 0, listed.stderr
    lessons = json.loads(listed.stdout)
    micrograd = next(lesson for lesson in lessons if lesson["id"] == "1.2")
    assert micrograd["state"] == "not started"
    assert micrograd["phase"] == 1
    assert micrograd["files"] == [str(tmp_path / "ws" / "phase1" / "micrograd.py")]


def test_states_follow_attempts(workspace, reference):
    def state() -> str:
        lessons = json.loads(run_ztf("lessons", "--json", "-w", str(workspace.root)).stdout)
        return next(lesson["state"] for lesson in lessons if lesson["id"] == "1.2")

    (workspace.root / "phase1/micrograd.py").write_text("# started\n")
    assert state() == "in progress"
    run_ztf("check", "1.2", "-w", str(workspace.root))
    assert state() == "failing"
    reference("1.2")
    run_ztf("check", "1.2", "-w", str(workspace.root))
    assert state() == "passed"
    status = json.loads(run_ztf("status", "--json", "-w", str(workspace.root)).stdout)
    assert status["phases"][0]["passed"] == 1


def test_hint_ladder_advances_and_stops(workspace):
    outputs = [run_ztf("hint", "1.2", "-w", str(workspace.root)).stdout for _ in range(5)]
    assert outputs[0].startswith("Hint 1/4")
    assert outputs[1].startswith("Hint 2/4")
    assert outputs[3].startswith("Hint 4/4")
    assert "last hint" in outputs[3]
    assert outputs[4].startswith("Hint 4/4")


def test_doctor_reports_torch_and_packages():
    result = run_ztf("doctor", "--json")
    report = json.loads(result.stdout)
    assert report["torch"]["installed"] is True
    assert report["torch"]["version"].startswith("2.")
    assert any(lesson["lesson"] == "1.2" for lesson in report["lessons"])
    missing = {name for lesson in report["lessons"] for name in lesson["missing"]}
    assert result.returncode == (1 if missing else 0)
    for name in missing:
        assert name in report["install_command"]
