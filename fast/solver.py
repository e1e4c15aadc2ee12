"""Global resolution for n i.i.d. drafts: exactly lossless, optimal, batched (CPU and CUDA).

The optimal plan splits at the smallest minimising cut H = H_min (docs/maths.md):

* **outer system** -- if some draft lies outside H, one of those drafts is selected by a
  uniform-key race among them (:mod:`multidraft.fast.race`), never rejected;
* **inner system** -- if every draft lies in H, a race among the drafts with ``p > 0``
  plus a reject competitor selects a draft or rejects.

The utilities are fitted (:mod:`multidraft.fast.fit`) so that the induced law a meets
``a_i = p_i`` on H and ``a_i <= p_i`` outside it, which is optimal: acceptance
``p(H) + 1 - q(H)^n = alpha*``. The induced law a of the races is computed *exactly*.

Exactly lossless whatever the fit. After the race selects token c, accept it with
probability ``min(1, p_c / a_c)``; otherwise (and on a reject) output a sample of the
residual ``r = (p - min(a, p)) / Z``, ``Z = sum (p - min(a, p))``. The output law is
``min(a, p) + Z r = p`` exactly, for any a that is the rule's true induced law; the
acceptance is ``sum min(a, p)``, which equals alpha* when the fit has converged and
falls short by at most the fit's measured loss otherwise (reported, never hidden).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor

from multidraft.validation import (
    InvalidInputError,
    check_choice,
    check_generator,
    check_n,
    check_pair_tensors,
    check_positive_float,
    is_torch_tensor,
)

from .base import Verifier, draft_id_rows, draft_id_tensor, in_drafts
from .fit import fit_race
from .race import win_probabilities
from .support import OUTER_CAP, DraftSupport, draft_support, inner_start

#: Newton iterations at most per system, by default.
MAX_ITER = 100


@dataclass
class PlanStatus:
    """Per-row diagnostics of a solve (tensors of shape (B,)).

    ``iterations`` Newton iterations (inner + outer); ``loss`` the fit's final
    ``sum |a - target|`` (the acceptance it can cost); ``gap`` ``alpha_star - kept``;
    ``success`` ``gap <= tol`` (the vocabulary of CHANGELOG.md: ``success``, ``iterations``).
    """

    iterations: Tensor
    loss: Tensor
    gap: Tensor
    success: Tensor


class _Member:
    """A plan member held as its backend made it and read as a tensor.

    The compiled kernel returns numpy arrays; each becomes a tensor on its first read
    (``torch.from_numpy``: no copy) and stays one. A plan that is only sampled by the
    compiled kernel, which reads the arrays themselves (:meth:`Plan._array`), converts none
    of its twenty-odd parts (about 0.5 us each). Assignments go to the same store, so the
    compiled sampler sees them too.
    """

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, plan: Any, owner: type | None = None) -> Any:
        if plan is None:
            return self
        value = plan._members[self.name]
        if isinstance(value, np.ndarray):
            value = plan._members[self.name] = torch.from_numpy(value)
        return value

    def __set__(self, plan: Any, value: Any) -> None:
        plan._members[self.name] = value


class Plan:
    """An exactly lossless, optimal verifier for B problems (p_b, q_b, n).

    Attributes
    ----------
    kept : (B,) float            ``sum min(a, p)``: probability that the race's chosen draft is
                                 kept. A lower bound on the acceptance ``P(output in drafts)``
                                 (a residual draw may also hit a draft), which it trails by at
                                 most ``alpha_star - kept = status.gap``
    alpha_star : (B,) float      alpha* (closed form)
    status : PlanStatus          per-row ``iterations``, ``loss``, ``gap``, ``success``
    """

    u = _Member()
    a = _Member()
    outer = _Member()
    inner_active = _Member()
    kept = _Member()
    alpha_star = _Member()
    accept_ratio = _Member()
    _residual_on_support = _Member()
    _sorted_ids = _Member()
    _slot_of_sorted = _Member()

    def __init__(
        self,
        p: Tensor,
        support: DraftSupport | None,
        u: Tensor | np.ndarray,
        a: Tensor | np.ndarray,
        n: int,
        status_parts: dict,
        parts: dict | None = None,
        compiled: bool | None = None,
    ):
        """``support`` None: the compiled kernel's numpy ``parts`` (:func:`_solve_compiled`)
        hold it (``index``, ``p``, ``q``, ``valid``, ``inner``, ``alpha``, ``q_inner``),
        made a :class:`DraftSupport` on first use."""
        self.n = n
        self.vocab_size = p.shape[1]
        self.batch_size = p.shape[0]
        self._members: dict = {}
        self._support = support
        parts = parts if parts is not None else plan_parts(support, a, self.vocab_size)
        self._parts = parts
        self.u, self.a = u, a
        self.outer = parts["outer"]
        self.inner_active = parts["inner_active"]
        self.kept = parts["acceptance"]
        self.alpha_star = parts["alpha"] if support is None else support.alpha_star
        self.accept_ratio = parts["accept_ratio"]
        # The residual (p - min(a, p)) / Z is p off the draft support and p - kept on it. It
        # is materialised only when needed (conditional laws, or rows whose draft was not
        # kept), so a kept draft costs no pass over the vocabulary.
        self._p = p
        #: Sample with the compiled kernel (CPU, float64: the same draws as the torch code):
        #: where the solve ran it (``backend``), by default wherever it can run.
        self.compiled_sampling = kernel_fits(p) if compiled is None else compiled
        self._residual_on_support = parts["residual_on_support"]
        self._residual: Tensor | None = None
        self._sorted_ids, self._slot_of_sorted = parts["sorted_ids"], parts["slot_of_sorted"]
        #: A backend's own sampler (the Triton kernel, fast/triton_backend.py), else None.
        self._sampler = parts.get("sampler")
        self._status_parts = status_parts
        self._status: PlanStatus | None = None

    @property
    def support(self) -> DraftSupport:
        """The draft support of every row (:class:`~multidraft.fast.support.DraftSupport`)."""
        if self._support is None:
            parts = {name: _tensor(self._parts[name]) for name in ("index", "p", "q", "valid", "inner", "q_inner")}
            self._support = DraftSupport(alpha_star=self.alpha_star, **parts)
        return self._support

    @property
    def status(self) -> PlanStatus:
        """Per-row diagnostics (:class:`PlanStatus`; computed on first use)."""
        if self._status is None:
            gap = self.alpha_star - self.kept
            self._status = PlanStatus(
                iterations=_tensor(self._status_parts["iterations"]),
                loss=_tensor(self._status_parts["loss"]),
                gap=gap,
                success=gap <= self._status_parts["tol"],
            )
        return self._status

    def _array(self, name: str) -> np.ndarray:
        """Member ``name`` as a C-contiguous numpy array (CPU), for the compiled sampler."""
        value = self._members[name]
        return value if isinstance(value, np.ndarray) else _numpy(value)

    def _unnormalised_residual(self, rows: Tensor) -> Tensor:
        """``p - min(a, p)`` for the given plan rows, (M, V): a fresh tensor.

        Padding slots of the support repeat the row's first slot (same index, same value),
        so the scatter has no conflicting writes.
        """
        support = self.support
        valid = support.valid[rows]
        index = torch.where(valid, support.index[rows], support.index[rows, :1])
        on_support = self._residual_on_support[rows]
        return self._p[rows].scatter_(1, index, torch.where(valid, on_support, on_support[:, :1]))

    def _residual_rows(self, rows: Tensor) -> Tensor:
        """Residual laws of the given plan rows, (M, V); p where the residual mass rounds to 0."""
        residual = self._unnormalised_residual(rows)
        mass = residual.sum(dim=1, keepdim=True)
        empty = mass <= 0
        return torch.where(empty, self._p[rows], residual / torch.where(empty, torch.ones_like(mass), mass))

    @property
    def residual(self) -> Tensor:
        """The residual law of every row, (B, V) (computed on first use, then kept)."""
        if self._residual is None:
            self._residual = self._residual_rows(torch.arange(self.batch_size, device=self._p.device))
        return self._residual

    def _draft_arrays(self, drafts: Any) -> tuple[np.ndarray, np.ndarray]:
        """Validated drafts (M, n) int64 and the plan row serving each tuple (M,) int64, numpy.

        ``drafts`` (n,) or (M, n); M must equal the batch size B, unless B = 1 (the one plan
        then serves every tuple) or M = 1 (the one tuple is repeated for every plan row).
        """
        return self._serve(draft_id_rows(drafts, self.vocab_size, self.n))

    def _serve(self, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Validated ids (M, n) broadcast against the B plan rows, and the row serving each."""
        M, B = ids.shape[0], self.batch_size
        if M != B and 1 not in (M, B):
            raise InvalidInputError(f"drafts: expected shape ({self.n},) or ({B}, {self.n}), got {tuple(ids.shape)}")
        rows = np.arange(M) if M == B else np.zeros(max(M, B), dtype=np.int64)
        return (ids if M >= B else np.repeat(ids, B, axis=0)), rows

    def _draft_rows(self, drafts: Any) -> tuple[Tensor, Tensor]:
        """:meth:`_draft_arrays` as long tensors on the plan's device; a torch integer tensor
        already there is checked there (:func:`~multidraft.fast.base.draft_id_tensor`), not
        through a host copy."""
        device = self.u.device
        ids = (
            draft_id_tensor(drafts, self.vocab_size, self.n)
            if (isinstance(drafts, Tensor) and drafts.device == device)
            else None
        )
        if ids is None:
            ids_np, rows_np = self._draft_arrays(drafts)
            return torch.as_tensor(ids_np, device=device), torch.as_tensor(rows_np, device=device)
        return self._rows_of(ids)

    def _rows_of(self, ids: Tensor) -> tuple[Tensor, Tensor]:
        """Validated draft ids (M, n) on the plan's device, broadcast against the B plan rows,
        and the plan row serving each tuple (:meth:`_draft_arrays`'s rule), as tensors."""
        B, M = self.batch_size, ids.shape[0]
        if M != B and 1 not in (M, B):
            raise InvalidInputError(f"drafts: expected shape ({self.n},) or ({B}, {self.n}), got {tuple(ids.shape)}")
        rows = (
            torch.arange(M, device=ids.device)
            if M == B
            else torch.zeros(max(M, B), dtype=torch.long, device=ids.device)
        )
        return (ids if M >= B else ids.expand(B, -1)), rows

    def _lookup(self, ids: Tensor, rows: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """Look drafts up: slots, found, participation, reject flag (torch code)."""
        sorted_ids = self._sorted_ids[rows]
        pos = torch.searchsorted(sorted_ids, ids).clamp_max(sorted_ids.shape[1] - 1)
        found = torch.gather(sorted_ids, 1, pos) == ids
        slot = torch.gather(self._slot_of_sorted[rows], 1, pos)
        is_outer = found & torch.gather(self.outer[rows], 1, slot)
        is_inner = found & torch.gather(self.inner_active[rows], 1, slot)
        any_outer = is_outer.any(dim=1)
        active = torch.where(any_outer[:, None], is_outer, is_inner)
        return slot, found, active, ~any_outer

    def _draft_values(self, table: Tensor, rows: Tensor, slot: Tensor, found: Tensor) -> Tensor:
        """``table[row, slot]`` for each draft, 0 where the draft is outside the support; (M, n)."""
        values = torch.gather(table[rows], 1, slot)
        return torch.where(found, values, torch.zeros_like(values))

    def conditional(self, drafts: Any) -> Tensor:
        """Exact output law given the drafts.

        Parameters
        ----------
        drafts : (n,) or (M, n) int (numpy or torch); M = B, or any M when B = 1.

        Returns
        -------
        (M, V) float tensor; row m is the law of the output token given drafts m.
        Drafts outside the draft support (q = 0: impossible under i.i.d. drafting) never win.
        """
        return self._conditional_rows(*self._draft_rows(drafts))

    def _conditional_rows(self, ids: Tensor, rows: Tensor) -> Tensor:
        """:meth:`conditional` for validated ids (M, n) and plan rows (M,) on the plan's device."""
        slot, found, active, reject = self._lookup(ids, rows)
        wins = win_probabilities(torch.gather(self.u[rows], 1, slot), active, reject)
        chosen = wins[:, :-1] * self._draft_values(self.accept_ratio, rows, slot, found)
        out = self.residual[rows] * (1.0 - chosen.sum(dim=1, keepdim=True))
        return out.scatter_add_(1, ids, chosen)

    def sample(self, drafts: Any, generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
        """Run the verifier: returns ``(tokens (M,) long, accepted (M,) bool)``.

        The race draws one uniform key per draft and one for the reject competitor; the
        chosen draft c is kept with probability ``min(1, p_c / a_c)``; otherwise the output
        is drawn from the residual. ``accepted`` is True when the output is the kept draft.
        """
        generator = check_generator(generator)
        if self._sampler is not None:
            return self._sampler(self, drafts, generator)
        if self.compiled_sampling:
            return self._sample_compiled(*self._draft_arrays(drafts), generator)
        return self._sample_torch(*self._draft_rows(drafts), generator)

    def _sample_validated(self, ids: Tensor, generator: torch.Generator | None) -> tuple[Tensor, Tensor]:
        """:meth:`sample` for draft ids (M, n) long already validated (by the verifier
        interface of :class:`GlobalResolution`), so they are not checked twice."""
        if self._sampler is not None:
            return self._sampler(self, ids, generator)
        if self.compiled_sampling:
            return self._sample_compiled(*self._serve(ids.numpy()), generator)
        return self._sample_torch(*self._rows_of(ids), generator)

    def _sample_torch(self, ids: Tensor, rows: Tensor, generator: torch.Generator | None) -> tuple[Tensor, Tensor]:
        """:meth:`sample` by the torch code, for validated ids (M, n) and plan rows (M,)."""
        M, n = ids.shape
        noise = torch.rand(M, n + 2, generator=generator, device=self.u.device, dtype=self.u.dtype)
        tokens, accepted = self._race(ids, rows, noise)
        if not bool(accepted.all()):
            redraw = (~accepted).nonzero()[:, 0]
            tokens[redraw] = self._sample_residual(rows[redraw], generator)
        return tokens, accepted

    def _sample_compiled(
        self, ids: np.ndarray, rows: np.ndarray, generator: torch.Generator | None
    ) -> tuple[Tensor, Tensor]:
        """:meth:`sample` by the compiled kernel (CPU, float64) for validated ids (M, n) and
        plan rows (M,), numpy: the same random numbers, drawn in the same order, and the torch
        code's comparisons on them, so the same tokens (tested). Between the draws it stays
        in numpy: on a row just solved, each torch call on a tiny tensor costs 5-20 us of
        cold dispatch."""
        from .kernel import race_rows

        M, n = ids.shape
        noise = torch.rand(M, n + 2, generator=generator, dtype=self._p.dtype).numpy()
        parts = ("_sorted_ids", "_slot_of_sorted", "outer", "inner_active", "u", "accept_ratio")
        tokens, accepted = race_rows(*(self._array(name) for name in parts), ids, rows, noise)
        if not accepted.all():
            redraw = np.flatnonzero(~accepted)
            tokens[redraw] = self._residual_draws_compiled(rows[redraw], generator)
        return torch.from_numpy(tokens), torch.from_numpy(accepted)

    def _race(self, ids: Tensor, rows: Tensor, noise: Tensor) -> tuple[Tensor, Tensor]:
        """The race and the accept test (torch code): ``(tokens (M,), accepted (M,))``."""
        n = ids.shape[1]
        slot, found, active, reject = self._lookup(ids, rows)
        minus_inf = torch.full_like(noise[:, :n], -float("inf"))
        keys = torch.where(active, torch.gather(self.u[rows], 1, slot) + noise[:, :n], minus_inf)
        reject_key = torch.where(reject, noise[:, n], minus_inf[:, 0])
        winner = torch.argmax(torch.cat([keys, reject_key[:, None]], dim=1), dim=1)
        w = winner.clamp_max(n - 1)[:, None]
        keep = torch.gather(self._draft_values(self.accept_ratio, rows, slot, found), 1, w)[:, 0]
        accepted = (winner < n) & (noise[:, n + 1] < keep)
        return torch.gather(ids, 1, w)[:, 0], accepted

    def _sample_residual(self, rows: Tensor, generator: torch.Generator | None) -> Tensor:
        """One draw from the residual law of each given plan row, by inverse CDF (torch code;
        :meth:`_residual_draws_compiled` is its compiled twin)."""
        cdf = torch.cumsum(self._unnormalised_residual(rows), dim=1)
        empty = cdf[:, -1] <= 0  # residual mass rounded to 0: never needed, p stands in
        if bool(empty.any()):
            cdf[empty] = torch.cumsum(self._p[rows[empty]], dim=1)
        uniform = torch.rand(rows.shape[0], generator=generator, device=cdf.device, dtype=cdf.dtype)
        draws = torch.searchsorted(cdf, (uniform * cdf[:, -1])[:, None], right=True)[:, 0]
        return draws.clamp_max(self.vocab_size - 1)

    def _residual_draws_compiled(self, rows: np.ndarray, generator: torch.Generator | None) -> np.ndarray:
        """:meth:`_sample_residual` by the compiled kernel, numpy rows in, numpy tokens out."""
        from .kernel import residual_draws

        uniform = torch.rand(rows.shape[0], generator=generator, dtype=self._p.dtype).numpy()
        parts = ("_sorted_ids", "_slot_of_sorted", "_residual_on_support")
        return residual_draws(_numpy(self._p), *(self._array(name) for name in parts), rows, uniform)


def _numpy(tensor: Tensor) -> np.ndarray:
    """A C-contiguous numpy view of a CPU tensor (a copy only if it is not contiguous)."""
    return tensor.contiguous().numpy()


def _tensor(value: Tensor | np.ndarray) -> Tensor:
    """A tensor of a numpy array (sharing its memory) or the tensor itself."""
    return torch.from_numpy(value) if isinstance(value, np.ndarray) else value


def plan_parts(support: DraftSupport, a: Tensor, vocab_size: int) -> dict:
    """What a :class:`Plan` derives from the support and the fitted law a, all (B, k) but
    ``acceptance`` (B,): ``outer`` (valid slots outside H_min) and ``inner_active`` (slots of
    H_min with p > 0) bool masks; ``acceptance = sum min(a, p)``; ``accept_ratio =
    min(a, p) / a`` (0 where a = 0); ``residual_on_support = p - min(a, p)``; the support's
    token ids sorted (``sorted_ids``, padding = V) and their slots (``slot_of_sorted``), for
    looking drafts up. The compiled backend computes the same in
    :func:`multidraft.fast.kernel.solve_rows`.
    """
    accepted = torch.minimum(a, support.p)
    keys = torch.where(support.valid, support.index, torch.full_like(support.index, vocab_size))
    sorted_ids, slot_of_sorted = torch.sort(keys, dim=1, stable=True)
    return {
        "outer": support.valid & ~support.inner,
        "inner_active": support.inner & (support.p > 0),
        "acceptance": accepted.sum(dim=1),
        "accept_ratio": torch.where(a > 0, accepted / torch.where(a > 0, a, torch.ones_like(a)), torch.zeros_like(a)),
        "residual_on_support": (support.p - accepted).clamp_min(0.0),
        "sorted_ids": sorted_ids,
        "slot_of_sorted": slot_of_sorted,
    }


def global_resolution(
    target: Any,
    draft: Any,
    n: Any,
    *,
    tol: float = 1e-9,
    device: Any = None,
    dtype: torch.dtype = torch.float64,
    max_iter: int = MAX_ITER,
    backend: str = "auto",
) -> Plan:
    """Solve the optimal n-draft verification problem for i.i.d. drafts (batched).

    Maximises ``P(output in drafts)`` over verifiers whose output law is exactly p:

        max_pi  sum_x Q(x) sum_{y in x} pi(y | x)   s.t.  sum_x Q(x) pi(. | x) = p,

    with ``Q(x) = prod_i q(x_i)``. The optimum alpha* is attained up to ``tol``; the plan is
    exactly lossless regardless (see the module docstring).

    Parameters
    ----------
    target, draft : (V,) or (B, V) float, numpy or torch
        Target law p and draft law q (rows sum to 1).
    n : int, 1 <= n <= MAX_DRAFTS (256)
        Number of i.i.d. drafts.
    tol : float
        Target for ``alpha_star - kept`` per row.
    device : torch device, optional
        Where to solve (default: CPU, or the device of a torch input).
    dtype : torch.dtype
        float64 (default); float32 is an explicit opt-in with a larger floor on ``tol``.
    max_iter : int
        Newton iterations at most per system.
    backend : {"auto", "torch", "numba", "triton"}
        ``"torch"``: the batched tensor path (any device, any dtype). ``"numba"``: the
        compiled CPU kernel (:mod:`multidraft.fast.kernel`, float64, same algorithm, row by
        row; far less per-call overhead). ``"triton"``: fused GPU kernels, float64
        (:mod:`multidraft.fast.triton_backend`). ``"auto"`` (default): numba for float64 on
        the CPU, triton for float64 on CUDA when triton imports, torch otherwise.

    Returns
    -------
    Plan with ``.conditional``, ``.sample``, ``.kept``, ``.alpha_star``, ``.status``.

    Examples
    --------
    >>> plan = global_resolution([0.5, 0.5], [0.5, 0.5], 2)   # p = q: always accept
    >>> float(plan.kept[0])
    1.0
    """
    n = check_n(n, maximum=MAX_DRAFTS)
    tol = check_positive_float(tol, "tol")
    backend = check_backend(backend)
    if device is None and is_torch_tensor(target):
        device = target.device
    # the validation pass over q also counts its support per block (the kernel's scan)
    p, q, _, counts = check_pair_tensors(target, draft, device=device, dtype=dtype, draft_counts=True)
    return solve_laws(p, q, n, tol=tol, max_iter=max_iter, backend=backend, draft_counts=counts)


def solve_laws(
    p: Tensor, q: Tensor, n: int, *, tol: float, max_iter: int, backend: str, draft_counts: np.ndarray | None = None
) -> Plan:
    """:func:`global_resolution` on arguments it has validated: p and q (B, V) laws on one
    device in one dtype, ``n``, ``tol``, ``backend`` checked. Nothing is checked again here;
    ``backend`` decides both the solve and the sampling path of the plan. ``draft_counts``:
    q's entries > 0 per block of ``law_checks.BLOCK`` tokens, (B, ceil(V / BLOCK)), from the
    validation pass (:func:`~multidraft.validation.check_pair_tensors`), for the compiled
    kernel's support scan (None: the kernel counts them)."""
    compiled = _use_kernel(backend, p)
    fit_tol = tol * FIT_TOL_SHARE
    if _use_triton(backend, p):
        from .triton_backend import solve_parts

        parts = solve_parts(p, q, n, fit_tol, max_iter)
    elif compiled:
        parts = _solve_compiled(p, q, n, fit_tol, max_iter, draft_counts)
    else:
        parts = _solve_batched(p, q, n, fit_tol, max_iter)
    support, u, a, iterations, loss, parts = parts
    return Plan(p, support, u, a, n, {"iterations": iterations, "loss": loss, "tol": tol}, parts, compiled)


BACKENDS = ("auto", "torch", "numba", "triton")

#: The fit stops each of a row's two systems at ``loss <= tol * FIT_TOL_SHARE`` (docs/maths.md),
#: so the row's loss, their sum, is at most twice that. The loss bounds the acceptance it
#: costs (``alpha* - kept <= loss``), so any share <= 1/2 meets ``tol``; a quarter leaves a
#: margin of 2 for the rounding of the sums behind ``kept`` and alpha*.
FIT_TOL_SHARE = 0.25

#: Largest number of drafts: the race integrals are exact with n/2 + 1 Gauss-Legendre nodes
#: per piece, whose computation (an eigenproblem of that size) and cost grow with n.
MAX_DRAFTS = 256


def check_backend(backend: Any) -> str:
    """Validate a ``backend`` argument: one of :data:`BACKENDS`.

    Raises
    ------
    InvalidInputError
        If ``backend`` is not one of them.
    """
    return check_choice(backend, "backend", BACKENDS)


def kernel_fits(p: Tensor) -> bool:
    """Whether the compiled CPU kernel (:mod:`multidraft.fast.kernel`) can take ``p``: CPU, float64."""
    return p.device.type == "cpu" and p.dtype == torch.float64


def _use_kernel(backend: str, p: Tensor) -> bool:
    """Whether to run the compiled CPU kernel for ``p`` under ``backend``."""
    fits = kernel_fits(p)
    if backend == "numba" and not fits:
        raise InvalidInputError(
            f"backend: 'numba' runs on the CPU in float64, got device {p.device} and dtype {p.dtype}"
        )
    return backend == "numba" or (backend == "auto" and fits)


def _use_triton(backend: str, p: Tensor) -> bool:
    """Whether to run the Triton kernels (fast/triton_backend.py): asked for, or ``auto`` on
    CUDA in float64 when triton imports."""
    if backend == "triton":
        return True
    if backend != "auto" or p.device.type != "cuda" or p.dtype != torch.float64:
        return False
    from .triton_backend import triton_available

    return triton_available()


def _solve_batched(p: Tensor, q: Tensor, n: int, fit_tol: float, max_iter: int):
    """The torch path: support, then both systems of every row in one batched fit."""
    support = draft_support(p, q, n)
    B = p.shape[0]
    # rows [0, B) inner (reject, no cap), [B, 2B) outer (no reject, cap OUTER_CAP)
    inner_q = torch.where(support.inner & (support.p > 0), support.q, torch.zeros_like(support.q))
    outer_q = torch.where(support.valid & ~support.inner, support.q, torch.zeros_like(support.q))
    inner_mass = inner_q.sum(dim=1)
    flags = torch.arange(2 * B, device=p.device) < B
    fit = fit_race(
        q=torch.cat([inner_q, outer_q]),
        base=torch.cat([support.q_inner - inner_mass, support.q_inner]),
        n=n,
        reject=flags,
        target=torch.cat([support.p, support.p]),
        u0=torch.cat(
            [
                inner_start(1.0 - support.alpha_star, inner_mass, n)[:, None].expand_as(inner_q),
                torch.zeros_like(outer_q),
            ]
        ),
        cap=torch.where(
            flags, torch.full_like(flags, float("inf"), dtype=p.dtype), torch.full_like(flags, OUTER_CAP, dtype=p.dtype)
        ),
        tol=fit_tol,
        max_iter=max_iter,
    )
    u = torch.where(support.inner, fit.u[:B], fit.u[B:])
    a = fit.a[:B] + fit.a[B:]
    return support, u, a, torch.maximum(fit.iterations[:B], fit.iterations[B:]), fit.loss[:B] + fit.loss[B:], None


def _compile_notice() -> None:
    """Say on stderr, once, that the first compiled solve compiles the kernel (numba, no disk cache yet)."""
    import sys
    from pathlib import Path

    if "multidraft.fast.kernel" in sys.modules or getattr(_compile_notice, "done", False):
        return
    _compile_notice.done = True
    if not any((Path(__file__).parent / "__pycache__").glob("kernel.*.nbi")):
        print(
            "multidraft: compiling the CPU kernel of global resolution with numba (once per environment, "
            "20 s to a minute; cached on disk afterwards) ...",
            file=sys.stderr,
            flush=True,
        )


def _solve_compiled(p: Tensor, q: Tensor, n: int, fit_tol: float, max_iter: int, draft_counts=None):
    """The compiled CPU path: the same solve, row by row (on as many threads as torch uses),
    and the plan's parts (:func:`multidraft.fast.kernel.solve_rows`; ``draft_counts``: its
    ``blocks``, or None). Returns ``(None, u, a, iterations, loss, arrays)``, all numpy: the
    support is in ``arrays``, and :class:`Plan` makes tensors of them on first use."""
    _compile_notice()
    from .kernel import solve_rows

    out = solve_rows(
        p.contiguous().numpy(),
        q.contiguous().numpy(),
        n,
        fit_tol,
        max_iter,
        threads=torch.get_num_threads(),
        blocks=draft_counts,
    )
    # numpy arrays throughout: the plan makes tensors of them on first use (Plan._Member)
    return None, out["u"], out["a"], out["iterations"], out["loss"], out


class GlobalResolution(Verifier):
    """Global resolution behind the two verifier interfaces of :mod:`multidraft.verifiers`.

    ``conditional(target, draft, drafts)`` and ``sample(target, draft, drafts, generator=None)``
    take the shapes of :class:`multidraft.fast.base.Verifier`; n is read from the drafts.
    The plan of the last (target, draft, n) is cached, so exact evaluation over many draft
    tuples solves once. ``acceptance`` reports the plan's ``kept = sum min(a, p)``, a lower
    bound on ``P(output in drafts)`` within ``status.gap`` of alpha* (so within ``tol`` of the
    exact acceptance when ``status.success``). ``sample(..., return_accepted=True)`` flags
    ``output in drafts`` like every :class:`~multidraft.fast.base.Verifier`. ``backend`` is
    passed to :func:`global_resolution`.
    """

    name = "global_resolution"
    drafting = "iid"
    optimal = True
    order_invariant = True
    cache_state = True

    def __init__(
        self, tol: float = 1e-9, device: Any = None, dtype: torch.dtype = torch.float64, backend: str = "auto"
    ):
        super().__init__(device=device, dtype=dtype)
        self.tol = check_positive_float(tol, "tol")
        self.backend = check_backend(backend)

    def _prepare(self, p: Tensor, q: Tensor, n: int) -> dict:
        # p, q validated by the interface (multidraft.fast.base): solved without a second check
        return {
            "plan": solve_laws(
                p, q, check_n(n, maximum=MAX_DRAFTS), tol=self.tol, max_iter=MAX_ITER, backend=self.backend
            )
        }

    def _conditional(self, p: Tensor, q: Tensor, drafts: Tensor, state: dict) -> Tensor:
        return state["plan"]._conditional_rows(*state["plan"]._rows_of(drafts))

    def _sample(
        self, p: Tensor, q: Tensor, drafts: Tensor, state: dict, generator: torch.Generator | None
    ) -> tuple[Tensor, Tensor]:
        tokens, _ = state["plan"]._sample_validated(drafts, generator)
        return tokens, in_drafts(tokens, drafts)

    def _acceptance(self, p: Tensor, q: Tensor, n: int, state: dict) -> Tensor:
        return state["plan"].kept

    def plan(self, target: Any, draft: Any, n: int) -> Plan:
        """The solved (cached) plan for (target, draft, n)."""
        p, q, _ = check_pair_tensors(target, draft, device=self.device, dtype=self.dtype)
        return self._state(p, q, check_n(n))["plan"]
