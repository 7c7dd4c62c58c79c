"""Run independent pass tasks serially, on local processes, or on a Dask cluster.

Results are handed to ``on_result`` in the calling process as they complete, so the
caller writes each pass to disk at once. Because every pass draws its randomness from
its own seed (see :func:`satqkd.mission.run.pass_seed`), the results do not depend on
the number of workers or the order in which they finish.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

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


#: glibc mallopt parameters (malloc.h): M_TRIM_THRESHOLD, M_TOP_PAD, M_MMAP_THRESHOLD.
_M_TRIM_THRESHOLD, _M_TOP_PAD, _M_MMAP_THRESHOLD = -1, -2, -3


def tune_allocator() -> bool:
    """Keep freed memory in the process between passes (glibc only; False elsewhere).

    A pass allocates and frees arrays of megabytes (events, sifted keys, FFT buffers);
    by default glibc serves each from a fresh mmap and returns it on free, and Dask's
    workers trim the heap at 64 kB, so every pass faults its pages in again: that was a
    third of a year-long mission's CPU time, spent in the kernel. Arrays up to 32 MB (the
    largest mmap threshold glibc allows) now come from the heap, which is trimmed only
    above 1 GB of free memory at its top.
    """
    import ctypes
    import ctypes.util

    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    ok = mallopt(_M_MMAP_THRESHOLD, 32 << 20)
    ok &= mallopt(_M_TRIM_THRESHOLD, 1 << 30)
    ok &= mallopt(_M_TOP_PAD, 64 << 20)
    return bool(ok)


def _run_batch(fn: Callable[[Any], Any], batch: Sequence[Any]) -> list[Any]:
    return [fn(task) for task in batch]


#: Most tasks in one batch: a daylight pass at the counts level costs about a millisecond,
#: so the light tail of a year travels in few messages.
MAX_BATCH = 256


def batches(costs: Sequence[float], workers: int, max_batch: int = MAX_BATCH,
            per_worker: int = 16) -> list[list[int]]:
    """Group task indices, in order, into batches of about equal expected cost.

    A Dask task costs milliseconds of scheduling; a pass in daylight costs about as
    much to simulate, so light passes travel together. A batch closes when it reaches
    1/(per_worker x workers) of the total cost or ``max_batch`` tasks; given the
    heaviest tasks first, those run alone and the light tail in full batches, so the
    workers still finish together.
    """
    total = float(sum(costs))
    target = total / max(per_worker * workers, 1)
    out: list[list[int]] = []
    current: list[int] = []
    acc = 0.0
    for i, c in enumerate(costs):
        current.append(i)
        acc += c
        if len(current) >= max_batch or (target > 0 and acc >= target):
            out.append(current)
            current, acc = [], 0.0
    if current:
        out.append(current)
    return out


class Executor:
    """Where passes run: in this process, on local Dask worker processes, or on a cluster.

    Open it with :func:`open_executor` as early as possible: the workers start, and
    ``warm_up`` (imports, loading compiled kernels) runs on each of them, while the
    caller is still computing the orbit stage.
    """

    def __init__(self, client=None, n_workers: int = 1, local: bool = True) -> None:
        self.client = client
        self.n_workers = n_workers
        #: the tasks run on this machine (in this process or on local worker processes),
        #: so they see the caller's files
        self.local = local

    def map(self, fn: Callable[[Any], Any], items: Sequence[Any]) -> list[Any]:
        """``[fn(x) for x in items]``, on local forked processes where this executor has
        them (:class:`ForkExecutor`), else in this process: for a few large pieces of
        work whose results the caller needs (the pass search of a year)."""
        return [fn(x) for x in items]

    def imap_unordered(self, fn: Callable[[Any], Any], items: Sequence[Any]) -> Iterator[Any]:
        """``fn(x)`` for every item, each result as soon as it exists (in this process:
        in order). Only for executors on this machine (``client`` None)."""
        for x in items:
            yield fn(x)

    def run(self, fn: Callable[[Any], Any], tasks: Sequence[Any],
            on_result: Callable[[Any], None], costs: Sequence[float] | None = None) -> None:
        """Apply ``fn`` to every task; call ``on_result`` with each result as it completes.

        ``costs`` (expected cost of each task, same order) lets a cluster run light
        tasks in batches (:func:`batches`); results are the same whatever the batching.
        """
        if not tasks:
            return
        if self.client is None:
            for task in tasks:
                on_result(fn(task))
            return
        from dask.distributed import as_completed

        groups = (batches(costs, self.n_workers) if costs is not None
                  else [[i] for i in range(len(tasks))])
        futures = [self.client.submit(_run_batch, fn, [tasks[i] for i in g], pure=False)
                   for g in groups]
        for future in as_completed(futures):
            for result in future.result():
                on_result(result)
            future.release()


#: (function, tasks) of the run a forked pool serves: the children inherit them at fork,
#: so tasks never travel (see :class:`ForkExecutor`).
_FORKED: tuple[Callable[[Any], Any], Sequence[Any]] | None = None


def _run_forked(group: Sequence[int]) -> list[Any]:
    fn, tasks = _FORKED
    return [fn(tasks[i]) for i in group]


class ForkExecutor(Executor):
    """Local worker processes forked from this one once the tasks exist (Linux).

    The children inherit the tasks, their function and everything this process has
    loaded (modules, tables, compiled kernels), so a task travels as its index and no
    worker imports anything; only the results (small: a pass's checkpoint is written by
    the child itself) come back through a pipe. Light tasks go in batches
    (:func:`batches`), handed to whichever child is free. A year's thousands of counts-
    level passes cost as much as Dask's scheduling and (de)serialisation did per pass.
    ``warm_up`` runs once, here, before the first fork.
    """

    def __init__(self, n_workers: int, warm_up: Callable[[], Any] | None = None) -> None:
        super().__init__(None, n_workers, local=True)
        self._warm_up = warm_up

    def run(self, fn: Callable[[Any], Any], tasks: Sequence[Any],
            on_result: Callable[[Any], None], costs: Sequence[float] | None = None) -> None:
        global _FORKED
        if not tasks:
            return
        if self._warm_up is not None:
            self._warm_up()
            self._warm_up = None
        import multiprocessing

        groups = (batches(costs, self.n_workers) if costs is not None
                  else [[i] for i in range(len(tasks))])
        _FORKED = (fn, tasks)
        try:
            with multiprocessing.get_context("fork").Pool(
                    min(self.n_workers, len(groups))) as pool:
                for results in pool.imap_unordered(_run_forked, groups):
                    for result in results:
                        on_result(result)
        finally:
            _FORKED = None


    def map(self, fn: Callable[[Any], Any], items: Sequence[Any]) -> list[Any]:
        global _FORKED
        if len(items) < 2:
            return [fn(x) for x in items]
        import multiprocessing

        _FORKED = (fn, items)
        try:
            with multiprocessing.get_context("fork").Pool(
                    min(self.n_workers, len(items))) as pool:
                return pool.map(_map_forked, range(len(items)), chunksize=1)
        finally:
            _FORKED = None


    def imap_unordered(self, fn: Callable[[Any], Any], items: Sequence[Any]) -> Iterator[Any]:
        """Forked children (after the warm-up, here) take the items in order as they
        free up; ``fn`` and the items are inherited, only results travel."""
        global _FORKED
        if self._warm_up is not None:
            self._warm_up()
            self._warm_up = None
        if len(items) < 2 or self.n_workers < 2:
            yield from (fn(x) for x in items)
            return
        import multiprocessing

        _FORKED = (fn, items)
        try:
            with multiprocessing.get_context("fork").Pool(
                    min(self.n_workers, len(items))) as pool:
                yield from pool.imap_unordered(_map_forked, range(len(items)), chunksize=1)
        finally:
            _FORKED = None


def _map_forked(i: int) -> Any:
    fn, items = _FORKED
    return fn(items[i])


def fork_available() -> bool:
    """Local workers can be forked: Linux (fork is unsafe on macOS, absent on Windows)."""
    import multiprocessing
    import sys

    return sys.platform.startswith("linux") and "fork" in multiprocessing.get_all_start_methods()


def _warn(message: str) -> None:
    import sys

    from satqkd.errors import one_line

    print(f"warning: {one_line(message)}", file=sys.stderr, flush=True)


def loopback_problem(timeout_s: float = 2.0) -> str | None:
    """Why local worker processes could not talk over loopback TCP (None: they can).

    Dask's local cluster listens on 127.0.0.1; without a loopback interface (some
    sandboxes and containers) it would fail only after a 30 s timeout, with a traceback.
    """
    import socket

    try:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as server:
            server.settimeout(timeout_s)
            server.bind(("127.0.0.1", 0))
            server.listen(1)
            with socket.create_connection(server.getsockname(), timeout=timeout_s):
                conn, _ = server.accept()
                conn.close()
    except OSError as exc:
        return f"no loopback network: {exc.strerror or exc}"
    return None


@contextmanager
def open_executor(workers: int = 1, scheduler: str | None = None,
                  warm_up: Callable[[], Any] | None = None,
                  local: str = "auto") -> Iterator[Executor]:
    """An :class:`Executor`: serial for ``workers <= 1`` without a scheduler; with
    ``scheduler``, that Dask cluster; else ``workers`` local processes, forked
    (:class:`ForkExecutor`, ``local = "auto"`` on Linux) or a local Dask cluster
    (``local = "dask"``, and where fork is not available)."""
    if scheduler is None and workers <= 1:
        yield Executor()
        return
    if scheduler is None and local == "auto" and fork_available():
        yield ForkExecutor(workers, warm_up)
        return
    try:
        from dask.distributed import Client, LocalCluster
    except ImportError:  # pragma: no cover - depends on the installation
        raise InputError("--workers/--scheduler need dask.distributed: "
                         "pip install -e '.[dist]'") from None
    cluster = None
    if scheduler is not None:
        try:
            client = Client(scheduler, timeout="10s")
        except OSError as exc:
            raise InputError(f"--scheduler {scheduler}: cannot connect ({exc})") from None
        n_workers = max(len(client.scheduler_info()["workers"]), 1)
    else:
        reason = loopback_problem()
        if reason is None:
            try:
                cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                       dashboard_address=None)
                client = Client(cluster)
            except Exception as exc:  # noqa: BLE001 - any failure to start: run serially
                if cluster is not None:
                    try:
                        cluster.close()
                    except Exception:  # noqa: BLE001
                        pass
                reason = f"{type(exc).__name__}: {str(exc)[:120]}"
        if reason is not None:
            _warn(f"--workers {workers}: local Dask workers cannot start ({reason}); "
                  "running the passes serially in this process (same results)")
            yield Executor()
            return
        n_workers = workers
    try:
        # one warm-up task pinned to each worker; held, so that it is not cancelled
        warm = [client.submit(warm_up, workers=[w], allow_other_workers=False, pure=False)
                for w in client.scheduler_info()["workers"]] if warm_up is not None else []
        yield Executor(client, n_workers, local=cluster is not None)
        del warm
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
