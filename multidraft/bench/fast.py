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

FULL = dict(
    vocab=128256,
    rows=50,
    big_rows=10,
    cases="10:2,10:4,10:5,100:2,1000:2,10:8,10:10,10:16,1000:4,1000:8,1000:16,10000:2,"
    "128256:2,128256:4,128256:8,128256:16",
    batches="1,4,16,64,256,1024",
    throughput_case="10:4",
    big_vocab=32000,
    repeats=3,
    oracle_rows=10,
    oracle_limit=10.0,
    oracle_cases="10:2,10:4,10:5,100:2,1000:2",
)
QUICK = dict(
    vocab=500,
    rows=3,
    big_rows=2,
    cases="10:2,10:4,500:2",
    batches="1,4",
    repeats=1,
    oracle_rows=2,
    oracle_limit=5.0,
    oracle_cases="10:2",
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    pairs, positive = cli_type(cases, keep_text=True), cli_int(min_value=1)
    parser.add_argument("--vocab", type=positive, help=f"vocabulary size V (default {FULL['vocab']})")
    parser.add_argument("--rows", type=positive, help=f"problems R per (k, n) (default {FULL['rows']})")
    parser.add_argument("--cases", type=pairs, help=f"k:n pairs (default {FULL['cases']})")
    parser.add_argument(
        "--big-rows", type=positive, help=f"problems per (k, n) for k >= {BIG_K} or k = V (default {FULL['big_rows']})"
    )
    parser.add_argument(
        "--batches",
        type=cli_type(int_list, keep_text=True),
        help=f"batch sizes B for the throughput table (default {FULL['batches']})",
    )
    parser.add_argument(
        "--throughput-case",
        type=cli_type(one_case, keep_text=True),
        help=f"k:n of the throughput table (default {FULL['throughput_case']})",
    )
    parser.add_argument("--big-vocab", type=positive, help=f"V used for B >= 256 (default {FULL['big_vocab']})")
    parser.add_argument("--repeats", type=positive, help=f"timed calls per batch size (default {FULL['repeats']})")
    parser.add_argument(
        "--oracle-rows", type=positive, help=f"rows timed with max-flow (default {FULL['oracle_rows']})"
    )
    parser.add_argument(
        "--oracle-limit",
        type=cli_float(min_value=0, include_min=False),
        help=f"seconds per max-flow call (default {FULL['oracle_limit']:g})",
    )
    parser.add_argument(
        "--oracle-cases", type=pairs, help=f"k:n pairs for the speed-up table (default {FULL['oracle_cases']})"
    )
    parser.add_argument("--device", default="cpu", type=cli_type(device), help="torch device: cpu (default) or cuda")


#: Cases with a draft support of at least this many tokens (or the whole vocabulary) run on
#: ``--big-rows`` rows and without the torch path (seconds per row there).
BIG_K = 10000


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

    table = Table(
        "fast_per_token",
        f"Global resolution, time per token (solve + sample), device {args.device}",
        [
            "(k, n)",
            "V",
            "rows",
            "median ms",
            "p99 ms",
            "success",
            "worst gap",
            "numpy inputs median ms",
            "read p, q ms",
            "argsort k ms",
            "median / read",
            "torch-path median ms",
            "torch-path success",
            "published GR 1e-3 ms (success)",
            "published GR 1e-4 ms (success)",
            "published 1e-4 / ours",
        ],
    )
    method = GlobalResolutionMethod(args.device, args.seed)
    numpy_inputs = GlobalResolutionMethod(args.device, args.seed, numpy_inputs=True)
    torch_path = GlobalResolutionMethod(args.device, args.seed, backend="torch")
    per_case = {}
    for k, n in progress(cases(args.cases), "fast: per token"):
        k = min(k, args.vocab)
        big = k >= min(BIG_K, args.vocab)
        probs = llm_problems(args.big_rows if big else args.rows, args.vocab, k, seed=args.seed)
        drafts = draw_drafts(probs.draft, n, args.seed)
        alpha = alpha_stars(probs.target, probs.draft, n)
        stats = measure(method, probs.target, probs.draft, drafts, n, alpha)
        from_numpy = (
            measure(numpy_inputs, probs.target, probs.draft, drafts, n, alpha) if args.device == "cpu" else None
        )
        batched = None if big else measure(torch_path, probs.target, probs.draft, drafts, n, alpha)
        read_ms, sort_ms = reference_times(probs.target, probs.draft)
        per_case[(k, n)] = (probs, drafts, alpha, stats, batched, read_ms, sort_ms)
        pub3, pub4 = published_gr(k, n)
        cell = lambda pub: f"{pub[0]:g} ({pub[1]:.0%})" if pub else "-"  # noqa: E731
        table.add(
            f"({'V' if k == args.vocab else k}, {n})",
            args.vocab,
            stats.rows,
            stats.median_ms,
            stats.p99_ms,
            f"{stats.success_rate:.0%}",
            stats.worst_gap,
            from_numpy.median_ms if from_numpy else "-",
            read_ms,
            sort_ms,
            f"{stats.median_ms / read_ms:.1f}x",
            batched.median_ms if batched else "-",
            f"{batched.success_rate:.0%}" if batched else "-",
            cell(pub3),
            cell(pub4),
            f"{pub4[0] / stats.median_ms:.2f}x" if pub4 else "-",
        )
    table.notes += [
        "ours = global_resolution(..., backend='auto'): the compiled CPU kernel (fast/kernel.py) on a CPU in float64, "
        "the batched torch path on CUDA, inputs torch tensors; numpy inputs = the same call on the numpy arrays; "
        f"torch path = the same solve with backend='torch' on the same rows ('-' for k >= {BIG_K} or k = V, which "
        f"run on {args.big_rows} rows).",
        "references measured in the same run on the same rows (medians): read p, q = one numpy pass over both "
        "rows (p.max() + q.max(), the memory-read bound of any exact solve); argsort k = numpy's argsort of the "
        "k ratios p/q on the draft support; median / read = ours over the read bound.",
        f"Workload: {probs.label.replace(f'top-k={k}', 'top-k=k')} (each row a different problem, the same rows in every run).",
        "success = status.success and alpha* - acceptance <= 1e-6; worst gap = max over rows of alpha* - acceptance.",
        "published = Thomas & Pal (ICLR 2026), Llama-3 70B/8B on CPU, success in brackets; their GR is not exactly "
        "lossless (tolerance tau), ours is exactly lossless with solver tol 1e-9. Different workloads and machines.",
    ]
    report.table(table)
    labels = [f"({k},{n})" for k, n in per_case]
    ours = Series("ours, median", labels, [c[3].median_ms for c in per_case.values()])
    pub = [published_gr(k, n)[1] for k, n in per_case]
    series = [
        ours,
        Series("ours, p99", labels, [c[3].p99_ms for c in per_case.values()], "x--"),
        Series(
            "torch path, median", labels, [c[4].median_ms if c[4] else float("nan") for c in per_case.values()], "d-."
        ),
        Series("read p, q", labels, [c[5] for c in per_case.values()], "v:"),
    ]
    series.append(Series("published GR 1e-4", labels, [p[0] if p else float("nan") for p in pub], "s:"))
    report.plot(
        "fast_per_token",
        [(f"time per token, V={args.vocab}, {args.device}", series)],
        xlabel="(k, n)",
        ylabel="ms per token",
        logy=True,
    )
    _scaling(args, report, per_case)
    return per_case


def read_seconds(target, draft) -> float:
    """Wall seconds of one numpy pass reading every entry of p and q (``p.max() + q.max()``,
    arrays of any shape): the memory-read bound of any exact solve of those rows, which must
    read both laws whole. ``max`` and not ``sum``: numpy's pairwise sum is compute-bound
    (about 20 GB/s on the development machine, against about 35 GB/s for ``max``), so it
    would overstate the bound."""
    import time

    start = time.perf_counter()
    float(target.max() + draft.max())
    return time.perf_counter() - start


def reference_times(target, draft) -> tuple[float, float]:
    """Medians over rows, in ms: one numpy pass over p and q (:func:`read_seconds`: the read
    bound) and numpy's argsort of the ratios p/q on the draft support."""
    import time

    import numpy as np

    read, sort = [], []
    for p, q in zip(target, draft):
        read.append(read_seconds(p, q))
        on = q > 0
        ratio = p[on] / q[on]
        start = time.perf_counter()
        np.argsort(ratio)
        sort.append(time.perf_counter() - start)
    return float(np.median(read)) * 1e3, float(np.median(sort)) * 1e3


def _scaling(args, report, per_case: dict) -> None:
    """Time against k at fixed n and against n at fixed k, from the per-token rows, with the
    read bound of the same rows; a plot of cost against work k (n/2 + 1) (one exact
    evaluation: k pieces of n/2 + 1 quadrature nodes)."""
    from .common import Series, Table

    table = Table(
        "fast_scaling",
        "Global resolution, scaling: time per token against k and n (same rows as above)",
        [
            "sweep",
            "(k, n)",
            "work k (n/2+1)",
            "median ms",
            "read p, q ms",
            "argsort k ms",
            "median / read",
            "median / argsort",
            "us per unit of work",
        ],
    )
    ns = sorted({n for _, n in per_case})
    ks = sorted({k for k, _ in per_case})
    fixed_n = max(ns, key=lambda n: sum(1 for key in per_case if key[1] == n))
    fixed_k = max(ks, key=lambda k: (sum(1 for key in per_case if key[0] == k), k))
    points = []
    for sweep, keys in (
        (f"k at n = {fixed_n}", sorted(key for key in per_case if key[1] == fixed_n)),
        (f"n at k = {fixed_k}", sorted(key for key in per_case if key[0] == fixed_k)),
    ):
        for k, n in keys:
            *_, stats, _, read_ms, sort_ms = per_case[(k, n)]
            work = k * (n // 2 + 1)
            table.add(
                sweep,
                f"({k}, {n})",
                work,
                stats.median_ms,
                read_ms,
                sort_ms,
                f"{stats.median_ms / read_ms:.1f}x",
                f"{stats.median_ms / sort_ms:.1f}x",
                1e3 * stats.median_ms / work,
            )
    for (k, n), (*_, stats, _, read_ms, _) in sorted(
        per_case.items(), key=lambda item: item[0][0] * (item[0][1] // 2 + 1)
    ):
        points.append((k * (n // 2 + 1), stats.median_ms, read_ms))
    table.notes.append(
        "work = k (n/2 + 1): the pieces times the quadrature nodes of one exact evaluation of the race; "
        "the read bound is one pass over p and q of the same rows, measured in the same run."
    )
    report.table(table)
    xs = [w for w, _, _ in points]
    report.plot(
        "fast_scaling",
        [
            (
                f"cost against work, V={args.vocab}, {args.device}",
                [
                    Series("global resolution, median", xs, [m for _, m, _ in points]),
                    Series("read p, q (same rows)", xs, [r for _, _, r in points], "v:"),
                ],
            )
        ],
        xlabel="work k (n/2 + 1)",
        ylabel="ms per token",
        logx=True,
        logy=True,
    )


def _throughput(args, report, progress) -> None:
    import numpy as np
    import torch

    from .common import Series, Table
    from .methods import GlobalResolutionMethod, alpha_stars
    from .problems import draw_drafts, llm_problems

    k, n = one_case(args.throughput_case, "throughput-case")
    method = GlobalResolutionMethod(args.device, args.seed)
    table = Table(
        "fast_throughput",
        f"Global resolution, batched throughput, (k, n) = ({k}, {n}), device {args.device}",
        [
            "B",
            "V",
            "threads",
            "median s per call",
            "tokens/s",
            "read p, q s",
            "bound tokens/s",
            "ratio to bound",
            "success",
            "note",
        ],
    )
    threads = torch.get_num_threads()
    by_vocab: dict[int, tuple[list, list, list]] = {}  # V -> (B, tokens/s, bound tokens/s)
    for B in progress(int_list(args.batches, "batches"), "fast: throughput"):
        V = args.big_vocab if B >= 256 else args.vocab
        probs = llm_problems(B, V, k, seed=args.seed)
        drafts = draw_drafts(probs.draft, n, args.seed)
        alpha = torch.as_tensor(alpha_stars(probs.target, probs.draft, n))
        p, q, d = method.prepare(probs.target, probs.draft, drafts)
        method.run_tensors(p, q, d, n)  # warm-up
        times, reads, plan = [], [], None
        for _ in range(args.repeats):  # the call and the read bound alternate on the same arrays
            plan, seconds = method.run_tensors(p, q, d, n)
            times.append(seconds)
            reads.append(read_seconds(probs.target, probs.draft))
        med, read = float(np.median(times)), float(np.median(reads))
        ok = plan.status.success.cpu() & ((alpha - plan.kept.cpu()) <= 1e-6)
        note = f"V = {V} for B >= 256 (memory)" if V != args.vocab else ""
        table.add(
            B, V, threads, med, B / med, read, B / read, f"{med / read:.2f}x", f"{float(ok.double().mean()):.0%}", note
        )
        for column, value in zip(by_vocab.setdefault(V, ([], [], [])), (B, B / med, B / read)):
            column.append(value)
        del p, q, d, plan
    table.notes += [
        f"one call solves and samples all B rows; median of {args.repeats} timed calls after one warm-up; threads = "
        "torch.get_num_threads(), the threads the compiled kernel solves row blocks on (set by OMP_NUM_THREADS).",
        "read p, q = one numpy pass over the same (B, V) arrays (p.max() + q.max(), one thread), timed after each "
        "call: the memory-read bound of any exact solve; ratio to bound = median s per call / read p, q s.",
    ]
    report.table(table)
    series = []
    for (V, (xs, ys, bound)), (style, bound_style) in zip(by_vocab.items(), (("o-", "v:"), ("s--", "^:"))):
        series += [
            Series(f"global resolution, V = {V}", xs, ys, style),
            Series(f"read bound (one pass over p, q; same run), V = {V}", xs, bound, bound_style),
        ]
    title = f"(k, n) = ({k}, {n}), {args.device}" + (
        f"; V drops to {args.big_vocab} at B >= 256 (memory)" if len(by_vocab) > 1 else ""
    )
    report.plot("fast_throughput", [(title, series)], xlabel="batch size B", ylabel="tokens / s", logx=True, logy=True)


def _speedup(args, report, per_case, progress) -> None:
    from .common import Table
    from .methods import GlobalResolutionMethod, OracleMethod, alpha_stars, measure
    from .problems import draw_drafts, llm_problems

    oracle = OracleMethod("maxflow", args.oracle_limit, args.seed)
    method = GlobalResolutionMethod(args.device, args.seed)
    table = Table(
        "fast_speedup",
        f"Speed-up of global resolution ({args.device}) over the max-flow oracle (CPU)",
        [
            "(k, n)",
            "V",
            "rows",
            "max-flow median ms",
            "max-flow p99 ms",
            "max-flow optimal",
            "GR median ms",
            "GR p99 ms",
            "speed-up (median)",
        ],
    )
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
        table.add(
            f"({k}, {n})",
            args.vocab,
            mf.rows,
            mf.time_cell("median", args.oracle_limit),
            mf.time_cell("p99", args.oracle_limit),
            f"{mf.success_rate:.0%}",
            gr.median_ms,
            gr.p99_ms,
            f"{speed:.2f}x" if speed == speed else "-",
        )
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
