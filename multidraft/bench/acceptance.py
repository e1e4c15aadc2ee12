"""``multidraft bench acceptance``: optimal acceptance alpha* against k, n and temperature.

The analogue of the published Fig. 1: mean over rows of the exact alpha* (closed form,
:func:`multidraft.reference.optimal_acceptance`) for the draft cut to its top k tokens
(k = V: no cut), n i.i.d. drafts and temperature T applied to both laws, on two workloads:

* ``llm`` -- synthetic LLM-like pairs (``llm_like_batch``, correlation ``--correlation``);
* ``text`` -- 4-gram target / 2-gram draft over a 3,000-token BPE vocabulary (``text_workload``).

Then, for each registered baseline verifier (``multidraft.list_verifiers()``), over every
(workload, T, k) configuration: the share of rows where its exact acceptance
(``.acceptance(target, draft, n)``) reaches alpha* within 1e-6, and its mean acceptance / mean alpha*.
"""

from __future__ import annotations

import argparse

from multidraft.validation import InvalidInputError, cli_float, cli_int, cli_type

from .options import float_list, int_list, k_list, names, resolve

HELP = "optimal acceptance alpha* vs top-k, n and temperature (Fig. 1 analogue); baselines vs alpha*"
DESCRIPTION = __doc__.split("\n", 2)[2]

FULL = dict(
    vocab=32000,
    rows=64,
    text_rows=256,
    ks="10,100,1000,V",
    ns="1-8",
    temperatures="0.2,0.6,1.0",
    workloads="llm,text",
    correlation=0.9,
    baselines="all",
)
QUICK = dict(vocab=500, rows=4, text_rows=4, ks="10,V", ns="1,2", temperatures="1.0")
WORKLOADS = ("llm", "text")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    positive = cli_int(min_value=1)
    parser.add_argument("--vocab", type=positive, help=f"V of the LLM-like workload (default {FULL['vocab']})")
    parser.add_argument("--rows", type=positive, help=f"rows of the LLM-like workload (default {FULL['rows']})")
    parser.add_argument(
        "--text-rows",
        type=positive,
        help=f"rows (held-out positions) of the text workload (default {FULL['text_rows']})",
    )
    parser.add_argument(
        "--ks", type=cli_type(k_list, 1, keep_text=True), help=f"top-k values, V = no cut (default {FULL['ks']})"
    )
    parser.add_argument(
        "--ns", type=cli_type(int_list, keep_text=True), help=f"numbers of drafts (default {FULL['ns']})"
    )
    parser.add_argument(
        "--temperatures",
        type=cli_type(float_list, keep_text=True),
        help=f"temperatures (default {FULL['temperatures']})",
    )
    parser.add_argument(
        "--workloads",
        type=cli_type(names, WORKLOADS, keep_text=True),
        help=f"comma-separated subset of {','.join(WORKLOADS)} (default {FULL['workloads']})",
    )
    parser.add_argument(
        "--correlation",
        type=cli_float(min_value=0, max_value=1),
        help=f"draft/target correlation of the LLM-like pairs, in [0, 1] (default {FULL['correlation']})",
    )
    parser.add_argument(
        "--baselines",
        help="comma-separated baselines to compare with alpha*, or 'all' (default all; "
        "canonical and rrs_without_replacement enumerate draft multisets or tuples and take most "
        "of the time at large n)",
    )


def resolve_options(args: argparse.Namespace) -> None:
    """Fill the defaults and check the baselines against the registry, before any work."""
    from .methods import baseline_names

    resolve(args, FULL, QUICK)
    _chosen_baselines(args.baselines, baseline_names())


def _chosen_baselines(spec: str, registered: list[str]) -> list[str]:
    """The baselines named in ``--baselines`` ('all': every registered one), in registry order."""
    if spec.strip() == "all":
        return registered
    names = [name.strip() for name in spec.split(",") if name.strip()]
    unknown = [name for name in names if name not in registered]
    if unknown or not names:
        raise InvalidInputError(f"baselines: unknown {unknown or spec!r}; choose from {', '.join(registered)} or 'all'")
    return [name for name in registered if name in names]


def _workload(name: str, T: float, k: int, args):
    """(target, draft, V) of one configuration; k >= V means no top-k cut."""
    if name == "llm":
        from .problems import llm_problems

        pr = llm_problems(args.rows, args.vocab, k, seed=args.seed, correlation=args.correlation, temperature=T)
        return pr.target, pr.draft
    from multidraft.workloads import text_workload

    w = text_workload(args.text_rows, temperature=T, top_k=None if k >= 3000 else k)
    return w.target, w.draft


