"""Measure the workloads and print the tables of docs/workloads.md (markdown on stdout).

Run ``python -m multidraft.workloads.report`` (a few minutes on 2 cores) or with ``--quick``
(smaller batches, a smoke test). Every number comes from the generators with the seeds
shown, so the tables regenerate exactly.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from multidraft.validation import InvalidInputError

from .stats import single_draft_acceptance, summarize
from .synthetic import calibrate_correlation, llm_like_batch
from .text import text_models, text_workload

TEMPERATURES = (0.2, 0.6, 1.0)
TOP_KS = (10, 100, 1000, None)
ACCEPTANCES = (0.5, 0.7, 0.9)


def _k(k: int | None) -> str:
    return "V" if k is None else str(k)


def calibration_table(vocab_size: int, batch: int, seed: int = 0) -> list[str]:
    """Reachable maximum of mean 1 - TV and the calibrated correlation c per (T, k, target)."""
    lines = [
        f"V = {vocab_size}, B = {batch}, seed = {seed}",
        "",
        "| T | top-k | max 1 - TV (c = 1) | " + " | ".join(f"c for {a}" for a in ACCEPTANCES) + " |",
        "|---|---|---|" + "---|" * len(ACCEPTANCES),
    ]
    for T in TEMPERATURES:
        for k in TOP_KS:
            top = llm_like_batch(batch, vocab_size, temperature=T, correlation=1.0, top_k=k, seed=seed)
            cells = [f"{single_draft_acceptance(top.target, top.draft).mean():.3f}"]
            for a in ACCEPTANCES:
                try:
                    cal = calibrate_correlation(
                        a, batch=batch, vocab_size=vocab_size, temperature=T, top_k=k, seed=seed
                    )
                    cells.append(f"{cal.correlation:.4f}")
                except InvalidInputError:
                    cells.append("unreachable")
            lines.append(f"| {T} | {_k(k)} | " + " | ".join(cells) + " |")
    return lines


def _stats_row(label: str, target: np.ndarray, draft: np.ndarray) -> str:
    s = summarize(target, draft, (2, 4))
    q10, q50, q90 = s.acceptance_quantiles
    return (
        f"| {label} | {s.rows} | {s.target_entropy:.2f} | {s.acceptance:.3f} | {q10:.3f} / {q50:.3f} / {q90:.3f} "
        f"| {s.alpha_star[2]:.3f} | {s.alpha_star[4]:.3f} |"
    )


_STATS_HEADER = [
    "| workload | rows | H(p) nats | mean 1 - TV | 1 - TV 10/50/90% | mean alpha* n=2 | mean alpha* n=4 |",
    "|---|---|---|---|---|---|---|",
]


def synthetic_stats_table(batch: int, seed: int = 0) -> list[str]:
    """Summary statistics of calibrated synthetic workloads."""
    lines = list(_STATS_HEADER)
    for V in (32000, 128256):
        for T, k in ((1.0, None), (1.0, 1000), (0.6, 100), (0.2, 10)):
            for a in ACCEPTANCES:
                try:
                    w = llm_like_batch(batch, V, temperature=T, top_k=k, acceptance=a, seed=seed)
                except InvalidInputError:
                    continue
                label = f"synthetic V={V} T={T} k={_k(k)} c={w.meta['correlation']:.3f}"
                lines.append(_stats_row(label, w.target, w.draft))
    return lines


def text_stats_table(positions: int) -> list[str]:
    """Summary statistics of the real-text workload at a few temperatures and top-k."""
    models = text_models()
    positions = min(positions, models.available_positions)
    lines = [
        f"BPE vocabulary {models.tokenizer.vocab_size}; training text {len(models.split.train):,} characters "
        f"= {len(models.train_tokens):,} tokens; held-out {len(models.split.held_out):,} characters = "
        f"{len(models.held_out_tokens):,} tokens; discounts target {np.round(models.target.discounts, 3).tolist()}, "
        f"draft {np.round(models.draft.discounts, 3).tolist()}",
        "",
    ] + list(_STATS_HEADER)
    for T in (1.0, 0.8, 0.5, 0.2):
        for k in (None, 100, 10):
            w = text_workload(positions, temperature=T, top_k=k)
            label = f"text T={T} k={_k(k)} (ppl target {w.meta['target_ppl']:.1f}, draft {w.meta['draft_ppl']:.1f})"
            lines.append(_stats_row(label, w.target, w.draft))
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m multidraft.workloads.report", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small batches (a smoke test, numbers noisier)")
    args = parser.parse_args(argv)
    batch, big_batch, positions = (8, 8, 256) if args.quick else (64, 32, 4096)
    t0 = time.perf_counter()
    sections = [
        ("Calibration, V = 32,000", calibration_table(32000, batch)),
        ("Calibration, V = 128,256", calibration_table(128256, big_batch)),
        ("Synthetic workloads", synthetic_stats_table(big_batch)),
        ("Text workload", text_stats_table(positions)),
    ]
    for title, lines in sections:
        print(f"### {title}\n")
        print("\n".join(lines))
        print()
    print(f"(measured in {time.perf_counter() - t0:.0f} s)")
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
