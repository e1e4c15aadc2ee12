"""Resolve what is being checked: a verifier object, its interface and what it claims.

A *target* is a built-in verifier name (``multidraft.verifiers.get_verifier``), a string
``package.module:object`` (``object`` may be dotted; a class is instantiated without
arguments), or a Python object. :func:`resolve` returns a :class:`VerifierSpec`:

* ``interface``: ``"conditional"``, ``"sampling"`` or ``"both"``, read from the object
  (``.conditional`` / ``.sample`` methods) or, for a plain callable, from its signature
  (3 required positional parameters: conditional ``f(target, draft, drafts)``; 4, or a
  parameter named ``generator``/``rng``: sampling ``g(target, draft, drafts, generator)``);
  an explicit ``interface=`` overrides detection;
* the claims the checker holds it to, read from attributes when present: ``optimal``
  (acceptance = alpha*), ``order_invariant`` (the output law ignores the order of the
  drafts), ``label_equivariant`` (default True: relabelling tokens relabels the output),
  ``drafting`` (the drafting law it is built for), ``batched`` and ``acceptance(target,
  draft, n)`` (a claimed acceptance);
* ``source``: how to obtain it in a reproduction snippet.
"""

from __future__ import annotations

import importlib
import inspect
import textwrap
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from multidraft.validation import InvalidInputError, check_choice, to_numpy
from multidraft.verifiers import conditional_of, get_verifier, is_batched, sampler_of

from .progress import with_timeout

INTERFACES = ("conditional", "sampling", "both")


@dataclass
class VerifierSpec:
    """A verifier with its interface, claims and the code that obtains it."""

    verifier: Any
    interface: str
    source: list[str]
    optimal: bool = False
    order_invariant: bool = False
    label_equivariant: bool = True
    drafting: str | None = None
    batched: bool = False
    name: str = "verifier"
    #: Per-call timeout in seconds of every call the checker makes (None: none).
    timeout: float | None = None

    @property
    def has_conditional(self) -> bool:
        return self.interface in ("conditional", "both")

    @property
    def has_sampling(self) -> bool:
        return self.interface in ("sampling", "both")

    def conditional(self) -> Callable[[Any, Any, Any], Any]:
        return with_timeout(conditional_of(self.verifier), self.timeout, self.name)

    def sampler(self) -> Callable[..., Any]:
        return with_timeout(sampler_of(self.verifier), self.timeout, self.name)

    def claimed_acceptance(self, target: Any, draft: Any, n: int) -> float | None:
        """The verifier's own ``acceptance(target, draft, n)`` if it has one, else None."""
        method = getattr(self.verifier, "acceptance", None)
        if not callable(method):
            return None
        value = with_timeout(method, self.timeout, f"{self.name}.acceptance")(target, draft, n)
        return float(to_numpy(value, "acceptance").reshape(-1)[0])


def _import_from_cwd(module_name: str, error: ImportError) -> Any:
    """Retry an import with the working directory on ``sys.path`` (as ``python -m`` has it).

    The ``multidraft`` console script runs with its own bin folder as ``sys.path[0]``, so a
    user's ``mymodule.py`` beside them would not import; the directory is appended (it never
    shadows an installed package) and removed again if the retry fails too.
    """
    import os
    import sys

    cwd = os.getcwd()
    if cwd in sys.path or "" in sys.path:
        raise InvalidInputError(f"target: could not import module {module_name!r} ({error})") from None
    sys.path.append(cwd)
    try:
        return importlib.import_module(module_name)
    except ImportError as exc:
        sys.path.remove(cwd)
        raise InvalidInputError(f"target: could not import module {module_name!r} ({exc})") from None


def _import_object(text: str) -> Any:
    module_name, _, attr = text.partition(":")
    if not module_name or not attr:
        raise InvalidInputError(f"target: expected package.module:object, got {text!r}")
    try:
        obj = importlib.import_module(module_name)
    except ImportError as exc:
        obj = _import_from_cwd(module_name, exc)
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise InvalidInputError(f"target: module {module_name!r} has no attribute {attr!r}")
        obj = getattr(obj, part)
    return obj


