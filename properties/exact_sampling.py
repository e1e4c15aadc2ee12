"""Exact checking of sampling-only code: the harness (:mod:`.harness`) behind the checker.

Two interface choices of ``multidraft check --interface`` / ``verifier_suite(interface=)``:

``exact-sampling``
    a sampling verifier ``g(target[B, V], draft[B, V], drafts[B, n], generator) -> tokens[B]``
    (or an object's ``.sample``) whose randomness comes from ``generator``: ``torch.rand``,
    ``torch.multinomial(w, 1)``, numpy ``generator.random`` / ``.choice(V, p=w)``.
``uniforms``
    the serving-engine form ``g(target[B, V], draft[B, V], drafts[B, n], uniforms[B, m]) ->
    tokens[B]`` that takes its uniforms as an input tensor (SGLang's and older FlashInfer's
    kernels). ``m`` is the verifier's ``uniforms`` attribute (an int, or a callable of n),
    default ``n + 1``; the tensor's dtype is its ``uniform_dtype`` (default float32).

Either way the checker calls the sampler with B = 1 under the harness, gets its exact
conditional law ``f(. | x)`` for every draft tuple x, and runs the *exact* properties on it
(:class:`HarnessConditional` is that conditional verifier). On top, the exact property
``adversarial_uniforms`` runs the sampler with uniforms fixed to the values real generators
produce at the edges -- exactly 0, the float32 granularity 2^-24, the largest value below 1
in the uniform's dtype (1 - 2^-24 for float32) -- in the patterns of
:data:`ADVERSARIAL_PATTERNS` (all uniforms at one value; one at 0 and the rest at the top,
and the reverse), branching over every categorical draw, and fails if any reachable output
is a token of target probability 0 or outside [0, V). Such outputs have probability 0 for
continuous uniforms (so the law is exact and correct) but about 2^-24 per step for float32
uniforms (``u <= p(x)/q(x)`` instead of ``u < p(x)/q(x)`` accepts a draft with p(x) = 0 at u = 0).

When the code uses randomness the harness cannot follow, the check says why (an info row
``harness``) and falls back to the statistical mode (``samples`` per problem, default
100,000), with the uniforms form drawing its uniforms from a seeded ``torch.Generator``.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from multidraft.validation import InvalidInputError

from .adapters import VerifierSpec, resolve
from .harness import (
    MAX_PATHS,
    ExplorationStats,
    HarnessGenerator,
    UntraceableRandomness,
    exact_law,
    reachable_outputs,
    uniforms_for,
)
from .problem import DRAFTINGS, Problem, array_literal
from .report import PropertyResult
from .suite import Measurement, ProblemContext, Property

HARNESS_INTERFACES = ("exact-sampling", "uniforms")

#: Samples per problem of the statistical fallback when none were asked for.
FALLBACK_SAMPLES = 100_000

#: Fixed uniform values (by draw index k, out of a tuple's n drafts): name -> value(k, n).
#: "zero" is exactly 0, "tiny" 2^-24 (float32 granularity), "top" the largest value below 1 in the
#: uniform's dtype (1 - 2^-24 for float32).
#: Draft tuples per problem run at the adversarial patterns (those holding a draft of p = 0 first).
ADVERSARIAL_TUPLES = 32


def _one_at(i: int, one: str, rest: str) -> Callable[[int, int], str]:
    """The pattern: uniform i takes ``one``, every other uniform ``rest``."""
    return lambda k, n: one if k == i else rest


ADVERSARIAL_PATTERNS: tuple[tuple[str, Callable[[int, int], str]], ...] = (
    ("all 0", lambda k, n: "zero"),
    ("all 2^-24", lambda k, n: "tiny"),
    ("all 1 - ulp", lambda k, n: "top"),
    *((f"u[{i}] = 0, rest 1 - ulp", _one_at(i, "zero", "top")) for i in range(6)),
    *((f"u[{i}] = 1 - ulp, rest 0", _one_at(i, "top", "zero")) for i in range(6)),
)


def uniform_count(verifier: Any, n: int) -> int:
    """Uniforms per row a serving-engine verifier takes: its ``uniforms`` attribute (int or f(n)), else n + 1."""
    m = getattr(verifier, "uniforms", None)
    m = m(n) if callable(m) else (n + 1 if m is None else m)
    if not isinstance(m, (int, np.integer)) or m < 0:
        raise InvalidInputError(f"uniforms: expected a non-negative int (or a callable of n), got {m!r}")
    return int(m)


def _uniform_dtype(verifier: Any) -> torch.dtype:
    dtype = getattr(verifier, "uniform_dtype", torch.float32)
    return getattr(torch, dtype) if isinstance(dtype, str) else dtype


class HarnessConditional:
    """The exact conditional law of a sampler, computed by the harness (a conditional verifier).

    ``conditional(target (V,), draft, drafts (n,))`` calls the sampler with B = 1 for every
    decision path and returns f(. | drafts) (V,) float64. ``stats`` counts the paths.
    Claims (``optimal``, ``drafting``, ``law``, ``acceptance``, ...) are the sampler's.

    Parameters
    ----------
    sampler : the verifier object or function
    form : {"exact-sampling", "uniforms"}
    backend : {"torch", "numpy"}
        Arrays handed to the sampler (the generator form; the uniforms form gets torch).
    max_paths : int
        Cap on decision paths per draft tuple.
    """

    def __init__(self, sampler: Any, form: str = "exact-sampling", backend: str = "torch", max_paths: int = MAX_PATHS):
        if form not in HARNESS_INTERFACES:
            raise InvalidInputError(f"interface: expected one of {HARNESS_INTERFACES}, got {form!r}")
        self.original, self.form, self.backend, self.max_paths = sampler, form, backend, int(max_paths)
        sample = getattr(sampler, "sample", None)
        self._g = sample if callable(sample) else sampler
        self.stats = ExplorationStats()
        self.seconds = 0.0
        for attr in ("optimal", "order_invariant", "label_equivariant", "drafting"):
            if hasattr(sampler, attr):
                setattr(self, attr, getattr(sampler, attr))
        for attr in ("law", "acceptance"):
            if callable(getattr(sampler, attr, None)):
                setattr(self, attr, getattr(sampler, attr))

    def call(self, target: Any, draft: Any, drafts: Any) -> Callable[[HarnessGenerator], Any]:
        """``call(generator)``: one run of the sampler on one draft tuple (B = 1)."""
        x = np.asarray(drafts, np.int64)
        if self.backend == "torch" or self.form == "uniforms":  # torch inputs keep their dtype (serving dtypes)
            t, d = (
                torch.as_tensor(a if isinstance(a, torch.Tensor) else np.asarray(a, np.float64))[None]
                for a in (target, draft)
            )
            xs = torch.from_numpy(x)[None]
        else:
            t, d, xs = np.asarray(target, np.float64)[None], np.asarray(draft, np.float64)[None], x[None]
        if self.form == "uniforms":
            m, dtype = uniform_count(self.original, x.shape[-1]), _uniform_dtype(self.original)
            return lambda generator: self._g(t, d, xs, uniforms_for((1, m), dtype))
        return lambda generator: self._g(t, d, xs, generator)

    def conditional(self, target: Any, draft: Any, drafts: Any) -> np.ndarray:
        """f(. | drafts): (V,) for drafts (n,), (M, V) for drafts (M, n); float64."""
        x = np.asarray(drafts, np.int64)
        if x.ndim == 2:
            return (
                np.stack([self.conditional(target, draft, row) for row in x])
                if len(x)
                else np.zeros((0, tuple(np.shape(target))[-1]))
            )
        start = time.perf_counter()
        try:
            return exact_law(
                self.call(target, draft, x), tuple(np.shape(target))[-1], max_paths=self.max_paths, stats=self.stats
            )
        finally:
            self.seconds += time.perf_counter() - start


class UniformsAsSampler:
    """A serving-engine verifier ``g(..., uniforms)`` as a sampling verifier ``g(..., generator)``
    (uniforms ``torch.rand(B, m, generator=generator)`` in its ``uniform_dtype``); for the
    statistical fallback."""

    def __init__(self, verifier: Any):
        self.verifier = verifier
        for attr in ("optimal", "order_invariant", "label_equivariant", "drafting", "batched"):
            if hasattr(verifier, attr):
                setattr(self, attr, getattr(verifier, attr))
        for attr in ("law", "acceptance"):
            if callable(getattr(verifier, attr, None)):
                setattr(self, attr, getattr(verifier, attr))

    def sample(self, target: Any, draft: Any, drafts: Any, generator: Any = None) -> Any:
        x = torch.as_tensor(drafts)
        rows = x.shape[0] if x.ndim == 2 else 1
        u = torch.rand(
            rows, uniform_count(self.verifier, x.shape[-1]), generator=generator, dtype=_uniform_dtype(self.verifier)
        )
        return self.verifier(target, draft, drafts, u)


# ----------------------------------------------------------------------------- adversarial uniforms


def _measure_adversarial(ctx: ProblemContext, tol: float) -> Measurement:
    """Reachable outputs of zero target probability (or outside [0, V)) at fixed edge uniforms."""
    harness: HarnessConditional = ctx.spec.verifier
    table, p = ctx.base, ctx.problem.target
    V = len(p)
    draft = ctx.problem.law().draft_argument
    bad, first = 0, None
    tuples = table.tuples
    zero_first = np.argsort(~(p[tuples] <= 0).any(axis=1), kind="stable")  # drafts of target probability 0 first
    for drafts in tuples[zero_first[:ADVERSARIAL_TUPLES]]:
        call = harness.call(p, draft, drafts)
        n = len(drafts)
        for label, pattern in ADVERSARIAL_PATTERNS:
            if label.startswith("u[") and int(label[2]) > n:
                continue
            for token in reachable_outputs(call, lambda k, pat=pattern, n=n: pat(k, n), max_paths=harness.max_paths):
                if not (0 <= token < V) or p[token] <= 0:
                    bad += 1
                    if first is None:
                        first = (drafts, label, token)
    if first is None:
        return Measurement(0.0, True, "no output of zero target probability at edge uniforms (0, 2^-24, 1 - ulp)", [])
    drafts, label, token = first
    where = f"p[{token}] = 0" if 0 <= token < V else f"outside [0, {V})"
    return Measurement(
        float(bad),
        False,
        f"{bad} (tuple, pattern) outputs of target probability 0 (a float32 uniform is 0 with "
        f"probability 2^-24 = 6e-8); first: drafts "
        f"{tuple(int(t) for t in drafts)}, uniforms {label}: token {token} ({where})",
        [
            "from multidraft.properties.exact_sampling import ADVERSARIAL_PATTERNS",
            "from multidraft.properties.harness import reachable_outputs",
            f"call = verifier.call(target, draft, {array_literal(np.asarray(drafts))})",
            f"pattern = dict(ADVERSARIAL_PATTERNS)[{label!r}]",
            f"print(reachable_outputs(call, lambda k: pattern(k, {len(drafts)})))"
            f"  # expected: only tokens with target > 0",
        ],
    )


ADVERSARIAL_UNIFORMS = Property("adversarial_uniforms", "outputs with p = 0", _measure_adversarial, lambda s, o: True)


# ----------------------------------------------------------------------------- the check


@dataclasses.dataclass
class HarnessPlan:
    """What the checker runs for a harness interface: the spec, the config and a note row."""

    spec: VerifierSpec
    config: Any
    exact: bool
    harness: HarnessConditional | None
    reason: str = ""

    def extra_properties(self) -> tuple[Property, ...]:
        return (ADVERSARIAL_UNIFORMS,) if self.exact else ()

    def report_row(self) -> PropertyResult:
        if self.exact:
            s = self.harness.stats
            per = s.paths / max(s.tuples, 1)
            return PropertyResult(
                "harness",
                "exact",
                "info",
                "paths explored",
                float(s.paths),
                0.0,
                0,
                None,
                f"exact law of the sampler by the controlled-randomness harness: {s.paths} paths "
                f"over {s.tuples} draft tuples ({per:.1f} per tuple, at most {s.max_paths}), "
                f"{self.harness.seconds:.2f} s",
                extra={"paths": s.paths, "tuples": s.tuples, "max_paths": s.max_paths, "seconds": self.harness.seconds},
            )
        return PropertyResult(
            "harness",
            "stat",
            "info",
            "fallback",
            0.0,
            0.0,
            0,
            None,
            f"the harness cannot follow this sampler ({self.reason}); checked statistically "
            f"instead with {self.config.samples} samples per problem",
            extra={"reason": self.reason},
        )


def _probe(harness: HarnessConditional, drafting: str) -> None:
    """Run the harness on one small problem (raises UntraceableRandomness if it cannot follow)."""
    p, q = np.array([0.5, 0.3, 0.2]), np.array([0.2, 0.3, 0.5])
    own = getattr(harness, "law", None)
    law = own(q, 2) if drafting not in DRAFTINGS and callable(own) else Problem(p, q, 2, drafting).law()
    drafts, _ = law.tuples()
    harness.conditional(p, law.draft_argument, drafts[0])
    harness.stats = ExplorationStats()
    harness.seconds = 0.0


def plan(target: Any, interface: str, config: Any) -> HarnessPlan:
    """Resolve ``target`` for a harness interface; probe the harness, else plan the statistical fallback."""
    base = resolve(target, "sampling")
    harness = HarnessConditional(base.verifier, interface, config.backend)
    spec = dataclasses.replace(
        base,
        verifier=harness,
        interface="conditional",
        source=[
            *base.source,
            "from multidraft.properties.exact_sampling import HarnessConditional",
            f"verifier = HarnessConditional(verifier, {interface!r})",
        ],
    )
    try:
        _probe(harness, config.drafting or base.drafting or "iid")
    except UntraceableRandomness as exc:
        return fallback(base, interface, config, str(exc))
    return HarnessPlan(spec, config, True, harness)


def fallback(base: VerifierSpec, interface: str, config: Any, reason: str) -> HarnessPlan:
    """The statistical plan for a sampler the harness cannot follow."""
    sampler = base.verifier if interface == "exact-sampling" else UniformsAsSampler(base.verifier)
    spec = dataclasses.replace(base, verifier=sampler, interface="sampling")
    config = dataclasses.replace(config, samples=config.samples or FALLBACK_SAMPLES)
    return HarnessPlan(spec, config, False, None, reason)


def untraceable_crash(results: list[PropertyResult]) -> str | None:
    """The harness's refusal if an exact run met one on some path (reported as a crash), else None."""
    for r in results:
        if r.status == "fail" and ("UntraceableRandomness" in r.detail or "PathLimitExceeded" in r.detail):
            return r.detail.split("raised ", 1)[-1]
    return None


