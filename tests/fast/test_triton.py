"""The Triton backend against the CPU kernel and the torch reference, in triton's interpreter.

Without a GPU the kernels run under ``TRITON_INTERPRET=1`` on CPU tensors (set below, before
the kernels are imported; with CUDA they run compiled on the GPU). The interpreter costs about
a millisecond per block operation, so the problems are small (B <= 8, V <= 64, k <= 30,
n <= 5); each test still exercises several comparison tiles, every loop and the edge cases
(ties, zeros, one-hot, p = q, tiny masses, supports that overflow the bucket). The offline
compile for sm_80 / sm_90 runs in a subprocess without the interpreter.
"""

import os
import subprocess
import sys

import numpy as np
import pytest
import torch

CUDA = torch.cuda.is_available()
if not CUDA:
    os.environ["TRITON_INTERPRET"] = "1"

triton = pytest.importorskip("triton")

import multidraft as md  # noqa: E402
from multidraft.fast import triton_backend as TB  # noqa: E402
from multidraft.fast.kernel import residual_draws  # noqa: E402
from multidraft.fast.race import Race, evaluate, hessian, induced_law, legendre, node_count  # noqa: E402
from multidraft.fast.solver import GlobalResolution, global_resolution  # noqa: E402
from multidraft.reference import optimal_acceptance_for  # noqa: E402
from multidraft.validation import InvalidInputError  # noqa: E402

DEVICE = "cuda" if CUDA else "cpu"
EXACT = 1e-12


def _problem(rng, V, kind):
    """(p, q) of one adversarial kind (the kinds of tests/fast/test_global_resolution.py)."""
    p, q = rng.dirichlet(np.full(V, 0.5)), rng.dirichlet(np.full(V, 0.5))
    if kind == "zeros_p":
        p[rng.random(V) < 0.4] = 0.0
    elif kind == "zeros_q":
        q[rng.random(V) < 0.5] = 0.0
    elif kind == "tiny":
        p[0], q[1] = 1e-30, 1e-30
    elif kind == "ties":
        q = p * rng.choice([0.5, 1.0, 2.0], size=V)
    elif kind == "equal":
        q = p.copy()
    elif kind == "one_hot_p":
        p = np.zeros(V)
        p[rng.integers(V)] = 1.0
    elif kind == "one_hot_q":
        q = np.zeros(V)
        q[rng.integers(V)] = 1.0
    elif kind == "disjoint":
        half = V // 2
        p[half:], q[:half] = 0.0, 0.0
    p, q = p / p.sum(), q / q.sum()
    return p, q


KINDS = ["plain", "zeros_p", "zeros_q", "tiny", "ties", "equal", "one_hot_p", "one_hot_q", "disjoint"]


def _batch(seed, V, kinds):
    rng = np.random.default_rng(seed)
    pairs = [_problem(rng, V, kind) for kind in kinds]
    return (
        torch.tensor(np.array([a for a, _ in pairs]), device=DEVICE),
        torch.tensor(np.array([b for _, b in pairs]), device=DEVICE),
    )


