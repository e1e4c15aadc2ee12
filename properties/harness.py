"""Controlled randomness: the exact output law of code that only samples.

A sampling verifier ``g(target, draft, drafts, generator) -> token`` (or the serving-engine
form ``g(target, draft, drafts, uniforms[B, m]) -> token``) is a function of its random
numbers. The harness hands it *symbolic uniforms* instead of numbers and explores every
decision path, so the law it computes is exact, not estimated.

Model. Each uniform U_k ~ Uniform[0, 1) is independent and carries the interval
[lo_k, hi_k) it is known to lie in (initially [0, 1)). The code may

* compare a uniform, or a strictly monotone map of one (``a * u + b``, ``-u``, ``log u``,
  ``exp u``, ``c / u``), with a concrete threshold t: the comparison is equivalent to
  ``U_k < tau`` or ``U_k > tau`` for one tau (the threshold pulled back through the map).
  If tau lies inside [lo_k, hi_k) the path *splits*: the branch ``U_k < tau`` has
  conditional probability ``(tau - lo_k) / (hi_k - lo_k)`` and narrows the interval to
  [lo_k, tau), the other branch to [tau, hi_k). Otherwise the outcome is already decided.
  ``torch.searchsorted(cdf, u)`` is a sequence of such comparisons (inverse-CDF draws);
* draw a categorical with ``torch.multinomial(w, 1, generator=g)`` or
  ``numpy_generator.choice(V, p=w)``: the path splits into one branch per category of
  positive weight, of probability ``w_i / sum w`` (the documented law of the call);
* run an *exponential race* (``argmax``/``argmin`` over monotone maps of fresh, distinct
  uniforms that reduce to ``phi(r_i E_i)`` with ``E_i = -log U_i ~ Exp(1)``, a common
  monotone ``phi`` and ``r_i > 0``: e.g. ``argmax(log(u) / w)``, ``argmin(-log(u) / w)``,
  the Gumbel trick ``argmax(b - log(-log u))``, ``argmax(w / -log(u))``): ``argmin_i r_i E_i``
  has law ``P(i) = (1 / r_i) / sum_j (1 / r_j)``; the race's uniforms are consumed (any
  later use of them is refused, since their joint law given the winner is no longer a box).

The probability of a path is the product of its branch probabilities (for the uniforms:
the product of the final interval lengths), and the output law is
``f(y) = sum over paths with output y of P(path)``. Paths are enumerated depth first by
*replay*: the code is re-run with the decisions of a path prefix fixed, the first free
decision takes its first branch, and the next run takes the next untried branch of the
deepest decision that has one. Cost: one run of the code per path.

Anything else done to a symbolic uniform -- arithmetic between two uniforms, reading its
value (``.item()``, ``.numpy()``, ``float()``), ``torch.where`` on it, an unsupported RNG call
(``torch.randn``, ``torch.randint``, ``Tensor.uniform_``, ...), the global RNG, or code whose
decisions differ between replays -- raises :class:`UntraceableRandomness` naming the
operation; the checker then falls back to its statistical mode. More than ``max_paths``
paths for one draft tuple raises :class:`PathLimitExceeded` (a subclass).

Continuous uniforms make ``u < t`` and ``u <= t`` equivalent. Real float32 uniforms live on
the grid ``k 2^-24`` and take the value 0 with probability 2^-24; the fixed-value mode
(:func:`reachable_outputs`) runs the code on such adversarial values instead.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

__all__ = [
    "UntraceableRandomness",
    "PathLimitExceeded",
    "HarnessGenerator",
    "SymbolicUniforms",
    "exact_law",
    "reachable_outputs",
    "uniforms_for",
    "fixed_value",
    "MAX_PATHS",
    "ExplorationStats",
]

#: Default cap on decision paths explored for one draft tuple.
MAX_PATHS = 100_000


class UntraceableRandomness(RuntimeError):
    """The code uses its randomness in a way the harness cannot follow (the message says how)."""


class PathLimitExceeded(UntraceableRandomness):
    """More decision paths than the cap for one draft tuple."""


# ============================================================================ one run
class _Run:
    """The decision state of one replay: a fixed prefix of branch indices, then first branches.

    ``taken`` records ``(branch index, number of branches)`` per decision; ``weight`` is the
    product of the chosen branches' conditional probabilities. ``fixed`` (fixed-value mode)
    maps a uniform's draw index to its value; then uniforms are concrete numbers.
    """

    def __init__(
        self, prefix: list[int], counts: list[int], max_decisions: int, fixed: Callable[[int], Any] | None = None
    ):
        self.prefix, self._counts, self.max_decisions, self.fixed = prefix, counts, max_decisions, fixed
        self.taken: list[tuple[int, int]] = []
        self.weight = 1.0
        self.lo: list[float] = []
        self.hi: list[float] = []
        self.consumed: set[int] = set()

    def choose(self, probs: list[float]) -> int:
        """Pick a branch among options of positive conditional probability ``probs``."""
        k = len(self.taken)
        if k >= self.max_decisions:
            raise PathLimitExceeded(f"more than {self.max_decisions} random decisions on one path")
        if len(probs) == 1:
            return 0
        c = self.prefix[k] if k < len(self.prefix) else 0
        if k < len(self.prefix) and self._counts[k] != len(probs):
            raise UntraceableRandomness(
                "the code's random decisions differ between two runs with the same uniforms (does it use "
                "randomness other than the harness generator, or state kept between calls?)"
            )
        self.taken.append((c, len(probs)))
        self.weight *= probs[c]
        return c

    def new_uniforms(self, count: int) -> np.ndarray:
        start = len(self.lo)
        self.lo.extend([0.0] * count)
        self.hi.extend([1.0] * count)
        return np.arange(start, start + count, dtype=np.int64)

    def compare(self, uid: int, tau: float, below: bool) -> bool:
        """Decide ``U_uid < tau`` (``below``) or ``U_uid > tau``; split the path if undecided."""
        if uid in self.consumed:
            raise UntraceableRandomness("a uniform used in an exponential race was used again afterwards")
        lo, hi = self.lo[uid], self.hi[uid]
        if not math.isfinite(tau):
            if math.isnan(tau):
                raise UntraceableRandomness("a uniform was compared with NaN")
            result = tau > 0
        elif tau <= lo:
            result = False
        elif tau >= hi:
            result = True
        else:
            width = hi - lo
            p_below = (tau - lo) / width
            c = self.choose([p_below, 1.0 - p_below])
            if c == 0:
                self.hi[uid] = tau
            else:
                self.lo[uid] = tau
            result = c == 0
        return result if below else not result

    def categorical(self, weights: np.ndarray, what: str) -> int:
        w = np.asarray(weights, dtype=np.float64)
        if w.ndim != 1 or not np.all(np.isfinite(w)) or np.any(w < 0) or w.sum() <= 0:
            raise ValueError(f"{what}: expected finite non-negative weights with a positive sum")
        options = np.flatnonzero(w > 0)
        c = self.choose(list(w[options] / w[options].sum()))
        return int(options[c])


_ACTIVE: list[_Run] = []


def _run() -> _Run:
    if not _ACTIVE:
        raise UntraceableRandomness("a harness uniform was used outside the harness run that drew it")
    return _ACTIVE[-1]


# ============================================================================ symbolic uniforms
# A map is a tuple of ops applied in order to U: ("add", c), ("mul", c), ("neg",), ("log",),
# ("exp",), ("rdiv", c) (c / x). Each is strictly monotone on the range it is applied to.


def _pull_back(chain: tuple, t: float, below: bool) -> tuple[float, bool]:
    """``f(U) < t`` (below) or ``f(U) > t`` as ``U < tau`` / ``U > tau``: returns (tau, below)."""
    for op in reversed(chain):
        kind = op[0]
        if kind == "add":
            t -= op[1]
        elif kind == "mul":
            if op[1] == 0:  # the value is the constant 0 from here on: the comparison is decided
                holds = (0.0 < t) if below else (0.0 > t)
                return (math.inf if holds else -math.inf), True
            t, below = t / op[1], below if op[1] > 0 else not below
        elif kind == "neg":
            t, below = -t, not below
        elif kind == "log":
            t = math.exp(t) if t < 709.0 else math.inf
        elif kind == "exp":
            t = math.log(t) if t > 0 else -math.inf
        elif kind == "rdiv":  # c / x for x > 0 (the harness only builds it on positive values)
            c = op[1]
            if c == 0:
                raise UntraceableRandomness("0 / uniform is constant")
            # c / x < t  <=>  x > c / t  (c > 0, t > 0); x < c/t for c < 0, t < 0
            if (c > 0 and t <= 0) or (c < 0 and t >= 0):
                t, below = (math.inf, not below) if c > 0 else (-math.inf, below)
                # c > 0, t <= 0: c/x < t never holds -> "x > inf"; c < 0, t >= 0: always -> "x > -inf"
                continue
            t, below = c / t, not below if c > 0 else below
        else:  # pragma: no cover - every op the class builds is handled above
            raise UntraceableRandomness(f"unknown map {kind}")
    return t, below


def _positive_after(chain: tuple) -> bool:
    """Whether the map's value is positive for every U in (0, 1) (so c / value is monotone)."""
    lo, hi = 0.0, 1.0
    for op in chain:
        kind = op[0]
        with np.errstate(all="ignore"):
            if kind == "add":
                lo, hi = lo + op[1], hi + op[1]
            elif kind == "mul":
                lo, hi = sorted((lo * op[1], hi * op[1]))
            elif kind == "neg":
                lo, hi = -hi, -lo
            elif kind == "log":
                lo, hi = (math.log(lo) if lo > 0 else -math.inf), (math.log(hi) if hi > 0 else -math.inf)
            elif kind == "exp":
                lo, hi = math.exp(min(lo, 709.0)), math.exp(min(hi, 709.0))
            elif kind == "rdiv":
                return False
    return lo >= 0.0


