"""Subcommands of `ztf`. Each module has `register(subparsers)`, which sets `handler`."""

<<<<<<< HEAD
from . import check, dev, doctor, journal, learning, remote, setup, solution, start, watch

COMMAND_MODULES = [setup, learning, check, watch, solution, journal, remote, doctor, start, dev]
=======
from . import check, data, dev, doctor, learning, setup, start

COMMAND_MODULES = [setup, learning, check, doctor, start, dev, data]
>>>>>>> phase1
