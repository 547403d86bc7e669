"""`ztf remote …`: manage GPU machines reached over ssh, and run, attach to or cancel a check there."""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

from rich.markup import escape
from rich.table import Table

from ..attempts import record_attempt
from ..config import Settings
from ..curriculum import Lesson, curriculum
from ..errors import ZtfError
from ..remote.config import (
    SYNC_MODES,
    Remote,
    check_name,
    get_remote,
    load_remotes,
    remove_remote,
    save_remote,
    split_destination,
)
from ..remote.job import (
    RemoteCheck,
    cancel,
    follow,
    load_record,
    probe,
    record_path,
    require_torch,
    save_record,
)
from ..remote.ssh import SshClient
from ..verdict import PASS, CheckResult
from ..workspace import Workspace
from ._common import STATUS_MARK, STATUS_STYLE, print_json, stderr, stdout

PROGRESS_EVERY_S = 5.0


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "remote", help="run full checkpoints on a GPU machine over ssh",
        description="Manage remote machines reached with your ssh client (your ~/.ssh/config applies). "
        "Run a check there with `ztf check LESSON --tier full --remote NAME`.",
    )
    actions = parser.add_subparsers(dest="remote_command", metavar="ACTION", parser_class=type(parser))
    parser.set_defaults(handler=lambda args: parser.print_help() or 2)

    add = actions.add_parser("add", help="store a remote", description="Store a remote in the user config.")
    add.add_argument("name", help="a short name for the remote, e.g. gpu1")
    add.add_argument("destination", metavar="[USER@]HOST", help="the ssh destination; a Host alias from ~/.ssh/config works")
    add.add_argument("--port", type=int, help="ssh port (default: ssh's, usually 22)")
    add.add_argument("--identity", metavar="FILE", help="private key file to log in with (default: ssh's choice)")
    add.add_argument("--python", metavar="PATH", help="Python on the remote that has torch (default: python3)")
    add.add_argument("--dir", metavar="DIR", help="folder on the remote for ztf's files, relative to the home folder "
                     "unless absolute (default: ztf-remote)")
    add.add_argument("-o", "--ssh-option", dest="options", action="append", default=[], metavar="KEY=VALUE",
                     help="extra ssh option, as for `ssh -o`; may repeat")
    add.add_argument("--multiplex", action="store_true", help="share one ssh connection per run (ControlMaster)")
    add.add_argument("--sync", choices=SYNC_MODES, default="auto",
                     help="how files are copied: rsync, a tar stream, or rsync when both sides have it (default: auto)")
    add.add_argument("--replace", action="store_true", help="replace a remote of the same name")
    add.set_defaults(handler=run_add)

    listing = actions.add_parser("list", help="list the stored remotes", description="List the stored remotes.")
    listing.add_argument("--json", action="store_true", help="print JSON instead of a table")
    listing.set_defaults(handler=run_list)

    remove = actions.add_parser("remove", help="forget a remote", description="Delete a remote from the user config.")
    remove.add_argument("name", help="the remote's name, as given to `ztf remote add`")
    remove.set_defaults(handler=run_remove)

    test = actions.add_parser("test", help="connect and report Python, torch and CUDA devices",
                              description="Connect to NAME and report its Python, torch and CUDA versions and GPUs.")
    test.add_argument("name", help="the remote's name, as given to `ztf remote add`")
    test.add_argument("--json", action="store_true", help="print JSON instead of text")
    test.set_defaults(handler=run_test)

    attach = actions.add_parser("attach", help="reattach to the last job and collect its verdict",
                                description="Follow NAME's last job to its end and record its verdict.")
    attach.add_argument("name", help="the remote's name, as given to `ztf remote add`")
    attach.add_argument("--json", action="store_true", help="print the verdict as one JSON object")
    attach.add_argument("--output", action="store_true", help="also print what your code printed")
    attach.set_defaults(handler=run_attach)

    cancel_parser = actions.add_parser("cancel", help="stop the last job", description="Kill NAME's last job and every process it started.")
    cancel_parser.add_argument("name", help="the remote's name, as given to `ztf remote add`")
    cancel_parser.set_defaults(handler=run_cancel)


def run_add(args: argparse.Namespace) -> int:
    name = check_name(args.name)
    user, host = split_destination(args.destination)
    identity = None
    if args.identity:
        path = Path(args.identity).expanduser()
        if not path.is_file():
            raise ZtfError(f"--identity {args.identity}: no such file.", hint="Give the path of your private key, e.g. ~/.ssh/id_ed25519.")
        identity = str(path.resolve())
    if args.port is not None and not 0 < args.port < 65536:
        raise ZtfError(f"--port {args.port} is invalid.", hint="Use a port from 1 to 65535.")
    bad = [option for option in args.options if "=" not in option]
    if bad:
        raise ZtfError(f"-o {bad[0]} is invalid.", hint="Give ssh options as KEY=VALUE, e.g. -o ProxyJump=bastion.")
    remote = Remote(name=name, host=host, user=user, port=args.port, identity=identity,
                    python=args.python or Remote.python, dir=args.dir or Remote.dir, options=args.options,
                    multiplex=args.multiplex, sync=args.sync)
    path = save_remote(remote, replace=args.replace)
    stdout.print(f"Saved remote [bold]{escape(name)}[/] ({escape(remote.label)}) in {escape(str(path))}.")
    stdout.print(f"Next: [bold]ztf remote test {escape(name)}[/] checks its Python, torch and GPUs.")
    return 0


