"""``multidraft solve``: optimal acceptance alpha* of one problem, by every exact oracle.

Prints alpha*, the smallest and largest minimising token sets H*, each oracle's value and
wall time, the max-flow certified interval and the LP certificate gap. Oracles that would
exceed their size limits are reported as ``skipped (reason)``.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from multidraft.bench.options import names
from multidraft.drafting import DRAFTING_NAMES, drafting_law
from multidraft.examples import EXAMPLES, example, load_laws
from multidraft.validation import InvalidInputError, TooLargeError, check_n, cli_int, cli_type

ORACLE_NAMES = ("closed", "lp", "maxflow")

EPILOG = """\
oracles:
  closed   sorted-prefix closed form, O(V log V); i.i.d. drafts only
  lp       cvxpy/HiGHS LP on distinct-token sets (or --lp-form tuples: the full OTLP),
           with a min-cut certificate read from its duals
  maxflow  OR-Tools integer max-flow, solved with capacities rounded down and up:
           a certified interval [lo, hi] containing alpha*

examples: {examples}
oracles over their size limits are reported as "skipped (reason)"; --file also takes a
workload written by `multidraft workload` (laws of shape (B, V)): --row picks the row.
exit status: 0 alpha* computed, 1 every oracle was skipped (size limits), 2 bad input
(including --oracles closed with a drafting law other than iid).

Example:
  multidraft solve --example toy
  multidraft solve --file laws.npz --n 3 --drafting without_replacement --json