def _race_rate(chain: tuple) -> tuple[str, float, float] | None:
    """``(phi, r, offset)`` with value = phi(r E) + offset and E = -log U, or None if not of that form.

    phi is ``"+lin"``/``"-lin"`` (value = +-r E + offset), ``"s*log:<s>"`` (value = s log(r E)) or
    ``"rdiv:<sign>"`` (value = sign / (r E)).
    """
    if not chain or chain[0] != ("log",):
        return None
    k, b = -1.0, 0.0  # value = k E + b
    i = 1
    while i < len(chain) and chain[i][0] in ("add", "mul", "neg"):
        op = chain[i]
        if op[0] == "add":
            b += op[1]
        elif op[0] == "mul":
            k, b = k * op[1], b * op[1]
        else:
            k, b = -k, -b
        i += 1
    if i == len(chain):
        return ("+lin" if k > 0 else "-lin", abs(k), b) if k != 0 else None
    if b != 0 or k <= 0:
        return None
    op = chain[i]
    if op[0] == "rdiv" and i == len(chain) - 1:  # c / (k E)
        return (f"rdiv:{np.sign(op[1]):+.0f}", k / abs(op[1]), 0.0) if op[1] != 0 else None
    if op[0] != "log":
        return None
    s, c = 1.0, 0.0  # value = s log(k E) + c
    for op in chain[i + 1 :]:
        if op[0] == "add":
            c += op[1]
        elif op[0] == "mul":
            s, c = s * op[1], c * op[1]
        elif op[0] == "neg":
            s, c = -s, -c
        else:
            return None
    if s == 0:
        return None
    return (f"s*log:{s!r}", k * math.exp(c / s), 0.0)


