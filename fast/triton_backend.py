"""The Triton backend of global resolution: launches the kernels of :mod:`multidraft.fast.triton_kernels`.

Two entry points:

* :func:`solve` -- ``(p, q, n) -> Plan`` without a host synchronisation when the caller
  gives ``support_size`` (an upper bound on the draft support, e.g. the engine's top-k):
  every shape is then static, the kernels read sizes from device memory, and the call can be
  captured in a CUDA graph (by construction: no GPU has run it yet, multidraft.bench.gpu checks it). The inputs are trusted (validate them once upstream).
* :func:`sample` -- one verification step of a plan made here, on device draft ids, with
  given uniforms or Philox uniforms seeded from the torch generator; no synchronisation.

:func:`multidraft.fast.solver.global_resolution` with ``backend="triton"`` (``"auto"`` on
CUDA in float64 when triton imports) validates the inputs, measures the support (one
synchronisation) and calls :func:`solve_parts`; the plan's ``sample`` then validates the
drafts and calls :func:`sample`.

The plan is the shared :class:`multidraft.fast.solver.Plan`: ``conditional``, ``acceptance``,
``status`` are the same code as for the other backends. Its support tensors are padded to the
bucket ``KP`` (a power of two, at least ``MIN_BUCKET``, greater than the support size).

Triton is an optional dependency (``pip install multidraft[gpu]``); importing this module
without it works, calling it raises :class:`~multidraft.validation.InvalidInputError`.
"""

from __future__ import annotations

import os
from typing import Any

import torch
from torch import Tensor

from multidraft.validation import InvalidInputError

from .race import legendre, node_count
from .support import DraftSupport

#: Smallest and largest support buckets (slots per row, powers of two). A bucket holds at
#: most ``KP - 1`` support tokens (one padding slot supplies the reject window's ends).
MIN_BUCKET = 16
MAX_BUCKET = 1024
#: Launch configuration per bucket: (warps, comparison tile width) of the fit and cut kernels.
CONFIGS = {16: (4, 16), 32: (8, 16), 64: (4, 16), 128: (8, 16), 256: (8, 16), 512: (16, 16), 1024: (16, 16)}
#: Buckets whose kernels compile for sm_80 and sm_90 without a register spill (checked by
#: tests/fast/test_triton.py, offline). Larger buckets run, but the fit kernel's per-row state
#: (some 20 vectors of KP and 2 KP float64) exceeds the register file and spills to local memory
#: (sm_90, ptxas 12.8: 12 B at KP = 256 with 8 warps, 520 B at 512 and 2,704 B at 1,024 with
#: 16 warps, per thread); see docs/fast.md.
SPILL_FREE = (16, 32, 64, 128)
#: Vocabulary tile of the support pass and the residual walk.
BLOCK_V = 1024
SAMPLE_WARPS = 8


def triton_available() -> bool:
    """Whether triton imports (the optional ``gpu`` extra)."""
    try:
        import triton  # noqa: F401
    except ImportError:
        return False
    return True


def interpreting() -> bool:
    """Whether triton runs kernels in its CPU interpreter (``TRITON_INTERPRET=1``)."""
    return os.environ.get("TRITON_INTERPRET", "0") not in ("", "0")


def check_device(p: Tensor) -> None:
    """Refuse what the kernels cannot take: no triton, a CPU tensor outside the interpreter, not float64."""
    if not triton_available():
        raise InvalidInputError("backend: 'triton' needs the triton package (pip install multidraft[gpu])")
    if p.device.type != "cuda" and not (p.device.type == "cpu" and interpreting()):
        raise InvalidInputError(
            f"backend: 'triton' runs on CUDA devices (or CPU under TRITON_INTERPRET=1), got {p.device}"
        )
    if p.dtype != torch.float64:
        raise InvalidInputError(
            f"backend: 'triton' computes in float64 (mixed_precision for float32 directions), got dtype {p.dtype}"
        )


def support_bucket(k: int) -> int:
    """The bucket ``KP`` for supports of up to ``k`` tokens: the least power of two >= max(k + 1, MIN_BUCKET)."""
    if k + 1 > MAX_BUCKET:
        raise InvalidInputError(
            f"draft: the triton backend takes draft supports of at most {MAX_BUCKET - 1} tokens, "
            f"got {k} (use backend='torch')"
        )
    kp = MIN_BUCKET
    while kp < k + 1:
        kp *= 2
    return kp


