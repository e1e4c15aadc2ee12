"""The acceptance table of docs/baselines.md: every baseline against alpha* (app layer).

Run ``python -m multidraft.bench.baseline_table`` to print it (seconds).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from multidraft.drafting import GreedyDrafting, WithoutReplacement
from multidraft.examples import example
from multidraft.fast import BASELINES
from multidraft.reference import optimal_acceptance, optimal_acceptance_bruteforce
from multidraft.workloads.synthetic import llm_like


def _compress(p: np.ndarray, q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Merge the tokens with q = 0 into one (alpha* of any drafting law from q is unchanged)."""
    on = q > 0
    return np.append(p[on], p[~on].sum()), np.append(q[on], 0.0)


#: llm_like problems of the docs table: (label, keyword arguments); q keeps its top 10 tokens.
TABLE_PROBLEMS = (
    ("llm-topk (V=1000, seed 1)", {"vocab_size": 1000, "seed": 1}),
    ("V=100, T=0.7, seed 0", {"vocab_size": 100, "temperature": 0.7, "seed": 0}),
    ("V=100, T=0.5, seed 4", {"vocab_size": 100, "temperature": 0.5, "seed": 4}),
    ("V=20, seed 3", {"vocab_size": 20, "seed": 3}),
    ("toy example (V=6, no top-k)", {"example": "toy"}),
)


def baseline_table(problems: Any = TABLE_PROBLEMS, ns: tuple[int, ...] = (2, 4), top_k: int = 10) -> list[dict]:
    """Measured acceptance of each baseline on ``llm_like(..., top_k=10)`` problems (or built-in examples).

    Returns one dict per (problem, n) with the exact acceptances (:meth:`Verifier.acceptance`,
    each under the method's own drafting law), alpha* for i.i.d. drafts,
    ``(1 - 1/e) alpha*``, and alpha* of the without-replacement and greedy drafting laws
    (brute force over the draft support plus one merged token).
    """
    rows = []
    for label, kwargs in problems:
        p, q = example(kwargs["example"])[:2] if "example" in kwargs else llm_like(**kwargs, top_k=top_k)
        for n in ns:
            a_star = float(optimal_acceptance(p, q, n).alpha_star)
            row = {"problem": label, "n": n, "alpha*": a_star, "(1-1/e) alpha*": (1 - math.exp(-1)) * a_star}
            for name, verifier in BASELINES.items():
                row[name] = float(verifier.acceptance(p, q, n))
            pc, qc = _compress(p, q)
            row["alpha* w/o repl."] = optimal_acceptance_bruteforce(pc, drafting=WithoutReplacement(qc, n))[0]
            row["alpha* greedy"] = optimal_acceptance_bruteforce(pc, drafting=GreedyDrafting(qc, n))[0]
            rows.append(row)
    return rows


def format_table(rows: list[dict]) -> str:
    """A markdown table of :func:`baseline_table` rows (acceptances to 4 decimals)."""
    keys = list(rows[0])
    lines = ["| " + " | ".join(keys) + " |", "|" + "---|" * len(keys)]
    for row in rows:
        lines.append("| " + " | ".join(str(row[k]) if k in ("problem", "n") else f"{row[k]:.4f}" for k in keys) + " |")
    return "\n".join(lines)


def main() -> None:  # pragma: no cover - the docs table
    """Print the table of docs/baselines.md."""
    print(format_table(baseline_table()))


if __name__ == "__main__":  # pragma: no cover
    main()
