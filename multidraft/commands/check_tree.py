"""``multidraft check-tree TARGET``: is a block (tree) verifier lossless, and optimal?

TARGET is a built-in tree verifier name (``multidraft.fast.TREE_VERIFIERS``) or
``package.module:object``. Exact mode on generated context-dependent models (failures shrunk
to the smallest (V, L, K) and printed as a pasteable reproduction), statistical mode for
sampling verifiers and large V. See :mod:`multidraft.properties.tree_checker` and docs/trees.md.
"""

from __future__ import annotations

import argparse
from typing import Any

from multidraft.properties.stats import ALPHA
from multidraft.properties.tree_checker import (
    EXACT_MAX_V,
    OPT_TOL,
    TOL,
    TreeCheckConfig,
    check_tree,
)
from multidraft.trees import SIBLING_LAWS, parse_structure
from multidraft.validation import InvalidInputError, check_positive_float, cli_float, cli_int

EPILOG = f"""\
exact mode (conditional verifiers, V <= {EXACT_MAX_V}): every draft tree of each case is enumerated;
  lossless   section 2's condition: O is the target sequence stopped at a random time (tol --tol)
  valid      every conditional is a law on admissible outputs (a drafted path plus one token)
  optimal    E|O| reaches the oracle's optimum within {OPT_TOL:g} (with --optimal, or a verifier's optimal=True)
statistical mode (sampling verifiers, or --samples N; models with ~6 tokens per context over --stat-vocab):
  stream            chain-rule G-test of the first L+1 tokens of the stream (per-prefix terms localise)
  accept_length     law of |O| vs the reference conditional (the verifier's own, or --reference NAME)
  correction_token  law of the token emitted after tau accepted ones vs the reference
  family-wise false-alarm rate --alpha (Bonferroni); each verdict states the TV it detects with 90% power.

exit status: 0 all required properties hold, 1 some failed, 2 bad input.

Examples:
  multidraft check-tree spectr --structure paths:3x2
  multidraft check-tree mypkg.serve:tree_verify --structure branching:2,2 --law iid --vocab 2-4
  multidraft check-tree mypkg.serve:bv_sampler --structure chain:3 --samples 50000 --reference block_verification
"""


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "check-tree",
        help="check that a block (tree) verifier is lossless (and optimal): exact and statistical tests",
        description="Check a block verifier on generated context-dependent models; failures shrink to the "
        "smallest (V, L, K) and print as a reproduction to paste.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("target", metavar="TARGET", help="a built-in tree verifier name or package.module:object")
    parser.add_argument(
        "--structure",
        action="append",
        default=None,
        help="chain:L, paths:KxL, branching:k1,k2,... or delayed:L1xKxL2 (repeatable; default: a "
        "slate with K <= 3, L <= 3 the verifier accepts)",
    )
    parser.add_argument("--law", choices=SIBLING_LAWS, default="iid", help="sibling law of branching: (default iid)")
    parser.add_argument(
        "--vocab",
        default="2-3",
        help=f"vocabulary sizes, V or LO-HI: exact mode on V <= {EXACT_MAX_V}; a HI "
        f"above {EXACT_MAX_V} runs the statistical mode at V = HI (default 2-3)",
    )
    parser.add_argument(
        "--samples",
        type=cli_int(min_value=0),
        default=None,
        help="blocks per structure in statistical mode (default 20000 for sampling-only verifiers, else 0: exact only)",
    )
    parser.add_argument(
        "--stat-vocab",
        type=cli_int(min_value=2),
        default=16,
        help=f"V of the statistical models when --vocab stays <= {EXACT_MAX_V} (default 16)",
    )
    parser.add_argument(
        "--reference",
        default=None,
        help="built-in tree verifier whose conditional law the mechanism tests compare with "
        "(default: the verifier's own conditional, if any)",
    )
    parser.add_argument(
        "--optimal",
        action="store_true",
        default=None,
        help="also require E|O| = the oracle's optimum (default: the verifier's claim)",
    )
    parser.add_argument(
        "--tol", type=cli_float(min_value=0, include_min=False), default=TOL, help=f"exact tolerance (default {TOL:g})"
    )
    parser.add_argument(
        "--alpha",
        type=cli_float(min_value=0, max_value=1, include_min=False, include_max=False),
        default=ALPHA,
        help=f"family-wise false-alarm rate of the statistical tests (default {ALPHA:g})",
    )
    parser.add_argument(
        "--seed", type=cli_int(min_value=0), default=0, help="seed of the models and the samplers (default 0)"
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    parser.set_defaults(run=run)


def _vocab(text: str) -> tuple[int, int]:
    lo, _, hi = str(text).partition("-")
    try:
        lo_i, hi_i = int(lo), int(hi or lo)
    except ValueError:
        raise InvalidInputError(f"vocab: expected V or LO-HI, got {text!r}") from None
    if lo_i < 2 or hi_i < lo_i:
        raise InvalidInputError(f"vocab: expected 2 <= LO <= HI, got {text!r}")
    return lo_i, hi_i


def _builtin(name: str, argument: str = "target") -> Any:
    """The built-in tree verifier ``name``; an unknown name is an error naming ``argument``."""
    from multidraft.fast import TREE_VERIFIERS

    if name not in TREE_VERIFIERS:
        raise InvalidInputError(
            f"{argument}: no built-in tree verifier named {name!r}; known: {', '.join(sorted(TREE_VERIFIERS))}"
        )
    return TREE_VERIFIERS[name]


def resolve_tree_verifier(text: str) -> tuple[Any, list[str]]:
    """The verifier named by TARGET and the Python lines that bind it as ``verifier``."""
    if ":" not in text:
        return _builtin(text), ["from multidraft.fast import TREE_VERIFIERS", f"verifier = TREE_VERIFIERS[{text!r}]"]
    from multidraft.properties.adapters import resolve

    spec = resolve(text)  # imports module:object (a class is instantiated) and detects its interface
    return spec.verifier, spec.source


def run(args: argparse.Namespace) -> int:
    verifier, source = resolve_tree_verifier(args.target)
    structures = [parse_structure(s, law=args.law) for s in args.structure] if args.structure else None
    if args.samples is not None and args.samples < 0:
        raise InvalidInputError(f"samples: expected an integer >= 0, got {args.samples}")
    if args.stat_vocab < 2:
        raise InvalidInputError(f"stat-vocab: expected an integer >= 2, got {args.stat_vocab}")
    config = TreeCheckConfig(
        structures=structures,
        vocab=_vocab(args.vocab),
        samples=args.samples,
        stat_vocab=args.stat_vocab,
        seed=args.seed,
        optimal=args.optimal,
        tol=check_positive_float(args.tol, "tol"),
        alpha=check_positive_float(args.alpha, "alpha"),
        reference=_builtin(args.reference, "reference") if args.reference else None,
    )
    report = check_tree(verifier, config, name=args.target, source=source)
    print(report.to_json() if args.json else report.render())
    return 0 if report.passed else 1
