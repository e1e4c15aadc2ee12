"""``multidraft bench fast``: global resolution's time per token, throughput and speed-up.

Three tables:

1. **per token** -- for each (k, n), R rows (each a different LLM-like problem, draft cut to
   its top k, V tokens), one problem at a time in float64: median and p99 over rows of the
   wall time of ``global_resolution(p, q, n)`` + ``plan.sample(drafts)``, the success rate
   (``status.success`` and ``alpha* - acceptance <= 1e-6``), the worst gap to alpha*,
   and the published GR figures (Llama-3, CPU) with the ratio published / ours;
2. **throughput** -- tokens per second for batches of B problems solved and sampled in one
   call (median of ``--repeats`` timed calls after a warm-up); V drops to ``--big-vocab``
   for B >= 256 (memory of the (B, V) float64 inputs), as the table says;
3. **speed-up** -- the max-flow oracle timed on the first ``--oracle-rows`` of the same rows
   (same run, under a per-call limit), against global resolution on those rows.

Timings use ``time.perf_counter`` around complete calls (CUDA: synchronised), the warm-up
call excluded, torch's thread count left at its default and recorded in the machine line.
"""
from __future__ import annotations

import argparse

from multidraft.validation import cli_float, cli_int, cli_type

from .options import cases, check_cases_fit, device, int_list, one_case, resolve

HELP = "global resolution: time per token on the published (k, n) grid, throughput, speed-up vs max-flow"
DESCRIPTION = __doc__.split("\n", 2)[2]

FULL = dict(vocab=128256, rows=50, cases="10:2,10:4,10:5,100:2,1000:2,10:8,10:10", batches="1,4,16,64,256,1024",
            throughput_case="10:4", big_vocab=32000, repeats=3, oracle_rows=10, oracle_limit=10.0,
            oracle_cases="10:2,10:4,10:5,100:2,1000:2")
QUICK = dict(vocab=500, rows=3, cases="10:2,10:4", batches="1,4", repeats=1, oracle_rows=2,
             oracle_limit=5.0, oracle_cases="10:2")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    pairs, positive = cli_type(cases, keep_text=True), cli_int(min_value=1)
    parser.add_argument("--vocab", type=positive, help=f"vocabulary size V (default {FULL['vocab']})")
    parser.add_argument("--rows", type=positive, help=f"problems R per (k, n) (default {FULL['rows']})")
    parser.add_argument("--cases", type=pairs, help=f"k:n pairs (default {FULL['cases']})")
    parser.add_argument("--batches", type=cli_type(int_list, keep_text=True),
                        help=f"batch sizes B for the throughput table (default {FULL['batches']})")
    parser.add_argument("--throughput-case", type=cli_type(one_case, keep_text=True),
                        help=f"k:n of the throughput table (default {FULL['throughput_case']})")
    parser.add_argument("--big-vocab", type=positive, help=f"V used for B >= 256 (default {FULL['big_vocab']})")
    parser.add_argument("--repeats", type=positive, help=f"timed calls per batch size (default {FULL['repeats']})")
    parser.add_argument("--oracle-rows", type=positive, help=f"rows timed with max-flow (default {FULL['oracle_rows']})")
    parser.add_argument("--oracle-limit", type=cli_float(min_value=0, include_min=False),
                        help=f"seconds per max-flow call (default {FULL['oracle_limit']:g})")
    parser.add_argument("--oracle-cases", type=pairs, help=f"k:n pairs for the speed-up table (default {FULL['oracle_cases']})")
    parser.add_argument("--device", default="cpu", type=cli_type(device), help="torch device: cpu (default) or cuda")


def resolve_options(args: argparse.Namespace) -> None:
    """Fill the defaults and check what needs two options (every top-k fits its V), before any work."""
    resolve(args, FULL, QUICK)
    check_cases_fit(cases(args.cases, "cases") + cases(args.oracle_cases, "oracle-cases"), args.vocab, "cases")
    batches = int_list(args.batches, "batches")
    through = [one_case(args.throughput_case, "throughput-case")]
    if any(B < 256 for B in batches):
        check_cases_fit(through, args.vocab, "throughput-case")
    if any(B >= 256 for B in batches):
        check_cases_fit(through, args.big_vocab, "throughput-case", "big_vocab")


