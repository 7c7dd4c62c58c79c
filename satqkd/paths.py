"""File names from names: station, satellite and city names stay data.

A name in a mission file may hold anything a TOML string can (``"../../tmp/x"``, ``"a+b"``,
spaces, accents). Every file satqkd writes is named by :func:`slug`: the name's safe
characters (``A-Z a-z 0-9 . _ -``), and, whenever that differs from the name itself, a
short hash of the name, so distinct names keep distinct files. :func:`child` is the one
way a folder and a file name are joined: it refuses any name that could leave the folder.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

__all__ = ["slug", "child", "is_safe", "SAFE_NAME"]

#: What a file-name component may be, as it is.
SAFE_NAME = re.compile(r"^[A-Za-z0-9_-][A-Za-z0-9._-]*$")

#: Characters of a name kept in its slug before the hash.
_SLUG_CHARS = 40


def is_safe(name: str) -> bool:
    """A name usable as a file-name component as it is."""
    return bool(SAFE_NAME.match(name)) and len(name) <= 120 and name not in (".", "..")


def slug(name: str) -> str:
    """A file-name component for ``name``: itself if safe, else a safe slug + short hash.

    >>> slug("Xinglong")
    'Xinglong'
    >>> slug("../../x").startswith("x-")
    True
    """
    name = str(name)
    if is_safe(name) and len(name) <= _SLUG_CHARS:
        return name
    text = re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._-")[:_SLUG_CHARS].strip("._-")
    digest = hashlib.sha256(name.encode("utf-8", "surrogatepass")).hexdigest()[:8]
    return f"{text}-{digest}" if text else digest


def child(folder: Path | str, filename: str) -> Path:
    """``folder / filename``, refusing a file name that is not one plain component."""
    if (not filename or "/" in filename or "\\" in filename or "\0" in filename
            or filename in (".", "..")):
        raise ValueError(f"unsafe file name {filename[:80]!r}")
    path = Path(folder) / filename
    if path.parent != Path(folder):
        raise ValueError(f"unsafe file name {filename[:80]!r}")
    return path
