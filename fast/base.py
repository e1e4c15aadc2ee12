"""Shared pieces of the batched torch verifiers: input conversion and the ``Verifier`` base.

A verifier maps a problem (target law p, draft law q) and the drafted tokens to an output
token. Subclasses implement the maths on batched float tensors only:

* ``_prepare(p[B, V], q[B, V], n) -> dict`` per-problem work that does not depend on the
  drafts (a root, an induced law...); every tensor in it has leading dimension B;
* ``_conditional(p[B, V], q[B, V], drafts[B, n], state) -> probs[B, V]``: the exact output
  law given the drafts;
* ``_sample(p, q, drafts, state, generator) -> (tokens[B] long, accepted[B] bool)``: the
  algorithm itself (default: a draw from ``_conditional`` with ``torch.multinomial``);
* ``_acceptance(p, q, n, state) -> [B]``: the exact acceptance in closed form, or None
  (the base then enumerates the drafting law with :func:`multidraft.evaluate`).

The base class validates the inputs (:mod:`multidraft.validation`; a bad input raises
:class:`~multidraft.validation.InvalidInputError` naming the argument), converts numpy or
torch to float64 tensors on the input's device (numpy: CPU), broadcasts, and puts results
back in the caller's shape:

============================  ==========================  ===================  ============
target, draft                 drafts                      conditional          sample
============================  ==========================  ===================  ============
(V,), (V,)                    (n,)                        (V,)                 () scalar
(V,), (V,)                    (M, n)                      (M, V)               (M,)
(B, V), (B, V)                (B, n) (or (n,): shared)    (B, V)               (B,)
============================  ==========================  ===================  ============

Throughout, *acceptance* is ``P(output in {x_1..x_n})`` (what :func:`multidraft.evaluate`
measures), and the ``accepted`` flag of a sample is ``output in drafts``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import Tensor

from multidraft.drafting import DraftingLaw, drafting_law
from multidraft.validation import InvalidInputError, check_drafts, check_generator, check_n, check_pair_tensors

__all__ = ["Verifier", "as_tensor_laws", "as_tensor_drafts", "in_drafts"]

#: Largest n :meth:`Verifier.acceptance` takes: closed forms walk the n drafts one by one
#: (O(n B V)), so an n far beyond any real draft count would run for minutes unasked.
ACCEPTANCE_MAX_DRAFTS = 4096


def as_tensor_laws(
    target: Any, draft: Any, *, device: Any = None, dtype: torch.dtype = torch.float64
) -> tuple[Tensor, Tensor, bool]:
    """Validate a target law p and a draft law q and return them as batched tensors.

    Parameters
    ----------
    target, draft : (V,) or (B, V) float, numpy / torch / nested lists
        Rows non-negative, finite, summing to 1 (:mod:`multidraft.validation` tolerances).
        A (V,) law is broadcast against a (B, V) one.
    device : torch device, optional
        Default: the device of a torch ``target``, else CPU.
    dtype : torch.dtype
        float64 by default.

    Returns
    -------
    ``(p, q, was_batched)``: two (B, V) tensors (B = 1 for unbatched input) and whether
    either input had a batch dimension.
    """
    if device is None and isinstance(target, Tensor):
        device = target.device
    return check_pair_tensors(target, draft, device=device, dtype=dtype)


def as_tensor_drafts(drafts: Any, V: int, n: int | None = None, *, device: Any = None) -> Tensor:
    """Validate draft token ids and return them as a long tensor of shape (M, n).

    Parameters
    ----------
    drafts : (n,) or (M, n) int, numpy / torch / lists
        Token ids in [0, V); a 1-D input becomes one row.
    V : int
        Vocabulary size.
    n : int, optional
        Required number of drafts (last axis).
    device : torch device, optional
        Default: the device of a torch ``drafts``, else CPU.
    """
    if device is None and isinstance(drafts, Tensor):
        device = drafts.device
    if isinstance(drafts, Tensor) and (device is None or drafts.device == torch.device(device)):
        ids = draft_id_tensor(drafts, V, n)
        if ids is not None:
            return ids
    return torch.as_tensor(draft_id_rows(drafts, V, n), dtype=torch.long, device=device)


def draft_id_tensor(drafts: Tensor, V: int, n: int | None = None) -> Tensor | None:
    """Validate integer draft ids of a torch tensor on its own device (one host
    synchronisation, no copy to the host): a long tensor (M, n), or None when the check
    fails or does not apply (not an integer tensor, empty), so that :func:`draft_id_rows`
    produces the detailed error."""
    if drafts.dtype not in (torch.int64, torch.int32, torch.int16, torch.int8, torch.uint8):
        return None
    ids = drafts.detach()
    if ids.ndim not in (1, 2) or ids.numel() == 0 or (n is not None and ids.shape[-1] != n):
        return None
    lo, hi = torch.aminmax(ids)
    lo, hi = torch.stack([lo, hi]).tolist()
    if lo < 0 or hi >= V:
        return None
    return ids.reshape(-1, ids.shape[-1]).long()


def draft_id_rows(drafts: Any, V: int, n: int | None = None) -> np.ndarray:
    """:func:`as_tensor_drafts` in numpy: validated token ids, int64 of shape (M, n)."""
    ids = check_drafts(drafts, V, n=n)
    if ids.ndim > 2 or ids.shape[-1] == 0:
        raise InvalidInputError(f"drafts: expected shape (n,) or (M, n) with n >= 1, got shape {ids.shape}")
    return np.atleast_2d(ids)


def in_drafts(tokens: Tensor, drafts: Tensor) -> Tensor:
    """``tokens[b] in drafts[b, :]`` for each row: (B,) long, (B, n) long -> (B,) bool."""
    return (drafts == tokens[:, None]).any(dim=1)


def _ndim(x: Any) -> int:
    return x.ndim if hasattr(x, "ndim") else np.ndim(x)


def _cache_key(*tensors: Tensor) -> tuple:
    """Key of a verifier's cached preparation, on the device where the tensors are.

    CPU tensors: their contents (:func:`multidraft.fast.fingerprint.content_hash`, one
    compiled pass, no copy for contiguous tensors), so a buffer refilled in place is a new
    problem. Other devices: the storage and its version counter (torch bumps it on every
    in-place write through the tensor or any view of it) without a copy to the host; the
    cache holds the tensors, so their storage cannot be freed and reused under the same key.
    """
    if all(t.device.type == "cpu" for t in tensors):
        from .fingerprint import content_hash

        return tuple(content_hash(t.detach().numpy()) for t in tensors)
    return tuple((t.data_ptr(), tuple(t.shape), t.stride(), str(t.dtype), str(t.device), t._version) for t in tensors)


def _expand_rows(state: dict, rows: int) -> dict:
    """Broadcast every tensor of a per-problem state from leading dim 1 to ``rows``."""
    return {
        k: v.expand(rows, *v.shape[1:]) if isinstance(v, Tensor) and v.shape[:1] == (1,) else v
        for k, v in state.items()
    }


class Verifier:
    """Base of the batched verifiers: validation, shapes, caching, the public interface.

    Class attributes a subclass sets: ``name``; ``drafting`` (the drafting law it is built
    for: ``"iid"``, ``"without_replacement"``, ``"greedy"``); ``order_invariant`` (the
    output law ignores the order of the drafts); ``optimal`` (acceptance = alpha*);
    ``cache_state`` (cache ``_prepare`` on the exact input values, for costly preparations).
    ``batched = True``: ``conditional``/``sample`` accept drafts (M, n) with unbatched laws.

    Parameters
    ----------
    device : torch device, optional
        Where to compute (default: the input's device, CPU for numpy).
    dtype : torch.dtype
        float64 (default); float32 is an explicit opt-in.
    """

    name = "verifier"
    drafting = "iid"
    batched = True
    order_invariant = False
    optimal = False
    cache_state = False

    def __init__(self, *, device: Any = None, dtype: torch.dtype = torch.float64):
        self.device = device
        self.dtype = dtype
        self._cache: tuple[Any, dict, tuple] | None = None

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"

    # ---------------------------------------------------------------- hooks (subclasses)
    def _prepare(self, p: Tensor, q: Tensor, n: int) -> dict:
        """Per-problem work independent of the drafts; tensors with leading dim B."""
        return {}

    def _conditional(self, p: Tensor, q: Tensor, drafts: Tensor, state: dict) -> Tensor:
        """Exact output law given the drafts: (B, V), (B, V), (B, n) -> (B, V)."""
        raise NotImplementedError

    def _sample(
        self, p: Tensor, q: Tensor, drafts: Tensor, state: dict, generator: torch.Generator | None
    ) -> tuple[Tensor, Tensor]:
        """One verification step per row: ``(tokens (B,) long, accepted (B,) bool)``."""
        probs = self._conditional(p, q, drafts, state)
        tokens = torch.multinomial(probs, 1, generator=generator)[:, 0]
        return tokens, in_drafts(tokens, drafts)

    def _acceptance(self, p: Tensor, q: Tensor, n: int, state: dict) -> Tensor | None:
        """Exact acceptance (B,) in closed form, or None to enumerate the drafting law."""
        return None

    # ---------------------------------------------------------------- plumbing
    def law(self, draft: Any, n: int) -> DraftingLaw:
        """The drafting law this verifier is built for, bound to a (V,) draft law and n."""
        return drafting_law(self.drafting, draft, n)

    def _state(self, p: Tensor, q: Tensor, n: int) -> dict:
        if not self.cache_state:
            return self._prepare(p, q, n)
        key = (_cache_key(p, q), n, str(p.device))
        if self._cache is None or self._cache[0] != key:
            self._cache = (key, self._prepare(p, q, n), (p, q))
        return self._cache[1]

    def _checked(self, target: Any, draft: Any, drafts: Any) -> tuple[Tensor, Tensor, Tensor, bool, bool]:
        """Validated ``(p, q, ids, keep_rows, expand)``: p, q (B, V), ids (M, n) (a shared
        (n,) tuple repeated for the B problems), whether the result keeps a row axis, and
        whether the one problem (B = 1, unbatched laws) serves M > 1 tuples."""
        p, q, laws_batched = as_tensor_laws(target, draft, device=self.device, dtype=self.dtype)
        ids = as_tensor_drafts(drafts, p.shape[1], device=p.device)
        B, M = p.shape[0], ids.shape[0]
        expand = B != M and B == 1 and not laws_batched
        if B != M and not expand:
            if M == 1 and _ndim(drafts) == 1:
                ids = ids.expand(B, -1)
            else:
                raise InvalidInputError(
                    f"drafts: expected shape ({ids.shape[1]},) or ({B}, {ids.shape[1]}) for a batch of {B} "
                    f"problems, got {tuple(np.shape(drafts))}"
                )
        return p, q, ids, laws_batched or _ndim(drafts) == 2, expand

    def _inputs(self, target: Any, draft: Any, drafts: Any) -> tuple[Tensor, Tensor, Tensor, dict, bool]:
        """Validated (p, q, ids, state) broadcast to a common number of rows, and whether
        the result keeps a row axis."""
        p, q, ids, keep_rows, expand = self._checked(target, draft, drafts)
        p, q, state = self._prepared(p, q, ids, expand)
        return p, q, ids, state, keep_rows

    def _prepared(self, p: Tensor, q: Tensor, ids: Tensor, expand: bool) -> tuple[Tensor, Tensor, dict]:
        """``(p, q, state)`` with as many rows as ``ids`` (:meth:`_checked`'s ``expand``)."""
        state = self._state(p, q, ids.shape[1])
        if expand:
            M = ids.shape[0]
            p, q, state = p.expand(M, -1), q.expand(M, -1), _expand_rows(state, M)
        return p, q, state

    def _sample_direct(
        self, p: Tensor, q: Tensor, drafts: Tensor, expand: bool, generator: torch.Generator | None
    ) -> tuple[Tensor, Tensor] | None:
        """Optional sampler that needs no ``_prepare`` state (subclasses): validated p, q
        (B, V) and drafts (M, n), M = B unless ``expand`` (one problem serving M tuples).
        Returns ``(tokens (M,), accepted (M,))``, or None to take the ``_sample`` path."""
        return None

    # ---------------------------------------------------------------- public interface
    def conditional(self, target: Any, draft: Any, drafts: Any) -> Tensor:
        """Exact law of the output token given the drafts (computed, not sampled).

        Parameters
        ----------
        target, draft : (V,) or (B, V) float, numpy or torch
            Target law p and draft law q.
        drafts : (n,), (M, n) or (B, n) int
            Drafted token ids (see the shape table in the module docstring).

        Returns
        -------
        torch.Tensor, float64: (V,) for one tuple, else (M, V) / (B, V); rows sum to 1.
        """
        p, q, ids, state, keep_rows = self._inputs(target, draft, drafts)
        probs = self._conditional(p, q, ids, state)
        return probs if keep_rows else probs[0]

    def sample(
        self,
        target: Any,
        draft: Any,
        drafts: Any,
        generator: torch.Generator | None = None,
        *,
        return_accepted: bool = False,
    ) -> Tensor | tuple[Tensor, Tensor]:
        """Run the verifier once per draft tuple; all randomness from ``generator``.

        Returns
        -------
        tokens : long tensor, () for one tuple, else (M,) / (B,)
        accepted : bool tensor of the same shape (only with ``return_accepted=True``):
            the output is one of the drafts.
        """
        generator = check_generator(generator)
        p, q, ids, keep_rows, expand = self._checked(target, draft, drafts)
        out = self._sample_direct(p, q, ids, expand, generator)
        if out is None:
            p, q, state = self._prepared(p, q, ids, expand)
            out = self._sample(p, q, ids, state, generator)
        tokens, accepted = out
        if not keep_rows:
            tokens, accepted = tokens[0], accepted[0]
        return (tokens, accepted) if return_accepted else tokens

    def acceptance(self, target: Any, draft: Any, n: Any) -> Tensor:
        """Exact acceptance ``P(output in drafts)`` under this verifier's drafting law.

        Closed form where one exists; otherwise exact enumeration of the drafting law's
        support (:func:`multidraft.evaluate`, which refuses too large problems with
        ``TooLargeError``). Returns a float64 tensor () for unbatched laws, else (B,).
        """
        n = check_n(n, maximum=ACCEPTANCE_MAX_DRAFTS)
        p, q, laws_batched = as_tensor_laws(target, draft, device=self.device, dtype=self.dtype)
        acc = self._acceptance(p, q, n, self._state(p, q, n))
        if acc is None:
            from multidraft.evaluate import evaluate

            rows = []
            for p_b, q_b in zip(p.cpu().double().numpy(), q.cpu().double().numpy()):
                law = self.law(q_b, n)
                rows.append(evaluate(self, p_b, q_b, n, drafting=law, order_invariant=self.order_invariant).acceptance)
            acc = torch.tensor(rows, dtype=p.dtype, device=p.device)
        return acc if laws_batched else acc[0]
