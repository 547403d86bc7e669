"""Runs `ztf_tutor.generation_child` for the generator screen and yields its events.

The child runs in its own process group and is killed, with everything it started, when the
caller stops iterating (a close, a cancel or a new request).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import sys
from collections import deque
from collections.abc import AsyncGenerator
from pathlib import Path
from typing import Any

from ..runner import child_environment
from ..workspace import Workspace

log = logging.getLogger(__name__)

GENERATION_LESSON = "3.4"
MODEL_RELATIVE = "runs/3.3/model.pt"
TINY_RELATIVE = "runs/tiny/model.pt"
STDERR_LINES = 20


def model_path(workspace: Workspace) -> Path | None:
    """The model the generator uses: lesson 3.3's trained GPT, else the tiny one, else None."""
    for relative in (MODEL_RELATIVE, TINY_RELATIVE):
        path = workspace.root / relative
        if path.is_file():
            return path
    return None


async def child_events(spec: dict[str, Any]) -> AsyncGenerator[dict[str, Any], None]:
    """Start the child with SPEC and yield its events, first {"event": "started", "pid": PID}.

    A crash without an "error" event becomes one. Close the iterator (`contextlib.aclosing`) to kill the child.
    """
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "ztf_tutor.generation_child", json.dumps(spec),
        stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        start_new_session=True, env=child_environment(), cwd=spec["workspace"],
    )
    log.debug("generation child %s started (%s)", process.pid, spec.get("job"))
    errors: deque[str] = deque(maxlen=STDERR_LINES)
    drain = asyncio.create_task(_drain(process.stderr, errors))
    finished = False
    try:
        yield {"event": "started", "pid": process.pid}
        assert process.stdout is not None
        async for raw in process.stdout:
            try:
                event = json.loads(raw)
            except ValueError:
                continue
            if isinstance(event, dict):
                finished = finished or event.get("event") in ("done", "saved", "error")
                yield event
        code = await process.wait()
        await drain
        if not finished:
            detail = "".join(errors).strip().splitlines()[-1:] or ["no message"]
            yield {"event": "error", "message": f"the generator process exited with code {code}: {detail[0]}",
                   "location": None}
    finally:
        _kill_group(process)
        drain.cancel()
        with contextlib.suppress(ProcessLookupError, asyncio.CancelledError):
            await process.wait()


async def _drain(stream: asyncio.StreamReader | None, lines: deque[str]) -> None:
    """Keep the last lines of stderr (the learner's prints and tracebacks), so the pipe never fills."""
    if stream is None:
        return
    async for raw in stream:
        lines.append(raw.decode("utf-8", "replace"))


def _kill_group(process: asyncio.subprocess.Process) -> None:
    # Kill the group even after a clean exit: learner code may have left children behind.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