@pytest.mark.parametrize("n", [1, 2, 3, 5])
@pytest.mark.parametrize("KP", [16, 32])
def test_race_evaluation_and_hessian_product_match_race_py(n, KP):
    """The fit's exact law, potential, window curvatures and Hessian product, against race.py,
    on utilities with ties, values below the reject barrier and windows past the padding's."""
    from multidraft.fast import triton_kernels as K

    rng = np.random.default_rng(n * 100 + KP)
    B, m = 4, KP - 3
    q = torch.zeros(B, KP, dtype=torch.float64)
    u = torch.zeros_like(q)
    q[:, :m] = torch.tensor(rng.dirichlet(np.ones(m), B)) * 0.8
    q[0, 2] = 0.0  # a slot that does not take part
    values = rng.uniform(-1.5, 1.2, (B, m))
    values[:, :3], values[:, 3:5], values[:, 5] = -1.0, 0.0, -0.999999  # ties with each other and with 0, 1
    u[:, :m] = torch.tensor(values)
    base = torch.full((B,), 0.2, dtype=torch.float64)
    reject = torch.tensor([1, 0, 1, 0], dtype=torch.int8)
    x = torch.tensor(rng.normal(size=(B, KP)))
    x[:, m:] = 0.0
    a, cs, ce, bnd, hx = (torch.empty_like(q) for _ in range(5))
    psi = torch.empty(B, dtype=torch.float64)
    scratch = torch.zeros(B * K.SCRATCH_PER_SLOT * KP, dtype=torch.float64)
    nx, nw = legendre(node_count(n), q)
    args = [t.to(DEVICE) for t in (u, q, base, reject, a, psi, cs, ce, bnd, hx, x, scratch, nx, nw)]
    K.evaluate_kernel[(B,)](*args, nx.shape[0], n, KP=KP, TILE=16, MIXED=False)
    a, psi, bnd, hx = (t.cpu() for t in (args[4], args[5], args[8], args[9]))
    race = Race(u[:, :m], q[:, :m], base, n, reject.bool())
    ev = evaluate(race)
    H = hessian(race, ev)
    torch.testing.assert_close(a[:, :m], ev.a, atol=EXACT, rtol=0)
    torch.testing.assert_close(psi, ev.potential, atol=EXACT, rtol=0)
    torch.testing.assert_close(hx[:, :m], (H @ x[:, :m, None])[..., 0], atol=EXACT, rtol=0)
    torch.testing.assert_close(
        bnd[:, :m] - q[:, :m] ** 2 * (args[7].cpu() - args[6].cpu())[:, :m],
        torch.diagonal(H, dim1=1, dim2=2),
        atol=EXACT,
        rtol=0,
    )
    assert float(a[:, m:].abs().max()) == 0.0  # padding never wins


def _compare_with_cpu(P, Q, n, mixed=False):
    tri = TB.solve(P, Q, n, mixed_precision=mixed)
    cpu = global_resolution(P.cpu(), Q.cpu(), n, backend="numba")
    B = P.shape[0]
    for b in range(B):
        k = int(cpu.support.valid[b].sum())
        assert int(tri.support.valid[b].sum()) == k
        # the same stable sort by p/q, the same cut and alpha*
        assert torch.equal(tri.support.index[b, :k].cpu(), cpu.support.index[b, :k])
        assert int(tri.support.inner[b].sum()) == int(cpu.support.inner[b].sum())
        assert torch.equal(tri._sorted_ids[b, :k].cpu(), cpu._sorted_ids[b, :k])
        assert torch.equal(tri._slot_of_sorted[b, :k].cpu(), cpu._slot_of_sorted[b, :k])
    torch.testing.assert_close(tri.alpha_star.cpu(), cpu.alpha_star, atol=EXACT, rtol=0)
    # the law handed to the plan is the exact law of the plan's utilities (race.py, per system)
    s = tri.support
    for inner in (True, False):
        live = (s.inner & (s.p > 0)) if inner else (s.valid & ~s.inner)
        mass = torch.where(live, s.q, 0.0).sum(dim=1)
        base = s.q_inner - mass if inner else s.q_inner
        race = Race(
            torch.where(live, tri.u, 0.0).cpu(),
            torch.where(live, s.q, 0.0).cpu(),
            base.cpu(),
            n,
            torch.full((B,), inner),
        )
        torch.testing.assert_close(torch.where(live.cpu(), tri.a.cpu(), 0.0), induced_law(race), atol=EXACT, rtol=0)
    torch.testing.assert_close(tri.kept.cpu(), torch.minimum(tri.a, s.p).sum(dim=1).cpu(), atol=EXACT, rtol=0)
    # both optimal to the solver tolerance
    torch.testing.assert_close(tri.kept.cpu(), cpu.kept, atol=1e-9, rtol=0)
    assert bool(tri.status.success.all()), tri.status
    return tri, cpu


