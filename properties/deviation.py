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

Each :class:`Deviation` carries a ``validity`` error (the worst ``max(-min f, |sum f - 1|)``
over the conditionals the verifier returned, ``inf`` for a NaN or an infinity; None for a
sampling verifier, whose tokens are always a law) and a :attr:`Deviation.verdict`:
``invalid`` (validity above :data:`LAW_TOL`), ``deviates`` (exact TV above :data:`LAW_TOL`, or
an interval whose lower end clears what a perfect estimate shows), else ``lossless`` (exact)
or ``no deviation detected`` (an estimate, at its sample size).
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass
from typing import Any

import numpy as np

from multidraft.evaluate import conditionals, evaluate, validity_errors
from multidraft.validation import TooLargeError, check_int, check_probability

from .adapters import VerifierSpec
from .problem import Problem
from .progress import Progress
from .sampling import draw_outputs

#: Bootstrap replicates of the TV interval.
BOOTSTRAP = 200

#: Exact TV and validity errors above this are a finding (below: float64 rounding of a sum of
#: up to ``max_count`` terms).
LAW_TOL = 1e-9


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
    validity : float or None
        Worst law error of the conditionals returned (module doc); None for sampled outputs.
    """

    problem: Problem
    method: str
    tv: float
    interval: tuple[float, float] | None
    null_tv: float | None
    deviation: np.ndarray
    stderr: np.ndarray | None
    samples: int
    validity: float | None = None

    @property
    def verdict(self) -> str:
        """``"invalid"``, ``"deviates"``, ``"lossless"`` or ``"no deviation detected"`` (module doc)."""
        if self.validity is not None and not self.validity <= LAW_TOL:
            return "invalid"
        if self.interval is None:
            return "deviates" if not self.tv <= LAW_TOL else "lossless"
        floor = self.null_tv if self.null_tv is not None else 0.0
        return "deviates" if self.interval[0] > floor else "no deviation detected"

    @property
    def found(self) -> bool:
        """True when the verdict is a finding (``invalid`` or ``deviates``)."""
        return self.verdict in ("invalid", "deviates")

    def summary(self) -> str:
        valid = "" if self.validity is None else f", validity error {self.validity:.1e}"
        verdict = self.verdict.upper() if self.found else self.verdict
        if self.verdict == "invalid":
            return (
                f"{self.problem.describe()}: INVALID: the conditionals returned are not laws (validity error "
                f"max(-min f, |sum f - 1|) = {self.validity:.3e}; inf = NaN or infinite entries), so the TV "
                "is not measured"
            )
        if self.interval is None:
            return f"{self.problem.describe()}: exact TV = {self.tv:.3e}{valid}: {verdict}"
        lo, hi = self.interval
        null = "" if self.null_tv is None else f" (a perfect sampler gives ~{self.null_tv:.3e})"
        return (
            f"{self.problem.describe()}: {self.method} TV = {self.tv:.3e} [{lo:.3e}, {hi:.3e}] "
            f"with {self.samples} samples{null}{valid}: {verdict}"
        )


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


def _averaged(
    spec: VerifierSpec, problem: Problem, samples: int, seed: int, progress: Progress | None = None
) -> tuple[np.ndarray, np.ndarray]:
    law = problem.law()
    drafts = law.sample(samples, np.random.default_rng([int(seed), 0]))
    unique, counts = np.unique(drafts, axis=0, return_counts=True)
    conds = conditionals(
        _counted(spec.conditional(), progress), problem.target, law.draft_argument, unique, batched=spec.batched
    )
    w = counts / samples
    mean = w @ conds
    var = w @ (conds - mean) ** 2
    return mean, np.sqrt(var / samples), float(validity_errors(conds).max(initial=0.0))


def measure_deviation(
    spec: VerifierSpec,
    problem: Problem,
    *,
    samples: int = 100_000,
    seed: int = 0,
    max_count: int = 200_000,
    level: float = 0.95,
    progress: Progress | None = None,
) -> Deviation:
    """The deviation of ``spec``'s output law from p on ``problem`` (see module doc).

    ``progress`` (optional) is told of every verifier call.

    Raises
    ------
    InvalidInputError
        ``samples`` or ``max_count`` not an integer >= 1, ``seed`` not >= 0, ``level`` not in (0, 1).
    """
    samples = check_int(samples, "samples", min_value=1)
    max_count = check_int(max_count, "max_count", min_value=1)
    seed = check_int(seed, "seed", min_value=0)
    level = check_probability(level, "level")
    p = problem.target
    rng = np.random.default_rng([int(seed), 2])
    if spec.has_conditional:
        try:
            law = problem.law()
            verifier = _counted(spec.conditional(), progress, spec.batched)
            ev = evaluate(verifier, p, law.draft_argument, problem.n, drafting=law, max_count=max_count)
            return Deviation(
                problem, "exact", ev.tv, None, None, ev.marginal - p, None, ev.evaluated, ev.validity_error
            )
        except TooLargeError:
            pass
        mean, se, validity = _averaged(spec, problem, samples, seed, progress)
        if not validity <= LAW_TOL:
            nan = np.full(len(p), np.nan)
            return Deviation(problem, "averaged", float("nan"), None, None, nan, None, samples, validity)
        boot = mean + se * rng.standard_normal((BOOTSTRAP, len(p)))  # noise model of the estimate, not a law
        method, null = "averaged", None
    else:
        validity = None
        on_rows = None if progress is None else (lambda rows, seconds: progress.call())
        _, tokens = draw_outputs(spec, problem, samples, seed, on_rows=on_rows)
        mean = np.bincount(tokens, minlength=len(p)) / samples
        se = np.sqrt(mean * (1 - mean) / samples)
        boot = rng.multinomial(samples, mean, size=BOOTSTRAP) / samples
        method = "sampled"
        null = float(np.median(_tv(rng.multinomial(samples, p, size=BOOTSTRAP) / samples, p)))
    tv = float(_tv(mean, p))
    noise = float(np.percentile(_tv(boot, mean), 100 * level))
    return Deviation(problem, method, tv, (max(0.0, tv - noise), tv + noise), null, mean - p, se, samples, validity)


def plot_deviations(deviations: list[Deviation], path: str, *, verifier: str = "verifier") -> None:
    """Per-token deviation (output - p) bars, one panel per problem, +-2 standard errors; PNG via Agg.

    The figure is titled with ``verifier``; each panel with the problem and its verdict. Bars
    are red where the deviation is a finding (:attr:`Deviation.verdict`), blue otherwise, and a
    legend says so. A panel whose deviations are all at rounding level (below :data:`LAW_TOL`)
    is drawn on a fixed +-LAW_TOL scale, so float64 rounding (1e-17) never shows as large bars;
    an invalid output (no law to compare) is an empty panel that says so.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch
    from matplotlib.ticker import MaxNLocator

    fig, axes = plt.subplots(len(deviations), 1, figsize=(8, 2.6 * len(deviations) + 0.6), squeeze=False)
    for ax, dev in zip(axes[:, 0], deviations):
        tokens = np.arange(len(dev.deviation))
        finite = np.isfinite(dev.deviation).all()
        if finite:
            ax.bar(
                tokens,
                dev.deviation,
                color="tab:red" if dev.found else "tab:blue",
                yerr=None if dev.stderr is None else 2 * dev.stderr,
                capsize=2,
            )
            spread = np.abs(dev.deviation) + (0 if dev.stderr is None else 2 * dev.stderr)
            if spread.max(initial=0.0) < LAW_TOL:
                ax.set_ylim(-LAW_TOL, LAW_TOL)
                ax.text(
                    0.01,
                    0.9,
                    f"all |output - p| < {LAW_TOL:g} (rounding level)",
                    transform=ax.transAxes,
                    fontsize=7,
                    va="top",
                )
        else:
            ax.text(
                0.5,
                0.5,
                "invalid output: no law to compare with p",
                transform=ax.transAxes,
                ha="center",
                color="tab:red",
            )
        ax.axhline(0, color="black", linewidth=0.8)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylabel("output - p")
        ax.set_title("\n".join(textwrap.wrap(dev.summary(), 110)), fontsize=8)
    axes[-1, 0].set_xlabel("token")
    handles = [Patch(color="tab:red", label="deviation found"), Patch(color="tab:blue", label="no deviation found")]
    if any(d.stderr is not None for d in deviations):
        handles.append(Patch(facecolor="none", edgecolor="black", label="error bars: +-2 standard errors"))
    fig.legend(handles=handles, loc="upper right", fontsize=7, ncol=len(handles))
    fig.suptitle(f"output law - p of {verifier}", fontsize=10, x=0.02, ha="left")
    fig.tight_layout(rect=(0, 0, 1, 0.97))
    fig.savefig(path, dpi=100)
    plt.close(fig)
