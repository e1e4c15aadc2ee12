"""The problem strategies: valid laws, bounded sizes, ties, replay."""

from __future__ import annotations

import numpy as np
from hypothesis import given, seed, settings

from multidraft.properties.problem import DRAFTINGS
from multidraft.properties.strategies import problems, tied_pair, tuple_count
from multidraft.reference import optimal_acceptance


@settings(max_examples=150, deadline=None, database=None)
@given(problems(drafting="iid", n=(1, 8), vocab=(2, 8)))
def test_problems_are_valid_and_small(problem):
    law = problem.law()  # validates p, q, n
    assert abs(problem.target.sum() - 1) < 1e-12
    assert tuple_count(problem.vocab_size, problem.n, "iid") <= 5000
    assert law.n == problem.n


def test_every_drafting_law_is_generated():
    for drafting in DRAFTINGS:

        @settings(max_examples=20, deadline=None, database=None)
        @given(problems(drafting=drafting))
        def check(problem):
            assert problem.law().n == problem.n

        check()


def test_tied_pairs_tie():
    """Two prefixes of the p/q order attain the same psi: h_min and h_max differ."""
    ties = 0
    for s in range(30):
        p, q = tied_pair(6, 2, s, split=(2, 4), inner=0.5, eps=0.0)
        res = optimal_acceptance(p, q, 2)
        ties += int(res.h_min.sum() < res.h_max.sum())
    assert ties >= 15


def test_generation_replays():
    seen = []
    for _ in range(2):
        out = []

        @seed(11)
        @settings(max_examples=10, deadline=None, database=None, derandomize=False)
        @given(problems())
        def collect(problem):
            out.append(problem.key())  # noqa: B023 (called at once, inside this iteration)

        collect()
        seen.append(out)
    assert seen[0] == seen[1]


def test_the_test_suite_runs_hypothesis_derandomised():
    """tests/conftest.py loads the quick profile: settings made by tests inherit it."""
    made_here = settings(max_examples=3)
    assert made_here.derandomize and made_here.database is None and made_here.deadline is None


def test_composable_strategies_give_valid_laws():
    from multidraft.drafting import check_law
    from multidraft.properties.strategies import LAW_KINDS, drafting_laws, laws, pairs

    @settings(max_examples=40, deadline=None, database=None)
    @given(laws(5), pairs(4, n=2), drafting_laws(3, 2))
    def check(p, pair, law):
        for x in (p, *pair):
            assert (x >= 0).all() and abs(x.sum() - 1) < 1e-12
        check_law(law, 3, 2)

    check()
    kinds = set()

    @settings(max_examples=40, deadline=None, database=None)
    @given(drafting_laws(3, 2))
    def collect(law):
        kinds.add(law.name)

    collect()
    assert len(kinds) == len(LAW_KINDS)


def test_counterexamples_shrink_in_the_law_values():
    """Values are drawn through hypothesis (not a seed): a Dirichlet law asked to have a top
    above 0.6 shrinks to one whose other entries are all equal (their uniforms at the median)."""
    from hypothesis import find

    from multidraft.properties.strategies import pairs

    p, _ = find(
        pairs(5, families=("dirichlet",), modifiers=False),
        lambda pq: pq[0].max() > 0.6,
        settings=settings(database=None, max_examples=2000),
    )
    rest = np.sort(p)[:-1]
    assert p.max() > 0.6 and np.ptp(rest) <= 1e-12 * rest.max()


def test_profiles_are_registered_explicitly():
    from hypothesis import settings as hsettings

    from multidraft.properties.strategies import PROFILES, register_profiles

    register_profiles()
    assert hsettings.get_profile("thorough").max_examples == PROFILES["thorough"].max_examples
