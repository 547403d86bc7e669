"""The tutor's "Run on GPU" key and the quit question, with remotes on the real loopback sshd of test_remote."""

from __future__ import annotations

import pytest
from test_remote import (  # noqa: F401  (sshd and remote_dir are fixtures used by name)
    Sshd,
    add_remote,
    free_port,
    reference_plus,
    remote_dir,
    sshd,
)
from textual.widgets import Static
from tui_support import SIZE, make_app, run_async, wait_until

from ztf_tutor.curriculum import curriculum
from ztf_tutor.progress import Progress
from ztf_tutor.remote.config import Remote, get_remote, save_remote
from ztf_tutor.remote.job import cancel, load_record, remote_job_state
from ztf_tutor.remote.ssh import SshClient
from ztf_tutor.tui.dialogs.quit_remote import QuitRemoteDialog
from ztf_tutor.tui.dialogs.reflection import ReflectionDialog
from ztf_tutor.tui.dialogs.remote_picker import RemotePickerDialog
from ztf_tutor.tui.screens.main import MainScreen
from ztf_tutor.tui.widgets.checkpoint_panel import CheckpointPanel

LESSON_FILE = "phase1/micrograd.py"


async def ready(app, pilot) -> None:
    """Wait for the lesson and the GPU probe, then pretend torch saw no GPU (this machine has none anyway)."""
    assert await wait_until(pilot, lambda: app.lesson is not None and app.gpu.probe_done)
    app.local_gpu = None


def notices(app) -> str:
    return "\n".join(notice.message for notice in app._notifications)


@run_async
async def test_no_gpu_no_remote_notice(workspace):
    app = make_app(workspace)
    async with app.run_test(size=SIZE) as pilot:
        await ready(app, pilot)
        await pilot.press("g")
        await pilot.pause()
        assert "`ztf remote add NAME USER@HOST`" in notices(app)
        assert app.gpu.remote_run is None
        assert isinstance(app.screen, MainScreen)


@run_async
async def test_gpu_key_where_full_tier(workspace):
    app = make_app(workspace)
    async with app.run_test(size=SIZE) as pilot:
        await ready(app, pilot)
        app.show_lesson(curriculum().lesson("3.3"))  # its full tier needs a GPU
        assert app.check_action("run_gpu", ()) is True
        app.show_lesson(curriculum().lesson("1.2"))  # its full tier runs on a CPU
        assert app.check_action("run_gpu", ()) is True
        titles = [command.title for command in app.get_system_commands(app.screen)]
        assert "Run on GPU" in titles


@run_async
async def test_picker_lists_several_remotes(workspace):
    save_remote(Remote("lab", "lab.example.org", user="ada"))
    save_remote(Remote("cloud", "gpu.example.org"))
    app = make_app(workspace)
    async with app.run_test(size=SIZE) as pilot:
        await ready(app, pilot)
        await pilot.press("g")
        await pilot.pause()
        assert isinstance(app.screen, RemotePickerDialog)
        assert [remote.name for remote in app.screen.remotes] == ["lab", "cloud"]
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, MainScreen)
        assert app.gpu.remote_run is None


@run_async
async def test_local_gpu_runs_full_tier_here(workspace, reference):
    reference("1.2")
    app = make_app(workspace)
    async with app.run_test(size=SIZE) as pilot:
        await ready(app, pilot)
        app.local_gpu = "a local GPU"  # the route a CUDA machine takes; 1.2's full tier itself needs no GPU
        await pilot.press("g")
        panel = app.screen.query_one(CheckpointPanel)
        assert await wait_until(pilot, lambda: panel.result is not None)
        assert panel.result.tier == "full"
        assert panel.result.where == "local"
        assert app.gpu.remote_run is None
    assert Progress(workspace).get("1.2").attempts == 1


# --- a real remote over ssh on loopback -------------------------------------------------------------


