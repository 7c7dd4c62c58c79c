"""The one exception type for bad user input.

Its message is a single line naming the file, the field and the allowed range; the
CLI prints it and exits with status 2, without a traceback.
"""

from __future__ import annotations

#: Characters of a bad value an error line quotes, at most.
SHOWN_CHARS = 80

#: Characters of an error line, at most (a value that slipped through unquoted).
LINE_CHARS = 2000


class InputError(ValueError):
    """Bad user input (mission file, TLE file, weather file, ...)."""


def shown(value: object, limit: int = SHOWN_CHARS) -> str:
    """``repr(value)`` for an error line: printable, at most ``limit`` characters."""
    if isinstance(value, (bytes, bytearray)):
        value = bytes(value[:limit]).decode("latin-1")
    text = repr(value if not isinstance(value, str) else value[: limit * 4])
    text = text.encode("ascii", "backslashreplace").decode("ascii")
    return text if len(text) <= limit else text[: limit - 3] + "..."


def one_line(message: str, limit: int = LINE_CHARS) -> str:
    """A message as one printable line of at most ``limit`` characters."""
    text = str(message)[: limit * 2]
    text = "".join(c if c.isprintable() else (" " if c in "\r\n\t" else "?") for c in text)
    return text if len(text) <= limit else text[: limit - 3] + "..."