"""


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "solve",
        help="optimal acceptance alpha* and the min-cut set H* by the exact oracles",
        description=(
            "Compute the optimal acceptance alpha* = min_H [p(H) + P(some draft not in H)]\n"
            "of one speculative-sampling step with n drafts, by the closed form, the LP and\n"
            "max-flow, and cross-check them. Times exclude the one-off solver imports."
        ),
        epilog=EPILOG.format(examples=", ".join(EXAMPLES)),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument(
        "--example", metavar="NAME", choices=tuple(EXAMPLES), help=f"a built-in problem: {', '.join(EXAMPLES)}"
    )
    source.add_argument("--file", metavar="PATH", help="target and draft laws from .npz/.npy/.json/.pt")
    parser.add_argument(
        "--row",
        type=cli_int(min_value=0),
        default=0,
        help="the row of a --file holding a batch of laws, shape (B, V) (default 0)",
    )
    parser.add_argument(
        "--n", type=cli_int(min_value=1), help="number of drafts (default: the example's or the file's n)"
    )
    parser.add_argument("--drafting", choices=DRAFTING_NAMES, default="iid", help="drafting law (default iid)")
    parser.add_argument(
        "--oracles",
        default=",".join(ORACLE_NAMES),
        type=cli_type(names, ORACLE_NAMES),
        help="comma-separated subset of closed,lp,maxflow (default: all)",
    )
    parser.add_argument(
        "--lp-form",
        choices=("sets", "tuples"),
        default="sets",
        help="LP on distinct-token sets (default) or on ordered tuples (full OTLP)",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    parser.set_defaults(run=run)


def _problem(args: argparse.Namespace) -> tuple[np.ndarray, np.ndarray, int, str]:
    if args.example is not None:
        p, q, n = example(args.example)
        label = f"example {args.example}"
    else:
        p, q, n = load_laws(args.file, args.row)
        label = f"file {args.file}" + (f" row {args.row}" if args.row else "")
    if args.n is not None:
        n = args.n
    if n is None:
        raise InvalidInputError(f"n: {args.file} gives no number of drafts; pass --n")
    return p, q, check_n(n), label


def _tokens(mask: np.ndarray) -> list[int]:
    return [int(i) for i in np.flatnonzero(mask)]


def _timed(fn: Callable[[], Any]) -> tuple[Any, float]:
    start = time.perf_counter()
    value = fn()
    return value, time.perf_counter() - start


def _run_closed(p, q, n, args) -> dict:
    from multidraft.reference import optimal_acceptance

    if args.drafting != "iid":
        return {"status": "skipped (the closed form needs i.i.d. drafts)"}
    res, wall = _timed(lambda: optimal_acceptance(p, q, n))
    return {
        "status": "ok",
        "value": float(res.alpha_star),
        "time_s": wall,
        "h_min": _tokens(res.h_min),
        "h_max": _tokens(res.h_max),
    }


def _run_lp(p, q, n, args) -> dict:
    import cvxpy  # noqa: F401  (a one-off ~1-5 s import, kept out of the timing)

    from multidraft.reference import solve_lp

    res, wall = _timed(lambda: solve_lp(p, q, n, drafting=args.drafting, form=args.lp_form))
    return {
        "status": "ok",
        "value": res.alpha_star,
        "time_s": wall,
        "form": res.form,
        "variables": res.num_variables,
        "certificate": res.certificate,
        "certificate_gap": res.certificate_gap,
        "h": _tokens(res.h),
    }


def _run_maxflow(p, q, n, args) -> dict:
    from ortools.graph.python import max_flow  # noqa: F401  (import kept out of the timing)

    from multidraft.reference import solve_maxflow

    res, wall = _timed(lambda: solve_maxflow(p, q, n, drafting=args.drafting))
    return {
        "status": "ok",
        "value": res.acceptance,
        "time_s": wall,
        "interval": list(res.bounds),
        "arcs": res.num_arcs,
        "h_min": _tokens(res.h_min),
        "h_max": _tokens(res.h_max),
    }


RUNNERS = {"closed": _run_closed, "lp": _run_lp, "maxflow": _run_maxflow}


def solve_report(p: np.ndarray, q: np.ndarray, n: int, args: argparse.Namespace) -> dict:
    """Run the requested oracles; returns the JSON-ready report."""
    drafting_law(args.drafting, q, n)  # validate the problem once, before any oracle
    if args.drafting != "iid" and list(args.oracles) == ["closed"]:
        raise InvalidInputError(
            f"oracles: the closed form needs i.i.d. drafts; with --drafting {args.drafting} use --oracles lp,maxflow"
        )
    results = {}
    for name in args.oracles:
        try:
            results[name] = RUNNERS[name](p, q, n, args)
        except TooLargeError as exc:
            results[name] = {"status": f"skipped ({exc})"}
    done = [name for name in ("closed", "maxflow", "lp") if results.get(name, {}).get("status") == "ok"]
    report: dict[str, Any] = {"V": int(p.shape[0]), "n": n, "drafting": args.drafting, "oracles": results}
    if done:
        best = results[done[0]]
        report["alpha_star"] = best["value"]
        report["alpha_star_from"] = done[0]
        report["h_min"] = best.get("h_min", best.get("h"))
        report["h_max"] = best.get("h_max", best.get("h"))
    else:
        report.update(alpha_star=None, alpha_star_from=None, h_min=None, h_max=None)
    return report


def _format_text(report: dict, label: str) -> str:
    lines = [f"problem: {label} (V={report['V']}, n={report['n']}, drafting {report['drafting']})"]
    if report["alpha_star"] is None:
        lines.append("alpha*: not computed (every oracle was skipped)")
    else:
        lines.append(f"alpha* = {report['alpha_star']:.15f}   (from {report['alpha_star_from']})")
        lines.append(f"H* smallest: {report['h_min']}")
        lines.append(f"H* largest:  {report['h_max']}")
    lines.append("")
    lines.append(f"{'oracle':8s} {'value':>19s} {'time':>11s}  details")
    for name, res in report["oracles"].items():
        if res["status"] != "ok":
            lines.append(f"{name:8s} {res['status']}")
            continue
        if name == "lp":
            detail = f"{res['form']} form, {res['variables']:,} variables, certificate gap {res['certificate_gap']:.2e}"
        elif name == "maxflow":
            lo, hi = res["interval"]
            detail = f"interval [{lo:.15f}, {hi:.15f}] (width {hi - lo:.1e}), {res['arcs']:,} arcs"
        else:
            detail = "sorted-prefix closed form"
        lines.append(f"{name:8s} {res['value']:19.15f} {res['time_s'] * 1e3:8.2f} ms  {detail}")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    p, q, n, label = _problem(args)
    report = solve_report(p, q, n, args)
    if args.json:
        report["problem"] = label
        print(json.dumps(report))
    else:
        print(_format_text(report, label))
    return 0 if report["alpha_star"] is not None else 1
