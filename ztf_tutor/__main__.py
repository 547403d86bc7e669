"""`python -m ztf_tutor` runs the `ztf` command."""

import sys

from .cli import main

sys.exit(main())