def _per_token(args, report, progress) -> dict:
    from .common import Series, Table
    from .methods import GlobalResolutionMethod, alpha_stars, measure
    from .problems import draw_drafts, llm_problems, published_gr

    table = Table("fast_per_token", f"Global resolution, time per token (solve + sample), device {args.device}",
                  ["(k, n)", "V", "rows", "median ms", "p99 ms", "success", "worst gap", "torch-path median ms",
                   "torch-path success", "published GR 1e-3 ms (success)", "published GR 1e-4 ms (success)",
                   "published 1e-4 / ours"])
    method = GlobalResolutionMethod(args.device, args.seed)
    torch_path = GlobalResolutionMethod(args.device, args.seed, backend="torch")
    per_case = {}
    for k, n in progress(cases(args.cases), "fast: per token"):
        probs = llm_problems(args.rows, args.vocab, k, seed=args.seed)
        drafts = draw_drafts(probs.draft, n, args.seed)
        alpha = alpha_stars(probs.target, probs.draft, n)
        stats = measure(method, probs.target, probs.draft, drafts, n, alpha)
        batched = measure(torch_path, probs.target, probs.draft, drafts, n, alpha)
        per_case[(k, n)] = (probs, drafts, alpha, stats, batched)
        pub3, pub4 = published_gr(k, n)
        cell = lambda pub: f"{pub[0]:g} ({pub[1]:.0%})" if pub else "-"  # noqa: E731
        table.add(f"({k}, {n})", args.vocab, stats.rows, stats.median_ms, stats.p99_ms, f"{stats.success_rate:.0%}",
                  stats.worst_gap, batched.median_ms, f"{batched.success_rate:.0%}", cell(pub3), cell(pub4),
                  f"{pub4[0] / stats.median_ms:.2f}x" if pub4 else "-")
    table.notes += [
        "ours = global_resolution(..., backend='auto'): the compiled CPU kernel (fast/kernel.py) on a CPU in float64, "
        "the batched torch path on CUDA; torch path = the same solve with backend='torch' on the same rows.",
        f"Workload: {probs.label.replace(f'top-k={k}', 'top-k=k')} (each row a different problem, the same rows in every run).",
        "success = status.success and alpha* - acceptance <= 1e-6; worst gap = max over rows of alpha* - acceptance.",
        "published = Thomas & Pal (ICLR 2026), Llama-3 70B/8B on CPU, success in brackets; their GR is not exactly "
        "lossless (tolerance tau), ours is exactly lossless with solver tol 1e-9. Different workloads and machines.",
    ]
    report.table(table)
    labels = [f"({k},{n})" for k, n in per_case]
    ours = Series("ours, median", labels, [s.median_ms for *_, s, _ in per_case.values()])
    pub = [published_gr(k, n)[1] for k, n in per_case]
    series = [ours, Series("ours, p99", labels, [s.p99_ms for *_, s, _ in per_case.values()], "x--"),
              Series("torch path, median", labels, [t.median_ms for *_, t in per_case.values()], "d-.")]
    series.append(Series("published GR 1e-4", labels, [p[0] if p else float("nan") for p in pub], "s:"))
    report.plot("fast_per_token", [(f"time per token, V={args.vocab}, {args.device}", series)],
                xlabel="(k, n)", ylabel="ms per token", logy=True)
    return per_case