def _increasing(phi: str) -> bool:
    if phi == "+lin":
        return True
    if phi == "-lin":
        return False
    if phi.startswith("rdiv:"):
        return phi.endswith("-1")  # -1/x increases in x > 0
    return float(phi.split(":")[1]) > 0


def _operand(value: Any) -> np.ndarray:
    if isinstance(value, SymbolicUniforms):
        raise UntraceableRandomness(
            "arithmetic between two harness uniforms (the harness follows comparisons of one uniform with a threshold)"
        )
    if isinstance(value, torch.Tensor):
        return value.detach().cpu().to(torch.float64).numpy()
    return np.asarray(value, dtype=np.float64)


_UNSUPPORTED_HELP = (
    "the harness follows comparisons of a uniform (or a monotone map of one) with a threshold, "
    "torch.searchsorted on uniforms, and exponential races (argmax/argmin)"
)


class SymbolicUniforms:
    """An array of symbolic uniforms (each element a uniform id and a monotone map of it).

    Behaves like a float tensor (or numpy array) for indexing, reshaping, comparisons with
    concrete tensors/arrays/numbers, monotone arithmetic with concrete values,
    ``torch.searchsorted`` and races; see the module docstring.
    """

    __array_ufunc__ = None  # numpy defers `array < uniforms` to our reflected operators

    def __init__(
        self, ids: np.ndarray, chains: np.ndarray, dtype: torch.dtype = torch.float64, run: _Run | None = None
    ):
        self.ids, self.chains, self.dtype = ids, chains, dtype
        self._run = run if run is not None else _run()

    @classmethod
    def fresh(cls, shape: tuple[int, ...], dtype: torch.dtype = torch.float64) -> SymbolicUniforms:
        run = _run()
        count = int(np.prod(shape)) if shape else 1
        ids = run.new_uniforms(count).reshape(shape)
        chains = np.empty(shape, dtype=object)
        chains.reshape(-1)[:] = [()] * count if count else []
        return cls(ids, chains, dtype, run)

    # ---------------------------------------------------------------- shape
    @property
    def shape(self) -> torch.Size:
        return torch.Size(self.ids.shape)

    @property
    def ndim(self) -> int:
        return self.ids.ndim

    @property
    def device(self) -> torch.device:
        return torch.device("cpu")

    def dim(self) -> int:
        return self.ids.ndim

    def size(self, dim: int | None = None) -> Any:
        return self.shape if dim is None else self.shape[dim]

    def numel(self) -> int:
        return int(self.ids.size)

    def __len__(self) -> int:
        return len(self.ids)

    def _new(self, ids: np.ndarray, chains: np.ndarray) -> SymbolicUniforms:
        return SymbolicUniforms(np.asarray(ids), chains, self.dtype, self._run)

    def __getitem__(self, index: Any) -> SymbolicUniforms:
        if isinstance(index, torch.Tensor):
            index = index.cpu().numpy()
        if isinstance(index, tuple):
            index = tuple(i.cpu().numpy() if isinstance(i, torch.Tensor) else i for i in index)
        chains = self.chains[index]
        if not isinstance(chains, np.ndarray):  # one element: keep it a 0-d object array
            chains, element = np.empty((), dtype=object), chains
            chains[()] = element
        return self._new(self.ids[index], chains)

    def reshape(self, *shape: Any) -> SymbolicUniforms:
        shape = shape[0] if len(shape) == 1 and isinstance(shape[0], (tuple, list, torch.Size)) else shape
        return self._new(self.ids.reshape(shape), self.chains.reshape(shape))

    view = reshape

    def flatten(self) -> SymbolicUniforms:
        return self.reshape(-1)

    def squeeze(self, dim: int | None = None) -> SymbolicUniforms:
        return self._new(np.squeeze(self.ids, dim), np.squeeze(self.chains, dim))

    def unsqueeze(self, dim: int) -> SymbolicUniforms:
        return self._new(np.expand_dims(self.ids, dim), np.expand_dims(self.chains, dim))

    def _same(self, *args: Any, **kwargs: Any) -> SymbolicUniforms:
        dtype = next((a for a in list(args) + list(kwargs.values()) if isinstance(a, torch.dtype)), self.dtype)
        return SymbolicUniforms(self.ids, self.chains, dtype, self._run)

    to = clone = contiguous = cpu = _same

    def double(self) -> SymbolicUniforms:
        return SymbolicUniforms(self.ids, self.chains, torch.float64, self._run)

    def float(self) -> SymbolicUniforms:
        return SymbolicUniforms(self.ids, self.chains, torch.float32, self._run)

    def astype(self, dtype: Any) -> SymbolicUniforms:
        return self

    def __repr__(self) -> str:
        return f"SymbolicUniforms(shape={tuple(self.ids.shape)})"

    # ---------------------------------------------------------------- values are not available
    def _refuse(self, what: str) -> Any:
        raise UntraceableRandomness(f"{what} reads the value of a harness uniform; {_UNSUPPORTED_HELP}")

    def item(self) -> Any:
        return self._refuse(".item()")

    def numpy(self) -> Any:
        return self._refuse(".numpy()")

    def tolist(self) -> Any:
        return self._refuse(".tolist()")

    def __float__(self) -> float:
        return self._refuse("float()")

    def __bool__(self) -> bool:
        return self._refuse("bool()")

    def __index__(self) -> int:
        return self._refuse("using a uniform as an index")

    def __array__(self, *args: Any, **kwargs: Any) -> Any:
        return self._refuse("numpy.asarray()")

    # ---------------------------------------------------------------- monotone maps
    def _map(self, op: str, other: Any = None) -> SymbolicUniforms:
        if other is None:
            chains = np.empty(self.chains.shape, dtype=object)
            flat = chains.reshape(-1)
            for i, ch in enumerate(self.chains.reshape(-1)):
                flat[i] = ch + ((op,),)
            return self._new(self.ids, chains)
        c = _operand(other)
        ids, cs = np.broadcast_arrays(self.ids, c)
        chains = np.empty(ids.shape, dtype=object)
        base = np.broadcast_to(self.chains, ids.shape)
        flat, fb, fc = chains.reshape(-1), base.reshape(-1), cs.reshape(-1)
        for i in range(flat.size):
            if op == "rdiv" and not _positive_after(fb[i]):
                raise UntraceableRandomness("division by a map of a uniform that is not positive")
            flat[i] = fb[i] + ((op, float(fc[i])),)
        return self._new(np.array(ids), chains)

    def __add__(self, other: Any) -> SymbolicUniforms:
        return self._map("add", other)

    __radd__ = __add__

    def __sub__(self, other: Any) -> SymbolicUniforms:
        return self._map("add", -_operand(other))

    def __rsub__(self, other: Any) -> SymbolicUniforms:
        return self._map("neg")._map("add", other)

    def __mul__(self, other: Any) -> SymbolicUniforms:
        return self._map("mul", other)

    __rmul__ = __mul__

    def __truediv__(self, other: Any) -> SymbolicUniforms:
        c = _operand(other)
        if np.any(c == 0):
            raise UntraceableRandomness("a uniform was divided by 0")
        return self._map("mul", 1.0 / c)

    def __rtruediv__(self, other: Any) -> SymbolicUniforms:
        return self._map("rdiv", other)

    def __neg__(self) -> SymbolicUniforms:
        return self._map("neg")

    def log(self) -> SymbolicUniforms:
        return self._map("log")

    def exp(self) -> SymbolicUniforms:
        return self._map("exp")

    # ---------------------------------------------------------------- comparisons
    def _compare(self, other: Any, below: bool) -> Any:
        """Elementwise decisions (a bool tensor, or a numpy array against a numpy threshold)."""
        t = _operand(other)
        ids, ts = np.broadcast_arrays(self.ids, t)
        chains = np.broadcast_to(self.chains, ids.shape)
        out = np.zeros(ids.shape, dtype=bool)
        fo, fi, fc, ft = out.reshape(-1), ids.reshape(-1), chains.reshape(-1), ts.reshape(-1)
        for i in range(fo.size):
            tau, b = _pull_back(fc[i], float(ft[i]), below)
            fo[i] = self._run.compare(int(fi[i]), tau, b)
        return out if isinstance(other, np.ndarray) else torch.from_numpy(out)

    def __lt__(self, other: Any) -> torch.Tensor:
        return self._compare(other, True)

    __le__ = __lt__  # equal with probability 0

    def __gt__(self, other: Any) -> torch.Tensor:
        return self._compare(other, False)

    __ge__ = __gt__

    def __eq__(self, other: Any) -> Any:  # type: ignore[override]
        return self._refuse("== on a uniform")

    __ne__ = __eq__
    __hash__ = object.__hash__

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        raise UntraceableRandomness(f"Tensor.{name} on a harness uniform; {_UNSUPPORTED_HELP}")

    # ---------------------------------------------------------------- races
    def _race(self, dim: int | None, largest: bool, keepdim: bool = False) -> torch.Tensor:
        ids, chains = self.ids, self.chains
        if dim is None:
            ids, chains, dim = ids.reshape(-1), chains.reshape(-1), 0
        dim = dim % ids.ndim
        ids_m, ch_m = np.moveaxis(ids, dim, -1), np.moveaxis(chains, dim, -1)
        out = np.zeros(ids_m.shape[:-1], dtype=np.int64)
        for idx in np.ndindex(out.shape):
            row_ids, row_chains = ids_m[idx], ch_m[idx]
            if len(set(row_ids.tolist())) != len(row_ids):
                raise UntraceableRandomness("a race over repeated uniforms")
            forms = [_race_rate(ch) for ch in row_chains]
            phis = {f[0] for f in forms if f is not None}
            offsets = {f[2] for f in forms if f is not None}
            if any(f is None for f in forms) or len(phis) != 1 or len(offsets) != 1:
                raise UntraceableRandomness(
                    "argmax/argmin over uniforms that are not an exponential race phi(r_i E_i), E_i = -log U_i"
                )
            if largest == _increasing(phis.pop()):
                raise UntraceableRandomness("a race for the largest exponential (not a categorical law)")
            for uid in row_ids:
                uid = int(uid)
                if uid in self._run.consumed or self._run.lo[uid] != 0.0 or self._run.hi[uid] != 1.0:
                    raise UntraceableRandomness("a race over uniforms already compared or raced")
            rates = np.array([1.0 / f[1] for f in forms])  # argmin r_i E_i: P(i) proportional to 1 / r_i
            out[idx] = self._run.categorical(rates, "race")
            self._run.consumed.update(int(u) for u in row_ids)
        result = torch.from_numpy(out)
        return result.unsqueeze(dim) if keepdim else result

    def argmax(self, dim: int | None = None, keepdim: bool = False, axis: int | None = None) -> torch.Tensor:
        return self._race(dim if axis is None else axis, True, keepdim)

    def argmin(self, dim: int | None = None, keepdim: bool = False, axis: int | None = None) -> torch.Tensor:
        return self._race(dim if axis is None else axis, False, keepdim)

    # ---------------------------------------------------------------- torch functions
    @classmethod
    def __torch_function__(cls, func: Any, types: Any, args: tuple = (), kwargs: dict | None = None) -> Any:
        kwargs = kwargs or {}
        name = getattr(func, "__name__", str(func))
        sym_first = isinstance(args[0], SymbolicUniforms) if args else False
        if name in _REFLECTED and len(args) == 2 and not sym_first:
            return getattr(args[1], _REFLECTED[name])(args[0])
        if name == "searchsorted":
            return _searchsorted(args[0], args[1], right=bool(kwargs.get("right", False)), side=kwargs.get("side"))
        if name in ("log", "exp", "neg", "negative") and sym_first:
            return args[0]._map("neg" if name.startswith("neg") else name)
        if name in ("argmax", "argmin") and sym_first:
            return getattr(args[0], name)(*args[1:], **kwargs)
        if name in _SYMMETRIC and sym_first:
            return getattr(args[0], _SYMMETRIC[name])(*args[1:])
        raise UntraceableRandomness(f"torch.{name} on a harness uniform; {_UNSUPPORTED_HELP}")


