"""Where the time of one compiled global-resolution call goes, stage by stage (CPU, float64).

``python -m multidraft.bench.stages`` (with ``OMP_NUM_THREADS=1`` for one thread) times, on
LLM-like rows of ``bench fast`` (V = 128,256), the stages that ``global_resolution(p, q, n)``
+ ``plan.sample(drafts)`` runs on torch inputs, each around its own call with
``time.perf_counter``, in the order the call runs them, so each stage finds the caches the
call leaves it:

* ``validate``: :func:`multidraft.validation.check_pair_tensors` with ``draft_counts`` (one
  compiled pass over p, one over q that also counts q's support per block);
* ``solve``: :func:`multidraft.fast.kernel.solve_rows` given those counts (support, cut, both
  fits, the plan's parts);
* ``plan``: the :class:`~multidraft.fast.solver.Plan` around the kernel's arrays;
* ``sample``: ``plan.sample(drafts)`` (draft validation, the noise, the compiled race; the
  residual walk over the vocabulary only for a rejected draft);

beside the whole call (``total``, timed first on each row, rows cold as in the benchmark) and
the read bound (``read``: ``p.max() + q.max()``, :func:`multidraft.bench.fast.read_seconds`).
Medians over rows and passes, in ms; ``other`` = total minus the stages. A diagnostic, not a
``multidraft bench`` table: its stages find warmer caches than the call does.
"""

from __future__ import annotations

import os
import time

import numpy as np

#: (k, n) of the per-token breakdown, and the batch of the throughput breakdown.
CASES = ((10, 2), (10, 4), (1000, 2), (1000, 16), (10000, 2))
BATCH = (64, 10, 4)
STAGES = ("total", "read", "validate", "solve", "plan", "sample")


def stage_times(
    target: np.ndarray, draft: np.ndarray, drafts: np.ndarray, n: int, *, batched: bool = False, passes: int = 3
) -> dict:
    """Median ms per stage (:data:`STAGES`, and ``other``) of solving and sampling the
    (B, V) laws ``target``, ``draft`` with ``drafts`` (B, n): one row per call, or all B rows
    in one call when ``batched``; ``passes`` passes over the rows."""
    import torch

    from multidraft.fast import global_resolution, kernel, solver
    from multidraft.validation import check_pair_tensors

    from .fast import read_seconds

    generator = torch.Generator().manual_seed(0)
    times: dict = {name: [] for name in STAGES}
    P, Q, D = (torch.as_tensor(x) for x in (target, draft, drafts))
    global_resolution(P[:1], Q[:1], n).sample(D[:1], generator=generator)  # warm-up (loads the kernel)
    calls = [(P, Q, D)] if batched else list(zip(P.split(1), Q.split(1), D.split(1)))
    for _ in range(passes):
        for p, q, d in calls:
            start = time.perf_counter()
            global_resolution(p, q, n).sample(d, generator=generator)
            times["total"].append(time.perf_counter() - start)
            times["read"].append(read_seconds(p.numpy(), q.numpy()))
            marks = [time.perf_counter()]
            pt, qt, _, counts = check_pair_tensors(p, q, dtype=torch.float64, draft_counts=True)
            marks.append(time.perf_counter())
            out = kernel.solve_rows(pt.numpy(), qt.numpy(), n, 1e-9 * solver.FIT_TOL_SHARE, solver.MAX_ITER, 1, counts)
            marks.append(time.perf_counter())
            plan = solver.Plan(pt, None, out["u"], out["a"], n, {"iterations": 0, "loss": 0, "tol": 1e-9}, out)
            marks.append(time.perf_counter())
            plan.sample(d, generator=generator)
            marks.append(time.perf_counter())
            for name, lo, hi in zip(STAGES[2:], marks, marks[1:]):
                times[name].append(hi - lo)
    medians = {name: 1e3 * float(np.median(values)) for name, values in times.items()}
    medians["other"] = medians["total"] - sum(medians[name] for name in STAGES[2:])
    return medians


def main() -> None:
    import torch

    from .problems import draw_drafts, llm_problems

    V = 128256
    print(f"load average {os.getloadavg()}, torch threads {torch.get_num_threads()}, V = {V}; medians in ms")
    print("case".ljust(16) + " ".join(f"{name:>9}" for name in (*STAGES, "other")))
    B, k_batch, n_batch = BATCH
    for k, n, rows, batched in [(k, n, 10 if k >= 10000 else 30, False) for k, n in CASES] + [
        (k_batch, n_batch, B, True)
    ]:
        problems = llm_problems(rows, V, k, seed=0)
        medians = stage_times(
            problems.target,
            problems.draft,
            draw_drafts(problems.draft, n, 0),
            n,
            batched=batched,
            passes=5 if batched else 3,
        )
        label = f"B={B} ({k}, {n})" if batched else f"({k}, {n})"
        print(label.ljust(16) + " ".join(f"{medians[name]:9.3f}" for name in (*STAGES, "other")))


if __name__ == "__main__":
    main()
