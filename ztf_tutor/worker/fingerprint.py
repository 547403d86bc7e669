"""A fingerprint of everything a warm worker has loaded, so a stale worker is replaced.

The worker imports the ztf_tutor package, torch, numpy and whatever they import, once, at
start. A change to any of those after that start is invisible to the children it forks, so
the client compares this fingerprint before each run and restarts the worker on a change.
"""

from __future__ import annotations

import hashlib
import os
import site
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path

from .. import locations

PACKAGE_DIR = Path(__file__).resolve().parent.parent


def python_files(root: Path) -> Iterator[Path]:
    """Yield every .py file under root, in a stable order."""
    for folder, subfolders, files in os.walk(root):
        subfolders[:] = sorted(name for name in subfolders if name != "__pycache__")
        for name in sorted(files):
            if name.endswith(".py"):
                yield Path(folder) / name


def package_dirs() -> list[Path]:
    """List the folders that installed packages live in (site-packages and friends)."""
    candidates = [*site.getsitepackages(), site.getusersitepackages()]
    candidates += [entry for entry in sys.path if entry.endswith(("site-packages", "dist-packages"))]
    unique = []
    for candidate in candidates:
        path = Path(candidate)
        if path.is_dir() and path not in unique:
            unique.append(path)
    return unique


def code_fingerprint(environment: Mapping[str, str] | None = None) -> str:
    """Hash the check code's and the installed packages' modification times.

    An install, upgrade or removal by pip adds or removes a *.dist-info folder, which changes
    the modification time of the folder that contains it, so folder times cover the packages.
    """
    variables: Mapping[str, str] = os.environ if environment is None else environment
    digest = hashlib.sha256()
    digest.update(sys.executable.encode())
    digest.update(variables.get("PYTHONPATH", "").encode())
    for root in (PACKAGE_DIR, locations.checks_dir()):
        for path in python_files(root):
            try:
                info = path.stat()
            except OSError:
                continue  # deleted during the walk, so the next fingerprint omits it
            digest.update(f"{path}\0{info.st_mtime_ns}\0{info.st_size}\n".encode())
    for folder in package_dirs():
        try:
            digest.update(f"{folder}\0{folder.stat().st_mtime_ns}\n".encode())
        except OSError:
            continue
    return digest.hexdigest()[:16]
