"""The tree checker behind ``multidraft check-tree``: is a block verifier lossless (and optimal)?

Exact mode (verifiers with a conditional interface, V <= EXACT_MAX_V). For every structure,
vocabulary size and model kind of the slate (:data:`MODEL_KINDS`: seeded context-dependent
table models -- generic, close, sparse with ties and zeros, peaked, p = q), every draft tree
is enumerated with its probability and :func:`multidraft.evaluate_tree` gives section 2's
violation and the validity error (docs/trees.md). A failure is shrunk to the smallest
failing case -- vocabulary, then depth L, then width K, over every structure whose
branching factors are at most the failing one's -- and printed as a snippet one can paste.
With ``optimal`` (or a verifier declaring ``optimal = True``) the block efficiency must
reach :func:`multidraft.reference.optimal_block_efficiency` within ``opt_tol`` (cases the
LP refuses as too large are counted and skipped).

Statistical mode (sampling verifiers; any V). For each structure, ``samples`` blocks are
drawn from low-entropy table models (about 6 tokens per context, so prefixes repeat): a
tree from the structure, the verifier's O, then target tokens up to L + 1. Tests, at a
family-wise false-alarm rate ``alpha`` (Bonferroni over structures and tests):

* ``stream`` -- the chain-rule G-test of the first L + 1 tokens
  (:func:`multidraft.properties.sequences.sequence_g_test`: one p-value, per-prefix terms
  to localise the fault);
* with a reference conditional law (the verifier's own, or ``reference``):
  ``accept_length`` -- the counts of |O| against the sum over the drawn trees of the
  reference's law of |O|; ``correction_token`` -- the counts of (|O|, last token), i.e. the
  token emitted after tau accepted ones, against the same sum (e.g. block verification's
  residual ``(w_tau p - q)+`` versus a port's ``(p - q)+``). Both G-tests are conservative
  (the outputs are independent, not identically distributed, given the trees).

Each statistical verdict states the stream TV detectable with 90% power at that size.
"""

from __future__ import annotations

import itertools
import json
import time
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from multidraft.lm import cached
from multidraft.reference.blocks import optimal_block_efficiency
from multidraft.tree_evaluate import emitted_law, evaluate_tree
from multidraft.trees import (
    Branching,
    as_emitted,
    branching,
    chain,
    delayed,
    parse_structure,
    paths,
    table_pair,
    tree_conditional_of,
    tree_inputs,
    tree_sampler_of,
)
from multidraft.validation import InvalidInputError, TooLargeError

from .sequences import sequence_g_test
from .stats import ALPHA, g_test

#: Largest vocabulary the exact mode enumerates.
EXACT_MAX_V = 4
#: Exact tolerance on the violation and validity.
TOL = 1e-9
#: Tolerance of the optimality check (the LP is solved to ~1e-9).
OPT_TOL = 1e-7
#: Model kinds of the exact slate: keyword arguments of :func:`multidraft.trees.table_pair`.
MODEL_KINDS = (
    ("dirichlet", {}),
    ("close", {"similarity": 0.6}),
    ("sparse_ties", {"sparsity": 0.35, "ties": 4}),
    ("peaked", {"concentration": 0.15}),
    ("equal", {"similarity": 1.0}),
)


def default_structures(verifier: Any) -> list[Branching]:
    """The default slate (K <= 3, L <= 3), filtered by the verifier's ``accepts`` if it has one.

    Without ``accepts`` only i.i.d. structures are used (siblings without replacement or the
    deterministic top-k need a rule built for them).
    """
    iid = [chain(2), chain(3), paths(2, 2), paths(3, 2), paths(2, 3), branching((2, 2)), delayed(1, 2, 1)]
    other = [branching((2, 2), "without_replacement"), branching((2, 1), "top")]
    method = getattr(verifier, "accepts", None)
    if not callable(method):
        return iid
    return [s for s in iid + other if method(s)]


