"""``multidraft workload synthetic|text``: generate a batch of (p, q) pairs, save it, summarise it."""

from __future__ import annotations

import argparse
import sys
import time

from multidraft.validation import check_output_path, cli_float, cli_int, cli_type

POSITIVE = cli_int(min_value=1)
POSITIVE_FLOAT = cli_float(min_value=0, include_min=False)

DESCRIPTION = """\
Generate a workload: a batch of B (target p, draft q) laws over V tokens, saved as .npz
(arrays target and draft, float64 [B, V], plus metadata), and print a summary: rows, V,
mean single-draft acceptance 1 - TV and mean optimal acceptance alpha* for n = 2 and 4.

  synthetic  LLM-like pairs: Zipf-like target logits, draft logits correlated with them;
             the correlation is set directly (--correlation) or calibrated so that the
             batch has the requested mean 1 - TV (--acceptance).
  text       pairs from real text, offline: a BPE tokenizer and Kneser-Ney n-gram models
             (4-gram target, 2-gram draft) trained on CPython's pydoc help text, evaluated
             at consecutive held-out positions.

Load the file with multidraft.workloads.load_workload(path). See docs/workloads.md.
"""

EPILOG = """\
examples:
  multidraft workload synthetic --vocab 128256 --batch 256 --acceptance 0.8 --top-k 1000 --out w.npz
  multidraft workload synthetic --vocab 32000 --temperature 0.6 --correlation 0.9 --seed 3 --out w.npz
  multidraft workload text --positions 4096 --temperature 0.8 --top-k 100 --out text.npz
"""


def _add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--out",
        metavar="FILE.npz",
        type=cli_type(check_output_path, suffix=".npz", keep_text=True),
        help="write the workload here (omit to only print the summary)",
    )
    parser.add_argument(
        "--temperature",
        type=POSITIVE_FLOAT,
        default=1.0,
        metavar="T",
        help="sampling temperature applied to both laws (default 1.0)",
    )
    parser.add_argument(
        "--top-k",
        type=POSITIVE,
        default=None,
        metavar="K",
        help="restrict q to its K most likely tokens (exactly K nonzeros per row)",
    )
    parser.add_argument(
        "--top-p",
        type=cli_float(min_value=0, max_value=1, include_min=False),
        default=None,
        metavar="P",
        help="restrict q to its nucleus of mass P in (0, 1], after --top-k",
    )
    parser.add_argument(
        "--summary-rows",
        type=POSITIVE,
        default=None,
        metavar="N",
        help="compute the summary on the first N rows only (default: all rows)",
    )
    parser.add_argument("--no-summary", action="store_true", help="skip the alpha* summary")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "workload",
        help="generate (p, q) workloads: synthetic LLM-like or from real text",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    kinds = parser.add_subparsers(dest="kind", metavar="KIND", required=True)

    syn = kinds.add_parser(
        "synthetic",
        help="LLM-like pairs with a tunable or calibrated acceptance",
        description="Synthetic LLM-like pairs (multidraft.workloads.llm_like_batch). Give --acceptance "
        "to calibrate the draft/target correlation to a mean 1 - TV, or --correlation.",
    )
    syn.add_argument(
        "--vocab", type=cli_int(min_value=2), default=32000, metavar="V", help="vocabulary size (default 32000)"
    )
    syn.add_argument("--batch", type=POSITIVE, default=256, metavar="B", help="number of rows (default 256)")
    syn.add_argument("--seed", type=cli_int(min_value=0), default=0, metavar="S", help="random seed (default 0)")
    how = syn.add_mutually_exclusive_group()
    how.add_argument(
        "--acceptance",
        type=cli_float(min_value=0, max_value=1, include_min=False),
        default=None,
        metavar="A",
        help="calibrate so that the batch's mean 1 - TV is A in (0, 1] (within --tol)",
    )
    how.add_argument(
        "--correlation",
        type=cli_float(min_value=0, max_value=1),
        default=None,
        metavar="C",
        help="draft/target correlation in [0, 1] (default 0.9 when --acceptance is not given)",
    )
    syn.add_argument(
        "--tol", type=POSITIVE_FLOAT, default=1e-3, help="tolerance on the calibrated 1 - TV (default 1e-3)"
    )
    syn.add_argument("--tail", type=POSITIVE_FLOAT, default=None, help="Zipf exponent of the logits (default 2.0)")
    syn.add_argument(
        "--tail-spread",
        type=cli_float(min_value=0),
        default=None,
        help="log-normal spread of the per-row sharpness (default 0.3)",
    )
    _add_common(syn)

    txt = kinds.add_parser(
        "text",
        help="pairs from a 4-gram target and a 2-gram draft on real text",
        description="Pairs from real text (multidraft.workloads.text_workload): BPE + Kneser-Ney n-gram "
        "models trained on pydoc_data.topics, laws at consecutive held-out positions.",
    )
    txt.add_argument(
        "--positions",
        type=POSITIVE,
        default=4096,
        metavar="B",
        help="number of consecutive held-out positions = rows (default 4096; ~12,600 available)",
    )
    txt.add_argument("--start", type=cli_int(min_value=0), default=0, help="first held-out position used (default 0)")
    txt.add_argument(
        "--seed",
        type=cli_int(min_value=0),
        default=None,
        metavar="S",
        help="if given, draw --start at random with this seed (the models are deterministic)",
    )
    txt.add_argument(
        "--bpe-vocab",
        type=cli_int(min_value=256),
        default=3000,
        metavar="V",
        help="BPE vocabulary size, >= 256 (default 3000)",
    )
    txt.add_argument("--target-order", type=POSITIVE, default=4, help="n-gram order of the target (default 4)")
    txt.add_argument("--draft-order", type=POSITIVE, default=2, help="n-gram order of the draft (default 2)")
    _add_common(txt)
    parser.set_defaults(run=run)