@pytest.mark.parametrize("n", [1, 2, 4])
def test_solve_matches_the_cpu_kernel_on_adversarial_rows(n):
    P, Q = _batch(n, 24, KINDS[:8])
    tri, cpu = _compare_with_cpu(P, Q, n)
    drafts = np.random.default_rng(n).integers(0, 24, size=(8, n))
    torch.testing.assert_close(tri.conditional(drafts).cpu(), cpu.conditional(drafts), atol=1e-9, rtol=0)


def test_solve_matches_the_cpu_kernel_across_several_tiles():
    """Supports of 30-60 tokens: buckets of 32 and 64 slots, several comparison tiles, CG steps."""
    rng = np.random.default_rng(7)
    P = rng.dirichlet(np.full(64, 0.3), 2)
    Q = rng.dirichlet(np.full(64, 0.3), 2)
    Q[0, 30:] = 0.0
    Q[0] /= Q[0].sum()
    _compare_with_cpu(torch.tensor(P, device=DEVICE), torch.tensor(Q, device=DEVICE), 3)


def test_mixed_precision_directions_stay_exact():
    P, Q = _batch(3, 24, ["plain", "ties", "zeros_q"])
    _compare_with_cpu(P, Q, 3, mixed=True)


#: Edge cases with their alpha* where it is simple (None: checked against the closed form only).
NAMED = {
    "p equals q": (np.full(5, 0.2), np.full(5, 0.2), 2, 1.0),
    "disjoint supports": (np.array([0.2, 0.3, 0.5, 0, 0, 0]), np.array([0, 0, 0, 0.3, 0.3, 0.4]), 3, 0.0),
    "one-hot p": (np.array([0, 0, 1.0, 0]), np.array([0.1, 0.2, 0.3, 0.4]), 2, 1 - 0.7**2),
    "one-hot q": (np.array([0.5, 0.1, 0.4]), np.array([0, 0, 1.0]), 3, 0.4),
    "n = 1 is 1 - TV": (np.array([0.5, 0.25, 0.25]), np.array([0.25, 0.25, 0.5]), 1, 0.75),
    "ties and zeros": (np.array([0.3, 0.3, 0.2, 0.2, 0.0]), np.array([0.15, 0.15, 0.1, 0.1, 0.5]), 3, None),
    "tiny masses": (np.array([1e-30, 0.5, 0.5 - 1e-30]), np.array([0.5, 1e-30, 0.5 - 1e-30]), 2, None),
}


@pytest.mark.parametrize("name", NAMED)
def test_lossless_and_optimal_by_exact_enumeration(name):
    p, q, n, alpha = NAMED[name]
    verifier = GlobalResolution(backend="triton", device=DEVICE)
    ev = md.evaluate(verifier, p, q, n, alpha_star=optimal_acceptance_for(p, md.IID(q, n)))
    plan = verifier.plan(p, q, n)
    assert ev.tv <= EXACT and ev.validity_error <= EXACT, ev.summary()
    assert ev.alpha_star - float(plan.kept[0]) <= 1e-8
    if alpha is not None:
        assert float(plan.alpha_star[0]) == pytest.approx(alpha, abs=1e-12)


