"""Subcommands of `ztf`. Each module has `register(subparsers)`, which sets `handler`."""

from . import check, data, dev, doctor, learning, setup, start

COMMAND_MODULES = [setup, learning, check, doctor, start, dev, data]
