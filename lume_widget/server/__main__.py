"""``python -m lume_widget.server``: the same as ``lume-widget serve``."""

from __future__ import annotations

import sys

from lume_widget.server.cli import main

sys.exit(main())
