"""One verification problem (p, q, n, drafting law) and its reproduction snippet.

A :class:`Problem` is what the strategies generate and what a failing property reports:
the target law ``p`` (V,), the draft argument (``q`` of shape (V,) for i.i.d. and
without-replacement drafting, the stacked laws ``q_1..q_n`` of shape (n, V) for independent
drafts), the number of drafts n and the drafting law's name. :meth:`Problem.snippet` prints
it as Python one can paste: arrays are written with ``repr(float)`` per entry, which
round-trips exactly, so the pasted problem is bit-for-bit the one that failed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from multidraft.drafting import DraftingLaw, Independent, check_law, drafting_law
from multidraft.validation import check_choice

#: Drafting laws the strategies and the checker know by name.
DRAFTINGS = ("iid", "without_replacement", "independent")


def array_literal(values: np.ndarray) -> str:
    """``np.array([...])`` with every float at full (round-trip) precision; nested for 2-D."""
    values = np.asarray(values)
    if values.ndim == 1:
        if values.dtype.kind in "iu":
            return "np.array([" + ", ".join(str(int(v)) for v in values) + "])"
        return "np.array([" + ", ".join(repr(float(v)) for v in values) + "])"
    rows = ",\n    ".join(array_literal(row)[len("np.array(") : -1] for row in values)
    return "np.array([\n    " + rows + ",\n])"


@dataclass(frozen=True, eq=False)
class Problem:
    """A target law, a draft argument, n and a drafting law name.

    Attributes
    ----------
    target : (V,) float64
    draft : (V,) float64, or (n, V) for ``drafting="independent"``
    n : int
    drafting : str, one of :data:`DRAFTINGS`
    law_factory : callable, optional
        ``law_factory(draft, n) -> DraftingLaw`` for a drafting law the verifier defines itself
        (its ``law`` method, e.g. greedy drafting); ``drafting`` is then just its name.
    origin : str
        How the problem was made (strategy family and parameters), for reports only.

    Equality is identity; compare :meth:`key` for equal contents.
    """

    target: np.ndarray
    draft: np.ndarray
    n: int
    drafting: str = "iid"
    origin: str = ""
    law_factory: Callable[[np.ndarray, int], DraftingLaw] | None = None

    def __post_init__(self) -> None:
        if self.law_factory is None:
            check_choice(self.drafting, "drafting", DRAFTINGS, hint="(or a verifier with its own law(draft, n))")

    @property
    def vocab_size(self) -> int:
        return int(self.target.shape[0])

    def law(self) -> DraftingLaw:
        """The bound drafting law (validates q and n; a verifier's own law by :func:`check_law`)."""
        if self.law_factory is not None:
            return check_law(self.law_factory(self.draft, self.n), self.vocab_size, self.n, "law(draft, n)")
        if self.drafting == "independent":
            return Independent(self.draft)
        return drafting_law(self.drafting, self.draft, self.n)

    def drafting_argument(self) -> str:
        """The ``drafting=`` expression for :func:`multidraft.evaluate` in a snippet."""
        if self.law_factory is not None:
            return "verifier.law(draft, n)"
        if self.drafting == "independent":
            return "Independent(draft)"
        return repr(self.drafting)

    def key(self) -> tuple:
        """A hashable identity (exact bytes), used to cache evaluations."""
        return (self.target.tobytes(), self.draft.tobytes(), self.draft.shape, self.n, self.drafting)

    def relabelled(self, perm: np.ndarray) -> Problem:
        """The same problem with token ``perm[j]`` renamed ``j`` (p' = p[perm], q' = q[..., perm])."""
        return Problem(
            self.target[perm],
            self.draft[..., perm],
            self.n,
            self.drafting,
            self.origin + " relabelled",
            self.law_factory,
        )

    def snippet_lines(self) -> list[str]:
        """Python lines defining ``target``, ``draft`` and ``n`` (after ``import numpy as np``)."""
        return [
            f"target = {array_literal(self.target)}",
            f"draft = {array_literal(self.draft)}",
            f"n = {self.n}",
        ]

    def describe(self) -> str:
        return f"V={self.vocab_size}, n={self.n}, drafting={self.drafting}" + (
            f" ({self.origin})" if self.origin else ""
        )