#: torch names where the symbolic operand is second: ``tensor OP uniform`` -> ``uniform ROP tensor``.
_REFLECTED = {
    "__lt__": "__gt__",
    "lt": "__gt__",
    "less": "__gt__",
    "__le__": "__ge__",
    "le": "__ge__",
    "__gt__": "__lt__",
    "gt": "__lt__",
    "greater": "__lt__",
    "__ge__": "__le__",
    "ge": "__le__",
    "__add__": "__radd__",
    "add": "__radd__",
    "__radd__": "__radd__",
    "__mul__": "__rmul__",
    "mul": "__rmul__",
    "__rmul__": "__rmul__",
    "__sub__": "__rsub__",
    "sub": "__rsub__",
    "__rsub__": "__sub__",
    "__truediv__": "__rtruediv__",
    "div": "__rtruediv__",
    "true_divide": "__rtruediv__",
}
_SYMMETRIC = {
    "lt": "__lt__",
    "less": "__lt__",
    "le": "__le__",
    "gt": "__gt__",
    "greater": "__gt__",
    "ge": "__ge__",
    "add": "__add__",
    "mul": "__mul__",
    "sub": "__sub__",
    "div": "__truediv__",
    "true_divide": "__truediv__",
}


def _searchsorted(sorted_seq: Any, values: Any, right: bool = False, side: str | None = None) -> torch.Tensor:
    """``torch.searchsorted(cdf, u)``: the number of entries ``< u`` (``<= u`` with ``right``), per value."""
    if not isinstance(values, SymbolicUniforms) or isinstance(sorted_seq, SymbolicUniforms):
        raise UntraceableRandomness(f"torch.searchsorted with uniforms as the sorted sequence; {_UNSUPPORTED_HELP}")
    seq = _operand(sorted_seq)
    if seq.ndim == 1:
        seq = np.broadcast_to(seq, values.ids.shape[:-1] + seq.shape) if values.ids.ndim > 1 else seq
    out = np.zeros(values.ids.shape, dtype=np.int64)
    for idx in np.ndindex(values.ids.shape):
        row = seq if seq.ndim == 1 else seq[idx[:-1]]
        u = values[idx]
        count = 0
        for edge in row:  # the sequence is sorted, so once u < edge the rest are decided without splitting
            if bool(u._compare(edge, False)):  # u > edge (= u >= edge: equality has probability 0)
                count += 1
            else:
                break
        out[idx] = count
    return torch.from_numpy(out)


