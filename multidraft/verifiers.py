"""The two verifier interfaces users plug in, adapters between them, and the registry.

Conditional verifier
    ``f(target[V], draft, drafts[n] int) -> probs[V]``: the output law given the drafts.
    ``draft`` is what the drafting law hands out (q of shape (V,) for i.i.d. and
    without-replacement drafting, (n, V) for independent drafts, the table for a joint law).
    A verifier object may instead expose ``.conditional(target, draft, drafts)``. If it sets
    ``batched = True`` it also accepts ``drafts`` of shape (M, n) with an unbatched target
    and returns probs of shape (M, V); the exact evaluator then calls it in chunks.

Sampling verifier
    ``g(target[B, V], draft[B, V], drafts[B, n], generator) -> tokens[B]`` (the shape
    serving engines use); or an object with ``.sample(target, draft, drafts, generator=None)``
    returning tokens or ``(tokens, accepted)``.

Both accept numpy arrays or torch tensors. Every verifier in the project (oracle plans,
global resolution, the baselines) exposes these interfaces, so the checker treats the
project's own solvers exactly like a user's.
"""

from __future__ import annotations

import importlib.metadata
from collections.abc import Callable
from typing import Any, Protocol, runtime_checkable

import numpy as np

from .validation import InvalidInputError, is_torch_tensor


@runtime_checkable
class ConditionalVerifier(Protocol):
    def __call__(self, target: Any, draft: Any, drafts: Any) -> Any: ...


@runtime_checkable
class SamplingVerifier(Protocol):
    def __call__(self, target: Any, draft: Any, drafts: Any, generator: Any = None) -> Any: ...


def conditional_of(verifier: Any) -> Callable[[Any, Any, Any], Any]:
    """The conditional-law function of ``verifier`` (an object with ``.conditional`` or a callable)."""
    method = getattr(verifier, "conditional", None)
    if callable(method):
        return method
    if callable(verifier):
        return verifier
    raise InvalidInputError(
        f"verifier: expected a callable f(target, draft, drafts) -> probs or an object with "
        f".conditional(target, draft, drafts), got {type(verifier).__name__}"
    )


def sampler_of(verifier: Any) -> Callable[..., Any]:
    """The sampling function of ``verifier`` (an object with ``.sample`` or a callable)."""
    method = getattr(verifier, "sample", None)
    if callable(method):
        return method
    if callable(verifier):
        return verifier
    raise InvalidInputError(
        f"verifier: expected a callable g(target, draft, drafts, generator) -> tokens or an object "
        f"with .sample(target, draft, drafts, generator=None), got {type(verifier).__name__}"
    )


def is_batched(verifier: Any) -> bool:
    """True if the verifier declares that it accepts drafts of shape (M, n) at once."""
    return bool(getattr(verifier, "batched", False))


def as_numpy_probs(values: Any) -> np.ndarray:
    """Convert a verifier's output (numpy or torch) to a float64 numpy array.

    Raises
    ------
    InvalidInputError
        ``"verifier: returned None, ..."`` or a value that is not numbers.
    """
    if values is None:
        raise InvalidInputError(
            "verifier: returned None, expected the output law (probabilities of shape (V,) "
            "per draft tuple); does the function return its result?"
        )
    if is_torch_tensor(values):
        values = values.detach().to("cpu").double().numpy()
    try:
        return np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        raise InvalidInputError(
            f"verifier: returned a {type(values).__name__}, expected the output law as an array of probabilities"
        ) from None


# --------------------------------------------------------------------------- registry

#: Entry-point group naming the built-in verifiers (pyproject.toml,
#: ``[project.entry-points."multidraft.verifiers"]``); any installed distribution can add
#: names to it. Each entry point loads a factory returning a new verifier object.
ENTRY_POINT_GROUP = "multidraft.verifiers"

_REGISTRY: dict[str, Callable[[], Any]] = {}


def register_verifier(name: str, factory: Callable[[], Any]) -> None:
    """Register ``factory()`` (returning a verifier object) under ``name`` for ``multidraft check``.

    A name registered here takes precedence over an entry point of the same name.
    """
    _REGISTRY[name] = factory


def _entry_points() -> dict[str, Any]:
    """The installed ``multidraft.verifiers`` entry points, by name (loaded lazily)."""
    return {ep.name: ep for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP)}


def list_verifiers() -> list[str]:
    """Names of the registered verifiers: the entry points and those added by :func:`register_verifier`."""
    return sorted(set(_REGISTRY) | set(_entry_points()))


def get_verifier(name: str) -> Any:
    """A new instance of the verifier registered as ``name``.

    Raises
    ------
    InvalidInputError
        No verifier of that name is registered (the message lists the known names, and
        says to reinstall when none is: entry points are read from the installed metadata).
    """
    if name in _REGISTRY:
        return _REGISTRY[name]()
    points = _entry_points()
    if name not in points:
        known = sorted(set(_REGISTRY) | set(points))
        hint = (
            ", ".join(known)
            if known
            else "none (the multidraft.verifiers entry points are missing: reinstall with pip install -e .)"
        )
        raise InvalidInputError(f"verifier: no built-in verifier named {name!r}; known: {hint}")
    return points[name].load()()
