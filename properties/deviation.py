"""Measure a verifier's output-law deviation from p on given problems (``multidraft deviation``).

Three methods, the most exact one available:

``exact``     conditional verifier, enumerable support: the output law is computed exactly by
              :func:`multidraft.evaluate`; ``TV = 0.5 sum |marginal - p|`` with no error bar.
``averaged``  conditional verifier, support too large: N drafts are sampled and the output law
              estimated by the mean of the conditionals ``(1/N) sum_i f(.|x_i)`` (lower variance
              than sampling outputs); per-token standard errors from the sample variance.
``sampled``   sampling verifier: N outputs; the law is estimated by the frequencies, per-token
              standard error ``sqrt(r (1 - r) / N)``.

For the two estimates ``r_hat`` of the output law r, the interval comes from the triangle
inequality ``|TV(r_hat, p) - TV(r, p)| <= TV(r_hat, r)``: with ``c`` the ``level`` quantile of
the estimation noise ``TV(r_hat, r)``, the interval ``[max(0, TV(r_hat, p) - c), TV(r_hat, p) + c]``
covers ``TV(r, p)`` with probability >= ``level``. ``c`` is estimated by a parametric
bootstrap (``B = 200`` replicates: a multinomial resample of the frequencies, or a Gaussian
resample of the averaged law with its standard errors; ``c`` = quantile of ``TV(r_star, r_hat)``).
(A percentile interval of the bootstrapped plug-in TV would not do: the plug-in TV is biased
upwards by noise, by far more than the deviation when the deviation is small.) The
``sampled`` method also gives ``null_tv``: the median plug-in TV of a *perfect* sampler at the
same N (a multinomial draw from p); an estimate near ``null_tv`` is no evidence of deviation.
"""
from __future__ import annotations

import textwrap
from dataclasses import dataclass
from typing import Any

import numpy as np

from multidraft.evaluate import conditionals, evaluate
from multidraft.validation import TooLargeError

from .adapters import VerifierSpec
from .problem import Problem
from .progress import Progress
from .sampling import draw_outputs

#: Bootstrap replicates of the TV interval.
BOOTSTRAP = 200


@dataclass
class Deviation:
    """Output-law deviation of one verifier on one problem.

    Attributes
    ----------
    problem : Problem
    method : {"exact", "averaged", "sampled"}
    tv : float
        TV(output law, p) (exact) or its plug-in estimate.
    interval : (float, float) or None
        Interval covering the TV with probability >= ``level`` (module doc; None when exact).
    null_tv : float or None
        Median plug-in TV of a perfect sampler at the same N (None when exact).
    deviation : (V,) float64
        Output law minus p, per token.
    stderr : (V,) float64 or None
        Standard error of ``deviation`` per token.
    samples : int
    """

    problem: Problem
    method: str
    tv: float
    interval: tuple[float, float] | None
    null_tv: float | None
    deviation: np.ndarray
    stderr: np.ndarray | None
    samples: int

    def summary(self) -> str:
        if self.interval is None:
            return f"{self.problem.describe()}: exact TV = {self.tv:.3e}"
        lo, hi = self.interval
        null = "" if self.null_tv is None else f" (a perfect sampler gives ~{self.null_tv:.3e})"
        return (f"{self.problem.describe()}: {self.method} TV = {self.tv:.3e} [{lo:.3e}, {hi:.3e}] "
                f"with {self.samples} samples{null}")


def _tv(law: np.ndarray, p: np.ndarray) -> np.ndarray:
    return 0.5 * np.abs(law - p).sum(axis=-1)


def _counted(fn: Any, progress: Progress | None, batched: bool = False) -> Any:
    """``fn`` reporting each call to ``progress`` (``batched`` kept for the evaluator)."""
    def call(*args: Any) -> Any:
        out = fn(*args)
        if progress is not None:
            progress.call()
        return out

    call.batched = batched
    return call


def _averaged(spec: VerifierSpec, problem: Problem, samples: int, seed: int,
              progress: Progress | None = None) -> tuple[np.ndarray, np.ndarray]:
    law = problem.law()
    drafts = law.sample(samples, np.random.default_rng([int(seed), 0]))
    unique, counts = np.unique(drafts, axis=0, return_counts=True)
    conds = conditionals(_counted(spec.conditional(), progress), problem.target, law.draft_argument, unique,
                         batched=spec.batched)
    w = counts / samples
    mean = w @ conds
    var = w @ (conds - mean) ** 2
    return mean, np.sqrt(var / samples)


def measure_deviation(spec: VerifierSpec, problem: Problem, *, samples: int = 100_000, seed: int = 0,
                      max_count: int = 200_000, level: float = 0.95, progress: Progress | None = None) -> Deviation:
    """The deviation of ``spec``'s output law from p on ``problem`` (see module doc).

    ``progress`` (optional) is told of every verifier call.
    """
    p = problem.target
    rng = np.random.default_rng([int(seed), 2])
    if spec.has_conditional:
        try:
            law = problem.law()
            verifier = _counted(spec.conditional(), progress, spec.batched)
            ev = evaluate(verifier, p, law.draft_argument, problem.n, drafting=law, max_count=max_count)
            return Deviation(problem, "exact", ev.tv, None, None, ev.marginal - p, None, ev.evaluated)
        except TooLargeError:
            pass
        mean, se = _averaged(spec, problem, samples, seed, progress)
        boot = mean + se * rng.standard_normal((BOOTSTRAP, len(p)))  # noise model of the estimate, not a law
        method, null = "averaged", None
    else:
        on_rows = None if progress is None else (lambda rows, seconds: progress.call())
        _, tokens = draw_outputs(spec, problem, samples, seed, on_rows=on_rows)
        mean = np.bincount(tokens, minlength=len(p)) / samples
        se = np.sqrt(mean * (1 - mean) / samples)
        boot = rng.multinomial(samples, mean, size=BOOTSTRAP) / samples
        method = "sampled"
        null = float(np.median(_tv(rng.multinomial(samples, p, size=BOOTSTRAP) / samples, p)))
    tv = float(_tv(mean, p))
    noise = float(np.percentile(_tv(boot, mean), 100 * level))
    return Deviation(problem, method, tv, (max(0.0, tv - noise), tv + noise), null, mean - p, se, samples)


def plot_deviations(deviations: list[Deviation], path: str) -> None:
    """Per-token deviation (output - p) bars, one panel per problem, +-2 standard errors; PNG via Agg.

    Bars are red where the deviation is real: an exact TV above 1e-9, or a sampled TV whose
    interval lies above the TV a perfect sampler shows; blue otherwise.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    fig, axes = plt.subplots(len(deviations), 1, figsize=(8, 2.6 * len(deviations)), squeeze=False)
    for ax, dev in zip(axes[:, 0], deviations):
        tokens = np.arange(len(dev.deviation))
        if dev.interval is None:  # exact: red beyond rounding level
            deviating = dev.tv > 1e-9
        else:  # estimate: red when the interval clears what a perfect sampler shows
            deviating = dev.null_tv is not None and dev.interval[0] > dev.null_tv
        ax.bar(tokens, dev.deviation, color="tab:red" if deviating else "tab:blue",
               yerr=None if dev.stderr is None else 2 * dev.stderr, capsize=2)
        ax.axhline(0, color="black", linewidth=0.8)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylabel("output - p")
        ax.set_title("\n".join(textwrap.wrap(dev.summary(), 110)), fontsize=8)
    axes[-1, 0].set_xlabel("token")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
