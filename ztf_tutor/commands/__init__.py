"""Subcommands of `ztf`. Each module has `register(subparsers)`, which sets `handler`."""

from . import check, dev, doctor, learning, setup, solution, start, watch

COMMAND_MODULES = [setup, learning, check, doctor, start, dev, watch, solution]
