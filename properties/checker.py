"""The checker: run the exact and statistical properties on generated problems.

Exact mode (conditional verifiers). For every required property of
:data:`~multidraft.properties.suite.EXACT_PROPERTIES` hypothesis searches the problem space
(:func:`~multidraft.properties.strategies.problems`), guided by ``hypothesis.target`` towards
the worst measured value; a failure is shrunk to a minimal counterexample and printed as a
snippet. Evaluations are cached per problem, so properties searched with the same seed share
them. Info properties are measured on every problem seen by the searches.

Statistical mode (sampling verifiers, and verifiers with both interfaces when ``samples``
is given). ``stat_problems`` problems are drawn from the same strategy (generation only, no
shrinking: each extra problem would be an extra test), and every test of
:func:`~multidraft.properties.sampling.test_names` runs at level ``alpha / (problems * tests)``.
Then ``reproducible`` (same seed, same output) is checked once, on the first problem.

:func:`verifier_suite` is the entry point for users' pytest functions.
"""
from __future__ import annotations

import math
import sys
from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np
from hypothesis import Phase, Verbosity, given, seed, settings
from hypothesis import target as hypothesis_target

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

from .adapters import VerifierSpec, resolve, verifier_traceback
from .problem import DRAFTINGS, Problem
from .report import PropertyResult, Report
from .sampling import SAMPLING_BACKENDS, measure_problem, reproducibility, test_names
from .stats import ALPHA, MIN_EXPECTED
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
        Show a tqdm bar on stderr (when it is a terminal).
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
        config, n=check_range(config.n, "n"), vocab=check_range(config.vocab, "vocab", min_value=2),
        examples=None if config.examples is None else check_int(config.examples, "examples", min_value=1),
        samples=check_int(config.samples, "samples", min_value=0),
        stat_problems=check_int(config.stat_problems, "stat_problems", min_value=1),
        profile=check_choice(config.profile, "profile", sorted(PROFILES)),
        seed=check_int(config.seed, "seed", min_value=0),
        tol=check_positive_float(config.tol, "tol"), alpha=check_probability(config.alpha, "alpha"),
        max_tuples=check_int(config.max_tuples, "max_tuples", min_value=1),
        backend=check_choice(config.backend, "backend", SAMPLING_BACKENDS))


# ----------------------------------------------------------------------------- exact mode

def own_law_factory(spec: VerifierSpec, drafting: str) -> Any:
    """The verifier's own ``law(draft, n)`` when it declares a drafting law of its own."""
    method = getattr(spec.verifier, "law", None)
    return method if drafting not in DRAFTINGS and drafting == spec.drafting and callable(method) else None


class _Contexts:
    """Problem contexts cached by problem identity, with an optional progress bar."""

    def __init__(self, spec: VerifierSpec, max_count: int, progress: bool):
        self.spec, self.max_count = spec, max_count
        self.items: dict[tuple, ProblemContext] = {}
        self.bar = None
        if progress:
            from tqdm import tqdm

            self.bar = tqdm(desc=f"checking {spec.name}", unit=" problems", file=sys.stderr, disable=None,
                            leave=False, delay=1.0)

    def get(self, problem: Problem) -> ProblemContext:
        key = problem.key()
        if key not in self.items:
            self.items[key] = ProblemContext(self.spec, problem, self.max_count)
            if self.bar is not None:
                self.bar.update(1)
        return self.items[key]

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


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


def _search(prop: Property, strategy: Any, contexts: _Contexts, config: CheckConfig, base: settings
            ) -> tuple[_Worst, tuple[Problem, Measurement] | None]:
    """Hypothesis search for a violation of ``prop``; returns the worst seen and the shrunk failure."""
    worst = _Worst()
    failure: list[tuple[Problem, Measurement]] = []

    @seed(config.seed)
    @settings(base, verbosity=Verbosity.quiet, database=None,
              **({"max_examples": config.examples} if config.examples else {}))
    @given(strategy)
    def search(problem: Problem) -> None:
        m = prop.measure(contexts.get(problem), config.tol)
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


def _result(prop: Property, status: str, worst: _Worst, config: CheckConfig, spec: VerifierSpec,
            failure: tuple[Problem, Measurement] | None) -> PropertyResult:
    if failure is not None:
        problem, m = failure
        return PropertyResult(prop.name, "exact", "fail", prop.measure_label, worst.value, config.tol, worst.count,
                              problem, f"minimal counterexample: {m.detail}", snippet(spec, problem, m.call))
    detail = worst.measurement.detail if worst.measurement else ""
    return PropertyResult(prop.name, "exact", status, prop.measure_label, max(worst.value, 0.0), config.tol,
                          worst.count, worst.problem, detail)