def run(args: argparse.Namespace, report) -> int:
    import numpy as np

    from multidraft.workloads.progress import progress_bar

    from .common import Series, Table
    from .methods import OPTIMAL_TOL, alpha_stars, baseline_acceptance, baseline_names

    workloads = names(args.workloads, "workloads", WORKLOADS)
    ns = int_list(args.ns, "ns")
    temps = float_list(args.temperatures, "temperatures")
    baselines = _chosen_baselines(args.baselines, baseline_names())
    configs = [
        (w, T, k) for w in workloads for T in temps for k in k_list(args.ks, "ks", args.vocab if w == "llm" else 3000)
    ]
    alpha_table = Table(
        "acceptance_alpha",
        "Mean optimal acceptance alpha* (exact, closed form)",
        ["workload", "V", "rows", "T", "k", *[f"n={n}" for n in ns]],
    )
    # baseline results: {(baseline, workload, n): [hits, rows, sum of acceptances, sum of alpha*]}
    base: dict[tuple[str, str, int], list] = {}
    curves: dict[tuple[str, float], dict[int, list]] = {}
    skipped: set[tuple[str, int]] = set()
    for w, T, k in progress_bar(configs, enabled=not args.no_progress, desc="acceptance"):
        target, draft = _workload(w, T, k, args)
        V = target.shape[1]
        means = []
        for n in ns:
            alpha = alpha_stars(target, draft, n)
            means.append(float(alpha.mean()))
            for name in baselines:
                acc = baseline_acceptance(name, target, draft, n)
                if acc is None:
                    skipped.add((name, n))
                    continue
                entry = base.setdefault((name, w, n), [0, 0, 0.0, 0.0])
                entry[0] += int(np.sum(alpha - acc <= OPTIMAL_TOL))
                entry[1] += len(alpha)
                entry[2] += float(np.sum(acc))
                entry[3] += float(np.sum(alpha))
            curves.setdefault((w, T), {}).setdefault(n, []).append(("V" if k >= V else str(k), means[-1]))
        alpha_table.add(w, V, target.shape[0], T, "V" if k >= V else k, *means)
    alpha_table.notes += [
        f"llm = LLM-like pairs (multidraft.workloads.llm_like_batch, correlation {args.correlation}, seed {args.seed}); "
        "text = 4-gram target / 2-gram draft on held-out CPython pydoc text (text_workload, first positions).",
        "T applies to both laws; top-k only to the draft; k = V: no cut.",
    ]
    report.table(alpha_table)
    panels = [
        (f"{w}, T={T}", [Series(f"n={n}", [x for x, _ in pts], [y for _, y in pts]) for n, pts in by_n.items()])
        for (w, T), by_n in curves.items()
    ]
    report.plot("acceptance_alpha", panels, xlabel="top-k of the draft", ylabel="mean alpha*")

    cols = ["baseline", "n"]
    for w in workloads:
        cols += [f"{w}: rows at alpha*", f"{w}: mean acc / mean alpha*"]
    btable = Table("acceptance_baselines", "Baselines against the optimal acceptance (exact acceptances)", cols)
    from multidraft import get_verifier

    from .table1 import drafting_label

    for name in baselines:
        drafting = getattr(get_verifier(name), "drafting", "iid")
        for n in ns:
            cells = []
            for w in workloads:
                hits, rows, acc_sum, alpha_sum = base.get((name, w, n), (0, 0, 0.0, 0.0))
                cells += [f"{hits / rows:.0%}" if rows else "-", acc_sum / alpha_sum if alpha_sum > 0 else float("nan")]
            btable.add(drafting_label(name, drafting), n, *cells)
    btable.notes.append(
        f"rows at alpha*: alpha* - acceptance <= {OPTIMAL_TOL:g}; pooled over every T and k above. "
        "The ratio is of the means (a mean of per-row ratios is dominated by rows with alpha* near 0)."
    )
    btable.notes.append(
        "alpha* is the optimum for n i.i.d. drafts; a baseline with another drafting law "
        "(marked) is compared with that same number, so its ratio can exceed 1."
    )
    if skipped:
        btable.notes.append(
            "not measured (no closed form and too many draft tuples to enumerate) for some (k, T) at: "
            + ", ".join(f"{b} n={n}" for b, n in sorted(skipped))
            + "; pooled over the rest."
        )
    if not baselines:
        btable.notes.append(
            "no baseline verifiers are registered yet (multidraft.list_verifiers() has none besides "
            "global_resolution): table left empty."
        )
    report.table(btable)
    return 0
