"""Helpers shared by the subcommands."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from rich.console import Console

from ..workspace import Workspace, find_workspace, remember_workspace

stdout = Console(highlight=False, soft_wrap=True)
stderr = Console(stderr=True, highlight=False, soft_wrap=True)

STATUS_STYLE = {"pass": "green", "fail": "red", "error": "bold red", "skip": "yellow"}
STATUS_MARK = {"pass": "✓", "fail": "✗", "error": "!", "skip": "–"}


def add_workspace_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "-w", "--workspace", metavar="DIR",
        help="the learner workspace (default: $ZTF_WORKSPACE, then this folder or a parent, then the last one used)",
    )


def workspace_from(args: argparse.Namespace) -> Workspace:
    workspace = find_workspace(getattr(args, "workspace", None))
    workspace.manifest()  # fail early, naming the file, when the manifest is broken
    remember_workspace(workspace.root)
    return workspace


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False) + "\n")
    sys.stdout.flush()