def run_exact(spec: VerifierSpec, config: CheckConfig, drafting: str, optimal: bool) -> list[PropertyResult]:
    """All exact properties on generated problems (see module doc)."""
    strategy = problems(drafting=drafting, n=config.n, vocab=config.vocab, max_tuples=config.max_tuples,
                        law_factory=own_law_factory(spec, drafting))
    base = profile_settings(config.profile)
    contexts = _Contexts(spec, max(config.max_tuples, 1), config.progress)
    results: list[PropertyResult | None] = []
    info: list[Property] = []
    try:
        for prop in EXACT_PROPERTIES:
            required = prop.required(spec, optimal)
            if required is None:
                continue
            if not required:
                info.append(prop)
                results.append(None)
                continue
            if contexts.bar is not None:
                contexts.bar.set_postfix_str(prop.name, refresh=False)
            worst, failure = _search(prop, strategy, contexts, config, base)
            results.append(_result(prop, "pass", worst, config, spec, failure))
        for prop in info:  # measured on every problem the searches visited
            worst = _Worst()
            for ctx in list(contexts.items.values()):
                worst.observe(prop.measure(ctx, config.tol), ctx.problem)
            results[results.index(None)] = _result(prop, "info", worst, config, spec, None)
    finally:
        contexts.close()
    return [r for r in results if r is not None]


