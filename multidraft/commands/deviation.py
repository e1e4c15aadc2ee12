"""``multidraft deviation TARGET``: how far a verifier's output law is from p, per token.

Exact TV where the draft tuples can be enumerated, else a sampled estimate with a 95%
interval (see :mod:`multidraft.properties.deviation`); ``--plot`` writes the per-token
deviation as a PNG.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from multidraft.commands.check import add_serving_arguments, sampling_from_args
from multidraft.examples import EXAMPLES, example, load_laws
from multidraft.properties.adapters import INTERFACES, resolve, verifier_traceback
from multidraft.properties.checker import CheckConfig, law_factory_of, stat_problem_list
from multidraft.properties.deviation import measure_deviation, plot_deviations
from multidraft.properties.problem import DRAFTINGS, Problem
from multidraft.properties.progress import Progress
from multidraft.properties.serving import serving_problem
from multidraft.validation import (
    InvalidInputError,
    check_n,
    check_output_path,
    check_range,
    cli_int,
    cli_type,
)

EPILOG = """\
problems: --example NAME or --file PATH (one problem), else --problems generated ones
(the same strategies as `multidraft check`, sizes from --n and --vocab).
methods: exact (enumeration), averaged (mean of the conditionals over sampled drafts),
sampled (output frequencies of a sampling verifier); estimates come with an interval that
covers the true TV with probability >= 95%% (estimate +- the bootstrapped 95%% quantile of the
estimation noise) and the TV a perfect sampler shows at the same sample size.

verdicts: invalid (the conditionals returned are not laws), deviates (exact TV above 1e-9,
or an interval above what a perfect sampler shows), lossless (exact) or no deviation
detected (an estimate); a last line sums them up. A verifier that raises is reported as such.

exit status: 0 no deviation found, 1 some problem deviates or is invalid (or the verifier
raised), 2 bad input.

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
    parser.add_argument(
        "--interface", choices=("auto",) + INTERFACES, default="auto", help="verifier interface (default: detect)"
    )
    source = parser.add_mutually_exclusive_group()
    source.add_argument(
        "--example", metavar="NAME", choices=tuple(EXAMPLES), help=f"a built-in problem: {', '.join(EXAMPLES)}"
    )
    source.add_argument("--file", metavar="PATH", help="target and draft laws from .npz/.npy/.json/.pt")
    source.add_argument("--problems", type=cli_int(min_value=1), default=3, help="generated problems (default 3)")
    parser.add_argument(
        "--drafting", choices=DRAFTINGS, default=None, help="drafting law (default: declared, else iid)"
    )
    parser.add_argument(
        "--n",
        default=None,
        type=cli_type(check_range),
        help="number of drafts (a file's/example's n, or 1-4 when generating)",
    )
    parser.add_argument(
        "--vocab",
        default="2-6",
        type=cli_type(check_range, min_value=2),
        help="vocabulary sizes when generating, V or LO-HI, V >= 2 (default 2-6)",
    )
    parser.add_argument(
        "--samples", type=cli_int(min_value=1), default=100_000, help="samples when not enumerable (default 100000)"
    )
    parser.add_argument(
        "--max-tuples",
        type=cli_int(min_value=1),
        default=200_000,
        help="enumerate exactly up to this many draft tuples (default 200000)",
    )
    parser.add_argument("--seed", type=cli_int(min_value=0), default=0, help="seed (default 0)")
    parser.add_argument(
        "--plot",
        metavar="OUT.png",
        type=cli_type(check_output_path, suffix=".png", keep_text=True),
        help="write a per-token deviation plot (a .png path in an existing folder)",
    )
    parser.add_argument("--json", action="store_true", help="print JSON instead of text")
    add_serving_arguments(parser)
    parser.add_argument("--no-progress", action="store_true", help="no progress bar (total, ETA) on stderr")
    parser.set_defaults(run=run)


