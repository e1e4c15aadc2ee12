"""Parsing of benchmark options: ``--quick`` defaults, (k, n) lists and the reproducing command line.

Every parser here has the signature ``parse(text, name)`` of the checks in
:mod:`multidraft.validation`, so ``cli_type(parse, keep_text=True)`` validates an option
while the command line is parsed; :func:`check_cases_fit` checks what needs two options.
"""

from __future__ import annotations

import argparse
from typing import Any

from multidraft.validation import InvalidInputError, check_choice


def resolve(args: argparse.Namespace, full: dict[str, Any], quick: dict[str, Any]) -> None:
    """Fill every option left at ``None`` with its full-run or ``--quick`` default (in place)."""
    for key, value in full.items():
        if getattr(args, key, None) is None:
            setattr(args, key, quick.get(key, value) if args.quick else value)


def int_list(text: str, name: str) -> list[int]:
    """``"1,2,4"`` -> ``[1, 2, 4]``; ``"1-4"`` -> ``[1, 2, 3, 4]``."""
    try:
        if "-" in text and "," not in text:
            lo, hi = (int(s) for s in text.split("-"))
            return list(range(lo, hi + 1))
        values = [int(s) for s in text.split(",") if s.strip()]
    except ValueError:
        raise InvalidInputError(
            f"{name}: expected comma-separated integers like 1,2,4 or a range 1-8, got {text!r}"
        ) from None
    if not values or min(values) < 1:
        raise InvalidInputError(f"{name}: expected positive integers, got {text!r}")
    return values


def float_list(text: str, name: str) -> list[float]:
    try:
        values = [float(s) for s in text.split(",") if s.strip()]
    except ValueError:
        raise InvalidInputError(f"{name}: expected comma-separated numbers, got {text!r}") from None
    if not values or min(values) <= 0:
        raise InvalidInputError(f"{name}: expected positive numbers, got {text!r}")
    return values


def k_list(text: str, name: str, vocab_size: int) -> list[int]:
    """Top-k values; ``V`` means no truncation (k = vocab_size)."""
    return [vocab_size if s.strip().upper() == "V" else int_list(s, name)[0] for s in text.split(",") if s.strip()]


def cases(text: str, name: str = "cases") -> list[tuple[int, int]]:
    """``"10:2,100:2"`` -> ``[(10, 2), (100, 2)]``."""
    out = []
    for part in text.split(","):
        try:
            k, n = (int(s) for s in part.split(":"))
        except ValueError:
            raise InvalidInputError(f"{name}: expected k:n pairs like 10:2,100:2, got {text!r}") from None
        if k < 1 or n < 1:
            raise InvalidInputError(f"{name}: k and n must be >= 1, got {part!r}")
        out.append((k, n))
    return out


def one_case(text: str, name: str = "case") -> tuple[int, int]:
    """``"10:4"`` -> ``(10, 4)``: exactly one k:n pair."""
    found = cases(text, name)
    if len(found) != 1:
        raise InvalidInputError(f"{name}: expected one k:n pair like 10:4, got {text!r}")
    return found[0]


def names(text: str, name: str, choices: tuple[str, ...]) -> list[str]:
    """``"llm,text"`` -> ``["llm", "text"]``, each one of ``choices``, at least one."""
    found = [s.strip() for s in text.split(",") if s.strip()]
    if not found:
        raise InvalidInputError(f"{name}: expected a comma-separated subset of {','.join(choices)}, got {text!r}")
    for item in found:
        check_choice(item, name, choices)
    return found


def device(text: str, name: str = "device") -> str:
    """A torch device the benchmarks run on: ``cpu``, ``cuda`` or ``cuda:N``."""
    import torch

    try:
        dev = torch.device(text)
    except (RuntimeError, TypeError, ValueError):
        dev = None
    if dev is None or dev.type not in ("cpu", "cuda"):
        raise InvalidInputError(f"{name}: expected cpu, cuda or cuda:N, got {text!r}")
    return text


def check_cases_fit(pairs: list[tuple[int, int]], vocab: int, option: str, vocab_option: str = "vocab") -> None:
    """Every top-k of ``pairs`` must fit in the vocabulary (k <= V).

    Raises
    ------
    InvalidInputError
        ``"cases: top-k 10 of (10, 2) exceeds --vocab 5"``.
    """
    for k, n in pairs:
        if k > vocab:
            raise InvalidInputError(
                f"{option}: top-k {k} of ({k}, {n}) exceeds --{vocab_option.replace('_', '-')} "
                f"{vocab}; lower k or raise V"
            )


def command_line(args: argparse.Namespace) -> str:
    """The command that reproduces this run: every option written out with its resolved value."""
    parts = ["multidraft", "bench", args.benchmark]
    for action in args._parser._actions:
        if not action.option_strings or action.dest in ("help", "_parser"):
            continue
        value = getattr(args, action.dest, None)
        flag = action.option_strings[-1]
        if isinstance(action, argparse._StoreTrueAction):
            if value:
                parts.append(flag)
        elif value is not None:
            parts += [flag, str(value)]
    return " ".join(parts)
