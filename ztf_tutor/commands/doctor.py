"""`ztf doctor`: what this machine has for the curriculum, and how to install what is missing."""

from __future__ import annotations

import argparse
import importlib.metadata
import importlib.util
import platform
import sys

from ..curriculum import curriculum
from ._common import print_json, stdout

# pip names whose import name differs.
IMPORT_NAMES = {"scikit-learn": "sklearn", "scikit-image": "skimage", "pillow": "PIL", "pyyaml": "yaml"}


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("doctor", help="check Python, torch, CUDA and each lesson's packages",
                                   description="Report Python, the torch build and CUDA, and the extra packages "
                                   "each lesson needs, with the pip command that installs what is missing.")
    parser.add_argument("--json", action="store_true", help="print JSON instead of text")
    parser.set_defaults(handler=run)


def torch_report() -> dict:
    try:
        import torch
    except ImportError:
        return {"installed": False}
    cuda = torch.cuda.is_available()
    return {
        "installed": True,
        "version": torch.__version__,
        "cuda_build": torch.version.cuda,
        "cuda_available": cuda,
        "devices": [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())] if cuda else [],
    }


def package_installed(name: str) -> bool:
    module = IMPORT_NAMES.get(name.lower(), name.replace("-", "_"))
    if importlib.util.find_spec(module) is not None:
        return True
    try:
        importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return False
    return True


def run(args: argparse.Namespace) -> int:
    torch_info = torch_report()
    lessons = []
    missing_all: list[str] = []
    for lesson in curriculum().lessons:
        missing = [name for name in lesson.packages if not package_installed(name)]
        missing_all += [name for name in missing if name not in missing_all]
        lessons.append({"lesson": lesson.id, "packages": list(lesson.packages), "missing": missing})
    report = {
        "python": platform.python_version(),
        "python_ok": sys.version_info >= (3, 10),
        "torch": torch_info,
        "lessons": lessons,
        "install_command": f"{sys.executable} -m pip install {' '.join(missing_all)}" if missing_all else None,
    }
    if args.json:
        print_json(report)
    else:
        print_report(report)
    healthy = report["python_ok"] and torch_info["installed"] and not missing_all
    return 0 if healthy else 1


def print_report(report: dict) -> None:
    mark = "[green]✓[/]" if report["python_ok"] else "[red]✗ needs 3.10 or newer[/]"
    stdout.print(f"Python {report['python']} {mark}")
    torch_info = report["torch"]
    if not torch_info["installed"]:
        stdout.print(f"[red]✗ torch is not installed.[/] Install it: {sys.executable} -m pip install torch")
    else:
        build = f"CUDA {torch_info['cuda_build']} build" if torch_info["cuda_build"] else "CPU build"
        stdout.print(f"torch {torch_info['version']} ({build}) [green]✓[/]")
        if torch_info["cuda_available"]:
            stdout.print(f"GPU: {', '.join(torch_info['devices'])}")
        else:
            stdout.print("GPU: none visible to torch. Fast tiers run on the CPU; full GPU tiers need a GPU or a remote.")
    for lesson in report["lessons"]:
        if lesson["missing"]:
            stdout.print(f"[yellow]lesson {lesson['lesson']} needs: {', '.join(lesson['missing'])}[/]")
    if report["install_command"]:
        stdout.print(f"\nInstall what is missing:\n  {report['install_command']}")
    else:
        stdout.print("Every lesson's packages are installed [green]✓[/]")