def _positional_count(fn: Callable[..., Any]) -> tuple[int, int, set[str]]:
    """(required positional, all positional, parameter names) of a callable."""
    try:
        params = list(inspect.signature(fn).parameters.values())
    except (TypeError, ValueError):
        return -1, -1, set()
    positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    required = [p for p in positional if p.default is p.empty]
    return len(required), len(positional), {p.name for p in params}


def detect_interface(obj: Any) -> str | None:
    """``"conditional"``, ``"sampling"``, ``"both"`` or None if it cannot tell (see module doc)."""
    has_c, has_s = callable(getattr(obj, "conditional", None)), callable(getattr(obj, "sample", None))
    if has_c or has_s:
        return "both" if has_c and has_s else ("conditional" if has_c else "sampling")
    if not callable(obj):
        return None
    required, total, names = _positional_count(obj)
    if names & {"generator", "rng", "gen"} or required == 4:
        return "sampling"
    if required == 3 and total == 3:
        return "conditional"
    return None


def _code_names(code: Any) -> list[str]:
    """Global names a code object (and the code nested in it) refers to, in order."""
    names = list(code.co_names)
    for const in code.co_consts:
        if inspect.iscode(const):
            names += _code_names(const)
    return list(dict.fromkeys(names))


def definition_lines(obj: Any) -> list[str] | None:
    """Self-contained source of a function or class: imports, the helpers it uses, then itself.

    Follows the globals it names: a module becomes ``import m as name``, an object importable
    from another module ``from m import x as name``, a function or class of the same module
    its source (recursively, helpers first). None when some source or global cannot be
    written down (a lambda, a closure, code typed at a prompt, a global constant).
    """
    imports: list[str] = []
    blocks: list[str] = []
    seen: set[int] = set()

    def visit(item: Any) -> bool:
        if id(item) in seen:
            return True
        seen.add(id(item))
        if "<" in getattr(item, "__qualname__", "<"):
            return False
        try:
            source = textwrap.dedent(inspect.getsource(item))
        except (OSError, TypeError):
            return False
        functions = (
            [item]
            if inspect.isfunction(item)
            else [v for v in vars(item).values() if inspect.isfunction(v)]
            if inspect.isclass(item)
            else []
        )
        scope = getattr(functions[0], "__globals__", {}) if functions else {}
        home = item.__module__
        for fn in functions:
            for name in _code_names(fn.__code__):
                if name not in scope:
                    continue  # a builtin or an attribute name
                value = scope[name]
                if inspect.ismodule(value):
                    line = f"import {value.__name__}" + ("" if value.__name__ == name else f" as {name}")
                elif getattr(value, "__module__", home) != home and hasattr(value, "__name__"):
                    line = f"from {value.__module__} import {value.__name__}" + (
                        "" if value.__name__ == name else f" as {name}"
                    )
                elif inspect.isfunction(value) or inspect.isclass(value):
                    if not visit(value):
                        return False
                    continue
                else:
                    return False  # a global value: cannot be written down here
                if line not in imports:
                    imports.append(line)
        blocks.append(source.rstrip())
        return True

    if not visit(obj):
        return None
    return imports + [line for block in blocks for line in block.splitlines()]


def _source_of(obj: Any, module: str, qual: str) -> list[str]:
    """Lines that define ``verifier``: an import, else its recovered source, else its name.

    The last resort (no import, no source) is ``verifier = <name>``: valid where it is defined.
    """
    import sys

    found = sys.modules.get(module)
    for part in qual.split("."):
        found = getattr(found, part, None)
    if module != "__main__" and "<" not in qual and found is obj:
        head = qual.split(".")[0]
        return [f"from {module} import {head}", f"verifier = {qual}"]
    if module != "__main__" and "<" not in qual and found is type(obj):
        return [f"from {module} import {qual.split('.')[0]}", f"verifier = {qual}()"]
    defined = definition_lines(obj if inspect.isfunction(obj) or inspect.isclass(obj) else type(obj))
    call = "" if inspect.isfunction(obj) or inspect.isclass(obj) else "()"
    if defined is not None:
        return defined + [f"verifier = {qual.split('.')[-1] if not call else type(obj).__name__}{call}"]
    name = getattr(obj, "__name__", None) or type(obj).__name__
    return [f"verifier = {name}  # {module}.{qual}: paste this where it is defined"]