def _problems(args: argparse.Namespace, drafting: str, spec: Any) -> list[Problem]:
    factory = law_factory_of(spec, drafting)
    if args.example or args.file:
        p, q, n = example(args.example) if args.example else load_laws(args.file, 0)
        if args.n is not None:
            lo, hi = args.n
            if lo != hi:
                raise InvalidInputError(f"n: one problem takes one number of drafts, got the range {lo}-{hi}")
            n = lo
        if n is None:
            raise InvalidInputError(f"n: {args.file} gives no number of drafts; pass --n")
        given = serving_problem(
            Problem(p, q, check_n(int(n)), drafting, args.example or str(args.file), factory),
            sampling_from_args(args),
            args.dtype,
        )
        if given is None:
            raise InvalidInputError("top_k/top_p: the processed draft law leaves too few tokens for the drafting law")
        return [given]
    config = CheckConfig(
        drafting=drafting,
        n=args.n or (1, 4),
        vocab=args.vocab,
        stat_problems=args.problems,
        seed=args.seed,
        samples=args.samples,
        sampling=sampling_from_args(args),
        dtype=args.dtype,
    )
    found = stat_problem_list(config, drafting, spec)
    if not found:
        raise InvalidInputError(
            f"vocab: no problem with at least two tokens of expected count >= 5 in --vocab "
            f"{args.vocab[0]}-{args.vocab[1]} and --n {config.n[0]}-{config.n[1]}; widen them"
        )
    return found


def _record(d: Any) -> dict:
    return {
        "problem": d.problem.describe(),
        "method": d.method,
        "tv": d.tv,
        "interval": d.interval,
        "null_tv": d.null_tv,
        "samples": d.samples,
        "validity": d.validity,
        "verdict": d.verdict,
        "deviation": d.deviation.tolist(),
        "stderr": None if d.stderr is None else d.stderr.tolist(),
    }


def summary_line(name: str, devs: list, crashed: str | None) -> str:
    """The last line of ``multidraft deviation``: how many problems deviate, the worst TV."""
    if crashed is not None:
        return f"deviation: {name}: the verifier raised on problem {len(devs) + 1}: {crashed.splitlines()[0]}"
    bad = [d for d in devs if d.found]
    tvs = [d.tv for d in devs if d.verdict != "invalid"]
    worst = f"; worst TV {max(tvs):.3e}" if tvs else ""
    if not bad:
        return f"deviation: {name}: no deviation found on {len(devs)} problem(s){worst}"
    invalid = sum(d.verdict == "invalid" for d in bad)
    return (
        f"deviation: {name}: {len(bad)} of {len(devs)} problem(s) deviate"
        + (f" ({invalid} with invalid output)" if invalid else "")
        + worst
    )


def run(args: argparse.Namespace) -> int:
    spec = resolve(args.target, None if args.interface == "auto" else args.interface)
    drafting = args.drafting or spec.drafting or "iid"
    problems = _problems(args, drafting, spec)
    progress = Progress(not args.no_progress, f"deviation {spec.name}", len(problems), "problems")
    devs, crashed = [], None
    try:
        for i, prob in enumerate(problems):
            try:
                devs.append(
                    measure_deviation(
                        spec,
                        prob,
                        samples=args.samples,
                        seed=args.seed + i,
                        max_count=args.max_tuples,
                        progress=progress,
                    )
                )
            except InvalidInputError:
                raise
            except Exception as exc:  # the verifier raised: a finding, reported once
                crashed = verifier_traceback(exc)
                break
            progress.advance()
    finally:
        progress.close()
    if args.plot and devs:
        plot_deviations(devs, args.plot, verifier=spec.name)
    line = summary_line(spec.name, devs, crashed)
    if args.json:
        print(
            json.dumps(
                {
                    "verifier": spec.name,
                    "problems": [_record(d) for d in devs],
                    "error": crashed,
                    "summary": line,
                    "found": bool(crashed) or any(d.found for d in devs),
                },
                indent=2,
            )
        )
    else:
        for d in devs:
            print(d.summary())
        if crashed is not None:
            print(crashed)
        if args.plot and devs:
            print(f"plot written to {args.plot}")
        print(line)
    return 1 if crashed is not None or any(d.found for d in devs) else 0