def structure_literal(structure: Branching) -> str:
    """Python that rebuilds ``structure`` (for snippets): ``parse_structure("paths:2x1")`` and the like."""
    f = structure.factors
    if structure.is_chain:
        return f"parse_structure('chain:{structure.depth}')"
    if structure.law == "iid" and all(k == 1 for k in f[1:]):
        return f"parse_structure('paths:{f[0]}x{structure.depth}')"
    return f"branching({f!r}, law={structure.law!r})"


@dataclass
class TreeCase:
    """One exact case: a vocabulary size, a structure, a model kind and its seed."""

    V: int
    structure: Branching
    model: str
    seed: int

    @property
    def options(self) -> dict:
        return dict(MODEL_KINDS)[self.model]

    def models(self) -> tuple[Any, Any]:
        return table_pair(self.V, seed=self.seed, **self.options)

    def describe(self) -> str:
        return f"V={self.V} {self.structure.name} {self.model} (seed {self.seed})"

    def snippet(self, source: list[str], comment: str) -> str:
        args = "".join(f", {k}={v!r}" for k, v in self.options.items())
        lines = [
            "from multidraft import evaluate_tree",
            "from multidraft.trees import branching, parse_structure, table_pair",
            *source,
            f"target, draft = table_pair({self.V}, seed={self.seed}{args})",
            f"ev = evaluate_tree(verifier, target, draft, {structure_literal(self.structure)})",
            f"print(ev.summary())  # {comment}",
        ]
        return "\n".join(lines)


@dataclass
class TreeCheckResult:
    """One property's verdict: ``name``, ``passed``, the worst ``value``, a ``detail`` line,
    the number of ``cases`` it ran on and, on failure, the shrunk case and its ``snippet``."""

    name: str
    passed: bool
    value: float
    detail: str
    cases: int
    case: str = ""
    snippet: str = ""


@dataclass
class TreeReport:
    """All verdicts of one check; ``passed`` when every result passed."""

    verifier: str
    results: list[TreeCheckResult] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def passed(self) -> bool:
        return all(r.passed for r in self.results)

    def render(self) -> str:
        lines = [f"check-tree {self.verifier}: {'PASS' if self.passed else 'FAIL'} ({self.seconds:.1f} s)"]
        for r in self.results:
            lines.append(f"  {'ok  ' if r.passed else 'FAIL'} {r.name:<17} {r.detail}")
            if not r.passed:
                lines.append(f"       smallest failing case: {r.case}")
                lines.append("       reproduce with:")
                lines.extend("         " + line for line in r.snippet.splitlines())
        return "\n".join(lines)

    def to_json(self) -> str:
        return json.dumps(
            {
                "verifier": self.verifier,
                "passed": self.passed,
                "seconds": self.seconds,
                "results": [asdict(r) for r in self.results],
            },
            indent=2,
        )


@dataclass
class TreeCheckConfig:
    """Settings of one check (the options of ``multidraft check-tree``).

    ``structures`` None: :func:`default_structures`. ``vocab`` (lo, hi). ``samples``: blocks
    per structure in statistical mode (None: 20,000 for sampling-only verifiers or a
    vocabulary above EXACT_MAX_V, else 0 = exact only). The statistical models have V = the
    upper end of ``vocab`` when it exceeds EXACT_MAX_V, else ``stat_vocab``. ``optimal`` None: the verifier's own claim.
    """

    structures: list[Branching] | None = None
    vocab: tuple[int, int] = (2, 3)
    samples: int | None = None
    stat_vocab: int = 16
    seed: int = 0
    optimal: bool | None = None
    tol: float = TOL
    opt_tol: float = OPT_TOL
    alpha: float = ALPHA
    reference: Any = None


# ============================================================================ exact mode
def _measure(verifier: Any, case: TreeCase, optimal: bool) -> dict:
    target, draft = case.models()
    ev = evaluate_tree(verifier, target, draft, case.structure)
    out = {
        "violation": ev.violation,
        "validity": ev.validity,
        "efficiency": ev.block_efficiency,
        "summary": ev.summary(),
        "tree": ev.worst_tree,
    }
    if optimal:
        try:
            best = optimal_block_efficiency(target, draft, case.structure)
            out["gap"] = best.value - ev.block_efficiency
        except TooLargeError:
            out["gap"] = None
    return out


