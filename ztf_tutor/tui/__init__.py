"""The Textual tutor. Nothing in the core imports this package."""

from __future__ import annotations

import argparse


def launch(args: argparse.Namespace) -> int:
    from .app import run_app

    return run_app(args)