# ============================================================================ generator shims
_RNG_NAMES = (
    "rand",
    "rand_like",
    "randn",
    "randn_like",
    "randint",
    "randint_like",
    "randperm",
    "multinomial",
    "bernoulli",
    "normal",
    "poisson",
)
_TENSOR_RNG = ("uniform_", "normal_", "exponential_", "geometric_", "bernoulli_", "random_", "cauchy_", "log_normal_")


class HarnessGenerator:
    """Stands in for a ``torch.Generator`` (and a numpy ``Generator``) inside the harness.

    ``torch.rand(*size, generator=g)`` returns :class:`SymbolicUniforms` (or, in fixed-value
    mode, a real tensor of the fixed values); ``torch.multinomial(w, 1, generator=g)`` and
    ``g.choice(V, p=w)`` branch over the categories; ``g.random(size)`` and
    ``g.uniform(size=...)`` (numpy style) return uniforms. Seeding is a no-op.
    """

    #: Accepted wherever a ``torch.Generator`` is (:func:`multidraft.validation.check_generator`).
    stands_in_for_torch_generator = True

    def manual_seed(self, seed: Any) -> HarnessGenerator:
        return self

    def seed(self) -> int:
        return 0

    def initial_seed(self) -> int:
        return 0

    @property
    def device(self) -> torch.device:
        return torch.device("cpu")

    def random(self, size: Any = None, dtype: Any = np.float64, out: Any = None) -> Any:
        shape = () if size is None else ((size,) if np.isscalar(size) else tuple(size))
        return uniforms_for(shape, torch.float64, numpy=True)

    def uniform(self, low: float = 0.0, high: float = 1.0, size: Any = None) -> Any:
        u = self.random(size)
        return u * (high - low) + low if (low, high) != (0.0, 1.0) else u

    def choice(self, a: Any, size: Any = None, replace: bool = True, p: Any = None, shuffle: bool = True) -> Any:
        if size not in (None, 1, (1,)) or p is None:
            raise UntraceableRandomness("numpy Generator.choice other than one draw with given p")
        options = np.arange(a) if np.isscalar(a) else np.asarray(a)
        i = _run().categorical(np.asarray(p, dtype=np.float64), "choice p")
        return options[i] if size is None else options[[i]]

    def __getattr__(self, name: str) -> Any:
        raise UntraceableRandomness(f"generator.{name}() is not supported by the harness; {_UNSUPPORTED_HELP}")


