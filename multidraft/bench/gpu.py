"""GPU measurement of the Triton backend (a prepared script, under 10 minutes on one GPU).

    python -m multidraft.bench.gpu [--out DIR] [--budget SECONDS]
    TRITON_INTERPRET=1 python -m multidraft.bench.gpu --dry-run     # CPU rehearsal, tiny sizes

Prints and writes (``DIR/gpu_bench.md``, ``DIR/gpu_bench.json``):

1. versions (torch, triton, CUDA, device, driver);
2. a copy-bandwidth roofline (device-to-device copy of 2 GiB, CUDA events, median of 10);
3. the JIT warm-up of each (bucket, n) configuration, timed apart from the measurements;
4. correctness against the CPU kernel (``backend="numba"``) on 64 LLM-like rows of
   (k, n) = (10, 2), (10, 4), (100, 2), (1000, 2), (10, 16) at V = 32,000: alpha*, the cut,
   acceptance within the tolerance, success, worst gap; and a G-test of 10^6 draws of one
   plan against its output law p (draft tuples drawn i.i.d. from q) and against
   ``Plan.conditional`` for one fixed tuple;
5. CUDA-event timings (median of 20 after 3 warm calls) of solve + sample for
   B in {1, 64, 256, 1024} x V in {32k, 128k} x k in {10, 100, 1000} (n = 4 at k = 10, n = 2
   above), eager and as a CUDA-graph replay, with the achieved bandwidth
   ``2 B V 8 bytes / time`` (p and q read once) against the roofline;
6. a proof of no host synchronisation: solve (``support_size`` given) and sample run under
   ``torch.cuda.set_sync_debug_mode("error")``.

Sizes that do not fit the time budget are skipped and listed as skipped.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import sys
import time

import numpy as np
import torch

GRID_B = (1, 64, 256, 1024)
GRID_V = (32_000, 128_000)
GRID_K = (10, 100, 1000)
CORRECTNESS = ((10, 2), (10, 4), (100, 2), (1000, 2), (10, 16))


def llm_rows(B: int, V: int, k: int, seed: int, device) -> tuple[torch.Tensor, torch.Tensor]:
    """LLM-like (p, q): p a softmax of heavy-tailed logits, q a perturbed softmax cut to its top k."""
    g = torch.Generator(device=device).manual_seed(seed)
    logits = torch.randn(B, V, generator=g, device=device, dtype=torch.float64) * 3.0
    p = torch.softmax(logits, dim=1)
    draft_logits = logits + torch.randn(B, V, generator=g, device=device, dtype=torch.float64)
    top = torch.topk(draft_logits, k, dim=1)
    q = torch.zeros_like(p).scatter_(1, top.indices, torch.softmax(top.values, dim=1))
    return p, q


def cuda_time(fn, reps: int = 20, warm: int = 3) -> float:
    """Median milliseconds of ``fn()`` by CUDA events."""
    for _ in range(warm):
        fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(reps):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        torch.cuda.synchronize()
        times.append(start.elapsed_time(end))
    return float(np.median(times))


def versions() -> dict:
    import triton

    out = {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "triton": triton.__version__,
        "cuda": torch.version.cuda,
        "numpy": np.__version__,
    }
    if torch.cuda.is_available():
        out["device"] = torch.cuda.get_device_name()
        out["capability"] = ".".join(map(str, torch.cuda.get_device_capability()))
        try:
            import subprocess

            out["driver"] = subprocess.run(
                ["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
                capture_output=True,
                text=True,
                timeout=20,
            ).stdout.strip()
        except Exception as error:  # noqa: BLE001 -- a missing nvidia-smi is reported, not fatal
            out["driver"] = f"unknown ({error})"
    return out


def roofline() -> float:
    """Device-to-device copy bandwidth, GB/s (read + write counted), median of 10."""
    src = torch.empty(2**28, dtype=torch.float64, device="cuda")  # 2 GiB
    dst = torch.empty_like(src)
    ms = cuda_time(lambda: dst.copy_(src), reps=10, warm=2)
    return 2 * src.numel() * 8 / (ms * 1e-3) / 1e9


def step(p, q, n, k, generator):
    """One solve + sample with Philox uniforms (drafts drawn from q beforehand)."""
    from multidraft.fast import triton_backend as TB

    def run(ids):
        plan = TB.solve(p, q, n, support_size=k)
        return TB.sample(plan, ids, generator=generator)

    return run


def correctness(device, dry: bool) -> list[dict]:
    from multidraft.fast import triton_backend as TB
    from multidraft.fast.solver import global_resolution

    rows = []
    V, B = (2_000, 4) if dry else (32_000, 64)
    cases = ((10, 2), (10, 4)) if dry else CORRECTNESS
    for k, n in cases:
        p, q = llm_rows(B, V, k, seed=k * 31 + n, device=device)
        tri = TB.solve(p, q, n, support_size=k)
        cpu = global_resolution(p.cpu(), q.cpu(), n, backend="numba")
        kk = cpu.support.valid.shape[1]
        same_cut = bool(torch.equal(tri.support.inner[:, :kk].cpu(), cpu.support.inner))
        same_sort = bool(
            torch.equal(
                torch.where(cpu.support.valid, tri.support.index[:, :kk].cpu(), 0),
                torch.where(cpu.support.valid, cpu.support.index, 0),
            )
        )
        rows.append(
            {
                "k": k,
                "n": n,
                "B": B,
                "V": V,
                "alpha_diff": float((tri.alpha_star.cpu() - cpu.alpha_star).abs().max()),
                "acceptance_diff": float((tri.kept.cpu() - cpu.kept).abs().max()),
                "same_cut": same_cut,
                "same_sort": same_sort,
                "success": float(tri.status.success.float().mean()),
                "worst_gap": float(tri.status.gap.max()),
                "iterations_mean": float(tri.status.iterations.float().mean()),
                "cpu_iterations_mean": float(cpu.status.iterations.float().mean()),
            }
        )
        print(json.dumps(rows[-1]), flush=True)
    return rows


def g_test(device, dry: bool) -> dict:
    """10^6 draws of one plan: output law vs p (drafts i.i.d. from q), and vs Plan.conditional for one tuple."""
    from scipy import stats

    from multidraft.fast import triton_backend as TB

    M = 1_000 if dry else 1_000_000
    rng = np.random.default_rng(0)
    V, n = 12, 3
    p = torch.tensor(rng.dirichlet(np.ones(V)), device=device)
    q = torch.tensor(rng.dirichlet(np.ones(V)), device=device)
    plan = TB.solve(p[None], q[None], n)
    gen = torch.Generator(device=device).manual_seed(1)
    ids = torch.multinomial(q[None].expand(M, V), n, replacement=True, generator=gen)
    rows = torch.zeros(M, dtype=torch.long, device=device)
    tokens, _ = TB.sample(plan, ids, rows, generator=gen)
    out = {}
    for name, law, toks in (("marginal_vs_p", p, tokens),):
        out[name] = _g(stats, torch.bincount(toks, minlength=V).cpu().numpy(), law.cpu().numpy())
    fixed = ids[:1].expand(M, n).contiguous()
    tokens, _ = TB.sample(plan, fixed, rows, generator=gen)
    law = plan.conditional(fixed[:1])[0]
    out["conditional_one_tuple"] = _g(stats, torch.bincount(tokens, minlength=V).cpu().numpy(), law.cpu().numpy())
    out["draws"] = M
    print(json.dumps(out), flush=True)
    return out


def _g(stats, counts: np.ndarray, law: np.ndarray) -> dict:
    """G-test of counts against a law (cells of law 0 must be empty)."""
    M = counts.sum()
    impossible = int(counts[law <= 0].sum())
    keep = law > 0
    expected = law[keep] * M
    observed = counts[keep]
    with np.errstate(divide="ignore", invalid="ignore"):
        G = 2.0 * np.sum(np.where(observed > 0, observed * np.log(observed / expected), 0.0))
    return {
        "G": float(G),
        "dof": int(keep.sum() - 1),
        "p_value": float(stats.chi2.sf(G, keep.sum() - 1)),
        "draws_on_impossible_tokens": impossible,
    }


def timings(budget: float, started: float, dry: bool) -> tuple[list[dict], list[str], dict]:
    """Eager and graph-replay timings over the grid; also the JIT warm-up of each configuration."""
    from multidraft.fast import triton_backend as TB

    results, skipped, warmup = [], [], {}
    grid = [(B, V, k) for k in GRID_K for V in GRID_V for B in GRID_B]
    for B, V, k in grid:
        if time.time() - started > budget:
            skipped.append(f"B={B} V={V} k={k}")
            continue
        n = 4 if k == 10 else 2
        p, q = llm_rows(B, V, k, seed=B + k, device="cuda")
        ids = torch.multinomial(q, n, replacement=True, generator=torch.Generator(device="cuda").manual_seed(0))
        gen = None  # the default CUDA generator: registered with graph captures automatically
        key = f"KP={TB.support_bucket(k)} n={n}"
        if key not in warmup:
            torch.cuda.synchronize()
            t0 = time.perf_counter()
            step(p, q, n, k, gen)(ids)
            torch.cuda.synchronize()
            warmup[key] = time.perf_counter() - t0
        run = step(p, q, n, k, gen)
        eager = cuda_time(lambda run=run, ids=ids: run(ids))
        graph_ms = None
        try:
            stream = torch.cuda.Stream()
            stream.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(stream):
                for _ in range(2):
                    run(ids)
            torch.cuda.current_stream().wait_stream(stream)
            graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(graph):
                run(ids)  # noqa: B023 -- captured here, replayed below in this iteration
            graph_ms = cuda_time(graph.replay)
        except Exception as error:  # noqa: BLE001 -- a failed capture is a measured result
            graph_ms = f"capture failed: {type(error).__name__}: {error}"[:200]
        gbytes = 2 * B * V * 8 / 1e9
        row = {
            "B": B,
            "V": V,
            "k": k,
            "n": n,
            "eager_ms": eager,
            "graph_ms": graph_ms,
            "eager_GBps": gbytes / (eager * 1e-3),
            "graph_GBps": gbytes / (graph_ms * 1e-3) if isinstance(graph_ms, float) else None,
            "tokens_per_s_graph": B / (graph_ms * 1e-3) if isinstance(graph_ms, float) else None,
        }
        results.append(row)
        print(json.dumps(row), flush=True)
        del p, q
        torch.cuda.empty_cache()
    return results, skipped, warmup


def no_sync_proof() -> str:
    from multidraft.fast import triton_backend as TB

    p, q = llm_rows(64, 32_000, 10, seed=5, device="cuda")
    gen = torch.Generator(device="cuda").manual_seed(0)
    ids = torch.multinomial(q, 4, replacement=True, generator=gen)
    TB.sample(TB.solve(p, q, 4, support_size=10), ids, generator=gen)  # compiled already
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        plan = TB.solve(p, q, 4, support_size=10)
        TB.sample(plan, ids, generator=gen)
        verdict = "no synchronisation in solve + sample (set_sync_debug_mode('error') raised nothing)"
    except RuntimeError as error:
        verdict = f"SYNC FOUND: {error}"
    finally:
        torch.cuda.set_sync_debug_mode("default")
    print(verdict, flush=True)
    return verdict


def markdown(report: dict) -> str:
    lines = ["# Triton backend on the GPU", "", "```", json.dumps(report["versions"], indent=1), "```", ""]
    if "roofline_GBps" in report:
        lines.append(f"Copy roofline: {report['roofline_GBps']:.0f} GB/s (device-to-device, read + write).")
    lines += [
        "",
        "JIT warm-up (first call, s): " + json.dumps(report.get("warmup", {})),
        "",
        "| (k, n) | rows | alpha* diff | acceptance diff | same cut | same sort | success | worst gap |"
        " iterations (triton / cpu) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in report["correctness"]:
        lines.append(
            f"| ({r['k']}, {r['n']}) | {r['B']} | {r['alpha_diff']:.1e} | {r['acceptance_diff']:.1e} | "
            f"{r['same_cut']} | {r['same_sort']} | {r['success']:.0%} | {r['worst_gap']:.1e} | "
            f"{r['iterations_mean']:.2f} / {r['cpu_iterations_mean']:.2f} |"
        )
    lines += ["", "G-tests: " + json.dumps(report["g_test"]), ""]
    if report.get("timings"):
        lines += [
            "| B | V | k | n | eager ms | graph ms | graph GB/s | tokens/s (graph) |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for r in report["timings"]:
            g = r["graph_ms"]
            gs = f"{g:.3f}" if isinstance(g, float) else str(g)
            lines.append(
                f"| {r['B']} | {r['V']} | {r['k']} | {r['n']} | {r['eager_ms']:.3f} | {gs} | "
                f"{(r['graph_GBps'] or float('nan')):.0f} | {(r['tokens_per_s_graph'] or float('nan')):.0f} |"
            )
    if report.get("skipped"):
        lines += ["", "Skipped (time budget): " + ", ".join(report["skipped"])]
    if "no_sync" in report:
        lines += ["", "No-sync proof: " + report["no_sync"]]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=os.environ.get("OUT", "."), help="folder for gpu_bench.md/.json")
    parser.add_argument("--budget", type=float, default=420.0, help="seconds for the timing grid")
    parser.add_argument("--dry-run", action="store_true", help="CPU rehearsal under TRITON_INTERPRET=1, tiny sizes")
    args = parser.parse_args(argv)
    started = time.time()
    dry = args.dry_run
    if not dry and not torch.cuda.is_available():
        print("no CUDA device: run with --dry-run under TRITON_INTERPRET=1 to rehearse", file=sys.stderr)
        return 2
    device = "cpu" if dry else "cuda"
    report: dict = {"versions": versions()}
    print(json.dumps(report["versions"]), flush=True)
    if not dry:
        report["roofline_GBps"] = roofline()
        print(f"roofline {report['roofline_GBps']:.0f} GB/s", flush=True)
    report["correctness"] = correctness(device, dry)
    report["g_test"] = g_test(device, dry)
    if not dry:
        report["no_sync"] = no_sync_proof()
        report["timings"], report["skipped"], report["warmup"] = timings(args.budget, started, dry)
    report["wall_s"] = time.time() - started
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "gpu_bench.json"), "w") as handle:
        json.dump(report, handle, indent=1, default=str)
    text = markdown(report)
    with open(os.path.join(args.out, "gpu_bench.md"), "w") as handle:
        handle.write(text)
    print(text)
    return 0 if all(math.isfinite(r["worst_gap"]) for r in report["correctness"]) else 1


if __name__ == "__main__":
    sys.exit(main())
