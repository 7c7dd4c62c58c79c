"""Draw independent figures at once: forked processes on Linux, one after the other elsewhere.

Agg drawing is Python code under the GIL, so threads do not help; the figures of a report
are independent, so each is drawn by a process forked from this one. A forked child
inherits the figure's inputs (tables, loaded arrays) and this process's imports, so
nothing is pickled on the way in; only the return value (a path) comes back. Inputs must
be in memory: a child never reads a file this process has open (HDF5 state is not shared
across a fork).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

#: Most processes one batch of figures is drawn by (a report has about six figures).
MAX_FIGURE_WORKERS = 4


@dataclass(frozen=True)
class Job:
    """One figure to draw: ``fn(*args, **kwargs)``; ``cost`` orders the dispatch (heaviest
    first, so the workers finish together); ``output``: the file it writes, if known
    before it runs."""

    fn: Callable[..., Any]
    args: tuple = ()
    kwargs: dict = field(default_factory=dict)
    cost: float = 1.0
    output: Path | None = None

    def __call__(self) -> Any:
        return self.fn(*self.args, **self.kwargs)


#: Jobs of the batches being drawn, by batch key: forked children inherit them.
_BATCHES: dict[int, Sequence[Job]] = {}


def _run(key_index: tuple[int, int]) -> Any:
    key, i = key_index
    return _BATCHES[key][i]()


def _can_fork() -> bool:
    import multiprocessing

    from satqkd.mission.execute import fork_available

    # not on macOS/Windows, nor inside a daemonic pool worker (no children allowed)
    return fork_available() and not multiprocessing.current_process().daemon


def figure_workers() -> int:
    """Processes to draw figures with: the CPUs this process may use (at most
    :data:`MAX_FIGURE_WORKERS`), 1 (serial) where forking is unsafe or impossible."""
    if not _can_fork():
        return 1
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not on Linux
        cpus = os.cpu_count() or 1
    return max(1, min(cpus, MAX_FIGURE_WORKERS))


class Drawing:
    """Figures being drawn; :meth:`results` waits for them (in the order of the jobs).

    With more than one worker the jobs start at once in a forked pool and this process
    is free meanwhile; with one they are drawn here, in order, when the drawing starts.
    An exception raised by a job is raised again by :meth:`results`.
    """

    def __init__(self, jobs: Sequence[Job], workers: int | None = None) -> None:
        self._jobs = list(jobs)
        n = figure_workers() if workers is None else (max(1, workers) if _can_fork() else 1)
        n = min(n, len(self._jobs))
        self._pool = self._pending = None
        self._results: list[Any] | None = None
        if n <= 1:
            self._results = [job() for job in self._jobs]
            return
        import multiprocessing

        key = id(self)
        order = sorted(range(len(self._jobs)), key=lambda i: -self._jobs[i].cost)
        _BATCHES[key] = self._jobs
        try:  # the pool forks its workers now, with the jobs in their memory
            self._pool = multiprocessing.get_context("fork").Pool(n)
        finally:
            del _BATCHES[key]
        self._order = order
        self._pending = self._pool.map_async(_run, [(key, i) for i in order], chunksize=1)

    def results(self) -> list[Any]:
        """The jobs' return values, in the order of the jobs."""
        if self._results is None:
            try:
                done = self._pending.get()
            except BaseException:
                self.close()
                raise
            self._pool.close()
            self._pool.join()
            out: list[Any] = [None] * len(self._jobs)
            for i, value in zip(self._order, done):
                out[i] = value
            self._results = out
        return self._results

    def close(self) -> None:
        """Stop the workers of a drawing whose results are not wanted (or failed)."""
        if self._pool is not None and self._results is None:
            self._pool.terminate()
            self._pool.join()
            self._pool = None

    def __enter__(self) -> Drawing:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def draw_all(jobs: Sequence[Job], workers: int | None = None) -> list[Any]:
    """Draw the jobs (see :class:`Drawing`) and return their results in order."""
    with Drawing(jobs, workers) as drawing:
        return drawing.results()


__all__ = ["MAX_FIGURE_WORKERS", "Drawing", "Job", "draw_all", "figure_workers"]