#: Named fixed values of the fixed-value mode, per dtype: exactly 0, 2^-24 (float32 granularity),
#: the largest value below 1 in the dtype (1 - 2^-24 for float32, 1 - 2^-53 for float64), 1/2.
def fixed_value(name: Any, dtype: torch.dtype) -> float:
    """The value of a named fixed uniform (``"zero"``, ``"tiny"``, ``"top"``, ``"half"``) in ``dtype``; numbers pass."""
    if not isinstance(name, str):
        return float(name)
    if name == "top":
        return 1.0 - torch.finfo(dtype).eps / 2
    return {"zero": 0.0, "tiny": 2.0**-24, "half": 0.5}[name]


def uniforms_for(shape: tuple[int, ...], dtype: torch.dtype = torch.float32, numpy: bool = False) -> Any:
    """Uniforms of ``shape`` for the running harness path: symbolic, or in fixed-value mode a real
    tensor (numpy array with ``numpy``) of the fixed values in ``dtype``."""
    run = _run()
    if run.fixed is None:
        return SymbolicUniforms.fresh(shape, dtype)
    ids = run.new_uniforms(int(np.prod(shape)) if shape else 1)
    values = np.array([fixed_value(run.fixed(int(i)), dtype) for i in ids], dtype=np.float64).reshape(shape)
    return values if numpy else torch.from_numpy(values).to(dtype)


