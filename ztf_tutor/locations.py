"""Every path ztf uses, in one place; folders are created lazily by the code that writes there.

Environment overrides (used by the tests, and by anyone who wants a portable setup):
ZTF_CONFIG_DIR, ZTF_STATE_DIR, ZTF_DATA_DIR and ZTF_CONTENT_DIR.
"""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

APP_NAME = "ztf"
PACKAGE_DIR = Path(__file__).resolve().parent

# The folder inside a learner workspace that belongs to the tutor.
TUTOR_DIRNAME = ".ztf"
WORKSPACE_MANIFEST = "workspace.toml"


def _override(variable: str) -> Path | None:
    value = os.environ.get(variable)
    return Path(value).expanduser() if value else None


def config_dir() -> Path:
    """Folder of the user config file."""
    return _override("ZTF_CONFIG_DIR") or Path(platformdirs.user_config_dir(APP_NAME))


def config_file() -> Path:
    return config_dir() / "config.toml"


def state_dir() -> Path:
    """Folder of small state that is not config, such as the last workspace used."""
    return _override("ZTF_STATE_DIR") or Path(platformdirs.user_state_dir(APP_NAME))


def data_dir() -> Path:
    """Default folder of the real datasets that full tiers read."""
    return _override("ZTF_DATA_DIR") or Path(platformdirs.user_data_dir(APP_NAME)) / "datasets"


def content_dir() -> Path:
    """Folder holding curriculum/, workspace_template/ and checks/.

    An installed wheel carries them in ztf_tutor/_content; a source checkout has them
    at the top of the repository, next to the package.
    """
    override = _override("ZTF_CONTENT_DIR")
    if override:
        return override
    bundled = PACKAGE_DIR / "_content"
    if (bundled / "curriculum").is_dir():
        return bundled
    return PACKAGE_DIR.parent


def curriculum_dir() -> Path:
    return content_dir() / "curriculum"


def template_dir() -> Path:
    return content_dir() / "workspace_template"


def checks_dir() -> Path:
    return content_dir() / "checks"
