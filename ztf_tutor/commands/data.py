"""`ztf data list` and `ztf data get NAME`: the real datasets that full tiers read."""

from __future__ import annotations

import argparse
from pathlib import Path

from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)
from rich.table import Table

from .. import datasets
from ..config import load_settings
from ._common import print_json, stderr, stdout


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "data", help="list and download the real datasets that full tiers use",
        description="Download MNIST, CIFAR-10 and Tiny Shakespeare into the data folder that full-tier checks "
        "read (config `[data] dir`, by default a folder in your user data directory).",
    )
    actions = parser.add_subparsers(dest="data_command", metavar="ACTION", required=True)

    listing = actions.add_parser("list", help="show each dataset, its size and whether it is installed",
                                 description="Show each dataset the full tiers use, its download size and whether it is installed.")
    listing.add_argument("--dir", metavar="DIR", help="data folder to look in (default: from the config)")
    listing.add_argument("--json", action="store_true", help="print JSON instead of a table")
    listing.set_defaults(handler=run_list)

    get = actions.add_parser(
        "get", help="download, verify and unpack a dataset",
        description="Download NAME with a progress bar, resume an interrupted download, verify its checksum "
        "and unpack it. A corrupt download is deleted and never used.",
        epilog="Exit codes: 0 installed, 2 unknown name or failed download.",
    )
    get.add_argument("name", help=f"one of: {', '.join(datasets.REGISTRY)}")
    get.add_argument("--dir", metavar="DIR", help="data folder to install into (default: from the config)")
    get.add_argument("--force", action="store_true", help="download again even when already installed")
    get.set_defaults(handler=run_get)


def data_dir_from(args: argparse.Namespace) -> Path:
    return Path(args.dir).expanduser() if args.dir else load_settings().data_dir()


def run_list(args: argparse.Namespace) -> int:
    data_dir = data_dir_from(args)
    rows: list[dict[str, str | bool]] = [
        {"name": d.name, "title": d.title, "download": d.download_size,
         "installed": d.is_installed(data_dir), "path": str(d.path(data_dir))}
        for d in datasets.REGISTRY.values()
    ]
    if args.json:
        print_json({"data_dir": str(data_dir), "datasets": rows})
        return 0
    table = Table(box=None, pad_edge=False)
    for column in ("name", "dataset", "download", "installed"):
        table.add_column(column)
    for row in rows:
        table.add_row(str(row["name"]), str(row["title"]), str(row["download"]), "[green]yes[/]" if row["installed"] else "no")
    stdout.print(table)
    stdout.print(f"\nData folder: {data_dir}\nInstall one with `ztf data get NAME`.")
    return 0


def run_get(args: argparse.Namespace) -> int:
    dataset = datasets.find_dataset(args.name)
    data_dir = data_dir_from(args)
    if dataset.is_installed(data_dir) and not args.force:
        stdout.print(f"{dataset.name} is already installed in {dataset.path(data_dir)}.")
        return 0

    progress = Progress(TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TransferSpeedColumn(),
                        TimeRemainingColumn(), console=stderr, transient=False)
    tasks: dict[str, TaskID] = {}

    def report(name: str, done: int, total: int | None) -> None:
        if name not in tasks:
            tasks[name] = progress.add_task(name, total=total)
        progress.update(tasks[name], completed=done, total=total)

    stderr.print(f"Downloading {dataset.title} ({dataset.download_size}) into {data_dir}…")
    with progress:
        target = datasets.install(dataset, data_dir, on_progress=report, force=args.force)
    stdout.print(f"{dataset.name} installed in {target} (checksum verified).")
    return 0