def test_rows_past_the_bucket_get_the_trivial_lossless_plan():
    """``support_size`` smaller than a row's support: that row rejects every draft (output = p),
    reports loss inf and is not converged; the other rows are unaffected."""
    p = np.array([[0.4, 0.3, 0.2, 0.1] + [0.0] * 16, [0.25] * 4 + [0.0] * 16])
    q = np.zeros((2, 20))
    q[0, :] = 1.0 / 20  # 20 draft tokens: past a bucket of 16 (15 slots)
    q[1, :4] = [0.1, 0.2, 0.3, 0.4]
    P, Q = torch.tensor(p, device=DEVICE), torch.tensor(q, device=DEVICE)
    plan = TB.solve(P, Q, 2, support_size=4)
    assert float(plan.status.loss[0]) == float("inf") and not bool(plan.status.success[0])
    assert float(plan.kept[0]) == 0.0 and bool(plan.status.success[1])
    ids = torch.tensor([[0, 1], [19, 3]], device=DEVICE)
    law = plan.conditional(ids).cpu()
    torch.testing.assert_close(law[0], torch.tensor(p[0]), atol=EXACT, rtol=0)


def _reference_sample(plan, ids, rows, noise):
    """The torch race and accept test, then the compiled kernel's inverse-CDF residual draw."""
    tokens, accepted = plan._race(ids.cpu(), rows.cpu(), noise[:, :-1].cpu())
    redraw = (~accepted).nonzero()[:, 0]
    parts = (plan._p, plan._sorted_ids, plan._slot_of_sorted, plan._residual_on_support)
    tokens[redraw] = torch.from_numpy(
        residual_draws(
            *(x.cpu().contiguous().numpy() for x in parts), rows[redraw].cpu().numpy(), noise[redraw, -1].cpu().numpy()
        )
    )
    return tokens, accepted


@pytest.mark.parametrize("n", [1, 3])
def test_sampling_with_given_uniforms_is_the_reference_draw(n):
    """Given the same uniforms, the kernel outputs the tokens of the torch race + accept test and
    the residual's inverse CDF (the draw whose law tests/fast/test_global_resolution.py checks
    against ``Plan.conditional``), for every tuple: accepted and rejected, inner and outer."""
    P, Q = _batch(10 + n, 24, ["plain", "zeros_q", "ties", "one_hot_p"])
    plan = TB.solve(P, Q, n)
    rng = np.random.default_rng(n)
    M = 32
    rows = torch.tensor(rng.integers(0, 4, M), device=DEVICE)
    ids = torch.multinomial(Q[rows], n, replacement=True, generator=torch.Generator(DEVICE).manual_seed(n))
    noise = torch.tensor(rng.random((M, n + 3)), device=DEVICE)
    tokens, accepted = TB.sample(plan, ids, rows, uniforms=noise)
    ref_tokens, ref_accepted = _reference_sample(plan, ids, rows, noise)
    assert torch.equal(accepted.cpu(), ref_accepted)
    assert torch.equal(tokens.cpu(), ref_tokens)
    assert 0 < int(accepted.sum()) < M  # both branches taken


def test_philox_sampling_is_seeded_and_in_range():
    P, Q = _batch(5, 24, ["plain", "ties"])
    plan = global_resolution(P, Q, 2, backend="triton")
    drafts = torch.tensor([[1, 2], [3, 3]], device=DEVICE)
    draws = [plan.sample(drafts, generator=torch.Generator(DEVICE).manual_seed(s))[0].cpu() for s in (0, 0, 1, 2, 3)]
    assert torch.equal(draws[0], draws[1])
    assert not all(torch.equal(draws[0], d) for d in draws[2:])
    assert all(bool(((d >= 0) & (d < 24)).all()) for d in draws)


def test_bad_inputs_name_the_argument(monkeypatch):
    P, Q = _batch(1, 8, ["plain"])
    with pytest.raises(InvalidInputError, match="backend"):
        global_resolution(P.float(), Q.float(), 2, backend="triton", dtype=torch.float32)
    with pytest.raises(InvalidInputError, match="draft"):
        TB.support_bucket(TB.MAX_BUCKET)
    if not CUDA:
        monkeypatch.setenv("TRITON_INTERPRET", "0")
        with pytest.raises(InvalidInputError, match="backend: 'triton' runs on CUDA"):
            global_resolution(P, Q, 2, backend="triton")