def run_exact_given(spec: VerifierSpec, config: CheckConfig, optimal: bool, plist: list[Problem]
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
    strategy = problems(drafting=drafting, n=config.n, vocab=config.vocab, max_tuples=config.max_tuples,
                        law_factory=own_law_factory(spec, drafting) if spec is not None else None)

    @seed(config.seed)
    @settings(max_examples=CANDIDATES_PER_PROBLEM * config.stat_problems, phases=[Phase.generate], deadline=None, database=None,
              verbosity=Verbosity.quiet, suppress_health_check=list(profile_settings("quick").suppress_health_check))
    @given(strategy)
    def collect(problem: Problem) -> None:
        cells = int(np.count_nonzero(max(config.samples, 1) * problem.target >= MIN_EXPECTED))
        if cells >= 2 and problem.key() not in candidates:
            candidates[problem.key()] = (-cells, len(candidates), problem)

    collect()
    return [c[2] for c in sorted(candidates.values(), key=lambda c: c[:2])[: config.stat_problems]]


def run_stats(spec: VerifierSpec, config: CheckConfig, drafting: str, optimal: bool,
              problem_list: list[Problem] | None = None) -> list[PropertyResult]:
    """The statistical tests on ``stat_problems`` problems, Bonferroni at ``config.alpha``."""
    plist = problem_list if problem_list is not None else stat_problem_list(config, drafting, spec)
    names = test_names(spec, optimal)
    level = config.alpha / max(1, len(plist) * len(names))
    per_name: dict[str, list[tuple[Any, Problem]]] = {name: [] for name in names}
    iterator = plist
    if config.progress:
        from tqdm import tqdm

        iterator = tqdm(plist, desc=f"sampling {spec.name}", file=sys.stderr, disable=None, leave=False)
    for i, problem in enumerate(iterator):
        alpha_star = optimal_acceptance_for(problem.target, problem.law())
        try:
            measured = measure_problem(spec, problem, samples=config.samples, level=level, seed=config.seed + i,
                                       optimal=optimal, alpha_star=alpha_star, backend=config.backend)
        except InvalidInputError:
            raise
        except Exception as exc:  # a crash of the verifier is a finding, reported once
            return [_crashed(spec, problem, exc, config)]
        for m in measured:
            per_name[m.name].append((m, problem))
    out = []
    for name in names:
        if not per_name[name]:
            continue
        m, problem = min(per_name[name], key=lambda mp: mp[0].p_value)
        failed = m.p_value < level
        snip = None
        if failed:
            snip = "\n".join(["import numpy as np", "from multidraft.properties import verifier_suite"] + spec.source
                             + problem.snippet_lines()
                             + [f"# {name} failed at p = {m.p_value:.3g} < level {level:.3g} with {config.samples} "
                                "samples; rerun the statistical check on this problem:",
                                f"print(verifier_suite(verifier, interface={spec.interface!r}, problems=[(target, draft, "
                                f"n)], drafting={problem.drafting!r}, samples={config.samples}, seed={config.seed}, "
                                f"stat_seed_offset={plist.index(problem)}))"])
        out.append(PropertyResult(name, "stat", "fail" if failed else "pass", "min p-value", m.p_value, level,
                                  len(per_name[name]), problem, m.detail, snip,
                                  {"estimate": m.estimate, "estimate_measure": m.measure, **m.detectable}))
    if plist:
        out.append(_reproducible(spec, plist[0], config))
    return out


def _crashed(spec: VerifierSpec, problem: Problem, exc: Exception, config: CheckConfig) -> PropertyResult:
    """The one ``sampling`` failure of a sampling verifier that raised, with its traceback."""
    snip = "\n".join(["import numpy as np", "from multidraft.properties.adapters import resolve",
                       "from multidraft.properties.problem import Problem",
                       "from multidraft.properties.stats import draw_outputs"] + spec.source
                      + problem.snippet_lines()
                      + [f"spec, problem = resolve(verifier, {spec.interface!r}), Problem(target, draft, n, "
                         f"{problem.drafting!r})",
                         f"draw_outputs(spec, problem, {config.samples}, {config.seed}, {config.backend!r})"
                         "  # raises"])
    return PropertyResult("sampling", "stat", "fail", "crashed", math.inf, 0.0, 1, problem,
                          f"the verifier raised {verifier_traceback(exc)}", snip)


def _reproducible(spec: VerifierSpec, problem: Problem, config: CheckConfig) -> PropertyResult:
    """Same seed, same output (see :func:`~multidraft.properties.sampling.reproducibility`)."""
    differing, compared = reproducibility(spec, problem, config.samples, config.seed, config.backend)
    generator = ("torch.Generator().manual_seed(seed)" if config.backend == "torch"
                 else "numpy.random.default_rng([seed, 1])")
    detail = (f"{differing} of {compared} outputs differ between two runs with the same drafts and a generator "
              f"{generator}, seed {config.seed}")
    snip = None
    if differing:
        snip = "\n".join(["import numpy as np", "from multidraft.properties.adapters import resolve",
                          "from multidraft.properties.problem import Problem",
                          "from multidraft.properties.sampling import draw_outputs"] + spec.source
                         + problem.snippet_lines()
                         + [f"spec, problem = resolve(verifier, {spec.interface!r}), Problem(target, draft, n, "
                            f"{problem.drafting!r})",
                            f"first = draw_outputs(spec, problem, {compared}, {config.seed}, {config.backend!r})[1]",
                            f"second = draw_outputs(spec, problem, {compared}, {config.seed}, {config.backend!r})[1]",
                            "print((first != second).sum())  # expected: 0 (same seed, same output)"])
    return PropertyResult("reproducible", "stat", "fail" if differing else "pass", "outputs differing",
                          float(differing), 0.0, 1, problem, detail, snip, {"compared": compared})


# ----------------------------------------------------------------------------- entry points

def check(target: Any, config: CheckConfig | None = None, *, interface: str | None = None,
          problem_list: list[Problem] | None = None) -> Report:
    """Check a verifier (name, ``module:object`` or object) and return a :class:`Report`."""
    config = validate_config(config or CheckConfig())
    spec = resolve(target, interface)
    drafting = config.drafting or spec.drafting or "iid"
    if own_law_factory(spec, drafting) is None:
        check_choice(drafting, "drafting", DRAFTINGS)
    check_choice(config.backend, "backend", SAMPLING_BACKENDS)
    optimal = spec.optimal if config.optimal is None else bool(config.optimal)
    samples = config.samples
    if spec.interface == "sampling" and samples <= 0:
        raise InvalidInputError("samples: a sampling verifier is checked statistically; pass samples > 0")
    results: list[PropertyResult] = []
    if spec.has_conditional:
        results += (run_exact(spec, config, drafting, optimal) if problem_list is None
                    else run_exact_given(spec, config, optimal, problem_list))
    if spec.has_sampling and samples > 0:
        results += run_stats(spec, config, drafting, optimal, problem_list)
    settings_dict = {k: v for k, v in asdict(config).items() if k != "progress"}
    settings_dict.update(drafting=drafting, optimal=optimal, interface=spec.interface)
    if problem_list is None:
        ns = feasible_ns(config.n, config.vocab, config.max_tuples, drafting)
        settings_dict["n_checked"] = (min(ns), max(ns)) if ns else None
    return Report(spec.name, results, settings_dict)


def verifier_suite(verifier: Any, *, interface: str | None = None, drafting: str | None = None,
                   optimal: bool | None = None, profile: str = "quick", n: Any = (1, 4), vocab: Any = (2, 6),
                   examples: int | None = None, samples: int | None = None, stat_problems: int = 4,
                   seed: int = 0, tol: float = TOL, alpha: float = ALPHA, backend: str = "torch",
                   problems: list[tuple[Any, Any, int]] | None = None, stat_seed_offset: int = 0) -> Report:
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
    config = validate_config(CheckConfig(
        drafting=drafting, n=n, vocab=vocab, examples=examples, samples=samples, stat_problems=stat_problems,
        profile=profile, seed=check_int(seed, "seed", min_value=0) + check_int(stat_seed_offset, "stat_seed_offset",
                                                                             min_value=0),
        optimal=optimal, tol=tol, alpha=alpha, backend=backend))
    plist = None if problems is None else given_problems(problems, drafting or "iid")
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