@pytest.mark.slow
@run_async
async def test_remote_run_records_verdict(sshd: Sshd, workspace, reference, remote_dir):  # noqa: F811
    reference("1.2")
    add_remote(sshd, "gpu", remote_dir)
    app = make_app(workspace)
    async with app.run_test(size=SIZE) as pilot:
        await ready(app, pilot)
        await pilot.press("g")
        assert app.gpu.remote_run is not None
        assert await wait_until(pilot, lambda: isinstance(app.screen, ReflectionDialog), timeout=180)
        main = next(screen for screen in app.screen_stack if isinstance(screen, MainScreen))
        panel = main.query_one(CheckpointPanel)
        assert panel.result.status == "pass"
        assert panel.result.tier == "full"
        assert panel.result.where.startswith("remote gpu (")
        assert app.gpu.remote_run is None
    entry = Progress(workspace).get("1.2")
    assert entry.attempts == 1
    assert entry.last_status == "pass"
    assert load_record("gpu").recorded


@pytest.mark.slow
@run_async
async def test_unreachable_remote_is_notice(sshd: Sshd, workspace, reference, remote_dir):  # noqa: F811
    reference("1.2")
    add_remote(sshd, "gone", remote_dir, port=free_port())
    app = make_app(workspace)
    async with app.run_test(size=SIZE) as pilot:
        await ready(app, pilot)
        await pilot.press("g")
        assert await wait_until(pilot, lambda: app.gpu.remote_run is None, timeout=120)
        await pilot.pause()
        assert "Cannot reach gone" in notices(app)
        panel = app.screen.query_one(CheckpointPanel)
        assert panel.result is None
        assert not panel.has_class("-failed")
    assert Progress(workspace).get("1.2").attempts == 0


async def start_long_job(app, pilot) -> None:
    await ready(app, pilot)
    await pilot.press("g")
    assert await wait_until(pilot, lambda: app.gpu.remote_run is not None and app.gpu.remote_run.job_started, timeout=120)


def job_state(name: str) -> str:
    return remote_job_state(SshClient(get_remote(name)), load_record(name))


@pytest.mark.slow
@run_async
async def test_quit_leaves_remote_job(sshd: Sshd, workspace, remote_dir):  # noqa: F811
    (workspace.root / LESSON_FILE).write_text(reference_plus("import time\ntime.sleep(300)"))
    add_remote(sshd, "gpu", remote_dir)
    app = make_app(workspace)
    async with app.run_test(size=SIZE) as pilot:
        await start_long_job(app, pilot)
        await pilot.press("q")
        await pilot.pause()
        assert isinstance(app.screen, QuitRemoteDialog)
        dialog_text = " ".join(str(widget.render()) for widget in app.screen.query(Static))
        assert "ztf remote attach gpu" in dialog_text
        await pilot.press("escape")  # staying keeps the tutor and the job
        await pilot.pause()
        assert isinstance(app.screen, MainScreen)
        await pilot.press("q")
        await pilot.pause()
        await pilot.click("#leave")
    assert app.return_code == 0
    try:
        assert job_state("gpu") == "running"
    finally:
        cancel(SshClient(get_remote("gpu")), load_record("gpu"))
    assert Progress(workspace).get("1.2").attempts == 0


@pytest.mark.slow
@run_async
async def test_quit_cancels_remote_job(sshd: Sshd, workspace, remote_dir):  # noqa: F811
    (workspace.root / LESSON_FILE).write_text(reference_plus("import time\ntime.sleep(300)"))
    add_remote(sshd, "gpu", remote_dir)
    app = make_app(workspace)
    async with app.run_test(size=SIZE) as pilot:
        await start_long_job(app, pilot)
        await pilot.press("q")
        await pilot.pause()
        await pilot.click("#cancel")
        assert await wait_until(pilot, lambda: app.return_code is not None, timeout=120)
    assert app.return_code == 0
    assert job_state("gpu") != "running"
    assert Progress(workspace).get("1.2").attempts == 0