def run_list(args: argparse.Namespace) -> int:
    remotes = load_remotes()
    if args.json:
        print_json([{"name": remote.name, **remote.to_table()} for remote in remotes.values()])
        return 0
    if not remotes:
        stdout.print("No remotes yet. Add one with [bold]ztf remote add NAME [USER@]HOST[/].")
        return 0
    table = Table(box=None, pad_edge=False)
    for column in ("name", "destination", "python", "dir"):
        table.add_column(column)
    for remote in remotes.values():
        table.add_row(escape(remote.name), escape(remote.label), escape(remote.python), escape(remote.dir))
    stdout.print(table)
    return 0


def run_remove(args: argparse.Namespace) -> int:
    path = remove_remote(args.name)
    # A remote added again under this name is another machine; its last job is not this one's.
    record_path(args.name).unlink(missing_ok=True)
    stdout.print(f"Removed remote [bold]{escape(args.name)}[/] from {escape(str(path))}.")
    return 0


def run_test(args: argparse.Namespace) -> int:
    remote = get_remote(args.name)
    if not args.json:
        stderr.print(f"[dim]Connecting to {escape(remote.name)} ({escape(remote.label)})…[/]")
    info = probe(SshClient(remote))
    if args.json:
        print_json({"name": remote.name, "host": remote.label, **info.__dict__})
    else:
        stdout.print(f"Python {escape(info.python)} ({escape(info.executable)})")
        if info.torch:
            cuda = f"CUDA {info.cuda}" if info.cuda else "CPU-only build"
            stdout.print(f"torch {escape(info.torch)} ({cuda})")
            stdout.print(f"GPUs: {escape(', '.join(info.gpus))}" if info.gpus else
                         "GPUs: none visible to torch; GPU tiers will not find one here.")
        stdout.print(f"rsync: {'yes' if info.rsync else 'no (files go as a tar stream)'}")
        if info.free_bytes is not None:
            stdout.print(f"Free disk in {escape(remote.dir)}: {info.free_bytes / 2**30:.1f} GiB")
    require_torch(remote, info)
    return 0


class ProgressPrinter:
    """Prints each criterion as it finishes and progress every few seconds, on stderr."""

    def __init__(self) -> None:
        self.last_progress = 0.0

    def __call__(self, event: dict[str, Any]) -> None:
        kind = event.get("event")
        if kind == "criterion":
            result = event.get("result", {})
            status = result.get("status", "")
            mark = STATUS_MARK.get(status, "?")
            stderr.print(f"  [{STATUS_STYLE.get(status, '')}]{mark}[/] {escape(result.get('name', ''))}")
        elif kind == "progress" and time.monotonic() - self.last_progress >= PROGRESS_EVERY_S:
            self.last_progress = time.monotonic()
            stderr.print(f"  [dim]{100 * float(event.get('fraction', 0)):.0f}% {escape(event.get('text', ''))}[/]")


def run_remote_check(args: argparse.Namespace, workspace: Workspace, lesson: Lesson, settings: Settings) -> int:
    """`ztf check LESSON --remote NAME`: run the check on the remote and record its verdict here."""
    remote = get_remote(args.remote)
    quiet = args.json
    check = RemoteCheck(remote, workspace.root, lesson, args.tier, settings=settings, timeout_s=args.timeout,
                        on_event=None if quiet else ProgressPrinter(),
                        on_status=None if quiet else (lambda text: stderr.print(f"[dim]{escape(text)}[/]")))
    check.start()
    try:
        result = check.wait()
    except KeyboardInterrupt:
        stderr.print(f"Stopped following; the job keeps running on {remote.name}. "
                     f"Collect it with `ztf remote attach {remote.name}`, or stop it with `ztf remote cancel {remote.name}`.",
                     markup=False)
        return 130
    return report(workspace, lesson, result, args, check.record)


def report(workspace: Workspace, lesson: Lesson, result: CheckResult, args: argparse.Namespace, record) -> int:
    """Record the verdict once, print it and return the exit code."""
    from .check import (
        print_verdict,  # check.py imports this module lazily; import back the same way
    )

    if not record.recorded:
        record_attempt(workspace, lesson, result, trigger="remote")
        record.recorded = True
        save_record(record)
    if args.json:
        print_json(result.to_json(include_output=args.output))
    else:
        print_verdict(result, show_output=args.output)
        stdout.print(f"[dim]Ran on {escape(result.where)}.[/]")
    return 0 if result.status == PASS else 1


def run_attach(args: argparse.Namespace) -> int:
    remote = get_remote(args.name)
    record = load_record(remote.name)
    if record is None:
        raise ZtfError(f"No job was started on {remote.name} from this machine.",
                       hint=f"Start one with `ztf check LESSON --tier full --remote {remote.name}`.")
    lesson = curriculum().lesson(record.lesson)
    workspace = Workspace(Path(record.workspace))
    workspace.manifest()  # the workspace must still exist to record the verdict in it
    if not args.json:
        stderr.print(f"[dim]Attaching to job {record.job_id} ({lesson.id}, {record.tier} tier) on {escape(remote.name)}…[/]")
    result = follow(SshClient(remote), record, None if args.json else ProgressPrinter())
    return report(workspace, lesson, result, args, record)


def run_cancel(args: argparse.Namespace) -> int:
    remote = get_remote(args.name)
    record = load_record(remote.name)
    if record is None:
        raise ZtfError(f"No job was started on {remote.name} from this machine, so there is nothing to cancel.")
    if cancel(SshClient(remote), record):
        stdout.print(f"Cancelled job {record.job_id} ({record.lesson}) on {remote.name}; none of its processes are left.",
                     markup=False)
    else:
        stdout.print(f"Job {record.job_id} on {remote.name} had already ended; nothing to cancel.", markup=False)
    return 0