def _fails(name: str, m: dict, config: TreeCheckConfig) -> bool:
    if name == "optimal":
        return m.get("gap") is not None and m["gap"] > config.opt_tol
    return m[{"lossless": "violation", "valid": "validity"}[name]] > config.tol


def _smaller(structure: Branching) -> list[Branching]:
    """Structures with factors at most ``structure``'s (same sibling law), smallest first."""
    out = []
    f = structure.factors
    for depth in range(1, len(f) + 1):
        for g in itertools.product(*[range(1, k + 1) for k in f[:depth]]):
            out.append(Branching(tuple(g), structure.law))
    return sorted(out, key=lambda s: (s.depth, s.width, s.factors))


def _shrink(verifier: Any, failing: TreeCase, name: str, config: TreeCheckConfig) -> TreeCase:
    """The smallest failing case (V, then L, then K) among the cases no larger than ``failing``
    (structures the verifier declares it accepts, when it accepts the failing one)."""
    method = getattr(verifier, "accepts", None)
    strict = callable(method) and method(failing.structure)
    for V in range(2, failing.V + 1):
        for structure in _smaller(failing.structure):
            if strict and not method(structure):
                continue
            for model, _ in MODEL_KINDS:
                case = TreeCase(V, structure, model, failing.seed)
                try:
                    if _fails(name, _measure(verifier, case, name == "optimal"), config):
                        return case
                except TooLargeError:
                    continue
    return failing


def exact_results(
    verifier: Any, source: list[str], structures: list[Branching], config: TreeCheckConfig, optimal: bool
) -> list[TreeCheckResult]:
    """Run the exact properties on the slate; shrink the first failure of each property."""
    vocab = [V for V in range(config.vocab[0], config.vocab[1] + 1) if V <= EXACT_MAX_V]
    cases = [
        TreeCase(V, s, model, config.seed + 10 * i)
        for V in vocab
        for s in structures
        for i, (model, _) in enumerate(MODEL_KINDS)
    ]
    names = ["lossless", "valid"] + (["optimal"] if optimal else [])
    worst = {n: (0.0, None, None) for n in names}
    skipped = 0
    efficiencies: dict[str, list[float]] = {}
    for case in cases:
        m = _measure(verifier, case, optimal)
        efficiencies.setdefault(case.structure.name, []).append(m["efficiency"])
        values = {"lossless": m["violation"], "valid": m["validity"]}
        if optimal:
            if m["gap"] is None:
                skipped += 1
            values["optimal"] = m["gap"] if m["gap"] is not None else -np.inf
        for n in names:
            if worst[n][1] is None or values[n] > worst[n][0]:
                worst[n] = (values[n], case, m)
    results = []
    for n in names:
        value, case, m = worst[n]
        failed = case is not None and _fails(n, m, config)
        what = {"lossless": "section 2 violation", "valid": "validity error", "optimal": "gap to the optimum"}[n]
        limit = config.opt_tol if n == "optimal" else config.tol
        detail = f"worst {what} {max(value, 0.0):.3e} (tol {limit:g}) over {len(cases)} cases"
        if n == "optimal" and skipped:
            detail += f" ({skipped} too large for the LP, skipped)"
        if not failed:
            results.append(TreeCheckResult(n, True, float(max(value, 0.0)), detail, len(cases)))
            continue
        small = _shrink(verifier, case, n, config)
        sm = _measure(verifier, small, n == "optimal")
        comment = sm["summary"] if n != "optimal" else f"E|O| below the optimum by {sm['gap']:.3e}"
        snippet = small.snippet(source, comment)
        if n == "valid" and sm["tree"] is not None:
            snippet += (
                "\nfrom multidraft.trees import DraftTree, tree_inputs\n"
                f"tree = {sm['tree']!r}\n"
                "print(verifier.conditional(tree, *tree_inputs(tree, target, draft)))  # not a law"
            )
        results.append(TreeCheckResult(n, False, float(value), detail, len(cases), small.describe(), snippet))
    if efficiencies:
        mean = ", ".join(f"{k} {np.mean(v):.4f}" for k, v in efficiencies.items())
        results.append(TreeCheckResult("block_efficiency", True, float("nan"), f"mean E|O|: {mean}", len(cases)))
    return results


