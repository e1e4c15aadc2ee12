"""The checker: run the exact and statistical properties on generated problems.

Exact mode (conditional verifiers). For every required property of
:data:`~multidraft.properties.suite.EXACT_PROPERTIES` the property is first measured on the
deterministic slate of extreme regimes (:mod:`~multidraft.properties.slate`) and on the
problems of any extra source (``CheckConfig.sources``); if none fails, hypothesis searches
the problem space (:func:`~multidraft.properties.strategies.problems`), guided by
``hypothesis.target`` towards the worst measured value; a failure is shrunk to a minimal
counterexample and printed as a snippet. Evaluations are cached per problem, so properties
searched with the same seed share them. Info properties are measured on every problem seen.
A verifier output holding a NaN or an infinity is a hazard, reported by its own row and kept
out of the other properties (:mod:`~multidraft.properties.suite`), so it hides no other fault.

Statistical mode (sampling verifiers, and verifiers with both interfaces when ``samples``
is given). ``stat_problems`` problems are drawn from the same strategy (generation only, no
shrinking: each extra problem would be an extra test), and every test of
:func:`~multidraft.properties.sampling.test_names` runs at level ``alpha / (problems * tests)``.
Then ``reproducible`` (same seed, same output) is checked once, on the first problem, with
the same number of samples (its first run is the measured one). Before sampling, the
minimum detectable TV of every problem and (after two calls) a time estimate are printed.

:func:`verifier_suite` is the entry point for users' pytest functions.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np
from hypothesis import Phase, Verbosity, given, seed, settings
from hypothesis import target as hypothesis_target

from multidraft.logits import SamplingParams
from multidraft.reference import optimal_acceptance_for
from multidraft.validation import (
    InvalidInputError,
    check_choice,
    check_distribution,
    check_int,
    check_n,
    check_positive_float,
    check_probability,
    check_range,
    check_same_vocab,
    to_numpy,
)

from . import exact_sampling, serving
from .adapters import VerifierSpec, resolve, verifier_traceback
from .problem import DRAFTINGS, Problem
from .progress import Progress, VerifierTimeout
from .report import PropertyResult, Report
from .sampling import SAMPLING_BACKENDS, call_sizes, draw_outputs, measure_problem, reproducibility, test_names
from .slate import slate
from .stats import ALPHA, MIN_EXPECTED, detectable_tv, pool_cells
from .strategies import MAX_TUPLES, PROFILES, feasible_ns, problems, profile_settings
from .suite import EXACT_PROPERTIES, TOL, Measurement, ProblemContext, Property, snippet


@dataclass
class CheckConfig:
    """Settings of one check (the options of ``multidraft check``).

    Attributes
    ----------
    drafting : str or None
        Drafting law; None uses the verifier's declared ``drafting`` (else ``"iid"``).
    n, vocab : (lo, hi)
        Ranges of the number of drafts and the vocabulary size.
    examples : int or None
        Hypothesis examples per exact property (None: the profile's).
    samples : int
        Samples per problem in statistical mode (0: no statistical tests for verifiers with
        a conditional interface).
    stat_problems : int
        Problems in statistical mode.
    profile : {"quick", "thorough"}
    seed : int
        Seeds hypothesis and every sampler.
    optimal : bool or None
        Require acceptance >= alpha* - tol; None uses the verifier's ``optimal`` claim.
    tol : float
        Tolerance of the exact properties.
    alpha : float
        Family-wise false-alarm rate of the statistical tests.
    max_tuples : int
        Cap on enumerated draft tuples per problem.
    backend : {"torch", "numpy"}
        Array type and generator handed to a sampling verifier.
    progress : bool
        Show a tqdm bar on stderr (when it is a terminal) and, in statistical mode, the
        pre-run estimate of detectable TV and time.
    sampling : SamplingParams or None
        Temperature / top-k / top-p applied to p and q of every problem (:mod:`.serving`).
    dtype : {None, "float64", "float32", "bfloat16", "float16"}
        Round p and q to this dtype and report the ``dtype_deviation`` row (:mod:`.serving`).
    dtype_tol : float or None
        Fail ``dtype_deviation`` above this TV (None: an info row).
    timeout : float or None
        Per-call timeout in seconds: a longer verifier call is a failure (None: none).
    slate : bool
        Start every exact property with the slate of extreme regimes (:mod:`.slate`).
    sources : tuple of callables
        Extra problem sources, measured after the slate and before the search: each
        ``source(drafting, n, vocab, max_tuples, law_factory) -> list[Problem]``.
    """

    drafting: str | None = None
    n: tuple[int, int] = (1, 4)
    vocab: tuple[int, int] = (2, 6)
    examples: int | None = None
    samples: int = 0
    stat_problems: int = 4
    profile: str = "quick"
    seed: int = 0
    optimal: bool | None = None
    tol: float = TOL
    alpha: float = ALPHA
    max_tuples: int = MAX_TUPLES
    backend: str = "torch"
    progress: bool = False
    sampling: SamplingParams | None = None
    dtype: str | None = None
    dtype_tol: float | None = None
    timeout: float | None = None
    slate: bool = True
    sources: tuple[Callable[..., list[Problem]], ...] = field(default_factory=tuple)


def validate_config(config: CheckConfig) -> CheckConfig:
    """The settings of ``config`` checked and normalised (``n``/``vocab`` as ``(lo, hi)``).

    Raises
    ------
    InvalidInputError
        Naming the first bad setting: ``n``/``vocab`` not a range of integers (``vocab`` >= 2:
        a one-token problem has nothing to check), ``examples``/``stat_problems``/``max_tuples``
        not >= 1, ``samples`` or ``seed`` not >= 0, ``tol`` not > 0, ``alpha`` not in (0, 1),
        an unknown ``profile`` or ``backend``.
    """
    return replace(
        config,
        n=check_range(config.n, "n"),
        vocab=check_range(config.vocab, "vocab", min_value=2),
        examples=None if config.examples is None else check_int(config.examples, "examples", min_value=1),
        samples=check_int(config.samples, "samples", min_value=0),
        stat_problems=check_int(config.stat_problems, "stat_problems", min_value=1),
        profile=check_choice(config.profile, "profile", sorted(PROFILES)),
        seed=check_int(config.seed, "seed", min_value=0),
        tol=check_positive_float(config.tol, "tol"),
        alpha=check_probability(config.alpha, "alpha"),
        max_tuples=check_int(config.max_tuples, "max_tuples", min_value=1),
        backend=check_choice(config.backend, "backend", SAMPLING_BACKENDS),
    )


# ----------------------------------------------------------------------------- exact mode


def law_factory_of(spec: VerifierSpec, drafting: str) -> Any:
    """The verifier's own ``law(draft, n)`` when it declares a drafting law of its own."""
    method = getattr(spec.verifier, "law", None)
    return method if drafting not in DRAFTINGS and drafting == spec.drafting and callable(method) else None


class _Contexts:
    """Problem contexts cached by problem identity; the progress moves per example and per call."""

    def __init__(self, spec: VerifierSpec, max_count: int, progress: Progress):
        self.spec, self.max_count, self.progress = spec, max_count, progress
        self.items: dict[tuple, ProblemContext] = {}

    def get(self, problem: Problem) -> ProblemContext:
        key = problem.key()
        if key not in self.items:
            self.items[key] = ProblemContext(self.spec, problem, self.max_count, self.progress.call)
        return self.items[key]

    def measure(self, prop: Property, problem: Problem, tol: float) -> Measurement:
        """``prop`` on ``problem`` (one example of the progress)."""
        m = prop.measure(self.get(problem), tol)
        self.progress.advance()
        return m


#: Measured values below this are rounding noise; hypothesis is not steered by them.
TARGET_FLOOR = 1e-13


class _Violation(Exception):
    """Raised inside the hypothesis search when a property fails on a problem."""


@dataclass
class _Worst:
    value: float = -math.inf
    measurement: Measurement | None = None
    problem: Problem | None = None
    count: int = 0

    def observe(self, m: Measurement, problem: Problem) -> None:
        self.count += 1
        if m.value > self.value or self.problem is None:
            self.value, self.measurement, self.problem = m.value, m, problem


def _search(
    prop: Property, strategy: Any, contexts: _Contexts, config: CheckConfig, base: settings, fixed: list[Problem]
) -> tuple[_Worst, tuple[Problem, Measurement] | None]:
    """The fixed problems, then a hypothesis search for a violation of ``prop``.

    Returns the worst seen and the failure: the first fixed problem that fails (the slate is
    ordered simplest first), else hypothesis's shrunk one.
    """
    worst = _Worst()
    failure: list[tuple[Problem, Measurement]] = []
    for problem in fixed:
        m = contexts.measure(prop, problem, config.tol)
        worst.observe(m, problem)
        if not m.ok:
            return worst, (problem, m)

    @seed(config.seed)
    @settings(
        base, verbosity=Verbosity.quiet, database=None, **({"max_examples": config.examples} if config.examples else {})
    )
    @given(strategy)
    def search(problem: Problem) -> None:
        m = contexts.measure(prop, problem, config.tol)
        worst.observe(m, problem)
        if m.value > TARGET_FLOOR:  # steer towards larger violations, never towards rounding noise
            hypothesis_target(float(min(np.log10(m.value), 300.0)), label=prop.name)
        if not m.ok:
            failure.append((problem, m))  # the last one recorded is hypothesis's shrunk example
            raise _Violation(m.detail)

    try:
        search()
    except _Violation:
        pass
    return worst, (failure[-1] if failure else None)


def _result(
    prop: Property,
    status: str,
    worst: _Worst,
    config: CheckConfig,
    spec: VerifierSpec,
    failure: tuple[Problem, Measurement] | None,
) -> PropertyResult:
    if failure is not None:
        problem, m = failure
        kind = "counterexample" if problem.origin.startswith("slate") else "minimal counterexample"
        return PropertyResult(
            prop.name,
            "exact",
            "fail",
            prop.measure_label,
            worst.value,
            config.tol,
            worst.count,
            problem,
            f"{kind}: {m.detail}",
            snippet(spec, problem, m.call),
            m.extra,
        )
    detail = worst.measurement.detail if worst.measurement else ""
    extra = worst.measurement.extra if worst.measurement else {}
    return PropertyResult(
        prop.name,
        "exact",
        status,
        prop.measure_label,
        max(worst.value, 0.0),
        config.tol,
        worst.count,
        worst.problem,
        detail,
        None,
        extra,
    )


def fixed_problems(config: CheckConfig, drafting: str, law_factory: Any) -> list[Problem]:
    """The slate (if ``config.slate``) and the problems of ``config.sources``, in that order,
    processed as a serving engine would see them (:func:`.serving.serving_problems`)."""
    args = (drafting, config.n, config.vocab, config.max_tuples, law_factory)
    out = slate(*args, profile=config.profile) if config.slate else []
    for source in config.sources:
        out += list(source(*args))
    return serving.serving_problems(out, config)


def run_exact(
    spec: VerifierSpec, config: CheckConfig, drafting: str, optimal: bool, extra: tuple[Property, ...] = ()
) -> list[PropertyResult]:
    """All exact properties (and ``extra`` ones) on the fixed and the generated problems (see module doc)."""
    law_factory = law_factory_of(spec, drafting)
    strategy = serving.wrap_strategy(
        problems(
            drafting=drafting, n=config.n, vocab=config.vocab, max_tuples=config.max_tuples, law_factory=law_factory
        ),
        config,
    )
    fixed = fixed_problems(config, drafting, law_factory)
    base = profile_settings(config.profile)
    examples = config.examples or base.max_examples
    required = [(prop, prop.required(spec, optimal)) for prop in EXACT_PROPERTIES + tuple(extra)]
    searched = sum(1 for _, r in required if r)
    progress = Progress(config.progress, f"checking {spec.name}", searched * (len(fixed) + examples), "examples")
    contexts = _Contexts(spec, max(config.max_tuples, 1), progress)
    results: list[PropertyResult | None] = []
    info: list[Property] = []
    try:
        for prop, needed in required:
            if needed is None:
                continue
            if not needed:
                info.append(prop)
                results.append(None)
                continue
            progress.note(prop.name)
            worst, failure = _search(prop, strategy, contexts, config, base, fixed)
            results.append(_result(prop, "pass", worst, config, spec, failure))
        for prop in info:  # measured on every problem the searches visited
            worst = _Worst()
            for ctx in list(contexts.items.values()):
                worst.observe(prop.measure(ctx, config.tol), ctx.problem)
            results[results.index(None)] = _result(prop, "info", worst, config, spec, None)
    finally:
        progress.close()
    return [r for r in results if r is not None]


def run_exact_given(
    spec: VerifierSpec, config: CheckConfig, optimal: bool, plist: list[Problem]
) -> list[PropertyResult]:
    """All exact properties on the given problems (no search): the worst problem, or the first failing one."""
    contexts = [ProblemContext(spec, problem, max(config.max_tuples, 1)) for problem in plist]
    out = []
    for prop in EXACT_PROPERTIES:
        required = prop.required(spec, optimal)
        if required is None:
            continue
        worst, failure = _Worst(), None
        for ctx in contexts:
            m = prop.measure(ctx, config.tol)
            worst.observe(m, ctx.problem)
            if required and not m.ok and failure is None:
                failure = (ctx.problem, m)
        out.append(_result(prop, "pass" if required else "info", worst, config, spec, failure))
    return out


# ----------------------------------------------------------------------------- statistical mode

#: The statistical mode generates this many candidate problems per problem it keeps.
CANDIDATES_PER_PROBLEM = 10


def stat_problem_list(config: CheckConfig, drafting: str, spec: VerifierSpec | None = None) -> list[Problem]:
    """``config.stat_problems`` problems drawn from the strategy (generation phase only, seeded).

    ``CANDIDATES_PER_PROBLEM`` times as many are generated; those with the most tokens of
    expected count ``samples * p >= MIN_EXPECTED`` (the output-law test's cells) are kept, in generation order among equals.
    """
    candidates: dict[tuple, tuple[int, int, Problem]] = {}
    strategy = serving.wrap_strategy(
        problems(
            drafting=drafting,
            n=config.n,
            vocab=config.vocab,
            max_tuples=config.max_tuples,
            law_factory=law_factory_of(spec, drafting) if spec is not None else None,
        ),
        config,
    )

    @seed(config.seed)
    @settings(
        max_examples=CANDIDATES_PER_PROBLEM * config.stat_problems,
        phases=[Phase.generate],
        deadline=None,
        database=None,
        verbosity=Verbosity.quiet,
        suppress_health_check=list(profile_settings("quick").suppress_health_check),
    )
    @given(strategy)
    def collect(problem: Problem) -> None:
        cells = int(np.count_nonzero(max(config.samples, 1) * problem.target >= MIN_EXPECTED))
        if cells >= 2 and problem.key() not in candidates:
            candidates[problem.key()] = (-cells, len(candidates), problem)

    collect()
    return [c[2] for c in sorted(candidates.values(), key=lambda c: c[:2])[: config.stat_problems]]


def detectable_summary(plist: list[Problem], samples: int, level: float, power: float = 0.9) -> tuple[float, float]:
    """(smallest, largest) TV the output-law test detects with ``power`` over the problems.

    Its degrees of freedom on a problem are the cells left after pooling expected counts
    ``samples * p`` below 5, minus one (:func:`~multidraft.properties.stats.pool_cells`).
    """
    values = []
    for problem in plist:
        expected = samples * problem.target
        df = len(pool_cells(np.zeros_like(expected), expected)[1]) - 1
        values.append(detectable_tv(samples, df, level, power) if df >= 1 else math.nan)
    finite = [v for v in values if math.isfinite(v)]
    return (min(finite), max(finite)) if finite else (math.nan, math.nan)


class _SampleClock:
    """Counts sampled rows for the progress bar; after two calls prints the time estimate.

    The estimate fits ``seconds = a + b * rows`` per call to the first two calls (1024 and
    2048 rows by :func:`~multidraft.properties.stats.call_sizes`) and sums it over every call
    the check will make (``calls``), so a fixed per-call overhead is not taken for a per-row cost.
    """

    def __init__(self, progress: Progress, total: int, calls: list[int]):
        self.progress, self.total, self.calls = progress, total, calls
        self.seen: list[tuple[int, float]] = []
        self.done, self.spent, self.revised = 0, 0.0, False

    def __call__(self, rows: int, seconds: float) -> None:
        self.progress.advance(rows)
        self.done, self.spent = self.done + rows, self.spent + seconds
        if len(self.seen) >= 2:
            if not self.revised and len(self.calls) > 2 and rows == max(self.calls):
                # the first call of full size: the cost per row of large calls can differ (caches, threads)
                self.revised = True
                left = seconds / rows * (self.total - self.done)
                self.progress.message(
                    f"  sampling: {1e3 * seconds / rows:.3g} ms a row in calls of {rows} rows, "
                    f"so about {_duration(self.spent + left)} in all (revised)"
                )
            return
        self.seen.append((rows, seconds))
        if len(self.seen) == 2 or len(self.calls) == 1:
            (r0, s0), (r1, s1) = self.seen[0], self.seen[-1]
            per_row = (s1 - s0) / (r1 - r0) if r1 != r0 else s1 / max(r1, 1)
            per_row = max(per_row, 0.0)
            overhead = max(s1 - per_row * r1, 0.0)
            estimate = overhead * len(self.calls) + per_row * self.total
            self.progress.message(
                f"  sampling: {1e3 * per_row:.3g} ms a row + {1e3 * overhead:.3g} ms a call, "
                f"so about {_duration(estimate)} for {self.total} rows in {len(self.calls)} calls"
            )


def _duration(seconds: float) -> str:
    return f"{seconds:.1f} s" if seconds < 120 else f"{seconds / 60:.1f} min"


def run_stats(
    spec: VerifierSpec, config: CheckConfig, drafting: str, optimal: bool, problem_list: list[Problem] | None = None
) -> list[PropertyResult]:
    """The statistical tests on ``stat_problems`` problems, Bonferroni at ``config.alpha``."""
    plist = problem_list if problem_list is not None else stat_problem_list(config, drafting, spec)
    names = test_names(spec, optimal)
    level = config.alpha / max(1, len(plist) * len(names))
    per_name: dict[str, list[tuple[Any, Problem]]] = {name: [] for name in names}
    total = config.samples * (len(plist) + (1 if plist else 0))  # + the reproducibility rerun
    progress = Progress(config.progress, f"sampling {spec.name}", total, "rows")
    lo, hi = detectable_summary(plist, config.samples, level)
    progress.message(
        f"multidraft check {spec.name}: {len(plist)} problems x {config.samples} samples, level "
        f"{level:.2g} per test; detectable TV (90% power) {lo:.2g}" + (f" .. {hi:.2g}" if hi > lo else "")
    )
    calls = call_sizes(config.samples) * (len(plist) + (1 if plist else 0))
    clock = _SampleClock(progress, total, calls)
    first_tokens = None
    try:
        for i, problem in enumerate(plist):
            alpha_star = optimal_acceptance_for(problem.target, problem.law())
            try:
                outputs = draw_outputs(spec, problem, config.samples, config.seed + i, config.backend, on_rows=clock)
                measured = measure_problem(
                    spec,
                    problem,
                    samples=config.samples,
                    level=level,
                    seed=config.seed + i,
                    optimal=optimal,
                    alpha_star=alpha_star,
                    backend=config.backend,
                    outputs=outputs,
                )
            except (InvalidInputError, VerifierTimeout):
                raise
            except Exception as exc:  # a crash of the verifier is a finding, reported once
                return [_crashed(spec, problem, exc, config)]
            if i == 0:
                first_tokens = outputs[1]
            for m in measured:
                per_name[m.name].append((m, problem))
        repro = _reproducible(spec, plist[0], config, first_tokens, clock) if plist else None
    except VerifierTimeout as exc:
        return [
            PropertyResult(
                "timeout",
                "stat",
                "fail",
                "seconds per call",
                float(config.timeout or 0),
                float(config.timeout or 0),
                len(plist),
                None,
                str(exc),
            )
        ]
    finally:
        progress.close()
    out = []
    for name in names:
        if not per_name[name]:
            continue
        m, problem = min(per_name[name], key=lambda mp: mp[0].p_value)
        failed = m.p_value < level
        snip = None
        if failed:
            head = ["import numpy as np", "from multidraft.properties import verifier_suite"]
            snip = "\n".join(
                head
                + [line for line in spec.source if line not in head]
                + problem.snippet_lines()
                + [
                    f"# {name} failed at p = {m.p_value:.3g} < level {level:.3g} with {config.samples} "
                    "samples; rerun the statistical check on this problem:",
                    f"print(verifier_suite(verifier, interface={spec.interface!r}, problems=[(target, draft, "
                    f"n)], drafting={problem.drafting!r}, samples={config.samples}, seed={config.seed}, "
                    f"stat_seed_offset={plist.index(problem)}))",
                ]
            )
        out.append(
            PropertyResult(
                name,
                "stat",
                "fail" if failed else "pass",
                "min p-value",
                m.p_value,
                level,
                len(per_name[name]),
                problem,
                m.detail,
                snip,
                {"estimate": m.estimate, "estimate_measure": m.measure, **m.detectable},
            )
        )
    if repro is not None:
        out.append(repro)
    return out


def _crashed(spec: VerifierSpec, problem: Problem, exc: Exception, config: CheckConfig) -> PropertyResult:
    """The one ``sampling`` failure of a sampling verifier that raised, with its traceback."""
    snip = "\n".join(
        [
            "import numpy as np",
            "from multidraft.properties.adapters import resolve",
            "from multidraft.properties.problem import Problem",
            "from multidraft.properties.sampling import draw_outputs",
        ]
        + spec.source
        + problem.snippet_lines()
        + [
            f"spec, problem = resolve(verifier, {spec.interface!r}), Problem(target, draft, n, {problem.drafting!r})",
            f"draw_outputs(spec, problem, {config.samples}, {config.seed}, {config.backend!r})  # raises",
        ]
    )
    return PropertyResult(
        "sampling",
        "stat",
        "fail",
        "crashed",
        math.inf,
        0.0,
        1,
        problem,
        f"the verifier raised {verifier_traceback(exc)}",
        snip,
    )


def _reproducible(
    spec: VerifierSpec, problem: Problem, config: CheckConfig, first: np.ndarray | None = None, on_rows: Any = None
) -> PropertyResult:
    """Same seed, same output (see :func:`~multidraft.properties.sampling.reproducibility`)."""
    differing, compared = reproducibility(spec, problem, config.samples, config.seed, config.backend, first, on_rows)
    generator = (
        "torch.Generator().manual_seed(seed)" if config.backend == "torch" else "numpy.random.default_rng([seed, 1])"
    )
    detail = (
        f"{differing} of {compared} outputs differ between two runs with the same drafts and a generator "
        f"{generator}, seed {config.seed}"
    )
    snip = None
    if differing:
        head = [
            "import numpy as np",
            "from multidraft.properties.adapters import resolve",
            "from multidraft.properties.problem import Problem",
            "from multidraft.properties.sampling import draw_outputs",
        ]
        snip = "\n".join(
            head
            + [line for line in spec.source if line not in head]
            + problem.snippet_lines()
            + [
                f"spec, problem = resolve(verifier, {spec.interface!r}), Problem(target, draft, n, "
                f"{problem.drafting!r})",
                f"first = draw_outputs(spec, problem, {compared}, {config.seed}, {config.backend!r})[1]",
                f"second = draw_outputs(spec, problem, {compared}, {config.seed}, {config.backend!r})[1]",
                "print((first != second).sum())  # expected: 0 (same seed, same output)",
            ]
        )
    return PropertyResult(
        "reproducible",
        "stat",
        "fail" if differing else "pass",
        "outputs differing",
        float(differing),
        0.0,
        1,
        problem,
        detail,
        snip,
        {"compared": compared},
    )


# ----------------------------------------------------------------------------- entry points


def check(
    target: Any,
    config: CheckConfig | None = None,
    *,
    interface: str | None = None,
    problem_list: list[Problem] | None = None,
) -> Report:
    """Check a verifier (name, ``module:object`` or object) and return a :class:`Report`."""
    config = validate_config(config or CheckConfig())
    harness = None
    if interface in exact_sampling.HARNESS_INTERFACES:  # exact mode for sampling code (exact_sampling.py)
        harness = exact_sampling.plan(target, interface, config)
        spec, config = harness.spec, harness.config
    else:
        spec = resolve(target, interface)
    drafting = config.drafting or spec.drafting or "iid"
    law_factory = law_factory_of(spec, drafting)
    if law_factory is None:
        check_choice(drafting, "drafting", DRAFTINGS)
    if law_factory is not None:  # a faulty law of the user's is bad input, named up front (not a verifier crash)
        first = slate(drafting, config.n, config.vocab, config.max_tuples, law_factory)
        if first:
            first[0].law()
    check_choice(config.backend, "backend", SAMPLING_BACKENDS)
    if config.timeout is not None:
        spec = replace(spec, timeout=config.timeout)
    optimal = spec.optimal if config.optimal is None else bool(config.optimal)
    samples = config.samples
    if spec.interface == "sampling" and samples <= 0:
        raise InvalidInputError("samples: a sampling verifier is checked statistically; pass samples > 0")
    results: list[PropertyResult] = []
    if spec.has_conditional:
        results += (
            run_exact(spec, config, drafting, optimal, harness.extra_properties() if harness else ())
            if problem_list is None
            else run_exact_given(spec, config, optimal, problem_list)
        )
    if harness is not None and harness.exact and exact_sampling.untraceable_crash(results):
        harness = exact_sampling.fallback(
            resolve(target, "sampling"), interface, config, exact_sampling.untraceable_crash(results)
        )
        spec, config, samples, results = harness.spec, harness.config, harness.config.samples, []
    if spec.has_sampling and samples > 0:
        results += run_stats(spec, config, drafting, optimal, problem_list)
    if harness is not None:
        results.append(harness.report_row())
    if config.dtype not in (None, "float64"):
        chosen = problem_list or stat_problem_list(replace(config, samples=config.samples or 100_000), drafting, spec)
        results.append(serving.dtype_row(spec, config, chosen))
    settings_dict = {k: v for k, v in asdict(config).items() if k not in ("progress", "sources")}
    settings_dict["sources"] = [getattr(src, "__name__", repr(src)) for src in config.sources]
    settings_dict.update(drafting=drafting, optimal=optimal, interface=interface if harness else spec.interface)
    if problem_list is None:
        ns = feasible_ns(config.n, config.vocab, config.max_tuples, drafting)
        settings_dict["n_checked"] = (min(ns), max(ns)) if ns else None
    return Report(spec.name, results, settings_dict)


def verifier_suite(
    verifier: Any,
    *,
    interface: str | None = None,
    drafting: str | None = None,
    optimal: bool | None = None,
    profile: str = "quick",
    n: Any = (1, 4),
    vocab: Any = (2, 6),
    examples: int | None = None,
    samples: int | None = None,
    stat_problems: int = 4,
    seed: int = 0,
    tol: float = TOL,
    alpha: float = ALPHA,
    backend: str = "torch",
    problems: list[tuple[Any, Any, int]] | None = None,
    stat_seed_offset: int = 0,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    dtype: str | None = None,
    dtype_tol: float | None = None,
    timeout: float | None = None,
    slate: bool = True,
    sources: tuple[Callable[..., list[Problem]], ...] = (),
) -> Report:
    """Run the property suite on ``verifier``; use inside a test: ``verifier_suite(f).raise_if_failed()``.

    Parameters
    ----------
    verifier : callable, object with ``.conditional``/``.sample``, built-in name or ``"module:object"``
    interface : {"conditional", "sampling", "both"}, optional
        Detected when omitted (see :mod:`multidraft.properties.adapters`).
    drafting : {"iid", "without_replacement", "independent"}, optional
        Default: the verifier's ``drafting`` attribute, else ``"iid"``.
    optimal : bool, optional
        Require acceptance >= alpha* - tol (default: the verifier's ``optimal`` attribute).
    profile : {"quick", "thorough"}
    n, vocab : int, (lo, hi) or "lo-hi"
    examples : int, optional
        Hypothesis examples per exact property (default: the profile's).
    samples : int, optional
        Samples per problem for the statistical tests (default 100000 for sampling-only
        verifiers, 0 -- exact mode only -- otherwise).
    seed : int
    tol, alpha : float
        Exact tolerance; family-wise false-alarm rate of the statistical tests.
    problems : list of (target, draft, n), optional
        Run the statistical tests on these problems instead of generated ones.
    temperature, top_k, top_p : sampling parameters applied to p and q of every problem
        (:func:`multidraft.logits.process_probs`).
    dtype : {"float32", "bfloat16", "float16"}, optional
        Check on inputs rounded to this dtype; adds the ``dtype_deviation`` row (info, or a
        failure above ``dtype_tol``).
    timeout : float, optional
        Per-call timeout in seconds (a longer call of the verifier is a failure).
    slate : bool
        Start every exact property with the slate of extreme regimes (default True).
    sources : tuple of callables
        Extra problem sources for exact mode (see :class:`CheckConfig`).

    Returns
    -------
    Report with ``.passed``, ``.raise_if_failed()``, ``.results`` and ``str(report)``.

    Raises
    ------
    InvalidInputError
        A bad setting, named as the command line names it (:func:`validate_config`: ``alpha``
        in (0, 1), ``tol`` > 0, ``examples`` >= 1, ``vocab`` >= 2, ...), a target that is not a
        verifier, or a given problem that is not a valid problem (:func:`given_problems`).

    Examples
    --------
    >>> import numpy as np
    >>> p_sampling = lambda target, draft, drafts: np.asarray(target)
    >>> verifier_suite(p_sampling, examples=5).passed
    True
    """
    if samples is None:
        spec_interface = interface or resolve(verifier, interface).interface
        samples = 100_000 if spec_interface == "sampling" else 0
    config = validate_config(
        CheckConfig(
            drafting=drafting,
            n=n,
            vocab=vocab,
            examples=examples,
            samples=samples,
            stat_problems=stat_problems,
            profile=profile,
            seed=check_int(seed, "seed", min_value=0) + check_int(stat_seed_offset, "stat_seed_offset", min_value=0),
            optimal=optimal,
            tol=tol,
            alpha=alpha,
            backend=backend,
            sampling=SamplingParams(temperature, top_k, top_p),
            dtype=dtype,
            dtype_tol=dtype_tol,
            timeout=timeout,
            slate=slate,
            sources=tuple(sources),
        )
    )
    serving.torch_dtype(dtype)  # validates the name
    plist = None
    if problems is not None:
        plist = [
            serving.serving_problem(given, config.sampling, dtype)
            for given in given_problems(problems, drafting or "iid")
        ]
        if any(p is None for p in plist):
            raise InvalidInputError("problems: a given draft law leaves too few tokens after top-k/top-p for n drafts")
    return check(verifier, config, interface=interface, problem_list=plist)


def given_problems(problems: Any, drafting: str) -> list[Problem]:
    """``[(target, draft, n), ...]`` as validated :class:`Problem` objects (target, draft and n checked).

    Raises
    ------
    InvalidInputError
        ``"problems[1] target: entries must be finite, ..."`` and the like, or an empty list.
    """
    try:
        items = list(problems)
    except TypeError:
        raise InvalidInputError(f"problems: expected a list of (target, draft, n), got {problems!r}") from None
    if not items:
        raise InvalidInputError("problems: expected at least one (target, draft, n), got an empty list")
    out = []
    for i, item in enumerate(items):
        if not isinstance(item, (tuple, list)) or len(item) != 3:
            raise InvalidInputError(f"problems[{i}]: expected a tuple (target, draft, n), got {item!r}"[:200])
        t, d, k = item
        target = check_distribution(t, f"problems[{i}] target", batched=False)
        draft = to_numpy(d, f"problems[{i}] draft")
        problem = Problem(target, draft, check_n(k, f"problems[{i}] n"), drafting, "given")
        try:
            law = problem.law()
            check_same_vocab(target.shape[0], f"problems[{i}] target", law.vocab_size, "the draft")
        except InvalidInputError as exc:
            raise InvalidInputError(f"problems[{i}] {exc}") from None
        out.append(problem)
    return out
