"""Result records of the property suite and their rendering (table, JSON, snippets).

A :class:`PropertyResult` is one row: a property name, its mode (``exact`` or ``stat``), a
status (``pass``, ``fail``, or ``info`` -- measured but not required of this verifier), the worst measured value with what it measures, the tolerance
or test level, and on failure the (shrunk) problem and a Python snippet reproducing it.
A :class:`Report` collects the rows of one check.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any

from .problem import Problem

STATUSES = ("pass", "fail", "info")


class PropertyFailure(AssertionError):
    """Raised by :meth:`Report.raise_if_failed`; the message is the table and the snippets."""


@dataclass
class PropertyResult:
    """One property's verdict over all the problems it was checked on.

    Attributes
    ----------
    name : str
    mode : {"exact", "stat"}
    status : {"pass", "fail", "info"}
    measure : str
        What ``worst`` is (``"TV"``, ``"alpha* - acceptance"``, ``"p-value"``...).
    worst : float
        Worst measured value over the problems (largest, or smallest for p-values).
    threshold : float
        The tolerance (exact) or the per-test level (stat) the verdict used.
    problems : int
        Number of problems the property was measured on.
    problem : Problem or None
        The problem where ``worst`` was found (the shrunk counterexample on failure).
    detail : str
        A sentence on the worst case (and, in stat mode, the detectable deviation).
    snippet : str or None
        Python code reproducing the failure (only on failure).
    extra : dict
        Mode-specific numbers (e.g. minimum detectable TV) for JSON output.
    """

    name: str
    mode: str
    status: str
    measure: str
    worst: float
    threshold: float
    problems: int = 0
    problem: Problem | None = None
    detail: str = ""
    snippet: str | None = None
    extra: dict = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return self.status != "fail"

    def to_dict(self) -> dict[str, Any]:
        out = {
            k: getattr(self, k)
            for k in ("name", "mode", "status", "measure", "threshold", "problems", "detail", "snippet", "extra")
        }
        out["worst"] = self.worst if math.isfinite(self.worst) else str(self.worst)
        out["problem"] = (
            None
            if self.problem is None
            else {
                "target": self.problem.target.tolist(),
                "draft": self.problem.draft.tolist(),
                "n": self.problem.n,
                "drafting": self.problem.drafting,
                "origin": self.problem.origin,
            }
        )
        return out


def _detectable(r: PropertyResult) -> str:
    if "tv_power90" in r.extra:
        return f"TV {r.extra['tv_power90']:.2g}"
    if "shift_power90" in r.extra:
        return f"shift {r.extra['shift_power90']:.2g}"
    return "-"


@dataclass
class Report:
    """All property results of one check of one verifier."""

    verifier: str
    results: list[PropertyResult]
    settings: dict = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return all(r.passed for r in self.results)

    @property
    def failures(self) -> list[PropertyResult]:
        return [r for r in self.results if not r.passed]

    def __getitem__(self, name: str) -> PropertyResult:
        for r in self.results:
            if r.name == name:
                return r
        raise KeyError(name)

    def table(self) -> str:
        """A fixed-width table, one row per property.

        With statistical rows, a last column gives the deviation each test detects with 90%
        power at its sample size and level: a TV for law tests, an acceptance shift for rate tests.
        """
        head = ("property", "mode", "verdict", "measure", "worst", "threshold", "problems")
        rows = [head] + [
            (r.name, r.mode, r.status.upper(), r.measure, f"{r.worst:.3g}", f"{r.threshold:.3g}", str(r.problems))
            for r in self.results
        ]
        if any(r.mode == "stat" for r in self.results):
            rows[0] += ("detectable (90% power)",)
            for i, r in enumerate(self.results, start=1):
                rows[i] += (_detectable(r),)
        widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
        lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows]
        lines.insert(1, "  ".join("-" * w for w in widths))
        return "\n".join(lines)

    def render(self) -> str:
        """The table, one line per property detail, then a snippet for every failure."""
        verdict = "PASSED" if self.passed else f"FAILED ({len(self.failures)} of {len(self.results)} properties)"
        out = [f"multidraft check: {self.verifier}: {verdict}", "", self.table(), "", *self.notes(), ""]
        out += [f"  {r.name}: {r.detail}" for r in self.results if r.detail]
        for r in self.failures:
            out += [
                "",
                f"--- counterexample for {r.name} ({r.problem.describe() if r.problem else 'no problem'}):",
                r.snippet or "(no snippet)",
            ]
        return "\n".join(out)

    def notes(self) -> list[str]:
        """What the ``problems`` column counts, and the numbers of drafts actually checked."""
        lines = [
            "  problems = distinct problems a property was measured on: an exact property's hypothesis search "
            "stops once it has explored enough (at most the profile's examples), info properties count every "
            "problem the searches visited, statistical ones the --stat-problems problems."
        ]
        asked, checked = self.settings.get("n"), self.settings.get("n_checked")
        if asked is not None and checked is not None and tuple(checked) != tuple(asked):
            lines.append(
                f"  n: {asked[0]}-{asked[1]} requested, {checked[0]}-{checked[1]} checked: larger n enumerate "
                f"more than --max-tuples {self.settings.get('max_tuples')} draft tuples even at the smallest V."
            )
        return lines

    def __str__(self) -> str:
        return self.render()

    def raise_if_failed(self) -> None:
        """Raise :class:`PropertyFailure` (an ``AssertionError``) carrying :meth:`render` on failure."""
        if not self.passed:
            raise PropertyFailure(self.render())

    def to_dict(self) -> dict[str, Any]:
        return {
            "verifier": self.verifier,
            "passed": self.passed,
            "settings": self.settings,
            "results": [r.to_dict() for r in self.results],
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, default=str)
