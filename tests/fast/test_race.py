"""The uniform-key race: induced law, potential gradient and Hessian against exact enumeration."""

import itertools

import numpy as np
import pytest
import torch

from multidraft.fast.race import (
    Race,
    evaluate,
    hessian,
    hessian_diagonal,
    hessian_matvec,
    induced_law,
    potential,
    win_probabilities,
)


def random_race(rng, k, n, reject, with_base):
    masses = rng.dirichlet(np.ones(k + 1))
    base = masses[-1] if with_base else 0.0
    q = masses[:k] / masses[:k].sum() * (1.0 - base)
    u = rng.uniform(-1.5, 1.5, size=k)
    u[rng.random(k) < 0.3] = u[0]  # exact ties between utilities
    race = Race(torch.tensor(u)[None], torch.tensor(q)[None], torch.tensor([base]), n, torch.tensor([reject]))
    return race, u, q, base


@pytest.mark.parametrize("seed", range(12))
def test_induced_law_equals_enumeration_of_per_tuple_win_probabilities(seed):
    rng = np.random.default_rng(seed)
    k, n = int(rng.integers(1, 4)), int(rng.integers(1, 5))
    reject, with_base = bool(seed % 2), seed % 3 == 0
    race, u, q, base = random_race(rng, k, n, reject, with_base)
    law = induced_law(race)[0].numpy()
    probs = np.append(q, base)  # token k = a non-participating draft
    tuples = np.array(list(itertools.product(range(k + 1), repeat=n)))
    active = tuples < k
    u_drafts = np.where(active, u[np.minimum(tuples, k - 1)], 0.0)
    wins = win_probabilities(torch.tensor(u_drafts), torch.tensor(active), torch.full((len(tuples),), reject)).numpy()
    weight = np.prod(probs[tuples], axis=1)
    expected = np.zeros(k)
    for j in range(n):
        np.add.at(expected, tuples[active[:, j], j], weight[active[:, j]] * wins[active[:, j], j])
    np.testing.assert_allclose(law, expected, rtol=0, atol=1e-14)
    has_competitor = active.any(axis=1) | reject
    np.testing.assert_allclose(wins[has_competitor].sum(axis=1), 1.0, rtol=0, atol=1e-13)


@pytest.mark.parametrize("seed", range(6))
def test_gradient_and_hessian_match_finite_differences(seed):
    rng = np.random.default_rng(100 + seed)
    race, u, q, base = random_race(rng, 4, int(rng.integers(1, 5)), bool(seed % 2), True)
    u = u + rng.normal(scale=1e-3, size=u.shape)  # move off exact ties (kinks of the Hessian)

    def at(v):
        return Race(torch.tensor(v)[None], race.q, race.base, race.n, race.reject)

    eps = 1e-6
    grad = np.array(
        [(potential(at(u + eps * e))[0] - potential(at(u - eps * e))[0]).item() / (2 * eps) for e in np.eye(4)]
    )
    np.testing.assert_allclose(grad, induced_law(at(u))[0].numpy(), atol=1e-8)
    jac = np.stack(
        [(induced_law(at(u + eps * e))[0] - induced_law(at(u - eps * e))[0]).numpy() / (2 * eps) for e in np.eye(4)],
        axis=1,
    )
    np.testing.assert_allclose(hessian(at(u))[0].numpy(), jac, atol=1e-6)


@pytest.mark.parametrize("seed", range(6))
def test_matrix_free_hessian_matches_dense(seed):
    rng = np.random.default_rng(200 + seed)
    B, k, n = 3, int(rng.integers(1, 40)), int(rng.integers(1, 6))
    u = torch.tensor(rng.uniform(-2, 2, (B, k)))
    u[:, : k // 3] = u[:, :1]
    q = torch.tensor(rng.dirichlet(np.ones(k + 1), B)[:, :k])
    race = Race(u, q, torch.tensor([0.1, 0.0, 0.3]), n, torch.tensor([True, False, True]))
    ev = evaluate(race)
    H = hessian(race, ev)
    x = torch.tensor(rng.normal(size=(B, k)))
    torch.testing.assert_close(hessian_matvec(race, ev, x), (H @ x[..., None])[..., 0], atol=1e-12, rtol=0)
    torch.testing.assert_close(hessian_diagonal(race, ev), torch.diagonal(H, dim1=1, dim2=2), atol=1e-13, rtol=0)