def _size(args: tuple, kwargs: dict) -> tuple[int, ...]:
    if "size" in kwargs:
        s = kwargs["size"]
        return (int(s),) if isinstance(s, int) else tuple(int(x) for x in s)
    if len(args) == 1 and isinstance(args[0], (tuple, list, torch.Size)):
        return tuple(int(x) for x in args[0])
    return tuple(int(x) for x in args)


def _patched(name: str, original: Callable[..., Any], generator: HarnessGenerator) -> Callable[..., Any]:
    def call(*args: Any, **kwargs: Any) -> Any:
        gen = kwargs.get("generator")
        if gen is not generator:
            if gen is None and _ACTIVE:
                raise UntraceableRandomness(
                    f"torch.{name} without the harness generator (the global RNG) inside "
                    "a harness run; pass the generator you were given"
                )
            return original(*args, **kwargs)
        if name == "rand":
            return uniforms_for(_size(args, kwargs), kwargs.get("dtype") or torch.get_default_dtype())
        if name == "multinomial":
            probs = args[0] if args else kwargs["input"]
            count = args[1] if len(args) > 1 else kwargs.get("num_samples", 1)
            if int(count) != 1:
                raise UntraceableRandomness("torch.multinomial with num_samples > 1 (only single draws are followed)")
            w = probs.detach().cpu().to(torch.float64).numpy()
            rows = w.reshape(-1, w.shape[-1])
            picks = [_run().categorical(r, "multinomial input") for r in rows]
            out = torch.tensor(picks, dtype=torch.long).reshape(w.shape[:-1] + (1,))
            return out
        raise UntraceableRandomness(f"torch.{name}(generator=...) is not followed by the harness; {_UNSUPPORTED_HELP}")

    return call


def _tensor_patched(name: str, original: Callable[..., Any]) -> Callable[..., Any]:
    def call(self: Any, *args: Any, **kwargs: Any) -> Any:
        if _ACTIVE:
            raise UntraceableRandomness(
                f"Tensor.{name} inside a harness run (in-place random fill cannot be "
                f"followed); draw with torch.rand(..., generator=g) instead"
            )
        return original(self, *args, **kwargs)

    return call


