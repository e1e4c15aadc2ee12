"""Paths explored and time of the controlled-randomness harness on every built-in baseline's sampler.

Run: ``python tests/properties/measure_harness.py`` (about a minute on two CPU cores). For each
baseline and problem it prints the draft tuples, the decision paths the harness explored (total,
and the most for one tuple), the median harness time over 3 runs beside the median time of the
baseline's own batched ``conditional`` on the same tuples (measured in the same run), and the
largest |harness law - conditional law| over tuples and tokens.
"""

from __future__ import annotations

import statistics

import numpy as np

from multidraft.fast import BASELINES
from multidraft.properties.exact_sampling import compare_with_conditional
from multidraft.verifiers import get_verifier

P = np.array([0.05, 0.4, 0.15, 0.3, 0.1])
Q = np.array([0.3, 0.1, 0.2, 0.25, 0.15])
PROBLEMS = (("V=5, n=2", P, Q, 2), ("V=5, n=3", P, Q, 3))


def main() -> None:
    print("| sampler | problem | tuples | paths | paths per tuple (max) | harness s | conditional s | max diff |")
    print("|---|---|---|---|---|---|---|---|")
    for name in list(BASELINES):
        for label, p, q, n in PROBLEMS:
            runs = [compare_with_conditional(BASELINES[name], p, q, n) for _ in range(3)]
            a = runs[0]
            h = statistics.median(r.harness_seconds for r in runs)
            c = statistics.median(r.conditional_seconds for r in runs)
            print(
                f"| {name} | {label} | {a.tuples} | {a.paths} | {a.paths / a.tuples:.1f} ({a.max_paths}) | "
                f"{h:.3f} | {c:.4f} | {max(r.max_diff for r in runs):.1e} |"
            )
    try:
        compare_with_conditional(get_verifier("global_resolution"), P, Q, 2)
    except Exception as exc:  # the harness's refusal, printed as the table's footnote
        print(f"\nglobal_resolution: {type(exc).__name__}: {exc}")


if __name__ == "__main__":
    main()
