"""Subcommands of `ztf`. Each module has `register(subparsers)`, which sets `handler`."""

from . import check, data, dev, doctor, journal, learning, remote, setup, solution, start, watch

COMMAND_MODULES = [setup, learning, check, watch, solution, journal, data, remote, doctor, start, dev]