@contextlib.contextmanager
def _patch_torch(generator: HarnessGenerator) -> Iterator[None]:
    saved = {name: getattr(torch, name) for name in _RNG_NAMES if hasattr(torch, name)}
    saved_t = {name: getattr(torch.Tensor, name) for name in _TENSOR_RNG if hasattr(torch.Tensor, name)}
    try:
        for name, fn in saved.items():
            setattr(torch, name, _patched(name, fn, generator))
        for name, fn in saved_t.items():
            setattr(torch.Tensor, name, _tensor_patched(name, fn))
        yield
    finally:
        for name, fn in saved.items():
            setattr(torch, name, fn)
        for name, fn in saved_t.items():
            setattr(torch.Tensor, name, fn)


# ============================================================================ exploration
@dataclass
class ExplorationStats:
    """Paths explored (runs of the code) and decision points met, summed over calls."""

    paths: int = 0
    tuples: int = 0
    max_paths: int = 0
    per_tuple: list[int] = field(default_factory=list)

    def add(self, paths: int) -> None:
        self.paths += paths
        self.tuples += 1
        self.max_paths = max(self.max_paths, paths)


def _token(out: Any) -> int:
    if isinstance(out, SymbolicUniforms):
        raise UntraceableRandomness("the sampler returned a harness uniform, not a token")
    if isinstance(out, (tuple, list)) and len(out) == 2 and not np.isscalar(out[0]):
        out = out[0]
    arr = out.detach().cpu().numpy() if isinstance(out, torch.Tensor) else np.asarray(out)
    if arr.size != 1:
        raise UntraceableRandomness(f"the sampler returned {arr.size} tokens for one draft tuple")
    return int(arr.reshape(-1)[0])


def _explore(
    call: Callable[[HarnessGenerator], Any], max_paths: int, fixed: Callable[[int], Any] | None
) -> Iterator[tuple[int, float]]:
    """Yield ``(token, P(path))`` for every decision path of ``call(generator)``."""
    generator = HarnessGenerator()
    prefix: list[int] = []
    counts: list[int] = []
    paths = 0
    with _patch_torch(generator):
        while True:
            paths += 1
            if paths > max_paths:
                raise PathLimitExceeded(
                    f"more than {max_paths} decision paths for one draft tuple "
                    "(raise max_paths, or check this verifier statistically)"
                )
            run = _Run(prefix, counts, 10_000, fixed)
            _ACTIVE.append(run)
            try:
                out = call(generator)
            finally:
                _ACTIVE.pop()
            yield _token(out), run.weight
            counts = [n for _, n in run.taken]
            k = len(run.taken) - 1
            while k >= 0 and run.taken[k][0] + 1 >= run.taken[k][1]:
                k -= 1
            if k < 0:
                return
            prefix = [c for c, _ in run.taken[:k]] + [run.taken[k][0] + 1]
            counts = counts[: k + 1]


def exact_law(
    call: Callable[[HarnessGenerator], Any],
    vocab_size: int,
    *,
    max_paths: int = MAX_PATHS,
    stats: ExplorationStats | None = None,
) -> np.ndarray:
    """The exact law (V,) float64 of the token ``call(generator)`` returns.

    ``call`` runs the sampler once with the given :class:`HarnessGenerator` (or passes
    ``generator`` uniforms to a serving-engine verifier, see
    :func:`~multidraft.properties.exact_sampling.uniform_tensor`). Mass on tokens outside
    ``[0, V)`` is dropped, so the returned law then sums to less than 1 (the checker's
    ``law`` property reports it). Raises :class:`UntraceableRandomness`.

    >>> import torch
    >>> def coin(g):  # token 1 with probability 0.3
    ...     return torch.tensor(int(bool(torch.rand(1, generator=g)[0] < 0.3)))
    >>> exact_law(coin, 2).round(12).tolist()
    [0.7, 0.3]
    """
    out = np.zeros(vocab_size, dtype=np.float64)
    paths = 0
    for token, weight in _explore(call, max_paths, None):
        paths += 1
        if 0 <= token < vocab_size:
            out[token] += weight
    if stats is not None:
        stats.add(paths)
    return out


def reachable_outputs(
    call: Callable[[HarnessGenerator], Any], values: Callable[[int], Any], *, max_paths: int = MAX_PATHS
) -> set[int]:
    """Every token ``call`` can output when its k-th uniform takes the value ``values(k)``.

    ``values(k)`` is a number or a name of :func:`fixed_value` (``"zero"``, ``"tiny"``, ``"top"``,
    resolved in the dtype the code asks for). Uniforms are real numbers here; categorical
    draws still branch over every category of positive weight.
    """
    return {token for token, _ in _explore(call, max_paths, values)}
