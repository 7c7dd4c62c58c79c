"""One run per output folder, and ``--resume`` only onto the same configuration.

:func:`out_dir_lock` holds an exclusive ``fcntl`` lock on ``<out>/.satqkd.lock`` for the
whole of a run (``satqkd run``, ``satqkd relay``): a second run onto the same folder
fails at once with one line naming the holder (pid, host, start time), instead of two
runs interleaving their checkpoints and key files. The kernel releases the lock when
the process ends, however it ends, so a killed run never leaves the folder locked.

:func:`check_resume` refuses ``--resume`` onto a folder whose run, or any of whose
checkpoints, was made with another configuration (:func:`satqkd.config.config_hash`
covers the mission and the contents of every file it reads).
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

from satqkd.errors import InputError

__all__ = ["LOCK_NAME", "out_dir_lock", "check_resume", "prepare_out_dir"]

LOCK_NAME = ".satqkd.lock"

#: Folders this process holds locked: resolved path -> depth (relay runs a mission inside).
_held: dict[str, int] = {}


def prepare_out_dir(out: Path) -> Path:
    """Create ``--out`` (one line if it is a file, or cannot be created)."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise InputError(f"--out {out}: is a file, not a folder; give a folder")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise InputError(f"--out {out}: a file is in the way of this folder") from None
    except OSError as exc:
        raise InputError(f"--out {out}: cannot create the folder ({exc.strerror or exc})") from None
    return out


def _holder(path: Path) -> str:
    try:
        info = json.loads(path.read_text(encoding="utf-8") or "{}")
        return (f"pid {info.get('pid', '?')} on {info.get('host', '?')}, started "
                f"{info.get('started_utc', '?')} ({info.get('command', 'run')})")
    except (OSError, ValueError, AttributeError):
        return "another process"


@contextmanager
def out_dir_lock(out: Path, command: str = "run") -> Iterator[None]:
    """Hold ``out`` exclusively for this process while the block runs (re-entrant)."""
    out = prepare_out_dir(out)
    key = str(out.resolve())
    if key in _held:
        _held[key] += 1
        try:
            yield
        finally:
            _held[key] -= 1
        return
    path = out / LOCK_NAME
    try:
        fh = open(path, "a+", encoding="utf-8")
    except OSError as exc:
        raise InputError(f"--out {out}: cannot write there ({exc.strerror or exc})") from None
    try:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise InputError(f"--out {out}: another run is writing there ({_holder(path)}); "
                             "wait for it, or give another --out folder") from None
        fh.seek(0)
        fh.truncate()
        fh.write(json.dumps({
            "pid": os.getpid(), "host": socket.gethostname(), "command": command,
            "started_utc": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")}) + "\n")
        fh.flush()
        _held[key] = 1
        try:
            yield
        finally:
            del _held[key]
            fcntl.flock(fh, fcntl.LOCK_UN)
    finally:
        fh.close()


def check_resume(out: Path, config_sha256: str) -> None:
    """Refuse ``--resume`` when the folder's run or a checkpoint has another configuration."""
    from satqkd.mission import store

    out = Path(out)
    found: str | None = None
    info = out / "run.json"
    if info.is_file():
        try:
            found = json.loads(info.read_text(encoding="utf-8")).get("config_sha256")
        except (OSError, ValueError, AttributeError):
            found = None
    if found in (None, config_sha256):
        found = None
        for sha in store.checkpoint_hashes(out):
            if sha != config_sha256:
                found = sha
                break
    if found is not None:
        raise InputError(
            f"--resume {out}: that run was made with another configuration (config sha256 "
            f"{str(found)[:12]} there, {config_sha256[:12]} now: the mission file, a --set "
            "value, or a TLE or weather file changed); rerun without --resume to start afresh")