# ============================================================================ statistical mode
def _continue(out: tuple, target: Any, length: int, rng: np.random.Generator) -> tuple:
    """The stream's first ``length`` tokens: O, then tokens drawn from the target."""
    stream = list(out)
    while len(stream) < length:
        law = target.probs(tuple(stream))
        stream.append(int(rng.choice(len(law), p=law)))
    return tuple(stream[:length])


def statistical_results(
    verifier: Any, source: list[str], structures: list[Branching], config: TreeCheckConfig, samples: int, reference: Any
) -> list[TreeCheckResult]:
    """Run the statistical tests of the module docstring on every structure."""
    import torch

    tests_per = 3 if reference is not None else 1
    level = config.alpha / (len(structures) * tests_per)
    sampler = tree_sampler_of(verifier)
    ref = tree_conditional_of(reference) if reference is not None else None
    V = config.vocab[1] if config.vocab[1] > EXACT_MAX_V else config.stat_vocab
    results = []
    for structure in structures:
        target, draft = table_pair(V, seed=config.seed, concentration=0.3, sparsity=max(0.0, 1.0 - 6.0 / V))
        target, draft = cached(target, "target_lm", V), cached(draft, "draft_lm", V)
        rng = np.random.default_rng([config.seed, 17])
        generator = torch.Generator().manual_seed(config.seed)
        L = structure.depth
        streams, lengths, corrections = [], np.zeros(L + 2), np.zeros((L + 2, V))
        exp_len, exp_corr = np.zeros(L + 2), np.zeros((L + 2, V))
        bad = None
        for _ in range(samples):
            tree = structure.sample(draft, (), rng)
            p, q = tree_inputs(tree, target, draft)
            out = as_emitted(sampler(tree, p, q, generator))
            if emitted_law({out: 1.0}, tree, V, L)[1] > 0:
                bad = bad or (tree, out)
                continue
            streams.append(_continue(out, target, L + 1, rng))
            lengths[len(out)] += 1
            corrections[len(out), out[-1]] += 1
            if ref is not None:
                for o, prob in ref(tree, p, q).items():
                    exp_len[len(o)] += prob
                    exp_corr[len(o), o[-1]] += prob
        label = f"{structure.name}, V={V}, {samples} blocks"
        if bad is not None:
            results.append(
                TreeCheckResult(
                    f"valid[{structure.name}]",
                    False,
                    1.0,
                    f"emitted {bad[1]} on a tree where it is not a path plus one token",
                    samples,
                    label,
                    f"tree = {bad[0]!r}",
                )
            )
        seq = sequence_g_test(streams, target, (), L + 1, vocab_size=V)
        where = seq.worst[0].describe() if seq.worst else "no prefix tested"
        detail = (
            f"{label}: G = {seq.statistic:.1f} (df {seq.df}), p = {seq.p_value:.3g} vs level {level:.1e}; "
            f"detects stream TV >= {seq.detectable(level):.3f} with 90% power; worst {where}"
        )
        results.append(
            TreeCheckResult(
                f"stream[{structure.name}]",
                seq.p_value >= level,
                seq.p_value,
                detail,
                samples,
                label if seq.p_value < level else "",
                _stat_snippet(source, structure, V, config.seed, samples) if seq.p_value < level else "",
            )
        )
        if ref is not None:
            for name, observed, expected in (
                ("accept_length", lengths, exp_len),
                ("correction_token", corrections.ravel(), exp_corr.ravel()),
            ):
                test = g_test(observed, expected)
                results.append(
                    TreeCheckResult(
                        f"{name}[{structure.name}]",
                        test.p_value >= level,
                        test.p_value,
                        f"{label}: G = {test.statistic:.1f} (df {test.df}), p = {test.p_value:.3g} vs level {level:.1e}"
                        + (f"; {test.impossible} impossible outputs" if test.impossible else ""),
                        samples,
                        label if test.p_value < level else "",
                    )
                )
    return results


