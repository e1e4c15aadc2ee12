"""The measured tables of docs/trees.md: exact-check times, the oracle's time and size limit,
and the block efficiency of every built-in tree verifier against the optimum.

Run ``python -m multidraft.bench.trees [--quick] [--tables checks,oracle,slate]``; it prints
markdown tables (medians of ``--repeats`` runs, measured in this process).
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import time
from datetime import datetime, timezone

import numpy as np

from multidraft import evaluate_tree
from multidraft.fast import TREE_VERIFIERS
from multidraft.reference import optimal_block_efficiency
from multidraft.reference.blocks import MAX_TREE_LP_VARIABLES
from multidraft.trees import Branching, parse_structure, table_pair
from multidraft.validation import TooLargeError

CHECK_CASES = [
    (V, s)
    for V in (2, 3, 4)
    for s in ("chain:2", "chain:3", "paths:2x2", "paths:3x2", "paths:2x3", "paths:3x3", "branching:2,2")
]
ORACLE_CASES = [
    (V, s)
    for V in (2, 3, 4)
    for s in ("paths:2x2", "paths:3x2", "paths:2x3", "paths:3x3", "branching:2,2", "delayed:1x2x1")
]
SLATE_STRUCTURES = ("chain:3", "paths:2x2", "paths:3x2", "paths:2x3", "delayed:1x2x1", "branching:2,2")
SLATE_MODELS = [("dirichlet", {}), ("close", {"similarity": 0.6})]


def _median_time(fn, repeats: int) -> tuple[float, object]:
    times, out = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), out


def checks_table(repeats: int, quick: bool) -> str:
    """Time of one exact evaluation (all trees, section 2 on all prefixes) per verifier and case."""
    names = ("spec_infer", "spectr", "traversal", "greedy_block_verification")
    lines = ["| V | structure | trees | " + " | ".join(names) + " |", "|---|---|---|" + "---|" * len(names)]
    cases = CHECK_CASES[:4] if quick else CHECK_CASES
    for V, spec in cases:
        structure = parse_structure(spec)
        target, draft = table_pair(V, seed=0)
        trees = structure.trees(draft)
        cells = []
        for name in names:
            verifier = TREE_VERIFIERS[name]
            if not verifier.accepts(structure):
                cells.append("-")
                continue
            evaluate_tree(verifier, target, draft, structure, trees=trees)  # warm caches (numba, plans)
            runs = 1 if len(trees) > 10_000 else repeats  # the largest cases: one timed run
            seconds, _ = _median_time(
                lambda v=verifier, t=target, d=draft, s=structure: evaluate_tree(v, t, d, s), runs
            )
            cells.append(f"{seconds:.3f} s")
        lines.append(f"| {V} | {spec} | {len(trees):,} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def oracle_table(repeats: int, quick: bool) -> str:
    """LP size and solve time; the refusal beyond MAX_TREE_LP_VARIABLES."""
    lines = ["| V | structure | trees | LP variables | time |", "|---|---|---|---|---|"]
    cases = ORACLE_CASES[:3] if quick else ORACLE_CASES
    for V, spec in cases:
        structure = parse_structure(spec)
        target, draft = table_pair(V, seed=0)
        try:
            seconds, res = _median_time(
                lambda t=target, d=draft, s=structure: optimal_block_efficiency(t, d, s), repeats
            )
            lines.append(f"| {V} | {spec} | {res.num_trees:,} | {res.num_variables:,} | {seconds:.2f} s |")
        except TooLargeError as exc:
            lines.append(f"| {V} | {spec} | | refused | {str(exc).split(', above')[0].split('would have ')[-1]} |")
    return "\n".join(lines)


def slate_table(seeds: int) -> str:
    """Mean E|O| and the mean / worst gap to the optimum, per structure and verifier."""
    rows = []
    for spec in SLATE_STRUCTURES:
        structure: Branching = parse_structure(spec)
        values: dict[str, list[float]] = {}
        optima: list[float] = []
        for _kind, options in SLATE_MODELS:
            for seed in range(seeds):
                target, draft = table_pair(3, seed=100 + seed, **options)
                best = optimal_block_efficiency(target, draft, structure).value
                optima.append(best)
                trees = structure.trees(draft)
                for name, verifier in TREE_VERIFIERS.items():
                    if verifier.accepts(structure):
                        ev = evaluate_tree(verifier, target, draft, structure, trees=trees)
                        values.setdefault(name, []).append(ev.block_efficiency)
        opt = np.array(optima)
        rows.append(f"| {spec} | optimum | {opt.mean():.4f} | | |")
        for name, vals in sorted(values.items(), key=lambda kv: -np.mean(kv[1])):
            gap = (opt - np.array(vals)) / opt * 100
            rows.append(f"| {spec} | {name} | {np.mean(vals):.4f} | {gap.mean():.2f}% | {gap.max():.2f}% |")
    head = ["| structure | verifier | mean E\\|O\\| | mean gap | worst gap |", "|---|---|---|---|---|"]
    return "\n".join(head + rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m multidraft.bench.trees", description=__doc__)
    parser.add_argument("--tables", default="checks,oracle,slate", help="comma-separated: checks, oracle, slate")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per cell (median; default 3)")
    parser.add_argument("--seeds", type=int, default=4, help="models per kind in the slate (default 4)")
    parser.add_argument("--quick", action="store_true", help="a few cells only")
    args = parser.parse_args(argv)
    tables = args.tables.split(",")
    print(
        f"<!-- python -m multidraft.bench.trees {' '.join(argv if argv is not None else sys.argv[1:])}; "
        f"{platform.processor() or platform.machine()}, {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC; "
        f"LP limit {MAX_TREE_LP_VARIABLES:,} variables -->"
    )
    if "checks" in tables:
        print(
            f"\n### Exact evaluation time (one verifier, one case; median of {args.repeats} runs, "
            "one run above 10,000 trees)\n"
        )
        print(checks_table(args.repeats, args.quick))
    if "oracle" in tables:
        print("\n### The oracle: LP size and time (median of", args.repeats, "runs)\n")
        print(oracle_table(args.repeats, args.quick))
    if "slate" in tables:
        print(
            f"\n### Block efficiency on {len(SLATE_MODELS) * (2 if args.quick else args.seeds)} random models "
            "(V = 3; gap to the optimum, % of it)\n"
        )
        print(slate_table(2 if args.quick else args.seeds))
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
