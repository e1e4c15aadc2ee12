"""Statistics of the statistical check: G-tests, binomial tests, detectable deviations.

The tests themselves (which run on which problem) and the sampling harness that feeds them
live in :mod:`multidraft.properties.sampling`.

G-test. ``G = 2 sum_c O_c ln(O_c / E_c)`` over cells c, compared with chi-square(cells - 1).
Cells with ``E_c < 5`` are pooled into one cell; if that pool still has ``E < 5`` it is merged
into the smallest remaining cell. A token with ``E = 0`` (e.g. ``p = 0``) that is observed is
impossible under the null: p-value 0. (For ``sample_matches_conditional`` the outputs are
independent but not identically distributed given the drafts; their count variance is at
most the multinomial one, so the test is conservative.)

False-alarm rate. With family-wise rate ``alpha`` (default 1e-6) and T tests in the whole
check (problems x tests per problem), each test runs at level ``alpha / T`` (Bonferroni): the
probability that a correct verifier fails any test is at most ``alpha``.

Minimum detectable deviation. Under an alternative output law ``r = p + d`` the G statistic is
approximately noncentral chi-square with ``df`` degrees of freedom and noncentrality
``lambda = N sum_c d_c^2 / p_c`` (local alternatives). Among deviations of total variation
``delta``, Cauchy-Schwarz gives ``sum d^2/p >= delta^2 (1/p(A) + 1/p(B)) >= 4 delta^2`` (A, B
the tokens where d > 0 and d < 0), with equality for ``d = +-delta * p / (1/2)`` on two halves
of mass 1/2. So every deviation of TV ``>= delta_beta = sqrt(lambda_beta / (4N))`` is detected
with power ``>= beta``, where ``lambda_beta`` solves ``P(ncx2(df, lambda) > chi2.isf(level, df))
= beta`` (deviations hidden inside the pooled cell excepted). For acceptance (normal
approximation to the binomial): ``delta_beta = (z_{1-level} + z_beta) sqrt(a(1-a)/N)``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import optimize, stats

#: Default family-wise false-alarm rate of a statistical check.
ALPHA = 1e-6
#: Cells with a smaller expected count are pooled.
MIN_EXPECTED = 5.0


# ----------------------------------------------------------------------------- tests


@dataclass
class GTest:
    """A G-test result: statistic, degrees of freedom, p-value and impossible observations."""

    statistic: float
    df: int
    p_value: float
    impossible: int


def pool_cells(
    observed: np.ndarray, expected: np.ndarray, min_expected: float = MIN_EXPECTED
) -> tuple[np.ndarray, np.ndarray]:
    """Pool cells with ``0 < expected < min_expected`` (see module doc); drops ``expected == 0``."""
    observed, expected = np.asarray(observed, float), np.asarray(expected, float)
    live = expected > 0
    keep = live & (expected >= min_expected)
    rare = live & ~keep
    obs, exp = list(observed[keep]), list(expected[keep])
    if rare.any():
        o, e = observed[rare].sum(), expected[rare].sum()
        if e >= min_expected or not exp:
            obs.append(o)
            exp.append(e)
        else:
            j = int(np.argmin(exp))
            obs[j] += o
            exp[j] += e
    return np.array(obs), np.array(exp)


def g_test(observed: np.ndarray, expected: np.ndarray, min_expected: float = MIN_EXPECTED) -> GTest:
    """G-test of counts ``observed`` (V,) against expected counts (V,) with the same total."""
    observed, expected = np.asarray(observed, float), np.asarray(expected, float)
    impossible = int(observed[expected <= 0].sum())
    obs, exp = pool_cells(observed, expected, min_expected)
    df = len(obs) - 1
    if impossible:
        return GTest(float("inf"), max(df, 0), 0.0, impossible)
    if df < 1:
        return GTest(0.0, 0, 1.0, 0)
    exp = exp * (obs.sum() / exp.sum())  # same total (guards against rounding in the expectation)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(obs > 0, obs * np.log(obs / exp), 0.0)
    g = max(2.0 * float(terms.sum()), 0.0)
    return GTest(g, df, float(stats.chi2.sf(g, df)), 0)


def binomial_p_value(accepted: int, samples: int, rate: float, side: str) -> float:
    """P-value of ``accepted`` successes in ``samples`` trials at rate ``rate``.

    ``side``: ``"greater"`` (evidence the rate is above), ``"less"`` or ``"two-sided"``.
    """
    rate = min(max(rate, 0.0), 1.0)
    upper = float(stats.binom.sf(accepted - 1, samples, rate))
    lower = float(stats.binom.cdf(accepted, samples, rate))
    return {"greater": upper, "less": lower, "two-sided": min(1.0, 2 * min(upper, lower))}[side]


def noncentrality_for_power(df: int, level: float, power: float) -> float:
    """The noncentrality lambda at which a chi-square(df) test at ``level`` has ``power``."""
    crit = stats.chi2.isf(level, df)
    f = lambda lam: stats.ncx2.sf(crit, df, lam) - power  # noqa: E731
    hi = 1.0
    while f(hi) < 0:
        hi *= 2
    return float(optimize.brentq(f, 1e-12, hi, xtol=1e-10))


def detectable_tv(samples: int, df: int, level: float, power: float) -> float:
    """Smallest TV detected with probability >= ``power`` by a G-test at ``level`` (module doc)."""
    if df < 1:
        return float("nan")
    return float(np.sqrt(noncentrality_for_power(df, level, power) / (4.0 * samples)))


def detectable_rate_shift(samples: int, rate: float, level: float, power: float, two_sided: bool = False) -> float:
    """Smallest acceptance shift detected with ``power`` (normal approximation, module doc)."""
    z = stats.norm.isf(level / 2 if two_sided else level) + stats.norm.ppf(power)
    return float(z * np.sqrt(max(rate * (1 - rate), 1.0 / samples) / samples))
