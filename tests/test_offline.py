"""A run opens no network connection: sockets are made to fail in a fresh process."""

from __future__ import annotations

import subprocess
import sys
import textwrap


def test_run_opens_no_network_connection(repo, tmp_path, write_mission):
    mission = write_mission(("rate_hz = 1.0e8", "rate_hz = 1.0e6"))
    script = textwrap.dedent(f"""
        import socket, sys
        attempts = []
        def refuse(*args, **kwargs):
            attempts.append(args)
            raise OSError("network access attempted during a satqkd run")
        socket.socket.connect = refuse
        socket.socket.connect_ex = refuse
        socket.create_connection = refuse
        socket.getaddrinfo = refuse
        sys.argv = ["satqkd", "run", {str(mission)!r},
                    "--out", {str(tmp_path / "out")!r}]
        from satqkd import cli
        try:
            cli.main()
        except SystemExit as exc:
            assert not exc.code, exc.code
        assert not attempts, attempts
        print("OFFLINE-OK")
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "OFFLINE-OK" in proc.stdout
    assert (tmp_path / "out" / "passes.nc").exists()