def solve_parts(
    p: Tensor,
    q: Tensor,
    n: int,
    fit_tol: float,
    max_iter: int,
    support_size: int | None = None,
    mixed_precision: bool = False,
):
    """What :class:`~multidraft.fast.solver.Plan` is built from: ``(support, u, a, iterations, loss, parts)``.

    ``p``, ``q`` (B, V) float64 on one device (validated laws); ``fit_tol`` the per-system
    loss target; ``support_size`` the bucket's capacity needed (default: measured, one
    synchronisation). Rows whose support exceeds the bucket get the trivial lossless plan
    (every draft rejected, the residual is p): kept 0, ``loss`` +inf, alpha* reported
    as 1.0 (unknown), so ``status.success`` is False.
    """
    check_device(p)  # before importing the kernels: a clear error without triton
    from . import triton_kernels as K

    B, V = p.shape
    if p.stride(1) != 1:
        p = p.contiguous()
    if q.stride(1) != 1:
        q = q.contiguous()
    if support_size is None:
        support_size = int((q > 0).sum(dim=1).max())
    KP = support_bucket(support_size)
    warps, tile = CONFIGS[KP]
    dev = p.device
    index = torch.zeros(B, KP, dtype=torch.long, device=dev)
    pk = torch.zeros(B, KP, dtype=torch.float64, device=dev)
    qk = torch.zeros(B, KP, dtype=torch.float64, device=dev)
    count = torch.empty(B, dtype=torch.int32, device=dev)
    p_off = torch.empty(B, dtype=torch.float64, device=dev)
    K.support_kernel[(B,)](
        p, q, index, pk, qk, count, p_off, V, p.stride(0), q.stride(0), KP=KP, BLOCK_V=BLOCK_V, num_warps=SAMPLE_WARPS
    )
    sidx = torch.empty(B, KP, dtype=torch.long, device=dev)
    sp, sq = torch.empty_like(pk), torch.empty_like(qk)
    sorted_ids = torch.empty(B, KP, dtype=torch.long, device=dev)
    slot_of_sorted = torch.empty(B, KP, dtype=torch.long, device=dev)
    k_min = torch.empty(B, dtype=torch.int32, device=dev)
    alpha = torch.empty(B, dtype=torch.float64, device=dev)
    q_inner = torch.empty(B, dtype=torch.float64, device=dev)
    K.cut_kernel[(B,)](
        index,
        pk,
        qk,
        count,
        sidx,
        sp,
        sq,
        sorted_ids,
        slot_of_sorted,
        k_min,
        alpha,
        q_inner,
        n,
        V,
        KP=KP,
        TILE=tile,
        num_warps=warps,
    )
    x, w = legendre(node_count(n), p)
    u = torch.empty(B, KP, dtype=torch.float64, device=dev)
    a = torch.empty_like(u)
    sys_iter = torch.empty(B, 2, dtype=torch.int32, device=dev)
    sys_loss = torch.empty(B, 2, dtype=torch.float64, device=dev)
    scratch = torch.empty(B * 2 * K.SCRATCH_PER_SLOT * KP, dtype=torch.float64, device=dev)
    tol = torch.full((1,), fit_tol, dtype=torch.float64, device=dev)
    K.fit_kernel[(B, 2)](
        sp,
        sq,
        count,
        k_min,
        alpha,
        q_inner,
        u,
        a,
        sys_iter,
        sys_loss,
        scratch,
        x,
        w,
        x.shape[0],
        n,
        tol,
        max_iter,
        KP=KP,
        TILE=tile,
        MIXED=mixed_precision,
        num_warps=warps,
    )
    accept_ratio, residual = torch.empty_like(u), torch.empty_like(u)
    acceptance = torch.empty(B, dtype=torch.float64, device=dev)
    iterations = torch.empty(B, dtype=torch.int32, device=dev)
    loss = torch.empty(B, dtype=torch.float64, device=dev)
    K.plan_kernel[(B,)](
        sp,
        a,
        count,
        sys_iter,
        sys_loss,
        accept_ratio,
        residual,
        acceptance,
        iterations,
        loss,
        KP=KP,
        num_warps=SAMPLE_WARPS,
    )
    slots = torch.arange(KP, device=dev)[None, :]
    valid = slots < torch.clamp(count, max=KP - 1)[:, None]
    inner = slots < k_min[:, None]
    support = DraftSupport(index=sidx, p=sp, q=sq, valid=valid, inner=inner, alpha_star=alpha, q_inner=q_inner)
    parts = {
        "outer": valid & ~inner,
        "inner_active": inner & (sp > 0),
        "acceptance": acceptance,
        "accept_ratio": accept_ratio,
        "residual_on_support": residual,
        "sorted_ids": sorted_ids,
        "slot_of_sorted": slot_of_sorted,
        "sampler": TritonSampler(q, count, k_min, p_off, KP),
    }
    return support, u, a, iterations.long(), loss, parts


