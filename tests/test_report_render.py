"""Figures drawn at once by forked processes: results in the jobs' order, errors raised here."""

from __future__ import annotations

import os

import pytest

from satqkd.mission.execute import fork_available
from satqkd.report.render import Drawing, Job, draw_all, figure_workers


def _square_and_pid(x: int) -> tuple[int, int]:
    return x * x, os.getpid()


def _fail(message: str) -> None:
    raise ValueError(message)


def test_results_in_job_order_whatever_the_dispatch_order():
    # costs reverse the dispatch order: the results still come back in the jobs' order
    jobs = [Job(_square_and_pid, (k,), cost=float(k)) for k in range(7)]
    parallel = draw_all(jobs, workers=2)
    serial = draw_all(jobs, workers=1)
    assert [r[0] for r in parallel] == [r[0] for r in serial] == [k * k for k in range(7)]
    assert {r[1] for r in serial} == {os.getpid()}
    if fork_available():  # drawn by the forked children, not here
        assert os.getpid() not in {r[1] for r in parallel}


def test_jobs_inherit_their_inputs_unpickled():
    # a closure cannot be pickled: it reaches the children by the fork
    data = list(range(1000))
    assert draw_all([Job(lambda: sum(data)), Job(lambda: len(data))], workers=2) == [499500, 1000]


@pytest.mark.parametrize("workers", [1, 2])
def test_an_error_in_a_job_is_raised_by_results(workers):
    jobs = [Job(_square_and_pid, (2,)), Job(_fail, ("no such station",))]
    with pytest.raises(ValueError, match="no such station"):
        with Drawing(jobs, workers=workers) as drawing:
            drawing.results()


def test_no_jobs_and_worker_count():
    assert draw_all([]) == []
    assert 1 <= figure_workers() <= max(1, os.cpu_count() or 1)
    if not fork_available():
        assert figure_workers() == 1
