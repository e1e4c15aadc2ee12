"""``multidraft deviation TARGET``: how far a verifier's output law is from p, per token.

Exact TV where the draft tuples can be enumerated, else a sampled estimate with a 95%
interval (see :mod:`multidraft.properties.deviation`); ``--plot`` writes the per-token
deviation as a PNG.
"""
from __future__ import annotations

import argparse
import json
from typing import Any

import numpy as np

from multidraft.examples import EXAMPLES, example, load_laws
from multidraft.properties.adapters import INTERFACES, resolve
from multidraft.properties.checker import CheckConfig, stat_problem_list
from multidraft.properties.deviation import measure_deviation, plot_deviations
from multidraft.properties.problem import DRAFTINGS, Problem
from multidraft.validation import InvalidInputError, check_n, check_range

EPILOG = """\
problems: --example NAME or --file PATH (one problem), else --problems generated ones
(the same strategies as `multidraft check`, sizes from --n and --vocab).
methods: exact (enumeration), averaged (mean of the conditionals over sampled drafts),
sampled (output frequencies of a sampling verifier); estimates come with an interval that
covers the true TV with probability >= 95%% (estimate +- the bootstrapped 95%% quantile of the
estimation noise) and the TV a perfect sampler shows at the same sample size.

examples: {examples}

Example:
  multidraft deviation rrs --example toy --plot rrs.png
  multidraft deviation mypkg.serve:sampler --problems 3 --samples 1000000 --json
"""


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "deviation",
        help="measure a verifier's output-law deviation from p (exact or sampled), optionally plot it",
        description="Measure TV(output law, p) of a verifier and the per-token deviation output - p.",
        epilog=EPILOG.format(examples=", ".join(EXAMPLES)),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("target", metavar="TARGET", help="a built-in verifier name or package.module:object")
    parser.add_argument("--interface", choices=("auto",) + INTERFACES, default="auto",
                        help="verifier interface (default: detect)")
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--example", metavar="NAME", help=f"a built-in problem: {', '.join(EXAMPLES)}")
    source.add_argument("--file", metavar="PATH", help="target and draft laws from .npz/.npy/.json/.pt")
    source.add_argument("--problems", type=int, default=3, help="generated problems (default 3)")
    parser.add_argument("--drafting", choices=DRAFTINGS, default=None, help="drafting law (default: declared, else iid)")
    parser.add_argument("--n", default=None, help="number of drafts (a file's/example's n, or 1-4 when generating)")
    parser.add_argument("--vocab", default="2-6", help="vocabulary sizes when generating, V or LO-HI (default 2-6)")
    parser.add_argument("--samples", type=int, default=100_000, help="samples when not enumerable (default 100000)")
    parser.add_argument("--max-tuples", type=int, default=200_000,
                        help="enumerate exactly up to this many draft tuples (default 200000)")
    parser.add_argument("--seed", type=int, default=0, help="seed (default 0)")
    parser.add_argument("--plot", metavar="OUT.png", help="write a per-token deviation plot")
    parser.add_argument("--json", action="store_true", help="print JSON instead of text")
    parser.set_defaults(run=run)


def _problems(args: argparse.Namespace, drafting: str, spec: Any) -> list[Problem]:
    if args.example or args.file:
        p, q, n = example(args.example) if args.example else load_laws(args.file)
        n = args.n if args.n is not None else n
        if n is None:
            raise InvalidInputError(f"n: {args.file} gives no number of drafts; pass --n")
        return [Problem(p, q, check_n(int(n)), drafting, args.example or str(args.file))]
    config = CheckConfig(drafting=drafting, n=check_range(args.n or "1-4", "n"), vocab=check_range(args.vocab, "vocab"),
                         stat_problems=args.problems, seed=args.seed, samples=args.samples)
    return stat_problem_list(config, drafting, spec)


def run(args: argparse.Namespace) -> int:
    spec = resolve(args.target, None if args.interface == "auto" else args.interface)
    drafting = args.drafting or spec.drafting or "iid"
    devs = [measure_deviation(spec, prob, samples=args.samples, seed=args.seed + i, max_count=args.max_tuples)
            for i, prob in enumerate(_problems(args, drafting, spec))]
    if args.plot:
        plot_deviations(devs, args.plot)
    if args.json:
        print(json.dumps([{"problem": d.problem.describe(), "method": d.method, "tv": d.tv, "interval": d.interval,
                           "null_tv": d.null_tv, "samples": d.samples, "deviation": d.deviation.tolist(),
                           "stderr": None if d.stderr is None else d.stderr.tolist()} for d in devs], indent=2))
    else:
        for d in devs:
            print(d.summary())
        if args.plot:
            print(f"plot written to {args.plot}")
    return 0
