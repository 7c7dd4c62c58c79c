"""Shared fixtures: paths of the repository and a writer of mission-file variants."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
DEFAULT_MISSION = REPO / "missions" / "micius-2016-12-19.toml"


@pytest.fixture
def repo() -> Path:
    return REPO


@pytest.fixture
def mission_text() -> str:
    return DEFAULT_MISSION.read_text()


@pytest.fixture
def write_mission(tmp_path: Path, mission_text: str):
    """Write the default mission with textual replacements into tmp_path."""

    def _write(*replacements: tuple[str, str], name: str = "m.toml") -> Path:
        text = mission_text.replace('tle = "tle/micius.tle"', f'tle = "{REPO / "tle/micius.tle"}"')
        for old, new in replacements:
            assert old in text, f"{old!r} not in the mission text"
            text = text.replace(old, new, 1)
        path = tmp_path / name
        path.write_text(text)
        return path

    return _write


def run_cli(argv: list[str], capsys) -> tuple[int, str, str]:
    """Run the `satqkd` command in-process: (exit status, stdout, stderr)."""
    import sys

    from satqkd import cli

    old = sys.argv
    sys.argv = ["satqkd", *argv]
    try:
        cli.main()
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    finally:
        sys.argv = old
    cap = capsys.readouterr()
    return code, cap.out, cap.err
