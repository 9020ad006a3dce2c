"""The chat panel: :class:`ChatWidget`, an anywidget over one consultation of the client, and
:class:`CompareWidget`, several of them side by side with one composer.

See docs/widget-protocol.md for the model contract between this package and ``js/``.
"""

from __future__ import annotations

from lume_widget.widget.chat import ChatWidget
from lume_widget.widget.compare import CompareWidget
from lume_widget.widget.model import CommLog, CommRecord

__all__ = ["ChatWidget", "CommLog", "CommRecord", "CompareWidget"]
