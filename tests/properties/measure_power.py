"""Measure the power and time tables of docs/checking.md: python tests/properties/measure_power.py

Power: for N samples per problem at the level a default check uses (alpha = 1e-6 over 4
problems x 2 tests), the TV the output-law G-test detects with 90% power by the formula, and
the detection rate measured over 200 replications at that TV in the worst-case direction
(V = 6, a Dirichlet p, df = 5). Time: wall time of ``verifier_suite`` on a fast sampler and
on a slow one (0.05 ms a row, simulated by sleeping), median of 3, beside the estimate the
check prints after its first call.
"""
from __future__ import annotations

import io
import os
import re
import statistics
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
import gallery  # noqa: E402
from multidraft.properties import CheckConfig, check  # noqa: E402
from multidraft.properties.stats import detectable_tv, g_test  # noqa: E402

LEVEL = 1e-6 / 8
V, REPS = 6, 200
rng = np.random.default_rng(0)
p = np.sort(rng.dirichlet(np.ones(V)))[::-1]
half = np.zeros(V, bool)
acc = 0.0
for i in np.argsort(-p):
    if acc + p[i] <= 0.5 + 1e-12:
        half[i], acc = True, acc + p[i]
direction = np.where(half, p / p[half].sum(), -p / p[~half].sum())

print("| samples N | detectable TV, 90% power (formula) | detection rate measured at that TV |")
for N in (10**3, 10**4, 10**5, 10**6, 10**7):
    tv = detectable_tv(N, V - 1, LEVEL, 0.9)
    r = np.clip(p + tv * direction, 0, None)
    r /= r.sum()
    hits = np.mean([g_test(rng.multinomial(N, r), N * p).p_value < LEVEL for _ in range(REPS)])
    print(f"| {N:.0e} | {tv:.2e} | {hits:.1%} |")


def slow_sampler(target, draft, drafts, generator):
    time.sleep(5e-5 * len(drafts))  # 0.05 ms a row
    return gallery.p_sampler(target, draft, drafts, generator)


class _Err(io.StringIO):
    def isatty(self):
        return False


print("\n| sampler | samples N | wall time (median of 3) | estimate printed after the first call |")
for name, fn, sizes in (("p_sampler (torch.multinomial)", gallery.p_sampler, (10**4, 10**5, 10**6)),
                        ("slow: 0.05 ms a row", slow_sampler, (10**4, 10**5))):
    for N in sizes:
        walls, estimate = [], ""
        for _ in range(3):
            err, saved = _Err(), sys.stderr
            sys.stderr = err
            began = time.perf_counter()
            try:
                check(fn, CheckConfig(samples=N, progress=True), interface="sampling")
            finally:
                sys.stderr = saved
            walls.append(time.perf_counter() - began)
            found = re.search(r"about ([\d.]+ (?:s|min))", err.getvalue())
            estimate = found.group(1) if found else "-"
        print(f"| {name} | {N:.0e} | {statistics.median(walls):.2f} s | {estimate} |")
