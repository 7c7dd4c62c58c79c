"""Warnings that come in numbers: one line per kind, with a count and the worst case.

A year of passes can raise the same warning thousands of times (one per pass with a
stale element set). Stages describe each case as a :class:`Notice`; the run prints one
line per kind (:func:`summary_lines`) and ``run.json`` keeps, per kind, the count, the
worst case and a few examples (:func:`summarize`), never the whole list.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable
from dataclasses import dataclass

#: Examples kept per kind in ``run.json`` (the worst first).
MAX_EXAMPLES = 5


@dataclass(frozen=True)
class Notice:
    """One case of a warning.

    ``kind`` names the warning ("stale element set"); ``unit`` is what is counted
    ("pass"); ``condition`` completes the sentence after the count ("using an element set
    more than 14 days from the pass"); ``measure`` orders the cases (larger is worse) and
    ``detail`` describes this case ("212 days: MICIUS over Graz 2019-06-01T03:12Z").
    """

    kind: str
    unit: str
    condition: str
    measure: float
    detail: str


class NoticeWarning(UserWarning):
    """A Python warning that carries its cases, so callers can aggregate them."""

    def __init__(self, notices: Iterable[Notice]) -> None:
        self.notices = tuple(notices)
        super().__init__("; ".join(summary_lines(summarize(self.notices))))


def _plural(unit: str, count: int) -> str:
    if count == 1:
        return unit
    return unit + ("es" if unit.endswith(("s", "x", "ch", "sh")) else "s")


def summarize(notices: Iterable[Notice]) -> list[dict]:
    """Per kind (in order of first appearance): count, worst case and a few examples.

    Each entry: ``kind``, ``count``, ``message`` (the printed line), ``worst`` (the
    worst case's detail), ``worst_measure`` and ``examples`` (up to
    :data:`MAX_EXAMPLES` details, the worst first).
    """
    by_kind: dict[str, list[Notice]] = {}
    for n in notices:
        by_kind.setdefault(n.kind, []).append(n)
    out = []
    for kind, cases in by_kind.items():
        ranked = sorted(cases, key=lambda n: -n.measure)
        worst = ranked[0]
        # the condition of the first case stands for the kind (same wording for all)
        counted = " ".join(filter(None, (str(len(cases)), _plural(worst.unit, len(cases)),
                                         worst.condition)))
        message = f"{kind}: {counted} (worst {worst.detail})"
        out.append({"kind": kind, "count": len(cases), "message": message,
                    "worst": worst.detail, "worst_measure": worst.measure,
                    "examples": [n.detail for n in ranked[:MAX_EXAMPLES]]})
    return out


def summary_lines(summary: list[dict]) -> list[str]:
    """The printed lines of :func:`summarize`'s entries, one per kind."""
    return [entry["message"] for entry in summary]


def from_warnings(caught: Iterable[warnings.WarningMessage]) -> list[Notice]:
    """The cases of recorded Python warnings (any other warning is one case of its class)."""
    out: list[Notice] = []
    for w in caught:
        if isinstance(w.message, NoticeWarning):
            out.extend(w.message.notices)
        else:
            out.append(Notice(w.category.__name__, "warning", "", 0.0, str(w.message)))
    return out


__all__ = ["MAX_EXAMPLES", "from_warnings", "Notice", "NoticeWarning", "summarize", "summary_lines"]