def verifier_traceback(exc: BaseException) -> str:
    """``"ZeroDivisionError: division by zero"`` and the traceback frames outside this toolkit
    (the user's code where the verifier raised), most recent call last."""
    import os
    import sys
    import traceback

    ours = [
        os.path.dirname(os.path.abspath(m.__file__)) + os.sep
        for name, m in list(sys.modules.items())
        if name in ("multidraft", "multidraft.fast", "multidraft.properties", "multidraft.reference")
        and getattr(m, "__file__", None)
    ]
    frames = [
        f
        for f in traceback.extract_tb(exc.__traceback__)
        if not any(os.path.abspath(f.filename).startswith(d) for d in ours)
    ]
    lines = [f"{type(exc).__name__}: {exc}"]
    if frames:
        lines.append("traceback into the verifier (most recent call last):")
        lines += [line.rstrip("\n") for line in traceback.format_list(frames)]
    return "\n".join(lines)


def resolve(target: Any, interface: str | None = None, *, name: str | None = None) -> VerifierSpec:
    """Turn a target (name, ``module:object`` string or object) into a :class:`VerifierSpec`.

    A :class:`VerifierSpec` is returned as it is (the hook for adapters that build one, e.g.
    a harness that turns a sampler into a conditional verifier).
    """
    if isinstance(target, VerifierSpec):
        return target
    if interface is not None:
        check_choice(interface, "interface", ("auto",) + INTERFACES)
    if isinstance(target, str):
        if ":" in target:
            obj = _import_object(target)
            module_name, _, attr = target.partition(":")
            source = [f"from {module_name} import {attr.split('.')[0]}", f"verifier = {attr}"]
        else:
            obj = get_verifier(target)
            source = ["from multidraft.verifiers import get_verifier", f"verifier = get_verifier({target!r})"]
        label = target
    else:
        obj = target
        qual = getattr(obj, "__qualname__", None) or type(obj).__qualname__
        module = getattr(obj, "__module__", None) or type(obj).__module__
        source = _source_of(obj, module, qual)
        label = name or getattr(obj, "name", None) or getattr(obj, "__name__", None) or type(obj).__name__
    if inspect.isclass(obj):
        obj = obj()
        source[-1] += "()"
    detected = detect_interface(obj)
    chosen = detected if interface in (None, "auto") else interface
    if detected is None and not callable(obj):
        raise InvalidInputError(
            f"target: {label!r} is a {type(obj).__name__}, not a verifier: expected a callable f(target, draft, "
            "drafts) or g(target, draft, drafts, generator), or an object with .conditional or .sample"
        )
    if chosen is None:
        raise InvalidInputError(
            f"interface: cannot tell whether {label!r} is a conditional verifier f(target, draft, drafts) "
            "or a sampling verifier g(target, draft, drafts, generator); pass --interface conditional|sampling"
        )
    if chosen == "both" and detected != "both":
        raise InvalidInputError(f"interface: {label!r} does not expose both .conditional and .sample")
    drafting = getattr(obj, "drafting", None)
    return VerifierSpec(
        verifier=obj,
        interface=chosen,
        source=source,
        optimal=bool(getattr(obj, "optimal", False)),
        order_invariant=bool(getattr(obj, "order_invariant", False)),
        label_equivariant=bool(getattr(obj, "label_equivariant", True)),
        drafting=drafting if isinstance(drafting, str) else None,
        batched=is_batched(obj),
        name=str(label),
    )
