"""`ztf watch [LESSON]`: rerun a lesson's checkpoint on every save, without the Textual app."""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading

from rich.markup import escape

from ..config import load_settings
from ..curriculum import curriculum
from ..watcher import LessonChecker, Verdict, WatchSession
from ._common import STATUS_MARK, STATUS_STYLE, add_workspace_option, stderr, stdout, workspace_from


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "watch", help="rerun checkpoints on every save, without the app",
        description="Watch the workspace and rerun a lesson's fast tier each time you save one of its files. "
        "Prints one line per verdict. Stop with Ctrl+C.",
    )
    add_workspace_option(parser)
    parser.add_argument("lesson", nargs="?", help="watch only this lesson (default: every lesson)")
    parser.add_argument("--json", action="store_true",
                        help="print one JSON object per verdict: lesson, status, criteria, duration_s, source_mtime")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    workspace = workspace_from(args)
    lessons = curriculum()
    only = lessons.lesson(args.lesson).id if args.lesson else None
    printer = _print_json if args.json else _print_line
    checker = LessonChecker(workspace, settings=load_settings(), on_verdict=printer)
    session = WatchSession(workspace, checker, on_notice=lambda text: stderr.print(f"[yellow]{escape(text)}[/]"),
                           lessons=lessons, only_lesson=only)
    session.start()
    scope = f"lesson {only}" if only else "every lesson"
    stderr.print(f"[dim]Watching {workspace.root} for saves to {scope}. Press Ctrl+C to stop.[/]")
    # SIGTERM stops the watch like Ctrl+C, so that no check process outlives it.
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        session.stop("ztf watch stopped")
    return 0


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _print_line(verdict: Verdict) -> None:
    result = verdict.result
    style = STATUS_STYLE.get(result.status, "")
    mark = STATUS_MARK.get(result.status, "?")
    failing = next((item for item in result.criteria if item.status not in ("pass", "skip")), None)
    detail = f" · {escape(failing.name)}: {escape(failing.message.splitlines()[0] if failing.message else failing.status)}" if failing else ""
    stdout.print(f"[{style}]{mark} {result.lesson} {escape(result.summary())}[/] in {result.duration_s:.1f} s{detail}")


def _print_json(verdict: Verdict) -> None:
    sys.stdout.write(json.dumps(verdict.to_json(), ensure_ascii=False) + "\n")
    sys.stdout.flush()
