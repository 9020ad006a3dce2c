"""Valid Unicode at every boundary: finding and repairing lone UTF-16 surrogates.

Python strings can hold code points U+D800..U+DFFF on their own: a JSON ``"\\ud83d"``
escape, a terminal argument decoded with ``surrogateescape``, half of an emoji cut by a
backend that slices text in UTF-16 units. Such a string cannot be encoded as UTF-8, so it
fails far from where it came in (a SQLite write, a JSON answer, a kernel comm message).
Text the user typed is refused with a clear error (``lone_surrogate_at``); text a backend
sent is repaired (``repair_text``: a pair written as two code points joins into one
character, a lone half becomes U+FFFD). Shared by the client and the reference server, like
:mod:`lume_widget.defaults`: pure functions, no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

__all__ = [
    "REPLACEMENT",
    "has_lone_surrogate",
    "is_high_surrogate",
    "lone_surrogate_at",
    "may_hold_surrogate",
    "repair_json",
    "repair_text",
]

REPLACEMENT = "\ufffd"
_SURROGATE = re.compile("[\ud800-\udfff]")
_SURROGATE_IN_JSON = re.compile("[\ud800-\udfff]|\\\\u[dD][89a-fA-F]")
_SURROGATE_IN_JSON_BYTES = re.compile(rb"\\u[dD][89a-fA-F]|\xed[\xa0-\xbf]")


def may_hold_surrogate(json_text: str | bytes) -> bool:
    """Whether JSON text could decode to a string holding a surrogate: it has one itself, or
    a ``\\ud800``..``\\udfff`` escape. False means certainly not, so the decoded value needs
    no :func:`has_lone_surrogate` walk (a quick test on the wire text, before any parsing)."""
    if isinstance(json_text, str):
        return _SURROGATE_IN_JSON.search(json_text) is not None
    if b"\x00" in json_text[:4] or json_text.startswith((b"\xff\xfe", b"\xfe\xff")):
        return True  # UTF-16 or UTF-32 (json.loads decodes those too): not looked into
    # UTF-8: an escape, or a surrogate encoded as three bytes (decoded with surrogatepass)
    return _SURROGATE_IN_JSON_BYTES.search(json_text) is not None


def lone_surrogate_at(text: str) -> int | None:
    """The index of the first surrogate code point in ``text``, or None if it has none.

    Any surrogate counts, paired or not: a well-formed Python string holds the character
    itself, never its two UTF-16 halves.
    """
    match = _SURROGATE.search(text)
    return None if match is None else match.start()


def is_high_surrogate(char: str) -> bool:
    """Whether ``char`` is the first half (U+D800..U+DBFF) of a UTF-16 pair."""
    return len(char) == 1 and "\ud800" <= char <= "\udbff"


def repair_text(text: str) -> str:
    """``text`` as valid Unicode: halves of a pair joined, a lone half replaced by U+FFFD."""
    if _SURROGATE.search(text) is None:
        return text
    return text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")


def has_lone_surrogate(value: Any) -> bool:
    """Whether a decoded JSON value holds a surrogate in any string, key or value."""
    if isinstance(value, str):
        return _SURROGATE.search(value) is not None
    if isinstance(value, Mapping):
        return any(has_lone_surrogate(k) or has_lone_surrogate(v) for k, v in value.items())
    if isinstance(value, list | tuple):
        return any(has_lone_surrogate(item) for item in value)
    return False


def repair_json(value: Any) -> Any:
    """A decoded JSON value with every string repaired (the same object when nothing needs it)."""
    if isinstance(value, str):
        return repair_text(value)
    if isinstance(value, Mapping):
        if not has_lone_surrogate(value):
            return value
        return {repair_text(str(k)): repair_json(v) for k, v in value.items()}
    if isinstance(value, list):
        if not has_lone_surrogate(value):
            return value
        return [repair_json(item) for item in value]
    return value
