"""Run independent pass tasks serially, on local processes, or on a Dask cluster.

Results are handed to ``on_result`` in the calling process as they complete, so the
caller writes each pass to disk at once. Because every pass draws its randomness from
its own seed (see :func:`satqkd.mission.run.pass_seed`), the results do not depend on
the number of workers or the order in which they finish.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

from satqkd.errors import InputError


def check_scheduler(address: str) -> None:
    """Fail early, with one line, when a Dask scheduler cannot be reached."""
    try:
        from dask.distributed import Client
    except ImportError:  # pragma: no cover - depends on the installation
        raise InputError("--scheduler needs dask.distributed: pip install -e '.[dist]'") from None
    try:
        Client(address, timeout="10s").close()
    except OSError as exc:
        raise InputError(f"--scheduler {address}: cannot connect ({exc})") from None


def execute(
    fn: Callable[[Any], Any],
    tasks: Sequence[Any],
    on_result: Callable[[Any], None],
    workers: int = 1,
    scheduler: str | None = None,
) -> None:
    """Apply ``fn`` to every task; call ``on_result`` with each result as it completes."""
    if not tasks:
        return
    if scheduler is None and workers <= 1:
        for task in tasks:
            on_result(fn(task))
        return
    try:
        from dask.distributed import Client, LocalCluster, as_completed
    except ImportError:  # pragma: no cover - depends on the installation
        raise InputError("--workers/--scheduler need dask.distributed: "
                         "pip install -e '.[dist]'") from None
    cluster = None
    if scheduler is not None:
        try:
            client = Client(scheduler, timeout="10s")
        except OSError as exc:
            raise InputError(f"--scheduler {scheduler}: cannot connect ({exc})") from None
    else:
        cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                               dashboard_address=None)
        client = Client(cluster)
    try:
        futures = client.map(fn, list(tasks), pure=False)
        for future in as_completed(futures):
            on_result(future.result())
            future.release()
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
