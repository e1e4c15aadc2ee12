"""Measure the detection limits quoted in docs/checking.md: python tests/properties/measure_limits.py (~90 s)."""

import sys

import numpy as np

sys.path.insert(0, __import__("os").path.dirname(__file__))
import gallery

from multidraft.properties import verifier_suite
from multidraft.properties.stats import detectable_tv, g_test

# exact: smallest epsilon flagged
for eps in [1e-6, 1e-8, 1e-9, 3e-9, 1e-10, 1e-12, 1e-14]:
    r = verifier_suite(gallery.mixed(eps), interface="conditional", examples=40, seed=0)
    print("exact eps", eps, "flagged", not r.passed, "worst TV", r["lossless"].worst)
for eps in [1e-12, 1e-13, 1e-14]:
    r = verifier_suite(gallery.mixed(eps), interface="conditional", examples=40, seed=0, tol=1e-14)
    print("exact tol1e-14 eps", eps, "flagged", not r.passed, "worst TV", r["lossless"].worst)
# rounding floor: worst TV of correct verifiers (the gallery's and the registered ones) at the same settings
from multidraft.verifiers import list_verifiers

floor = {
    "gallery." + name: verifier_suite(f, interface="conditional", examples=40, seed=0)["lossless"].worst
    for name, f in gallery.CORRECT.items()
}
floor.update({name: verifier_suite(name, examples=40, seed=0)["lossless"].worst for name in list_verifiers()})
print("correct verifiers worst TV", {k: float(f"{v:.2g}") for k, v in floor.items()}, "max", max(floor.values()))
# statistical, end to end: what `multidraft check` prints at 1e6 samples (4 problems, Bonferroni at 1e-6)
for name in ["p_sampler", "speculative_sampler"]:
    r = verifier_suite(getattr(gallery, name), interface="sampling", samples=10**6, seed=0)
    print(
        "check",
        name,
        "N=1e6 passed",
        r.passed,
        "output_law level",
        r["output_law"].threshold,
        "detectable TV 50%/90%",
        r["output_law"].extra["tv_power50"],
        r["output_law"].extra["tv_power90"],
        "acceptance shift 90%",
        r["acceptance_bound"].extra["shift_power90"],
    )
# statistical: G-test at N=1e6, level 1e-6, V=10 llm-like p; worst-case direction (mass moved between halves)
rng = np.random.default_rng(0)
N, level, V = 10**6, 1e-6, 10
p = np.sort(rng.dirichlet(np.ones(V)))[::-1]
half = np.zeros(V, bool)
acc = 0
for i in np.argsort(-p):
    if acc + p[i] <= 0.5 + 1e-12:
        half[i] = True
        acc += p[i]
d = np.where(half, p / p[half].sum(), -p / p[~half].sum())
df = V - 1
print("formula tv50", detectable_tv(N, df, level, 0.5), "tv90", detectable_tv(N, df, level, 0.9))
for tv in [5e-4, 1e-3, 1.5e-3, 2e-3, 2.5e-3, 3e-3, 4e-3]:
    r = np.clip(p + tv * d, 0, None)
    r /= r.sum()
    hits = np.mean([g_test(rng.multinomial(N, r), N * p).p_value < level for _ in range(200)])
    print("stat worst-direction TV", tv, "detection rate", hits)
w = rng.dirichlet(np.ones(V))
for eps in [2e-3, 4e-3, 6e-3, 8e-3, 1.2e-2]:
    r = (1 - eps) * p + eps * w
    tv = 0.5 * np.abs(r - p).sum()
    hits = np.mean([g_test(rng.multinomial(N, r), N * p).p_value < level for _ in range(200)])
    print("stat random-direction TV", round(tv, 6), "detection rate", hits)
# false alarms: 20000 null runs at N=1e6
pv = np.array([g_test(rng.multinomial(N, p), N * p).p_value for _ in range(20000)])
print(
    "null runs",
    len(pv),
    "false alarms at 1e-6",
    (pv < 1e-6).sum(),
    "at 1e-3",
    (pv < 1e-3).mean(),
    "at 1e-2",
    (pv < 1e-2).mean(),
)