def test_auto_picks_triton_only_on_cuda():
    from multidraft.fast.solver import _use_triton

    assert not _use_triton("auto", torch.zeros(1, 2, dtype=torch.float64))
    assert _use_triton("triton", torch.zeros(1, 2, dtype=torch.float64))


COMPILE = """
import json, sys
from multidraft.fast.triton_backend import offline_compile
out = {}
for name, arch, bucket in json.loads(sys.argv[1]):
    r = offline_compile(name, arch, bucket)
    out[f"{name} sm_{arch} KP={bucket}"] = [r["registers"], r["spill_stores"], r["spill_loads"]]
print(json.dumps(out))
"""


def _offline_compile(cases):
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    import json

    out = subprocess.run(
        [sys.executable, "-c", COMPILE, json.dumps(cases)], capture_output=True, text=True, env=env, timeout=900
    )
    if out.returncode != 0 and ("ptxas" in out.stderr and "No such file" in out.stderr):
        pytest.skip(f"no ptxas for the offline compile: {out.stderr[-300:]}")
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_offline_compile_without_spills_sm80_sm90():
    """The largest spill-free bucket's fit kernel (the heaviest) and the sampling kernel compile
    for sm_80 and sm_90 with no register spill (the full sweep: the slow test below)."""
    largest = max(TB.SPILL_FREE)
    cases = [["fit_kernel", arch, largest] for arch in (80, 90)] + [["sample_kernel", 90, largest]]
    report = _offline_compile(cases)
    for case, (registers, stores, loads) in report.items():
        assert stores == 0 and loads == 0, (case, registers, stores, loads)


@pytest.mark.slow
@pytest.mark.skipif(not os.environ.get("MULTIDRAFT_SLOW"), reason="40 compiles, minutes: set MULTIDRAFT_SLOW=1")
def test_offline_compile_every_shipped_configuration():
    """Every kernel, sm_80 and sm_90, every spill-free bucket (passed on 2026-12-03, 142 s)."""
    cases = [[name, arch, bucket] for name in TB.SIGNATURES for arch in (80, 90) for bucket in TB.SPILL_FREE]
    report = _offline_compile(cases)
    spilled = {case: r for case, r in report.items() if r[1] or r[2]}
    assert not spilled, spilled


NO_TRITON = """
import sys
sys.modules["triton"] = None  # import triton now fails, as without the gpu extra
import multidraft.fast
from multidraft.fast import global_resolution, triton_backend
from multidraft.validation import InvalidInputError
assert not triton_backend.triton_available()
plan = global_resolution([0.5, 0.5], [0.25, 0.75], 2)  # the CPU install is unaffected
try:
    global_resolution([0.5, 0.5], [0.25, 0.75], 2, backend="triton")
except InvalidInputError as error:
    assert "pip install multidraft[gpu]" in str(error)
else:
    raise AssertionError("no error without triton")
"""


def test_everything_imports_without_triton():
    out = subprocess.run([sys.executable, "-c", NO_TRITON], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]


@pytest.mark.cuda
@pytest.mark.skipif(not CUDA, reason="needs a CUDA device")
def test_solve_and_sample_never_synchronise_and_replay_in_a_cuda_graph():
    P, Q = _batch(2, 64, KINDS)
    ids = torch.multinomial(Q, 3, replacement=True, generator=torch.Generator(DEVICE).manual_seed(0))
    TB.sample(TB.solve(P, Q, 3, support_size=64), ids)  # compile first
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        plan = TB.solve(P, Q, 3, support_size=64)
        tokens, _ = TB.sample(plan, ids)
    finally:
        torch.cuda.set_sync_debug_mode("default")
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        captured = TB.solve(P, Q, 3, support_size=64)
        out, _ = TB.sample(captured, ids)
    graph.replay()
    torch.cuda.synchronize()
    torch.testing.assert_close(captured.kept, plan.kept, atol=0, rtol=0)
    assert bool(((out >= 0) & (out < 64)).all())