def _make(args: argparse.Namespace, progress: bool):
    from multidraft import workloads
    from multidraft.workloads import synthetic

    if args.kind == "synthetic":
        return workloads.llm_like_batch(
            args.batch,
            args.vocab,
            temperature=args.temperature,
            correlation=args.correlation,
            acceptance=args.acceptance,
            top_k=args.top_k,
            top_p=args.top_p,
            tail=synthetic.TAIL if args.tail is None else args.tail,
            tail_spread=synthetic.TAIL_SPREAD if args.tail_spread is None else args.tail_spread,
            seed=args.seed,
            tol=args.tol,
            progress=progress,
        )
    start = args.start
    if args.seed is not None:
        import numpy as np

        models = workloads.text_models(args.bpe_vocab, args.target_order, args.draft_order)
        room = models.available_positions - args.positions
        start = int(np.random.default_rng(args.seed).integers(0, max(room, 0) + 1))
    work = workloads.text_workload(
        args.positions,
        start=start,
        bpe_vocab=args.bpe_vocab,
        target_order=args.target_order,
        draft_order=args.draft_order,
        temperature=args.temperature,
        top_k=args.top_k,
        top_p=args.top_p,
        progress=progress,
    )
    if args.seed is not None:
        work.meta["seed"] = args.seed
    return work


def run(args: argparse.Namespace) -> int:
    from multidraft.workloads import save_workload, single_draft_acceptance, summarize

    progress = not args.quiet
    t0 = time.perf_counter()
    work = _make(args, progress)
    elapsed = time.perf_counter() - t0
    meta = ", ".join(f"{k}={v:.6g}" if isinstance(v, float) else f"{k}={v}" for k, v in work.meta.items())
    print(f"workload {args.kind}: {work.rows} x {work.vocab_size} generated in {elapsed:.1f} s ({meta})")
    if args.out:
        path = save_workload(args.out, work.target, work.draft, **work.meta)
        print(f"wrote {path}")
    if not args.no_summary:
        summary = summarize(work.target, work.draft, (2, 4), max_rows=args.summary_rows, progress=progress)
        if summary.rows < work.rows:
            whole = float(single_draft_acceptance(work.target, work.draft).mean())
            print(f"mean 1 - TV over all {work.rows} rows: {whole:.4f}; below, the first {summary.rows} rows:")
        print(summary.format())
    sys.stdout.flush()
    return 0