def solve(
    target: Tensor,
    draft: Tensor,
    n: int,
    *,
    tol: float = 1e-9,
    max_iter: int = 100,
    support_size: int | None = None,
    mixed_precision: bool = False,
):
    """Global resolution on trusted (B, V) float64 device tensors: a :class:`~multidraft.fast.solver.Plan`.

    No host synchronisation when ``support_size`` is given (``None``: measured, one sync), so
    the call can be captured in a CUDA graph. ``tol`` as in
    :func:`~multidraft.fast.solver.global_resolution` (the fits target ``tol * FIT_TOL_SHARE`` each).
    ``mixed_precision``: the conjugate-gradient Hessian products in float32 (GPUs with slow
    float64); the law, loss and plan stay float64 and exactly lossless.
    """
    from .solver import FIT_TOL_SHARE, Plan

    support, u, a, iterations, loss, parts = solve_parts(
        target, draft, n, tol * FIT_TOL_SHARE, max_iter, support_size, mixed_precision
    )
    return Plan(target, support, u, a, n, {"iterations": iterations, "loss": loss, "tol": tol}, parts)


class TritonSampler:
    """The sampling kernel bound to one plan's device buffers (what ``Plan.sample`` calls)."""

    def __init__(self, q: Tensor, count: Tensor, k_min: Tensor, p_off: Tensor, bucket: int):
        self.q, self.count, self.k_min, self.p_off, self.bucket = q, count, k_min, p_off, bucket

    def __call__(self, plan: Any, drafts: Any, generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
        """Validated drafts (as ``Plan.sample`` takes them) -> ``(tokens (M,), accepted (M,))``."""
        ids, rows = plan._draft_rows(drafts)
        return sample(plan, ids, rows, generator=generator)


def sample(
    plan: Any,
    ids: Tensor,
    rows: Tensor | None = None,
    *,
    generator: torch.Generator | None = None,
    uniforms: Tensor | None = None,
) -> tuple[Tensor, Tensor]:
    """One verification step per draft tuple of a plan made by this backend (no synchronisation).

    Parameters
    ----------
    plan : Plan from :func:`solve` / ``global_resolution(..., backend="triton")``.
    ids : (M, n) int64 device tensor of draft token ids (trusted: in [0, V)).
    rows : (M,) int64, the plan row of each tuple (default ``arange(M)``; M = B).
    generator : torch.Generator on the plan's device; one int64 seed is drawn from it per call
        (a device op, so a CUDA graph replays with fresh numbers) and expanded by Philox in
        the kernel. Ignored with ``uniforms``.
    uniforms : (M, n + 3) float64, optional: given uniforms (n draft keys, the reject key,
        the accept test, the residual draw) instead of Philox ones.

    Returns ``(tokens (M,) int64, accepted (M,) bool)``.
    """
    from . import triton_kernels as K

    sampler = plan._sampler
    M, n = ids.shape
    dev = ids.device
    if rows is None:
        rows = torch.arange(M, device=dev)
    ids = ids.contiguous()
    rows = rows.contiguous()
    p = plan._p
    if p.stride(1) != 1:
        p = p.contiguous()
    q = sampler.q
    tokens = torch.empty(M, dtype=torch.long, device=dev)
    accepted = torch.empty(M, dtype=torch.int8, device=dev)
    given = uniforms is not None
    if given:
        noise = uniforms.to(device=dev, dtype=torch.float64).contiguous()
        seed = torch.zeros(1, dtype=torch.long, device=dev)
    else:
        noise = torch.zeros(1, dtype=torch.float64, device=dev)
        seed = torch.randint(0, 2**62, (1,), generator=generator, device=dev)
    K.sample_kernel[(M,)](
        ids,
        rows,
        plan._sorted_ids,
        plan._slot_of_sorted,
        sampler.k_min,
        sampler.count,
        plan.support.p,
        plan.u,
        plan.accept_ratio,
        plan._residual_on_support,
        sampler.p_off,
        p,
        q,
        p.stride(0),
        q.stride(0),
        p.shape[1],
        n,
        noise,
        seed,
        tokens,
        accepted,
        KP=sampler.bucket,
        BLOCK_V=BLOCK_V,
        GIVEN=given,
        num_warps=SAMPLE_WARPS,
    )
    return tokens, accepted.bool()


# ----------------------------------------------------------------------------- offline compile
#: Kernel signatures for :func:`offline_compile` (pointer and scalar types; constexprs apart).
_F64, _I64, _I32, _I8 = "*fp64", "*i64", "*i32", "*i8"
SIGNATURES = {
    "support_kernel": ([_F64, _F64, _I64, _F64, _F64, _I32, _F64, "i32", "i32", "i32"], ("KP", "BLOCK_V")),
    "cut_kernel": (
        [_I64, _F64, _F64, _I32, _I64, _F64, _F64, _I64, _I64, _I32, _F64, _F64, "i32", "i32"],
        ("KP", "TILE"),
    ),
    "fit_kernel": (
        [_F64, _F64, _I32, _I32, _F64, _F64, _F64, _F64, _I32, _F64, _F64, _F64, _F64, "i32", "i32", _F64, "i32"],
        ("KP", "TILE", "MIXED"),
    ),
    "plan_kernel": ([_F64, _F64, _I32, _I32, _F64, _F64, _F64, _F64, _I32, _F64], ("KP",)),
    "sample_kernel": (
        [
            _I64,
            _I64,
            _I64,
            _I64,
            _I32,
            _I32,
            _F64,
            _F64,
            _F64,
            _F64,
            _F64,
            _F64,
            _F64,
            "i32",
            "i32",
            "i32",
            "i32",
            _F64,
            _I64,
            _I64,
            _I8,
        ],
        ("KP", "BLOCK_V", "GIVEN"),
    ),
}


def launch_constants(name: str, bucket: int, mixed: bool = False, given: bool = False) -> tuple[dict, int]:
    """The constexprs and warps the backend launches kernel ``name`` with at bucket ``bucket``."""
    warps, tile = CONFIGS[bucket]
    values = {"KP": bucket, "TILE": tile, "MIXED": mixed, "BLOCK_V": BLOCK_V, "GIVEN": given}
    if name in ("cut_kernel", "fit_kernel"):
        return {key: values[key] for key in SIGNATURES[name][1]}, warps
    return {key: values[key] for key in SIGNATURES[name][1]}, SAMPLE_WARPS


def offline_compile(name: str, arch: int, bucket: int, mixed: bool = False, given: bool = False) -> dict:
    """Compile kernel ``name`` for ``sm_<arch>`` without a GPU and report ``ptxas -v``'s resources.

    Returns ``{"registers", "spill_stores", "spill_loads", "stack", "ptxas"}`` (the last: the
    raw report). Needs triton's bundled ptxas; raises RuntimeError when it cannot run.
    """
    import re
    import subprocess
    import tempfile

    import triton
    from triton.backends.compiler import GPUTarget
    from triton.backends.nvidia.compiler import get_ptxas
    from triton.compiler import ASTSource

    from . import triton_kernels as K

    fn = getattr(K, name)
    types, constexpr_names = SIGNATURES[name]
    constants, warps = launch_constants(name, bucket, mixed, given)
    arg_names = fn.arg_names
    signature = {}
    it = iter(types)
    for arg in arg_names:
        signature[arg] = "constexpr" if arg in constexpr_names else next(it)
    source = ASTSource(fn=fn, signature=signature, constexprs=constants)
    compiled = triton.compile(source, target=GPUTarget("cuda", arch, 32), options={"num_warps": warps})
    ptxas = get_ptxas(arch).path
    suffix = "a" if arch >= 90 else ""
    with tempfile.TemporaryDirectory() as tmp:
        path = f"{tmp}/{name}.ptx"
        with open(path, "w") as handle:
            handle.write(compiled.asm["ptx"])
        out = subprocess.run(
            [ptxas, "-v", f"--gpu-name=sm_{arch}{suffix}", path, "-o", f"{tmp}/{name}.cubin"],
            capture_output=True,
            text=True,
        )
    report = out.stdout + out.stderr
    if out.returncode != 0:
        raise RuntimeError(f"ptxas failed on {name} (sm_{arch}, KP={bucket}): {report[-2000:]}")

    def number(pattern: str) -> int:
        match = re.search(pattern, report)
        return int(match.group(1)) if match else 0

    return {
        "registers": number(r"Used (\d+) registers"),
        "spill_stores": number(r"(\d+) bytes spill stores"),
        "spill_loads": number(r"(\d+) bytes spill loads"),
        "stack": number(r"(\d+) bytes stack frame"),
        "ptxas": report,
    }
