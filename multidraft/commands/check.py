"""``multidraft check TARGET``: is a verifier lossless (and optimal)? Exact and statistical checks.

TARGET is a built-in verifier name or ``package.module:object``. Conditional verifiers are
checked exactly on hypothesis-generated problems (counterexamples shrink and print as
snippets); sampling verifiers statistically, at a stated family-wise false-alarm rate.
See :mod:`multidraft.properties.checker` and docs/checking.md.
"""

from __future__ import annotations

import argparse
from typing import Any

from multidraft.logits import SamplingParams
from multidraft.properties.adapters import INTERFACES
from multidraft.properties.checker import CheckConfig, check
from multidraft.properties.exact_sampling import HARNESS_INTERFACES
from multidraft.properties.problem import DRAFTINGS
from multidraft.properties.sampling import SAMPLING_BACKENDS
from multidraft.properties.serving import DTYPES
from multidraft.properties.stats import ALPHA
from multidraft.properties.strategies import MAX_TUPLES, PROFILES
from multidraft.properties.suite import TOL
from multidraft.validation import check_probability, check_range, cli_float, cli_int, cli_type

EPILOG = """\
properties (exact mode, conditional verifiers; tolerance --tol):
  law                   every conditional f(.|x) is a law (>= 0, sums to 1)
  lossless              output marginal sum_x Q(x) f(.|x) equals p (TV)
  acceptance_bound      acceptance <= alpha* (more is impossible for a lossless verifier)
  optimal               acceptance >= alpha* (required with --optimal or a verifier's optimal=True)
  claimed_acceptance    the verifier's own acceptance(p, q, n) matches the measured one
  order_invariance      f(.|x) ignores the order of the drafts (required if declared)
  relabel_equivariance  renaming tokens renames the output law
statistical mode (sampling verifiers, or --samples N): G-tests of the output law against p
(and against the conditional law where both exist) and binomial tests of the acceptance,
Bonferroni-corrected to a family-wise false-alarm rate --alpha; each verdict prints the
TV detectable with 50%% and 90%% power at that sample size.

exit status: 0 all required properties hold, 1 some failed, 2 bad input.

Examples:
  multidraft check rrs --n 1-3
  multidraft check mypkg.verify:my_verifier --interface conditional --optimal
  multidraft check mypkg.serve:rejection_sampler --samples 1000000 --json
"""


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "check",
        help="check that a verifier is lossless (and optimal): exact and statistical property tests",
        description=(
            "Check a multi-draft verifier on generated problems (Dirichlet, LLM-like, tied,\n"
            "zeros, tiny probabilities, one-hot, p = q, disjoint supports). Failures are shrunk\n"
            "to a minimal counterexample and printed as a Python snippet."
        ),
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "target",
        metavar="TARGET",
        help="a built-in verifier name (see `multidraft solve`/the registry) or package.module:object",
    )
    parser.add_argument(
        "--interface",
        choices=("auto",) + INTERFACES + HARNESS_INTERFACES,
        default="auto",
        help="verifier interface (default: detect from .conditional/.sample or the signature); "
        "exact-sampling / uniforms: the exact law of a sampler g(..., generator) / "
        "g(..., uniforms[B, m]) by the controlled-randomness harness",
    )
    parser.add_argument(
        "--drafting",
        choices=DRAFTINGS,
        default=None,
        help="drafting law (default: the verifier's declared one, else iid); with independent "
        "the verifier's draft argument is the (n, V) stack of the n draft laws",
    )
    parser.add_argument(
        "--n",
        default="1-4",
        type=cli_type(check_range),
        help="number of drafts, N or LO-HI (default 1-4); values whose draft tuples exceed "
        "--max-tuples at the smallest V are left out (the report's settings line says which)",
    )
    parser.add_argument(
        "--vocab",
        default="2-6",
        type=cli_type(check_range, min_value=2),
        help="vocabulary sizes, V or LO-HI (default 2-6)",
    )
    parser.add_argument(
        "--examples",
        type=cli_int(min_value=1),
        default=None,
        help="hypothesis examples per exact property (default: the profile's)",
    )
    parser.add_argument(
        "--samples",
        type=cli_int(min_value=0),
        default=None,
        help="samples per problem for the statistical tests (default 100000 for sampling "
        "verifiers, 0 = exact only for conditional ones)",
    )
    parser.add_argument(
        "--stat-problems", type=cli_int(min_value=1), default=4, help="problems in statistical mode (default 4)"
    )
    parser.add_argument(
        "--profile",
        choices=sorted(PROFILES),
        default="quick",
        help=f"hypothesis profile: quick ({PROFILES['quick'].max_examples} examples per property) "
        f"or thorough ({PROFILES['thorough'].max_examples}) (default quick)",
    )
    parser.add_argument(
        "--seed", type=cli_int(min_value=0), default=0, help="seed of hypothesis and the samplers (default 0)"
    )
    parser.add_argument(
        "--optimal",
        action="store_true",
        default=None,
        help="also require acceptance >= alpha* - tol (default: the verifier's claim)",
    )
    parser.add_argument(
        "--tol", type=cli_float(min_value=0, include_min=False), default=TOL, help=f"exact tolerance (default {TOL:g})"
    )
    parser.add_argument(
        "--alpha",
        type=cli_type(check_probability),
        default=ALPHA,
        help=f"family-wise false-alarm rate of the statistical tests (default {ALPHA:g})",
    )
    parser.add_argument(
        "--max-tuples",
        type=cli_int(min_value=1),
        default=MAX_TUPLES,
        help=f"cap on enumerated draft tuples per problem (default {MAX_TUPLES})",
    )
    parser.add_argument(
        "--backend",
        choices=SAMPLING_BACKENDS,
        default="torch",
        help="arrays and generator handed to a sampling verifier (default torch)",
    )
    parser.add_argument(
        "--timeout",
        type=cli_float(min_value=0, include_min=False),
        default=None,
        metavar="SECONDS",
        help="per-call timeout: a verifier call longer than this is a failure (default: none)",
    )
    parser.add_argument(
        "--no-slate",
        action="store_true",
        help="skip the slate of extreme regimes that starts every exact property (docs/checking.md)",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    parser.add_argument(
        "--no-progress", action="store_true", help="no progress bar (total, ETA) and no pre-run estimate on stderr"
    )
    add_serving_arguments(parser)
    parser.add_argument(
        "--dtype-tol",
        type=cli_float(min_value=0, include_min=False),
        default=None,
        help="fail dtype_deviation above this TV (default: report it as info)",
    )
    parser.set_defaults(run=run)


def add_serving_arguments(parser: argparse.ArgumentParser) -> None:
    """--temperature/--top-k/--top-p/--dtype: the inputs as a serving engine has them (properties/serving.py)."""
    group = parser.add_argument_group("serving inputs", "applied to p and q of every problem")
    group.add_argument(
        "--temperature", type=cli_float(min_value=0), default=1.0, help="sampling temperature (0: greedy; default 1)"
    )
    group.add_argument(
        "--top-k", type=cli_int(min_value=1), default=None, help="keep the k most likely tokens (default off)"
    )
    group.add_argument(
        "--top-p",
        type=cli_float(min_value=0, max_value=1, include_min=False),
        default=None,
        help="nucleus: keep the top tokens of mass >= P",
    )
    group.add_argument(
        "--dtype",
        choices=DTYPES,
        default=None,
        help="round p and q to this dtype; report the dtype-induced deviation separately",
    )


def sampling_from_args(args: argparse.Namespace) -> SamplingParams:
    """The :class:`~multidraft.logits.SamplingParams` of parsed serving arguments."""
    return SamplingParams(args.temperature, args.top_k, args.top_p)


def config_from_args(args: argparse.Namespace, interface: str) -> CheckConfig:
    """The :class:`CheckConfig` of parsed ``check`` (or ``deviation``) arguments."""
    samples = args.samples
    if samples is None:
        samples = 100_000 if interface == "sampling" else 0
    return CheckConfig(
        drafting=args.drafting,
        n=check_range(args.n, "n"),
        vocab=check_range(args.vocab, "vocab"),
        examples=args.examples,
        samples=int(samples),
        stat_problems=args.stat_problems,
        profile=args.profile,
        seed=args.seed,
        optimal=args.optimal,
        tol=args.tol,
        alpha=check_probability(args.alpha, "alpha"),
        max_tuples=args.max_tuples,
        backend=args.backend,
        progress=not args.no_progress,
        sampling=sampling_from_args(args),
        dtype=args.dtype,
        dtype_tol=getattr(args, "dtype_tol", None),
        timeout=getattr(args, "timeout", None),
        slate=not getattr(args, "no_slate", False),
    )


def run(args: argparse.Namespace) -> int:
    from multidraft.properties.adapters import resolve

    interface = None if args.interface == "auto" else args.interface
    spec_interface = interface if interface in HARNESS_INTERFACES else resolve(args.target, interface).interface
    report = check(args.target, config_from_args(args, spec_interface), interface=interface)
    print(report.to_json() if args.json else report.render())
    return 0 if report.passed else 1