# ----------------------------------------------------------------------------- harness = conditional


@dataclasses.dataclass
class Agreement:
    """The harness law against a verifier's own conditional law on every draft tuple of one problem."""

    max_diff: float  # max over tuples and tokens of |harness - conditional|
    tuples: int
    paths: int
    max_paths: int
    harness_seconds: float
    conditional_seconds: float


def compare_with_conditional(verifier: Any, target: Any, draft: Any, n: int, drafting: Any = None) -> Agreement:
    """Run ``verifier.sample`` under the harness and ``verifier.conditional`` on every tuple of the
    drafting law (default: the verifier's ``law(draft, n)``, else i.i.d.); time both.

    Raises :class:`~multidraft.properties.harness.UntraceableRandomness` if the harness cannot follow it.
    """
    from multidraft.drafting import drafting_law

    p, q = np.asarray(target, np.float64), np.asarray(draft, np.float64)
    if drafting is None:
        law = verifier.law(q, n) if callable(getattr(verifier, "law", None)) else drafting_law("iid", q, n)
    else:
        law = drafting if not isinstance(drafting, str) else drafting_law(drafting, q, n)
    tuples, _ = law.tuples()
    harness = HarnessConditional(verifier)
    start = time.perf_counter()
    exact = harness.conditional(p, law.draft_argument, tuples)
    mid = time.perf_counter()
    own = np.asarray(verifier.conditional(p, law.draft_argument, tuples), dtype=np.float64).reshape(exact.shape)
    end = time.perf_counter()
    return Agreement(
        float(np.abs(exact - own).max()),
        len(tuples),
        harness.stats.paths,
        harness.stats.max_paths,
        mid - start,
        end - mid,
    )