def _stat_snippet(source: list[str], structure: Branching, V: int, seed: int, samples: int) -> str:
    return "\n".join(
        [
            "from multidraft.properties.tree_checker import TreeCheckConfig, check_tree",
            "from multidraft.trees import branching, parse_structure",
            *source,
            (
                f"config = TreeCheckConfig(structures=[{structure_literal(structure)}], vocab=(2, 2), stat_vocab={V}, "
                f"seed={seed}, samples={samples})"
            ),
            "print(check_tree(verifier, config).render())",
        ]
    )


# ============================================================================ entry point
def _interfaces(verifier: Any) -> tuple[bool, bool]:
    from .adapters import detect_interface

    kind = detect_interface(verifier)
    if kind is None:
        raise InvalidInputError(
            "verifier: cannot tell whether it is a conditional tree verifier f(tree, target, draft) or a sampling one "
            "g(tree, target, draft, generator); give it .conditional / .sample methods"
        )
    return kind in ("conditional", "both"), kind in ("sampling", "both")


def check_tree(
    verifier: Any, config: TreeCheckConfig | None = None, *, name: str | None = None, source: list[str] | None = None
) -> TreeReport:
    """Check a tree verifier (see the module docstring); returns a :class:`TreeReport`.

    Parameters
    ----------
    verifier : a tree verifier (``.conditional`` and/or ``.sample``, or a callable)
    config : TreeCheckConfig
    name : label for the report
    source : lines of Python that bind ``verifier`` (for the snippets)
    """
    config = config or TreeCheckConfig()
    start = time.perf_counter()
    name = name or getattr(verifier, "name", None) or type(verifier).__name__
    source = source or ["verifier = ...  # your tree verifier"]
    has_conditional, has_sampling = _interfaces(verifier)
    structures = config.structures if config.structures is not None else default_structures(verifier)
    if not structures:
        raise InvalidInputError("structure: the verifier accepts none of the structures to check")
    optimal = bool(getattr(verifier, "optimal", False)) if config.optimal is None else bool(config.optimal)
    report = TreeReport(str(name))
    lo, hi = config.vocab
    if has_conditional and lo <= EXACT_MAX_V:
        report.results.extend(exact_results(verifier, source, structures, config, optimal))
    elif optimal:
        raise InvalidInputError(
            "optimal: checking a claim of optimal block efficiency needs a conditional "
            f"interface and a vocabulary <= {EXACT_MAX_V}"
        )
    samples = config.samples
    if samples is None:
        samples = 0 if has_conditional and hi <= EXACT_MAX_V else 20_000
    if samples and has_sampling:
        reference = config.reference if config.reference is not None else (verifier if has_conditional else None)
        report.results.extend(statistical_results(verifier, source, structures, config, int(samples), reference))
    elif samples and not has_sampling:
        raise InvalidInputError(
            "samples: statistical mode needs a sampling interface (.sample or g(tree, target, draft, generator))"
        )
    if not report.results:
        raise InvalidInputError(
            f"vocab: exact mode needs V <= {EXACT_MAX_V} (got {lo}-{hi}); for larger V give "
            "--samples N for the statistical mode"
        )
    report.seconds = time.perf_counter() - start
    return report


__all__ = [
    "EXACT_MAX_V",
    "MODEL_KINDS",
    "TreeCase",
    "TreeCheckConfig",
    "TreeCheckResult",
    "TreeReport",
    "check_tree",
    "default_structures",
    "parse_structure",
]
