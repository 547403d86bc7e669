"""Subcommands of `ztf`. Each module has `register(subparsers)`, which sets `handler`."""

from . import check, dev, doctor, learning, remote, setup, start

COMMAND_MODULES = [setup, learning, check, doctor, start, dev, remote]