def _throughput(args, report, progress) -> None:
    import numpy as np
    import torch

    from .common import Series, Table, timed
    from .methods import GlobalResolutionMethod, alpha_stars
    from .problems import draw_drafts, llm_problems

    k, n = one_case(args.throughput_case, "throughput-case")
    method = GlobalResolutionMethod(args.device, args.seed)
    table = Table("fast_throughput", f"Global resolution, batched throughput, (k, n) = ({k}, {n}), device {args.device}",
                  ["B", "V", "median s per call", "tokens/s", "success", "note"])
    by_vocab: dict[int, tuple[list, list]] = {}
    for B in progress(int_list(args.batches, "batches"), "fast: throughput"):
        V = args.big_vocab if B >= 256 else args.vocab
        probs = llm_problems(B, V, k, seed=args.seed)
        drafts = draw_drafts(probs.draft, n, args.seed)
        alpha = torch.as_tensor(alpha_stars(probs.target, probs.draft, n))
        p, q, d = method.prepare(probs.target, probs.draft, drafts)
        method.run_tensors(p, q, d, n)  # warm-up
        times, plan = [], None
        for _ in range(args.repeats):
            plan, seconds = method.run_tensors(p, q, d, n)
            times.append(seconds)
        med = float(np.median(times))
        ok = plan.status.success.cpu() & ((alpha - plan.kept.cpu()) <= 1e-6)
        note = f"V = {V} for B >= 256 (memory)" if V != args.vocab else ""
        table.add(B, V, med, B / med, f"{float(ok.double().mean()):.0%}", note)
        by_vocab.setdefault(V, ([], []))[0].append(B)
        by_vocab[V][1].append(B / med)
        del p, q, d, plan
    table.notes.append(f"one call solves and samples all B rows; median of {args.repeats} timed calls after one warm-up.")
    report.table(table)
    series = [Series(f"global resolution, V = {V}", xs, ys, style) for (V, (xs, ys)), style in
              zip(by_vocab.items(), ("o-", "s--"))]
    title = f"(k, n) = ({k}, {n}), {args.device}" + (f"; V drops to {args.big_vocab} at B >= 256 (memory)"
                                                     if len(by_vocab) > 1 else "")
    report.plot("fast_throughput", [(title, series)], xlabel="batch size B", ylabel="tokens / s", logx=True, logy=True)


def _speedup(args, report, per_case, progress) -> None:
    from .common import Table
    from .methods import GlobalResolutionMethod, OracleMethod, alpha_stars, measure
    from .problems import draw_drafts, llm_problems

    oracle = OracleMethod("maxflow", args.oracle_limit, args.seed)
    method = GlobalResolutionMethod(args.device, args.seed)
    table = Table("fast_speedup", f"Speed-up of global resolution ({args.device}) over the max-flow oracle (CPU)",
                  ["(k, n)", "V", "rows", "max-flow median ms", "max-flow p99 ms", "max-flow optimal",
                   "GR median ms", "GR p99 ms", "speed-up (median)"])
    for k, n in progress(cases(args.oracle_cases, "oracle-cases"), "fast: max-flow"):
        rows = args.oracle_rows
        if (k, n) in per_case:
            probs, drafts, alpha, *_ = per_case[(k, n)]
            target, draft, drafts, alpha = probs.target[:rows], probs.draft[:rows], drafts[:rows], alpha[:rows]
        else:
            probs = llm_problems(rows, args.vocab, k, seed=args.seed)
            target, draft = probs.target, probs.draft
            drafts, alpha = draw_drafts(draft, n, args.seed), alpha_stars(target, draft, n)
        mf = measure(oracle, target, draft, drafts, n, alpha)
        gr = measure(method, target, draft, drafts, n, alpha)
        speed = mf.median_ms / gr.median_ms if mf.finished == mf.rows else float("nan")
        table.add(f"({k}, {n})", args.vocab, mf.rows, mf.time_cell("median", args.oracle_limit),
                  mf.time_cell("p99", args.oracle_limit), f"{mf.success_rate:.0%}", gr.median_ms, gr.p99_ms,
                  f"{speed:.2f}x" if speed == speed else "-")
    table.notes += [
        "max-flow = multidraft.reference.solve_maxflow (OR-Tools, distinct-token-set graph, certified interval: two "
        "integer max-flows) + the plan's output law for the drafts and one draw; forked child, "
        f"limit {args.oracle_limit:g} s per call; '> limit' when a call did not finish.",
        "same rows and drafts for both methods; speed-up = max-flow median / GR median.",
    ]
    report.table(table)


def run(args: argparse.Namespace, report) -> int:
    import torch

    from multidraft.workloads.progress import progress_bar

    if torch.device(args.device).type == "cuda" and not torch.cuda.is_available():
        print(f"multidraft bench fast: no CUDA device here (torch {torch.__version__}); skipped.")
        return 0
    progress = lambda it, desc: progress_bar(list(it), enabled=not args.no_progress, desc=desc)  # noqa: E731
    per_case = _per_token(args, report, progress)
    _throughput(args, report, progress)
    _speedup(args, report, per_case, progress)
    return 0
