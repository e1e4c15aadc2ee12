"""Measure how far each exact oracle scales (a benchmark, not part of CI).

For n = 2, 3, 4 and each oracle (LP sets form, LP tuples form, max-flow), grow the
vocabulary V along a geometric grid on LLM-like pairs (full-support q, ``llm_like(V,
seed=0)``) and record the largest V whose solve finishes within the time budget. Every
solve runs in its own subprocess killed at the budget, with the refusal limits lifted.

Run::

    python -m multidraft.bench.scaling                # prints a markdown table
    python -m multidraft.bench.scaling --budget 10
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time

#: Vocabulary sizes tried, in order (a run stops at the first V over budget).
GRID = (4, 6, 8, 12, 16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512, 768, 1024, 1536, 2048, 3072, 4096)

ORACLES = ("lp-sets", "lp-tuples", "maxflow")

_SNIPPET = """
import json, time
from multidraft.workloads.synthetic import llm_like
from multidraft.reference import solve_lp, solve_maxflow
solve_lp([0.5, 0.5], [0.5, 0.5], 1); solve_maxflow([0.5, 0.5], [0.5, 0.5], 1)  # warm imports
p, q = llm_like({V}, seed=0)
t = time.perf_counter()
if {oracle!r} == "maxflow":
    r = solve_maxflow(p, q, {n}, max_arcs=10**12, max_count=10**12)
    size, value = r.num_arcs, r.acceptance
else:
    r = solve_lp(p, q, {n}, form={oracle!r}[3:], max_variables=10**12, max_count=10**12)
    size, value = r.num_variables, r.alpha_star
print(json.dumps({{"time": time.perf_counter() - t, "size": size, "value": value}}))
"""


def _run_one(oracle: str, V: int, n: int, budget: float) -> dict | None:
    code = _SNIPPET.format(oracle=oracle, V=V, n=n)
    try:
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=budget + 20)
    except subprocess.TimeoutExpired:
        return None
    if out.returncode != 0:  # e.g. out of memory
        return None
    return json.loads(out.stdout.strip().splitlines()[-1])


def measure_scaling(ns=(2, 3, 4), oracles=ORACLES, budget: float = 10.0, grid=GRID, verbose: bool = True) -> list[dict]:
    """Largest V per (oracle, n) whose solve finishes within ``budget`` seconds.

    Times are wall seconds of the oracle call (enumeration, build, solve, plan), after a
    warm-up call that pays the one-off import of cvxpy/OR-Tools (~1 s).

    Returns a list of rows ``{"oracle", "n", "V", "size", "time"}`` (V = None if even the
    smallest grid size failed).
    """
    rows = []
    for oracle in oracles:
        for n in ns:
            best = {"oracle": oracle, "n": n, "V": None, "size": None, "time": None}
            for V in grid:
                started = time.perf_counter()
                res = _run_one(oracle, V, n, budget)
                if verbose:
                    took = time.perf_counter() - started
                    print(
                        f"  {oracle:9s} n={n} V={V:5d}: "
                        + (
                            f"{res['time']:.2f} s, size {res['size']:,}"
                            if res
                            else f"over budget/failed ({took:.1f} s)"
                        ),
                        file=sys.stderr,
                    )
                if res is None or res["time"] > budget:
                    break
                best.update(V=V, size=res["size"], time=res["time"])
            rows.append(best)
    return rows


def as_markdown(rows: list[dict]) -> str:
    lines = ["| oracle | n | largest V | size (variables / arcs) | time (s) |", "|---|---|---|---|---|"]
    for r in rows:
        size = f"{r['size']:,}" if r["size"] is not None else "-"
        t = f"{r['time']:.2f}" if r["time"] is not None else "-"
        lines.append(f"| {r['oracle']} | {r['n']} | {r['V'] if r['V'] is not None else '-'} | {size} | {t} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Measure how far each exact oracle scales.")
    parser.add_argument("--budget", type=float, default=10.0, help="seconds per solve (default 10)")
    parser.add_argument("--n", type=int, nargs="+", default=[2, 3, 4], help="numbers of drafts")
    parser.add_argument("--oracles", nargs="+", default=list(ORACLES), choices=ORACLES)
    args = parser.parse_args(argv)
    print(as_markdown(measure_scaling(tuple(args.n), tuple(args.oracles), args.budget)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
