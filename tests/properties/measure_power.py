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


print("\n| sampler | samples N | check, wall time | in sampler calls | estimates printed: after two calls / revised |")
for name, fn, sizes in (
    ("p_sampler (torch.multinomial)", gallery.p_sampler, (10**4, 10**5, 10**6)),
    ("slow: 0.05 ms a row", slow_sampler, (10**4, 10**5)),
):
    for N in sizes:
        walls, inside, estimates = [], [], []
        for _ in range(3):
            spent = [0.0]

            def timed(target, draft, drafts, generator, fn=fn, spent=spent):
                began = time.perf_counter()
                out = fn(target, draft, drafts, generator)
                spent[0] += time.perf_counter() - began
                return out

            timed.__name__ = name
            err, saved = _Err(), sys.stderr
            sys.stderr = err
            began = time.perf_counter()
            try:
                check(timed, CheckConfig(samples=N, progress=True), interface="sampling")
            finally:
                sys.stderr = saved
            walls.append(time.perf_counter() - began)
            inside.append(spent[0])
            found = re.findall(r"about ([\d.]+) (s|min)", err.getvalue())
            estimates.append([float(v) * (60 if unit == "min" else 1) for v, unit in found])
        shown = " / ".join(
            f"{statistics.median(e[i] for e in estimates):.2f} s" for i in range(min(len(e) for e in estimates))
        )
        print(f"| {name} | {N:.0e} | {statistics.median(walls):.2f} s | {statistics.median(inside):.2f} s | {shown} |")
