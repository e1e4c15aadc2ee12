"""``multidraft check-decoder DECODER``: is a whole speculative decoder lossless, block after block?

DECODER is ``package.module:object`` -- a callable ``decode(target_lm, draft_lm, context,
max_tokens, generator) -> tokens`` (a class is instantiated without arguments) -- or a
built-in decoder ``VERIFIER@STRUCTURE`` (a tree verifier of :mod:`multidraft.fast` inside
:class:`multidraft.decoding.SpeculativeDecoder`, e.g. ``spectr@paths:2x2``). The check is
statistical (:mod:`multidraft.properties.decoder`, docs/multistep.md).
"""

from __future__ import annotations

import argparse
from typing import Any

from multidraft.properties.decoder import ALPHA, DecoderCheckConfig, check_decoder
from multidraft.validation import InvalidInputError, check_positive_float, check_range, cli_float, cli_int

EPILOG = """\
the test: on generated context-dependent (target, draft) pairs, --streams independent decodes of
--tokens tokens each (stream i seeded from (--seed, pair, i)); the first M tokens are tested against
the target's sequence law by the chain rule: the G-statistic of the M-token sequences is the sum of
per-prefix G-tests of the next token, so one p-value per pair (Bonferroni over the pairs: family-wise
false-alarm rate --alpha), and the per-prefix terms (printed for a failing pair) say after which
prefix, and which token, the stream departs. Also: the same seed gives the same tokens.

exit status: 0 the decoder passes, 1 it fails, 2 bad input.

Examples:
  multidraft check-decoder token_chain@chain:2
  multidraft check-decoder spectr@paths:2x2 --vocab 2-3 --streams 8000
  multidraft check-decoder mypkg.serve:decode --json
"""


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "check-decoder",
        help="check that a whole speculative decoder's token stream has the target's law (statistical)",
        description=(
            "Run a decoder decode(target_lm, draft_lm, context, max_tokens, generator) -> tokens many times\n"
            "on generated context-dependent language models and test its stream against the target's\n"
            "sequence law. Catches bugs no single block shows (noise reused across blocks, a bonus token\n"
            "drawn from the wrong law)."
        ),
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("decoder", metavar="DECODER", help="package.module:object, or VERIFIER@STRUCTURE (built in)")
    parser.add_argument(
        "--vocab", default="2-3", help="vocabulary sizes of the generated models, V or LO-HI (default 2-3)"
    )
    parser.add_argument(
        "--models", type=cli_int(min_value=1), default=3, help="generated (target, draft) pairs (default 3)"
    )
    parser.add_argument("--streams", type=cli_int(min_value=1), default=4000, help="decodes per pair (default 4000)")
    parser.add_argument(
        "--tokens", type=cli_int(min_value=1), default=4, help="M: tokens tested per stream (default 4)"
    )
    parser.add_argument(
        "--alpha",
        type=cli_float(min_value=0, max_value=1, include_min=False, include_max=False),
        default=ALPHA,
        help=f"family-wise false-alarm rate (default {ALPHA:g})",
    )
    parser.add_argument(
        "--seed", type=cli_int(min_value=0), default=0, help="seed of the models and the streams (default 0)"
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    parser.set_defaults(run=run)


def builtin_decoder(text: str) -> Any:
    """``VERIFIER@STRUCTURE``: a :class:`~multidraft.decoding.SpeculativeDecoder` with a tree verifier of
    :mod:`multidraft.fast` (e.g. ``spectr@paths:2x2``, ``traversal@branching:2,2``)."""
    from multidraft.decoding import SpeculativeDecoder
    from multidraft.fast import TREE_VERIFIERS
    from multidraft.trees import parse_structure

    name, _, spec = text.partition("@")
    if name not in TREE_VERIFIERS:
        raise InvalidInputError(f"decoder: unknown tree verifier {name!r}; choose from {', '.join(TREE_VERIFIERS)}")
    return SpeculativeDecoder(parse_structure(spec), TREE_VERIFIERS[name], name=text)


def resolve_decoder(text: str) -> Any:
    """A decoder from ``module:object`` or a built-in ``VERIFIER@STRUCTURE``."""
    if "@" in text and ":" not in text.split("@", 1)[0]:
        return builtin_decoder(text)
    if ":" not in text:
        raise InvalidInputError(f"decoder: expected package.module:object or VERIFIER@STRUCTURE, got {text!r}")
    from multidraft.properties.adapters import resolve

    try:  # imports module:object (a class is instantiated); the interface given skips the verifier detection
        obj = resolve(text, "sampling").verifier
    except InvalidInputError as exc:
        raise InvalidInputError(str(exc).replace("target:", "decoder:", 1)) from None
    if not callable(obj):
        raise InvalidInputError(f"decoder: {text!r} is not callable")
    return obj


def run(args: argparse.Namespace) -> int:
    config = DecoderCheckConfig(
        vocab=check_range(args.vocab, "vocab", min_value=2),
        models=args.models,
        streams=args.streams,
        tokens=args.tokens,
        alpha=check_positive_float(args.alpha, "alpha"),
        seed=args.seed,
    )
    decoder = resolve_decoder(args.decoder)
    report = check_decoder(decoder, config, name=args.decoder, progress=not args.no_progress)
    print(report.to_json() if args.json else report.render())
    return 0 if report.passed else 1
